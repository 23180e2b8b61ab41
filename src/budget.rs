//! A memory budget shared by many connections: a ceiling on the bytes a
//! whole server reserves for what its peers send and for what it queues
//! for them.
//!
//! The per-connection limits (`Config::max_message_size`, `max_frame_size`)
//! bound one connection; a few hundred connections each sending a message
//! just under the limit (or a small permessage-deflate "bomb" that inflates
//! to it) can still add up to gigabytes. With a [`MemoryBudget`] in
//! `Config::memory_budget`, every connection made with that config asks the
//! budget before its receive buffer, a fragmented message being reassembled,
//! or a message being inflated grows. When the budget cannot grant the
//! growth, that connection fails with close code 1013 (try again later) and
//! [`ProtocolError::OverBudget`](crate::ProtocolError::OverBudget); the
//! other connections go on. A send asks too, before its frame is queued:
//! refused, it returns [`UsageError::OverBudget`](crate::UsageError::OverBudget)
//! with nothing queued, and the connection stays open.
//!
//! Each connection's first 64 KiB of such buffers are not counted: they are
//! the cost of a connection existing (bounded by how many you accept), and
//! leaving them out keeps ordinary traffic off the shared counter and lets
//! small messages through while a few large ones have the budget exhausted.
//! So memory for these buffers stays under the budget plus 64 KiB per
//! connection. The cost: one atomic operation when a buffer grows past that
//! or is given back; none at all without a budget.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A memory budget shared by every connection whose [`Config`](crate::Config)
/// holds a clone of it (clones share one counter).
///
/// It counts the bytes reserved for the peers' input (receive buffers,
/// fragmented messages being reassembled, compressed messages being
/// inflated) and the send queues' own memory (frames encoded and not yet
/// written, payloads only the queue holds, and the spare room of their
/// buffers). A message handed to the
/// application is the application's and no longer counts; neither does a
/// payload a queue shares rather than copies (a
/// [`PreparedMessage`](crate::PreparedMessage) or a large `Bytes` payload
/// written with vectored writes), which is one allocation however many
/// connections send it.
///
/// Choosing a size: the budget must hold what the server's normal traffic
/// keeps in flight (connections × their typical buffered message), plus room
/// for the largest message you accept (`Config::max_message_size`). Python
/// `websockets` defaults to 1 MiB messages per connection; a server of
/// 10,000 chat connections with 64 KiB messages might give 256 MiB and lower
/// `max_message_size` to 1 MiB.
///
/// A connection the budget refuses ends as any connection failed by its peer
/// does: its close frame carries 1013 and the adapters' `recv`/`read` return
/// `Err(Error::Closed(CloseReason::Protocol(ProtocolError::OverBudget { needed, limit })))`
/// (the sans-IO [`Connection`](crate::Connection) reports the same reason in
/// its [`Event::Closed`](crate::Event::Closed)). Log it, and if it happens
/// often, raise the budget or lower `max_message_size`. A refused send
/// returns `Err(Error::Usage(UsageError::OverBudget { needed, limit }))`
/// (the core's `send` the [`UsageError`](crate::UsageError) itself) and
/// queues nothing: the peer reads slower than you send, or the server is
/// full; drop the message, send it once `flush` has written the queue out,
/// or close that connection with 1013.
///
/// ```
/// use rfc6455::{Config, MemoryBudget};
///
/// let budget = MemoryBudget::new(256 << 20); // 256 MiB for all connections
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20;
/// config.memory_budget = Some(budget.clone());
/// // ... accept connections with `config`; later:
/// println!("{} of {} bytes in use, peak {}", budget.used(), budget.limit(), budget.peak());
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Counter>,
}

#[derive(Debug)]
struct Counter {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none in use.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Counter {
                limit,
                used: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                refused: AtomicU64::new(0),
            }),
        }
    }

    /// The ceiling, in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes held now by all connections sharing the budget.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// The most bytes held at any one time so far.
    pub fn peak(&self) -> usize {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// How many times a connection asked for more than was left (and was
    /// closed with 1013, or had a send refused).
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit under the limit.
    fn try_take(&self, bytes: usize) -> bool {
        let counter = &self.inner;
        let mut used = counter.used.load(Ordering::Relaxed);
        loop {
            let Some(after) = used.checked_add(bytes).filter(|&after| after <= counter.limit) else {
                counter.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            };
            match counter.used.compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    counter.peak.fetch_max(after, Ordering::Relaxed);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        self.inner.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("limit", &self.limit())
            .field("used", &self.used())
            .field("peak", &self.peak())
            .finish()
    }
}

/// Two budgets are equal when they are the same budget (clones of one another).
impl PartialEq for MemoryBudget {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for MemoryBudget {}

/// Held back from giving back until this much is unused, so buffers that
/// shrink and grow with each message do not cost an atomic operation each time.
const GIVE_BACK_SLACK: usize = 64 << 10;

/// What each connection holds without asking the budget: the small buffers
/// every connection needs (bounded by the number of connections), so that
/// ordinary traffic never touches the shared counter and a budget exhausted
/// by a few large messages does not refuse everybody else's next read.
pub(crate) const UNCHARGED: usize = 64 << 10;

/// What one connection holds of a budget (nothing without one).
#[derive(Debug, Default)]
pub(crate) struct Charge {
    budget: Option<MemoryBudget>,
    held: usize,
}

impl Charge {
    pub(crate) fn new(budget: Option<MemoryBudget>) -> Self {
        Self { budget, held: 0 }
    }

    /// Makes the charge cover `total` bytes held by the connection; false
    /// (and nothing changed) if the budget cannot grant the increase.
    #[inline]
    pub(crate) fn cover(&mut self, total: usize) -> bool {
        let total = total.saturating_sub(UNCHARGED);
        match &self.budget {
            Some(budget) if total > self.held => {
                let granted = budget.try_take(total - self.held);
                if granted {
                    self.held = total;
                }
                granted
            }
            _ => true,
        }
    }

    /// The connection now holds `total` bytes: gives back the rest once it
    /// is worth it (all of it when `total` is zero).
    #[inline]
    pub(crate) fn settle(&mut self, total: usize) {
        let total = total.saturating_sub(UNCHARGED);
        if let Some(budget) = &self.budget {
            if self.held > total && (total == 0 || self.held - total > GIVE_BACK_SLACK) {
                budget.give_back(self.held - total);
                self.held = total;
            }
        }
    }

    /// Whether there is a budget to ask (without one, `cover` always grants).
    #[inline]
    pub(crate) fn is_budgeted(&self) -> bool {
        self.budget.is_some()
    }

    /// For a refused request to hold `total` bytes: how many more bytes it
    /// asked for, and the budget's limit.
    pub(crate) fn shortfall(&self, total: usize) -> (usize, usize) {
        (
            total.saturating_sub(UNCHARGED).saturating_sub(self.held),
            self.budget.as_ref().map_or(usize::MAX, MemoryBudget::limit),
        )
    }

    /// The error for a refused request to hold `total` bytes of the peer's input.
    pub(crate) fn refused(&self, total: usize) -> crate::ProtocolError {
        let (needed, limit) = self.shortfall(total);
        crate::ProtocolError::OverBudget { needed, limit }
    }

    /// Bytes held now (past the uncharged allowance).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.settle(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_up_to_the_limit_and_refuses_past_it() {
        let budget = MemoryBudget::new(1000);
        let (mut a, mut b) = (Charge::new(Some(budget.clone())), Charge::new(Some(budget.clone())));
        assert!(a.cover(UNCHARGED), "a connection's small buffers are not charged");
        assert_eq!(budget.used(), 0);
        assert!(a.cover(UNCHARGED + 600));
        assert!(!b.cover(UNCHARGED + 500), "600 + 500 is over 1000");
        assert_eq!((budget.used(), budget.refused()), (600, 1));
        assert!(b.cover(UNCHARGED + 400));
        assert_eq!(budget.used(), 1000);
        a.settle(0);
        assert_eq!(budget.used(), 400);
        assert!(b.cover(UNCHARGED + 1000));
        assert_eq!((budget.used(), budget.peak()), (1000, 1000));
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn small_shrinks_are_kept_until_worth_giving_back() {
        let budget = MemoryBudget::new(usize::MAX);
        let mut charge = Charge::new(Some(budget.clone()));
        assert!(charge.cover(UNCHARGED + GIVE_BACK_SLACK + 100));
        charge.settle(UNCHARGED + GIVE_BACK_SLACK);
        assert_eq!(budget.used(), GIVE_BACK_SLACK + 100, "100 bytes are not worth an atomic operation");
        assert!(charge.cover(UNCHARGED + GIVE_BACK_SLACK + 50), "covered already: no new grant");
        charge.settle(UNCHARGED + 10);
        assert_eq!(budget.used(), 10);
    }

    #[test]
    fn without_a_budget_everything_is_granted() {
        let mut charge = Charge::new(None);
        assert!(charge.cover(usize::MAX));
        assert_eq!(charge.held(), 0);
    }

    #[test]
    fn clones_share_one_counter() {
        let budget = MemoryBudget::new(10);
        assert_eq!(budget, budget.clone());
        assert_ne!(budget, MemoryBudget::new(10));
    }
}
