//! The sans-IO half of reconnection: whether to dial again after a
//! connection or a dial ended ([`RetryDecision`]), and how long to wait first
//! ([`Backoff`]). No clock, no sleep, no socket: the tokio
//! [`ReconnectingClient`](crate::io::reconnect::ReconnectingClient) is the
//! I/O half, and other drivers can use these two the same way.

mod backoff;
mod retry;

pub use backoff::Backoff;
pub use retry::RetryDecision;
