//! [`MaybeTlsStream`]: the one stream type of `ws://` and `wss://` tokio clients, and dialing it (TCP, a proxy's tunnel, TLS).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;

use super::handshake::drive;
use crate::handshake::ClientRequest;
use crate::io::proxy::Tunnel;
use crate::io::{Dialer, Error, TlsConnector};
use crate::Config;

/// A client's transport: TCP for `ws://`, TLS over TCP for `wss://` (through
/// a proxy's tunnel or not). What [`connect`](super::connect) and the
/// reconnecting client return.
///
/// [`get_ref`](Self::get_ref) reaches the TCP stream underneath (socket
/// options, addresses) whichever it is.
pub struct MaybeTlsStream {
    inner: Inner,
}

enum Inner {
    Plain(TcpStream),
    // Boxed: a TLS session is a few KiB, which plain connections should not carry.
    #[cfg(feature = "__rustls")]
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    #[cfg(feature = "native-tls")]
    NativeTls(Box<tokio_native_tls::TlsStream<TcpStream>>),
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
        Self { inner: Inner::Plain(stream) }
    }

    /// The TCP stream underneath (to a proxy if the connection goes through one).
    pub fn get_ref(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(stream) => stream,
            #[cfg(feature = "__rustls")]
            Inner::Rustls(stream) => stream.get_ref().0,
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(stream) => stream.get_ref().get_ref().get_ref(),
        }
    }

    /// True for TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Plain(_))
    }

    /// Runs the TLS handshake for `host` over `tcp` with `connector`.
    async fn tls(connector: &TlsConnector, host: &str, tcp: TcpStream) -> Result<Self, Error> {
        #[cfg(feature = "__rustls")]
        if let Some(config) = connector.rustls_config() {
            let name = crate::io::tls::server_name(host)?;
            let stream = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|err| crate::io::tls::handshake_failed(host, err))?;
            return Ok(Self { inner: Inner::Rustls(Box::new(stream)) });
        }
        #[cfg(feature = "native-tls")]
        if let Some(native) = connector.native_connector() {
            let stream = tokio_native_tls::TlsConnector::from(native.clone())
                .connect(host, tcp)
                .await
                .map_err(|err| crate::io::tls::handshake_failed(host, err))?;
            return Ok(Self { inner: Inner::NativeTls(Box::new(stream)) });
        }
        let _ = (connector, host, tcp);
        Err(crate::io::TlsError::NotEnabled.into())
    }
}

/// Dials `request`'s server as `dialer` says: TCP to the server or its
/// proxy, the proxy's tunnel, then TLS for `wss://`.
pub(crate) async fn dial(request: &ClientRequest, config: &Config, dialer: &Dialer) -> Result<MaybeTlsStream, Error> {
    // Without a TLS library, fail before dialing anything.
    let tls = if request.is_secure() { Some(dialer.tls_connector()?) } else { None };
    let route = dialer.route(request);
    let mut tcp = TcpStream::connect((route.host, route.port)).await.map_err(|err| route.unreachable(err))?;
    tcp.set_nodelay(config.tcp_nodelay)?;
    if let Some(proxy) = route.proxy {
        drive(&mut tcp, Box::new(Tunnel::new(proxy, request.host(), request.port()))).await?;
    }
    match tls {
        None => Ok(MaybeTlsStream::plain(tcp)),
        Some(connector) => MaybeTlsStream::tls(&connector, request.host(), tcp).await,
    }
}

macro_rules! forward {
    ($self:ident, $stream:ident => $call:expr) => {
        match &mut $self.get_mut().inner {
            Inner::Plain($stream) => {
                let $stream = Pin::new($stream);
                $call
            }
            #[cfg(feature = "__rustls")]
            Inner::Rustls($stream) => {
                let $stream = Pin::new(&mut **$stream);
                $call
            }
            #[cfg(feature = "native-tls")]
            Inner::NativeTls($stream) => {
                let $stream = Pin::new(&mut **$stream);
                $call
            }
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    /// Reads; a TLS peer that closed TCP without TLS's `close_notify` reads
    /// as the end of the stream, as over plain TCP (the WebSocket close
    /// handshake, not TLS, says whether the end was clean).
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match forward!(self, stream => stream.poll_read(cx, buf)) {
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        forward!(self, stream => stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        forward!(self, stream => stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(stream) => stream.is_write_vectored(),
            #[cfg(feature = "__rustls")]
            Inner::Rustls(stream) => stream.is_write_vectored(),
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, stream => stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, stream => stream.poll_shutdown(cx))
    }
}
