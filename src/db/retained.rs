//! What pooled connections hold on to after a large message. tokio-postgres keeps a
//! connection's read buffer at the size of the largest message it received (a response body
//! arrives as one `DataRow`) and its write buffer at the largest it sent, for as long as the
//! connection lives; the buffer grows by doubling, so it may be up to twice the message.
//! Closing every connection that carried a large message bounds that, but costs a new
//! connection (a fork in PostgreSQL, SCRAM on both sides, the statements prepared again) for
//! every response over the threshold: an API that serves 1 MB pages paid it on every page
//! (the perf harness's W6 ran at 0.6 × PostgreSQL's own loop because of it). So the pool keeps
//! such connections within a budget, and closes one only when it would exceed a connection's
//! share or the pool's.

use deadpool_postgres::ObjectId;
use std::collections::HashMap;
use std::hash::Hash;

/// A message (bound values or a response body) up to this size is not accounted: every
/// connection may hold buffers this large.
pub const LARGE_MESSAGE: usize = 1 << 20;

/// What one connection may keep (8 MiB, counted as twice its largest message): a connection
/// that carried a message over 4 MiB is closed afterwards.
pub const RETAINED_PER_CONNECTION: usize = 8 << 20;

/// What the pool's live connections may keep together (32 MiB, counted as in
/// [`RETAINED_PER_CONNECTION`]): past it, the connection that carried the one large message
/// too many is closed instead of pooled.
pub const RETAINED_BUDGET: usize = 32 << 20;

/// What a connection keeps after carrying a message of `size` bytes, at most.
fn kept(size: usize) -> usize {
    size.saturating_mul(2)
}

/// What each connection keeps ([`kept`] of its largest message), for those that carried a
/// message over [`LARGE_MESSAGE`], by connection (the pool's object id; a number in the tests).
pub struct Retained<K = ObjectId> {
    by_connection: HashMap<K, usize>,
    total: usize,
}

impl<K> Default for Retained<K> {
    fn default() -> Self {
        Retained { by_connection: HashMap::new(), total: 0 }
    }
}

impl<K: Hash + Eq> Retained<K> {
    /// After a request that carried `size` bytes on connection `id`: whether the connection
    /// may go back to the pool. When it may not, it is no longer accounted for (the caller
    /// closes it).
    pub fn keep(&mut self, id: K, size: usize) -> bool {
        if size <= LARGE_MESSAGE {
            return true;
        }
        let size = kept(size);
        let had = self.by_connection.get(&id).copied().unwrap_or(0);
        if size <= had {
            return true;
        }
        let others = self.total.saturating_sub(had);
        let total = others.saturating_add(size);
        if size > RETAINED_PER_CONNECTION || total > RETAINED_BUDGET {
            self.forget(id);
            return false;
        }
        self.by_connection.insert(id, size);
        self.total = total;
        true
    }

    /// A connection closed for another reason.
    pub fn forget(&mut self, id: K) {
        if let Some(had) = self.by_connection.remove(&id) {
            self.total = self.total.saturating_sub(had);
        }
    }

    /// Connections were closed without their ids (idle or too old): their entries are dropped
    /// with everyone's. The connections still open may then hold more than the budget, never
    /// more than [`RETAINED_PER_CONNECTION`] each.
    pub fn clear(&mut self) {
        self.by_connection.clear();
        self.total = 0;
    }

    /// What is accounted now (the admin server and tests).
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn small_messages_are_not_accounted() {
        let mut r = Retained::default();
        assert!(r.keep(1, LARGE_MESSAGE));
        assert_eq!(r.total(), 0);
    }

    #[test]
    fn a_connection_counts_its_largest_message_once() {
        let mut r = Retained::default();
        assert!(r.keep(1, 2 * MIB));
        assert!(r.keep(1, 3 * MIB));
        assert!(r.keep(1, 2 * MIB));
        assert_eq!(r.total(), 6 * MIB, "twice the largest message");
    }

    #[test]
    fn a_message_over_a_connections_share_closes_it() {
        let mut r = Retained::default();
        assert!(r.keep(1, 2 * MIB));
        assert!(r.keep(1, 4 * MIB), "4 MiB is kept");
        assert!(!r.keep(1, 4 * MIB + 1));
        assert_eq!(r.total(), 0, "the closed connection is no longer accounted");
    }

    #[test]
    fn the_pool_keeps_large_buffers_within_its_budget() {
        let mut r = Retained::default();
        // 4 connections that carried 4 MiB fill the 32 MiB budget; a fifth one is closed.
        for id in 0..4 {
            assert!(r.keep(id, 4 * MIB));
        }
        assert!(!r.keep(4, LARGE_MESSAGE + 1));
        assert_eq!(r.total(), RETAINED_BUDGET);
        // One of them closed for another reason frees its share.
        r.forget(0);
        assert!(r.keep(5, 2 * MIB));
        assert_eq!(r.total(), 3 * RETAINED_PER_CONNECTION + 4 * MIB);
        r.clear();
        assert_eq!(r.total(), 0);
    }

    #[test]
    fn sizes_near_the_top_do_not_overflow() {
        let mut r = Retained::default();
        assert!(!r.keep(1, usize::MAX));
        assert_eq!(r.total(), 0);
    }
}
