//! Writing an HTTP/1.1 head: the request or status line, header lines, and the blank line that ends it.
//!
//! The one writer behind the client's upgrade request, the server's `101`
//! and its rejections. It writes what it is given: names and values are
//! checked where they enter the handshake types
//! ([`check_extra_header`](super::check_extra_header), token checks).

use bytes::BufMut;

/// A head being written to `out`; [`finish`](Self::finish) ends it.
pub(crate) struct HeadWriter<'a, B: BufMut> {
    out: &'a mut B,
}

impl<'a, B: BufMut> HeadWriter<'a, B> {
    /// Starts a request head: `{method} {target} HTTP/1.1`.
    pub(crate) fn request(out: &'a mut B, method: &str, target: &str) -> Self {
        let mut head = Self { out };
        head.line(&[method, " ", target, " HTTP/1.1"]);
        head
    }

    /// Starts a response head: `HTTP/1.1 {status} {reason}`.
    pub(crate) fn response(out: &'a mut B, status: u16, reason: &str) -> Self {
        let mut head = Self { out };
        head.line(&["HTTP/1.1 ", &status.to_string(), " ", reason]);
        head
    }

    /// Writes the header line `{name}: {value}`.
    pub(crate) fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.line(&[name, ": ", value]);
        self
    }

    /// Writes the blank line that ends the head; a body may follow in `out`.
    pub(crate) fn finish(mut self) {
        self.line(&[]);
    }

    fn line(&mut self, parts: &[&str]) {
        for part in parts {
            self.out.put_slice(part.as_bytes());
        }
        self.out.put_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_start_line_headers_and_blank_line() {
        let mut out = Vec::new();
        let mut head = HeadWriter::request(&mut out, "GET", "/chat?x=1");
        head.header("Host", "example.com").header("Upgrade", "websocket");
        head.finish();
        assert_eq!(out, b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\r\n");

        let mut out = Vec::new();
        HeadWriter::response(&mut out, 404, "Not Found").finish();
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\n\r\n");
    }
}
