//! SQL rendering: a [`Plan`] → a [`Transaction`] of [`Statement`]s (SQL text + bound
//! parameters). Where request SQL is written: one file per kind of statement (`read`,
//! `mutate`, `call`, `openapi`), the session around it (`session`), the row it returns
//! (`result`), the writer with the only quoting helpers (`sql`) and the SQL spelling of the
//! parser's operators and aggregates (`operators`).
//!
//! Every identifier goes through [`ident`] (double-quoted, quotes doubled); every value from
//! the request is a bound parameter sent as text of type `unknown`, so PostgreSQL infers its
//! type from the context (`"done" = $1` makes `$1` a boolean) and parses it, as PostgREST does.
//! Written inline are only: LIMIT (an integer we parsed ourselves), type names (validated
//! casts of the request, or names from the schema cache), and catalog facts (column defaults).
//!
//! The main statement always returns one row: `total_result_set`, `page_total`, `body` (the
//! whole response body, built by PostgreSQL), `response_headers`, `response_status`,
//! `location`, `inserted` (see `result`).

mod call;
mod mutate;
mod openapi;
mod operators;
mod read;
mod result;
mod session;
mod sql;

use crate::api_request::CountPref;
use crate::error::Error;
use crate::plan::{Action, Plan, TxPlan};
use read::count_estimate;
pub use result::{column, DbResult};
pub use session::{
    catalog_read_in, listen, pre_config_call, transaction, CATALOG_READ, CATALOG_READ_EXPORTED, REPLAY_POSITION,
    WAL_POSITION,
};
pub use sql::ident;
use sql::Sql;

/// SQL text and its parameters. Parameters are sent as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

/// One bound value, sent as text of type `unknown` (PostgreSQL parses it).
#[derive(Clone)]
pub enum Param {
    Null,
    Text(String),
    /// Fixed text (a setting's name, the method): bound without an allocation.
    Static(&'static str),
    /// The request body, bound as it arrived: its bytes are written straight into the
    /// protocol message, never copied into a `String` first (a bulk insert of 20 MB would
    /// otherwise hold one more copy). `in_array`: sent wrapped in `[` `]` (an object body
    /// written as a one-element array).
    Body {
        bytes: bytes::Bytes,
        in_array: bool,
    },
}

impl Param {
    /// How many bytes the value takes in the protocol message.
    pub fn len(&self) -> usize {
        match self {
            Param::Null => 0,
            Param::Text(s) => s.len(),
            Param::Static(s) => s.len(),
            Param::Body { bytes, in_array } => bytes.len().saturating_add(if *in_array { 2 } else { 0 }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of a [`Param::Text`] (`None` for NULL and for the body).
    pub fn as_deref(&self) -> Option<&str> {
        match self {
            Param::Text(s) => Some(s),
            Param::Static(s) => Some(s),
            _ => None,
        }
    }
}

/// Equal when they bind the same value (fixed text equals the same owned text).
impl PartialEq for Param {
    fn eq(&self, other: &Param) -> bool {
        match (self, other) {
            (Param::Null, Param::Null) => true,
            (Param::Body { bytes: a, in_array: x }, Param::Body { bytes: b, in_array: y }) => a == b && x == y,
            _ => self.as_deref().is_some() && self.as_deref() == other.as_deref(),
        }
    }
}

impl Eq for Param {}

/// Printed as the `Option<String>` it stands for (`None`, `Some("…")`), as the SQL snapshots
/// show parameters.
impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Null => f.write_str("None"),
            Param::Text(s) => f.debug_tuple("Some").field(s).finish(),
            Param::Static(s) => f.debug_tuple("Some").field(&s.to_string()).finish(),
            Param::Body { bytes, in_array } => {
                let text = String::from_utf8_lossy(bytes);
                let text = if *in_array { format!("[{text}]") } else { text.into_owned() };
                f.debug_tuple("Some").field(&text).finish()
            }
        }
    }
}

/// A request body larger than this (1 MiB) is not bound into the main statement: `db`
/// streams it first into a transaction-local table with `COPY` ([`STAGE_TABLE`],
/// [`STAGE_COPY`]), in pieces, and the main statement reads it from there ([`STAGED_BODY`]).
/// Bound, the body is copied twice by tokio-postgres (into the `Bind` message, then that
/// message into the connection's write buffer), which for a 20 MB bulk insert is 40 MB more;
/// streamed, the driver holds one piece at a time. The staging costs two round trips (the
/// table, the `COPY`), small next to sending a megabyte, and nothing at all to smaller bodies,
/// whose statement is unchanged.
pub const STAGE_BODY_OVER: usize = 1 << 20;

/// The table a large body is staged in: created before the role switch (as the
/// authenticator, so the request's role needs no `TEMP` privilege of its own), readable by
/// every role (a temporary table is private to its session anyway), gone at the end of the
/// transaction, commit or rollback.
pub const STAGE_TABLE: &str = "CREATE TEMP TABLE pg_temp.pgrst_body (body text) ON COMMIT DROP; \
                               GRANT SELECT ON pg_temp.pgrst_body TO PUBLIC";

/// The `COPY` that fills [`STAGE_TABLE`]: one row, in binary format, so the body's bytes are
/// sent as they are (no escaping).
pub const STAGE_COPY: &str = "COPY pg_temp.pgrst_body (body) FROM STDIN (FORMAT binary)";

/// How a statement reads a staged body, where it would have written the body's placeholder
/// (always followed by a cast, as the placeholder is).
pub const STAGED_BODY: &str = "(SELECT body FROM pg_temp.pgrst_body)";

/// A large body ([`STAGE_BODY_OVER`]) and the main statement that reads it from its table.
#[derive(Clone)]
pub struct StagedBody {
    pub bytes: bytes::Bytes,
    /// Sent wrapped in `[` `]` (an object written as a one-element array).
    pub in_array: bool,
    pub main: Statement,
}

impl std::fmt::Debug for StagedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedBody").field("len", &self.bytes.len()).field("main", &self.main).finish()
    }
}

/// Everything `db` runs for one request, in order, in one transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub begin: &'static str,
    pub settings: Statement,
    pub pre_request: Option<Statement>,
    pub main: Statement,
    /// For a body over [`STAGE_BODY_OVER`]: the body to stream ahead and the main statement
    /// reading it. `main` (binding it) is the fallback when it cannot be staged (no `TEMP`
    /// privilege).
    pub staged: Option<StagedBody>,
    /// The main statement is an EXPLAIN: its rows are the plan, not the usual one row.
    pub explain: bool,
    /// `Prefer: count=planned|estimated`: an EXPLAIN of the read whose row estimate is the total.
    pub estimate: Option<Estimate>,
    /// `db-prepared-statements`: when false, nothing is prepared (unnamed statements only).
    pub prepared: bool,
    /// How the transaction ends: commit or roll back, and the checks before it.
    pub policy: TxPlan,
}

/// The planner's estimate of a read's total.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub statement: Statement,
    /// `None` for count=planned: the estimate is the total. For count=estimated,
    /// `Some(db-max-rows)`: the total is the larger of the exact count and the estimate when
    /// the exact count exceeds db-max-rows, or always without db-max-rows (as in PostgREST).
    pub above: Option<Option<i64>>,
}

// ---------------------------------------------------------------------------------------------
// The main statement

/// Renders the plan's main statement (also part of [`transaction`]).
pub fn main_statement(plan: &Plan) -> Result<Statement, Error> {
    Ok(render(plan, Sql::with_capacity(1024, 8))?.0)
}

/// The main statement once more, reading the body from its table, when the body is larger
/// than [`STAGE_BODY_OVER`].
pub fn staged_body(plan: &Plan, main: &Statement) -> Result<Option<StagedBody>, Error> {
    // Past 1 GB no text value fits in PostgreSQL: such a body fails there either way.
    let large = main
        .params
        .iter()
        .any(|p| matches!(p, Param::Body { .. }) && (STAGE_BODY_OVER + 1..1 << 30).contains(&p.len()));
    if !large {
        return Ok(None);
    }
    let (main, body) = render(plan, Sql::with_capacity(1024, 8).staging_body())?;
    Ok(body.map(|(bytes, in_array)| StagedBody { bytes, in_array, main }))
}

fn render(plan: &Plan, sql: Sql) -> Result<(Statement, Option<(bytes::Bytes, bool)>), Error> {
    let (mut statement, staged) = statement(plan, sql)?;
    if let Some(explain) = &plan.explain {
        let mut opts = vec![if explain.json { "FORMAT JSON" } else { "FORMAT TEXT" }];
        for o in &explain.options {
            opts.push(match o.as_str() {
                "analyze" => "ANALYZE",
                "verbose" => "VERBOSE",
                "settings" => "SETTINGS",
                "buffers" => "BUFFERS",
                "wal" => "WAL",
                _ => continue,
            });
        }
        statement.sql = format!("EXPLAIN ({}) {}", opts.join(", "), statement.sql);
    }
    Ok((statement, staged))
}

/// `sql`: with room for a small request's statement, so it is written without growing.
fn statement(plan: &Plan, mut sql: Sql) -> Result<(Statement, Option<(bytes::Bytes, bool)>), Error> {
    match &plan.action {
        Action::Read { table, shape } => read::statement(&mut sql, plan, table, shape)?,
        Action::Mutate { table, kind, shape, payload, pk, missing_default, parse } => {
            let missing_default = *missing_default;
            mutate::statement(
                &mut sql,
                plan,
                mutate::Write { table, kind, shape, payload, pk, missing_default, parse },
            )?
        }
        Action::Call { routine, args, shape } => call::statement(&mut sql, plan, routine, args, shape)?,
        Action::Root => openapi::statement(&mut sql, plan),
        // Answered without the database (the `Allow` header).
        Action::Options { .. } => return Err(Error::Internal("OPTIONS runs no statement".into())),
    }
    Ok(sql.finish_staged())
}

/// A read counts all matching rows only when a count was asked for, as PostgREST does: without
/// one, a page past the end is simply empty.
fn needs_total(plan: &Plan) -> bool {
    // A planned count is the planner's estimate, made by a separate EXPLAIN (see Estimate).
    matches!(plan.count, Some(CountPref::Exact | CountPref::Estimated))
}

#[cfg(test)]
mod tests;
