//! [`MaybeTlsStream`]: the one stream type of `ws://` and `wss://` blocking clients, and dialing it (TCP, a proxy's tunnel, TLS) before a deadline.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::deadline::{connect_before, DeadlineStream};
use super::handshake::drive;
use super::stream::StreamHooks;
use crate::handshake::ClientRequest;
use crate::io::proxy::Tunnel;
use crate::io::{Dialer, Error, TlsConnector};
use crate::Config;

/// A client's transport: TCP for `ws://`, TLS over TCP for `wss://` (through
/// a proxy's tunnel or not). What [`connect`](super::connect) returns.
///
/// [`get_ref`](Self::get_ref) reaches the TCP stream underneath (socket
/// options, addresses) whichever it is.
pub struct MaybeTlsStream {
    inner: Inner,
}

enum Inner {
    Plain(DeadlineStream),
    // Boxed: a TLS session is a few KiB, which plain connections should not carry.
    #[cfg(feature = "__rustls")]
    Rustls(Box<rustls::StreamOwned<rustls::ClientConnection, DeadlineStream>>),
    #[cfg(feature = "native-tls")]
    NativeTls(Box<native_tls::TlsStream<DeadlineStream>>),
}

impl fmt::Debug for MaybeTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = match &self.inner {
            Inner::Plain(_) => "none",
            #[cfg(feature = "__rustls")]
            Inner::Rustls(_) => "rustls",
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(_) => "native-tls",
        };
        f.debug_struct("MaybeTlsStream").field("tcp", self.get_ref()).field("tls", &tls).finish()
    }
}

impl MaybeTlsStream {
    /// A plain TCP stream (`ws://`).
    pub fn plain(stream: TcpStream) -> Self {
        Self { inner: Inner::Plain(DeadlineStream::new(stream, None)) }
    }

    /// The TCP stream underneath (to a proxy if the connection goes through one).
    pub fn get_ref(&self) -> &TcpStream {
        self.transport().get_ref()
    }

    /// True for TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Plain(_))
    }

    fn transport(&self) -> &DeadlineStream {
        match &self.inner {
            Inner::Plain(stream) => stream,
            #[cfg(feature = "__rustls")]
            Inner::Rustls(stream) => stream.get_ref(),
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(stream) => stream.get_ref(),
        }
    }

    fn transport_mut(&mut self) -> &mut DeadlineStream {
        match &mut self.inner {
            Inner::Plain(stream) => stream,
            #[cfg(feature = "__rustls")]
            Inner::Rustls(stream) => stream.get_mut(),
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(stream) => stream.get_mut(),
        }
    }

    /// Runs the TLS handshake for `host` over `tcp` with `connector`.
    fn tls(connector: &TlsConnector, host: &str, tcp: DeadlineStream) -> Result<Self, Error> {
        #[cfg(feature = "__rustls")]
        if let Some(config) = connector.rustls_config() {
            let name = crate::io::tls::server_name(host)?;
            let conn = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|err| crate::io::TlsError::Config(err.to_string()))?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            // The handshake now, so that its failure is reported as TLS's.
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock).map_err(|err| crate::io::tls::handshake_failed(host, err))?;
            }
            return Ok(Self { inner: Inner::Rustls(Box::new(stream)) });
        }
        #[cfg(feature = "native-tls")]
        if let Some(native) = connector.native_connector() {
            let stream = native.connect(host, tcp).map_err(|err| match err {
                native_tls::HandshakeError::Failure(err) => crate::io::tls::handshake_failed(host, err),
                // A read that timed out at the deadline.
                native_tls::HandshakeError::WouldBlock(_) => Error::Io(io::ErrorKind::TimedOut.into()),
            })?;
            return Ok(Self { inner: Inner::NativeTls(Box::new(stream)) });
        }
        let _ = (connector, host, tcp);
        Err(crate::io::TlsError::NotEnabled.into())
    }

    /// Lifts the handshake's deadline.
    pub(super) fn clear_deadline(&mut self) -> io::Result<()> {
        self.transport_mut().clear_deadline()
    }
}

impl StreamHooks<MaybeTlsStream> {
    /// The hooks for a [`MaybeTlsStream`]: they act on its TCP stream.
    pub fn maybe_tls() -> Self {
        Self::new(
            |stream, limit| stream.get_ref().set_read_timeout(limit),
            |stream, limit| stream.get_ref().set_write_timeout(limit),
            |stream| stream.get_ref().shutdown(Shutdown::Both),
        )
    }
}

/// Dials `request`'s server as `dialer` says, every step before `deadline`:
/// TCP to the server or its proxy, the proxy's tunnel, then TLS for `wss://`.
pub(super) fn dial(
    request: &ClientRequest,
    config: &Config,
    dialer: &Dialer,
    deadline: Option<Instant>,
) -> Result<MaybeTlsStream, Error> {
    // Without a TLS library, fail before dialing anything.
    let tls = if request.is_secure() { Some(dialer.tls_connector()?) } else { None };
    let route = dialer.route(request);
    let tcp = match deadline {
        Some(deadline) => (route.host, route.port).to_socket_addrs().and_then(|addrs| connect_before(addrs, deadline)),
        None => TcpStream::connect((route.host, route.port)),
    }
    .map_err(|err| route.unreachable(err))?;
    tcp.set_nodelay(config.tcp_nodelay)?;
    let mut tcp = DeadlineStream::new(tcp, deadline);
    if let Some(proxy) = route.proxy {
        drive(&mut tcp, Tunnel::new(proxy, request.host(), request.port()))?;
    }
    match tls {
        None => Ok(MaybeTlsStream { inner: Inner::Plain(tcp) }),
        Some(connector) => MaybeTlsStream::tls(&connector, request.host(), tcp),
    }
}

macro_rules! forward {
    ($self:ident, $stream:ident => $call:expr) => {
        match &mut $self.inner {
            Inner::Plain($stream) => $call,
            #[cfg(feature = "__rustls")]
            Inner::Rustls($stream) => $call,
            #[cfg(feature = "native-tls")]
            Inner::NativeTls($stream) => $call,
        }
    };
}

impl Read for MaybeTlsStream {
    /// Reads; a TLS peer that closed TCP without TLS's `close_notify` reads
    /// as the end of the stream, as over plain TCP (the WebSocket close
    /// handshake, not TLS, says whether the end was clean).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match forward!(self, stream => stream.read(buf)) {
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        forward!(self, stream => stream.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        forward!(self, stream => stream.flush())
    }
}
