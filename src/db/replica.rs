//! Streaming replicas (`db-replica-uris`): one pool per replica, each with its own health, and
//! the choice of where a read runs. The plan decides whether a request may run on a replica
//! ([`crate::plan::Route`]); here only which one, round robin among those in rotation:
//! healthy (the last health check answered), within `db-replica-max-lag` bytes of the
//! primary, and, when the request carries the WAL position of its client's last write, past
//! it. When none is, the primary serves the read; with `db-replica-wait`, a read whose
//! client's last write no replica has replayed yet first waits up to that long for one to
//! replay it (the health check then runs every [`HURRY_EVERY`] instead of every
//! [`CHECK_EVERY`], and wakes the waiters after each round).
//!
//! The health check ([`watch_replicas`]) runs every [`CHECK_EVERY`] on connections of its own
//! (never a request's pool slot): the primary's WAL insert position, each replica's replay
//! position. A replica's position only grows, so a read never trusts a replica further than it
//! has replayed. A read whose replica connection fails is retried once, on another replica or
//! on the primary (reads are read-only: running one twice is harmless), and the replica is out
//! of rotation until the health check reaches it again.
//!
//! Rejects nothing: it has no input of its own. Without replicas, none of this runs
//! (`db::run` goes straight to the primary: no lock, no counter).

use super::{connect, run_here, Db};
use crate::error::Error;
use crate::plan::{parse_lsn, Route};
use crate::query::{DbResult, Transaction, REPLAY_POSITION, WAL_POSITION};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How often the health check asks each replica how far it has replayed.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);

/// How often the health check runs while reads wait for a replica (`db-replica-wait`).
pub const HURRY_EVERY: Duration = Duration::from_millis(10);

/// How long one check may take before the replica counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The replicas and the counters of the primary's share of the requests.
#[derive(Default)]
pub struct Replicas {
    pub members: Vec<Replica>,
    next: AtomicUsize,
    /// Requests the primary ran (counted only when there are replicas).
    pub primary_requests: AtomicU64,
    /// The primary's last known WAL insert position.
    pub primary_lsn: AtomicU64,
    /// `db-replica-max-lag`, in bytes (0: no limit).
    pub max_lag: u64,
    /// `db-replica-wait` (zero: a read the replicas are not ready for goes to the primary).
    pub wait: Duration,
    /// The primary answered the last health check.
    pub primary_healthy: AtomicBool,
    /// Woken after each round of the health check (the waiting reads look again).
    replayed: tokio::sync::Notify,
    /// Asks the health check for a round now (a read is waiting).
    hurry: tokio::sync::Notify,
    /// Rounds of the health check started, and the number of the last one finished.
    rounds_started: AtomicU64,
    rounds_done: AtomicU64,
}

/// One replica: its pool and what the health check last saw.
pub struct Replica {
    /// `replica1`, `replica2`… in the order of `db-replica-uris` (the `/metrics` label).
    pub name: String,
    pub db: Arc<Db>,
    pub conn_info: crate::config::libpq::ConnInfo,
    /// The last health check answered, and the last request found it reachable.
    pub healthy: AtomicBool,
    /// How far it has replayed the primary's WAL (0 until known).
    pub replay_lsn: AtomicU64,
    /// Bytes of WAL it is behind the primary, as last measured.
    pub lag: AtomicU64,
    /// Requests it ran.
    pub requests: AtomicU64,
}

impl Replicas {
    /// One pool per connection string, `size` connections each.
    pub fn new(
        uris: &[String],
        size: usize,
        acquisition_timeout: u64,
        max_lag: u64,
        wait: Duration,
    ) -> Result<Replicas, String> {
        let mut members = Vec::new();
        for (i, uri) in uris.iter().enumerate() {
            let name = format!("replica{}", i + 1);
            let conn_info = connect::conn_info(uri).map_err(|e| format!("db-replica-uris ({name}): {e}"))?;
            let pool =
                super::pool(uri, size, acquisition_timeout).map_err(|e| format!("db-replica-uris ({name}): {e}"))?;
            members.push(Replica {
                name,
                db: Arc::new(Db::new(pool)),
                conn_info,
                healthy: AtomicBool::new(false),
                replay_lsn: AtomicU64::new(0),
                lag: AtomicU64::new(0),
                requests: AtomicU64::new(0),
            });
        }
        Ok(Replicas { members, max_lag, wait, ..Default::default() })
    }

    /// Whether `replica` may serve a read now.
    pub fn in_rotation(&self, replica: &Replica) -> bool {
        replica.healthy.load(Relaxed) && (self.max_lag == 0 || replica.lag.load(Relaxed) <= self.max_lag)
    }

    /// The next replica in rotation that has replayed `min_lsn`, other than `skip`.
    fn pick(&self, min_lsn: Option<u64>, skip: Option<usize>) -> Option<usize> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Relaxed);
        (0..n).map(|k| start.wrapping_add(k) % n).find(|&i| {
            let r = &self.members[i];
            Some(i) != skip && self.in_rotation(r) && min_lsn.is_none_or(|m| r.replay_lsn.load(Relaxed) >= m)
        })
    }

    /// [`Replicas::pick`], or, when no replica has replayed `min_lsn` yet but one is in
    /// rotation, the first to replay it within `db-replica-wait` (`None`: the primary).
    async fn pick_or_wait(&self, min_lsn: Option<u64>) -> Option<usize> {
        let picked = self.pick(min_lsn, None);
        if picked.is_some() || min_lsn.is_none() || self.wait.is_zero() {
            return picked;
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        let arrived = self.rounds_started.load(Relaxed);
        loop {
            if !self.members.iter().any(|r| self.in_rotation(r)) {
                return None;
            }
            // A round that started after this read arrived saw the primary past any write
            // its client made: a position beyond that is no write's, and waiting is pointless.
            let fresh = self.rounds_done.load(Relaxed) > arrived && self.primary_healthy.load(Relaxed);
            if fresh && min_lsn.is_some_and(|m| m > self.primary_lsn.load(Relaxed)) {
                return None;
            }
            let replayed = self.replayed.notified();
            tokio::pin!(replayed);
            // Registered before looking, so a round finishing in between is not missed.
            replayed.as_mut().enable();
            self.hurry.notify_one();
            if let Some(i) = self.pick(min_lsn, None) {
                return Some(i);
            }
            tokio::time::timeout_at(deadline, replayed).await.ok()?;
        }
    }
}

/// Runs `tx` where its route says: a replica in rotation (one retry elsewhere when its
/// connection fails), else the primary.
pub(super) async fn run(db: &Arc<Db>, tx: Transaction) -> Result<DbResult, Error> {
    let replicas = &db.replicas;
    let Route::Replica { min_lsn } = tx.policy.route else {
        replicas.primary_requests.fetch_add(1, Relaxed);
        return run_here(db, tx).await;
    };
    let Some(first) = replicas.pick_or_wait(min_lsn).await else {
        replicas.primary_requests.fetch_add(1, Relaxed);
        return run_here(db, tx).await;
    };
    let replica = &replicas.members[first];
    replica.requests.fetch_add(1, Relaxed);
    match run_here(&replica.db, tx.clone()).await {
        Err(e) if unreachable(&e) => {
            tracing::warn!("{} failed, the read is retried elsewhere: {e:?}", replica.name);
            replica.healthy.store(false, Relaxed);
            match replicas.pick(min_lsn, Some(first)) {
                Some(other) => {
                    let other = &replicas.members[other];
                    other.requests.fetch_add(1, Relaxed);
                    run_here(&other.db, tx).await
                }
                None => {
                    replicas.primary_requests.fetch_add(1, Relaxed);
                    run_here(db, tx).await
                }
            }
        }
        r => r,
    }
}

/// Whether a read failed because its replica is out of reach (not because of the request):
/// a lost connection, or PostgreSQL's connection exceptions (08) and operator interventions
/// (57P: shutting down, starting up, terminated).
fn unreachable(e: &Error) -> bool {
    match e {
        Error::DbConnection(_) => true,
        Error::Pg(pg) => pg.code.starts_with("08") || pg.code.starts_with("57P"),
        _ => false,
    }
}

/// A connection of the health check's own, reopened when it breaks.
struct Probe {
    info: crate::config::libpq::ConnInfo,
    client: Option<tokio_postgres::Client>,
}

impl Probe {
    /// The one text value `sql` returns; `Ok(None)` for NULL; `Err` when the server is out of
    /// reach (the connection is then dropped and reopened next time).
    async fn value(&mut self, sql: &str) -> Result<Option<String>, ()> {
        let r = tokio::time::timeout(CHECK_TIMEOUT, self.ask(sql)).await;
        match r {
            Ok(Ok(v)) => Ok(v),
            _ => {
                self.client = None;
                Err(())
            }
        }
    }

    async fn ask(&mut self, sql: &str) -> Result<Option<String>, ()> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, connection) = connect::connect(&self.info, "tusk health check").await.map_err(|_| ())?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.client = Some(client);
        }
        let client = self.client.as_ref().ok_or(())?;
        let messages = client.simple_query(sql).await.map_err(|_| ())?;
        Ok(messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        }))
    }
}

/// The health check: every [`CHECK_EVERY`] (every [`HURRY_EVERY`] while reads wait), the
/// primary's WAL position, then each replica's replay position, its lag and whether it
/// answered; then it wakes the waiting reads. Runs for the life of the process.
pub async fn watch_replicas(db: Arc<Db>, primary: crate::config::libpq::ConnInfo) {
    let replicas = &db.replicas;
    let mut primary = Probe { info: primary, client: None };
    let mut probes: Vec<Probe> =
        replicas.members.iter().map(|r| Probe { info: r.conn_info.clone(), client: None }).collect();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = replicas.hurry.notified() => {}
        }
        let round = tokio::time::Instant::now();
        let number = replicas.rounds_started.fetch_add(1, Relaxed).wrapping_add(1);
        let lsn = primary.value(WAL_POSITION).await.ok().flatten().and_then(|lsn| parse_lsn(&lsn));
        if let Some(lsn) = lsn {
            replicas.primary_lsn.store(lsn, Relaxed);
        }
        replicas.primary_healthy.store(lsn.is_some(), Relaxed);
        let primary_lsn = replicas.primary_lsn.load(Relaxed);
        for (replica, probe) in replicas.members.iter().zip(probes.iter_mut()) {
            let was = replica.healthy.load(Relaxed);
            let replay = match probe.value(REPLAY_POSITION).await {
                Ok(Some(text)) => parse_lsn(&text),
                // NULL: the server is not in recovery (not a standby, or promoted): its data
                // may have parted from the primary's, so it serves nothing.
                Ok(None) => None,
                Err(()) => None,
            };
            match replay {
                Some(lsn) => {
                    replica.replay_lsn.fetch_max(lsn, Relaxed);
                    replica.lag.store(primary_lsn.saturating_sub(lsn), Relaxed);
                    replica.healthy.store(true, Relaxed);
                }
                None => replica.healthy.store(false, Relaxed),
            }
            let now = replica.healthy.load(Relaxed);
            if was != now {
                if now {
                    tracing::info!("{} is healthy: it serves reads", replica.name);
                } else {
                    tracing::warn!("{} is down or not a standby: reads go elsewhere", replica.name);
                }
            }
        }
        replicas.rounds_done.store(number, Relaxed);
        replicas.replayed.notify_waiters();
        tokio::time::sleep_until(round + HURRY_EVERY).await;
    }
}
