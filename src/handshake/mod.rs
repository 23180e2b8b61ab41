//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade exchange.
//!
//! * [`ClientHandshake`] writes the upgrade request for a [`ClientRequest`]
//!   and validates the server's response.
//! * [`IntoClientRequest`] turns a URL, an [`http::Uri`] or an
//!   [`http::Request<()>`](http::Request) into a [`ClientRequest`].
//! * [`ServerHandshake`] parses and validates an [`UpgradeRequest`], then
//!   answers with [`Accept`] (a `101` response) or [`Reject`].
//! * For a request an HTTP server already parsed (hyper, axum),
//!   [`UpgradeRequest::from_http_parts`] validates it the same way, and
//!   [`UpgradeRequest::accept_http`] / [`Reject::to_http`] give the answer
//!   as an `http::Response`.
//!
//! Both own their buffers, work from bytes that arrive in any pieces, scan
//! each byte once while looking for the end of the head (a head fed one byte
//! at a time costs linear time, not quadratic), enforce
//! `Config::max_handshake_bytes` and `Config::max_headers`, and hand bytes
//! that followed the head to the [`Connection`](crate::Connection) they
//! become, so nothing is lost.

mod answer;
mod client;
mod client_request;
mod head;
mod head_writer;
mod into_request;
mod key;
mod origin;
mod parsed;
mod request;
mod response;
mod server;
mod url;

pub use answer::{BodyState, Response};
pub use client::ClientHandshake;
pub use client_request::ClientRequest;
pub use into_request::IntoClientRequest;
pub use key::{accept_key, AcceptKey, ClientKey};
pub use origin::{secrets_equal, OriginPolicy};
pub use request::UpgradeRequest;
pub use response::{Accept, Reject};
pub use server::ServerHandshake;

use crate::http_token::{is_header_value, is_token};

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 §4.1).
pub const VERSION: &str = "13";

/// Extensions that may not be offered or accepted by hand: permessage-deflate
/// is negotiated from `Config::deflate` (feature `deflate`), and the others
/// change framing in ways the connection does not implement (offering one
/// would fail the connection with 1002 on its first frame).
const UNSUPPORTED_EXTENSIONS: [&str; 3] = ["permessage-deflate", "x-webkit-deflate-frame", "deflate-frame"];

/// Refuses extensions the connection cannot run.
pub(crate) fn check_supported_extension(name: &str) -> Result<(), crate::UsageError> {
    if UNSUPPORTED_EXTENSIONS.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return Err(crate::UsageError::UnsupportedExtension(name.to_owned()));
    }
    Ok(())
}

/// Checks a caller-supplied extra header.
pub(crate) fn check_extra_header(name: &str, value: &str) -> Result<(), crate::UsageError> {
    const RESERVED: [&str; 10] = [
        "host",
        "upgrade",
        "connection",
        "content-length",
        "transfer-encoding",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    ];
    if !is_token(name.as_bytes()) {
        return Err(crate::UsageError::InvalidHeader("header name (not an HTTP token)"));
    }
    if !is_header_value(value.as_bytes()) {
        return Err(crate::UsageError::InvalidHeader("header value (contains CR, LF or NUL)"));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(crate::UsageError::ReservedHeader(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_headers_are_checked() {
        assert!(check_extra_header("Authorization", "Bearer abc").is_ok());
        assert!(check_extra_header("X-Evil", "a\r\nInjected: 1").is_err());
        assert!(check_extra_header("Bad Name", "x").is_err());
        assert!(check_extra_header("sec-websocket-key", "x").is_err());
    }
}
