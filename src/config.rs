//! Connection and handshake settings, with safe defaults.

use std::time::Duration;

/// Limits and behaviour for a handshake and the connection that follows it.
///
/// Every buffer the peer can make grow has a limit here, checked before
/// memory is reserved. Start from [`Config::default`] and change fields:
///
/// ```
/// let mut config = rfc6455::Config::default();
/// config.max_message_size = 1 << 20; // 1 MiB messages are plenty for this app
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted from the peer; a larger one fails the
    /// connection with 1009 as soon as its header arrives. Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted from the peer, summed over its fragments; a
    /// larger one fails the connection with 1009. Default 64 MiB.
    pub max_message_size: usize,
    /// Largest opening-handshake head (request or response line plus header
    /// fields) accepted; a larger one fails with a 431 hint. A client also
    /// keeps at most this much of the body of a refused handshake
    /// ([`Response::body`](crate::handshake::Response::body)). Default 8 KiB.
    pub max_handshake_bytes: usize,
    /// Most header fields accepted in the handshake; more fail with a 431
    /// hint. Default 64.
    pub max_headers: usize,
    /// High-water mark for bytes queued for the transport: once
    /// [`Connection::buffered_amount`](crate::Connection::buffered_amount)
    /// reaches it, sending data returns
    /// [`UsageError::WriteBufferFull`](crate::UsageError::WriteBufferFull)
    /// until the transport drains it, and automatic pongs are coalesced to the
    /// latest one. An empty queue always accepts one message, so 0 means
    /// "one message at a time". The adapters turn the error into a wait:
    /// the tokio adapter's `send`/`feed` wait for room; the blocking one
    /// waits, or returns the error with `WhenBufferFull::Fail`. Default 1 MiB.
    pub write_buffer_limit: usize,
    /// Answer every ping with a pong automatically. Default true; when false,
    /// the application answers [`Event::Ping`](crate::Event::Ping) itself
    /// with [`Connection::pong`](crate::Connection::pong). No pong follows
    /// our close frame; while the write buffer is over its limit, only the
    /// latest pong waits.
    ///
    /// Through an adapter (`io::blocking`, `io::tokio_ws`), leave it on: their
    /// `read`/`recv` return messages only and drop
    /// [`Event::Ping`](crate::Event::Ping), so with `auto_pong` off a ping
    /// that arrives is neither seen nor answered (their `pong` methods send
    /// unsolicited pongs only), and a peer whose heartbeat waits for pongs
    /// may take a quiet connection for dead. Turn it off only when driving a
    /// [`Connection`](crate::Connection) yourself. Either way, pings are
    /// answered only while the application reads.
    pub auto_pong: bool,
    /// Accept unmasked frames from clients (servers only). RFC 6455 requires
    /// masking; only enable this behind a trusted, already-encrypted tunnel.
    /// Default false.
    pub accept_unmasked_frames: bool,
    /// How long to wait for the peer's part of the closing: its close frame
    /// after we sent ours, and (client) the server's TCP close after the close
    /// handshake. When it runs out the transport is closed anyway. Default 10 s.
    pub close_timeout: Duration,
    /// Ping the peer after this long without receiving a byte from it, to
    /// learn whether it is still there (and to keep NATs, firewalls and
    /// proxies from dropping a quiet connection). `None` turns the heartbeat
    /// off. Default 20 s: under the 60 s idle timeouts common in load
    /// balancers and proxies, and at one 14-byte ping (and its pong) per
    /// 20 s of silence, cheap. Each answered ping also measures the
    /// round-trip time ([`Connection::rtt`](crate::Connection::rtt)).
    /// Zero is taken as `None`.
    pub ping_interval: Option<Duration>,
    /// How long after the heartbeat's ping the peer has to answer (with a
    /// pong or any other byte) before it is declared dead (a ping queued
    /// behind a large message counts from when it leaves, as long as the
    /// peer keeps reading): the connection
    /// closes with [`TimeoutKind::Pong`](crate::TimeoutKind::Pong) and the
    /// adapters close the transport. A silent peer is thus noticed within
    /// `ping_interval + pong_timeout` (with the blocking adapter, while the
    /// application is in `read`: a send that blocks delays it, see
    /// `WebSocket::set_write_timeout` there). Default 20 s: long enough for a
    /// congested mobile link (keep it well above
    /// [`RttEstimate::rto`](crate::RttEstimate::rto)), short enough to
    /// notice a dead peer in under a minute. Zero is taken as 1 ms.
    pub pong_timeout: Duration,
    /// Close a connection over which no message went either way for this
    /// long: a close handshake with code 1001 ("idle timeout") starts.
    /// Pings and pongs do not count as activity. `None` (the default) or
    /// zero: no limit.
    pub idle_timeout: Option<Duration>,
    /// How long the adapters give the peer to complete the opening handshake,
    /// counted from the start of `accept`/`client`: a peer that trickles its
    /// request (slowloris) is dropped when it runs out. `None`: no limit.
    /// Used by the tokio adapter and by the blocking adapter's TCP helpers
    /// ([`blocking::accept_tcp`](crate::io::blocking::accept_tcp),
    /// [`blocking::connect`](crate::io::blocking::connect)); the sans-IO
    /// handshake types never read the clock. Default 10 s.
    pub handshake_timeout: Option<Duration>,
    /// Set `TCP_NODELAY` on sockets the adapters' TCP helpers open or
    /// accept, so small frames go out at once instead of waiting up to 40 ms
    /// for the previous one to be acknowledged (Nagle's algorithm).
    /// Default true.
    pub tcp_nodelay: bool,
    /// permessage-deflate (RFC 7692): offered by clients and accepted by
    /// servers when `Some` (the default with the `deflate` feature); `None`
    /// turns it off.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::extensions::deflate::DeflateConfig>,
    /// A ceiling on the memory all connections made with this config (and
    /// its clones) reserve together: receive buffers, fragmented messages
    /// being reassembled, compressed messages being inflated, and send
    /// queues. A connection whose peer would take it past the ceiling
    /// fails with close code 1013 (try again later) and
    /// [`ProtocolError::OverBudget`](crate::ProtocolError::OverBudget); a
    /// send that would is refused with
    /// [`UsageError::OverBudget`](crate::UsageError::OverBudget), nothing
    /// queued. The others go on. `None` (the default): only the
    /// per-connection limits apply. See [`MemoryBudget`](crate::MemoryBudget)
    /// for choosing a size.
    pub memory_budget: Option<crate::MemoryBudget>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_bytes: 8 << 10,
            max_headers: 64,
            write_buffer_limit: 1 << 20,
            auto_pong: true,
            accept_unmasked_frames: false,
            close_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
            handshake_timeout: Some(Duration::from_secs(10)),
            tcp_nodelay: true,
            #[cfg(feature = "deflate")]
            deflate: Some(crate::extensions::deflate::DeflateConfig::default()),
            memory_budget: None,
        }
    }
}
