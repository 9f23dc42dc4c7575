//! Live subscriptions: the registry of event streams (`Accept: text/event-stream`), their
//! groups, and what a change notification does to them.
//!
//! An event is a re-run of the subscriber's own read as its own role: on subscribing, and after
//! each change notification (`NOTIFY <db-changes-channel>, 'schema.table'`, sent at commit by
//! the app's statement-level triggers) naming a relation the read uses, the group's `refresh`
//! (the whole pipeline, as for a `GET`) runs again and its result is sent only when its bytes
//! differ from the last one sent. So row-level security holds for every event by construction:
//! a subscriber learns nothing it could not read, not even that a hidden row changed.
//!
//! Bounded cost: subscribers with the same key (role, claims, request) share one group, so one
//! change costs one re-run per group, however many subscribers; a group re-runs at most once per
//! `server-subscription-interval` (notifications meanwhile are coalesced), and at most half the
//! pool's connections re-run at once. Each group holds one event (a `watch` slot): a reader that
//! is slow only ever gets the latest snapshot, nothing queues up for it (and a reader that
//! stops reading is closed by the connection's idle timeout). The number of subscribers is
//! capped (`server-max-subscriptions`). A subscriber that goes away leaves at once (its stream
//! is dropped), and a group without subscribers stops.
//!
//! Rejects: a subscriber past the cap ([`Full`]).

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};

/// What one re-run of a subscription's read gave.
pub enum Refreshed {
    /// The body a `GET` would have answered (2xx).
    Snapshot(Bytes),
    /// The error body a `GET` would have answered (4xx/5xx other than an outage).
    Error(Bytes),
    /// The database is away: nothing is sent; every group re-runs once it is back.
    Unavailable,
}

/// Re-runs a subscription's read (the pipeline as for a `GET`, as the subscriber's role).
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, Refreshed> + Send + Sync>;

/// A new subscription.
pub struct Subscribe {
    /// Subscribers with equal keys share one group (one re-run per change).
    pub key: String,
    /// The relations whose changes concern it (`schema.name`); `None`: any change.
    pub relations: Option<BTreeSet<String>>,
    pub refresh: Refresh,
    /// The subscriber's first read (done by the caller, so that a read that fails is an HTTP
    /// error, not a stream): a new group starts with it.
    pub first: Bytes,
    /// The stream ends when this much time has passed (the JWT's `exp`), with `event: expired`.
    pub expires_in: Option<Duration>,
    /// A `: ping` comment after this long without an event.
    pub heartbeat: Duration,
    /// `server-subscription-interval`.
    pub interval: Duration,
    /// `server-max-subscriptions`.
    pub max: usize,
}

/// `server-max-subscriptions` subscribers are open already.
#[derive(Debug)]
pub struct Full(pub usize);

/// One event as sent (`id:`, `event:`, `data:` lines and the blank line).
type Event = Option<Arc<Bytes>>;

struct Group {
    relations: Option<BTreeSet<String>>,
    /// Set by a change (a permit is kept while the group is busy: changes coalesce).
    dirty: Notify,
    /// The latest event; each subscriber has a receiver.
    latest: watch::Sender<Event>,
}

/// The registry: one per server.
pub struct Live {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    subscribers: AtomicUsize,
    next_id: AtomicU64,
    /// Re-runs so far (the admin server's `/metrics`, `scripts/perf-live`).
    pub refreshes: AtomicU64,
    /// Re-runs at once, at most.
    running: Semaphore,
    /// Set when the server shuts down: every stream ends (so the graceful shutdown, which
    /// waits for responses to finish, does not wait for ever).
    closing: watch::Sender<bool>,
}

impl Live {
    /// `pool_size`: at most half of it (at least one) re-runs at once.
    pub fn new(pool_size: usize) -> Live {
        Live {
            groups: Mutex::new(HashMap::new()),
            subscribers: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            refreshes: AtomicU64::new(0),
            running: Semaphore::new((pool_size / 2).max(1)),
            closing: watch::channel(false).0,
        }
    }

    /// Ends every stream (the server is shutting down).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Subscribers open now.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Groups open now.
    pub fn groups(&self) -> usize {
        self.groups.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// A change notification's payload (`schema.table`; `*` for any): every group reading it
    /// re-runs (coalesced).
    pub fn changed(&self, relation: &str) {
        let relation = relation.trim();
        let Ok(groups) = self.groups.lock() else { return };
        for g in groups.values() {
            let concerned = relation == "*" || g.relations.as_ref().is_none_or(|r| r.contains(relation));
            if concerned {
                g.dirty.notify_one();
            }
        }
    }

    /// Every group re-runs (after the LISTEN connection came back, or a schema reload): a
    /// change meanwhile is not lost, an unchanged result sends nothing.
    pub fn refresh_all(&self) {
        self.changed("*");
    }

    /// Opens a subscription: the stream of its events (SSE text), starting with the current
    /// snapshot. Dropping the stream leaves.
    pub fn subscribe(self: &Arc<Self>, s: Subscribe) -> Result<BoxStream<'static, Bytes>, Full> {
        let (group, rx) = {
            let Ok(mut groups) = self.groups.lock() else { return Err(Full(s.max)) };
            if self.subscribers.load(Ordering::Relaxed) >= s.max {
                return Err(Full(s.max));
            }
            self.subscribers.fetch_add(1, Ordering::Relaxed);
            match groups.get(&s.key) {
                Some(g) => (g.clone(), g.latest.subscribe()),
                None => {
                    let first = Arc::new(self.frame("snapshot", &s.first));
                    let (latest, rx) = watch::channel(Some(first));
                    let g = Arc::new(Group { relations: s.relations, dirty: Notify::new(), latest });
                    // One re-run at once: a change between the first read and now is not lost
                    // (an unchanged result sends nothing).
                    g.dirty.notify_one();
                    groups.insert(s.key.clone(), g.clone());
                    let last = hash("snapshot", &s.first);
                    tokio::spawn(run_group(self.clone(), g.clone(), s.refresh, s.interval, last));
                    (g, rx)
                }
            }
        };
        let closing = self.closing.subscribe();
        let member = Member { live: self.clone(), key: s.key, group, rx: Some(rx) };
        Ok(stream(member, closing, s.heartbeat, s.expires_in))
    }

    fn frame(&self, kind: &str, data: &[u8]) -> Bytes {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(data.len().saturating_add(48));
        out.extend_from_slice(format!("id: {id}\nevent: {kind}\n").as_bytes());
        // One `data:` line per line of the body (JSON from PostgreSQL may hold newlines).
        for line in data.split(|b| *b == b'\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            out.push(b'\n');
        }
        out.push(b'\n');
        Bytes::from(out)
    }
}

/// A group's loop: re-run when dirty, send when the result changed, rest `interval`; ends when
/// its last subscriber left.
async fn run_group(live: Arc<Live>, group: Arc<Group>, refresh: Refresh, interval: Duration, mut last: u64) {
    loop {
        tokio::select! {
            _ = group.dirty.notified() => {}
            _ = group.latest.closed() => return,
        }
        let outcome = {
            let Ok(_permit) = live.running.acquire().await else { return };
            if group.latest.is_closed() {
                return;
            }
            live.refreshes.fetch_add(1, Ordering::Relaxed);
            refresh().await
        };
        let (kind, data) = match outcome {
            Refreshed::Snapshot(b) => ("snapshot", b),
            Refreshed::Error(b) => ("error", b),
            Refreshed::Unavailable => continue,
        };
        let hash = hash(kind, &data);
        if last != hash {
            last = hash;
            group.latest.send_replace(Some(Arc::new(live.frame(kind, &data))));
        }
        tokio::time::sleep(interval).await;
    }
}

/// What tells two events apart.
fn hash(kind: &str, data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (kind, data).hash(&mut h);
    h.finish()
}

/// A subscriber's place in its group; leaving (drop) removes a group left empty.
struct Member {
    live: Arc<Live>,
    key: String,
    group: Arc<Group>,
    rx: Option<watch::Receiver<Event>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Ok(mut groups) = self.live.groups.lock() {
            drop(self.rx.take());
            if self.group.latest.receiver_count() == 0
                && groups.get(&self.key).is_some_and(|g| Arc::ptr_eq(g, &self.group))
            {
                groups.remove(&self.key);
            }
        }
        self.live.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a subscriber's stream waits on.
struct State {
    member: Member,
    closing: watch::Receiver<bool>,
    heartbeat: tokio::time::Interval,
    expires: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    started: bool,
    done: bool,
}

/// The SSE text of one subscriber: `retry:`, the current snapshot if there is one, then each new
/// one, `: ping` when quiet, `event: expired` at the token's expiry (then the end).
fn stream(
    member: Member,
    closing: watch::Receiver<bool>,
    heartbeat: Duration,
    expires_in: Option<Duration>,
) -> BoxStream<'static, Bytes> {
    let start = tokio::time::Instant::now() + heartbeat;
    let state = State {
        member,
        closing,
        heartbeat: tokio::time::interval_at(start, heartbeat),
        expires: expires_in.map(|d| Box::pin(tokio::time::sleep(d))),
        started: false,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let rx = st.member.rx.as_mut()?;
        if !st.started {
            st.started = true;
            let mut first = b"retry: 1000\n\n".to_vec();
            if let Some(ev) = rx.borrow_and_update().clone() {
                first.extend_from_slice(&ev);
            }
            return Some((Bytes::from(first), st));
        }
        let expired = async {
            match st.expires.as_mut() {
                Some(s) => s.as_mut().await,
                None => std::future::pending().await,
            }
        };
        let closing = async {
            let _ = st.closing.wait_for(|c| *c).await;
        };
        tokio::select! {
            changed = rx.changed() => {
                changed.ok()?;
                let ev = rx.borrow_and_update().clone();
                st.heartbeat.reset();
                Some((ev.map(|e| (*e).clone()).unwrap_or_else(|| Bytes::from_static(b": ping\n\n")), st))
            }
            _ = st.heartbeat.tick() => Some((Bytes::from_static(b": ping\n\n"), st)),
            () = closing => None,
            _ = expired => {
                st.done = true;
                Some((Bytes::from_static(b"event: expired\ndata: {}\n\n"), st))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_body_is_one_data_line_each() {
        let live = Live::new(10);
        let f = live.frame("snapshot", b"[{\"a\":1},\n {\"a\":2}]");
        assert_eq!(&f[..], b"id: 1\nevent: snapshot\ndata: [{\"a\":1},\ndata:  {\"a\":2}]\n\n");
    }

    #[tokio::test]
    async fn groups_share_one_rerun_and_empty_groups_go() {
        use futures_util::StreamExt;
        let live = Arc::new(Live::new(4));
        let runs = Arc::new(AtomicU64::new(0));
        let sub = |key: &str| {
            let runs = runs.clone();
            let refresh: Refresh = Arc::new(move || {
                let n = runs.fetch_add(1, Ordering::Relaxed);
                Box::pin(async move { Refreshed::Snapshot(Bytes::from(format!("[{}]", n.min(1)))) })
            });
            Subscribe {
                key: key.into(),
                relations: Some(["a.t".to_string()].into()),
                refresh,
                first: Bytes::from_static(b"[0]"),
                expires_in: None,
                heartbeat: Duration::from_secs(30),
                interval: Duration::from_millis(1),
                max: 2,
            }
        };
        let mut one = live.subscribe(sub("k")).expect("first");
        let mut two = live.subscribe(sub("k")).expect("second");
        assert!(live.subscribe(sub("other")).is_err(), "past the cap");
        assert_eq!(live.groups(), 1);
        let first = one.next().await.expect("retry and the first snapshot");
        assert!(first.starts_with(b"retry: 1000\n\nid: 1\nevent: snapshot\n"), "{first:?}");
        assert!(first.ends_with(b"data: [0]\n\n"), "{first:?}");
        let _ = two.next().await;
        // The re-run at creation found the same result: nothing sent.
        tokio::time::sleep(Duration::from_millis(50)).await;
        live.changed("b.other");
        live.changed("a.t");
        let next = one.next().await.expect("snapshot");
        assert!(next.ends_with(b"data: [1]\n\n"), "{next:?}");
        // Unchanged results send nothing: the next item is the heartbeat, not a snapshot.
        live.changed("a.t");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::Relaxed), 3);
        drop(one);
        drop(two);
        assert_eq!((live.groups(), live.subscribers()), (0, 0));
    }
}
