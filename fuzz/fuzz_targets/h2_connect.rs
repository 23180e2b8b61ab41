//! Fuzzes WebSocket over HTTP/2 (RFC 8441) on the server side:
//! `UpgradeRequest::from_http2_parts` on `http::request::Parts` as an HTTP/2
//! server (hyper) hands them over, then `accept_http`. Structured input: the
//! method (`CONNECT`, `GET`, others, lowercase `connect`), `:protocol`
//! (absent, `websocket` in any case, others), the URI (full, authority
//! only, path only, fuzzed paths and queries), the `http::Version`,
//! `Sec-WebSocket-Version` headers, `Sec-WebSocket-Protocol` and
//! `Sec-WebSocket-Extensions` lists with odd tokens and separators, `Host`,
//! `Origin`, connection-specific headers HTTP/2 forbids, up to 255 filler
//! headers, and arbitrary names and value bytes (obs-text, HTAB, edge
//! spaces) wherever `http` takes them; `Config::max_headers`,
//! `max_handshake_bytes` and permessage-deflate are fuzzed too. Only the
//! public API is used.
//!
//! An input whose first byte is 0xF0 or more is text instead (the seeds,
//! written by `make_seeds.sh`, are): `[mark, max_headers - 4,
//! max_handshake_bytes - 256 (two bytes, little-endian), flags]`, then a
//! line `METHOD URI [PROTOCOL]` and `name: value` lines (those `http`
//! refuses are left out). Flags: bit 0 `Config::deflate`; bits 1-2 the
//! subprotocol the server picks: 1 the `flags >> 3`th offered, 2 one not
//! offered, else none.
//!
//! Invariants:
//! * `from_http2_parts` and `from_http2` agree, and neither panics;
//! * anything but `CONNECT` is refused with `MissingHeader(":method:
//!   CONNECT")`, then a `:protocol` other than `websocket` (any case) with
//!   `MissingHeader(":protocol: websocket")`;
//! * a well-formed request is accepted: one `Sec-WebSocket-Version: 13`,
//!   subprotocol lists of tokens, extension fields `parse_list` takes, a
//!   host (the first `Host` field, else the authority) of printable ASCII,
//!   an RFC 3986 path and query, and within the limits as the HTTP/1.1
//!   request it stands for (its fields but the connection-specific ones,
//!   plus `Upgrade`, `Connection`, the key and `Host`; and its bytes);
//! * a refusal for size or field count only happens over those limits;
//! * an accepted request is HTTP/2, with the target, host, path, query and
//!   offered subprotocols (in order) that were sent;
//! * `accept_http` with an offered subprotocol (or none) gives `200` with no
//!   `Upgrade`, `Connection` or `Sec-WebSocket-Accept`, exactly the chosen
//!   `Sec-WebSocket-Protocol`, an extension only if the client offered it
//!   (permessage-deflate, only with `Config::deflate`), and a server
//!   `Connection`; an unoffered subprotocol is refused with
//!   `ProtocolNotOffered`.
#![no_main]

use std::fmt;
use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use http::header::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::extensions::ExtensionOffer;
use rfc6455::handshake::{Accept, UpgradeRequest};
use rfc6455::{Config, HandshakeError, Role, UsageError};

#[derive(Debug, Arbitrary)]
struct Input {
    method: Method,
    protocol: Option<Protocol>,
    uri: Uri,
    version: u8,
    ws_versions: Vec<WsVersion>,
    protocols: Vec<(Vec<Token>, Separator)>,
    extensions: Vec<Vec<Extension>>,
    host: Option<Host>,
    origin: Option<String>,
    /// Headers HTTP/2 forbids or makes pointless (dropped by the core).
    connection_specific: Vec<(u8, String)>,
    /// `count` filler headers with this value.
    fillers: Option<(u8, Value)>,
    /// Arbitrary names and values (kept where `http` takes them).
    extra: Vec<(String, Vec<u8>)>,
    max_headers: u8,
    max_handshake_bytes: u16,
    deflate: bool,
    choose: Choice,
}

#[derive(Debug, Arbitrary)]
enum Method {
    Connect,
    Get,
    Post,
    LowercaseConnect,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Protocol {
    Websocket,
    Capitalised,
    Upper,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Authority {
    Name,
    WithPort(u16),
    V6,
    UserInfo,
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum Uri {
    /// `https://authority` with a path and query.
    Full(Authority, Path),
    /// `authority` alone (authority-form, no path).
    AuthorityOnly(Authority),
    /// A path and query alone.
    PathOnly(Path),
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum Path {
    Chat,
    WithQuery(Vec<Segment>, Vec<(Segment, Segment)>),
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum Segment {
    Word,
    Escaped(u8),
    Chars(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum WsVersion {
    Thirteen,
    Padded,
    Eight,
    List,
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum Token {
    Chat,
    Superchat,
    Mqtt,
    Dotted,
    Odd(u8),
    Any(String),
}

#[derive(Debug, Arbitrary)]
enum Separator {
    Comma,
    CommaSpace,
    Spaced,
    Empties,
    Tab,
}

#[derive(Debug, Arbitrary)]
enum Extension {
    Deflate(Vec<DeflateParam>),
    Unknown,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum DeflateParam {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits(u8),
    ClientMaxWindowBits(Option<u8>),
    Quoted(u8),
}

#[derive(Debug, Arbitrary)]
enum Host {
    Same,
    Other,
    Empty,
    Padded,
    Bytes(Vec<u8>),
    /// Two `Host` fields (only the first is used).
    Twice,
}

#[derive(Debug, Arbitrary)]
enum Value {
    Short,
    Long(u16),
    ObsText,
    Tab,
    Bytes(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Choice {
    Nothing,
    Offered(u8),
    NotOffered,
}

const TCHARS: &[u8] = b"!#$%&'*+-.^_`|~";

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_alphanumeric() || TCHARS.contains(b))
}

/// RFC 9110's list elements: split at commas, OWS trimmed, empty ones
/// skipped.
fn list_elements(value: &[u8]) -> Vec<&[u8]> {
    value.split(|&b| b == b',').map(|e| e.trim_ascii()).filter(|e| !e.is_empty()).collect()
}

/// A pchar, query character or `/` of RFC 3986 (`%` checked apart).
fn is_target_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte)
}

/// Whether `target` is an RFC 3986 path and query that every HTTP/1.1
/// parser takes: allowed characters and `%XX` escapes, starting with `/`.
fn is_clean_target(target: &str) -> bool {
    let bytes = target.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                if !hex {
                    return false;
                }
                i += 3;
            }
            byte if is_target_char(byte) => i += 1,
            _ => return false,
        }
    }
    true
}

fn authority_text(authority: &Authority) -> String {
    match authority {
        Authority::Name => "example.com".to_owned(),
        Authority::WithPort(port) => format!("example.com:{port}"),
        Authority::V6 => "[::1]:8443".to_owned(),
        Authority::UserInfo => "user@example.com".to_owned(),
        Authority::Any(text) => text.clone(),
    }
}

fn segment_text(segment: &Segment) -> String {
    match segment {
        Segment::Word => "chat".to_owned(),
        Segment::Escaped(byte) => format!("%{byte:02X}"),
        Segment::Chars(bytes) => bytes.iter().map(|&b| char::from(b'!' + b % 94)).collect(),
    }
}

fn path_text(path: &Path) -> String {
    match path {
        Path::Chat => "/chat".to_owned(),
        Path::WithQuery(segments, query) => {
            let mut text = String::new();
            for segment in segments {
                text.push('/');
                text.push_str(&segment_text(segment));
            }
            if text.is_empty() {
                text.push('/');
            }
            if !query.is_empty() {
                let pairs: Vec<String> =
                    query.iter().map(|(k, v)| format!("{}={}", segment_text(k), segment_text(v))).collect();
                text.push('?');
                text.push_str(&pairs.join("&"));
            }
            text
        }
        Path::Any(text) => text.clone(),
    }
}

/// The URI `http` makes of `uri` (`/` where it refuses it).
fn build_uri(uri: &Uri) -> http::Uri {
    let text = match uri {
        Uri::Full(authority, path) => format!("https://{}{}", authority_text(authority), path_text(path)),
        Uri::AuthorityOnly(authority) => authority_text(authority),
        Uri::PathOnly(path) => path_text(path),
        Uri::Any(text) => text.clone(),
    };
    http::Uri::try_from(text).unwrap_or_else(|_| http::Uri::from_static("/"))
}

fn token_text(token: &Token) -> String {
    match token {
        Token::Chat => "chat".to_owned(),
        Token::Superchat => "superchat".to_owned(),
        Token::Mqtt => "mqtt".to_owned(),
        Token::Dotted => "v2.bookings.example.net".to_owned(),
        // Any printable ASCII byte, token or not (`,` splits, space trims).
        Token::Odd(byte) => format!("x{}y", char::from(0x20 + byte % 0x5f)),
        Token::Any(text) => text.clone(),
    }
}

fn separator_text(separator: &Separator) -> &'static str {
    match separator {
        Separator::Comma => ",",
        Separator::CommaSpace => ", ",
        Separator::Spaced => " , ",
        Separator::Empties => ",, ,",
        Separator::Tab => ",\t",
    }
}

fn extension_text(extension: &Extension) -> String {
    match extension {
        Extension::Deflate(params) => {
            let mut text = "permessage-deflate".to_owned();
            for param in params {
                text.push_str(&match param {
                    DeflateParam::ServerNoContextTakeover => "; server_no_context_takeover".to_owned(),
                    DeflateParam::ClientNoContextTakeover => "; client_no_context_takeover".to_owned(),
                    DeflateParam::ServerMaxWindowBits(bits) => format!("; server_max_window_bits={}", bits % 20),
                    DeflateParam::ClientMaxWindowBits(None) => "; client_max_window_bits".to_owned(),
                    DeflateParam::ClientMaxWindowBits(Some(bits)) => {
                        format!("; client_max_window_bits={}", bits % 20)
                    }
                    DeflateParam::Quoted(bits) => format!("; client_max_window_bits=\"{}\"", bits % 20),
                });
            }
            text
        }
        Extension::Unknown => "x-foo; bar=\"baz, qux\"; quux".to_owned(),
        Extension::Raw(text) => text.clone(),
    }
}

fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::Short => b"y".to_vec(),
        Value::Long(len) => vec![b'v'; usize::from(*len % 9000)],
        Value::ObsText => b"caf\xc3\xa9 \xff".to_vec(),
        Value::Tab => b"a\tb".to_vec(),
        Value::Bytes(bytes) => bytes.clone(),
    }
}

/// Adds a field if `http` takes it.
fn push(headers: &mut Vec<(HeaderName, HeaderValue)>, name: &[u8], value: &[u8]) {
    if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
        headers.push((name, value));
    }
}

fn build_headers(input: &Input, uri: &http::Uri) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    for version in &input.ws_versions {
        let value = match version {
            WsVersion::Thirteen => "13",
            WsVersion::Padded => " 13\t",
            WsVersion::Eight => "8",
            WsVersion::List => "13, 8",
            WsVersion::Any(text) => text,
        };
        push(&mut headers, b"sec-websocket-version", value.as_bytes());
    }
    for (tokens, separator) in &input.protocols {
        let texts: Vec<String> = tokens.iter().map(token_text).collect();
        push(&mut headers, b"sec-websocket-protocol", texts.join(separator_text(separator)).as_bytes());
    }
    for line in &input.extensions {
        let entries: Vec<String> = line.iter().map(extension_text).collect();
        push(&mut headers, b"sec-websocket-extensions", entries.join(", ").as_bytes());
    }
    if let Some(choice) = &input.host {
        let authority = uri.authority().map_or("example.com", |a| a.as_str());
        let value: &[u8] = match choice {
            Host::Same | Host::Twice => authority.as_bytes(),
            Host::Other => b"other.example:9000",
            Host::Empty => b"",
            Host::Padded => b" example.com ",
            Host::Bytes(bytes) => bytes,
        };
        push(&mut headers, b"host", value);
        if matches!(choice, Host::Twice) {
            push(&mut headers, b"host", b"second.example");
        }
    }
    if let Some(origin) = &input.origin {
        push(&mut headers, b"origin", origin.as_bytes());
    }
    for (which, value) in &input.connection_specific {
        let name: &[u8] = match which % 5 {
            0 => b"upgrade",
            1 => b"connection",
            2 => b"sec-websocket-key",
            3 => b"keep-alive",
            _ => b"te",
        };
        push(&mut headers, name, value.as_bytes());
    }
    if let Some((count, value)) = &input.fillers {
        let value = value_bytes(value);
        for i in 0..*count {
            push(&mut headers, format!("x-filler-{i}").as_bytes(), &value);
        }
    }
    for (name, value) in &input.extra {
        push(&mut headers, name.as_bytes(), value);
    }
    headers
}

/// What the request's fields call for, read by RFC 6455, 8441 and 9110.
struct Assessment {
    /// One `Sec-WebSocket-Version: 13`, token lists of subprotocols,
    /// well-formed extension offers, a usable host: the request must be
    /// accepted if it is also within the limits and its target is clean.
    clean: bool,
    /// The subprotocols offered, in order.
    protocols: Vec<String>,
    /// The host: the first `Host` field, trimmed, or the authority.
    host: Option<String>,
}

fn assess(headers: &http::HeaderMap, uri: &http::Uri) -> Assessment {
    let mut clean = true;
    let versions: Vec<&[u8]> = headers.get_all("sec-websocket-version").iter().map(|v| v.as_bytes()).collect();
    clean &= versions.len() == 1 && versions[0].trim_ascii() == b"13";
    let mut protocols = Vec::new();
    for value in headers.get_all("sec-websocket-protocol") {
        for element in list_elements(value.as_bytes()) {
            clean &= is_token(element);
            protocols.push(String::from_utf8_lossy(element).into_owned());
        }
    }
    for value in headers.get_all("sec-websocket-extensions") {
        // The syntax is the `extensions` target's business: `parse_list`
        // decides it; RFC 6455 §9.1 wants at least one extension per field.
        let parsed = value.to_str().ok().map(ExtensionOffer::parse_list);
        clean &= matches!(parsed, Some(Ok(offers)) if !offers.is_empty());
    }
    let host = match headers.get(http::header::HOST) {
        Some(value) => {
            let trimmed = value.as_bytes().trim_ascii();
            clean &= trimmed.iter().all(|&b| b > 0x20 && b < 0x7f);
            std::str::from_utf8(trimmed).ok().filter(|h| !h.is_empty()).map(str::to_owned)
        }
        None => uri.authority().map(|a| a.as_str().to_owned()),
    };
    clean &= host.is_some();
    Assessment { clean, protocols, host }
}

/// The bytes an HTTP/2 request gains as HTTP/1.1 that its limits do not
/// count: the request line around the target, Upgrade, Connection and the
/// key (a Host line made from the authority is counted apart).
const SYNTHESISED_BYTES: usize = "GET  HTTP/1.1\r\n".len()
    + "upgrade: websocket\r\n".len()
    + "connection: Upgrade\r\n".len()
    + "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n".len();

/// The size and field count of the HTTP/1.1 request an HTTP/2 one stands
/// for: its fields, those HTTP/1.1 needs in place of the connection-specific
/// ones, and the request line.
fn as_http11(headers: &http::HeaderMap, uri: &http::Uri, target: &str) -> (usize, usize) {
    let dropped =
        [http::header::UPGRADE, http::header::CONNECTION, http::header::SEC_WEBSOCKET_KEY, http::header::HOST];
    let field = |name: &str, value: usize| name.len() + 2 + value + 2;
    let mut size = format!("GET {target} HTTP/1.1\r\n").len() + 2;
    let mut count = 3;
    for (name, value) in headers.iter().filter(|(n, _)| !dropped.contains(n)) {
        size += field(name.as_str(), value.len());
        count += 1;
    }
    size += field("upgrade", "websocket".len());
    size += field("connection", "Upgrade".len());
    size += field("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==".len());
    // The first Host field as sent, else the authority.
    let host = headers.get(http::header::HOST).map(HeaderValue::len).or(uri.authority().map(|a| a.as_str().len()));
    if let Some(len) = host {
        size += field("host", len);
        count += 1;
    }
    (size, count)
}

/// One request: its parts, the `:protocol` pseudo-header, the config, and
/// which subprotocol the server picks.
fn check(parts: &http::request::Parts, protocol: Option<&str>, config: &Config, choose: &Choice) {
    let result = UpgradeRequest::from_http2_parts(parts, protocol, config);
    let whole = http::Request::from_parts(parts.clone(), ());
    assert_eq!(UpgradeRequest::from_http2(&whole, protocol, config), result);

    if parts.method != http::Method::CONNECT {
        assert_eq!(result, Err(HandshakeError::MissingHeader(":method: CONNECT")));
        return;
    }
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
        assert_eq!(result, Err(HandshakeError::MissingHeader(":protocol: websocket")));
        return;
    }
    let uri = &parts.uri;
    let target = uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let (size, count) = as_http11(&parts.headers, uri, target);
    // The limits count what the peer sent (the target and the authority
    // included): the lines the request gains as HTTP/1.1 are allowed on
    // top, three, and a Host line around the authority when it sent none.
    let host_line = usize::from(!parts.headers.contains_key(http::header::HOST) && uri.authority().is_some());
    let (max_size, max_count) = (
        config.max_handshake_bytes + SYNTHESISED_BYTES + host_line * "host: \r\n".len(),
        config.max_headers + 3 + host_line,
    );
    match &result {
        Err(HandshakeError::HeadTooLarge { limit }) => {
            assert!(size > max_size, "{size} bytes");
            assert_eq!(*limit, config.max_handshake_bytes, "the configured limit");
        }
        Err(HandshakeError::TooManyHeaders { limit }) => {
            assert!(count > max_count, "{count} fields");
            assert_eq!(*limit, config.max_headers, "the configured limit");
        }
        _ => {}
    }
    let assessment = assess(&parts.headers, uri);
    let within = size <= max_size && count <= max_count;
    let clean = assessment.clean && within && is_clean_target(target);
    let request = match result {
        Ok(request) => request,
        Err(err) if clean => panic!("a well-formed request was refused: {err:?}\n{parts:?}"),
        Err(_) => return,
    };

    assert!(request.is_http2());
    assert_eq!(request.protocols().collect::<Vec<_>>(), assessment.protocols);
    assert_eq!(Some(request.host()), assessment.host.as_deref());
    assert_eq!(request.target(), target);
    if uri.path_and_query().is_some() {
        assert_eq!(request.path(), uri.path());
        assert_eq!(request.query(), uri.query());
    }
    let offered: Vec<String> = request.protocols().map(str::to_owned).collect();

    let chosen = match choose {
        Choice::Nothing => None,
        Choice::Offered(i) if !offered.is_empty() => Some(offered[usize::from(*i) % offered.len()].clone()),
        Choice::Offered(_) => None,
        Choice::NotOffered => Some("not-offered-protocol".to_owned()),
    };
    let accept = match &chosen {
        // An offered name the parser took is a token.
        Some(name) => Accept::new().protocol(name).expect("a token"),
        None => Accept::new(),
    };
    let (response, conn) = match request.accept_http(&accept, config, Instant::now()) {
        Ok(answer) => answer,
        Err(UsageError::ProtocolNotOffered(name)) => {
            assert_eq!(Some(&name), chosen.as_ref());
            assert!(!offered.contains(&name), "{name} was offered");
            return;
        }
        Err(err) => panic!("accept_http failed: {err:?}"),
    };
    if let Some(name) = &chosen {
        assert!(offered.contains(name), "accepted {name}, not offered");
    }
    assert_eq!(response.status(), http::StatusCode::OK);
    let headers = response.headers();
    for absent in [http::header::UPGRADE, http::header::CONNECTION, http::header::SEC_WEBSOCKET_ACCEPT] {
        assert!(headers.get(&absent).is_none(), "{absent} in an HTTP/2 answer");
    }
    let protocols: Vec<_> = headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL).iter().collect();
    match &chosen {
        Some(name) => assert_eq!(protocols, [name.as_str()]),
        None => assert!(protocols.is_empty(), "{protocols:?}"),
    }
    for value in headers.get_all(http::header::SEC_WEBSOCKET_EXTENSIONS) {
        let text = value.to_str().expect("an ASCII extension answer");
        for extension in ExtensionOffer::parse_list(text).expect("a well-formed extension answer") {
            assert!(
                request.extensions().iter().any(|o| o.name().eq_ignore_ascii_case(extension.name())),
                "{} answered, not offered",
                extension.name()
            );
            assert!(extension.name().eq_ignore_ascii_case("permessage-deflate"));
            assert!(config.deflate.is_some(), "permessage-deflate without Config::deflate");
        }
    }
    assert_eq!(conn.role(), Role::Server);
}

fn config(max_headers: u8, max_handshake_bytes: u16, deflate: bool) -> Config {
    let mut config = Config::default();
    config.max_headers = 4 + usize::from(max_headers);
    config.max_handshake_bytes = 256 + usize::from(max_handshake_bytes % (16 << 10));
    config.deflate = deflate.then(DeflateConfig::default);
    config
}

/// A byte-oriented input: settings, then the request as text (see the
/// module docs).
fn from_text(data: &[u8]) {
    let [_, max_headers, lo, hi, flags, text @ ..] = data else { return };
    let config = config(*max_headers, u16::from_le_bytes([*lo, *hi]), flags & 1 != 0);
    let choose = match (flags >> 1) & 3 {
        1 => Choice::Offered(flags >> 3),
        2 => Choice::NotOffered,
        _ => Choice::Nothing,
    };
    let mut lines = text.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let first = lines.next().unwrap_or_default();
    let mut words = first.split(|&b| b == b' ');
    let mut request = http::Request::new(());
    let Ok(method) = http::Method::from_bytes(words.next().unwrap_or_default()) else { return };
    *request.method_mut() = method;
    *request.version_mut() = http::Version::HTTP_2;
    match http::Uri::try_from(words.next().unwrap_or_default()) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return,
    }
    let protocol = words.next().map(|p| String::from_utf8_lossy(p).into_owned());
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            request.headers_mut().append(name, value);
        }
    }
    let (parts, ()) = request.into_parts();
    check(&parts, protocol.as_deref(), &config, &choose);
}

/// The first byte that marks a text input (see the module docs).
const TEXT_MARK: u8 = 0xF0;

/// An input: text if its first byte is [`TEXT_MARK`] or more, else an
/// [`Input`]. (`cargo fuzz fmt` shows either.)
enum Case {
    Text(Vec<u8>),
    Structured(Input),
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Case::Text(bytes) => write!(f, "Text(b\"{}\")", bytes.escape_ascii()),
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
            Some(data @ [mark, ..]) if *mark >= TEXT_MARK => Ok(Case::Text(data.to_vec())),
            _ => Input::arbitrary_take_rest(u).map(Case::Structured),
        }
    }
}

fuzz_target!(|case: Case| {
    let input = match case {
        Case::Text(data) => return from_text(&data),
        Case::Structured(input) => input,
    };
    let config = config(input.max_headers, input.max_handshake_bytes, input.deflate);
    let method = match &input.method {
        Method::Connect => http::Method::CONNECT,
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::LowercaseConnect => http::Method::from_bytes(b"connect").expect("an extension method"),
        Method::Other(name) => http::Method::from_bytes(name.as_bytes()).unwrap_or(http::Method::PUT),
    };
    let protocol = input.protocol.as_ref().map(|p| match p {
        Protocol::Websocket => "websocket".to_owned(),
        Protocol::Capitalised => "WebSocket".to_owned(),
        Protocol::Upper => "WEBSOCKET".to_owned(),
        Protocol::Other(text) => text.clone(),
    });
    let uri = build_uri(&input.uri);
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri.clone();
    // Not looked at by the core: any version.
    *request.version_mut() = match input.version % 5 {
        0 | 1 => http::Version::HTTP_2,
        2 => http::Version::HTTP_11,
        3 => http::Version::HTTP_10,
        _ => http::Version::HTTP_3,
    };
    for (name, value) in build_headers(&input, &uri) {
        request.headers_mut().append(name, value);
    }
    let (parts, ()) = request.into_parts();
    check(&parts, protocol.as_deref(), &config, &input.choose);
});
