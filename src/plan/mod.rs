//! Planning: an [`ApiRequest`] resolved against the [`SchemaCache`] → a [`Plan`] that says
//! exactly what to run and how to answer.
//!
//! In charge of: finding the table (PGRST205), dispatching on target and method to the parts
//! below, the `Allow` of `OPTIONS`, deciding how the transaction ends (read-only, rollback, the
//! post-conditions of `vnd.pgrst.object` and `max-affected`) and the `Preference-Applied` list.
//! Produces no SQL and does no I/O.
//!
//! - [`read`]: the shape of the rows (select, embeds, spreads, filters, order, page);
//! - [`field`]: each column named resolved once ([`Column`]), so `query` looks nothing up;
//! - [`relationship`]: which relationship an embed names (PGRST200/201);
//! - [`mutate`]: POST/PATCH/PUT/DELETE (payload columns resolved as [`WriteColumn`]s or
//!   PGRST204, on_conflict, PUT checks);
//! - [`call`]: `/rpc` overload resolution, arguments vs. filters (PGRST202/203);
//! - [`negotiate`]: `Accept` → [`Media`], EXPLAIN (PGRST107);
//! - [`live`]: whether a request is a live subscription (`Accept: text/event-stream`).

mod call;
mod field;
pub mod live;
mod mutate;
mod negotiate;
mod read;
mod relationship;
#[cfg(test)]
mod tests;

pub use call::CallArgs;
pub use field::{Column, ColumnFacts, ComputedColumn, Condition, Logic, Order, OrderBy, RepOutput, Select};
pub use mutate::WriteColumn;
pub use mutate::{BodyParse, MutateKind};
pub use negotiate::{Explain, Media};
pub use read::{Embed, Hoisted, Shape};

use crate::api_request::{ApiRequest, CountPref, Method, ReturnPref, Target};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{QualifiedName, Routine, SchemaCache, Table, Volatility};
use call::plan_call;
use field::Resolver;
use mutate::plan_mutation;
use negotiate::negotiate;
use read::root_shape;

#[derive(Debug, Clone)]
pub enum Action {
    Read {
        table: QualifiedName,
        shape: Shape,
    },
    Mutate {
        table: QualifiedName,
        kind: MutateKind,
        shape: Shape,
        /// The body as sent (shared with the request, not copied).
        payload: Option<bytes::Bytes>,
        pk: Vec<String>,
        /// `Prefer: missing=default`: a written column missing from a row gets its default
        /// ([`WriteColumn::default`]) instead of NULL.
        missing_default: bool,
        /// Written columns parsed from JSON by their domain's representation.
        parse: BodyParse,
    },
    Call {
        routine: Box<Routine>,
        args: CallArgs,
        shape: Shape,
    },
    /// `OPTIONS` on a table or function: the `Allow` header.
    Options {
        allow: String,
    },
    /// `GET /`: the API's root description.
    Root,
}

/// How the transaction ends, and the checks to make before it does.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxPlan {
    pub read_only: bool,
    pub rollback: bool,
    /// `vnd.pgrst.object`: roll back (406) unless exactly one row.
    pub require_single: bool,
    pub max_affected: Option<i64>,
    /// Where the transaction may run: the primary, or a replica ([`Route`]).
    pub route: Route,
    /// After a write on the primary with replicas configured: read the primary's WAL position
    /// after the commit (same flight), handed to the client for read-your-writes.
    pub report_lsn: bool,
}

/// Where a transaction runs (`db-replica-uris`). Decided here from what the request does;
/// `db` only picks which replica. A request that may write is always `Primary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Route {
    #[default]
    Primary,
    /// A replica that has replayed the WAL at least up to `min_lsn` (the client's last
    /// write, from `X-Tusk-Lsn` or the `tusk_lsn` cookie), else the primary.
    Replica { min_lsn: Option<u64> },
}

/// The request header that sends a request to the primary whatever it does.
pub const PRIMARY_HEADER: &str = "x-tusk-primary";
/// The request (and response) header carrying a WAL position for read-your-writes.
pub const LSN_HEADER: &str = "x-tusk-lsn";
/// The cookie carrying the same position.
pub const LSN_COOKIE: &str = "tusk_lsn";

/// A WAL position as PostgreSQL writes it (`16/B374D848`: two hex numbers of at most 8
/// digits) → its 64-bit value; `None` for anything else.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    let part = |p: &str| {
        (!p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(p, 16).ok())
            .flatten()
    };
    Some((part(hi)? << 32) | part(lo)?)
}

/// Where a request runs: replicas only serve reads (GET/HEAD of tables and views, calls of
/// STABLE or IMMUTABLE functions) that neither roll back (`tx=rollback`, EXPLAIN) nor ask
/// for the primary (`X-Tusk-Primary`), and whose transaction is read-only when there is a
/// `db-pre-request` function. (`query` also keeps serializable transactions on the primary.) A WAL position the request carries that is not one
/// (or too many) sends it to the primary: read-your-writes is never traded for a 400.
fn route(config: &Config, req: &ApiRequest, action: &Action, tx: &TxPlan) -> Route {
    // A read-write transaction could write in the db-pre-request function: the primary.
    let pre_request_may_write = config.db_pre_request.is_some() && !tx.read_only;
    if config.db_replica_uris.is_empty() || tx.rollback || pre_request_may_write {
        return Route::Primary;
    }
    let reads = match action {
        Action::Read { .. } => tx.read_only,
        Action::Call { routine, .. } => routine.volatility != Volatility::Volatile,
        _ => false,
    };
    let header =
        |name: &'static str| req.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let primary = header(PRIMARY_HEADER).any(|v| !matches!(v.trim(), "" | "0" | "false"));
    if !reads || primary {
        return Route::Primary;
    }
    let cookies = req.cookies.iter().filter(|(k, _)| k == LSN_COOKIE).map(|(_, v)| v);
    let mut min_lsn: Option<u64> = None;
    for (n, value) in header(LSN_HEADER).chain(cookies).enumerate() {
        match parse_lsn(value) {
            Some(lsn) if n < 8 => min_lsn = Some(min_lsn.map_or(lsn, |m| m.max(lsn))),
            _ => return Route::Primary,
        }
    }
    Route::Replica { min_lsn }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub action: Action,
    /// The media type of the body (for an explained request: the one explained).
    pub media: Media,
    /// `application/vnd.pgrst.plan` (`db-plan-enabled`): answer with the statement's EXPLAIN.
    pub explain: Option<Explain>,
    /// The schema a root (OpenAPI) request describes.
    pub root_schema: String,
    /// `db-max-rows` (for `count=estimated`).
    pub max_rows: Option<i64>,
    pub tx: TxPlan,
    pub count: Option<CountPref>,
    pub return_: ReturnPref,
    pub headers_only: bool,
    /// Preferences to echo in `Preference-Applied`.
    pub applied: Vec<String>,
}

impl Plan {
    /// Lets go of the request body once the statement binds it (see `app::run`).
    pub fn drop_body(&mut self) {
        if let Action::Mutate { payload, .. } = &mut self.action {
            *payload = None;
        }
    }
}

/// Resolves a request against the schema cache.
pub fn plan(config: &Config, cache: &SchemaCache, req: &ApiRequest) -> Result<Plan, Error> {
    let prefs = &req.preferences;
    if prefs.strict && !prefs.invalid.is_empty() {
        return Err(Error::InvalidPreferences(prefs.invalid.clone()));
    }
    let mut tx = TxPlan {
        read_only: matches!(req.method, Method::Get | Method::Head),
        rollback: config.db_tx_end.rollback,
        require_single: false,
        max_affected: prefs.max_affected.filter(|_| prefs.strict),
        route: Route::Primary,
        report_lsn: false,
    };
    let mut applied: Vec<String> = Vec::new();
    if let (true, Some(commit)) = (config.db_tx_end.allow_override, prefs.tx_commit) {
        tx.rollback = !commit;
        applied.push(if commit { "tx=commit" } else { "tx=rollback" }.into());
    }

    let return_ = prefs.return_.unwrap_or(ReturnPref::Minimal);
    let mut action = plan_action(config, cache, req, &mut tx, &mut applied)?;
    let (media, explain) = if req.target == Target::Root && config.db_root_spec.is_some() {
        // db-root-spec: the function's JSON answers as the OpenAPI document would.
        let root = Action::Root;
        negotiate(config, cache, req, &root)?
    } else {
        negotiate(config, cache, req, &action)?
    };
    set_rep_output(&mut action, &media);
    if explain.is_some() {
        // An explained statement may run (ANALYZE): never keep its effects.
        tx.rollback = true;
    }
    if matches!(media, Media::SingleObject | Media::SingleObjectStripNulls) {
        tx.require_single = true;
    }
    preference_applied(req, &action, tx.max_affected, &mut applied);
    tx.route = route(config, req, &action, &tx);
    tx.report_lsn = !config.db_replica_uris.is_empty()
        && tx.route == Route::Primary
        && !tx.read_only
        && !tx.rollback
        && matches!(action, Action::Mutate { .. } | Action::Call { .. });
    Ok(Plan {
        action,
        media,
        explain,
        root_schema: req.schema.clone(),
        max_rows: config.db_max_rows,
        tx,
        count: prefs.count,
        return_,
        headers_only: req.method == Method::Head,
        applied,
    })
}

/// What the request's target and method ask for: the root, a table's rows, a mutation, a
/// function call, or the methods `OPTIONS` allows.
fn plan_action(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    tx: &mut TxPlan,
    applied: &mut Vec<String>,
) -> Result<Action, Error> {
    Ok(match (&req.target, req.method) {
        (Target::Root, Method::Get | Method::Head) if config.openapi_mode == crate::config::OpenApiMode::Disabled => {
            return Err(Error::RootDisabled)
        }
        (Target::Root, Method::Get | Method::Head) => match &config.db_root_spec {
            Some(function) => plan_call(config, req, cache, function, tx)?,
            None => Action::Root,
        },
        (Target::Root, Method::Options) => Action::Options { allow: "OPTIONS,GET,HEAD".into() },
        (Target::Root, _) => return Err(Error::InvalidPath),
        (Target::Relation(name), method) => {
            let table = find_table(cache, req, name)?;
            let qualified = QualifiedName::new(&table.schema, &table.name);
            match method {
                Method::Options => Action::Options { allow: table_allow(table) },
                Method::Get | Method::Head => {
                    let shape = root_shape(config, req, Resolver::relation(cache, Some(&qualified)))?;
                    Action::Read { table: qualified, shape }
                }
                Method::Post | Method::Patch | Method::Put | Method::Delete => {
                    let shape = root_shape(config, req, Resolver::relation(cache, Some(&qualified)))?;
                    plan_mutation(req, table, qualified, shape, applied)?
                }
            }
        }
        (Target::Routine(name), method) => {
            if method == Method::Options {
                // Volatile functions can only be POSTed (GET runs read-only).
                let volatile = cache.routines(&req.schema, name).iter().all(|r| r.volatility == Volatility::Volatile);
                Action::Options { allow: if volatile { "OPTIONS,POST".into() } else { "OPTIONS,GET,HEAD,POST".into() } }
            } else {
                plan_call(config, req, cache, name, tx)?
            }
        }
    })
}

/// The `Allow` header of `OPTIONS` on a table: the methods its privileges and keys permit.
fn table_allow(table: &Table) -> String {
    let mut allow = vec![Method::Options, Method::Get, Method::Head];
    if table.insertable {
        allow.push(Method::Post);
    }
    if table.insertable && table.updatable && !table.pk.is_empty() {
        allow.push(Method::Put);
    }
    if table.updatable {
        allow.push(Method::Patch);
    }
    if table.deletable {
        allow.push(Method::Delete);
    }
    allow.into_iter().map(Method::as_str).collect::<Vec<_>>().join(",")
}

/// Adds the remaining preferences honoured to `applied` (which already has those the action
/// applied), in PostgREST's order.
fn preference_applied(req: &ApiRequest, action: &Action, max_affected: Option<i64>, applied: &mut Vec<String>) {
    let prefs = &req.preferences;
    if matches!(action, Action::Mutate { .. }) {
        if let Some(r) = prefs.return_ {
            applied.push(r.as_str().into());
        }
    }
    if let Some(c) = prefs.count {
        applied.push(c.as_str().into());
    }
    if let Some(n) = max_affected {
        applied.push(format!("max-affected={n}"));
    }
    if prefs.strict {
        applied.push("handling=strict".into());
    } else if prefs.applied.iter().any(|p| p == "handling=lenient") {
        applied.push("handling=lenient".into());
    }
    if let Some(tz) = &prefs.timezone {
        applied.push(format!("timezone={tz}"));
    }
    // PostgREST's order: resolution, missing, return, params, count, tx, handling, timezone, max-affected.
    const ORDER: [&str; 9] =
        ["resolution=", "missing=", "return=", "params=", "count=", "tx=", "handling=", "timezone=", "max-affected="];
    applied.sort_by_key(|a| ORDER.iter().position(|p| a.starts_with(p)).unwrap_or(ORDER.len()));
}

/// Domain representations format JSON responses through casts to json and CSV through casts to
/// text; other media (handlers, raw bodies) get the columns as they are.
fn set_rep_output(action: &mut Action, media: &Media) {
    fn set(shape: &mut Shape, output: RepOutput) {
        shape.output = output;
        for e in &mut shape.embeds {
            set(&mut e.shape, output);
        }
    }
    let output = match media {
        Media::Json | Media::JsonStripNulls | Media::SingleObject | Media::SingleObjectStripNulls | Media::GeoJson => {
            RepOutput::Json
        }
        Media::Csv => RepOutput::Text,
        _ => RepOutput::None,
    };
    if let Action::Read { shape, .. } | Action::Mutate { shape, .. } | Action::Call { shape, .. } = action {
        set(shape, output);
    }
}

fn find_table<'a>(cache: &'a SchemaCache, req: &ApiRequest, name: &str) -> Result<&'a Table, Error> {
    let schema = &req.schema;
    cache.table(schema, name).ok_or_else(|| Error::NoTable {
        name: format!("{schema}.{name}"),
        hint: cache
            .similar_table(schema, name, &req.role)
            .map(|t| format!("Perhaps you meant the table '{schema}.{t}'")),
    })
}
