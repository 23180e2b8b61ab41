//! [`Tunnel`]: the tunnel through a [`Proxy`], whichever its kind, as one
//! [`HandshakeDrive`] for the adapters to run before TLS and the WebSocket
//! handshake.

use std::time::Instant;

use bytes::BytesMut;

use super::http_connect::HttpConnect;
use super::socks5::Socks5;
use super::{Proxy, ProxyKind};
use crate::io::handshake_drive::{HandshakeDrive, Step};
use crate::io::Error;

/// A tunnel to a target through a proxy, being opened. Run it like any
/// handshake drive over the stream to the proxy; once it is done, the
/// stream carries the target's bytes (no byte of the target's was read).
/// Errors are [`Error::Proxy`]; it never gives [`Step::Refused`].
#[derive(Debug)]
pub(crate) enum Tunnel {
    /// Through an HTTP proxy: `CONNECT`.
    HttpConnect(HttpConnect),
    /// Through a SOCKS5 proxy.
    Socks5(Socks5),
}

impl Tunnel {
    /// A tunnel through `proxy` to `target_host:target_port`; the host is a
    /// name (resolved by the proxy) or an address (IPv6 without brackets).
    /// A target the proxy cannot be asked for (a SOCKS5 name over 255
    /// bytes, an HTTP host with spaces) fails the first
    /// [`poll`](HandshakeDrive::poll), before anything is sent.
    pub(crate) fn new(proxy: &Proxy, target_host: &str, target_port: u16) -> Tunnel {
        match proxy.kind() {
            ProxyKind::Http => Tunnel::HttpConnect(HttpConnect::new(target_host, target_port, proxy.credentials())),
            ProxyKind::Socks5 => Tunnel::Socks5(Socks5::new(target_host, target_port, proxy.credentials())),
        }
    }
}

impl HandshakeDrive for Tunnel {
    type Done = ();

    fn poll(&mut self, now: Instant) -> Result<Step, Error> {
        match self {
            Tunnel::HttpConnect(inner) => inner.poll(now),
            Tunnel::Socks5(inner) => inner.poll(now),
        }
    }

    fn transmit(&self) -> &[u8] {
        match self {
            Tunnel::HttpConnect(inner) => inner.transmit(),
            Tunnel::Socks5(inner) => inner.transmit(),
        }
    }

    fn advance_transmit(&mut self, written: usize) {
        match self {
            Tunnel::HttpConnect(inner) => inner.advance_transmit(written),
            Tunnel::Socks5(inner) => inner.advance_transmit(written),
        }
    }

    fn recv_buffer(&mut self) -> &mut BytesMut {
        match self {
            Tunnel::HttpConnect(inner) => inner.recv_buffer(),
            Tunnel::Socks5(inner) => inner.recv_buffer(),
        }
    }

    fn received(&mut self, n: usize) {
        match self {
            Tunnel::HttpConnect(inner) => inner.received(n),
            Tunnel::Socks5(inner) => inner.received(n),
        }
    }

    fn finish(self, now: Instant) -> Result<(), Error> {
        match self {
            Tunnel::HttpConnect(inner) => inner.finish(now),
            Tunnel::Socks5(inner) => inner.finish(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::proxy::testing::run;
    use crate::io::proxy::ProxyError;

    #[test]
    fn http_proxy_opens_a_connect_tunnel_with_its_credentials() {
        let proxy = Proxy::parse("http://Aladdin:open%20sesame@proxy:3128").unwrap();
        let (written, result) = run(Tunnel::new(&proxy, "::1", 443), &[b"HTTP/1.1 200 OK\r\n\r\n"], usize::MAX);
        result.unwrap();
        let request = String::from_utf8(written.concat()).unwrap();
        assert!(request.starts_with("CONNECT [::1]:443 HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"), "{request}");
    }

    #[test]
    fn socks5_proxy_opens_a_socks_tunnel_with_its_credentials() {
        let proxy = Proxy::socks5("127.0.0.1", 1080).with_credentials("u", "p");
        let reply: &[u8] = &[5, 0, 0, 1, 127, 0, 0, 1, 0, 80];
        let (written, result) = run(Tunnel::new(&proxy, "example.com", 80), &[&[5, 2], &[1, 0], reply], 1);
        result.unwrap();
        assert_eq!(written[0], [5, 1, 2]);
        assert_eq!(written[1], b"\x01\x01u\x01p");
    }

    #[test]
    fn errors_are_proxy_errors() {
        let proxy = Proxy::http("proxy", 3128);
        let (_, result) = run(Tunnel::new(&proxy, "example.com", 443), &[b"HTTP/1.1 407 Auth\r\n\r\n"], 3);
        let Err(Error::Proxy(err)) = result else { panic!("{result:?}") };
        assert_eq!(err.status().map(|s| s.as_u16()), Some(407));

        let proxy = Proxy::socks5("proxy", 1080);
        let (_, result) = run(Tunnel::new(&proxy, "example.com", 443), &[&[5, 0], &[5, 5]], 1);
        assert!(matches!(result, Err(Error::Proxy(ProxyError::SocksRefused { reply: 5 }))));
    }
}
