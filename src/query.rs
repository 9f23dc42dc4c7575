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
    Aggregate, ApiRequest, CountPref, Field, Filter, IsValue, JsonKey, LogicTree, Operation, OrderTarget, Quantifier,
    Resolution, ReturnPref, SelectItem,
};
use crate::auth::AuthResult;
use crate::config::Config;
use crate::error::Error;
use crate::plan::{Action, CallArgs, Media, MutateKind, Plan, Shape};
use crate::schema_cache::ReturnShape;

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
pub fn transaction(
    config: &Config,
    req: &ApiRequest,
    auth: &AuthResult,
    plan: &Plan,
    main: Statement,
) -> Transaction {
    let begin = if plan.tx.read_only {
        "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
    } else {
        "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
    };
    let mut sql = Sql::new();
    let mut search_path = vec![ident(&req.schema)];
    search_path.extend(config.db_extra_search_path.iter().map(|s| ident(s)));
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let cookies: serde_json::Map<String, serde_json::Value> = req
        .cookies
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
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
    sql.push("SELECT ");
    for (i, (name, value)) in settings.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let n = sql.bind(name);
        let v = sql.bind(value);
        sql.push(&format!("set_config({n}, {v}, true)"));
    }
    let pre_request = config.db_pre_request.as_ref().map(|(schema, name)| Statement {
        sql: format!("SELECT {}.{}()", ident(schema), ident(name)),
        params: vec![],
    });
    Transaction { begin, settings: sql.finish(), pre_request, main }
}

// ---------------------------------------------------------------------------------------------
// The main statement

/// Renders the plan's main statement.
pub fn main_statement(plan: &Plan) -> Result<Statement, Error> {
    let mut sql = Sql::new();
    match &plan.action {
        Action::Read { table, shape } => {
            let from = format!("{}.{}", ident(&table.schema), ident(&table.name));
            let alias = ident(&table.name);
            let mut inner = String::from("SELECT ");
            inner.push_str(&select_list(&mut sql, &alias, &shape.select)?);
            inner.push_str(&format!(" FROM {from}"));
            let where_ = where_clause(&mut sql, &alias, shape)?;
            inner.push_str(&where_);
            inner.push_str(&group_by(&alias, &shape.select));
            inner.push_str(&order_clause(&mut sql, &alias, shape)?);
            inner.push_str(&limit_clause(&mut sql, shape));
            let total = match plan.count {
                Some(_) => format!("(SELECT pg_catalog.count(*) FROM {from}{where_})"),
                None => "NULL::bigint".into(),
            };
            wrap(&mut sql, &inner, &total, body_expr(&plan.media, false), "NULL::text");
        }
        Action::Mutate { table, kind, shape, payload, pk } => {
            let target = format!("{}.{}", ident(&table.schema), ident(&table.name));
            let alias = ident(&table.name);
            let mut cte = String::new();
            match kind {
                MutateKind::Insert { columns, on_conflict } => {
                    let body = payload.as_deref().map(json_array_text).unwrap_or_else(|| "[]".into());
                    let p = sql.bind(body);
                    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
                    if cols.is_empty() {
                        cte.push_str(&format!("INSERT INTO {target} DEFAULT VALUES"));
                    } else {
                        cte.push_str(&format!(
                            "INSERT INTO {target} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{target}, {p}::json) pgrst_body",
                            cols = cols.join(", ")
                        ));
                    }
                    if let Some((conflict_cols, resolution)) = on_conflict {
                        let cc: Vec<String> = conflict_cols.iter().map(|c| ident(c)).collect();
                        cte.push_str(&format!(" ON CONFLICT ({}) ", cc.join(", ")));
                        match resolution {
                            Resolution::IgnoreDuplicates => cte.push_str("DO NOTHING"),
                            Resolution::MergeDuplicates if cols.is_empty() => cte.push_str("DO NOTHING"),
                            Resolution::MergeDuplicates => {
                                let sets: Vec<String> = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                                cte.push_str(&format!("DO UPDATE SET {}", sets.join(", ")));
                            }
                        }
                    }
                    cte.push_str(&format!(" RETURNING {target}.*"));
                }
                MutateKind::Update { columns } => {
                    if columns.is_empty() {
                        cte.push_str(&format!("SELECT * FROM {target} WHERE false"));
                    } else {
                        let body = payload.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                        let p = sql.bind(body);
                        let sets: Vec<String> =
                            columns.iter().map(|c| format!("{} = pgrst_body.{}", ident(c), ident(c))).collect();
                        cte.push_str(&format!(
                            "UPDATE {target} SET {} FROM (SELECT * FROM json_populate_record(NULL::{target}, {p}::json)) pgrst_body",
                            sets.join(", ")
                        ));
                        cte.push_str(&where_clause(&mut sql, &alias, shape)?);
                        cte.push_str(&format!(" RETURNING {target}.*"));
                    }
                }
                MutateKind::Delete => {
                    cte.push_str(&format!("DELETE FROM {target}"));
                    cte.push_str(&where_clause(&mut sql, &alias, shape)?);
                    cte.push_str(&format!(" RETURNING {target}.*"));
                }
            }
            let select = select_list(&mut sql, &alias, &shape.select)?;
            let location = if plan.return_ == ReturnPref::HeadersOnly && !pk.is_empty() {
                let cols: Vec<String> = pk.iter().map(|c| ident(c)).collect();
                format!("(SELECT row_to_json(pgrst_pk)::text FROM (SELECT {} FROM pgrst_source LIMIT 1) pgrst_pk)", cols.join(", "))
            } else {
                "NULL::text".into()
            };
            let body = if plan.return_ == ReturnPref::Representation {
                body_expr(&plan.media, false)
            } else {
                "''".into()
            };
            let inner = format!("SELECT {select} FROM pgrst_source {alias}");
            let total = match plan.count {
                Some(_) => "(SELECT pg_catalog.count(*) FROM pgrst_source)".to_string(),
                None => "NULL::bigint".to_string(),
            };
            sql.push(&format!("WITH pgrst_source AS ({cte}) "));
            push_outer(&mut sql, &inner, &total, &body, &location);
        }
        Action::Call { routine, args, shape } => {
            let func = format!("{}.{}", ident(&routine.schema), ident(&routine.name));
            let (arg_list, from_args) = match args {
                CallArgs::None => (String::new(), String::new()),
                CallArgs::Single { value, type_ } => {
                    let p = sql.bind(String::from_utf8_lossy(value).into_owned());
                    (format!("{p}::{type_}"), String::new())
                }
                CallArgs::Named { json, params } => {
                    let p = sql.bind(json.clone());
                    let defs: Vec<String> = params.iter().map(|(n, t)| format!("{} {}", ident(n), t)).collect();
                    let call_args: Vec<String> = params
                        .iter()
                        .map(|(n, _)| {
                            let variadic = routine.params.iter().any(|rp| &rp.name == n && rp.variadic);
                            format!("{}{} := pgrst_args.{}", if variadic { "VARIADIC " } else { "" }, ident(n), ident(n))
                        })
                        .collect();
                    (call_args.join(", "), format!(" FROM json_to_record({p}::json) AS pgrst_args({})", defs.join(", ")))
                }
            };
            let call = format!("{func}({arg_list})");
            let alias = "pgrst_call";
            let scalar = matches!(routine.shape, ReturnShape::Scalar);
            let source = match (&routine.shape, routine.returns_set) {
                (ReturnShape::Void, _) => format!("SELECT {call}{from_args}"),
                (ReturnShape::Scalar, false) => format!("SELECT {call} AS pgrst_scalar{from_args}"),
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
            let mut inner = String::from("SELECT ");
            if scalar || matches!(routine.shape, ReturnShape::Void) {
                inner.push_str("pgrst_call.*");
            } else {
                inner.push_str(&select_list(&mut sql, alias, &shape.select)?);
            }
            inner.push_str(&format!(" FROM pgrst_source {alias}"));
            let where_ = where_clause(&mut sql, alias, shape)?;
            inner.push_str(&where_);
            inner.push_str(&order_clause(&mut sql, alias, shape)?);
            inner.push_str(&limit_clause(&mut sql, shape));
            let body = match (&plan.media, &routine.shape, routine.returns_set) {
                (_, ReturnShape::Void, _) => "''".to_string(),
                (Media::Raw(_), _, _) => {
                    "coalesce(string_agg(_postgrest_t.pgrst_scalar::text, ''), '')".to_string()
                }
                (Media::Json, ReturnShape::Scalar, false) => {
                    "coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')".to_string()
                }
                (Media::Json, ReturnShape::Scalar, true) => {
                    "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text".to_string()
                }
                (Media::Json, ReturnShape::Composite { .. }, false) => {
                    "coalesce((json_agg(_postgrest_t)->0)::text, 'null')".to_string()
                }
                (media, _, _) => body_expr(media, scalar),
            };
            let total = match plan.count {
                Some(_) => format!("(SELECT pg_catalog.count(*) FROM pgrst_source {alias}{where_})"),
                None => "NULL::bigint".into(),
            };
            sql.push(&format!("WITH pgrst_source AS ({source}) "));
            push_outer(&mut sql, &inner, &total, &body, "NULL::text");
        }
        Action::Options { .. } | Action::Root => {
            sql.push("SELECT NULL::bigint AS total_result_set, 0::bigint AS page_total, '' AS body, NULL::text AS response_headers, NULL::text AS response_status, NULL::text AS location");
        }
    }
    Ok(sql.finish())
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
         {location} AS location \
         FROM ({inner}) _postgrest_t"
    ));
}

fn body_expr(media: &Media, scalar: bool) -> String {
    match media {
        Media::Json if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text".into(),
        Media::Json => "coalesce(json_agg(_postgrest_t), '[]')::text".into(),
        Media::SingleObject if scalar => "coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, '')".into(),
        Media::SingleObject => "coalesce((json_agg(_postgrest_t)->0)::text, '')".into(),
        Media::Csv => "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r) AS k FROM \
             (SELECT row_to_json(hh) AS r FROM pgrst_source AS hh LIMIT 1) s) a) || chr(10) || \
             coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')"
            .into(),
        Media::Raw(_) => "coalesce(string_agg(_postgrest_t.pgrst_scalar::text, ''), '')".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces

fn field_expr(sql: &mut Sql, alias: &str, field: &Field) -> String {
    let mut out = format!("{alias}.{}", ident(&field.name));
    for op in &field.json_path {
        let arrow = if op.as_text { "->>" } else { "->" };
        let key = match &op.key {
            JsonKey::Name(n) => format!("{}::text", sql.bind(n.clone())),
            JsonKey::Index(i) => format!("{}::int", sql.bind(i.to_string())),
        };
        out = format!("{out}{arrow}{key}");
    }
    out
}

/// The name a selected field gets in the JSON output.
fn output_name(field: &Field) -> String {
    match field.json_path.last() {
        Some(op) => match &op.key {
            JsonKey::Name(n) => n.clone(),
            JsonKey::Index(_) => field.name.clone(),
        },
        None => field.name.clone(),
    }
}

fn select_list(sql: &mut Sql, alias: &str, items: &[SelectItem]) -> Result<String, Error> {
    if items.is_empty() {
        return Ok(format!("{alias}.*"));
    }
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::Star => out.push(format!("{alias}.*")),
            SelectItem::Field { field, alias: as_, cast, aggregate, aggregate_cast } => {
                let mut expr = field_expr(sql, alias, field);
                if let Some(c) = cast {
                    expr = format!("CAST({expr} AS {c})");
                }
                if let Some(agg) = aggregate {
                    let f = match agg {
                        Aggregate::Count => "count",
                        Aggregate::Sum => "sum",
                        Aggregate::Avg => "avg",
                        Aggregate::Min => "min",
                        Aggregate::Max => "max",
                    };
                    expr = format!("pg_catalog.{f}({expr})");
                    if let Some(c) = aggregate_cast {
                        expr = format!("CAST({expr} AS {c})");
                    }
                    let name = as_.clone().unwrap_or_else(|| f.to_string());
                    out.push(format!("{expr} AS {}", ident(&name)));
                    continue;
                }
                let name = as_.clone().unwrap_or_else(|| output_name(field));
                out.push(format!("{expr} AS {}", ident(&name)));
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

/// With aggregates in the select list, the plain columns form the GROUP BY.
fn group_by(alias: &str, items: &[SelectItem]) -> String {
    let has_agg = items.iter().any(|i| {
        matches!(i, SelectItem::Count { .. } | SelectItem::Field { aggregate: Some(_), .. })
    });
    if !has_agg {
        return String::new();
    }
    let cols: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            SelectItem::Field { field, aggregate: None, .. } if field.json_path.is_empty() => {
                Some(format!("{alias}.{}", ident(&field.name)))
            }
            _ => None,
        })
        .collect();
    if cols.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", cols.join(", "))
    }
}

fn where_clause(sql: &mut Sql, alias: &str, shape: &Shape) -> Result<String, Error> {
    let mut conds = Vec::new();
    for f in &shape.filters {
        conds.push(filter_expr(sql, alias, f));
    }
    for tree in &shape.logic {
        conds.push(logic_expr(sql, alias, tree));
    }
    Ok(if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) })
}

fn logic_expr(sql: &mut Sql, alias: &str, tree: &LogicTree) -> String {
    match tree {
        LogicTree::Stmt(f) => filter_expr(sql, alias, f),
        LogicTree::Expr { negated, or, children } => {
            let parts: Vec<String> = children.iter().map(|c| logic_expr(sql, alias, c)).collect();
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

fn filter_expr(sql: &mut Sql, alias: &str, f: &Filter) -> String {
    let col = field_expr(sql, alias, &f.field);
    let expr = match &f.operation {
        Operation::Compare { op, quantifier, value } => {
            let value = match op {
                crate::api_request::CmpOp::Like | crate::api_request::CmpOp::Ilike => value.replace('*', "%"),
                _ => value.clone(),
            };
            match quantifier {
                None => format!("{col} {} {}", op.sql(), sql.bind(value)),
                Some(q) => {
                    let q = if *q == Quantifier::Any { "ANY" } else { "ALL" };
                    format!("{col} {} {q}({})", op.sql(), sql.bind(value))
                }
            }
        }
        Operation::In(values) => {
            let literal = format!("{{{}}}", values.iter().map(|v| array_element(v)).collect::<Vec<_>>().join(","));
            format!("{col} = ANY({})", sql.bind(literal))
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
        Operation::Fts { op, language, value } => match language {
            Some(lang) => {
                let l = sql.bind(lang.clone());
                let v = sql.bind(value.clone());
                format!("{col} @@ {}({l}::regconfig, {v})", op.function())
            }
            None => format!("{col} @@ {}({})", op.function(), sql.bind(value.clone())),
        },
    };
    if f.negated {
        format!("NOT {expr}")
    } else {
        expr
    }
}

fn order_clause(sql: &mut Sql, alias: &str, shape: &Shape) -> Result<String, Error> {
    if shape.order.is_empty() {
        return Ok(String::new());
    }
    let mut terms = Vec::new();
    for t in &shape.order {
        let field = match &t.target {
            OrderTarget::Field(f) => f,
            OrderTarget::Related { .. } => {
                return Err(Error::NotImplemented("tusk does not support ordering by embedded resources yet".into()))
            }
        };
        let mut term = field_expr(sql, alias, field);
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

fn limit_clause(sql: &mut Sql, shape: &Shape) -> String {
    let mut out = String::new();
    if let Some(l) = shape.limit {
        out.push_str(&format!(" LIMIT {}::bigint", sql.bind(l.to_string())));
    }
    if let Some(o) = shape.offset {
        out.push_str(&format!(" OFFSET {}::bigint", sql.bind(o.to_string())));
    }
    out
}

/// Whether the plan asks for an exact count (planned/estimated are answered exactly for now).
pub fn wants_count(plan: &Plan) -> bool {
    matches!(plan.count, Some(CountPref::Exact | CountPref::Planned | CountPref::Estimated))
}

#[cfg(test)]
mod tests;
