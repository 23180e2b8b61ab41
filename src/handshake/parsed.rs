//! Upgrades that an HTTP server already parsed (hyper, axum, anything with
//! the `http` crate's types): the request validated exactly as on the wire,
//! and the answer as an `http::Response` with the [`Connection`] that follows.
//!
//! The request's head is written back as HTTP/1.1 bytes and parsed by the
//! same code as [`ServerHandshake`](super::ServerHandshake)'s, so a request
//! that our own server would refuse is refused here with the same
//! [`HandshakeError`], and the hook sees the same [`UpgradeRequest`].

use std::time::Instant;

use bytes::{BufMut, BytesMut};

use super::head::Head;
use super::request::UpgradeRequest;
use super::response::{Accept, Reject};
use crate::{Config, Connection, HandshakeError, UsageError};

impl UpgradeRequest {
    /// Validates the head of an upgrade request that an HTTP server parsed:
    /// `GET`, HTTP/1.1 or later, `Host`, `Upgrade: websocket`,
    /// `Connection: Upgrade`, `Sec-WebSocket-Version: 13`, a 16-byte
    /// `Sec-WebSocket-Key`, and the syntax of the offered subprotocols and
    /// extensions; `Config::max_headers` and `Config::max_handshake_bytes`
    /// apply. The same checks as [`ServerHandshake`](super::ServerHandshake)
    /// makes on the wire, with the same errors (answer one with
    /// [`Reject::from_error`]).
    ///
    /// A request without a `Host` header (HTTP/2 carries the authority in
    /// the URI) gets the URI's authority as its host.
    ///
    /// ```
    /// use rfc6455::handshake::UpgradeRequest;
    /// let request = http::Request::get("/chat")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .body(())?;
    /// let (parts, ()) = request.into_parts();
    /// let upgrade = UpgradeRequest::from_http_parts(&parts, &Default::default())?;
    /// assert_eq!((upgrade.path(), upgrade.host()), ("/chat", "example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http_parts(parts: &http::request::Parts, config: &Config) -> Result<Self, HandshakeError> {
        Self::from_head(&parts.method, &parts.uri, parts.version, &parts.headers, config)
    }

    /// [`from_http_parts`](Self::from_http_parts) for a whole request (its
    /// body is not looked at).
    pub fn from_http<B>(request: &http::Request<B>, config: &Config) -> Result<Self, HandshakeError> {
        Self::from_head(request.method(), request.uri(), request.version(), request.headers(), config)
    }

    /// Validates WebSocket over HTTP/2 (RFC 8441): an extended `CONNECT`
    /// whose `:protocol` pseudo-header (`protocol`, which the HTTP/2 server
    /// keeps aside: hyper's `ext::Protocol`) is `websocket`, with
    /// `Sec-WebSocket-Version: 13`; subprotocols, extensions and `Origin` as
    /// over HTTP/1.1. There is no key: answer it with
    /// [`accept_http`](Self::accept_http), which gives `200`.
    pub fn from_http2_parts(
        parts: &http::request::Parts,
        protocol: Option<&str>,
        config: &Config,
    ) -> Result<Self, HandshakeError> {
        Self::from_http2_head(&parts.method, &parts.uri, &parts.headers, protocol, config)
    }

    /// [`from_http2_parts`](Self::from_http2_parts) for a whole request.
    pub fn from_http2<B>(
        request: &http::Request<B>,
        protocol: Option<&str>,
        config: &Config,
    ) -> Result<Self, HandshakeError> {
        Self::from_http2_head(request.method(), request.uri(), request.headers(), protocol, config)
    }

    fn from_http2_head(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        protocol: Option<&str>,
        config: &Config,
    ) -> Result<Self, HandshakeError> {
        if method != http::Method::CONNECT {
            return Err(HandshakeError::MissingHeader(":method: CONNECT"));
        }
        if !protocol.is_some_and(|protocol| protocol.eq_ignore_ascii_case("websocket")) {
            return Err(HandshakeError::MissingHeader(":protocol: websocket"));
        }
        // The HTTP/1.1 request it stands for, key aside: one parser checks both.
        let mut head = http::HeaderMap::with_capacity(headers.len() + 3);
        for (name, value) in headers {
            let connection_specific =
                [http::header::UPGRADE, http::header::CONNECTION, http::header::SEC_WEBSOCKET_KEY, http::header::HOST];
            if !connection_specific.contains(name) {
                head.append(name, value.clone());
            }
        }
        head.insert(http::header::UPGRADE, http::HeaderValue::from_static("websocket"));
        head.insert(http::header::CONNECTION, http::HeaderValue::from_static("Upgrade"));
        head.insert(http::header::SEC_WEBSOCKET_KEY, http::HeaderValue::from_static(HTTP2_PLACEHOLDER_KEY));
        if let Some(host) = headers.get(http::header::HOST) {
            head.insert(http::header::HOST, host.clone());
        }
        // The lines written here (the request line, Upgrade, Connection, the
        // key, and a Host line around `:authority` when no Host came) are
        // ours, not the peer's: the limits count only what it sent (the
        // path and the authority included).
        let host_line = usize::from(!head.contains_key(http::header::HOST) && uri.authority().is_some());
        let mut limits = config.clone();
        limits.max_headers = config.max_headers.saturating_add(HTTP2_SYNTHESISED_LINES + host_line);
        limits.max_handshake_bytes =
            config.max_handshake_bytes.saturating_add(HTTP2_SYNTHESISED_BYTES + host_line * HTTP2_HOST_LINE.len());
        let request =
            Self::from_head(&http::Method::GET, uri, http::Version::HTTP_11, &head, &limits).map_err(|err| {
                // The limits the caller set, not the ones widened here.
                match err {
                    HandshakeError::HeadTooLarge { .. } => {
                        HandshakeError::HeadTooLarge { limit: config.max_handshake_bytes }
                    }
                    HandshakeError::TooManyHeaders { .. } => {
                        HandshakeError::TooManyHeaders { limit: config.max_headers }
                    }
                    other => other,
                }
            })?;
        Ok(request.into_http2())
    }

    fn from_head(
        method: &http::Method,
        uri: &http::Uri,
        version: http::Version,
        headers: &http::HeaderMap,
        config: &Config,
    ) -> Result<Self, HandshakeError> {
        let version = match version {
            http::Version::HTTP_09 | http::Version::HTTP_10 => "HTTP/1.0",
            // HTTP/2 and later reach here only for a GET (not RFC 8441's
            // CONNECT): the Upgrade mechanism does not exist there, so the
            // Upgrade and Connection checks refuse it.
            _ => "HTTP/1.1",
        };
        let target = uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        let mut head = BytesMut::new();
        head.put_slice(method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(target.as_bytes());
        head.put_u8(b' ');
        head.put_slice(version.as_bytes());
        head.put_slice(b"\r\n");
        if !headers.contains_key(http::header::HOST) {
            if let Some(authority) = uri.authority() {
                put_header(&mut head, "host", authority.as_str().as_bytes());
            }
        }
        for (name, value) in headers {
            put_header(&mut head, name.as_str(), value.as_bytes());
        }
        head.put_slice(b"\r\n");
        if head.len() > config.max_handshake_bytes {
            return Err(HandshakeError::HeadTooLarge { limit: config.max_handshake_bytes });
        }
        Self::parse(head.freeze(), config)
    }

    /// Accepts this request with `accept`, for an HTTP server that writes the
    /// response itself: the `101 Switching Protocols` response (`200 OK`
    /// without the upgrade headers for HTTP/2, RFC 8441) (with
    /// `Sec-WebSocket-Accept`, the chosen subprotocol and the extensions
    /// negotiated from `config`, permessage-deflate included) and the server
    /// [`Connection`] to run over the upgraded stream once the response is
    /// out. The connection starts empty: the HTTP server hands the upgraded
    /// stream over with any bytes the client sent early.
    ///
    /// # Errors
    ///
    /// As [`ServerHandshake::accept`](super::ServerHandshake::accept): a
    /// subprotocol or extension the client did not offer.
    pub fn accept_http(
        &self,
        accept: &Accept,
        config: &Config,
        now: Instant,
    ) -> Result<(http::Response<()>, Connection), UsageError> {
        let (accept, negotiated) = accept.negotiated_for(self, config)?;
        let mut written = BytesMut::new();
        accept.write(self.key(), &mut written);
        let lines = written.len() / 4; // a header line takes at least 4 bytes
        let (_, head) = Head::parse_response(written.freeze(), lines)
            .map_err(|_| UsageError::InvalidHeader("response header (not valid HTTP)"))?;
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = head.header_map();
        if self.is_http2() {
            // RFC 8441 §5: a 2xx, and no Upgrade, Connection or accept key.
            *response.status_mut() = http::StatusCode::OK;
            for name in [http::header::UPGRADE, http::header::CONNECTION, http::header::SEC_WEBSOCKET_ACCEPT] {
                response.headers_mut().remove(name);
            }
        }
        let conn = Connection::from_parts(crate::Role::Server, config, now, BytesMut::new(), BytesMut::new(), None)
            .with_negotiated(&negotiated, config);
        Ok((response, conn))
    }
}

/// What an HTTP/2 request's `key()` gives: RFC 8441 has no key.
const HTTP2_PLACEHOLDER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

/// Header lines an HTTP/2 extended CONNECT gains on its way through the
/// HTTP/1.1 parser: Upgrade, Connection and the key (and Host, counted
/// apart: only when the peer sent none).
const HTTP2_SYNTHESISED_LINES: usize = 3;

/// The bytes of those lines and of the request line around the path.
const HTTP2_SYNTHESISED_BYTES: usize =
    "GET  HTTP/1.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
        .len();

/// A Host line made from `:authority`, around the authority (which the peer
/// sent, so it counts).
const HTTP2_HOST_LINE: &str = "host: \r\n";

fn put_header(head: &mut BytesMut, name: &str, value: &[u8]) {
    head.put_slice(name.as_bytes());
    head.put_slice(b": ");
    head.put_slice(value);
    head.put_slice(b"\r\n");
}

impl Reject {
    /// This rejection as an `http::Response` with its body, for an HTTP
    /// server that writes the response itself (hyper, axum). Its headers and
    /// a `Content-Type: text/plain` for a body without one; the HTTP server
    /// adds `Content-Length` and decides whether the connection stays open.
    pub fn to_http(&self) -> http::Response<bytes::Bytes> {
        let mut written = BytesMut::new();
        self.write(&mut written);
        let mut response = http::Response::new(self.body_bytes());
        *response.status_mut() = self.status();
        let lines = written.len() / 4; // a header line takes at least 4 bytes
        if let Ok((_, head)) = Head::parse_response(written.freeze(), lines) {
            let mut headers = head.header_map();
            // Framing and persistence are the HTTP server's to decide.
            headers.remove(http::header::CONTENT_LENGTH);
            headers.remove(http::header::CONNECTION);
            *response.headers_mut() = headers;
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::ServerHandshake;
    use crate::Status;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request() -> http::request::Builder {
        http::Request::get("/chat?room=1")
            .header("Host", "server.example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "13")
            .header("Origin", "http://example.com")
            .header("Sec-WebSocket-Protocol", "chat, superchat")
    }

    fn parse(builder: http::request::Builder) -> Result<UpgradeRequest, HandshakeError> {
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        UpgradeRequest::from_http_parts(&parts, &Config::default())
    }

    #[test]
    fn a_parsed_request_is_the_request_the_wire_handshake_sees() {
        let parsed = parse(request()).unwrap();
        let mut wire = ServerHandshake::new(&Config::default());
        wire.handle_read(
            b"GET /chat?room=1 HTTP/1.1\r\nhost: server.example.com\r\nupgrade: websocket\r\n\
              connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              sec-websocket-version: 13\r\norigin: http://example.com\r\n\
              sec-websocket-protocol: chat, superchat\r\n\r\n",
        );
        let Ok(Status::Complete(from_wire)) = wire.poll_request() else { panic!("the wire request parses") };
        assert_eq!(parsed, from_wire);
        assert_eq!(parsed.query(), Some("room=1"));
        assert_eq!(parsed.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    }

    #[test]
    fn refuses_what_the_wire_handshake_refuses_with_the_same_errors() {
        let cases: [(http::request::Builder, HandshakeError); 5] = [
            (request().method("POST"), HandshakeError::MethodNotGet),
            (request().version(http::Version::HTTP_10), HandshakeError::UnsupportedHttpVersion),
            (
                request().header("Sec-WebSocket-Version", "8"),
                HandshakeError::UnsupportedVersion, // two version headers, one of them wrong
            ),
            (
                http::Request::get("/").header("Host", "h").header("Upgrade", "h2c").header("Connection", "Upgrade"),
                HandshakeError::MissingHeader("Upgrade: websocket"),
            ),
            (
                request().header("Sec-WebSocket-Protocol", "bad protocol"),
                HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
            ),
        ];
        for (builder, expected) in cases {
            assert_eq!(parse(builder).unwrap_err(), expected);
        }
        let bad_key = http::Request::get("/")
            .header("Host", "h")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "c2hvcnQ=");
        assert!(matches!(parse(bad_key), Err(HandshakeError::InvalidKey)), "a key that is not 16 bytes");
        // The limits apply.
        let mut huge = request();
        for i in 0..200 {
            huge = huge.header(format!("x-filler-{i}"), "y");
        }
        assert!(parse(huge).is_err());
    }

    #[test]
    fn the_authority_stands_in_for_a_missing_host() {
        let builder = http::Request::get("http://example.com:8080/feed")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "13");
        assert_eq!(parse(builder).unwrap().host(), "example.com:8080");
    }

    #[test]
    fn accepting_gives_the_101_and_a_server_connection() {
        let request = parse(request()).unwrap();
        let accept = Accept::new().protocol("superchat").unwrap().header("Set-Cookie", "a=b").unwrap();
        let (response, conn) = request.accept_http(&accept, &Config::default(), Instant::now()).unwrap();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("sec-websocket-accept").as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert_eq!(header("sec-websocket-protocol").as_deref(), Some("superchat"));
        assert_eq!(header("upgrade").as_deref(), Some("websocket"));
        assert_eq!(header("connection").as_deref(), Some("Upgrade"));
        assert_eq!(header("set-cookie").as_deref(), Some("a=b"));
        assert_eq!(conn.role(), crate::Role::Server);
        assert_eq!(
            request
                .accept_http(&Accept::new().protocol("mqtt").unwrap(), &Config::default(), Instant::now())
                .unwrap_err(),
            UsageError::ProtocolNotOffered("mqtt".into())
        );
    }

    fn http2_connect() -> http::request::Builder {
        http::Request::connect("https://example.com/chat")
            .version(http::Version::HTTP_2)
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", "chat")
            .header("Origin", "https://example.com")
    }

    #[test]
    fn an_http2_extended_connect_is_validated_and_answered_with_200() {
        let (parts, ()) = http2_connect().body(()).unwrap().into_parts();
        let request = UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &Config::default()).unwrap();
        assert!(request.is_http2());
        assert_eq!(
            (request.path(), request.host(), request.origin()),
            ("/chat", "example.com", Some("https://example.com"))
        );
        let accept = Accept::new().protocol("chat").unwrap();
        let (response, _) = request.accept_http(&accept, &Config::default(), Instant::now()).unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        for absent in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(response.headers().get(absent).is_none(), "{absent}");
        }
        // Not websocket, not CONNECT, another version: refused.
        let refuse = |builder: http::request::Builder, protocol: Option<&str>| {
            let (parts, ()) = builder.body(()).unwrap().into_parts();
            UpgradeRequest::from_http2_parts(&parts, protocol, &Config::default()).unwrap_err()
        };
        assert_eq!(refuse(http2_connect(), Some("h2c")), HandshakeError::MissingHeader(":protocol: websocket"));
        assert_eq!(refuse(http2_connect(), None), HandshakeError::MissingHeader(":protocol: websocket"));
        assert_eq!(
            refuse(http2_connect().method("GET"), Some("websocket")),
            HandshakeError::MissingHeader(":method: CONNECT")
        );
        assert_eq!(
            refuse(http2_connect().header("Sec-WebSocket-Version", "8"), Some("websocket")),
            HandshakeError::UnsupportedVersion
        );
    }

    #[test]
    fn an_http2_request_is_held_to_the_header_limits_on_what_the_peer_sent() {
        let config = Config::default();
        let with_fields = |n: usize| {
            let mut builder = http2_connect();
            for i in 3..n {
                builder = builder.header(format!("x-field-{i}"), "1");
            }
            let (parts, ()) = builder.body(()).unwrap().into_parts();
            assert_eq!(parts.headers.len(), n);
            UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &config)
        };
        // As many fields as the limit allows: accepted, although the
        // parser sees four more lines (Upgrade, Connection, key, and Host
        // from the authority).
        assert!(with_fields(config.max_headers - 1).is_ok());
        assert!(with_fields(config.max_headers).is_ok());
        assert_eq!(with_fields(config.max_headers + 1).unwrap_err(), HandshakeError::TooManyHeaders { limit: 64 });
        // Bytes likewise: a field that fills the peer's share of the limit passes.
        let request_bytes = |value_len: usize| {
            let (parts, ()) = http2_connect().header("x-big", "v".repeat(value_len)).body(()).unwrap().into_parts();
            UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &config)
        };
        // (The authority and the path are the peer's: they count.)
        let others = "sec-websocket-version: 13\r\nsec-websocket-protocol: chat\r\norigin: https://example.com\r\nx-big: \r\n\r\n/chatexample.com".len();
        assert!(request_bytes(config.max_handshake_bytes - others).is_ok());
        assert_eq!(
            request_bytes(config.max_handshake_bytes - others + 1).unwrap_err(),
            HandshakeError::HeadTooLarge { limit: config.max_handshake_bytes }
        );
        // A Host field the peer sent counts as its own line and bytes.
        let with_host = |value_len: usize| {
            let (parts, ()) = http2_connect()
                .header("host", "example.com")
                .header("x-big", "v".repeat(value_len))
                .body(())
                .unwrap()
                .into_parts();
            UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &config)
        };
        let others = others + "host: \r\n".len();
        assert!(with_host(config.max_handshake_bytes - others).is_ok());
        assert_eq!(
            with_host(config.max_handshake_bytes - others + 1).unwrap_err(),
            HandshakeError::HeadTooLarge { limit: config.max_handshake_bytes }
        );
        let (parts, ()) = (4..config.max_headers)
            .fold(http2_connect().header("host", "example.com"), |b, i| b.header(format!("x-field-{i}"), "1"))
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(parts.headers.len(), config.max_headers);
        assert!(UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &config).is_ok());
        let mut parts = parts;
        parts.headers.insert("x-one-more", http::HeaderValue::from_static("1"));
        assert_eq!(
            UpgradeRequest::from_http2_parts(&parts, Some("websocket"), &config).unwrap_err(),
            HandshakeError::TooManyHeaders { limit: 64 }
        );
    }

    #[test]
    fn a_rejection_as_an_http_response_keeps_status_headers_and_body() {
        let response = Reject::from_error(&HandshakeError::UnsupportedVersion).to_http();
        assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert!(response.headers().get("content-length").is_none());
        assert!(!response.body().is_empty());
        let response = Reject::forbidden().body("foreign origin").to_http();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(response.body().as_ref(), b"foreign origin");
    }
}
