//! The server's answers to an upgrade request: [`Accept`] (the `101 Switching Protocols` response) and [`Reject`] (any other status, with the rejection responses for failed handshakes).

use bytes::{BufMut, Bytes};
use http::StatusCode;

use super::head_writer::HeadWriter;
use super::request::UpgradeRequest;
use super::{check_extra_header, ClientKey, VERSION};
use crate::extensions::ExtensionOffer;
use crate::http_token::is_token;
use crate::{HandshakeError, UsageError};

/// How to answer an [`UpgradeRequest`] with `101 Switching Protocols`.
///
/// ```
/// use rfc6455::handshake::Accept;
/// let accept = Accept::new().protocol("chat")?.header("Set-Cookie", "session=1; HttpOnly")?;
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// A plain acceptance: no subprotocol, no extension, no extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects one of the subprotocols the client offered; it must be an
    /// HTTP token.
    pub fn protocol(mut self, name: &str) -> Result<Self, UsageError> {
        if !is_token(name.as_bytes()) {
            return Err(UsageError::InvalidHeader("subprotocol name (not an HTTP token)"));
        }
        self.protocol = Some(name.to_owned());
        Ok(self)
    }

    /// Accepts one of the extensions the client offered, with the response
    /// parameters, for an extension the application runs above the frame
    /// layer. permessage-deflate (which browsers offer) is accepted from
    /// `Config::deflate` (feature `deflate`), not by hand, and the other
    /// deflate variants need RSV bits the connection does not run: those are
    /// refused with [`UsageError::UnsupportedExtension`].
    pub fn extension(mut self, response: ExtensionOffer) -> Result<Self, UsageError> {
        super::check_supported_extension(response.name())?;
        self.extensions.push(response);
        Ok(self)
    }

    /// Adds a response header (e.g. `Set-Cookie`). Same rules as
    /// [`ClientRequest::header`](super::ClientRequest::header).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Writes the `101` response for a client that sent `key`.
    pub fn write(&self, key: &ClientKey, out: &mut impl BufMut) {
        let accept = key.accept_key();
        let mut head = HeadWriter::response(out, 101, "Switching Protocols");
        head.header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", accept.as_str());
        if let Some(protocol) = &self.protocol {
            head.header("Sec-WebSocket-Protocol", protocol);
        }
        if !self.extensions.is_empty() {
            let accepted: Vec<String> = self.extensions.iter().map(ToString::to_string).collect();
            head.header("Sec-WebSocket-Extensions", &accepted.join(", "));
        }
        for (name, value) in &self.headers {
            head.header(name, value);
        }
        head.finish();
    }

    /// This answer with `response` added to its `Sec-WebSocket-Extensions`:
    /// for an extension the handshake negotiated itself (permessage-deflate),
    /// which [`extension`](Self::extension) refuses by hand.
    pub(super) fn with_negotiated_extension(&self, response: ExtensionOffer) -> Self {
        let mut accept = self.clone();
        accept.extensions.push(response);
        accept
    }

    /// This answer for `request`, checked against what it offered, with the
    /// extensions `config` negotiates (permessage-deflate) added.
    pub(super) fn negotiated_for(
        &self,
        request: &UpgradeRequest,
        config: &crate::Config,
    ) -> Result<(std::borrow::Cow<'_, Self>, crate::extensions::negotiate::Negotiated), UsageError> {
        self.check_against(request)?;
        // permessage-deflate is accepted from the config, never by hand.
        let (negotiated, response) = crate::extensions::negotiate::negotiate_server(request.extensions(), config);
        let accept = match response {
            Some(response) => std::borrow::Cow::Owned(self.with_negotiated_extension(response)),
            None => std::borrow::Cow::Borrowed(self),
        };
        Ok((accept, negotiated))
    }

    pub(super) fn check_against(&self, request: &UpgradeRequest) -> Result<(), UsageError> {
        if let Some(protocol) = &self.protocol {
            if !request.protocols().any(|offered| offered == protocol) {
                return Err(UsageError::ProtocolNotOffered(protocol.clone()));
            }
        }
        for extension in &self.extensions {
            let offered = request.extensions().iter().any(|o| o.name().eq_ignore_ascii_case(extension.name()));
            if !offered {
                return Err(UsageError::ExtensionNotOffered(extension.name().to_owned()));
            }
        }
        Ok(())
    }
}

/// An HTTP response that refuses the upgrade.
///
/// ```
/// use rfc6455::handshake::Reject;
/// let reject = Reject::new(401)?.header("WWW-Authenticate", "Bearer")?.body("token required");
/// let mut out = Vec::new();
/// reject.write(&mut out);
/// assert!(out.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
///
/// # From an `http::Response`
///
/// `Reject::try_from(response)` takes an [`http::Response`] built with the
/// `http` crate (as a tokio-tungstenite callback returns one): its status, headers (through
/// [`Reject::header`], so `Connection` and `Content-Length`, which the
/// rejection writes itself, are refused) and body. Implemented for the bodies
/// such code uses: `()`, `Option<String>` (tungstenite's `ErrorResponse`),
/// `String`, `&'static str`, `Vec<u8>` and [`Bytes`].
///
/// It fails as [`Reject::new`] and [`Reject::header`]: a status outside
/// 200..=599 ([`UsageError::InvalidHeader`]), a header the rejection writes
/// itself ([`UsageError::ReservedHeader`]) or one that is not valid UTF-8. In a
/// handshake hook, `?` turns that [`UsageError`] into a
/// `500 Internal Server Error`.
///
/// ```
/// use rfc6455::handshake::{Accept, Reject, UpgradeRequest};
///
/// fn hook(request: &UpgradeRequest) -> Result<Accept, Reject> {
///     if request.bearer_token().is_none() {
///         let response = http::Response::builder()
///             .status(http::StatusCode::UNAUTHORIZED)
///             .header(http::header::WWW_AUTHENTICATE, "Bearer")
///             .body(Some("token required".to_owned()))
///             .expect("a valid response");
///         return Err(Reject::try_from(response)?);
///     }
///     Ok(Accept::new())
/// }
/// let reject = Reject::try_from(http::Response::builder().status(404).body(()).expect("a valid response"))?;
/// assert_eq!(reject.status(), http::StatusCode::NOT_FOUND);
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// A mistake in building the answer inside a handshake hook (an invalid
/// header, a subprotocol the client did not offer) is the server's fault:
/// `?` turns it into `500 Internal Server Error`, without the details.
impl From<UsageError> for Reject {
    fn from(_: UsageError) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            headers: Vec::new(),
            body: Bytes::from_static(b"internal error\n"),
        }
    }
}

// `TryFrom<http::Response<body>> for Reject`, for each body type (see `Reject`).
macro_rules! reject_from_http {
    ($($body:ty => $into:expr),* $(,)?) => {$(
        /// A rejection from an `http::Response`: see [`Reject`].
        impl TryFrom<http::Response<$body>> for Reject {
            type Error = UsageError;

            fn try_from(response: http::Response<$body>) -> Result<Self, UsageError> {
                let (parts, body) = response.into_parts();
                let into: fn($body) -> Bytes = $into;
                Reject::from_parts(parts, into(body))
            }
        }
    )*};
}

reject_from_http! {
    () => |()| Bytes::new(),
    Option<String> => |body| body.map(Bytes::from).unwrap_or_default(),
    String => Bytes::from,
    &'static str => Bytes::from,
    Vec<u8> => Bytes::from,
    Bytes => |body| body,
}

impl Reject {
    /// A rejection with `status`: an [`http::StatusCode`] or a `u16`, in
    /// 200..=599.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidHeader`] for a status outside 200..=599 (a `1xx`
    /// would not end the exchange, and 600 and above do not exist): pick a
    /// `4xx` for the client's fault, a `5xx` for the server's.
    ///
    /// ```
    /// use http::StatusCode;
    /// use rfc6455::handshake::Reject;
    /// assert_eq!(Reject::new(StatusCode::TOO_MANY_REQUESTS)?.status(), 429);
    /// assert_eq!(Reject::new(404)?.status(), StatusCode::NOT_FOUND);
    /// assert!(Reject::new(StatusCode::SWITCHING_PROTOCOLS).is_err());
    /// assert!(Reject::new(42).is_err());
    /// # Ok::<(), rfc6455::UsageError>(())
    /// ```
    pub fn new(status: impl TryInto<StatusCode>) -> Result<Self, UsageError> {
        const INVALID: UsageError = UsageError::InvalidHeader("rejection status (must be 200-599)");
        let status = status.try_into().map_err(|_| INVALID)?;
        if !(200..=599).contains(&status.as_u16()) {
            return Err(INVALID);
        }
        Ok(Self { status, headers: Vec::new(), body: Bytes::new() })
    }

    /// The rejection for an [`http::Response`]'s parts and body (see the
    /// `TryFrom` implementations).
    fn from_parts(parts: http::response::Parts, body: Bytes) -> Result<Self, UsageError> {
        let mut reject = Self::new(parts.status)?;
        for (name, value) in &parts.headers {
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| UsageError::InvalidHeader("header value (not UTF-8)"))?;
            reject = reject.header(name.as_str(), value)?;
        }
        Ok(reject.body(body))
    }

    /// `403 Forbidden`: the request is understood and refused (a foreign
    /// `Origin`, a user without access). Add a body to say why.
    pub fn forbidden() -> Self {
        Self { status: StatusCode::FORBIDDEN, headers: Vec::new(), body: Bytes::new() }
    }

    /// `404 Not Found`: no WebSocket at this path (route on
    /// [`UpgradeRequest::path`](crate::handshake::UpgradeRequest::path)). For
    /// any other status, [`Reject::new`].
    ///
    /// ```
    /// use rfc6455::handshake::{Accept, Reject, UpgradeRequest};
    /// fn hook(request: &UpgradeRequest) -> Result<Accept, Reject> {
    ///     match request.path() {
    ///         "/ws" => Ok(Accept::new()),
    ///         _ => Err(Reject::not_found()),
    ///     }
    /// }
    /// # let _ = hook;
    /// assert_eq!(Reject::not_found().status(), 404);
    /// ```
    pub fn not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, headers: Vec::new(), body: Bytes::new() }
    }

    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`: credentials are
    /// missing or wrong (a bad token).
    pub fn unauthorized() -> Self {
        let headers = vec![("WWW-Authenticate".to_owned(), "Bearer".to_owned())];
        Self { status: StatusCode::UNAUTHORIZED, headers, body: Bytes::new() }
    }

    /// The right answer to a failed handshake: its
    /// [`status_hint`](HandshakeError::status_hint), `Sec-WebSocket-Version: 13`
    /// for an unsupported version (426), `Allow: GET` for a wrong method
    /// (405), and the error's message as the body.
    pub fn from_error(err: &HandshakeError) -> Self {
        let status = match err.status_hint() {
            status if (200..=599).contains(&status.as_u16()) => status,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut headers = Vec::new();
        match status {
            StatusCode::UPGRADE_REQUIRED => {
                headers.push(("Sec-WebSocket-Version".to_owned(), VERSION.to_owned()));
                headers.push(("Upgrade".to_owned(), "websocket".to_owned()));
            }
            StatusCode::METHOD_NOT_ALLOWED => headers.push(("Allow".to_owned(), "GET".to_owned())),
            _ => {}
        }
        Self { status, headers, body: Bytes::from(format!("{err}\n")) }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body (shared, not copied).
    pub(super) fn body_bytes(&self) -> Bytes {
        self.body.clone()
    }

    /// Adds a header (same rules as [`Accept::header`]).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sets the body (sent with a `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Writes the response, asking the client to close the connection. The
    /// reason phrase is the status's
    /// [`canonical_reason`](StatusCode::canonical_reason), or `Rejected` for
    /// a status without one (e.g. `299`, `499`).
    pub fn write(&self, out: &mut impl BufMut) {
        let reason = self.status.canonical_reason().unwrap_or("Rejected");
        let mut head = HeadWriter::response(out, self.status.as_u16(), reason);
        // A sender of `Upgrade` must list it in `Connection` (RFC 9110 §7.8).
        let upgrade = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        head.header("Connection", if upgrade { "Upgrade, close" } else { "close" });
        head.header("Content-Length", &self.body.len().to_string());
        let has_content_type = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !self.body.is_empty() && !has_content_type {
            head.header("Content-Type", "text/plain; charset=utf-8");
        }
        for (name, value) in &self.headers {
            head.header(name, value);
        }
        head.finish();
        out.put_slice(&self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_from_version_error_advertises_13() {
        let mut out = Vec::new();
        Reject::from_error(&HandshakeError::UnsupportedVersion).write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{text}");
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(Reject::new(101).is_err());
    }

    fn status_line(reject: &Reject) -> String {
        let mut out = Vec::new();
        reject.write(&mut out);
        let text = String::from_utf8(out).unwrap();
        text.split("\r\n").next().unwrap().to_owned()
    }

    #[test]
    fn rejections_convert_from_http_responses() {
        let response = http::Response::builder()
            .status(429)
            .header("Retry-After", "5")
            .header("content-type", "application/json")
            .body(Some("{}".to_owned()))
            .unwrap();
        let mut out = Vec::new();
        Reject::try_from(response).unwrap().write(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 2\r\n\
             retry-after: 5\r\ncontent-type: application/json\r\n\r\n{}"
        );
        let none = Reject::try_from(http::Response::builder().status(403).body(None::<String>).unwrap()).unwrap();
        assert_eq!(none, Reject::new(403).unwrap());
        let bytes = http::Response::builder().status(503).body(Bytes::from_static(b"later")).unwrap();
        assert_eq!(Reject::try_from(bytes).unwrap(), Reject::new(503).unwrap().body("later"));
        let text = http::Response::builder().status(400).body("bad").unwrap();
        assert_eq!(Reject::try_from(text).unwrap(), Reject::new(400).unwrap().body("bad"));
        let vec = http::Response::builder().status(400).body(b"bad".to_vec()).unwrap();
        assert_eq!(Reject::try_from(vec).unwrap(), Reject::new(400).unwrap().body("bad"));
        let string = http::Response::builder().status(400).body("bad".to_owned()).unwrap();
        assert_eq!(Reject::try_from(string).unwrap(), Reject::new(400).unwrap().body("bad"));

        // What Reject::new and Reject::header refuse.
        let switching = http::Response::builder().status(101).body(()).unwrap();
        assert!(matches!(Reject::try_from(switching), Err(UsageError::InvalidHeader(_))));
        let connection = http::Response::builder().status(400).header("Connection", "keep-alive").body(()).unwrap();
        assert!(matches!(Reject::try_from(connection), Err(UsageError::ReservedHeader(_))));
    }

    #[test]
    fn reason_phrases_are_canonical_or_rejected() {
        assert_eq!(status_line(&Reject::new(429).unwrap()), "HTTP/1.1 429 Too Many Requests");
        assert_eq!(status_line(&Reject::new(StatusCode::IM_A_TEAPOT).unwrap()), "HTTP/1.1 418 I'm a teapot");
        assert_eq!(status_line(&Reject::new(299).unwrap()), "HTTP/1.1 299 Rejected");
        assert_eq!(status_line(&Reject::new(499).unwrap()), "HTTP/1.1 499 Rejected");
        for bad in [0, 99, 100, 101, 199, 600, 999, 1000] {
            assert!(Reject::new(bad).is_err(), "{bad}");
        }
    }
}
