//! The proxy configuration through the public API: URLs, the environment,
//! and how a proxy error reads as an `std::io::Error`. (The tunnels' byte
//! exchanges are unit-tested next to them, in `src/io/proxy/`.)

use std::io;

use rfc6455::io::proxy::{Proxy, ProxyEnv, ProxyError, ProxyKind};

#[test]
fn proxy_urls_parse_into_what_to_dial() {
    let proxy: Proxy = "socks5h://alice:s%3Acret@[2001:db8::1]:9050/".parse().unwrap();
    assert_eq!(
        (proxy.kind(), proxy.host(), proxy.port(), proxy.user()),
        (ProxyKind::Socks5, "2001:db8::1", 9050, Some("alice"))
    );
    assert_eq!(Proxy::parse("proxy.corp").unwrap(), Proxy::http("proxy.corp", Proxy::DEFAULT_PORT));
    assert_eq!(
        Proxy::parse("http://u:p@h:1").unwrap(),
        Proxy::http("h", 1).with_credentials("u", "p"),
        "parsed and built proxies compare equal"
    );
    let debug = format!("{proxy:?}");
    assert!(debug.contains("alice") && !debug.contains("s:cret") && !debug.contains("s%3Acret"), "{debug}");
}

#[test]
fn unsupported_proxies_say_what_to_use_instead() {
    let err = Proxy::parse("https://user:pw@proxy:443").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProxyError::InvalidUrl { variable: None, .. }));
    assert!(text.contains("https:// proxies") && text.contains("use http://"), "{text}");
    assert!(!text.contains("pw"), "{text}");
    assert!(Proxy::parse("socks4://proxy").unwrap_err().to_string().contains("use socks5://"));
}

#[test]
fn environment_picks_the_proxy_per_scheme_and_honours_no_proxy() {
    let vars = [
        ("HTTPS_PROXY", "http://secure.proxy:3128"),
        ("all_proxy", "socks5://fallback:1080"),
        ("NO_PROXY", "localhost,127.0.0.0/8,::1,.svc.cluster.local"),
    ];
    let env = ProxyEnv::from_vars(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())).unwrap();
    assert!(!env.is_empty());
    assert_eq!(env.proxy_for("example.com", 443, true).map(Proxy::host), Some("secure.proxy"));
    assert_eq!(env.proxy_for("example.com", 80, false).map(Proxy::host), Some("fallback"));
    for direct in ["localhost", "127.0.0.1", "::1", "api.svc.cluster.local", "LOCALHOST."] {
        assert_eq!(env.proxy_for(direct, 443, true), None, "{direct}");
    }
}

#[test]
fn proxy_errors_become_io_errors_of_the_right_kind() {
    let status = http::StatusCode::PROXY_AUTHENTICATION_REQUIRED;
    let err = rfc6455::io::Error::from(ProxyError::Refused { status, reason: "Proxy Authentication Required".into() });
    let text = err.to_string();
    assert!(text.contains("407 Proxy Authentication Required") && text.contains("credentials"), "{text}");
    let io_err = io::Error::from(err);
    assert_eq!(io_err.kind(), io::ErrorKind::PermissionDenied);
    let inner = io_err.get_ref().and_then(|e| e.downcast_ref::<rfc6455::io::Error>());
    assert!(matches!(inner, Some(rfc6455::io::Error::Proxy(e)) if e.status() == Some(status)));

    let io_err = io::Error::from(rfc6455::io::Error::from(ProxyError::SocksRefused { reply: 5 }));
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(io_err.to_string().contains("connection refused"), "{io_err}");
}
