//! Fuzzes the client side of the proxy tunnels (`io::proxy`: HTTP `CONNECT`
//! and SOCKS5 with username/password) on the proxy's answer, through
//! `rfc6455::io::fuzzing::drive_proxy_reply`, which pumps the tunnel's sans-IO
//! drive as the adapters do. Inputs are structured: HTTP answers (status
//! lines in HTTP/1.1, HTTP/1.0 and odd forms, 1xx interim heads, 2xx, 101,
//! 3xx, 407, 5xx and out-of-range codes, headers with duplicates, huge
//! values, obs-fold, bare LF, raw bytes, `Content-Length` and chunked
//! bodies, bytes after the head such as a WebSocket `101` or a TLS record),
//! SOCKS5 answers (method choice with any version and method, RFC 1929
//! verdict, `CONNECT` reply with every address type, names of 0 to 255
//! bytes, unknown types), cut short or not, read in arbitrary pieces; and
//! raw reads of arbitrary bytes.
//!
//! An input whose first byte is 0xF0 or more is byte-oriented instead (the
//! seeds, written by `make_seeds.sh`, are): `[mark, flags, chunk_seed]` then
//! the proxy's answer, read in pieces cut by `rfc6455_fuzz::chunks`. Flags:
//! bit 0 SOCKS5 (else HTTP), bit 1 credentials `user`/`pw`, bits 2-3 the
//! target (`example.com`, `192.0.2.7`, `2001:db8::1`, a 254-byte name),
//! bits 4-7 the write size less one. Any other input is an `Input` built by
//! `arbitrary`.
//!
//! Invariants:
//! * the drive keeps its contract with the adapters: no refusal, no read
//!   asked for after the end of the stream, errors and the open state are
//!   sticky, and it always finishes (see `ProxyReplyOutcome::violation`);
//! * a failure is an `Error::Proxy`, and a `Refused` one carries a status
//!   that is not 2xx nor 1xx (but 101), a reason of at most 128 bytes
//!   without control characters; `SocksRefused` a non-zero reply;
//! * bounded buffering: an HTTP drive asks for another read only while it
//!   has read less than the documented 8 KiB of answer heads; a SOCKS5
//!   drive only while it holds less than the longest answer (4 + 1 + 255 +
//!   2 bytes);
//! * the tunnel opens only on a well-formed success, checked independently
//!   of the drive: the bytes read are 1xx heads then one 2xx head ending
//!   with the last read (HTTP), or exactly the method choice, the verdict if
//!   username/password was chosen, and a `REP = 0` reply of the length its
//!   address type gives (SOCKS5), so that nothing the drive read (or still
//!   holds) belongs to the target; every byte after the answer is left
//!   unread, intact, for the next layer;
//! * exactly one request (HTTP) or one message per answer (SOCKS5) is
//!   written, nothing for a target or credentials that cannot be sent;
//! * the outcome does not depend on how the answer is cut into reads, but
//!   where the protocol says so: compared with the answer read whole
//!   (HTTP; there bytes after a 2xx fail, which may open when a read ends
//!   with the 2xx head) and byte by byte (SOCKS5; there a read that takes
//!   more than one answer fails);
//! * for structured answers that are well-formed where it matters, the
//!   outcome is exactly the one the answer calls for: open (with the bytes
//!   after it intact), `Refused` with the status and reason sent (407 as the
//!   authentication error, `PermissionDenied`), a 2xx followed by bytes in
//!   the same read, heads over 8 KiB or over 64 fields, `Closed` at the end
//!   of the stream; the SOCKS5 method, verdict and reply codes mapped to
//!   their errors.
#![no_main]

use std::fmt;
use std::io::ErrorKind;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rfc6455::io::fuzzing::{drive_proxy_reply, ProxyReplyOutcome, READ_CHUNK};
use rfc6455::io::proxy::{ProxyError, ProxyKind};
use rfc6455::io::Error;
use rfc6455_fuzz::chunks;

/// The documented bound on an HTTP proxy's answer heads (all of them,
/// interim ones included).
const HTTP_HEAD_LIMIT: usize = 8 << 10;
/// The documented bound on header fields in one HTTP answer head.
const HTTP_MAX_HEADERS: usize = 64;
/// The longest SOCKS5 answer: a `CONNECT` reply with a 255-byte name.
const SOCKS_LONGEST_ANSWER: usize = 4 + 1 + 255 + 2;

#[derive(Debug, Arbitrary)]
enum Input {
    Http(HttpCase),
    Socks(SocksCase),
    Raw { socks: bool, target: Target, credentials: Option<(String, String)>, reads: Vec<Vec<u8>>, write_chunk: u8 },
}

#[derive(Debug, Arbitrary)]
enum Target {
    Name,
    V4,
    V6,
    BracketedV6,
    /// `len` bytes of `a`: up to 255 fits SOCKS5.
    Long(u16),
    Empty,
    Any(String),
}

impl Target {
    fn host(&self) -> String {
        match self {
            Target::Name => "example.com".to_owned(),
            Target::V4 => "192.0.2.7".to_owned(),
            Target::V6 => "2001:db8::1".to_owned(),
            Target::BracketedV6 => "[::1]".to_owned(),
            Target::Long(len) => "a".repeat(usize::from(*len % 300) + 1),
            Target::Empty => String::new(),
            Target::Any(host) => host.clone(),
        }
    }

    /// Whether this target can be asked for (`None`: not known here).
    fn valid(&self, kind: ProxyKind) -> Option<bool> {
        match self {
            Target::Name | Target::V4 | Target::V6 | Target::BracketedV6 => Some(true),
            Target::Long(_) if kind == ProxyKind::Socks5 => Some(self.host().len() <= 255),
            Target::Long(_) => Some(true),
            Target::Empty => Some(false),
            Target::Any(_) => None,
        }
    }
}

/// How the answer's bytes are cut into reads.
#[derive(Debug, Arbitrary)]
struct Split {
    /// For `rfc6455_fuzz::chunks`: 0 one byte per read, 255 one read.
    seed: u8,
    /// Always end a read where the answer ends (where the tunnel opens, if
    /// it does), as a proxy that sent its answer before the target spoke.
    at_answer_end: bool,
}

// ---------------------------------------------------------------- HTTP

#[derive(Debug, Arbitrary)]
struct HttpCase {
    target: Target,
    credentials: Option<(String, String)>,
    interim: Vec<Head>,
    last: Head,
    after: After,
    /// Cut the whole answer to this many bytes (if shorter).
    cut: Option<u16>,
    split: Split,
    write_chunk: u8,
}

#[derive(Debug, Arbitrary)]
struct Head {
    version: Version,
    status: u16,
    line: StatusLine,
    reason: Reason,
    headers: Vec<Header>,
    /// Bit i set: line i ends with a bare LF instead of CR LF.
    bare_lf: u64,
}

#[derive(Debug, Arbitrary)]
enum Version {
    Http11,
    Http10,
    Lowercase,
    Http2,
    Http12,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum StatusLine {
    /// `VERSION SP STATUS SP REASON`
    Normal,
    /// `VERSION SP STATUS` (no space, no reason)
    NoReason,
    /// `VERSION  STATUS SP REASON` (two spaces)
    DoubleSpace,
    /// `VERSION HT STATUS SP REASON`
    Tab,
    /// Status of `n` digits (other than 3)
    Digits(u8),
}

#[derive(Debug, Arbitrary)]
enum Reason {
    Canonical,
    Empty,
    Text(String),
    Long(u16),
    ObsText,
}

#[derive(Debug, Arbitrary)]
enum Name {
    ContentLength,
    TransferEncoding,
    Via,
    ProxyAgent,
    ProxyAuthenticate,
    Connection,
    Server,
    Token(String),
}

#[derive(Debug, Arbitrary)]
enum Value {
    Text(String),
    Number(u32),
    Chunked,
    Basic,
    /// `len` copies of one printable byte.
    Huge {
        byte: u8,
        len: u16,
    },
    Bytes(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Header {
    Field(Name, Value),
    /// The same field `count` times.
    Repeated(u8, Name, Value),
    /// A field continued on the next line (obs-fold).
    Folded(Name, Value, Value),
    NoColon(String),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum After {
    Nothing,
    /// A body of `Content-Length` bytes.
    Body(Vec<u8>),
    Chunked(Vec<Vec<u8>>),
    /// What the WebSocket server would say once the tunnel is used.
    WebSocket101,
    TlsServerHello,
    Bytes(Vec<u8>),
}

/// Text without line breaks (structured parts stay on their line).
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A printable field-value byte (VCHAR or SP), from any byte.
fn printable(byte: u8) -> u8 {
    0x20 + byte % 0x5f
}

/// A serialized head, with what a conforming parser must make of it.
struct BuiltHead {
    bytes: Vec<u8>,
    /// Every part is well-formed: the status and field count below are
    /// what any parser reads.
    strict: bool,
    status: u16,
    /// The reason phrase the drive must report, when known.
    reason: Option<String>,
    fields: usize,
}

impl Head {
    fn build(&self, after: Option<&After>) -> BuiltHead {
        let mut strict = true;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let version = match &self.version {
            Version::Http11 => "HTTP/1.1".to_owned(),
            Version::Http10 => "HTTP/1.0".to_owned(),
            Version::Lowercase => {
                strict = false;
                "http/1.1".to_owned()
            }
            Version::Http2 => {
                strict = false;
                "HTTP/2".to_owned()
            }
            Version::Http12 => {
                strict = false;
                "HTTP/1.2".to_owned()
            }
            Version::Other(text) => {
                strict = false;
                one_line(text)
            }
        };
        let status = self.status % 1000;
        // Below 100 is not a status (StatusCode refuses it).
        strict &= status >= 100;
        let (reason_text, mut reason) = match &self.reason {
            Reason::Canonical => {
                let text = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Meh");
                (text.as_bytes().to_vec(), Some(text.to_owned()))
            }
            Reason::Empty => (Vec::new(), Some(String::new())),
            Reason::Text(text) => {
                let text = one_line(text);
                // Printable ASCII is kept as is (trimmed, at most 128 bytes).
                let known = text.bytes().all(|b| (0x20..0x7f).contains(&b)) && text.trim().len() <= 128;
                strict &= text.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
                (text.clone().into_bytes(), known.then(|| text.trim().to_owned()))
            }
            Reason::Long(len) => {
                let text = "x".repeat(usize::from(*len % 2048));
                let kept = text.get(..128.min(text.len())).unwrap_or_default().to_owned();
                (text.into_bytes(), Some(kept))
            }
            Reason::ObsText => (b"Mauvaise passerelle \xe9".to_vec(), None),
        };
        let mut line = version.into_bytes();
        match self.line {
            StatusLine::Normal => line.extend_from_slice(format!(" {status:03} ").as_bytes()),
            StatusLine::NoReason => {
                strict = false;
                line.extend_from_slice(format!(" {status:03}").as_bytes());
            }
            StatusLine::DoubleSpace => {
                strict = false;
                line.extend_from_slice(format!("  {status:03} ").as_bytes());
            }
            StatusLine::Tab => {
                strict = false;
                line.extend_from_slice(format!("\t{status:03} ").as_bytes());
            }
            StatusLine::Digits(n) => {
                let digits = usize::from(n % 6);
                if digits != 3 {
                    strict = false;
                }
                let text = format!("{status:03}");
                let text = if digits <= 3 { text[3 - digits..].to_owned() } else { format!("{text:0>digits$}") };
                line.push(b' ');
                line.extend_from_slice(text.as_bytes());
                line.push(b' ');
            }
        }
        if !matches!(self.line, StatusLine::NoReason) {
            line.extend_from_slice(&reason_text);
        } else {
            reason = None;
        }
        lines.push(line);

        let mut fields = 0;
        for header in &self.headers {
            match header {
                Header::Field(name, value) => {
                    let (line, ok) = field(name, value);
                    strict &= ok;
                    lines.push(line);
                    fields += 1;
                }
                Header::Repeated(count, name, value) => {
                    let (line, ok) = field(name, value);
                    strict &= ok;
                    for _ in 0..*count {
                        lines.push(line.clone());
                        fields += 1;
                        if line.len() * fields > 3 * HTTP_HEAD_LIMIT {
                            break; // far over the limit already
                        }
                    }
                }
                Header::Folded(name, first, rest) => {
                    strict = false;
                    lines.push(field(name, first).0);
                    let mut folded = b" ".to_vec();
                    folded.extend_from_slice(&value_bytes(rest).0);
                    lines.push(folded);
                    fields += 1;
                }
                Header::NoColon(text) => {
                    strict = false;
                    lines.push(one_line(text).into_bytes());
                }
                Header::Raw(bytes) => {
                    strict = false;
                    lines.push(bytes.clone());
                }
            }
            // Far over the limit already: the rest would never be read.
            if lines.iter().map(Vec::len).sum::<usize>() > 3 * HTTP_HEAD_LIMIT {
                break;
            }
        }
        // Framing fields for the body, if any.
        match after {
            Some(After::Body(body)) => {
                lines.push(format!("Content-Length: {}", body.len()).into_bytes());
                fields += 1;
            }
            Some(After::Chunked(_)) => {
                lines.push(b"Transfer-Encoding: chunked".to_vec());
                fields += 1;
            }
            _ => {}
        }

        let mut bytes = Vec::new();
        for (i, line) in lines.iter().chain([&Vec::new()]).enumerate() {
            bytes.extend_from_slice(line);
            let bare = i < 64 && self.bare_lf & (1 << i) != 0;
            bytes.extend_from_slice(if bare { b"\n" } else { b"\r\n" });
        }
        BuiltHead { bytes, strict, status, reason, fields }
    }
}

fn name_text(name: &Name) -> (String, bool) {
    match name {
        Name::ContentLength => ("Content-Length".to_owned(), true),
        Name::TransferEncoding => ("Transfer-Encoding".to_owned(), true),
        Name::Via => ("Via".to_owned(), true),
        Name::ProxyAgent => ("Proxy-Agent".to_owned(), true),
        Name::ProxyAuthenticate => ("Proxy-Authenticate".to_owned(), true),
        Name::Connection => ("Connection".to_owned(), true),
        Name::Server => ("server".to_owned(), true),
        Name::Token(text) => {
            let text = one_line(text);
            let ok = is_token(&text);
            (text, ok)
        }
    }
}

fn value_bytes(value: &Value) -> (Vec<u8>, bool) {
    match value {
        Value::Text(text) => {
            let text = one_line(text);
            let ok = text.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
            (text.into_bytes(), ok)
        }
        Value::Number(n) => (n.to_string().into_bytes(), true),
        Value::Chunked => (b"chunked".to_vec(), true),
        Value::Basic => (b"Basic realm=\"proxy\"".to_vec(), true),
        // Up to a little over the 8 KiB limit.
        Value::Huge { byte, len } => (vec![printable(*byte); usize::from(*len % 9000)], true),
        Value::Bytes(bytes) => (bytes.clone(), false),
    }
}

fn field(name: &Name, value: &Value) -> (Vec<u8>, bool) {
    let (name, name_ok) = name_text(name);
    let (value, value_ok) = value_bytes(value);
    let mut line = name.into_bytes();
    line.extend_from_slice(b": ");
    line.extend_from_slice(&value);
    (line, name_ok && value_ok)
}

fn after_bytes(after: &After) -> Vec<u8> {
    match after {
        After::Nothing => Vec::new(),
        After::Body(body) => body.clone(),
        After::Chunked(chunks) => {
            let mut out = Vec::new();
            for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }
        After::WebSocket101 => b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello"
            .to_vec(),
        After::TlsServerHello => b"\x16\x03\x03\x00\x31\x02\x00\x00\x2d\x03\x03".to_vec(),
        After::Bytes(bytes) => bytes.clone(),
    }
}

/// What a structured HTTP answer calls for.
#[derive(Debug, PartialEq)]
enum HttpExpect {
    /// Open after reading this many bytes.
    Open(usize),
    Refused(u16, Option<String>),
    AfterSuccess,
    TooLarge,
    TooManyFields,
    Closed,
}

/// Reads are cut at these offsets of the wire (each read ends at one).
fn read_ends(reads: &[&[u8]]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    for read in reads {
        for piece in read.chunks(READ_CHUNK) {
            at += piece.len();
            ends.push(at);
        }
    }
    ends
}

fn http_expect(heads: &[BuiltHead], wire_len: usize, ends: &[usize]) -> Option<HttpExpect> {
    let mut start = 0;
    for head in heads {
        if !head.strict {
            return None;
        }
        let end = start + head.bytes.len();
        if wire_len < end {
            // The head never completes: the limit, or the end of the stream.
            return Some(if wire_len >= HTTP_HEAD_LIMIT { HttpExpect::TooLarge } else { HttpExpect::Closed });
        }
        if end > HTTP_HEAD_LIMIT {
            return Some(HttpExpect::TooLarge);
        }
        if head.fields > HTTP_MAX_HEADERS {
            return Some(HttpExpect::TooManyFields);
        }
        match head.status {
            100..=199 if head.status != 101 => start = end,
            200..=299 => {
                let read_end = ends.iter().copied().find(|&e| e >= end);
                return Some(if read_end == Some(end) { HttpExpect::Open(end) } else { HttpExpect::AfterSuccess });
            }
            status => return Some(HttpExpect::Refused(status, head.reason.clone())),
        }
    }
    // Only interim heads: the end of the stream if nothing follows.
    (wire_len == start).then_some(HttpExpect::Closed)
}

fn run_http(case: &HttpCase) {
    let mut heads: Vec<BuiltHead> = case.interim.iter().map(|head| head.build(None)).collect();
    heads.push(case.last.build(Some(&case.after)));
    let mut wire: Vec<u8> = heads.iter().flat_map(|h| h.bytes.iter().copied()).collect();
    let answer_len = wire.len();
    wire.extend_from_slice(&after_bytes(&case.after));
    if let Some(cut) = case.cut {
        wire.truncate(usize::from(cut));
    }
    let boundary = if case.split.at_answer_end { &[answer_len][..] } else { &[] };
    let reads = split_reads(&wire, boundary, case.split.seed);
    let credentials = case.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let outcome = run(ProxyKind::Http, &case.target, credentials, &reads, case.write_chunk);
    check_common(ProxyKind::Http, &outcome, &wire, credentials.is_some());
    check_split(ProxyKind::Http, &outcome, &case.target, credentials, &wire);

    match case.target.valid(ProxyKind::Http) {
        Some(false) => {
            assert!(matches!(proxy_error(&outcome), ProxyError::InvalidTarget(_)), "{outcome:?}");
            return;
        }
        None if outcome.written.is_empty() => return,
        _ => {}
    }
    let Some(expected) = http_expect(&heads, wire.len(), &read_ends(&reads)) else { return };
    let err = match (&expected, &outcome.result) {
        (HttpExpect::Open(read), Ok(())) => {
            assert_eq!(outcome.read, *read, "opened after the wrong number of bytes");
            assert_eq!(outcome.unread, wire[*read..], "the bytes after the answer are not handed on intact");
            return;
        }
        (_, Ok(())) => panic!("opened on an answer that calls for {expected:?}"),
        (_, Err(Error::Proxy(err))) => err,
        (_, Err(other)) => panic!("not a proxy error: {other:?}"),
    };
    match (&expected, err) {
        (HttpExpect::Refused(status, reason), ProxyError::Refused { status: got, reason: got_reason }) => {
            assert_eq!(got.as_u16(), *status);
            assert_eq!(err.status().map(|s| s.as_u16()), Some(*status));
            if let Some(reason) = reason {
                assert_eq!(got_reason, reason);
            }
            let kind = std::io::Error::from(Error::Proxy(err.clone())).kind();
            if *status == 407 || *status == 403 {
                assert_eq!(kind, ErrorKind::PermissionDenied);
            } else {
                assert_eq!(kind, ErrorKind::ConnectionRefused);
            }
            if *status == 407 {
                assert!(err.to_string().contains("wants credentials"), "{err}");
            }
        }
        (HttpExpect::AfterSuccess, ProxyError::Malformed(m)) if m.contains("after its 2xx") => {}
        (HttpExpect::TooLarge, ProxyError::Malformed(m)) if m.contains("8 KiB") => {}
        (HttpExpect::TooManyFields, ProxyError::Malformed(m)) if m.contains("64 header") => {}
        (HttpExpect::Closed, ProxyError::Closed) => {}
        _ => panic!("expected {expected:?}, got {err:?}"),
    }
}

// ---------------------------------------------------------------- SOCKS5

#[derive(Debug, Arbitrary)]
struct SocksCase {
    target: Target,
    credentials: Option<(String, String)>,
    method: Option<MethodReply>,
    auth: Option<AuthReply>,
    reply: Option<ConnectReply>,
    /// Bytes after the last answer: what the target says through the tunnel.
    after: Vec<u8>,
    cut: Option<u16>,
    /// Deliver the answers without a read boundary between them, as a
    /// proxy that answers before it is asked.
    coalesce: bool,
    /// For `rfc6455_fuzz::chunks`: 0 one byte per read, 255 one read.
    seed: u8,
    write_chunk: u8,
}

#[derive(Debug, Arbitrary)]
struct MethodReply {
    version: Byte,
    method: MethodChoice,
}

#[derive(Debug, Arbitrary)]
enum MethodChoice {
    NoAuth,
    UserPassword,
    NoAcceptable,
    Other(u8),
}

#[derive(Debug, Arbitrary)]
struct AuthReply {
    version: Byte,
    status: u8,
}

#[derive(Debug, Arbitrary)]
struct ConnectReply {
    version: Byte,
    rep: Rep,
    rsv: u8,
    address: Address,
    port: u16,
}

/// Mostly the right value, sometimes any byte.
#[derive(Debug, Arbitrary)]
enum Byte {
    Right,
    Any(u8),
}

#[derive(Debug, Arbitrary)]
enum Rep {
    Succeeded,
    Code(u8),
}

#[derive(Debug, Arbitrary)]
enum Address {
    V4([u8; 4]),
    V6([u8; 16]),
    /// A name of `len` copies of `fill`.
    Name {
        len: u8,
        fill: u8,
    },
    NameBytes(Vec<u8>),
    /// A name whose length byte is not its length.
    NameWrongLength {
        declared: u8,
        bytes: Vec<u8>,
    },
    Unknown {
        atyp: u8,
        bytes: Vec<u8>,
    },
}

impl Byte {
    fn value(&self, right: u8) -> u8 {
        match self {
            Byte::Right => right,
            Byte::Any(byte) => *byte,
        }
    }
}

impl Address {
    /// ATYP and the address bytes; whether the address is one whose
    /// length the reply states correctly.
    fn bytes(&self) -> (Vec<u8>, bool) {
        match self {
            Address::V4(addr) => ([&[1][..], addr].concat(), true),
            Address::V6(addr) => ([&[4][..], addr].concat(), true),
            Address::Name { len, fill } => {
                let mut out = vec![3, *len];
                out.resize(2 + usize::from(*len), *fill);
                (out, true)
            }
            Address::NameBytes(bytes) => {
                let bytes = &bytes[..bytes.len().min(255)];
                ([&[3, bytes.len() as u8][..], bytes].concat(), true)
            }
            Address::NameWrongLength { declared, bytes } => {
                let bytes = &bytes[..bytes.len().min(255)];
                ([&[3, *declared][..], bytes].concat(), usize::from(*declared) == bytes.len())
            }
            Address::Unknown { atyp, bytes } => {
                // 1, 3 and 4 are the known types: another one here.
                let atyp = match atyp {
                    1 | 3 | 4 => 0,
                    other => *other,
                };
                ([&[atyp][..], bytes].concat(), false)
            }
        }
    }
}

/// What a structured SOCKS5 answer calls for.
#[derive(Debug, PartialEq)]
enum SocksExpect {
    Open(usize),
    Malformed(&'static str),
    NoAcceptableAuth,
    AuthFailed,
    Refused(u8),
    Closed,
}

/// The outcome the answers (each delivered alone, cut to `wire_len` bytes
/// in all) call for; `None` where the bytes of two answers would meet in the
/// drive's buffer (an answer of the wrong length), which depends on the
/// reads.
fn socks_expect(answers: &[(Vec<u8>, bool)], wire_len: usize, credentials: bool) -> Option<SocksExpect> {
    #[derive(PartialEq)]
    enum Phase {
        Method,
        Auth,
        Reply,
    }
    let mut phase = Phase::Method;
    let mut start = 0;
    for (answer, well_sized) in answers {
        let available = answer.len().min(wire_len.saturating_sub(start));
        let got = &answer[..available];
        // Byte `i` of the answer; past what there is: `Closed` if the stream
        // ends there, unknown if the next answer's bytes would come in.
        let ends_here = start + available == wire_len;
        let byte = |i: usize| match got.get(i) {
            Some(&byte) => Ok(byte),
            None if ends_here => Err(Some(SocksExpect::Closed)),
            None => Err(None),
        };
        macro_rules! byte {
            ($i:expr) => {
                match byte($i) {
                    Ok(byte) => byte,
                    Err(outcome) => return outcome,
                }
            };
        }
        let version = if phase == Phase::Auth { 1 } else { 5 };
        if phase == Phase::Method && byte!(0) == b'H' {
            return Some(SocksExpect::Malformed("is this an HTTP proxy? use http://"));
        }
        if byte!(0) != version {
            return Some(SocksExpect::Malformed(match phase {
                Phase::Method => "method answer's version",
                Phase::Auth => "username/password answer's version",
                Phase::Reply => "CONNECT reply's version",
            }));
        }
        let needed = match phase {
            Phase::Method | Phase::Auth => 2,
            Phase::Reply => {
                let rep = byte!(1);
                if rep != 0 {
                    return Some(SocksExpect::Refused(rep));
                }
                match byte!(3) {
                    1 => 4 + 4 + 2,
                    4 => 4 + 16 + 2,
                    3 => 4 + 1 + usize::from(byte!(4)) + 2,
                    _ => return Some(SocksExpect::Malformed("address type")),
                }
            }
        };
        if !well_sized || answer.len() != needed {
            return None;
        }
        if available < needed {
            return Some(SocksExpect::Closed);
        }
        start += needed;
        phase = match phase {
            Phase::Method => match got[1] {
                0 => Phase::Reply,
                2 if credentials => Phase::Auth,
                2 => return Some(SocksExpect::AuthFailed),
                0xFF => return Some(SocksExpect::NoAcceptableAuth),
                _ => return Some(SocksExpect::Malformed("not offered")),
            },
            Phase::Auth if got[1] != 0 => return Some(SocksExpect::AuthFailed),
            Phase::Auth => Phase::Reply,
            Phase::Reply => return Some(SocksExpect::Open(start)),
        };
    }
    // No more answers: the stream ends (unless bytes follow, which would
    // meet in the buffer).
    (wire_len == start).then_some(SocksExpect::Closed)
}

fn run_socks(case: &SocksCase) {
    let mut answers = Vec::new();
    if let Some(method) = &case.method {
        let choice = match method.method {
            MethodChoice::NoAuth => 0,
            MethodChoice::UserPassword => 2,
            MethodChoice::NoAcceptable => 0xFF,
            MethodChoice::Other(byte) => byte,
        };
        answers.push((vec![method.version.value(5), choice], true));
    }
    if let Some(auth) = &case.auth {
        answers.push((vec![auth.version.value(1), auth.status], true));
    }
    if let Some(reply) = &case.reply {
        let rep = match reply.rep {
            Rep::Succeeded => 0,
            Rep::Code(code) => code,
        };
        let (address, well_sized) = reply.address.bytes();
        let mut bytes = vec![reply.version.value(5), rep, reply.rsv];
        bytes.extend_from_slice(&address);
        bytes.extend_from_slice(&reply.port.to_be_bytes());
        answers.push((bytes, well_sized));
    }
    let mut wire: Vec<u8> = answers.iter().flat_map(|(a, _)| a.iter().copied()).collect();
    let answer_ends: Vec<usize> = answers
        .iter()
        .scan(0, |at, (a, _)| {
            *at += a.len();
            Some(*at)
        })
        .collect();
    wire.extend_from_slice(&case.after);
    if let Some(cut) = case.cut {
        wire.truncate(usize::from(cut));
    }
    // A proxy answers each message once it has arrived: each answer is
    // read apart from the next, unless they are coalesced.
    let boundaries = if case.coalesce { &[][..] } else { &answer_ends[..] };
    let reads = split_reads(&wire, boundaries, case.seed);
    let credentials = case.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let outcome = run(ProxyKind::Socks5, &case.target, credentials, &reads, case.write_chunk);
    check_common(ProxyKind::Socks5, &outcome, &wire, credentials.is_some());
    check_split(ProxyKind::Socks5, &outcome, &case.target, credentials, &wire);

    let too_long = credentials.is_some_and(|(u, p)| u.len() > 255 || p.len() > 255);
    match case.target.valid(ProxyKind::Socks5) {
        Some(false) => {
            assert!(
                matches!(proxy_error(&outcome), ProxyError::InvalidTarget(_) | ProxyError::TooLong { .. }),
                "{outcome:?}"
            );
            return;
        }
        Some(true) if too_long => {
            assert!(matches!(proxy_error(&outcome), ProxyError::TooLong { .. }), "{outcome:?}");
            return;
        }
        None if outcome.written.is_empty() => return,
        _ => {}
    }
    if case.coalesce {
        return;
    }
    let Some(expected) = socks_expect(&answers, wire.len(), credentials.is_some()) else { return };
    let err = match (&expected, &outcome.result) {
        (SocksExpect::Open(read), Ok(())) => {
            assert_eq!(outcome.read, *read, "opened after the wrong number of bytes");
            assert_eq!(outcome.unread, wire[*read..], "the bytes after the answer are not handed on intact");
            return;
        }
        (_, Ok(())) => panic!("opened on an answer that calls for {expected:?}"),
        (_, Err(Error::Proxy(err))) => err,
        (_, Err(other)) => panic!("not a proxy error: {other:?}"),
    };
    match (&expected, err) {
        (SocksExpect::Malformed(needle), ProxyError::Malformed(m)) if m.contains(needle) => {}
        (SocksExpect::NoAcceptableAuth, ProxyError::SocksNoAcceptableAuth) => {}
        (SocksExpect::AuthFailed, ProxyError::SocksAuthFailed) => {}
        (SocksExpect::Refused(rep), ProxyError::SocksRefused { reply }) if rep == reply => {}
        (SocksExpect::Closed, ProxyError::Closed) => {}
        _ => panic!("expected {expected:?}, got {err:?}"),
    }
}

// ---------------------------------------------------------------- shared

/// Cuts `wire` into reads by `split.seed`, with a read ending at each of
/// `boundaries`.
fn split_reads<'a>(wire: &'a [u8], boundaries: &[usize], seed: u8) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = boundaries.iter().copied().filter(|&b| b < wire.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut reads = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([wire.len()]) {
        if end > start {
            reads.extend(chunks(&wire[start..end], seed));
            start = end;
        }
    }
    reads
}

fn run(
    kind: ProxyKind,
    target: &Target,
    credentials: Option<(&str, &str)>,
    reads: &[&[u8]],
    write_chunk: u8,
) -> ProxyReplyOutcome {
    drive_proxy_reply(kind, &target.host(), 443, credentials, reads, usize::from(write_chunk) + 1)
}

fn proxy_error(outcome: &ProxyReplyOutcome) -> &ProxyError {
    match &outcome.result {
        Err(Error::Proxy(err)) => err,
        other => panic!("expected a proxy error, got {other:?}"),
    }
}

/// `bytes` through the end of its first head (the first blank line, after
/// CR LF or a bare LF), as the HTTP drive delimits heads.
fn head_end(bytes: &[u8]) -> Option<usize> {
    (1..bytes.len())
        .find(|&i| {
            bytes[i] == b'\n' && (bytes[i - 1] == b'\n' || (i >= 2 && bytes[i - 1] == b'\r' && bytes[i - 2] == b'\n'))
        })
        .map(|i| i + 1)
}

/// Whether `read` is 1xx heads (not 101) then one 2xx head, each starting
/// with `HTTP/1.x SSS`.
fn http_success(mut read: &[u8]) -> Result<(), String> {
    loop {
        let end = head_end(read).ok_or("no complete head")?;
        let head = &read[..end];
        let line_ok = head.len() >= 12
            && head.starts_with(b"HTTP/1.")
            && matches!(head[7], b'0' | b'1')
            && head[8] == b' '
            && head[9..12].iter().all(u8::is_ascii_digit);
        if !line_ok {
            return Err(format!("bad status line in {:?}", String::from_utf8_lossy(head)));
        }
        let status: u16 =
            std::str::from_utf8(&head[9..12]).map_err(|e| e.to_string())?.parse().map_err(|_| "status")?;
        read = &read[end..];
        if read.is_empty() {
            return if (200..300).contains(&status) { Ok(()) } else { Err(format!("opened on {status}")) };
        }
        if !(100..200).contains(&status) || status == 101 {
            return Err(format!("a final {status} before more heads"));
        }
    }
}

/// Whether `read` is exactly a SOCKS5 success: method choice, verdict if
/// username/password was chosen, `REP = 0` reply of the right length.
fn socks_success(read: &[u8], credentials: bool) -> Result<(), String> {
    let rest = match read {
        [5, 0, rest @ ..] => rest,
        [5, 2, 1, 0, rest @ ..] if credentials => rest,
        _ => return Err("no accepted method choice (and verdict)".to_owned()),
    };
    let len = match rest {
        [5, 0, _, 1, ..] => 4 + 4 + 2,
        [5, 0, _, 4, ..] => 4 + 16 + 2,
        [5, 0, _, 3, len, ..] => 4 + 1 + usize::from(*len) + 2,
        _ => return Err("no successful CONNECT reply".to_owned()),
    };
    if rest.len() != len {
        return Err(format!("a CONNECT reply of {} bytes, not {len}", rest.len()));
    }
    Ok(())
}

/// The outcome does not depend on how the answer was cut into reads, but
/// where the protocol says it does: against HTTP read whole (where a 2xx
/// followed by bytes in the same read fails, and may open when cut at its
/// end) and SOCKS5 read a byte at a time (where no read takes more than an
/// answer, which fails when cut otherwise).
fn check_split(
    kind: ProxyKind,
    outcome: &ProxyReplyOutcome,
    target: &Target,
    credentials: Option<(&str, &str)>,
    wire: &[u8],
) {
    let http = kind == ProxyKind::Http;
    let reads: Vec<&[u8]> = if http { vec![wire] } else { wire.chunks(1).collect() };
    let reference = run(kind, target, credentials, &reads, 255);
    let describe = |o: &ProxyReplyOutcome| o.result.as_ref().map(|()| o.read).map_err(ToString::to_string);
    let (got, want) = (describe(outcome), describe(&reference));
    let exempt = |r: &Result<usize, String>| matches!(r, Err(m) if m.contains("after its 2xx") || m.contains("more than its answer"));
    if http && exempt(&want) {
        assert!(got == want || got.is_ok(), "in pieces: {got:?}; whole: {want:?}");
    } else if !(!http && exempt(&got)) {
        assert_eq!(got, want, "in pieces, then {}", if http { "whole" } else { "byte by byte" });
    }
}

/// The invariants that hold whatever the answer.
fn check_common(kind: ProxyKind, outcome: &ProxyReplyOutcome, wire: &[u8], credentials: bool) {
    assert_eq!(outcome.violation, None, "{outcome:?}");
    let http = kind == ProxyKind::Http;
    if http {
        assert!(
            outcome.most_read_before_a_read < HTTP_HEAD_LIMIT,
            "asked for more after {} bytes of heads",
            outcome.most_read_before_a_read
        );
        assert!(outcome.written.len() <= 1, "{:?}", outcome.written);
        if let Some(request) = outcome.written.first() {
            assert!(request.starts_with(b"CONNECT ") && request.ends_with(b"\r\n\r\n"));
        }
    } else {
        assert!(
            outcome.most_held_before_a_read < SOCKS_LONGEST_ANSWER,
            "asked for more while holding {} bytes",
            outcome.most_held_before_a_read
        );
        assert!(outcome.written.len() <= 3, "{:?}", outcome.written);
        if let Some(greeting) = outcome.written.first() {
            assert_eq!(greeting, &[5, 1, if credentials { 2 } else { 0 }]);
        }
    }
    // Every byte given to the drive was asked for, in order.
    assert_eq!(outcome.read + outcome.unread.len(), wire.len());
    assert_eq!(outcome.unread, wire[outcome.read..]);
    match &outcome.result {
        Ok(()) => {
            // What the drive still holds is answer (the HTTP drive keeps its
            // last head): checked below, the bytes read are the answer alone.
            assert!(outcome.held_at_end <= outcome.read);
            let read = &wire[..outcome.read];
            let verdict = if http { http_success(read) } else { socks_success(read, credentials) };
            if let Err(why) = verdict {
                panic!("opened on {:?}: {why}", String::from_utf8_lossy(read));
            }
            let messages = if http {
                1
            } else if read.get(1) == Some(&2) {
                3
            } else {
                2
            };
            assert_eq!(outcome.written.len(), messages);
        }
        Err(Error::Proxy(err)) => match err {
            ProxyError::Refused { status, reason } => {
                assert!(http);
                assert!(!status.is_success() && (!status.is_informational() || status.as_u16() == 101), "{status}");
                assert!(reason.len() <= 128 && !reason.chars().any(char::is_control), "{reason:?}");
            }
            ProxyError::SocksRefused { reply } => assert!(!http && *reply != 0),
            ProxyError::SocksNoAcceptableAuth | ProxyError::SocksAuthFailed => assert!(!http),
            ProxyError::Malformed(_) | ProxyError::Closed => assert!(!outcome.written.is_empty()),
            ProxyError::TooLong { .. } | ProxyError::InvalidTarget(_) => {
                assert!(outcome.written.is_empty() && outcome.read == 0)
            }
            other => panic!("unexpected proxy error {other:?}"),
        },
        Err(other) => panic!("a tunnel failed with a non-proxy error: {other:?}"),
    }
}

/// The first byte that marks a byte-oriented input (see the module docs).
const RAW_MARK: u8 = 0xF0;

/// An input: byte-oriented if its first byte is [`RAW_MARK`] or more, else
/// an [`Input`]. (`cargo fuzz fmt` shows either.)
enum Case {
    Bytes(Vec<u8>),
    Structured(Input),
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Case::Bytes(bytes) => write!(f, "Bytes(b\"{}\")", bytes.escape_ascii()),
            Case::Structured(input) => input.fmt(f),
        }
    }
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Input::arbitrary(u).map(Case::Structured)
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        match u.peek_bytes(u.len()) {
            Some(data @ [mark, ..]) if *mark >= RAW_MARK => Ok(Case::Bytes(data.to_vec())),
            _ => Input::arbitrary_take_rest(u).map(Case::Structured),
        }
    }
}

/// A byte-oriented input: `[mark, flags, chunk_seed]` and the answer.
fn run_bytes(data: &[u8]) {
    let [_, flags, seed, wire @ ..] = data else { return };
    let kind = if flags & 1 == 0 { ProxyKind::Http } else { ProxyKind::Socks5 };
    let credentials = (flags & 2 != 0).then_some(("user", "pw"));
    let target = match (flags >> 2) % 4 {
        0 => Target::Name,
        1 => Target::V4,
        2 => Target::V6,
        _ => Target::Long(254),
    };
    let reads = chunks(wire, *seed);
    let outcome = run(kind, &target, credentials, &reads, flags >> 4);
    check_common(kind, &outcome, wire, credentials.is_some());
    check_split(kind, &outcome, &target, credentials, wire);
}

fuzz_target!(|case: Case| {
    let input = match case {
        Case::Bytes(data) => return run_bytes(&data),
        Case::Structured(input) => input,
    };
    match &input {
        Input::Http(case) => run_http(case),
        Input::Socks(case) => run_socks(case),
        Input::Raw { socks, target, credentials, reads, write_chunk } => {
            let kind = if *socks { ProxyKind::Socks5 } else { ProxyKind::Http };
            let credentials = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            let reads: Vec<&[u8]> = reads.iter().map(Vec::as_slice).collect();
            let outcome = run(kind, target, credentials, &reads, *write_chunk);
            let wire = reads.concat();
            check_common(kind, &outcome, &wire, credentials.is_some());
            check_split(kind, &outcome, target, credentials, &wire);
        }
    }
});
