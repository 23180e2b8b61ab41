//! [`ClientRequest`]: what a client asks for in its upgrade request, and how
//! the request head is written.

use bytes::BufMut;

use super::head_writer::HeadWriter;
use super::url::WsUrl;
use super::{check_extra_header, ClientKey, VERSION};
use crate::extensions::ExtensionOffer;
use crate::http_token::is_token;
use crate::UsageError;

/// What a client asks for: the URL, and optionally subprotocols, extension
/// offers and extra headers (an `Authorization` token, an `Origin`, cookies).
///
/// ```
/// use rfc6455::handshake::ClientRequest;
/// let request = ClientRequest::new("wss://example.com/feed?v=2")?
///     .protocol("chat.v2")?
///     .header("Authorization", "Bearer s3cr3t")?;
/// assert_eq!((request.host(), request.port(), request.is_secure()), ("example.com", 443, true));
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub(super) url: WsUrl,
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
    pub(super) headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL. Refuses other schemes,
    /// fragments (`#...`) and credentials in the URL.
    pub fn new(url: &str) -> Result<Self, UsageError> {
        Ok(Self { url: WsUrl::parse(url)?, protocols: Vec::new(), extensions: Vec::new(), headers: Vec::new() })
    }

    /// Offers a subprotocol (in order of preference); it must be an HTTP token.
    pub fn protocol(mut self, name: &str) -> Result<Self, UsageError> {
        if !is_token(name.as_bytes()) {
            return Err(UsageError::InvalidHeader("subprotocol name (not an HTTP token)"));
        }
        self.protocols.push(name.to_owned());
        Ok(self)
    }

    /// Offers an extension that the application runs above the frame layer.
    /// permessage-deflate is offered from `Config::deflate` (feature
    /// `deflate`), not by hand, and the other deflate variants need RSV bits
    /// the connection does not run: those are refused with
    /// [`UsageError::UnsupportedExtension`].
    pub fn extension(mut self, offer: ExtensionOffer) -> Result<Self, UsageError> {
        super::check_supported_extension(offer.name())?;
        self.extensions.push(offer);
        Ok(self)
    }

    /// Adds a header to the request. The name must be a token and the value
    /// may not contain CR, LF or NUL ([`UsageError::InvalidHeader`]); headers
    /// the handshake sets itself (`Host`, `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Key`, ...) are refused with [`UsageError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The host to connect to (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.url.host
    }

    /// The port to connect to (80 or 443 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.url.port
    }

    /// True for `wss://`: the transport must be TLS.
    pub fn is_secure(&self) -> bool {
        self.url.secure
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.url.target
    }

    /// The offered subprotocols.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Writes the upgrade request with `key` to `out`.
    pub fn write(&self, key: &ClientKey, out: &mut impl BufMut) {
        let mut head = HeadWriter::request(out, "GET", &self.url.target);
        head.header("Host", &self.url.host_header())
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", key.as_str())
            .header("Sec-WebSocket-Version", VERSION);
        if !self.protocols.is_empty() {
            head.header("Sec-WebSocket-Protocol", &self.protocols.join(", "));
        }
        if !self.extensions.is_empty() {
            let offers: Vec<String> = self.extensions.iter().map(ToString::to_string).collect();
            head.header("Sec-WebSocket-Extensions", &offers.join(", "));
        }
        for (name, value) in &self.headers {
            head.header(name, value);
        }
        head.finish();
    }
}
