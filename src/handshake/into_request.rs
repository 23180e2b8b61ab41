//! [`IntoClientRequest`]: what the adapters' `connect` accepts as a request.

use super::ClientRequest;
use crate::http_token::list_elements;
use crate::UsageError;

/// Anything that can become a [`ClientRequest`]: a URL (`&str`, `String`), an
/// [`http::Uri`], an [`http::Request<()>`](http::Request), or a
/// `ClientRequest` itself, each also by reference.
///
/// The adapters' `connect`, `connect_with` and `client` take
/// `impl IntoClientRequest`, so a request comes in whichever form the caller
/// already has. Every form goes through the same checks as
/// [`ClientRequest::new`], [`ClientRequest::protocol`] and
/// [`ClientRequest::header`]:
///
/// * the scheme must be `ws` or `wss` (`http`/`https` are refused, as
///   [`ClientRequest::new`] refuses them: a WebSocket URL says which it is);
///   fragments and credentials in the URL are refused;
/// * an [`http::Request`] must be a `GET` over HTTP/1.1 with an absolute URI;
/// * its headers are added with [`ClientRequest::header`], so the ones the
///   handshake writes itself (`Host`, `Upgrade`, `Connection`,
///   `Sec-WebSocket-Key`, `Sec-WebSocket-Version`,
///   `Sec-WebSocket-Extensions`, ...) are refused, except
///   `Sec-WebSocket-Protocol`, whose comma-separated values become
///   [`ClientRequest::protocol`] offers, in order.
///
/// ```
/// use rfc6455::IntoClientRequest;
///
/// let request = http::Request::get("ws://example.com/chat")
///     .header("Authorization", "Bearer s3cr3t")
///     .header("Sec-WebSocket-Protocol", "chat.v2, chat.v1")
///     .body(())?
///     .into_client_request()?;
/// assert_eq!((request.host(), request.target()), ("example.com", "/chat"));
/// assert_eq!(request.protocols(), ["chat.v2", "chat.v1"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoClientRequest {
    /// Converts `self` into a [`ClientRequest`].
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidUrl`] for a URL or URI that is not an absolute
    /// `ws://` or `wss://` URL, [`UsageError::InvalidRequest`] for an
    /// [`http::Request`] that is not a `GET` over HTTP/1.1,
    /// [`UsageError::ReservedHeader`] for a header the handshake writes
    /// itself (leave it out), and [`UsageError::InvalidHeader`] for a header
    /// or subprotocol that is not valid: fix the request as the message says.
    fn into_client_request(self) -> Result<ClientRequest, UsageError>;
}

/// A URL: [`ClientRequest::new`].
///
/// ```
/// use rfc6455::IntoClientRequest;
/// assert_eq!("ws://example.com/chat".into_client_request()?.target(), "/chat");
/// assert!("http://example.com/chat".into_client_request().is_err());
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        ClientRequest::new(self)
    }
}

/// A URL: [`ClientRequest::new`].
///
/// ```
/// use rfc6455::IntoClientRequest;
/// let url = String::from("wss://example.com:8443/");
/// assert_eq!((&url).into_client_request()?.port(), 8443);
/// assert!(url.into_client_request()?.is_secure());
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        ClientRequest::new(&self)
    }
}

/// A URL: [`ClientRequest::new`] (see the example on `String`).
impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        ClientRequest::new(self)
    }
}

/// An absolute `ws://` or `wss://` URI; a relative one (`/chat`) is refused
/// with [`UsageError::InvalidUrl`]. (A fragment cannot be refused here:
/// parsing an `http::Uri` already dropped it.)
///
/// ```
/// use rfc6455::IntoClientRequest;
/// let uri: http::Uri = "ws://example.com/feed?v=2".parse()?;
/// assert_eq!((&uri).into_client_request()?.target(), "/feed?v=2");
/// assert_eq!(uri.into_client_request()?.host(), "example.com");
/// let relative: http::Uri = "/feed".parse()?;
/// assert!(relative.into_client_request().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl IntoClientRequest for http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        (&self).into_client_request()
    }
}

/// See the example on `http::Uri`.
impl IntoClientRequest for &http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        if self.scheme().is_none() || self.authority().is_none() {
            return Err(UsageError::InvalidUrl("the URI must be absolute: ws://host/path or wss://host/path"));
        }
        ClientRequest::new(&self.to_string())
    }
}

/// A `GET` request over HTTP/1.1 with an absolute `ws://` or `wss://` URI;
/// its headers go through [`ClientRequest::header`] and
/// `Sec-WebSocket-Protocol` values through [`ClientRequest::protocol`].
/// Its [extensions](http::Extensions) are ignored.
///
/// ```
/// use rfc6455::{IntoClientRequest, UsageError};
/// let request = http::Request::get("ws://example.com/").header("Cookie", "id=1").body(())?;
/// assert!((&request).into_client_request().is_ok());
/// assert!(request.into_client_request().is_ok());
///
/// let post = http::Request::post("ws://example.com/").body(())?;
/// assert!(matches!(post.into_client_request(), Err(UsageError::InvalidRequest(_))));
/// let host = http::Request::get("ws://example.com/").header("Host", "example.com").body(())?;
/// assert!(matches!(host.into_client_request(), Err(UsageError::ReservedHeader(name)) if name == "host"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl IntoClientRequest for http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        (&self).into_client_request()
    }
}

/// See the example on `http::Request<()>`.
impl IntoClientRequest for &http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        if self.method() != http::Method::GET {
            return Err(UsageError::InvalidRequest("the method must be GET (RFC 6455 §4.1)"));
        }
        if self.version() != http::Version::HTTP_11 {
            return Err(UsageError::InvalidRequest("the version must be HTTP/1.1 (RFC 6455 §4.1)"));
        }
        let mut request = self.uri().into_client_request()?;
        for (name, value) in self.headers() {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| UsageError::InvalidHeader("header value (not UTF-8)"))?;
            if name == http::header::SEC_WEBSOCKET_PROTOCOL {
                for protocol in list_elements(value.as_bytes()) {
                    // `list_elements` splits a `str` at ASCII bytes, so each element is UTF-8.
                    let protocol = std::str::from_utf8(protocol)
                        .map_err(|_| UsageError::InvalidHeader("subprotocol name (not an HTTP token)"))?;
                    request = request.protocol(protocol)?;
                }
            } else {
                request = request.header(name.as_str(), value)?;
            }
        }
        Ok(request)
    }
}

/// Itself.
///
/// ```
/// use rfc6455::{handshake::ClientRequest, IntoClientRequest};
/// let request = ClientRequest::new("ws://example.com/")?;
/// assert_eq!((&request).into_client_request()?, request);
/// assert_eq!(request.clone().into_client_request()?, request);
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
impl IntoClientRequest for ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        Ok(self)
    }
}

/// A clone of it (see the example on `ClientRequest`).
impl IntoClientRequest for &ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, UsageError> {
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_checked_like_header() {
        let with = |name: &str, value: &str| {
            http::Request::get("ws://example.com/").header(name, value).body(()).unwrap().into_client_request()
        };
        assert!(with("Authorization", "Bearer x").is_ok());
        for reserved in ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions"] {
            assert!(matches!(with(reserved, "x"), Err(UsageError::ReservedHeader(_))), "{reserved}");
        }
        assert!(with("Sec-WebSocket-Protocol", "not a token!").is_err());
        assert_eq!(with("Sec-WebSocket-Protocol", " a ,b,, c").unwrap().protocols(), ["a", "b", "c"]);
    }

    #[test]
    fn schemes_and_methods_are_refused() {
        for uri in ["http://example.com/", "https://example.com/", "/relative"] {
            let request = http::Request::get(uri).body(()).unwrap();
            assert!(matches!(request.into_client_request(), Err(UsageError::InvalidUrl(_))), "{uri}");
        }
        for method in [http::Method::POST, http::Method::PUT, http::Method::CONNECT] {
            let request = http::Request::builder().method(method).uri("ws://example.com/").body(()).unwrap();
            assert!(matches!(request.into_client_request(), Err(UsageError::InvalidRequest(_))));
        }
        let http2 = http::Request::get("ws://example.com/").version(http::Version::HTTP_2).body(()).unwrap();
        assert!(matches!(http2.into_client_request(), Err(UsageError::InvalidRequest(_))));
    }

    #[test]
    fn a_uri_converts_like_its_string() {
        for url in ["ws://example.com", "wss://[::1]:9001/a?b=c", "ws://h:80/x%20y"] {
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(uri.into_client_request().unwrap(), ClientRequest::new(url).unwrap(), "{url}");
        }
        // http::Uri drops a fragment while parsing; ClientRequest::new refuses one.
        let uri: http::Uri = "ws://h/a?b#frag".parse().unwrap();
        assert_eq!(uri.into_client_request().unwrap().target(), "/a?b");
        assert!(ClientRequest::new("ws://h/a?b#frag").is_err());
    }
}
