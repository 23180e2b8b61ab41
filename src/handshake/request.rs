//! The client's upgrade request as the server sees it: parsing and validating it (RFC 6455 §4.2.1), and what the application may read from it.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::head::Head;
use super::{ClientKey, VERSION};
use crate::extensions::ExtensionOffer;
use crate::http_token::{has_token, is_token, list_elements};
use crate::{Config, HandshakeError};

/// A validated WebSocket upgrade request, for the application to inspect
/// before it accepts or rejects. `Debug` shows the target and the header
/// lines.
#[derive(Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    head: Head,
    target: Range<usize>,
    /// The target as a URI, sharing the head's buffer.
    uri: http::Uri,
    host: Range<usize>,
    key: ClientKey,
    extensions: Vec<ExtensionOffer>,
    /// An HTTP/2 extended CONNECT (RFC 8441), which has no key.
    http2: bool,
}

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeRequest").field("target", &self.target()).field("headers", &self.head.lines()).finish()
    }
}

impl UpgradeRequest {
    /// The request target: path and query, as sent (e.g. `/chat?room=1`).
    pub fn target(&self) -> &str {
        self.head.text(&self.target)
    }

    /// The request target as an [`http::Uri`] (it shares the request's
    /// buffer). Usually origin-form (`/chat?room=1`: a path and query, no
    /// scheme or authority); absolute-form if the client sent that.
    ///
    /// ```
    /// # use rfc6455::handshake::{ServerHandshake, UpgradeRequest};
    /// # use rfc6455::Config;
    /// # let mut server = ServerHandshake::new(&Config::default());
    /// # server.handle_read(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    /// #     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    /// # let request: UpgradeRequest = server.poll_request()?.complete().expect("a request");
    /// // `request` is what a server hook receives.
    /// assert_eq!(request.uri().path(), "/chat");
    /// assert_eq!(request.uri().query(), Some("room=1"));
    /// # Ok::<(), rfc6455::HandshakeError>(())
    /// ```
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    /// The request as an [`http::Request<()>`](http::Request): `GET`,
    /// HTTP/1.1, [`uri`](Self::uri) and every header, in order, for code
    /// (routers, auth middleware) written against the `http` crate's types.
    /// Built on each call: the URI and header values share the request's
    /// buffer, so only the names and the map are allocated. Both sides follow
    /// RFC 9110's field syntax, so every header the parser accepted is there
    /// (a name `http` would still refuse, over 64 KiB, would be left out).
    ///
    /// ```
    /// # use rfc6455::handshake::{ServerHandshake, UpgradeRequest};
    /// # use rfc6455::Config;
    /// # let mut server = ServerHandshake::new(&Config::default());
    /// # server.handle_read(b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    /// #     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    /// #     Authorization: Bearer s3cr3t\r\n\r\n");
    /// # let request: UpgradeRequest = server.poll_request()?.complete().expect("a request");
    /// // `request` is what a server hook receives.
    /// let request: http::Request<()> = request.to_http();
    /// assert_eq!(request.method(), http::Method::GET);
    /// assert_eq!(request.uri(), "/chat");
    /// assert_eq!(request.headers()[http::header::AUTHORIZATION], "Bearer s3cr3t");
    /// assert_eq!(request.headers()[http::header::HOST], "example.com");
    /// # Ok::<(), rfc6455::HandshakeError>(())
    /// ```
    pub fn to_http(&self) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.head.header_map();
        request
    }

    /// The path part of the target (before any `?`). For an absolute-form
    /// target (`GET http://host/chat HTTP/1.1`, allowed by RFC 6455 §4.2.1)
    /// this is the path after the authority (`/chat`).
    pub fn path(&self) -> &str {
        let target = self.target();
        let without_query = target.split_once('?').map_or(target, |(path, _)| path);
        match without_query.split_once("://") {
            Some((_scheme, rest)) if !without_query.starts_with('/') => rest.find('/').map_or("/", |i| &rest[i..]),
            _ => without_query,
        }
    }

    /// The query part of the target (after the `?`), if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// The `Host` header.
    pub fn host(&self) -> &str {
        self.head.text(&self.host)
    }

    /// The `Origin` header, sent by browsers: check it against the origins
    /// you serve to stop cross-site WebSocket hijacking.
    pub fn origin(&self) -> Option<&str> {
        self.head.first("Origin").and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The client's `Sec-WebSocket-Key`.
    ///
    /// An HTTP/2 request ([`is_http2`](Self::is_http2)) has no key (RFC 8441
    /// §5 leaves it out); this is then a fixed placeholder.
    pub fn key(&self) -> &ClientKey {
        &self.key
    }

    /// Every header as (name, value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.iter()
    }

    /// The first header called `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.first(name)
    }

    /// The token of an `Authorization: Bearer <token>` header (RFC 6750),
    /// if there is one. Compare it with
    /// [`secrets_equal`](crate::handshake::secrets_equal), not `==`.
    /// (Browsers cannot set this header on a WebSocket; they authenticate
    /// with cookies, a query parameter or the first message.)
    pub fn bearer_token(&self) -> Option<&[u8]> {
        let value = self.header("Authorization")?;
        let scheme = value.get(..7)?;
        let token = value.get(7..)?.trim_ascii();
        (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
    }

    /// The value of the cookie called `name` in the `Cookie` header(s), if
    /// sent (RFC 6265 §5.4: `name=value` pairs separated by `; `).
    pub fn cookie(&self, name: &str) -> Option<&[u8]> {
        // Not the `cookie` crate: it needs `time` (expiry dates a request
        // never carries) and a `&str` (one non-UTF-8 byte anywhere in the
        // header would hide every cookie), while this finds one pair in the
        // head's bytes without allocating.
        self.head
            .values("Cookie")
            .flat_map(|value| value.split(|&b| b == b';'))
            .filter_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|&b| b == b'=')?;
                Some((pair.get(..eq)?, pair.get(eq + 1..)?))
            })
            .find_map(|(key, value)| (key == name.as_bytes()).then_some(value))
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.head.values("Sec-WebSocket-Protocol").flat_map(list_elements).filter_map(|p| std::str::from_utf8(p).ok())
    }

    /// The extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// True for WebSocket over HTTP/2 (RFC 8441's extended CONNECT): answered
    /// with `200`, no key, no `Sec-WebSocket-Accept`.
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// Marks a request as HTTP/2's extended CONNECT.
    pub(super) fn into_http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    pub(super) fn parse(bytes: Bytes, config: &Config) -> Result<Self, HandshakeError> {
        let (line, head) = Head::parse_request(bytes, config.max_headers)?;
        if !line.method_is_get {
            return Err(HandshakeError::MethodNotGet);
        }
        if line.minor_version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let host = head.required("Host")?;
        if host.is_empty() || std::str::from_utf8(host).is_err() {
            return Err(HandshakeError::InvalidHeader("Host"));
        }
        let host = head.range_of(host);
        if !has_token(head.values("Upgrade"), "websocket") {
            return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
        }
        if !has_token(head.values("Connection"), "upgrade") {
            return Err(HandshakeError::MissingHeader("Connection: Upgrade"));
        }
        match head.single("Sec-WebSocket-Version") {
            Ok(Some(version)) if version == VERSION.as_bytes() => {}
            _ => return Err(HandshakeError::UnsupportedVersion),
        }
        let key = ClientKey::parse(head.required("Sec-WebSocket-Key")?)?;
        for value in head.values("Sec-WebSocket-Protocol") {
            if !list_elements(value).all(is_token) {
                return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
            }
        }
        let mut extensions = Vec::new();
        for value in head.values("Sec-WebSocket-Extensions") {
            let value =
                std::str::from_utf8(value).map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"))?;
            extensions.extend(ExtensionOffer::parse_list(value)?);
        }
        // httparse lets through `<`, `>` and a backtick, which a URI may not hold.
        let uri = http::Uri::from_maybe_shared(head.shared(&line.target)).map_err(|_| HandshakeError::InvalidTarget)?;
        Ok(Self { target: line.target, uri, host, head, key, extensions, http2: false })
    }
}
