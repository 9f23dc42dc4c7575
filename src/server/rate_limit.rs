//! Rate limits (`server-rate-limit`, `server-rate-limit-burst`): a token bucket per client
//! address and one per JWT role, refilled at the rate, holding at most the burst. A request that
//! finds its bucket empty is answered 429 (TUSK429) with `Retry-After`.
//!
//! The client address is the peer's, or, when the peer is one of `server-trusted-proxies` (or
//! the unix socket, which only local processes reach), the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy: the one the last trusted hop saw. An
//! IPv6 address counts by its /64, which one client usually holds whole. A JWT's key is its
//! role, and its `sub` claim when it has one (the users of one role do not share a budget).
//!
//! Bounded memory: at most [`MAX_KEYS`] buckets. When full, buckets that have refilled (idle
//! keys: a full bucket is the same as none) are dropped; when none has, new keys share one
//! overflow bucket, so spoofed or numerous addresses cannot grow the table.

use crate::config::{Cidr, Edge};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

/// The most buckets kept (about 100 bytes each).
pub const MAX_KEYS: usize = 100_000;

/// One key's bucket.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of every key.
#[derive(Default)]
pub struct Limiter {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    buckets: HashMap<String, Bucket>,
    /// When the idle keys were last dropped: at most once a second, so that a flood of new
    /// keys does not scan the whole table for each request.
    purged: Option<Instant>,
}

/// Whether a request may go on, or how many seconds until it may.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Go,
    Wait(u64),
}

/// The key every key shares when the table is full.
const OVERFLOW: &str = "overflow";

impl Limiter {
    /// Takes a token from `key`'s bucket at `rate` per second, `burst` at most.
    pub fn check(&self, key: &str, rate: u32, burst: u32, now: Instant) -> Verdict {
        let (rate, burst) = (f64::from(rate.max(1)), f64::from(burst.max(1)));
        let mut table = match self.table.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Table { buckets, purged } = &mut *table;
        let due = purged.is_none_or(|p| now.saturating_duration_since(p).as_secs() >= 1);
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS && due {
            // Drop the idle keys: those whose bucket has refilled.
            *purged = Some(now);
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let key = if buckets.contains_key(key) || buckets.len() < MAX_KEYS { key } else { OVERFLOW };
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, last: now });
        let refill = now.saturating_duration_since(bucket.last).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Go
        } else {
            // Whole seconds, rounded up: the first moment a token is there.
            Verdict::Wait(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().map(|t| t.buckets.len()).unwrap_or(0)
    }
}

/// The client's address key (see the module's doc); `None` when there is nothing to key by.
pub fn client_key(edge: &Edge, peer: Option<SocketAddr>, forwarded_for: Option<&str>) -> Option<String> {
    let trusted = |ip: IpAddr| edge.trusted_proxies.iter().any(|c: &Cidr| c.contains(ip));
    let peer_ip = peer.map(|p| p.ip());
    let believe = peer_ip.is_none_or(trusted);
    let forwarded = forwarded_for
        .filter(|_| believe)
        .and_then(|list| list.rsplit(',').filter_map(|a| parse_forwarded(a.trim())).find(|ip| !trusted(*ip)));
    forwarded.or(peer_ip).map(|ip| format!("ip:{}", prefix(ip)))
}

/// An address as `X-Forwarded-For` writes it (IPv6 possibly in brackets, maybe with a port).
fn parse_forwarded(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok())
}

/// The part of an address that names a client: IPv4 whole, IPv6 by its /64.
fn prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        v4 => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn edge(proxies: &[&str]) -> Edge {
        Edge {
            compression: true,
            static_dir: None,
            static_path: "/static".into(),
            static_cache_control: "no-cache".into(),
            rate_limit: 1,
            rate_limit_burst: 1,
            trusted_proxies: proxies.iter().filter_map(|p| Cidr::parse(p)).collect(),
        }
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let l = Limiter::default();
        let t0 = Instant::now();
        assert_eq!(l.check("a", 2, 3, t0), Verdict::Go);
        assert_eq!(l.check("a", 2, 3, t0), Verdict::Go);
        assert_eq!(l.check("a", 2, 3, t0), Verdict::Go);
        assert_eq!(l.check("a", 2, 3, t0), Verdict::Wait(1));
        assert_eq!(l.check("b", 2, 3, t0), Verdict::Go);
        assert_eq!(l.check("a", 2, 3, t0 + Duration::from_millis(500)), Verdict::Go);
    }

    #[test]
    fn the_table_is_bounded() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS + 10 {
            l.check(&format!("k{i}"), 1, 2, t0);
        }
        assert!(l.len() <= MAX_KEYS + 1);
        // Later, the idle keys make room again.
        assert_eq!(l.check("new", 1, 2, t0 + Duration::from_secs(5)), Verdict::Go);
        assert!(l.len() < 10, "{}", l.len());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().expect("addr");
        let untrusted = edge(&[]);
        assert_eq!(client_key(&untrusted, Some(peer), Some("1.2.3.4")).as_deref(), Some("ip:10.0.0.5"));
        let trusted = edge(&["10.0.0.0/8"]);
        assert_eq!(client_key(&trusted, Some(peer), Some("1.2.3.4")).as_deref(), Some("ip:1.2.3.4"));
        // The client cannot choose: only the right-most untrusted hop counts.
        assert_eq!(client_key(&trusted, Some(peer), Some("6.6.6.6, 1.2.3.4, 10.0.0.9")).as_deref(), Some("ip:1.2.3.4"));
        assert_eq!(client_key(&trusted, Some(peer), Some("garbage")).as_deref(), Some("ip:10.0.0.5"));
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:1".parse().expect("addr");
        assert_eq!(client_key(&untrusted, Some(v6), None).as_deref(), Some("ip:2001:db8:1:2::/64"));
        assert_eq!(client_key(&untrusted, None, None), None);
    }
}
