//! The SOCKS5 tunnel (RFC 1928), with username/password authentication
//! (RFC 1929), sans-IO.
//!
//! Three exchanges, each message written only after the previous answer:
//! the greeting (the authentication methods offered: none, or
//! username/password when credentials are set) and the method chosen; the
//! credentials and their verdict, if username/password was chosen; the
//! `CONNECT` request and its reply. Target names are sent as names (address
//! type 3) so that the proxy resolves them; addresses as IPv4 (1) or IPv6
//! (4). Each answer is read to its exact length: the proxy cannot say more
//! before our next message, so extra bytes are an error.

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};

use super::{Credentials, ProxyError};
use crate::io::handshake_drive::{HandshakeDrive, Step};
use crate::io::Error;
use crate::UsageError;

const VERSION: u8 = 0x05;
/// The version of the username/password subnegotiation (RFC 1929).
const AUTH_VERSION: u8 = 0x01;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xFF;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
const WRONG_REPLY_VERSION: &str = "the CONNECT reply's version is not 5";

/// A SOCKS5 tunnel being opened. `Debug` shows its phase, never the
/// messages (they may hold credentials).
pub(crate) struct Socks5 {
    /// The message being written.
    out: BytesMut,
    recv: BytesMut,
    eof: bool,
    phase: Phase,
    /// The username/password request, until the proxy asks for it.
    auth: Option<BytesMut>,
    /// The `CONNECT` request, until authentication is done.
    connect: BytesMut,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the method the proxy chose.
    Method,
    /// Waiting for the verdict on our credentials.
    Auth,
    /// Waiting for the reply to `CONNECT`.
    Reply,
    Open,
    /// Sticky: every later poll fails the same way.
    Failed(ProxyError),
}

impl Socks5 {
    /// A tunnel to `host:port` (a name, or an address with IPv6
    /// unbracketed), authenticating with `credentials` if given. A name or
    /// credential too long for SOCKS5 fails the first
    /// [`poll`](HandshakeDrive::poll), before anything is sent.
    pub(crate) fn new(host: &str, port: u16, credentials: Option<&Credentials>) -> Socks5 {
        let messages = connect_request(host, port).and_then(|connect| {
            let auth = credentials.map(auth_request).transpose()?;
            Ok((connect, auth))
        });
        match messages {
            Ok((connect, auth)) => {
                let method = if auth.is_some() { USER_PASSWORD } else { NO_AUTH };
                let out = BytesMut::from(&[VERSION, 1, method][..]);
                Socks5 { out, recv: BytesMut::new(), eof: false, phase: Phase::Method, auth, connect }
            }
            Err(err) => Socks5 {
                out: BytesMut::new(),
                recv: BytesMut::new(),
                eof: false,
                phase: Phase::Failed(err),
                auth: None,
                connect: BytesMut::new(),
            },
        }
    }

    /// Reads the current answer if it has all arrived and acts on it: queues
    /// the next message, or opens the tunnel. Leaves the phase as it is
    /// while the answer is incomplete.
    fn read_answer(&mut self) -> Result<(), ProxyError> {
        match self.phase {
            Phase::Method => {
                // An HTTP proxy answers a SOCKS greeting with `HTTP/1.x 400`.
                if self.recv.first() == Some(&b'H') {
                    return Err(ProxyError::Malformed(
                        "the answer is not SOCKS5 but HTTP; is this an HTTP proxy? use http://",
                    ));
                }
                let Some(answer) = self.answer(2, VERSION, "the method answer's version is not 5")? else {
                    return Ok(());
                };
                match answer.get(1).copied() {
                    Some(NO_AUTH) => self.send_connect(),
                    Some(USER_PASSWORD) => {
                        self.out = self.auth.take().ok_or(ProxyError::SocksAuthFailed)?;
                        self.phase = Phase::Auth;
                    }
                    Some(NO_ACCEPTABLE) => return Err(ProxyError::SocksNoAcceptableAuth),
                    _ => {
                        return Err(ProxyError::Malformed(
                            "the SOCKS5 proxy chose an authentication method not offered",
                        ))
                    }
                }
            }
            Phase::Auth => {
                let Some(answer) = self.answer(2, AUTH_VERSION, "the username/password answer's version is not 1")?
                else {
                    return Ok(());
                };
                if answer.get(1) != Some(&0) {
                    return Err(ProxyError::SocksAuthFailed);
                }
                self.send_connect();
            }
            Phase::Reply => {
                // A refusal is known from its second byte: the rest is not needed.
                if self.recv.first().is_some_and(|&version| version != VERSION) {
                    return Err(ProxyError::Malformed(WRONG_REPLY_VERSION));
                }
                if let Some(&reply) = self.recv.get(1).filter(|&&reply| reply != 0) {
                    return Err(ProxyError::SocksRefused { reply });
                }
                let Some(len) = reply_len(&self.recv)? else { return self.need_more() };
                if self.answer(len, VERSION, WRONG_REPLY_VERSION)?.is_some() {
                    self.phase = Phase::Open;
                }
            }
            Phase::Open | Phase::Failed(_) => {}
        }
        Ok(())
    }

    /// The answer of exactly `len` bytes whose first byte is `version`, once
    /// it has all arrived; `None` to read more.
    fn answer(&mut self, len: usize, version: u8, wrong_version: &'static str) -> Result<Option<BytesMut>, ProxyError> {
        if self.recv.first().is_some_and(|&first| first != version) {
            return Err(ProxyError::Malformed(wrong_version));
        }
        if self.recv.len() > len {
            return Err(ProxyError::Malformed("the SOCKS5 proxy sent more than its answer"));
        }
        if self.recv.len() < len {
            self.need_more()?;
            return Ok(None);
        }
        Ok(Some(self.recv.split_to(len)))
    }

    /// An answer is incomplete: fine unless the stream ended.
    fn need_more(&self) -> Result<(), ProxyError> {
        if self.eof {
            Err(ProxyError::Closed)
        } else {
            Ok(())
        }
    }

    fn send_connect(&mut self) {
        self.out = std::mem::take(&mut self.connect);
        self.phase = Phase::Reply;
    }
}

impl HandshakeDrive for Socks5 {
    type Done = ();

    fn poll(&mut self, _now: Instant) -> Result<Step, Error> {
        match &self.phase {
            Phase::Failed(err) => return Err(err.clone().into()),
            Phase::Open => return Ok(Step::Done),
            _ if !self.out.is_empty() => return Ok(Step::Write),
            _ => {}
        }
        if let Err(err) = self.read_answer() {
            self.phase = Phase::Failed(err.clone());
            return Err(err.into());
        }
        Ok(match self.phase {
            Phase::Open => Step::Done,
            _ if !self.out.is_empty() => Step::Write,
            _ => Step::Read,
        })
    }

    fn transmit(&self) -> &[u8] {
        &self.out
    }

    fn advance_transmit(&mut self, written: usize) {
        self.out.advance(written.min(self.out.len()));
    }

    fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    fn received(&mut self, n: usize) {
        self.eof |= n == 0;
    }

    fn finish(self, _now: Instant) -> Result<(), Error> {
        match self.phase {
            Phase::Open => Ok(()),
            _ => Err(UsageError::HandshakeIncomplete.into()),
        }
    }
}

impl fmt::Debug for Socks5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socks5")
            .field("phase", &self.phase)
            .field("unsent", &self.out.len())
            .field("received", &self.recv.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

/// `VER CMD RSV ATYP DST.ADDR DST.PORT` for `host:port`.
fn connect_request(host: &str, port: u16) -> Result<BytesMut, ProxyError> {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let mut out = BytesMut::with_capacity(7 + host.len());
    out.put_slice(&[VERSION, CMD_CONNECT, 0]);
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(addr)) => {
            out.put_u8(ATYP_IPV4);
            out.put_slice(&addr.octets());
        }
        Ok(IpAddr::V6(addr)) => {
            out.put_u8(ATYP_IPV6);
            out.put_slice(&addr.octets());
        }
        Err(_) if host.is_empty() => return Err(ProxyError::InvalidTarget("the host name is empty")),
        Err(_) => {
            out.put_u8(ATYP_NAME);
            put_short(&mut out, "target host name", host.as_bytes())?;
        }
    }
    out.put_u16(port);
    Ok(out)
}

/// `VER ULEN UNAME PLEN PASSWD` (RFC 1929).
fn auth_request(credentials: &Credentials) -> Result<BytesMut, ProxyError> {
    let mut out = BytesMut::with_capacity(3 + credentials.user.len() + credentials.password.len());
    out.put_u8(AUTH_VERSION);
    put_short(&mut out, "SOCKS5 username", credentials.user.as_bytes())?;
    put_short(&mut out, "SOCKS5 password", credentials.password.as_bytes())?;
    Ok(out)
}

/// A length byte and the bytes; more than 255 is [`ProxyError::TooLong`].
fn put_short(out: &mut BytesMut, field: &'static str, bytes: &[u8]) -> Result<(), ProxyError> {
    let len = u8::try_from(bytes.len()).map_err(|_| ProxyError::TooLong { field, len: bytes.len() })?;
    out.put_u8(len);
    out.put_slice(bytes);
    Ok(())
}

/// The length of the `CONNECT` reply, `VER REP RSV ATYP BND.ADDR BND.PORT`,
/// once enough of it has arrived to tell.
fn reply_len(recv: &[u8]) -> Result<Option<usize>, ProxyError> {
    let Some(&atyp) = recv.get(3) else { return Ok(None) };
    let addr_len = match atyp {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_NAME => match recv.get(4) {
            Some(&len) => 1 + usize::from(len),
            None => return Ok(None),
        },
        _ => return Err(ProxyError::Malformed("the CONNECT reply has an unknown address type")),
    };
    Ok(Some(4 + addr_len + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::proxy::testing::run;

    const REPLY_V4: &[u8] = &[5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90];

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials { user: user.into(), password: password.into() }
    }

    fn no_auth() -> Socks5 {
        Socks5::new("example.com", 443, None)
    }

    fn with_auth() -> Socks5 {
        Socks5::new("example.com", 443, Some(&creds("user", "pw")))
    }

    fn connect_to_example() -> Vec<u8> {
        let mut request = vec![5, 1, 0, 3, 11];
        request.extend_from_slice(b"example.com");
        request.extend_from_slice(&[1, 0xBB]);
        request
    }

    fn proxy_error(result: Result<(), Error>) -> ProxyError {
        match result {
            Err(Error::Proxy(err)) => err,
            other => panic!("expected a proxy error, got {other:?}"),
        }
    }

    /// Runs `make()` against `answers` with every read size, expecting `check` of the result.
    fn each_split(make: impl Fn() -> Socks5, answers: &[&[u8]], check: impl Fn(Vec<Vec<u8>>, Result<(), Error>)) {
        let longest = answers.iter().map(|a| a.len()).max().unwrap_or(0);
        for chunk in (1..=longest).chain([usize::MAX]) {
            let (written, result) = run(make(), answers, chunk);
            check(written, result);
        }
    }

    #[test]
    fn no_auth_tunnel_in_every_split() {
        let mut reply_name = vec![5, 0, 0, 3, 9];
        reply_name.extend_from_slice(b"proxy.lan\x00\x50");
        let mut reply_v6 = vec![5, 0, 0, 4];
        reply_v6.extend_from_slice(&[0xfd; 16]);
        reply_v6.extend_from_slice(&[0, 1]);
        let empty_name: &[u8] = &[5, 0, 0, 3, 0, 0, 0];
        for reply in [REPLY_V4, &reply_name, &reply_v6, empty_name] {
            each_split(no_auth, &[&[5, 0], reply], |written, result| {
                result.unwrap();
                assert_eq!(written, [vec![5, 1, 0], connect_to_example()]);
            });
        }
    }

    #[test]
    fn username_password_tunnel_in_every_split() {
        each_split(with_auth, &[&[5, 2], &[1, 0], REPLY_V4], |written, result| {
            result.unwrap();
            assert_eq!(written, [vec![5, 1, 2], b"\x01\x04user\x02pw".to_vec(), connect_to_example()]);
        });
        // A proxy that needs no authentication after all.
        each_split(with_auth, &[&[5, 0], REPLY_V4], |written, result| {
            result.unwrap();
            assert_eq!(written, [vec![5, 1, 2], connect_to_example()]);
        });
    }

    #[test]
    fn addresses_and_names() {
        let cases: [(&str, Vec<u8>); 4] = [
            ("192.0.2.7", vec![5, 1, 0, 1, 192, 0, 2, 7, 0, 80]),
            ("::1", [&[5, 1, 0, 4][..], &[0; 15], &[1, 0, 80]].concat()),
            ("[::1]", [&[5, 1, 0, 4][..], &[0; 15], &[1, 0, 80]].concat()),
            ("1.2.3", [&[5, 1, 0, 3, 5][..], b"1.2.3", &[0, 80]].concat()),
        ];
        for (host, request) in cases {
            let (written, result) = run(Socks5::new(host, 80, None), &[&[5, 0], REPLY_V4], usize::MAX);
            result.unwrap();
            assert_eq!(written[1], request, "{host}");
        }
        let name = "a".repeat(255);
        let (written, result) = run(Socks5::new(&name, 1, None), &[&[5, 0], REPLY_V4], usize::MAX);
        result.unwrap();
        assert_eq!(written[1].len(), 4 + 1 + 255 + 2);
    }

    #[test]
    fn too_long_or_empty_fails_before_anything_is_sent() {
        let long = "a".repeat(256);
        let cases = [
            (Socks5::new(&long, 1, None), ProxyError::TooLong { field: "target host name", len: 256 }),
            (Socks5::new("h", 1, Some(&creds(&long, "p"))), ProxyError::TooLong { field: "SOCKS5 username", len: 256 }),
            (Socks5::new("h", 1, Some(&creds("u", &long))), ProxyError::TooLong { field: "SOCKS5 password", len: 256 }),
            (Socks5::new("", 1, None), ProxyError::InvalidTarget("the host name is empty")),
        ];
        for (tunnel, expected) in cases {
            let (written, result) = run(tunnel, &[&[5, 0], REPLY_V4], usize::MAX);
            assert!(written.is_empty());
            assert_eq!(proxy_error(result), expected);
        }
        let max = "p".repeat(255);
        let (written, result) = run(Socks5::new("h", 1, Some(&creds(&max, &max))), &[&[5, 2], &[1, 0], REPLY_V4], 7);
        result.unwrap();
        assert_eq!(written[1].len(), 3 + 2 * 255);
    }

    #[test]
    fn authentication_failures() {
        each_split(no_auth, &[&[5, 0xFF]], |_, result| {
            assert_eq!(proxy_error(result), ProxyError::SocksNoAcceptableAuth);
        });
        each_split(with_auth, &[&[5, 0xFF]], |_, result| {
            assert_eq!(proxy_error(result), ProxyError::SocksNoAcceptableAuth);
        });
        // Asked for credentials we do not have.
        each_split(no_auth, &[&[5, 2]], |written, result| {
            assert_eq!(written.len(), 1);
            assert_eq!(proxy_error(result), ProxyError::SocksAuthFailed);
        });
        // Credentials rejected.
        for status in [1, 0xFF] {
            each_split(with_auth, &[&[5, 2], &[1, status]], |written, result| {
                assert_eq!(written.len(), 2, "no CONNECT after a rejection");
                assert_eq!(proxy_error(result), ProxyError::SocksAuthFailed);
            });
        }
        // A method we did not offer.
        each_split(no_auth, &[&[5, 1]], |_, result| {
            assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("not offered")));
        });
    }

    #[test]
    fn refusals_in_every_split() {
        for reply in 1..=9u8 {
            // The refusal is known from the second byte; what follows is not needed.
            for answer in [&[5, reply][..], &[5, reply, 0, 1, 0, 0, 0, 0, 0, 0], &[5, reply, 0, 9]] {
                each_split(no_auth, &[&[5, 0], answer], |_, result| {
                    assert_eq!(proxy_error(result), ProxyError::SocksRefused { reply });
                });
            }
        }
    }

    #[test]
    fn wrong_versions_are_malformed() {
        let check = |make: fn() -> Socks5, answers: &[&[u8]], needle: &str| {
            each_split(make, answers, |_, result| {
                assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains(needle)), "{needle}");
            });
        };
        check(no_auth, &[&[4, 0]], "method answer's version");
        check(with_auth, &[&[5, 2], &[5, 0]], "username/password answer's version");
        check(no_auth, &[&[5, 0], &[4, 0, 0, 1, 0, 0, 0, 0, 0, 0]], "CONNECT reply's version");
        check(no_auth, &[&[5, 0], &[0, 91]], "CONNECT reply's version");
        // An HTTP proxy's answer to the greeting: the hint says which scheme to use.
        check(no_auth, &[b"HT"], "is this an HTTP proxy? use http://");
        check(no_auth, &[b"HTTP/1.1 400 Bad Request\r\n\r\n"], "is this an HTTP proxy? use http://");
        // Only the first answer can be an HTTP proxy's: later, `H` is a wrong version.
        check(with_auth, &[&[5, 2], b"HT"], "username/password answer's version");
        check(no_auth, &[&[5, 0], b"HT"], "CONNECT reply's version");
    }

    #[test]
    fn unknown_address_type_is_malformed() {
        each_split(no_auth, &[&[5, 0], &[5, 0, 0, 2, 1, 2, 3, 4, 5, 6]], |_, result| {
            assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("address type")));
        });
    }

    #[test]
    fn bytes_beyond_an_answer_are_malformed() {
        let extra = |answers: &[&[u8]], make: fn() -> Socks5| {
            let (_, result) = run(make(), answers, usize::MAX);
            assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("more than its answer")));
        };
        extra(&[&[5, 0, 5]], no_auth);
        extra(&[&[5, 2], &[1, 0, 0]], with_auth);
        extra(&[&[5, 0], &[5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90, b'h']], no_auth);
        extra(&[&[5, 0], &[5, 0, 0, 3, 1, b'x', 0, 80, 0]], no_auth);
    }

    #[test]
    fn end_of_stream_mid_answer_is_closed() {
        let full: [&[u8]; 3] = [&[5, 2], &[1, 0], &[5, 0, 0, 3, 3, b'a', b'b', b'c', 0, 80]];
        // Cut the conversation at every byte of every answer.
        for phase in 0..full.len() {
            for cut in 0..full[phase].len() {
                let mut answers = full[..phase].to_vec();
                answers.push(&full[phase][..cut]);
                each_split(with_auth, &answers, |written, result| {
                    assert_eq!(written.len(), phase + 1);
                    assert_eq!(proxy_error(result), ProxyError::Closed, "phase {phase}, cut {cut}");
                });
            }
        }
        let (_, result) = run(with_auth(), &full, 1);
        result.unwrap();
    }

    #[test]
    fn state_after_the_end() {
        let now = Instant::now();
        let mut tunnel = no_auth();
        assert!(tunnel.poll(now).is_ok());
        assert!(matches!(Socks5::new("h", 1, None).finish(now), Err(Error::Usage(UsageError::HandshakeIncomplete))));
        tunnel.advance_transmit(3);
        tunnel.recv_buffer().extend_from_slice(&[5, 0xFF]);
        tunnel.received(2);
        assert!(tunnel.poll(now).is_err());
        assert!(tunnel.poll(now).is_err(), "errors are sticky");

        let mut tunnel = no_auth();
        // Partial writes: the rest stays queued.
        tunnel.advance_transmit(1);
        assert_eq!(tunnel.transmit(), [1, 0]);
        tunnel.advance_transmit(2);
        assert!(matches!(tunnel.poll(now), Ok(Step::Read)));
        tunnel.recv_buffer().extend_from_slice(&[5, 0]);
        tunnel.received(2);
        assert!(matches!(tunnel.poll(now), Ok(Step::Write)));
        tunnel.advance_transmit(tunnel.transmit().len());
        tunnel.recv_buffer().extend_from_slice(REPLY_V4);
        tunnel.received(REPLY_V4.len());
        assert!(matches!(tunnel.poll(now), Ok(Step::Done)));
        assert!(matches!(tunnel.poll(now), Ok(Step::Done)));
        tunnel.finish(now).unwrap();
    }

    #[test]
    fn debug_hides_the_credentials() {
        let tunnel = Socks5::new("h", 1, Some(&creds("user", "hunter2")));
        assert!(!format!("{tunnel:?}").contains("hunter2"));
    }
}
