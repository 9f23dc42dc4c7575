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
pub use session::{listen, pre_config_call, transaction, REPLAY_POSITION, WAL_POSITION};
pub use sql::ident;
use sql::Sql;

/// SQL text and its parameters. Parameters are sent as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

/// One bound value, sent as text of type `unknown` (PostgreSQL parses it).
#[derive(Clone, PartialEq, Eq)]
pub enum Param {
    Null,
    Text(String),
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
            _ => None,
        }
    }
}

/// Printed as the `Option<String>` it stands for (`None`, `Some("…")`), as the SQL snapshots
/// show parameters.
impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Null => f.write_str("None"),
            Param::Text(s) => f.debug_tuple("Some").field(s).finish(),
            Param::Body { bytes, in_array } => {
                let text = String::from_utf8_lossy(bytes);
                let text = if *in_array { format!("[{text}]") } else { text.into_owned() };
                f.debug_tuple("Some").field(&text).finish()
            }
        }
    }
}

/// Everything `db` runs for one request, in order, in one transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub begin: &'static str,
    pub settings: Statement,
    pub pre_request: Option<Statement>,
    pub main: Statement,
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
    let mut statement = statement(plan)?;
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
    Ok(statement)
}

fn statement(plan: &Plan) -> Result<Statement, Error> {
    // Room for a small request's statement, so it is written without growing.
    let mut sql = Sql::with_capacity(1024, 8);
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
    Ok(sql.finish())
}

/// A read counts all matching rows only when a count was asked for, as PostgREST does: without
/// one, a page past the end is simply empty.
fn needs_total(plan: &Plan) -> bool {
    // A planned count is the planner's estimate, made by a separate EXPLAIN (see Estimate).
    matches!(plan.count, Some(CountPref::Exact | CountPref::Estimated))
}

#[cfg(test)]
mod tests;
