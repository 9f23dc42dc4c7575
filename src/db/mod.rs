//! The database: the connection pool, running one request's [`Transaction`], loading the
//! schema cache and listening for reload notifications. The only pipeline stage that does I/O.
//!
//! A request's statements travel pipelined on one pooled connection: `BEGIN`, the settings
//! (`role`, `request.jwt.claims`…), the optional pre-request call and the main statement are
//! sent together, and when nothing has to be checked before the end, `COMMIT` too. The main
//! statement is prepared inside the transaction (after the role switch, so it resolves names
//! with the request role's privileges) and cached per connection (or, with
//! `db-prepared-statements = false`, sent unnamed so nothing stays prepared). The work runs
//! in its own task, so a client that disconnects mid-request cannot leave a transaction open,
//! and its running statement is cancelled ([`run`]).
//!
//! Errors: "the database is not available" (refused, reset, closed, shutting down, starting up,
//! too many connections) is a 503 with `Retry-After`; a message the driver cannot encode (a NUL
//! byte) is the request's fault (400), never an outage.

mod catalog;
mod connect;
mod driver_error;
mod listen;
pub mod live;
mod replica;
mod retained;
mod stage;

use crate::error::Error;
pub use crate::query::DbResult;
use crate::query::{column, Param, Statement, Transaction};
use bytes::{Bytes, BytesMut};
pub use catalog::{load_schema_cache, CatalogJson, Packer};
pub use connect::{conn_info, connect, last_failure};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
pub use driver_error::map_error;
use driver_error::pool_error;
pub use listen::{listen, Heard};
pub use replica::{watch_replicas, Replica, Replicas};
pub use retained::{LARGE_MESSAGE, RETAINED_BUDGET, RETAINED_PER_CONNECTION};
use std::time::Duration;
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

/// A parameter sent as text with the type PostgreSQL inferred: it parses the value itself.
/// The request body is written from its own bytes, without a copy, and let go of as soon as it
/// is in the protocol message (see [`take_body`]).
#[derive(Debug)]
enum Text<'a> {
    Param(&'a Param),
    /// The body, taken out of its statement: the `Bind` message is its only other copy, and
    /// the driver copies that message once more into the connection's write buffer, so the
    /// body itself is dropped the moment it is written (it is bound once).
    Body(std::sync::Mutex<Option<(Bytes, bool)>>),
}

impl ToSql for Text<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let (bytes, in_array) = match self {
            Text::Param(Param::Null) => return Ok(IsNull::Yes),
            Text::Param(Param::Text(s)) => {
                out.extend_from_slice(s.as_bytes());
                return Ok(IsNull::No);
            }
            Text::Param(Param::Static(s)) => {
                out.extend_from_slice(s.as_bytes());
                return Ok(IsNull::No);
            }
            Text::Param(Param::Body { bytes, in_array }) => (bytes.clone(), *in_array),
            Text::Body(body) => match body.lock().ok().and_then(|mut b| b.take()) {
                Some(b) => b,
                None => return Err("the request body was already sent".into()),
            },
        };
        out.reserve(bytes.len().saturating_add(2));
        if in_array {
            out.extend_from_slice(b"[");
        }
        out.extend_from_slice(&bytes);
        if in_array {
            out.extend_from_slice(b"]");
        }
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }
    tokio_postgres::types::to_sql_checked!();
}

/// The request body, taken out of the main statement (an empty body stays behind), so that
/// its bytes are freed as soon as they are written into the `Bind` message ([`with_body`]).
type TakenBody = Vec<Option<(Bytes, bool)>>;

fn take_body(s: &mut Statement) -> TakenBody {
    s.params
        .iter_mut()
        .map(|p| match p {
            Param::Body { bytes, in_array } => Some((std::mem::take(bytes), *in_array)),
            _ => None,
        })
        .collect()
}

/// The statement's parameters, with the body [`take_body`] took out of it.
fn with_body(s: &Statement, mut taken: TakenBody) -> Vec<Text<'_>> {
    s.params
        .iter()
        .zip(taken.iter_mut())
        .map(|(p, t)| match t.take() {
            Some(body) => Text::Body(std::sync::Mutex::new(Some(body))),
            None => Text::Param(p),
        })
        .collect()
}

/// The `body` column, whatever its type (json, jsonb, text, xml, bytea or a domain over one):
/// its bytes as PostgreSQL sends them in binary format, which for these types is the text
/// itself (or the bytes of a bytea). jsonb's binary format adds a version byte in front,
/// which is not part of the document.
struct RawBody(Option<Bytes>);

impl<'a> FromSql<'a> for RawBody {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw = match raw.split_first() {
            Some((1, rest)) if *ty == Type::JSONB => rest,
            _ => raw,
        };
        Ok(RawBody(Some(Bytes::copy_from_slice(raw))))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBody(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn params(s: &Statement) -> Vec<Text<'_>> {
    s.params.iter().map(Text::Param).collect()
}

fn refs<'a>(p: &'a [Text<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    p.iter().map(|t| t as &(dyn ToSql + Sync)).collect()
}

/// Builds the pool from the configuration (connections are opened lazily, as libpq would:
/// [`connect`]).
pub fn pool(uri: &str, size: usize, acquisition_timeout: u64) -> Result<Pool, String> {
    let info = conn_info(uri)?;
    // Unused: [`connect::LibpqConnect`] builds each host's own configuration.
    let pg = tokio_postgres::Config::new();
    // Each host may take its connect timeout, twice with prefer-standby, plus the start-up.
    let per_host = info.connect_timeout.unwrap_or(5).saturating_mul(2);
    let create_timeout = per_host.saturating_mul(info.hosts.len() as u64).saturating_add(5);
    let connect = connect::LibpqConnect { info };
    let manager = Manager::from_connect(pg, connect, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(acquisition_timeout)))
        .create_timeout(Some(Duration::from_secs(create_timeout)))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

/// At most this many statements stay prepared on one connection: past it, the connection's
/// statements are all deallocated and prepared again as requests need them. Distinct SQL
/// texts are few for a given API, but not bounded (LIMIT is written inline, select lists
/// vary), and each prepared statement holds memory in both tusk and the backend.
pub const MAX_PREPARED_PER_CONNECTION: usize = 1000;

/// The pool, plus which main statements each connection has prepared: a statement known to
/// be prepared is sent in the same round trip as `BEGIN` and the settings; a new one must be
/// prepared inside the transaction first (as the request's role).
///
/// That bookkeeping is looked up by every request: it is split into [`PREPARED_SHARDS`] locks
/// by connection, so that requests on different connections (on different cores) do not wait
/// for one lock. A connection serves one request at a time, so its own shard is hardly ever
/// contended.
pub struct Db {
    pub pool: Pool,
    prepared: [std::sync::Mutex<PreparedSets>; PREPARED_SHARDS],
    /// Requests that found no free connection in time (the admin server's `/metrics`).
    pub pool_timeouts: std::sync::atomic::AtomicU64,
    /// `db-replica-uris`: the replicas' pools and health (none by default).
    pub replicas: Replicas,
    /// The buffers connections kept after large messages (see [`retained`]).
    retained: std::sync::Mutex<retained::Retained>,
}

/// How many locks the prepared-statement bookkeeping is split into (see [`Db`]).
const PREPARED_SHARDS: usize = 16;

/// Each connection's prepared main statements, by the hash of their SQL.
type PreparedSets = std::collections::HashMap<deadpool_postgres::ObjectId, std::collections::HashSet<u64>>;

/// The shard of a connection: its id (opaque, but hashable) folded to a number.
fn shard_of(id: deadpool_postgres::ObjectId) -> usize {
    use std::hash::{Hash, Hasher};
    struct Fold(u64);
    impl Hasher for Fold {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(*b);
            }
        }
        fn write_usize(&mut self, n: usize) {
            self.0 ^= n as u64;
        }
    }
    let mut h = Fold(0);
    id.hash(&mut h);
    (h.finish() % PREPARED_SHARDS as u64) as usize
}

fn sql_hash(sql: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut h);
    h.finish()
}

impl Db {
    pub fn new(pool: Pool) -> Db {
        Db::with_replicas(pool, Replicas::default())
    }

    pub fn with_replicas(pool: Pool, replicas: Replicas) -> Db {
        let prepared = std::array::from_fn(|_| std::sync::Mutex::default());
        Db { pool, prepared, pool_timeouts: Default::default(), replicas, retained: Default::default() }
    }

    /// Opens `n` of the pool's connections at once and leaves them idle in the pool. At start-up
    /// the configuration is read on a connection of its own while this runs, so that the request
    /// roles' settings and the schema cache (two connections) find theirs open: otherwise each
    /// was opened on the way, a backend fork and a SCRAM exchange at a time, ~30 ms of a cold
    /// start. A database that is away is not waited for here (the reloader retries).
    pub async fn warm_up(&self, n: usize) {
        let opened = futures_util::future::join_all((0..n).map(|_| self.pool.get())).await;
        let open = opened.iter().filter(|c| c.is_ok()).count();
        tracing::debug!("{open} of {n} pool connection(s) opened ahead of the first load");
    }

    /// Forgets every connection's prepared statements (after a schema reload).
    pub fn clear_statement_caches(&self) {
        self.pool.manager().statement_caches.clear();
        self.forget_all();
        for r in &self.replicas.members {
            r.db.clear_statement_caches();
        }
    }

    /// Forgets every connection's prepared statements (not the statements themselves).
    fn forget_all(&self) {
        for shard in &self.prepared {
            if let Ok(mut p) = shard.lock() {
                p.clear();
            }
        }
    }

    /// Forgets a connection that is being closed.
    fn forget(&self, id: deadpool_postgres::ObjectId) {
        if let Ok(mut p) = self.prepared[shard_of(id)].lock() {
            p.remove(&id);
        }
        if let Ok(mut r) = self.retained.lock() {
            r.forget(id);
        }
    }

    /// After a request that carried `size` bytes either way on connection `id`: whether the
    /// connection may go back to the pool, within [`retained`]'s budget.
    fn keep_after(&self, id: deadpool_postgres::ObjectId, size: usize) -> bool {
        size <= LARGE_MESSAGE || self.retained.lock().map(|mut r| r.keep(id, size)).unwrap_or(false)
    }

    /// What the pooled connections keep after large messages, at most (see [`retained`]).
    pub fn retained(&self) -> usize {
        self.retained.lock().map(|r| r.total()).unwrap_or(0)
    }

    fn is_prepared(&self, (id, hash): (deadpool_postgres::ObjectId, u64)) -> bool {
        self.prepared[shard_of(id)].lock().map(|p| p.get(&id).is_some_and(|s| s.contains(&hash))).unwrap_or(false)
    }

    fn mark_prepared(&self, (id, hash): (deadpool_postgres::ObjectId, u64)) {
        if let Ok(mut p) = self.prepared[shard_of(id)].lock() {
            p.entry(id).or_default().insert(hash);
        }
    }

    /// Closes the idle connections that were idle longer than `max_idle` or opened longer
    /// than `max_age` ago (`db-pool-max-idletime`, `db-pool-max-lifetime`); a busy one is
    /// checked when it is idle again. Returns how many were closed.
    pub fn close_old_connections(&self, max_idle: Duration, max_age: Duration) -> usize {
        let closed = self.pool.retain(|_, m| m.last_used() < max_idle && m.age() < max_age).removed.len();
        if closed > 0 {
            // Their entries are of no use any more: start afresh (a connection that still has
            // a statement prepared finds it again in its own cache).
            self.forget_all();
            if let Ok(mut r) = self.retained.lock() {
                r.clear();
            }
        }
        let replicas: usize = self.replicas.members.iter().map(|r| r.db.close_old_connections(max_idle, max_age)).sum();
        closed + replicas
    }

    /// Before preparing a new statement on `client`: if it holds the most it may, drops all
    /// of them (tokio-postgres closes a statement on the server when its last handle goes).
    fn make_room(&self, client: &deadpool_postgres::Client) {
        let id = deadpool_postgres::Object::id(client);
        let full = self.prepared[shard_of(id)]
            .lock()
            .map(|mut p| {
                let full = p.get(&id).is_some_and(|s| s.len() >= MAX_PREPARED_PER_CONNECTION);
                if full {
                    p.remove(&id);
                }
                full
            })
            .unwrap_or(false);
        if full || client.statement_cache.size() >= MAX_PREPARED_PER_CONNECTION {
            client.statement_cache.clear();
        }
    }
}

/// Runs one request's transaction and returns the main statement's row.
///
/// The work runs in a task of its own, so the transaction always ends. When this future is
/// dropped before the task finished (the HTTP client went away), the task is told so: it sends
/// PostgreSQL a cancel request for the running statement, lets the transaction fail (57014)
/// and roll back, and only then gives the connection back to the pool, so the cancel cannot
/// hit another request's statement.
///
/// A connection that carried a large request or response (over [`LARGE_MESSAGE`]) goes back
/// to the pool only within [`retained`]'s budget, and is closed otherwise: the driver keeps the
/// buffers a connection's messages grew to for as long as the connection lives.
pub async fn run(db: &std::sync::Arc<Db>, tx: Transaction) -> Result<DbResult, Error> {
    if db.replicas.members.is_empty() {
        run_here(db, tx).await
    } else {
        replica::run(db, tx).await
    }
}

/// [`run`] on this pool.
async fn run_here(db: &std::sync::Arc<Db>, mut tx: Transaction) -> Result<DbResult, Error> {
    let client = db.pool.get().await.map_err(pool_error).inspect_err(|e| {
        if matches!(e, Error::PoolTimeout) {
            db.pool_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })?;
    let db = db.clone();
    let (abandoned, mut abandoned_rx) = tokio::sync::oneshot::channel::<()>();
    let guard = CancelOnDrop(Some(abandoned));
    let task = tokio::spawn(async move {
        let sent = tx.main.params.iter().map(Param::len).fold(0usize, usize::saturating_add);
        let mut work = Box::pin(run_on(&db, &client, &mut tx));
        tokio::select! {
            r = &mut work => {
                drop(work);
                let received = r.as_ref().map(|r| r.body.len()).unwrap_or(0);
                let id = deadpool_postgres::Object::id(&client);
                if !db.keep_after(id, sent.max(received)) {
                    db.forget(id);
                    drop(deadpool_postgres::Object::take(client));
                }
                return r;
            }
            // Err: the guard was disarmed, which happens only once the task is done.
            Ok(()) = &mut abandoned_rx => {}
        }
        let token = client.cancel_token();
        let (_, r) = tokio::join!(token.cancel_query(NoTls), &mut work);
        drop(work);
        // Make sure the connection goes back outside any transaction, whatever the cancel hit;
        // if even that fails, the connection is closed instead of pooled.
        if client.batch_execute("ROLLBACK").await.is_err() {
            drop(deadpool_postgres::Object::take(client));
        }
        tracing::debug!("cancelled the statement of a request whose client went away");
        r
    });
    let result = task.await.map_err(|e| Error::Internal(e.to_string()));
    guard.disarm();
    result?
}

/// Tells the request's task, when dropped armed, that nobody waits for its answer any more.
struct CancelOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

async fn run_on(db: &Db, client: &deadpool_postgres::Client, tx: &mut Transaction) -> Result<DbResult, Error> {
    let policy = tx.policy;
    if let Some(staged) = tx.staged.take() {
        match stage::stage(client, tx.begin, &staged).await {
            Ok(()) => return run_unprepared(client, tx, &staged.main, params(&staged.main), true).await,
            // No table (no TEMP privilege, a read-only session): bound as any body, below.
            Err(stage::Staging::Refused(e)) => {
                tracing::debug!("a large body is bound: it could not be staged ({e})");
                client.batch_execute("ROLLBACK").await.map_err(|e| map_error(&e))?;
            }
            Err(stage::Staging::Failed(e)) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(map_error(&e));
            }
        }
    }
    let body = take_body(&mut tx.main);
    let tx = &*tx;
    if !tx.prepared {
        return run_unprepared(client, tx, &tx.main, with_body(&tx.main, body), false).await;
    }
    let id = deadpool_postgres::Object::id(client);
    let known = |s: &Statement| db.is_prepared((id, sql_hash(&s.sql)));
    // The settings only call pg_catalog.set_config: safe to prepare outside the transaction.
    let settings = client.prepare_cached(&tx.settings.sql).await.map_err(|e| map_error(&e))?;
    let settings_params = params(&tx.settings);
    let settings_refs = refs(&settings_params);
    let pre_params = tx.pre_request.as_ref().map(params).unwrap_or_default();
    let pre_refs = refs(&pre_params);
    let main_params = with_body(&tx.main, body);
    let main_refs = refs(&main_params);
    // Needs a look at the result before deciding how the transaction ends?
    let check_first = policy.require_single || policy.max_affected.is_some() || tx.estimate.is_some();

    let all_known = known(&tx.main) && tx.pre_request.as_ref().is_none_or(known);
    let row: Result<Vec<tokio_postgres::Row>, Error> = if all_known {
        // Everything is prepared on this connection: one pipelined round trip (two with a
        // post-check). prepare_cached answers from the cache without sending anything.
        let main = client.prepare_cached(&tx.main.sql).await.map_err(|e| map_error(&e))?;
        let pre = match &tx.pre_request {
            Some(p) => Some(client.prepare_cached(&p.sql).await.map_err(|e| map_error(&e))?),
            None => None,
        };
        let begin = client.batch_execute(tx.begin);
        let set = client.query(&settings, &settings_refs);
        let pre = async {
            match &pre {
                Some(p) => client.query(p, &pre_refs).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let q = client.query(&main, &main_refs);
        if check_first {
            let (b, s, p, q) = tokio::join!(begin, set, pre, q);
            first_error(b, s, p).and(q.map_err(|e| map_error(&e)))
        } else {
            let end = end_transaction(client, policy.rollback);
            let lsn = wal_position(client, policy.report_lsn);
            let (b, s, p, q, c, lsn) = tokio::join!(begin, set, pre, q, end, lsn);
            let r = first_error(b, s, p).and(q.map_err(|e| map_error(&e)));
            return match (r, c) {
                (Ok(rows), Ok(())) => decode(&rows, tx.explain).map(|r| DbResult { lsn, ..r }),
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(e),
            };
        }
    } else {
        // A statement new to this connection is prepared inside the transaction, after the
        // role switch and the pre-request function, so names resolve with the request's
        // privileges; the next request on this connection takes the fast path.
        db.make_room(client);
        let (b, s) = tokio::join!(client.batch_execute(tx.begin), client.query(&settings, &settings_refs));
        let steps = async {
            b.map_err(|e| map_error(&e))?;
            s.map_err(|e| map_error(&e))?;
            if let Some(p) = &tx.pre_request {
                let st = client.prepare_cached(&p.sql).await.map_err(|e| map_error(&e))?;
                db.mark_prepared((id, sql_hash(&p.sql)));
                client.query(&st, &pre_refs).await.map_err(|e| map_error(&e))?;
            }
            let st = client.prepare_cached(&tx.main.sql).await.map_err(|e| map_error(&e))?;
            db.mark_prepared((id, sql_hash(&tx.main.sql)));
            client.query(&st, &main_refs).await.map_err(|e| map_error(&e))
        };
        steps.await
    };
    finish(client, tx, row).await
}

/// `db-prepared-statements = false`: every statement is sent unnamed (parse, bind and execute
/// in one go, values still bound), so nothing stays prepared on the connection. Still one
/// pipelined round trip. Also the way of a main statement that reads a staged body
/// (`begun`: the transaction is open already), which is not worth preparing.
async fn run_unprepared<'a>(
    client: &deadpool_postgres::Client,
    tx: &Transaction,
    main: &Statement,
    main_params: Vec<Text<'a>>,
    begun: bool,
) -> Result<DbResult, Error> {
    let settings_params = params(&tx.settings);
    let pre_params = tx.pre_request.as_ref().map(params).unwrap_or_default();
    let (settings_typed, main_typed) = (typed(&settings_params), typed(&main_params));
    let begin = async {
        match begun {
            true => Ok(()),
            false => client.batch_execute(tx.begin).await,
        }
    };
    let set = client.query_typed(&tx.settings.sql, &settings_typed);
    let pre = async {
        match &tx.pre_request {
            Some(p) => client.query_typed(&p.sql, &typed(&pre_params)).await.map(|_| ()),
            None => Ok(()),
        }
    };
    let q = client.query_typed(&main.sql, &main_typed);
    let (b, s, p, q) = tokio::join!(begin, set, pre, q);
    let row = first_error(b, s, p).and(q.map_err(|e| map_error(&e)));
    finish(client, tx, row).await
}

/// Parameters with the type `unknown`: PostgreSQL infers each from where it is used.
fn typed<'a>(p: &'a [Text<'a>]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    p.iter().map(|t| (t as &(dyn ToSql + Sync), Type::UNKNOWN)).collect()
}

/// After the main statement: the planned count, the post-checks, and the end of the transaction.
async fn finish(
    client: &deadpool_postgres::Client,
    tx: &Transaction,
    row: Result<Vec<tokio_postgres::Row>, Error>,
) -> Result<DbResult, Error> {
    let policy = tx.policy;
    let mut row = row.and_then(|rows| decode(&rows, tx.explain));
    if let (Ok(result), Some(estimate)) = (&mut row, &tx.estimate) {
        match planned_rows(client, &estimate.statement, tx.prepared).await {
            Ok(planned) => {
                let exact = result.total.unwrap_or(0);
                match estimate.above {
                    // count=planned: the planner's guess, whatever it is.
                    None => result.total = Some(planned),
                    // count=estimated past db-max-rows (or without it): the guess only when it is
                    // larger than the exact count (a guess below it is known to be wrong).
                    Some(max) if max.is_none_or(|max| exact > max) => result.total = Some(exact.max(planned)),
                    Some(_) => {}
                }
            }
            Err(e) => row = Err(e),
        }
    }
    let outcome = row.and_then(|r| {
        if tx.explain {
            return Ok(r);
        }
        if policy.require_single && r.page_total != 1 {
            return Err(Error::Singularity(r.page_total));
        }
        if let Some(max) = policy.max_affected {
            if r.page_total > max {
                return Err(Error::MaxAffected(r.page_total));
            }
        }
        Ok(r)
    });
    match outcome {
        Ok(r) => {
            let (end, lsn) = tokio::join!(
                end_transaction(client, policy.rollback),
                wal_position(client, policy.report_lsn && !policy.rollback)
            );
            end.map(|()| DbResult { lsn, ..r })
        }
        Err(e) => {
            // The error is what the client sees; the rollback only has to happen.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The planner's row estimate of an `EXPLAIN (FORMAT JSON)` statement.
async fn planned_rows(client: &deadpool_postgres::Client, statement: &Statement, prepared: bool) -> Result<i64, Error> {
    let p = params(statement);
    let rows = if prepared {
        client.query(statement.sql.as_str(), &refs(&p)).await
    } else {
        client.query_typed(statement.sql.as_str(), &typed(&p)).await
    };
    let rows = rows.map_err(|e| map_error(&e))?;
    let plan: serde_json::Value = rows
        .first()
        .and_then(|r| r.try_get::<_, serde_json::Value>(0).ok())
        .ok_or_else(|| Error::Internal("The EXPLAIN returned no plan".into()))?;
    plan.pointer("/0/Plan/Plan Rows")
        .and_then(serde_json::Value::as_f64)
        .map(|n| n as i64)
        .ok_or_else(|| Error::Internal("EXPLAIN's plan has no row estimate".into()))
}

/// The primary's WAL position after a write (`policy.report_lsn`): sent right behind the
/// `COMMIT` in the same flight, so it costs no round trip of its own. Should it fail after the
/// commit succeeded (the connection lost in between), the response carries no position and
/// the client's next read may reach a replica that has not caught up yet (docs/replicas.md).
async fn wal_position(client: &deadpool_postgres::Client, wanted: bool) -> Option<String> {
    if !wanted {
        return None;
    }
    let messages = client.simple_query(crate::query::WAL_POSITION).await.ok()?;
    messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })
}

/// Ends a transaction that succeeded. A rollback first checks deferred constraints (as
/// PostgREST does), so `tx=rollback` still reports what a commit would have refused; the
/// ROLLBACK is sent whatever that check says.
async fn end_transaction(client: &deadpool_postgres::Client, rollback: bool) -> Result<(), Error> {
    if rollback {
        let check = client.batch_execute("SET CONSTRAINTS ALL IMMEDIATE").await;
        let end = client.batch_execute("ROLLBACK").await;
        check.and(end).map_err(|e| map_error(&e))
    } else {
        client.batch_execute("COMMIT").await.map_err(|e| map_error(&e))
    }
}

fn first_error(
    b: Result<(), tokio_postgres::Error>,
    s: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
    p: Result<(), tokio_postgres::Error>,
) -> Result<(), Error> {
    b.map_err(|e| map_error(&e))?;
    s.map_err(|e| map_error(&e))?;
    p.map_err(|e| map_error(&e))?;
    Ok(())
}

/// The main statement's result: its one row, or for an EXPLAIN the plan (JSON, or text lines).
fn decode(rows: &[tokio_postgres::Row], explain: bool) -> Result<DbResult, Error> {
    let internal = |e: tokio_postgres::Error| Error::Internal(e.to_string());
    if explain {
        // PostgreSQL's bytes as they are (FORMAT JSON is one json row, sent unchanged as
        // PostgREST does; FORMAT TEXT is one row per line).
        let mut body: Vec<u8> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                body.push(b'\n');
            }
            body.extend_from_slice(&row.try_get::<_, RawBody>(0).map_err(internal)?.0.unwrap_or_default());
        }
        return Ok(DbResult { body: Bytes::from(body), page_total: rows.len() as i64, ..Default::default() });
    }
    let [row] = rows else {
        return Err(Error::Internal(format!("the main statement returned {} rows", rows.len())));
    };
    decode_row(row)
}

fn decode_row(row: &tokio_postgres::Row) -> Result<DbResult, Error> {
    // By name: writes put `location` before `body`, as PostgREST does.
    let internal = |e: tokio_postgres::Error| Error::Internal(e.to_string());
    let get_text = |name: &str| row.try_get::<_, Option<String>>(name).map_err(internal);
    Ok(DbResult {
        total: row.try_get::<_, Option<i64>>(column::TOTAL).map_err(internal)?,
        page_total: row.try_get::<_, i64>(column::PAGE_TOTAL).map_err(internal)?,
        body: row.try_get::<_, RawBody>(column::BODY).map_err(internal)?.0.unwrap_or_default(),
        response_headers: get_text(column::RESPONSE_HEADERS)?,
        response_status: get_text(column::RESPONSE_STATUS)?,
        location: get_text(column::LOCATION)?,
        inserted: row.try_get::<_, Option<i64>>(column::INSERTED).map_err(internal)?,
        lsn: None,
    })
}

/// Whether the database answers (for the admin server's `/ready`).
pub async fn ping(pool: &Pool) -> bool {
    match pool.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    }
}

/// The in-database settings of the authenticator role, most specific first: `ALTER ROLE … IN
/// DATABASE <this one> SET pgrst.…`, then `ALTER ROLE … SET pgrst.…`, then what `db-pre-config`
/// sets with `set_config('pgrst.…', …, true)`. `$1`: the `pgrst.*` names to read; `$2`: whether
/// the pre-config function ran in this transaction. Settings of the database alone
/// (`ALTER DATABASE … SET`) are not read, as in PostgREST.
const DB_SETTINGS_QUERY: &str = include_str!("settings.sql");

/// The settings of the roles the authenticator can become: role → `(name, value)` pairs.
pub type RoleSettings = std::collections::BTreeMap<String, Vec<(String, String)>>;

const ROLE_SETTINGS_QUERY: &str = include_str!("role_settings.sql");

/// Reads the settings of the roles the authenticator can become ([`RoleSettings`]), applied in
/// each request's transaction after the role switch (read with the configuration).
pub async fn load_role_settings(pool: &Pool) -> Result<RoleSettings, Error> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client.query(ROLE_SETTINGS_QUERY, &[]).await.map_err(|e| map_error(&e))?;
    let mut settings = RoleSettings::new();
    for row in rows {
        let get = |i: usize| row.try_get::<_, String>(i).map_err(|e| Error::Internal(e.to_string()));
        settings.entry(get(0)?).or_default().push((get(1)?, get(2)?));
    }
    Ok(settings)
}

/// Reads the in-database configuration on a connection of its own (so that no pooled
/// session's settings, fixed when it connected, are mistaken for current ones), calling the
/// `db-pre-config` function first when there is one. Returns `pgrst.NAME` → value pairs.
pub async fn load_db_settings(
    uri: &str,
    pre_config: Option<&crate::schema_cache::QualifiedName>,
) -> Result<Vec<(String, String)>, Error> {
    let info = conn_info(uri).map_err(Error::DbConnection)?;
    let (client, connection) = connect(&info, "tusk config").await.map_err(|e| Error::DbConnection(e.message))?;
    let driver = tokio::spawn(connection);
    let names: Vec<String> = crate::config::in_db_settings().map(crate::config::in_db_name).collect();
    let result = async {
        client.batch_execute("BEGIN").await.map_err(|e| map_error(&e))?;
        if let Some(function) = pre_config {
            let call = crate::query::pre_config_call(function);
            client.batch_execute(&call.sql).await.map_err(|e| map_error(&e))?;
        }
        let rows =
            client.query(DB_SETTINGS_QUERY, &[&names, &pre_config.is_some()]).await.map_err(|e| map_error(&e))?;
        let _ = client.batch_execute("ROLLBACK").await;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()
            .map_err(|e| Error::Internal(e.to_string()))
    }
    .await;
    drop(client);
    driver.abort();
    result
}
