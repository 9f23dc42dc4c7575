//! SQL rendering: a [`Plan`] → [`Statement`]s (SQL text + bound parameters). The only place
//! SQL text is written.
//!
//! Every identifier goes through [`ident`] (double-quoted, quotes doubled); every value from
//! the request is a bound parameter sent as text of type `unknown`, so PostgreSQL infers its
//! type from the context (`"done" = $1` makes `$1` a boolean) and parses it, as PostgREST does.
//! Integers we parsed ourselves (none today) and type names from the schema cache or the
//! whitelisted cast grammar are the only things written inline.
//!
//! The main statement always returns one row: `total_result_set`, `page_total`, `body` (the
//! whole response body, built by PostgreSQL), `response_headers`, `response_status`, `location`.

use crate::api_request::{
    ApiRequest, CountPref, Field, Filter, IsValue, JsonKey, LogicTree, Operation, OrderTarget, Quantifier, Resolution,
    ReturnPref, SelectItem,
};
use crate::auth::AuthResult;
use crate::config::Config;
use crate::error::Error;
use crate::plan::{Action, BodyParse, CallArgs, ColumnInfo, Media, MutateKind, Plan, RepOutput, Shape};
use crate::schema_cache::{RepFunction, ReturnShape};

/// SQL text and its parameters (`None` is SQL NULL). Parameters are sent as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
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

/// For `count=planned|estimated` on a table read: `EXPLAIN` of the rows counted.
fn count_estimate(plan: &Plan) -> Option<Estimate> {
    let (Action::Read { table, shape }, Some(count)) = (&plan.action, plan.count) else { return None };
    let above = match count {
        CountPref::Planned => None,
        CountPref::Estimated => Some(plan.max_rows),
        CountPref::Exact => return None,
    };
    // The rows of the read without its page (rendered in their own statement, so every bound
    // parameter is used); the planner's estimate of them is the total.
    let mut sql = Sql::new();
    let from = format!("{}.{}", ident(&table.schema), ident(&table.name));
    let unpaged = Shape { limit: None, offset: None, ..shape.clone() };
    let p = parts_in(&mut sql, &mut 0, &from, &ident(&table.name), &unpaged, "", vec![], true).ok()?;
    sql.push(&format!("EXPLAIN (FORMAT JSON) {}", p.query()));
    Some(Estimate { statement: sql.finish(), above })
}

/// Double-quotes an identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

struct Sql {
    text: String,
    params: Vec<Option<String>>,
}

impl Sql {
    fn new() -> Sql {
        Sql { text: String::new(), params: Vec::new() }
    }
    fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }
    /// Binds a value; returns its placeholder.
    fn bind(&mut self, value: impl Into<String>) -> String {
        self.params.push(Some(value.into()));
        format!("${}", self.params.len())
    }
    fn finish(self) -> Statement {
        Statement { sql: self.text, params: self.params }
    }
}

// ---------------------------------------------------------------------------------------------
// Request settings

/// `BEGIN`, the transaction-local settings PostgREST sets, and the optional pre-request call.
pub fn transaction(config: &Config, req: &ApiRequest, auth: &AuthResult, plan: &Plan, main: Statement) -> Transaction {
    // A called function's own settings named by db-hoisted-tx-settings apply to the whole
    // transaction (its isolation level to BEGIN).
    let hoisted: Vec<(String, String)> = match &plan.action {
        Action::Call { routine, .. } => routine
            .settings
            .iter()
            .filter(|(k, _)| config.db_hoisted_tx_settings.iter().any(|h| h == k))
            .cloned()
            .collect(),
        _ => vec![],
    };
    let isolation = hoisted.iter().find(|(k, _)| k == "default_transaction_isolation").map(|(_, v)| v.as_str());
    let begin = match (isolation.map(str::to_ascii_lowercase).as_deref(), plan.tx.read_only) {
        (Some("serializable"), true) => "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
        (Some("serializable"), false) => "BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE",
        (Some("repeatable read"), true) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        (Some("repeatable read"), false) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE",
        (_, true) => "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY",
        (_, false) => "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE",
    };
    let mut sql = Sql::new();
    let mut search_path = vec![ident(&req.schema)];
    search_path.extend(config.db_extra_search_path.iter().map(|s| ident(s)));
    let headers: serde_json::Map<String, serde_json::Value> =
        req.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let cookies: serde_json::Map<String, serde_json::Value> =
        req.cookies.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    let method = match req.method {
        crate::api_request::Method::Get => "GET",
        crate::api_request::Method::Head => "HEAD",
        crate::api_request::Method::Post => "POST",
        crate::api_request::Method::Patch => "PATCH",
        crate::api_request::Method::Put => "PUT",
        crate::api_request::Method::Delete => "DELETE",
        crate::api_request::Method::Options => "OPTIONS",
    };
    let mut settings: Vec<(String, String)> = vec![
        ("search_path".into(), search_path.join(", ")),
        ("role".into(), auth.role.clone()),
        ("request.jwt.claims".into(), serde_json::Value::Object(auth.claims.clone()).to_string()),
        ("request.method".into(), method.into()),
        ("request.path".into(), req.path.clone()),
        ("request.headers".into(), serde_json::Value::Object(headers).to_string()),
        ("request.cookies".into(), serde_json::Value::Object(cookies).to_string()),
    ];
    for (k, v) in &config.app_settings {
        settings.push((format!("app.settings.{k}"), v.clone()));
    }
    if let Some(tz) = &req.preferences.timezone {
        settings.push(("timezone".into(), tz.clone()));
    }
    settings.extend(hoisted.into_iter().filter(|(k, _)| k != "default_transaction_isolation"));
    sql.push("SELECT ");
    for (i, (name, value)) in settings.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let n = sql.bind(name);
        let v = sql.bind(value);
        sql.push(&format!("set_config({n}, {v}, true)"));
    }
    let pre_request = config
        .db_pre_request
        .as_ref()
        .map(|(schema, name)| Statement { sql: format!("SELECT {}.{}()", ident(schema), ident(name)), params: vec![] });
    let estimate = count_estimate(plan);
    Transaction {
        begin,
        settings: sql.finish(),
        pre_request,
        main,
        explain: plan.explain.is_some(),
        estimate,
        prepared: config.db_prepared_statements,
    }
}

// ---------------------------------------------------------------------------------------------
// The main statement

/// Renders the plan's main statement.
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
    let mut sql = Sql::new();
    match &plan.action {
        Action::Read { table, shape } => {
            let from = format!("{}.{}", ident(&table.schema), ident(&table.name));
            let alias = ident(&table.name);
            let p = parts(&mut sql, &mut 0, &from, &alias, shape, "", vec![])?;
            let total = if let (Some(CountPref::Estimated), Some(max)) = (plan.count, plan.max_rows) {
                // count=estimated counts exactly only up to just past db-max-rows; beyond that
                // the planner's estimate is used when larger (see Estimate).
                format!(
                    "(SELECT pg_catalog.count(*) FROM (SELECT 1 FROM {from}{}{} LIMIT {}) pgrst_counted)",
                    p.filtering_joins,
                    p.where_,
                    max.saturating_add(1)
                )
            } else if needs_total(plan) {
                format!("(SELECT pg_catalog.count(*) FROM {from}{}{})", p.filtering_joins, p.where_)
            } else {
                "NULL::bigint".into()
            };
            wrap(&mut sql, &p.query(), &total, body_expr(&plan.media, false), "NULL::text");
        }
        Action::Mutate { table, kind, shape, payload, pk, defaults, parse } => {
            let target = format!("{}.{}", ident(&table.schema), ident(&table.name));
            let alias = ident(&table.name);
            let mut cte = String::new();
            match kind {
                MutateKind::Insert { columns, on_conflict } => {
                    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
                    let no_rows = payload.as_deref().is_some_and(|b| String::from_utf8_lossy(b).trim() == "[]");
                    // An upsert counts the rows it inserts in a transaction-local setting: each
                    // row of the payload adds one, each that updates an existing row instead
                    // takes it back (in DO UPDATE's WHERE). Unlike xmax, this also works on
                    // partitioned tables and views.
                    let counting = on_conflict.is_some() && !no_rows;
                    let counted = if counting { format!(" WHERE {}", count_inserted('+')) } else { String::new() };
                    if no_rows {
                        // `[]`: nothing to insert (and no row to default).
                        cte.push_str(&format!("SELECT {target}.* FROM {target} WHERE false"));
                    } else {
                        let body = payload.as_deref().map(json_array_text).unwrap_or_else(|| "[]".into());
                        let p = sql.bind(body);
                        let into = if cols.is_empty() {
                            // `{}`: every column gets its default, once per element.
                            format!("INSERT INTO {target} SELECT")
                        } else {
                            format!("INSERT INTO {target} ({cols}) SELECT", cols = cols.join(", "))
                        };
                        if cols.is_empty() {
                            cte.push_str(&format!("{into} FROM json_array_elements({p}::json) pgrst_elem{counted}"));
                        } else if parse.is_active() {
                            // Some columns' domains parse their JSON values themselves.
                            let values = if defaults.is_empty() {
                                columns.iter().map(|c| body_value(&mut sql, c, parse)).collect()
                            } else {
                                or_default(&mut sql, defaults, parse)
                            };
                            let record = record_source(&mut sql, parse);
                            cte.push_str(&format!(
                                "{into} {} FROM jsonb_array_elements({p}::jsonb) pgrst_elem, \
                                 LATERAL jsonb_populate_record(NULL::{target}, {record}) pgrst_body{counted}",
                                values.join(", ")
                            ));
                        } else if defaults.is_empty() {
                            cte.push_str(&format!(
                                "{into} {cols} FROM json_populate_recordset(NULL::{target}, {p}::json) pgrst_body{counted}",
                                cols = cols.join(", ")
                            ));
                        } else {
                            let values = or_default(&mut sql, defaults, parse);
                            cte.push_str(&format!(
                                "{into} {} FROM jsonb_array_elements({p}::jsonb) pgrst_elem, \
                                 LATERAL jsonb_populate_record(NULL::{target}, pgrst_elem) pgrst_body{counted}",
                                values.join(", ")
                            ));
                        }
                    }
                    if let (true, Some((conflict_cols, resolution))) = (counting, on_conflict) {
                        let cc: Vec<String> = conflict_cols.iter().map(|c| ident(c)).collect();
                        cte.push_str(&format!(" ON CONFLICT ({}) ", cc.join(", ")));
                        match resolution {
                            Resolution::IgnoreDuplicates => cte.push_str("DO NOTHING"),
                            Resolution::MergeDuplicates if cols.is_empty() => cte.push_str("DO NOTHING"),
                            Resolution::MergeDuplicates => {
                                let sets: Vec<String> = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                                cte.push_str(&format!(
                                    "DO UPDATE SET {} WHERE {}",
                                    sets.join(", "),
                                    count_inserted('-')
                                ));
                            }
                        }
                    }
                    if !no_rows {
                        cte.push_str(&returning(&target, plan, shape, pk));
                    }
                }
                MutateKind::Update { columns } => {
                    if columns.is_empty() {
                        cte.push_str(&format!("SELECT * FROM {target} WHERE false"));
                    } else {
                        let body =
                            payload.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                        let p = sql.bind(body);
                        if parse.is_active() {
                            // Some columns' domains parse their JSON values themselves; an
                            // array body updates with its first element, as below. The row
                            // comes from a set-returning function so that the parsers run
                            // only for rows updated (never folded into constants at planning).
                            let values: Vec<String> = if defaults.is_empty() {
                                columns.iter().map(|c| body_value(&mut sql, c, parse)).collect()
                            } else {
                                or_default(&mut sql, defaults, parse)
                            };
                            let sets: Vec<String> =
                                columns.iter().zip(values).map(|(c, v)| format!("{} = {v}", ident(c))).collect();
                            let record = record_source(&mut sql, parse);
                            cte.push_str(&format!(
                                "UPDATE {target} SET {} FROM (SELECT pgrst_elem FROM jsonb_array_elements(\
                                 CASE WHEN jsonb_typeof({p}::jsonb) = 'array' THEN {p}::jsonb \
                                 ELSE jsonb_build_array({p}::jsonb) END) pgrst_elem LIMIT 1) pgrst_e, \
                                 LATERAL jsonb_populate_record(NULL::{target}, {record}) pgrst_body",
                                sets.join(", ")
                            ));
                        } else if defaults.is_empty() {
                            let sets: Vec<String> =
                                columns.iter().map(|c| format!("{} = pgrst_body.{}", ident(c), ident(c))).collect();
                            cte.push_str(&format!(
                                "UPDATE {target} SET {} FROM (SELECT * FROM json_populate_record(NULL::{target}, \
                                 CASE WHEN json_typeof({p}::json) = 'array' THEN {p}::json->0 ELSE {p}::json END)) pgrst_body",
                                sets.join(", ")
                            ));
                        } else {
                            let values = or_default(&mut sql, defaults, parse);
                            let sets: Vec<String> =
                                columns.iter().zip(values).map(|(c, v)| format!("{} = {v}", ident(c))).collect();
                            cte.push_str(&format!(
                                "UPDATE {target} SET {} FROM (SELECT {p}::jsonb AS pgrst_elem) pgrst_e, \
                                 LATERAL jsonb_populate_record(NULL::{target}, pgrst_e.pgrst_elem) pgrst_body",
                                sets.join(", ")
                            ));
                        }
                        cte.push_str(&where_clause(&mut sql, &alias, shape)?);
                        cte.push_str(&returning(&target, plan, shape, pk));
                    }
                }
                MutateKind::Delete => {
                    cte.push_str(&format!("DELETE FROM {target}"));
                    cte.push_str(&where_clause(&mut sql, &alias, shape)?);
                    cte.push_str(&returning(&target, plan, shape, pk));
                }
            }
            // The returned rows are already filtered: only the select list and embeds apply.
            let returning = if plan.return_ == ReturnPref::Representation {
                Shape { filters: vec![], logic: vec![], limit: None, offset: None, ..shape.clone() }
            } else {
                // Nothing of the rows is shown: only counted.
                Shape {
                    select: vec![SelectItem::Star],
                    embeds: vec![],
                    embed_filters: vec![],
                    hoisting: false,
                    columns: ColumnInfo::default(),
                    filters: vec![],
                    logic: vec![],
                    order: vec![],
                    limit: None,
                    offset: None,
                }
            };
            let rep = parts(&mut sql, &mut 0, &format!("pgrst_source {alias}"), &alias, &returning, "", vec![])?;
            let location = if plan.return_ == ReturnPref::HeadersOnly && !pk.is_empty() {
                let cols: Vec<String> = pk.iter().map(|c| ident(c)).collect();
                // Only a single created row has a location.
                format!(
                    "CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN \
                     (SELECT row_to_json(pgrst_pk)::text FROM (SELECT {} FROM pgrst_source LIMIT 1) pgrst_pk) END",
                    cols.join(", ")
                )
            } else {
                "NULL::text".into()
            };
            let body =
                if plan.return_ == ReturnPref::Representation { body_expr(&plan.media, false) } else { "''".into() };
            let inner = rep.query();
            let total = match plan.count {
                Some(_) => "(SELECT pg_catalog.count(*) FROM pgrst_source)".to_string(),
                None => "NULL::bigint".to_string(),
            };
            sql.push(&format!("WITH pgrst_source AS ({cte}) "));
            // Read after the outer query consumed every row of pgrst_source, so the upsert
            // has run to completion.
            let inserted = match kind {
                MutateKind::Insert { on_conflict: Some(_), .. } => {
                    "coalesce(nullif(current_setting('pgrst.inserted', true), '')::bigint, 0)"
                }
                _ => "NULL::bigint",
            };
            push_outer_upsert(&mut sql, &inner, &total, &body, &location, inserted);
        }
        Action::Call { routine, args, shape } => {
            let func = format!("{}.{}", ident(&routine.schema), ident(&routine.name));
            let (arg_list, from_args) = match args {
                CallArgs::None => (String::new(), String::new()),
                CallArgs::Single { value, type_ } if type_ == "bytea" => {
                    // Bytes travel as base64 text and are decoded by PostgreSQL.
                    use base64::Engine;
                    let p = sql.bind(base64::engine::general_purpose::STANDARD.encode(value));
                    (format!("decode({p}, 'base64')"), String::new())
                }
                CallArgs::Single { value, type_ } => {
                    let p = sql.bind(String::from_utf8_lossy(value).into_owned());
                    (format!("{p}::{type_}"), String::new())
                }
                CallArgs::Named { json, params } => {
                    let p = sql.bind(json.clone());
                    let defs: Vec<String> =
                        params.iter().map(|(n, t)| format!("{} {}", ident(n), arg_type(t))).collect();
                    let call_args: Vec<String> = params
                        .iter()
                        .map(|(n, _)| {
                            let variadic = routine.params.iter().any(|rp| &rp.name == n && rp.variadic);
                            format!(
                                "{}{} := pgrst_args.{}",
                                if variadic { "VARIADIC " } else { "" },
                                ident(n),
                                ident(n)
                            )
                        })
                        .collect();
                    (
                        call_args.join(", "),
                        format!(" FROM json_to_record({p}::json) AS pgrst_args({})", defs.join(", ")),
                    )
                }
            };
            let call = format!("{func}({arg_list})");
            let alias = "pgrst_call";
            let scalar = matches!(routine.shape, ReturnShape::Scalar);
            let source = match (&routine.shape, routine.returns_set) {
                (ReturnShape::Void, _) => format!("SELECT {call}{from_args}"),
                (ReturnShape::Scalar, false) => format!("SELECT {call} AS pgrst_scalar{from_args}"),
                // `setof record`: only the target-list form needs no column definition list.
                (ReturnShape::Scalar, true) if routine.return_type == "record" => {
                    format!("SELECT {call} AS pgrst_scalar{from_args}")
                }
                (ReturnShape::Scalar, true) => {
                    if from_args.is_empty() {
                        format!("SELECT pgrst_call.pgrst_scalar FROM {call} pgrst_call(pgrst_scalar)")
                    } else {
                        format!("SELECT pgrst_call.pgrst_scalar{from_args}, LATERAL {call} pgrst_call(pgrst_scalar)")
                    }
                }
                (ReturnShape::Composite { .. }, _) => {
                    if from_args.is_empty() {
                        format!("SELECT pgrst_call.* FROM {call} pgrst_call")
                    } else {
                        format!("SELECT pgrst_call.*{from_args}, LATERAL {call} pgrst_call")
                    }
                }
            };
            let p = if scalar || matches!(routine.shape, ReturnShape::Void) {
                let plain = Shape { select: vec![SelectItem::Star], embeds: vec![], ..shape.clone() };
                parts(&mut sql, &mut 0, "pgrst_source pgrst_call", alias, &plain, "", vec![])?
            } else {
                parts(&mut sql, &mut 0, "pgrst_source pgrst_call", alias, shape, "", vec![])?
            };
            let inner = p.query();
            let where_ = format!("{}{}", p.filtering_joins, p.where_);
            let body = match (&plan.media, &routine.shape, routine.returns_set) {
                (_, ReturnShape::Void, _) => "''".to_string(),
                // XML goes out through its own output function (as PostgreSQL sends an xml value).
                (Media::Raw(_), _, _)
                    if routine.return_type == "xml"
                        || routine.return_domain.as_ref().is_some_and(|(_, base)| base == "xml") =>
                {
                    "xmlagg(_postgrest_t.pgrst_scalar)".to_string()
                }
                (Media::Json, ReturnShape::Scalar, false) => {
                    "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".to_string()
                }
                (Media::Json, ReturnShape::Composite { .. }, false) => {
                    "coalesce(json_agg(_postgrest_t)->0, 'null')".to_string()
                }
                (media, _, _) => body_expr(media, scalar),
            };
            let total = if needs_total(plan) {
                format!("(SELECT pg_catalog.count(*) FROM pgrst_source {alias}{where_})")
            } else {
                "NULL::bigint".into()
            };
            sql.push(&format!("WITH pgrst_source AS ({source}) "));
            push_outer(&mut sql, &inner, &total, &body, "NULL::text");
        }
        Action::Root => {
            // What the request's role may use in the schema (openapi-mode follow-privileges):
            // asked of PostgreSQL inside the role-switched transaction.
            let schema = sql.bind(plan.root_schema.clone());
            sql.push(&format!(
                "SELECT NULL::bigint AS total_result_set, 0::bigint AS page_total, json_build_object(\
                 'tables', (SELECT coalesce(json_agg(c.relname), '[]') FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = {schema}::text AND c.relkind IN ('r', 'v', 'm', 'f', 'p') \
                   AND (pg_has_role(c.relowner, 'USAGE') \
                     OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
                     OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))), \
                 'functions', (SELECT coalesce(json_agg(p.proname), '[]') FROM pg_proc p \
                   JOIN pg_namespace n ON n.oid = p.pronamespace \
                   WHERE n.nspname = {schema}::text AND has_function_privilege(p.oid, 'EXECUTE')))::text AS body, \
                 NULL::text AS response_headers, NULL::text AS response_status, NULL::text AS location, \
                 NULL::bigint AS inserted"
            ));
        }
        Action::Options { .. } => {
            sql.push("SELECT NULL::bigint AS total_result_set, 0::bigint AS page_total, '' AS body, NULL::text AS response_headers, NULL::text AS response_status, NULL::text AS location, NULL::bigint AS inserted");
        }
    }
    Ok(sql.finish())
}

/// `set_config('pgrst.inserted', n ± 1)`, always true as a condition: the upsert's count of
/// inserted rows, one step (see the Insert rendering).
fn count_inserted(step: char) -> String {
    let never = if step == '+' { "0" } else { "-1" };
    format!(
        "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(pg_catalog.current_setting('pgrst.inserted', true), \
         '')::int, 0) {step} 1)::text, true) <> '{never}'"
    )
}

/// `missing=default`: a column's value from the row when the row has the key, else the
/// column's default (its catalog expression) or NULL.
fn or_default(sql: &mut Sql, defaults: &[(String, Option<String>)], parse: &BodyParse) -> Vec<String> {
    defaults
        .iter()
        .map(|(c, default)| {
            let key = sql.bind(c.clone());
            let value = body_value(sql, c, parse);
            format!("CASE WHEN pgrst_elem ? {key}::text THEN {value} ELSE {} END", default.as_deref().unwrap_or("NULL"))
        })
        .collect()
}

/// A written column's value from the body row (`pgrst_elem`, jsonb, and the record populated
/// from it, `pgrst_body`): the record's field, or the domain's JSON parser applied to the
/// key's JSON value (a missing key or a JSON null is SQL NULL).
fn body_value(sql: &mut Sql, column: &str, parse: &BodyParse) -> String {
    match parse.functions.iter().find(|(c, _)| c == column) {
        Some((_, function)) => {
            let key = sql.bind(column.to_string());
            format!("{}(nullif(pgrst_elem->{key}::text, 'null'::jsonb)::json)", function_name(function))
        }
        None => format!("pgrst_body.{}", ident(column)),
    }
}

/// The body row the record is populated from: without the keys the record must not parse.
fn record_source(sql: &mut Sql, parse: &BodyParse) -> String {
    let skip = format!("{{{}}}", parse.skip.iter().map(|c| array_element(c)).collect::<Vec<_>>().join(","));
    format!("pgrst_elem - {}::text[]", sql.bind(skip))
}

/// A representation function's qualified, quoted name.
fn function_name((schema, name): &RepFunction) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// What a mutation returns: only the columns the response needs, so a role allowed to write
/// but not to read every column (column privileges) can still write. Nothing is needed for
/// `return=minimal` but a row count.
fn returning(target: &str, plan: &Plan, shape: &Shape, pk: &[String]) -> String {
    match plan.return_ {
        // Computed columns take the whole row.
        ReturnPref::Representation
            if !shape.columns.computed.is_empty() || shape.embeds.iter().any(|e| e.relationship.function.is_some()) =>
        {
            format!(" RETURNING {target}.*")
        }
        ReturnPref::Representation => {
            let mut cols: Vec<String> = Vec::new();
            for item in &shape.select {
                match item {
                    SelectItem::Field { field, .. } => cols.push(field.name.clone()),
                    _ => return format!(" RETURNING {target}.*"),
                }
            }
            if shape.select.is_empty() && shape.embeds.is_empty() {
                return format!(" RETURNING {target}.*");
            }
            for e in &shape.embeds {
                match &e.relationship.junction {
                    Some(j) => cols.extend(j.source_columns.iter().map(|(_, c)| c.clone())),
                    None => cols.extend(e.relationship.columns.iter().map(|(c, _)| c.clone())),
                }
            }
            let mut seen = std::collections::HashSet::new();
            let list: Vec<String> = cols
                .into_iter()
                .filter(|c| seen.insert(c.clone()))
                .map(|c| format!("{target}.{}", ident(&c)))
                .collect();
            format!(" RETURNING {}", list.join(", "))
        }
        ReturnPref::HeadersOnly if !pk.is_empty() => {
            let list: Vec<String> = pk.iter().map(|c| format!("{target}.{}", ident(c))).collect();
            format!(" RETURNING {}", list.join(", "))
        }
        _ => " RETURNING 1".to_string(),
    }
}

/// A parameter's type as a column type for json_to_record: `character` and `bit` without a
/// length mean length 1 there, but a function parameter takes any length.
fn arg_type(t: &str) -> String {
    let (base, array) = match t.strip_suffix("[]") {
        Some(b) => (b, "[]"),
        None => (t, ""),
    };
    match base {
        "character" => format!("bpchar{array}"),
        "bit" => format!("bit varying{array}"),
        _ => t.to_string(),
    }
}

/// A JSON body as the text of a JSON array (an object becomes a one-element array).
fn json_array_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        text.into_owned()
    } else {
        format!("[{text}]")
    }
}

fn wrap(sql: &mut Sql, inner: &str, total: &str, body: String, location: &str) {
    sql.push(&format!("WITH pgrst_source AS ({inner}) "));
    let inner = "SELECT * FROM pgrst_source";
    push_outer(sql, inner, total, &body, location);
}

fn push_outer(sql: &mut Sql, inner: &str, total: &str, body: &str, location: &str) {
    sql.push(&format!(
        "SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {body} AS body, \
         nullif(current_setting('response.headers', true), '') AS response_headers, \
         nullif(current_setting('response.status', true), '') AS response_status, \
         {location} AS location, NULL::bigint AS inserted \
         FROM ({inner}) _postgrest_t"
    ));
}

/// The one row a write returns (`location` before `body`, in PostgREST's order). `inserted`:
/// for upserts, how many rows were new.
fn push_outer_upsert(sql: &mut Sql, inner: &str, total: &str, body: &str, location: &str, inserted: &str) {
    sql.push(&format!(
        "SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {location} AS location, \
         {body} AS body, nullif(current_setting('response.headers', true), '') AS response_headers, \
         nullif(current_setting('response.status', true), '') AS response_status, {inserted} AS inserted \
         FROM ({inner}) _postgrest_t"
    ));
}

/// The response body, built by PostgreSQL and sent in its own type (json, text, xml or
/// bytea), so the bytes arrive as they are: nothing is re-encoded on the way.
fn body_expr(media: &Media, scalar: bool) -> String {
    match media {
        Media::Json if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')".into(),
        Media::Json => "coalesce(json_agg(_postgrest_t), '[]')".into(),
        Media::JsonStripNulls if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')".into(),
        Media::JsonStripNulls => "coalesce(json_agg(json_strip_nulls(row_to_json(_postgrest_t))), '[]')".into(),
        Media::SingleObjectStripNulls if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".into(),
        Media::SingleObjectStripNulls => {
            "coalesce(json_agg(json_strip_nulls(row_to_json(_postgrest_t)))->0, 'null')".into()
        }
        Media::SingleObject if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".into(),
        Media::SingleObject => "coalesce(json_agg(_postgrest_t)->0, 'null')".into(),
        Media::Csv => "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r) AS k FROM \
             (SELECT row_to_json(hh) AS r FROM pgrst_source AS hh LIMIT 1) s) a) || chr(10) || \
             coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')"
            .into(),
        Media::Raw(_) => "coalesce(string_agg(_postgrest_t.pgrst_scalar::text, ''), '')".into(),
        Media::RawBinary(_) => "coalesce(string_agg(_postgrest_t.pgrst_scalar::bytea, ''::bytea), '')".into(),
        Media::Handler { function: (schema, name), base, row_type, .. } => {
            let row = match row_type {
                Some((s, t)) => format!("_postgrest_t::{}.{}", ident(s), ident(t)),
                None => "_postgrest_t".into(),
            };
            let agg = format!("{}.{}({row})", ident(schema), ident(name));
            // These types travel as they are; any other is sent as its text.
            match base.as_str() {
                "bytea" | "text" | "json" | "jsonb" | "xml" | "character varying" => agg,
                _ => format!("({agg})::text"),
            }
        }
        // PostGIS turns each row (its first geometry column) into a Feature.
        Media::GeoJson => "json_build_object('type', 'FeatureCollection', 'features', \
             coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))"
            .into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces

/// Where a column reference is rendered: the row alias, and what the plan found out about the
/// columns of that relation.
#[derive(Clone, Copy)]
struct At<'a> {
    alias: &'a str,
    info: &'a ColumnInfo,
}

static NO_INFO: ColumnInfo = ColumnInfo {
    json_wrap: Vec::new(),
    tsvector_wrap: Vec::new(),
    computed: Vec::new(),
    reps: Vec::new(),
    star: Vec::new(),
    output: RepOutput::None,
};

fn field_expr(sql: &mut Sql, at: At, field: &Field) -> String {
    let alias = at.alias;
    let mut out = match at.info.computed.iter().find(|(n, _, _)| *n == field.name) {
        // A computed column: a function taking the row (typed, for overloads).
        Some((name, schema, table)) => {
            format!("{s}.{}({alias}::{s}.{})", ident(name), ident(table), s = ident(schema))
        }
        None => format!("{alias}.{}", ident(&field.name)),
    };
    if !field.json_path.is_empty() && at.info.json_wrap.contains(&field.name) {
        // JSON operators on arrays and composites work on their JSON form.
        out = format!("to_jsonb({out})");
    }
    for op in &field.json_path {
        let arrow = if op.as_text { "->>" } else { "->" };
        let key = match &op.key {
            // Untyped, like PostgREST's literal: `jsonb -> unknown` resolves to the text key,
            // and a `->` after `->>` fails as PostgreSQL says (`text -> unknown`).
            JsonKey::Name(n) => sql.bind(n.clone()),
            JsonKey::Index(i) => format!("{}::int", sql.bind(i.to_string())),
        };
        out = format!("{out}{arrow}{key}");
    }
    out
}

/// A rendered `SELECT … FROM … JOIN LATERAL … WHERE … GROUP BY … ORDER BY … LIMIT …`, in
/// pieces so a count can reuse the FROM, joins and WHERE (and their parameters).
struct Parts {
    list: String,
    from: String,
    joins: String,
    /// The joins that can remove parent rows (`!inner`, `embed=not.is.null`): all a count needs.
    filtering_joins: String,
    where_: String,
    group: String,
    order: String,
    limit: String,
}

impl Parts {
    fn query(&self) -> String {
        format!(
            "SELECT {} FROM {}{}{}{}{}{}",
            self.list, self.from, self.joins, self.where_, self.group, self.order, self.limit
        )
    }
}

/// Renders the rows of `shape` read from `from` (a table, or a CTE, already aliased as
/// `alias`), with each embed as a `LEFT`/`INNER JOIN LATERAL` subquery: to-one embeds become
/// `row_to_json(…)`, to-many embeds `json_agg(…)`, so one statement builds the whole nested
/// body. `conds` link an embedded table to its parent; `n` numbers the aliases.
fn parts(
    sql: &mut Sql,
    n: &mut usize,
    from: &str,
    alias: &str,
    shape: &Shape,
    extra_join: &str,
    conds: Vec<String>,
) -> Result<Parts, Error> {
    parts_in(sql, n, from, alias, shape, extra_join, conds, false)
}

/// [`parts`]; `counting`: only which rows there are matters (the planner's estimate of a
/// count), so nothing is selected, ordered or grouped, and the embeds that filter
/// (`!inner`, `embed=not.is.null`, also inside `or=(…)`) are `EXISTS` tests, as in
/// PostgREST's count query; the other embeds are left out.
#[allow(clippy::too_many_arguments)]
fn parts_in(
    sql: &mut Sql,
    n: &mut usize,
    from: &str,
    alias: &str,
    shape: &Shape,
    extra_join: &str,
    conds: Vec<String>,
    counting: bool,
) -> Result<Parts, Error> {
    let mut cols: Vec<String> = Vec::new();
    if counting {
        cols.push("1".into());
    } else if !shape.select.is_empty() || shape.embeds.is_empty() {
        // Only embeds selected (`select=clients(*)`): no columns of this table.
        cols.push(select_list(sql, At { alias, info: &shape.columns }, &shape.select, shape.hoisting)?);
    }
    let mut joins = String::from(extra_join);
    // For a GROUP BY: whether this level aggregates, and the non-aggregated expressions.
    let mut aggregating = !shape.hoisting && has_aggregates(&shape.select);
    let mut group_exprs: Vec<String> = Vec::new();
    // Embedded values are json, passed through as PostgreSQL aggregated them. A level whose
    // columns are grouped (here or, when it hands aggregates up, by its parent) needs jsonb:
    // json has no equality for GROUP BY. (PostgREST converts every embed to jsonb; that
    // conversion costs a third of the throughput of an embedding read.)
    let grouped = has_aggregates(&shape.select) || shape.hoisting || shape.embeds.iter().any(|e| !e.hoisted.is_empty());
    let embed_type = if grouped { "::jsonb" } else { "" };
    // alias → (lateral alias, to-one)
    let mut laterals: Vec<(String, String, bool)> = Vec::new();
    let mut filtering_joins = String::from(extra_join);
    // Counting: alias → the embed's rows as an EXISTS test.
    let mut exists: Vec<(String, String)> = Vec::new();
    let mut where_conds = conds;
    for e in &shape.embeds {
        let filtered = shape.embed_filters.iter().any(|(a, _)| *a == e.alias)
            || shape.logic.iter().any(|t| tests_embed(t, &e.alias));
        if counting && !e.inner && !filtered {
            continue;
        }
        let joins_before = joins.len();
        *n += 1;
        let lat = format!("pgrst_{n}");
        let t_alias = ident(&format!("{}_{n}", e.target.name));
        let rel = &e.relationship;
        let (inner_join, link) = match &rel.junction {
            None => (
                String::new(),
                rel.columns
                    .iter()
                    .map(|(s, t)| format!("{t_alias}.{} = {alias}.{}", ident(t), ident(s)))
                    .collect::<Vec<_>>(),
            ),
            Some(j) => {
                let ja = ident(&format!("{}_{n}", j.name));
                let on: Vec<String> = j
                    .target_columns
                    .iter()
                    .map(|(jc, tc)| format!("{ja}.{} = {t_alias}.{}", ident(jc), ident(tc)))
                    .collect();
                (
                    format!(" JOIN {}.{} AS {ja} ON {}", ident(&j.schema), ident(&j.name), on.join(" AND ")),
                    j.source_columns
                        .iter()
                        .map(|(jc, sc)| format!("{ja}.{} = {alias}.{}", ident(jc), ident(sc)))
                        .collect(),
                )
            }
        };
        let target = match &rel.function {
            // A computed relationship: the function's rows for the parent row.
            Some((schema, name)) => format!(
                "{}.{}({alias}::{}.{}) AS {t_alias}",
                ident(schema),
                ident(name),
                ident(&rel.source.0),
                ident(&rel.source.1)
            ),
            None => format!("{}.{} AS {t_alias}", ident(&e.target.schema), ident(&e.target.name)),
        };
        let inner = parts_in(sql, n, &target, &t_alias, &e.shape, &inner_join, link, counting)?.query();
        if counting {
            let test = format!("EXISTS ({inner})");
            if e.inner {
                where_conds.push(test.clone());
            }
            exists.push((e.alias.clone(), test));
            continue;
        }
        let kind = if e.inner { "INNER" } else { "LEFT" };
        let to_one = rel.cardinality.to_one();
        if to_one {
            joins.push_str(&format!(" {kind} JOIN LATERAL ({inner}) AS {lat} ON TRUE"));
            if e.hidden {
            } else if e.spread {
                // Hoisted aggregates are applied here (unless this level hands them up too);
                // the spread's other columns then join the GROUP BY.
                let aggregate_here = !e.hoisted.is_empty() && !shape.hoisting;
                for c in &e.spread_columns {
                    let col = format!("{lat}.{}", ident(c));
                    match e.hoisted.iter().find(|h| &h.name == c).filter(|_| aggregate_here) {
                        Some(h) => {
                            let mut expr = format!("pg_catalog.{}({col})", h.function);
                            if let Some(cast) = &h.cast {
                                expr = format!("CAST({expr} AS {cast})");
                            }
                            cols.push(format!("{expr} AS {}", ident(c)));
                        }
                        None => {
                            cols.push(format!("{col} AS {}", ident(c)));
                            group_exprs.push(col);
                        }
                    }
                }
                aggregating |= aggregate_here;
            } else {
                let expr = format!("row_to_json({lat}.*){embed_type}");
                cols.push(format!("{expr} AS {}", ident(&e.alias)));
                group_exprs.push(expr);
            }
        } else {
            let on = if e.inner { format!("{lat}.pgrst_agg IS NOT NULL") } else { "TRUE".into() };
            if e.hidden {
                joins.push_str(&format!(
                    " {kind} JOIN LATERAL (SELECT json_agg(1) AS pgrst_agg FROM ({inner}) AS {lat}_t) AS {lat} ON {on}"
                ));
            } else if e.spread {
                // A to-many spread: each of the embed's columns becomes an array of its values.
                let aggs: Vec<String> = e
                    .spread_columns
                    .iter()
                    .map(|c| format!("json_agg({lat}_t.{c}) AS {c}", c = ident(c)))
                    .chain(std::iter::once("json_agg(1) AS pgrst_agg".to_string()))
                    .collect();
                joins.push_str(&format!(
                    " {kind} JOIN LATERAL (SELECT {} FROM ({inner}) AS {lat}_t) AS {lat} ON {on}",
                    aggs.join(", ")
                ));
                cols.extend(e.spread_columns.iter().map(|c| format!("coalesce({lat}.{c}, '[]') AS {c}", c = ident(c))));
            } else {
                joins.push_str(&format!(
                    " {kind} JOIN LATERAL (SELECT json_agg({lat}_t) AS pgrst_agg FROM ({inner}) AS {lat}_t) AS {lat} ON {on}"
                ));
                let expr = format!("coalesce({lat}.pgrst_agg{embed_type}, '[]')");
                cols.push(format!("{expr} AS {}", ident(&e.alias)));
                group_exprs.push(expr);
            }
        }
        if e.inner || filtered {
            // Joins that can drop parent rows count for the total too; the others do not.
            filtering_joins.push_str(&joins[joins_before..]);
        }
        laterals.push((e.alias.clone(), lat, to_one));
    }
    let at = At { alias, info: &shape.columns };
    let tests = EmbedTests { laterals: &laterals, exists: &exists };
    for f in &shape.filters {
        where_conds.push(filter_expr(sql, at, f));
    }
    for tree in &shape.logic {
        where_conds.push(logic_expr(sql, at, tree, tests));
    }
    for (embed, not_null) in &shape.embed_filters {
        if let Some(expr) = tests.test(embed, *not_null) {
            where_conds.push(expr);
        }
    }
    let where_ = if where_conds.is_empty() { String::new() } else { format!(" WHERE {}", where_conds.join(" AND ")) };
    let order = if counting { String::new() } else { order_clause(sql, alias, shape, &laterals)? };
    Ok(Parts {
        list: cols.join(", "),
        from: from.to_string(),
        joins,
        filtering_joins,
        where_,
        group: if aggregating && !counting { group_by(alias, &shape.select, &group_exprs) } else { String::new() },
        order,
        limit: limit_clause(sql, shape),
    })
}

fn has_aggregates(items: &[SelectItem]) -> bool {
    items.iter().any(|i| matches!(i, SelectItem::Count { .. } | SelectItem::Field { aggregate: Some(_), .. }))
}

/// The select list. `hoisting`: aggregated columns are selected raw under their output name,
/// for the parent to aggregate (a to-one spread's aggregates).
fn select_list(sql: &mut Sql, at: At, items: &[SelectItem], hoisting: bool) -> Result<String, Error> {
    if items.is_empty() {
        return Ok(star(at));
    }
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::Star => out.push(star(at)),
            SelectItem::Field { field, alias: as_, cast, aggregate, aggregate_cast } => {
                let mut expr = field_expr(sql, at, field);
                if field.json_path.is_empty() && aggregate.is_none() {
                    // A domain representation formats the value (before any cast of the request).
                    if let Some(f) = at.info.output_function(&field.name) {
                        expr = format!("{}({expr})", function_name(f));
                    }
                }
                if let Some(c) = cast {
                    expr = format!("CAST({expr} AS {c})");
                }
                if let (Some(agg), true) = (aggregate, hoisting) {
                    let name = as_.clone().unwrap_or_else(|| agg.function().to_string());
                    out.push(format!("{expr} AS {}", ident(&name)));
                    continue;
                }
                if let Some(agg) = aggregate {
                    let f = agg.function();
                    expr = format!("pg_catalog.{f}({expr})");
                    if let Some(c) = aggregate_cast {
                        expr = format!("CAST({expr} AS {c})");
                    }
                    let name = as_.clone().unwrap_or_else(|| f.to_string());
                    out.push(format!("{expr} AS {}", ident(&name)));
                    continue;
                }
                let name = as_.clone().unwrap_or_else(|| field.output_name());
                out.push(format!("{expr} AS {}", ident(&name)));
            }
            SelectItem::Count { alias: as_, cast: _ } if hoisting => {
                out.push(format!("1 AS {}", ident(as_.as_deref().unwrap_or("count"))));
            }
            SelectItem::Count { alias: as_, cast } => {
                let mut expr = "pg_catalog.count(*)".to_string();
                if let Some(c) = cast {
                    expr = format!("CAST({expr} AS {c})");
                }
                out.push(format!("{expr} AS {}", ident(as_.as_deref().unwrap_or("count"))));
            }
            SelectItem::Embed { .. } => {
                return Err(Error::NotImplemented("tusk does not support resource embedding yet".into()))
            }
        }
    }
    Ok(out.join(", "))
}

/// `*`: every column, each formatted by its domain representation when it has one.
fn star(at: At) -> String {
    let alias = at.alias;
    if at.info.star.is_empty() || at.info.output == RepOutput::None {
        return format!("{alias}.*");
    }
    let cols: Vec<String> = at
        .info
        .star
        .iter()
        .map(|c| match at.info.output_function(c) {
            Some(f) => format!("{}({alias}.{col}) AS {col}", function_name(f), col = ident(c)),
            None => format!("{alias}.{}", ident(c)),
        })
        .collect();
    cols.join(", ")
}

/// With aggregates, the plain columns (and the other columns of spreads and embeds) form
/// the GROUP BY.
fn group_by(alias: &str, items: &[SelectItem], extra: &[String]) -> String {
    let mut cols: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            SelectItem::Field { field, aggregate: None, .. } if field.json_path.is_empty() => {
                Some(format!("{alias}.{}", ident(&field.name)))
            }
            _ => None,
        })
        .collect();
    cols.extend(extra.iter().cloned());
    if cols.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", cols.join(", "))
    }
}

fn where_clause(sql: &mut Sql, alias: &str, shape: &Shape) -> Result<String, Error> {
    let at = At { alias, info: &shape.columns };
    let mut conds = Vec::new();
    for f in &shape.filters {
        conds.push(filter_expr(sql, at, f));
    }
    for tree in &shape.logic {
        conds.push(logic_expr(sql, at, tree, EmbedTests::NONE));
    }
    Ok(if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) })
}

/// The embeds of a level that `embed=is.null` / `embed=not.is.null` can test for rows: joined
/// laterals (alias, lateral alias, to-one), or (counting) EXISTS tests.
#[derive(Clone, Copy)]
struct EmbedTests<'a> {
    laterals: &'a [(String, String, bool)],
    exists: &'a [(String, String)],
}

impl EmbedTests<'_> {
    const NONE: EmbedTests<'static> = EmbedTests { laterals: &[], exists: &[] };

    /// Whether `embed` found rows (`not_null`) or none.
    fn test(&self, embed: &str, not_null: bool) -> Option<String> {
        if let Some((_, test)) = self.exists.iter().find(|(a, _)| a == embed) {
            return Some(if not_null { test.clone() } else { format!("NOT {test}") });
        }
        let (_, lat, to_one) = self.laterals.iter().find(|(a, _, _)| a == embed)?;
        let expr = if *to_one { format!("row_to_json({lat}.*)") } else { format!("{lat}.pgrst_agg") };
        Some(format!("{expr} IS {}NULL", if not_null { "NOT " } else { "" }))
    }
}

/// The embed a logic-tree condition tests for rows (`or=(embed.not.is.null,…)`), if any.
fn embed_test(f: &Filter) -> Option<&str> {
    let is_null = matches!(f.operation, Operation::Is(IsValue::Null)) && f.field.json_path.is_empty();
    is_null.then_some(f.field.name.as_str())
}

/// Whether a logic tree tests embed `alias` for rows.
fn tests_embed(tree: &LogicTree, alias: &str) -> bool {
    match tree {
        LogicTree::Stmt(f) => embed_test(f) == Some(alias),
        LogicTree::Expr { children, .. } => children.iter().any(|c| tests_embed(c, alias)),
    }
}

/// `or=(…)`/`and=(…)`; `tests`: the embeds of this level, which `embed.is.null` tests.
fn logic_expr(sql: &mut Sql, at: At, tree: &LogicTree, tests: EmbedTests) -> String {
    match tree {
        LogicTree::Stmt(f) => match embed_test(f).and_then(|e| tests.test(e, f.negated)) {
            Some(expr) => expr,
            None => filter_expr(sql, at, f),
        },
        LogicTree::Expr { negated, or, children } => {
            let parts: Vec<String> = children.iter().map(|c| logic_expr(sql, at, c, tests)).collect();
            let joined = format!("({})", parts.join(if *or { " OR " } else { " AND " }));
            if *negated {
                format!("NOT {joined}")
            } else {
                joined
            }
        }
    }
}

/// Escapes one element of a PostgreSQL array literal.
fn array_element(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn filter_expr(sql: &mut Sql, at: At, f: &Filter) -> String {
    use crate::api_request::CmpOp;
    let col = field_expr(sql, at, &f.field);
    // A domain representation parses the query string's values (text) of comparisons.
    let parser = Some(&f.field)
        .filter(|field| field.json_path.is_empty())
        .and_then(|field| at.info.text_parser(&field.name).map(function_name));
    // The parsed elements of a bound array literal.
    let parsed_array =
        |p: &str, parser: &str| format!("ARRAY(SELECT {parser}(pgrst_v) FROM unnest({p}::text[]) pgrst_v)");
    let expr = match &f.operation {
        Operation::Compare { op, quantifier, value } => {
            let value = match op {
                CmpOp::Like | CmpOp::Ilike => value.replace('*', "%"),
                _ => value.clone(),
            };
            let comparison = matches!(
                op,
                CmpOp::Eq | CmpOp::Neq | CmpOp::Gt | CmpOp::Gte | CmpOp::Lt | CmpOp::Lte | CmpOp::IsDistinct
            );
            let parser = parser.filter(|_| comparison);
            match (quantifier, parser) {
                (None, None) => format!("{col} {} {}", op.sql(), sql.bind(value)),
                (None, Some(parser)) => format!("{col} {} {parser}({}::text)", op.sql(), sql.bind(value)),
                (Some(q), parser) => {
                    let q = if *q == Quantifier::Any { "ANY" } else { "ALL" };
                    let p = sql.bind(value);
                    match parser {
                        Some(parser) => format!("{col} {} {q}({})", op.sql(), parsed_array(&p, &parser)),
                        None => format!("{col} {} {q}({p})", op.sql()),
                    }
                }
            }
        }
        Operation::In(values) => {
            let literal = format!("{{{}}}", values.iter().map(|v| array_element(v)).collect::<Vec<_>>().join(","));
            let p = sql.bind(literal);
            match parser {
                Some(parser) => format!("{col} = ANY({})", parsed_array(&p, &parser)),
                None => format!("{col} = ANY({p})"),
            }
        }
        Operation::Is(v) => {
            let v = match v {
                IsValue::Null => "NULL",
                IsValue::NotNull => "NOT NULL",
                IsValue::True => "TRUE",
                IsValue::False => "FALSE",
                IsValue::Unknown => "UNKNOWN",
            };
            format!("{col} IS {v}")
        }
        Operation::Fts { op, language, value } => {
            // Text and JSON columns are searched through to_tsvector, in the query's language.
            let wrap = at.info.tsvector_wrap.contains(&f.field.name);
            match language {
                Some(lang) => {
                    let l = sql.bind(lang.clone());
                    let v = sql.bind(value.clone());
                    let col = if wrap { format!("to_tsvector({l}::regconfig, {col})") } else { col };
                    format!("{col} @@ {}({l}::regconfig, {v})", op.function())
                }
                None => {
                    let col = if wrap { format!("to_tsvector({col})") } else { col };
                    format!("{col} @@ {}({})", op.function(), sql.bind(value.clone()))
                }
            }
        }
    };
    if f.negated {
        format!("NOT {expr}")
    } else {
        expr
    }
}

fn order_clause(
    sql: &mut Sql,
    alias: &str,
    shape: &Shape,
    laterals: &[(String, String, bool)],
) -> Result<String, Error> {
    if shape.order.is_empty() {
        return Ok(String::new());
    }
    let mut terms = Vec::new();
    for t in &shape.order {
        let mut term = match &t.target {
            OrderTarget::Field(f) => field_expr(sql, At { alias, info: &shape.columns }, f),
            OrderTarget::Related { relation, field } => match laterals.iter().find(|(a, _, _)| a == relation) {
                Some((_, lat, true)) => field_expr(sql, At { alias: lat, info: &NO_INFO }, field),
                Some((_, _, false)) => {
                    return Err(Error::RelatedOrder(
                        relation.clone(),
                        format!(
                            "'{}' and '{relation}' do not form a many-to-one or one-to-one relationship",
                            alias.trim_matches('"')
                        ),
                    ))
                }
                None => return Err(Error::NotEmbedded(relation.clone(), None)),
            },
        };
        match t.descending {
            Some(true) => term.push_str(" DESC"),
            Some(false) => term.push_str(" ASC"),
            None => {}
        }
        match t.nulls_first {
            Some(true) => term.push_str(" NULLS FIRST"),
            Some(false) => term.push_str(" NULLS LAST"),
            None => {}
        }
        terms.push(term);
    }
    Ok(format!(" ORDER BY {}", terms.join(", ")))
}

/// LIMIT is an integer we parsed ourselves, written inline: a bound limit leaves the planner
/// guessing in a generic plan (and picking a scan for 10% of the table where an index serves
/// 20 rows). OFFSET stays bound, so paging through a table reuses one prepared statement.
fn limit_clause(sql: &mut Sql, shape: &Shape) -> String {
    let mut out = String::new();
    if let Some(l) = shape.limit {
        out.push_str(&format!(" LIMIT {l}"));
    }
    if let Some(o) = shape.offset {
        out.push_str(&format!(" OFFSET {}::bigint", sql.bind(o.to_string())));
    }
    out
}

/// A read counts all matching rows only when a count was asked for, as PostgREST does: without
/// one, a page past the end is simply empty.
fn needs_total(plan: &Plan) -> bool {
    // A planned count is the planner's estimate, made by a separate EXPLAIN (see Estimate).
    matches!(plan.count, Some(CountPref::Exact | CountPref::Estimated))
}

#[cfg(test)]
mod tests;
