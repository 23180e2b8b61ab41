//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): parsing and formatting.
//!
//! The grammar is a comma-separated list of extensions, each a token followed
//! by `;`-separated parameters, each a token with an optional value that is a
//! token or a quoted string (whose unescaped content must itself be a token).
//! Commas inside quoted strings do not separate extensions.

#[cfg(feature = "deflate")]
pub mod deflate;
pub(crate) mod negotiate;
#[cfg(not(feature = "deflate"))]
mod no_deflate;

#[cfg(feature = "deflate")]
pub(crate) use deflate::{Deflater, DeflaterKey, InflateError, Inflater};
#[cfg(not(feature = "deflate"))]
pub(crate) use no_deflate::{Deflater, DeflaterKey, InflateError, Inflater};

pub(crate) use negotiate::Negotiated;

use std::fmt;

use crate::http_token::{is_tchar, is_token};

/// One extension in a `Sec-WebSocket-Extensions` header: a name and its parameters.
///
/// ```
/// use rfc6455::extensions::ExtensionOffer;
/// let offers = ExtensionOffer::parse_list(r#"permessage-deflate; client_max_window_bits, x-foo; level="3""#)?;
/// assert_eq!(offers[0].name(), "permessage-deflate");
/// assert_eq!(offers[0].params()[0].name, "client_max_window_bits");
/// assert_eq!(offers[1].param("level"), Some(Some("3")));
/// assert_eq!(offers[1].to_string(), "x-foo; level=3");
/// # Ok::<(), rfc6455::extensions::ExtensionSyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionOffer {
    name: String,
    params: Vec<ExtensionParam>,
}

/// One `name[=value]` parameter of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    /// The parameter name (a token).
    pub name: String,
    /// The value, unquoted, if one was given.
    pub value: Option<String>,
}

/// A `Sec-WebSocket-Extensions` value that does not follow the RFC 6455 §9.1 grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Sec-WebSocket-Extensions at byte {at}: {problem}")]
pub struct ExtensionSyntaxError {
    /// Byte offset of the problem in the header value.
    pub at: usize,
    /// What was wrong.
    pub problem: &'static str,
}

impl ExtensionOffer {
    /// An extension with no parameters. `name` must be an HTTP token.
    pub fn new(name: &str) -> Result<Self, ExtensionSyntaxError> {
        check_token(name, "extension name is not a token")?;
        Ok(Self { name: name.to_owned(), params: Vec::new() })
    }

    /// Adds a parameter; `name` and `value` must be HTTP tokens.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Result<Self, ExtensionSyntaxError> {
        check_token(name, "parameter name is not a token")?;
        if let Some(value) = value {
            check_token(value, "parameter value is not a token")?;
        }
        self.params.push(ExtensionParam { name: name.to_owned(), value: value.map(str::to_owned) });
        Ok(self)
    }

    /// Builds an offer from parts this crate already knows to be tokens.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn from_parts(name: &str, params: Vec<(&str, Option<String>)>) -> Self {
        Self {
            name: name.to_owned(),
            params: params.into_iter().map(|(name, value)| ExtensionParam { name: name.to_owned(), value }).collect(),
        }
    }

    /// The extension's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[ExtensionParam] {
        &self.params
    }

    /// The first parameter called `name` (case-insensitively): `Some(None)`
    /// when it has no value, `None` when it is absent.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| p.value.as_deref())
    }

    /// Parses one header value into its extensions, in order.
    pub fn parse_list(value: &str) -> Result<Vec<Self>, ExtensionSyntaxError> {
        let mut list = Vec::new();
        Parser::new(value).parse_into(&mut list)?;
        Ok(list)
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for param in &self.params {
            write!(f, "; {}", param.name)?;
            if let Some(value) = &param.value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

fn check_token(text: &str, problem: &'static str) -> Result<(), ExtensionSyntaxError> {
    if is_token(text.as_bytes()) {
        Ok(())
    } else {
        Err(ExtensionSyntaxError { at: 0, problem })
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Self { input: input.as_bytes(), pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn error(&self, problem: &'static str) -> ExtensionSyntaxError {
        ExtensionSyntaxError { at: self.pos, problem }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self, problem: &'static str) -> Result<String, ExtensionSyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        match self.input.get(start..self.pos) {
            // Token characters are ASCII: the conversion cannot fail.
            Some(token) if !token.is_empty() => Ok(token.iter().map(|&b| char::from(b)).collect()),
            _ => Err(self.error(problem)),
        }
    }

    fn quoted(&mut self) -> Result<String, ExtensionSyntaxError> {
        self.pos += 1; // opening quote
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or_else(|| self.error("unterminated quoted string"))?;
                    value.push(escaped);
                    self.pos += 1;
                }
                Some(byte) => {
                    value.push(byte);
                    self.pos += 1;
                }
            }
        }
        if !is_token(&value) {
            return Err(self.error("quoted parameter value is not a token"));
        }
        Ok(String::from_utf8_lossy(&value).into_owned())
    }

    fn parse_into(&mut self, list: &mut Vec<ExtensionOffer>) -> Result<(), ExtensionSyntaxError> {
        loop {
            // Empty list elements are allowed (RFC 7230 §7).
            while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Ok(());
            }
            let name = self.token("expected an extension name")?;
            let mut params = Vec::new();
            loop {
                self.skip_whitespace();
                match self.peek() {
                    None => break,
                    Some(b',') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b';') => {
                        self.pos += 1;
                        self.skip_whitespace();
                        let name = self.token("expected a parameter name")?;
                        self.skip_whitespace();
                        let value = if self.peek() == Some(b'=') {
                            self.pos += 1;
                            self.skip_whitespace();
                            Some(if self.peek() == Some(b'"') {
                                self.quoted()?
                            } else {
                                self.token("expected a parameter value")?
                            })
                        } else {
                            None
                        };
                        params.push(ExtensionParam { name, value });
                    }
                    Some(_) => return Err(self.error("expected ';' or ','")),
                }
            }
            list.push(ExtensionOffer { name, params });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_offers_with_quoted_values_and_empty_elements() {
        let list = ExtensionOffer::parse_list(
            r#" , permessage-deflate ; client_max_window_bits ; server_max_window_bits = "10" ,, x-y; a=b,"#,
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name(), "permessage-deflate");
        assert_eq!(list[0].param("client_max_window_bits"), Some(None));
        assert_eq!(list[0].param("SERVER_MAX_WINDOW_BITS"), Some(Some("10")));
        assert_eq!(list[0].param("absent"), None);
        assert_eq!(list[1].to_string(), "x-y; a=b");
    }

    #[test]
    fn commas_inside_quotes_do_not_split_but_must_still_be_tokens() {
        let err = ExtensionOffer::parse_list(r#"a; p="x,y""#).unwrap_err();
        assert_eq!(err.problem, "quoted parameter value is not a token");
        assert_eq!(ExtensionOffer::parse_list(r#"a; p="x\yz""#).unwrap()[0].param("p"), Some(Some("xyz")));
    }

    #[test]
    fn rejects_malformed_values_with_a_position() {
        for bad in ["a;", "a; =1", "a; p=", "a b", "a; p=\"open", "\"q\"", "a; p=x y", "a; p=\"x\\"] {
            assert!(ExtensionOffer::parse_list(bad).is_err(), "{bad:?}");
        }
        let err = ExtensionOffer::parse_list("deflate; p=1 q").unwrap_err();
        assert_eq!(err.at, 13);
        assert!(ExtensionOffer::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn builder_checks_tokens() {
        let offer = ExtensionOffer::new("permessage-deflate")
            .and_then(|o| o.with_param("client_max_window_bits", None))
            .unwrap();
        assert_eq!(offer.to_string(), "permessage-deflate; client_max_window_bits");
        assert!(ExtensionOffer::new("bad name").is_err());
        assert!(ExtensionOffer::new("ok").unwrap().with_param("p", Some("a,b")).is_err());
    }
}
