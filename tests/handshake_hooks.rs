//! Server hooks: the Origin policy, bearer tokens and cookies read from
//! the request, and a `UsageError` in a hook turned into a 500.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::handshake::*;
use rfc6455::handshake::{secrets_equal, Accept, OriginPolicy, Reject, UpgradeRequest};
use rfc6455::UsageError;

/// A request from a page of `origin` (or from a program, for `None`) to `Host: host`.
fn from_origin(host: &str, origin: Option<&str>) -> UpgradeRequest {
    let origin = origin.map(|origin| format!("Origin: {origin}"));
    server_accepts(&request_with(
        &[("Host", Some(host)), ("Origin", None)],
        &origin.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
}

#[test]
fn same_origin_policy_admits_the_servers_own_pages_and_programs_only() {
    let policy = OriginPolicy::default();
    assert_eq!(policy, OriginPolicy::same_origin());
    for (host, origin, admitted) in [
        ("chat.example.com", Some("https://chat.example.com"), true),
        ("chat.example.com", Some("http://Chat.Example.com"), true),
        ("chat.example.com:8080", Some("http://chat.example.com:8080"), true),
        ("chat.example.com:8080", Some("http://chat.example.com"), false),
        ("chat.example.com", Some("https://evil.example"), false),
        ("chat.example.com", Some("https://chat.example.com.evil.example"), false),
        ("chat.example.com", Some("null"), false),
        ("chat.example.com", None, true),
    ] {
        let request = from_origin(host, origin);
        assert_eq!(policy.admits(&request), admitted, "Host {host}, Origin {origin:?}");
        assert_eq!(policy.check(&request).is_ok(), admitted);
    }
}

#[test]
fn origin_allow_lists_and_their_rejection() {
    let policy = OriginPolicy::only_listed().allow("https://app.example.com").unwrap().require_origin();
    assert!(policy.admits(&from_origin("api.example.com", Some("https://app.example.com:443"))));
    assert!(!policy.admits(&from_origin("api.example.com", Some("http://app.example.com"))), "scheme differs");
    assert!(!policy.admits(&from_origin("api.example.com", Some("https://api.example.com"))), "not listed");
    assert!(!policy.admits(&from_origin("api.example.com", None)), "origin required");
    let reject = policy.check(&from_origin("api.example.com", Some("https://evil.example"))).unwrap_err();
    let mut out = Vec::new();
    reject.write(&mut out);
    assert!(text(&out).starts_with("HTTP/1.1 403 Forbidden\r\n"), "{}", text(&out));
    assert!(text(&out).ends_with("origin not allowed\n"), "{}", text(&out));
    assert!(OriginPolicy::any().admits(&from_origin("x", Some("https://anything.example"))));
    for bad in ["app.example.com", "https://app.example.com/", "https://app.example.com:x", "mailto://x"] {
        assert_eq!(OriginPolicy::same_origin().allow(bad), Err(UsageError::InvalidOrigin(bad.into())), "{bad}");
    }
}

#[test]
fn bearer_tokens_and_cookies_are_read_from_the_request() {
    let request = server_accepts(&request_with(
        &[],
        &["Authorization: bearer  s3cr3t ", "Cookie: theme=dark; session=abc123", "Cookie: other=1"],
    ));
    assert_eq!(request.bearer_token(), Some(&b"s3cr3t"[..]));
    assert!(secrets_equal(request.bearer_token().unwrap(), b"s3cr3t"));
    assert!(!secrets_equal(request.bearer_token().unwrap(), b"s3cr3T"));
    assert_eq!(request.cookie("session"), Some(&b"abc123"[..]));
    assert_eq!(request.cookie("other"), Some(&b"1"[..]));
    assert_eq!(request.cookie("sess"), None);
    for header in ["Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer ", "Authorization: Bear"] {
        assert_eq!(server_accepts(&request_with(&[], &[header])).bearer_token(), None, "{header}");
    }
    let mut out = Vec::new();
    Reject::unauthorized().write(&mut out);
    assert!(
        text(&out).starts_with("HTTP/1.1 401 Unauthorized\r\n") && text(&out).contains("WWW-Authenticate: Bearer\r\n")
    );
}

#[test]
fn a_usage_error_in_a_hook_becomes_a_500_through_question_mark() {
    let hook = |_: &UpgradeRequest| -> Result<Accept, Reject> { Ok(Accept::new().header("Bad Name", "x")?) };
    let reject = hook(&server_accepts(&request_with(&[], &[]))).unwrap_err();
    assert_eq!(reject.status(), 500);
}
