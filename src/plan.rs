//! Planning: an [`ApiRequest`] resolved against the [`SchemaCache`] → a [`Plan`] that says
//! exactly what to run and how to answer.
//!
//! In charge of: finding the table or function (PGRST205, PGRST202/203), choosing the output
//! media type (PGRST107), checking payload columns (PGRST204), splitting function arguments
//! from result filters, and deciding how the transaction ends (read-only, rollback, the
//! post-conditions of `vnd.pgrst.object` and `max-affected`). Produces no SQL and does no I/O.

use crate::api_request::{
    ApiRequest, CountPref, Filter, IsValue, JoinType, LogicTree, Method, Operation, OrderTerm, Payload, Resolution,
    ReturnPref, SelectItem, Target,
};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{Cardinality, DataRep, Relationship, RepFunction, ReturnShape, Routine, SchemaCache, Table};

/// The response's media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Json,
    /// `application/vnd.pgrst.array+json;nulls=stripped`: null-valued keys left out.
    JsonStripNulls,
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    SingleObject,
    SingleObjectStripNulls,
    /// A bytea result sent as bytes with this content type.
    RawBinary(String),
    /// Rows rendered by a media-type handler aggregate (`function`), cast to `row_type` when
    /// the aggregate takes a relation's rows.
    Handler {
        function: (String, String),
        media: String,
        /// The handler's result type (the media-type domain's base type).
        base: String,
        row_type: Option<(String, String)>,
    },
    /// `application/geo+json`: a GeoJSON FeatureCollection (PostGIS's ST_AsGeoJSON).
    GeoJson,
    Csv,
    /// The scalar result sent as-is with this content type (raw-media-types, or a function
    /// returning a domain named after a media type, or `text/plain`).
    Raw(String),
}

impl Media {
    pub fn content_type(&self) -> String {
        match self {
            Media::Json => "application/json; charset=utf-8".into(),
            Media::JsonStripNulls => "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8".into(),
            Media::SingleObject => "application/vnd.pgrst.object+json; charset=utf-8".into(),
            Media::SingleObjectStripNulls => "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8".into(),
            Media::Csv => "text/csv; charset=utf-8".into(),
            Media::GeoJson => "application/geo+json; charset=utf-8".into(),
            Media::Raw(m) if m == "application/openapi+json" => format!("{m}; charset=utf-8"),
            Media::Raw(m) | Media::RawBinary(m) => m.clone(),
            Media::Handler { media, .. } => {
                let known = matches!(
                    media.as_str(),
                    "text/plain" | "text/xml" | "text/csv" | "application/json" | "application/geo+json"
                );
                if known {
                    format!("{media}; charset=utf-8")
                } else {
                    media.clone()
                }
            }
        }
    }
}

/// The rows a read or a mutation's representation selects and how they are filtered.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Columns, casts, JSON paths, aggregates: everything but embeds.
    pub select: Vec<SelectItem>,
    pub embeds: Vec<Embed>,
    /// `embed=is.null` (false) / `embed=not.is.null` (true) filters on embeds, by alias.
    pub embed_filters: Vec<(String, bool)>,
    /// Inside a to-one spread whose aggregates the parent applies: select the aggregated
    /// columns raw, do not group.
    pub hoisting: bool,
    pub columns: ColumnInfo,
    pub filters: Vec<Filter>,
    pub logic: Vec<LogicTree>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// What the plan found out about the columns a request mentions, for rendering them.
#[derive(Debug, Clone, Default)]
pub struct ColumnInfo {
    /// Columns used with JSON operators that are not json/jsonb (arrays, composites).
    pub json_wrap: Vec<String>,
    /// Columns full-text searched that are not tsvector (text, json).
    pub tsvector_wrap: Vec<String>,
    /// Computed columns: (name, schema of the function and of the table, the table).
    pub computed: Vec<(String, String, String)>,
    /// The domain representations of the relation's columns (PostgREST's data
    /// representations), by column name.
    pub reps: Vec<(String, DataRep)>,
    /// The relation's columns, when one of them is formatted for output: `*` names them.
    pub star: Vec<String>,
    /// Which representation formats output columns; set once the media type is known.
    pub output: RepOutput,
}

/// How selected columns with a domain representation are formatted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepOutput {
    /// As they are (media-type handlers, raw bodies).
    #[default]
    None,
    /// Through the domain's cast to json (JSON responses).
    Json,
    /// Through the domain's cast to text (CSV).
    Text,
}

impl ColumnInfo {
    fn rep(&self, column: &str) -> Option<&DataRep> {
        self.reps.iter().find(|(c, _)| c == column).map(|(_, r)| r)
    }

    /// The function formatting `column` in the response, if its domain has one for the media.
    pub fn output_function(&self, column: &str) -> Option<&RepFunction> {
        let rep = self.rep(column)?;
        match self.output {
            RepOutput::None => None,
            RepOutput::Json => rep.to_json.as_ref(),
            RepOutput::Text => rep.to_text.as_ref(),
        }
    }

    /// The function parsing a query-string filter value for `column` (a cast from text).
    pub fn text_parser(&self, column: &str) -> Option<&RepFunction> {
        self.rep(column)?.from_text.as_ref()
    }
}

/// How a mutation reads its body when some column's domain parses JSON itself (a cast from
/// json): the written ones take `function(value)`, and the record populated from the body
/// leaves out `skip` (those columns and the table's columns not written, so their keys are
/// ignored rather than parsed).
#[derive(Debug, Clone, Default)]
pub struct BodyParse {
    pub functions: Vec<(String, RepFunction)>,
    pub skip: Vec<String>,
}

impl BodyParse {
    /// Whether the body is read this way (the table has columns parsing JSON).
    pub fn is_active(&self) -> bool {
        !self.functions.is_empty() || !self.skip.is_empty()
    }
}

/// An aggregate of a to-one spread, applied by the parent to the spread's column `name`.
#[derive(Debug, Clone)]
pub struct Hoisted {
    pub name: String,
    /// `count`, `sum`, `avg`, `min` or `max`.
    pub function: &'static str,
    pub cast: Option<String>,
}

/// A resource embedded through a relationship (`select=*,clients(*)`).
#[derive(Debug, Clone)]
pub struct Embed {
    /// The key it appears under (the alias, else the name used in `select`).
    pub alias: String,
    pub relationship: Relationship,
    /// `!inner`: parent rows without a match are dropped.
    pub inner: bool,
    /// `...name(cols)`: the embed's columns are merged into the parent.
    pub spread: bool,
    /// `name()`: embedded only to filter the parent (`!inner`, `name=not.is.null`), not shown.
    pub hidden: bool,
    /// For a spread: the columns it brings (of a to-many embed, each becomes an array).
    pub spread_columns: Vec<String>,
    /// For a to-one spread: its aggregates, computed at the parent's level (PostgREST hoists
    /// them there, grouped by the parent's other columns).
    pub hoisted: Vec<Hoisted>,
    pub target: QualifiedTable,
    pub shape: Shape,
}

#[derive(Debug, Clone)]
pub enum MutateKind {
    Insert {
        columns: Vec<String>,
        /// `ON CONFLICT (cols) DO UPDATE/NOTHING`.
        on_conflict: Option<(Vec<String>, Resolution)>,
    },
    Update {
        columns: Vec<String>,
    },
    Delete,
}

#[derive(Debug, Clone)]
pub enum CallArgs {
    /// Named arguments from a JSON object (body or query string), typed by the signature.
    Named {
        json: String,
        params: Vec<(String, String)>,
    },
    /// The whole body as the single unnamed parameter, of this type.
    Single {
        value: Vec<u8>,
        type_: String,
    },
    None,
}

#[derive(Debug, Clone)]
pub enum Action {
    Read {
        table: QualifiedTable,
        shape: Shape,
    },
    Mutate {
        table: QualifiedTable,
        kind: MutateKind,
        shape: Shape,
        payload: Option<Vec<u8>>,
        pk: Vec<String>,
        /// `Prefer: missing=default`: each written column with its default expression (from the
        /// catalog); a column missing from a row gets its default instead of NULL.
        defaults: Vec<(String, Option<String>)>,
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

#[derive(Debug, Clone)]
pub struct QualifiedTable {
    pub schema: String,
    pub name: String,
}

/// An EXPLAIN request: its output format, the media type explained and EXPLAIN's options.
#[derive(Debug, Clone)]
pub struct Explain {
    pub json: bool,
    pub for_media: String,
    pub options: Vec<String>,
}

impl Explain {
    pub fn content_type(&self) -> String {
        let mut ct = format!(
            "application/vnd.pgrst.plan+{}; for=\"{}\"",
            if self.json { "json" } else { "text" },
            self.for_media
        );
        if !self.options.is_empty() {
            ct.push_str(&format!("; options={}", self.options.join("|")));
        }
        ct.push_str("; charset=utf-8");
        ct
    }
}

/// How the transaction ends, and the checks to make before it does.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxPlan {
    pub read_only: bool,
    pub rollback: bool,
    /// `vnd.pgrst.object`: roll back (406) unless exactly one row.
    pub require_single: bool,
    pub max_affected: Option<i64>,
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
    };
    let mut applied: Vec<String> = Vec::new();
    if let (true, Some(commit)) = (config.db_tx_end.allow_override, prefs.tx_commit) {
        tx.rollback = !commit;
        applied.push(if commit { "tx=commit" } else { "tx=rollback" }.into());
    }

    let return_ = prefs.return_.unwrap_or(ReturnPref::Minimal);
    let action = match (&req.target, req.method) {
        (Target::Root, Method::Get | Method::Head) if config.openapi_mode == crate::config::OpenApiMode::Disabled => {
            return Err(Error::RootDisabled)
        }
        (Target::Root, Method::Get | Method::Head) => match &config.db_root_spec {
            Some(function) => plan_call(config, req, cache, function, &mut tx)?,
            None => Action::Root,
        },
        (Target::Root, Method::Options) => Action::Options { allow: "OPTIONS,GET,HEAD".into() },
        (Target::Root, _) => return Err(Error::InvalidPath),
        (Target::Relation(name), method) => {
            let table = find_table(cache, &req.schema, name)?;
            let qualified = QualifiedTable { schema: table.schema.clone(), name: table.name.clone() };
            match method {
                Method::Options => {
                    let mut allow = vec!["OPTIONS", "GET", "HEAD"];
                    if table.insertable {
                        allow.push("POST");
                    }
                    if table.insertable && table.updatable && !table.pk.is_empty() {
                        allow.push("PUT");
                    }
                    if table.updatable {
                        allow.push("PATCH");
                    }
                    if table.deletable {
                        allow.push("DELETE");
                    }
                    Action::Options { allow: allow.join(",") }
                }
                Method::Get | Method::Head => {
                    let shape = root_shape(config, cache, req, Some((&table.schema, &table.name)))?;
                    Action::Read { table: qualified, shape }
                }
                Method::Post | Method::Patch | Method::Put | Method::Delete => {
                    let shape = root_shape(config, cache, req, Some((&table.schema, &table.name)))?;
                    plan_mutation(req, table, qualified, shape, &mut applied)?
                }
            }
        }
        (Target::Routine(name), method) => {
            if method == Method::Options {
                // Volatile functions can only be POSTed (GET runs read-only).
                let volatile = cache.routines(&req.schema, name).iter().all(|r| r.volatility == 'v');
                Action::Options { allow: if volatile { "OPTIONS,POST".into() } else { "OPTIONS,GET,HEAD,POST".into() } }
            } else {
                plan_call(config, req, cache, name, &mut tx)?
            }
        }
    };
    let (media, explain) = if req.target == Target::Root && config.db_root_spec.is_some() {
        // db-root-spec: the function's JSON answers as the OpenAPI document would.
        let root = Action::Root;
        negotiate(config, cache, req, &root)?
    } else {
        negotiate(config, cache, req, &action)?
    };
    let mut action = action;
    set_rep_output(&mut action, &media);
    if explain.is_some() {
        // An explained statement may run (ANALYZE): never keep its effects.
        tx.rollback = true;
    }
    if matches!(media, Media::SingleObject | Media::SingleObjectStripNulls) {
        tx.require_single = true;
    }
    if matches!(action, Action::Mutate { .. }) {
        if let Some(r) = prefs.return_ {
            applied.push(
                match r {
                    ReturnPref::Minimal => "return=minimal",
                    ReturnPref::HeadersOnly => "return=headers-only",
                    ReturnPref::Representation => "return=representation",
                }
                .into(),
            );
        }
    }
    if let Some(c) = prefs.count {
        applied.push(
            match c {
                CountPref::Exact => "count=exact",
                CountPref::Planned => "count=planned",
                CountPref::Estimated => "count=estimated",
            }
            .into(),
        );
    }
    if let Some(n) = tx.max_affected {
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

/// Domain representations format JSON responses through casts to json and CSV through casts to
/// text; other media (handlers, raw bodies) get the columns as they are.
fn set_rep_output(action: &mut Action, media: &Media) {
    fn set(shape: &mut Shape, output: RepOutput) {
        shape.columns.output = output;
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

/// The top-level shape of a read (or of a mutation's / function's returned rows): the select
/// list with its embeds resolved, filters, order and the page (limit/offset, `Range`,
/// `db-max-rows`).
fn root_shape(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    table: Option<(&str, &str)>,
) -> Result<Shape, Error> {
    let q = &req.query;
    let (mut limit, mut offset) = q.root_limit();
    if limit.is_some_and(|l| l < 0) {
        return Err(Error::InvalidRange(Some("Limit should be greater than or equal to zero.".into()), None));
    }
    // A negative offset is ignored, as in PostgREST.
    offset = offset.filter(|o| *o > 0);
    // The Range header applies to GET only (RFC 9110; PostgREST ignores it on HEAD too).
    let range = req.range.filter(|_| req.method == Method::Get);
    if let Some((from, to)) = range {
        if to.is_some_and(|t| t < from) {
            return Err(Error::InvalidRange(
                Some(
                    "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into(),
                ),
                None,
            ));
        }
        // The rows both the Range header and limit/offset ask for.
        let start = offset.unwrap_or(0).max(from);
        let end = match (limit.map(|l| offset.unwrap_or(0) + l - 1), to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        offset = Some(start).filter(|o| *o > 0);
        limit = end.map(|e| (e - start + 1).max(0));
    }
    if let Some(max) = config.db_max_rows {
        limit = Some(limit.map_or(max, |l| l.min(max)));
    }
    if !config.db_aggregates_enabled && uses_aggregates(&q.select) {
        return Err(Error::AggregatesDisabled);
    }
    let mut shape = build_shape(config, cache, req, table, &q.select, &[])?;
    shape.limit = limit;
    shape.offset = offset;
    // Every embed path mentioned by a filter, order or limit must be an embed of the request.
    let paths = q
        .filters
        .iter()
        .map(|(p, _)| p)
        .chain(q.logic.iter().map(|(p, _)| p))
        .chain(q.order.iter().map(|(p, _)| p))
        .chain(q.limits.iter().map(|(p, _, _)| p));
    for path in paths {
        check_embed_path(&shape, path, &q.select)?;
    }
    Ok(shape)
}

fn uses_aggregates(items: &[SelectItem]) -> bool {
    items.iter().any(|i| match i {
        SelectItem::Count { .. } | SelectItem::Field { aggregate: Some(_), .. } => true,
        SelectItem::Embed { select, .. } => uses_aggregates(select),
        _ => false,
    })
}

fn check_embed_path(shape: &Shape, path: &[String], select: &[SelectItem]) -> Result<(), Error> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if let Some(e) = shape.embeds.iter().find(|e| &e.alias == first) {
        let inner = select
            .iter()
            .find_map(|i| match i {
                SelectItem::Embed { name, alias, select, .. } if alias.as_ref().unwrap_or(name) == first => {
                    Some(select.as_slice())
                }
                _ => None,
            })
            .unwrap_or(&[]);
        return check_embed_path(&e.shape, rest, inner);
    }
    // Using the table name of an aliased embed gets a more specific hint.
    let aliased = select.iter().find_map(|i| match i {
        SelectItem::Embed { name, alias: Some(a), .. } if name == first => Some(a.clone()),
        _ => None,
    });
    Err(Error::NotEmbedded(first.clone(), aliased))
}

/// Splits a select list into plain items and embeds, resolving each embed's relationship and
/// taking the filters, order and page given for its path.
fn build_shape(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    table: Option<(&str, &str)>,
    items: &[SelectItem],
    path: &[String],
) -> Result<Shape, Error> {
    let q = &req.query;
    let at = |p: &Vec<String>| p.as_slice() == path;
    let mut shape = Shape {
        select: Vec::new(),
        embeds: Vec::new(),
        embed_filters: Vec::new(),
        hoisting: false,
        columns: ColumnInfo::default(),
        filters: Vec::new(),
        logic: q.logic.iter().filter(|(p, _)| at(p)).map(|(_, l)| l.clone()).collect(),
        order: q.order.iter().filter(|(p, _)| at(p)).flat_map(|(_, o)| o.clone()).collect(),
        limit: None,
        offset: None,
    };
    if !path.is_empty() {
        if let Some((_, l, o)) = q.limits.iter().find(|(p, _, _)| at(p)) {
            shape.limit = *l;
            shape.offset = *o;
        }
        // db-max-rows bounds embedded resources too.
        if let Some(max) = config.db_max_rows {
            shape.limit = Some(shape.limit.map_or(max, |l| l.min(max)));
        }
    }
    for item in items {
        match item {
            SelectItem::Embed { name, alias, hint, join, spread, select } => {
                let Some((schema, source)) = table else {
                    return Err(Error::NoRelationship {
                        parent: String::new(),
                        child: name.clone(),
                        schema: req.schema.clone(),
                        hint: hint.clone(),
                        suggestion: None,
                    });
                };
                let rel = find_relationship(cache, schema, source, name, hint.as_deref())?;
                let out_name = alias.clone().unwrap_or_else(|| name.clone());
                let mut sub_path = path.to_vec();
                sub_path.push(out_name.clone());
                let target = (rel.target.0.clone(), rel.target.1.clone());
                let mut inner = build_shape(config, cache, req, Some((&target.0, &target.1)), select, &sub_path)?;
                let hoisted = if *spread && rel.cardinality.to_one() { hoisted_aggregates(&inner) } else { vec![] };
                inner.hoisting = !hoisted.is_empty();
                if *spread && !rel.cardinality.to_one() && uses_aggregates(select) {
                    return Err(Error::NotImplemented(
                        "Aggregates are not implemented for one-to-many or many-to-many spreads.".into(),
                    ));
                }
                // `rel()`, or only embeds that are hidden themselves.
                let hidden = select.is_empty() || (inner.select.is_empty() && inner.embeds.iter().all(|e| e.hidden));
                let spread_columns =
                    if *spread && !hidden { output_columns(cache, (&target.0, &target.1), &inner) } else { Vec::new() };
                shape.embeds.push(Embed {
                    alias: out_name,
                    relationship: rel,
                    inner: *join == Some(JoinType::Inner),
                    spread: *spread,
                    hidden,
                    spread_columns,
                    hoisted,
                    target: QualifiedTable { schema: target.0, name: target.1 },
                    shape: inner,
                });
            }
            other => shape.select.push(other.clone()),
        }
    }
    if shape.select.is_empty() && !items.is_empty() && shape.embeds.len() == items.len() && path.is_empty() {
        // `select=clients(*)` alone still selects no columns of the parent.
    }
    // Filters at this level; `embed=is.null` / `embed=not.is.null` filter on the embed itself.
    for (p, f) in q.filters.iter().filter(|(p, _)| at(p)) {
        let _ = p;
        let on_embed = f.field.json_path.is_empty()
            && matches!(f.operation, Operation::Is(IsValue::Null))
            && shape.embeds.iter().any(|e| e.alias == f.field.name);
        if on_embed {
            shape.embed_filters.push((f.field.name.clone(), f.negated));
        } else {
            shape.filters.push(f.clone());
        }
    }
    if let Some((schema, name)) = table {
        if let Some(t) = cache.table(schema, name) {
            shape.columns = column_info(cache, t, &shape);
        }
    }
    Ok(shape)
}

/// The aggregates a to-one spread hands up to its parent: its own and those of to-one spreads
/// inside it.
fn hoisted_aggregates(shape: &Shape) -> Vec<Hoisted> {
    let mut out = Vec::new();
    for item in &shape.select {
        match item {
            SelectItem::Field { field: _, alias, aggregate: Some(a), aggregate_cast, .. } => {
                let function = a.function();
                out.push(Hoisted {
                    name: alias.clone().unwrap_or_else(|| function.to_string()),
                    function,
                    cast: aggregate_cast.clone(),
                });
            }
            SelectItem::Count { alias, cast } => out.push(Hoisted {
                name: alias.clone().unwrap_or_else(|| "count".into()),
                function: "count",
                cast: cast.clone(),
            }),
            _ => {}
        }
    }
    for e in &shape.embeds {
        if e.spread && e.relationship.cardinality.to_one() {
            out.extend(e.hoisted.iter().cloned());
        }
    }
    out
}

/// The keys the rows of `shape` have in the JSON output (for spreading them into a parent).
fn output_columns(cache: &SchemaCache, table: (&str, &str), shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    let all = || {
        cache.table(table.0, table.1).map(|t| t.columns.iter().map(|c| c.name.clone()).collect()).unwrap_or_default()
    };
    if shape.select.is_empty() && shape.embeds.is_empty() {
        return all();
    }
    for item in &shape.select {
        match item {
            SelectItem::Star => out.extend(all()),
            SelectItem::Field { field, alias, aggregate, .. } => {
                out.push(alias.clone().unwrap_or_else(|| match aggregate {
                    Some(a) => a.function().to_string(),
                    None => field.output_name(),
                }))
            }
            SelectItem::Count { alias, .. } => out.push(alias.clone().unwrap_or_else(|| "count".into())),
            SelectItem::Embed { .. } => {}
        }
    }
    for e in shape.embeds.iter().filter(|e| !e.hidden) {
        match (e.spread, e.relationship.cardinality.to_one()) {
            (true, true) => out.extend(output_columns(cache, (&e.target.schema, &e.target.name), &e.shape)),
            (true, false) => out.extend(e.spread_columns.iter().cloned()),
            (false, _) => out.push(e.alias.clone()),
        }
    }
    out
}

/// Looks at every column the shape mentions: JSON paths on non-JSON columns, full-text search
/// on non-tsvector columns, and names that are functions of the row (computed columns).
fn column_info(cache: &SchemaCache, table: &Table, shape: &Shape) -> ColumnInfo {
    column_info_by(cache, shape, |name| table.column(name).map(|c| c.base_type()), Some(table))
}

/// [`column_info`] for columns whose types `type_of` knows; `table`, when the rows are a
/// relation's, for its computed columns.
fn column_info_by<'t>(
    cache: &SchemaCache,
    shape: &Shape,
    type_of: impl Fn(&str) -> Option<&'t str>,
    table: Option<&Table>,
) -> ColumnInfo {
    let mut fields: Vec<(&crate::api_request::Field, bool)> = Vec::new();
    for item in &shape.select {
        if let SelectItem::Field { field, .. } = item {
            fields.push((field, false));
        }
    }
    fn from_tree<'a>(t: &'a LogicTree, out: &mut Vec<(&'a crate::api_request::Field, bool)>) {
        match t {
            LogicTree::Stmt(f) => out.push((&f.field, matches!(f.operation, Operation::Fts { .. }))),
            LogicTree::Expr { children, .. } => children.iter().for_each(|c| from_tree(c, out)),
        }
    }
    for f in &shape.filters {
        fields.push((&f.field, matches!(f.operation, Operation::Fts { .. })));
    }
    for t in &shape.logic {
        from_tree(t, &mut fields);
    }
    for o in &shape.order {
        if let crate::api_request::OrderTarget::Field(f) = &o.target {
            fields.push((f, false));
        }
    }
    let mut info = ColumnInfo::default();
    for (field, fts) in fields {
        match type_of(&field.name) {
            Some(ty) => {
                if !field.json_path.is_empty() && ty != "json" && ty != "jsonb" && !info.json_wrap.contains(&field.name)
                {
                    info.json_wrap.push(field.name.clone());
                }
                if fts && ty != "tsvector" && !info.tsvector_wrap.contains(&field.name) {
                    info.tsvector_wrap.push(field.name.clone());
                }
            }
            None => {
                let Some(table) = table else { continue };
                let takes_row = cache.routines(&table.schema, &field.name).iter().any(|r| {
                    r.params.len() == 1
                        && (r.params[0].type_ == table.name
                            || r.params[0].type_ == format!("{}.{}", table.schema, table.name))
                });
                if takes_row && !info.computed.iter().any(|(n, _, _)| *n == field.name) {
                    info.computed.push((field.name.clone(), table.schema.clone(), table.name.clone()));
                }
            }
        }
    }
    if let Some(table) = table {
        info.reps = table.columns.iter().filter_map(|c| Some((c.name.clone(), c.reps.clone()?))).collect();
        if info.reps.iter().any(|(_, r)| r.to_json.is_some() || r.to_text.is_some()) {
            info.star = table.columns.iter().map(|c| c.name.clone()).collect();
        }
    }
    info
}

/// PostgREST's relationship lookup: by target table name (with an optional `!hint` naming
/// the foreign key, a column or the junction table), by foreign key name, or by a column of a
/// single-column foreign key.
fn find_relationship(
    cache: &SchemaCache,
    schema: &str,
    source: &str,
    target: &str,
    hint: Option<&str>,
) -> Result<Relationship, Error> {
    let rels = cache.relationships_from(schema, source);
    // PostgREST's findRel rules.
    let constraint_is = |r: &Relationship, name: &str| r.junction.is_none() && r.constraint == name;
    let single_col = |r: &Relationship, name: &str| r.columns.len() == 1 && r.columns[0].0 == name;
    let single_ref_col = |r: &Relationship, name: &str| r.columns.len() == 1 && r.columns[0].1 == name;
    let junction_is = |r: &Relationship, name: &str| r.junction.as_ref().is_some_and(|j| j.name == name);
    let found: Vec<&Relationship> = rels
        .iter()
        .filter(|r| r.target.0 == schema)
        .filter(|r| {
            if let Some((_, function)) = &r.function {
                // A computed relationship is named by its function.
                return function == target;
            }
            let Some(target_table) = cache.table(&r.target.0, &r.target.1) else { return false };
            let target_is_view = matches!(target_table.kind.as_str(), "v" | "m");
            let is_self = r.source == r.target && r.junction.is_none() && r.function.is_none();
            let m2o = r.cardinality == Cardinality::ManyToOne;
            let o2m = r.cardinality == Cardinality::OneToMany;
            match (is_self, hint) {
                // A self-relationship: the table name picks the one-to-many side, the column the
                // many-to-one side; a hint names the referenced column.
                (true, None) => (r.target.1 == target && o2m) || (single_col(r, target) && m2o),
                (true, Some(h)) => r.target.1 == target && o2m && single_ref_col(r, h),
                (false, None) => {
                    r.target.1 == target
                        || (constraint_is(r, target) && !target_is_view)
                        || (single_col(r, target) && !target_is_view)
                }
                (false, Some(h)) => {
                    r.target.1 == target
                        && (constraint_is(r, h) || single_col(r, h) || single_ref_col(r, h) || junction_is(r, h))
                }
            }
        })
        .collect();
    // A computed relationship overrides foreign-key ones of the same name.
    let found: Vec<&Relationship> = if found.iter().any(|r| r.function.is_some()) {
        found.into_iter().filter(|r| r.function.is_some()).collect()
    } else {
        found
    };
    // A name close to `name` among `names`, with the name it may replace.
    let closest = |names: &mut dyn Iterator<Item = &String>, name: &str, part: usize| {
        crate::schema_cache::closest_name(names, name, part).map(|n| Box::new((n.clone(), name.to_string())))
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NoRelationship {
            parent: source.to_string(),
            child: target.to_string(),
            schema: schema.to_string(),
            hint: hint.map(str::to_string),
            // The closest other table this one does have a relationship with; when it has none,
            // the closest table that has some.
            suggestion: if rels.iter().any(|r| r.target.0 == schema) {
                closest(&mut rels.iter().filter(|r| r.target.0 == schema).map(|r| &r.target.1), target, 2)
            } else {
                let mut parents = cache
                    .relationships
                    .iter()
                    .filter(|((s, _), rels)| s == schema && rels.iter().any(|r| r.target.0 == schema))
                    .map(|((_, n), _)| n);
                closest(&mut parents, source, 4)
            },
        }),
        many => {
            let describe = |r: &Relationship| -> serde_json::Value {
                let relationship = match &r.junction {
                    Some(j) => format!(
                        "{} using {}({}) and {}({})",
                        j.name,
                        j.source_constraint,
                        j.source_columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", "),
                        j.target_constraint,
                        j.target_columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    None => format!(
                        "{} using {}({}) and {}({})",
                        r.constraint,
                        r.source.1,
                        r.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", "),
                        r.target.1,
                        r.columns.iter().map(|c| c.1.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                };
                serde_json::json!({
                    "cardinality": r.cardinality.name(),
                    "relationship": relationship,
                    "embedding": format!("{} with {}", r.source.1, r.target.1),
                })
            };
            let options: Vec<String> = many.iter().map(|r| format!("'{}!{}'", target, r.constraint)).collect();
            Err(Error::AmbiguousRelationship {
                parent: source.to_string(),
                child: target.to_string(),
                details: many.iter().map(|r| describe(r)).collect(),
                hint: format!(
                    "Try changing '{target}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                    options.join(", ")
                ),
            })
        }
    }
}

fn find_table<'a>(cache: &'a SchemaCache, schema: &str, name: &str) -> Result<&'a Table, Error> {
    cache.table(schema, name).ok_or_else(|| {
        Error::NoTable(
            format!("{schema}.{name}"),
            cache.similar_table(schema, name).map(|t| format!("Perhaps you meant the table '{schema}.{t}'")),
        )
    })
}

fn plan_mutation(
    req: &ApiRequest,
    table: &Table,
    qualified: QualifiedTable,
    shape: Shape,
    applied: &mut Vec<String>,
) -> Result<Action, Error> {
    let prefs = &req.preferences;
    let payload = req.payload.as_ref();
    let check_columns = |cols: &[String]| -> Result<(), Error> {
        for c in cols {
            if table.column(c).is_none() {
                return Err(Error::NoColumn { column: c.clone(), table: table.name.clone() });
            }
        }
        Ok(())
    };
    let columns = |payload: Option<&Payload>| -> Result<Vec<String>, Error> {
        let cols: Vec<String> = match &req.query.columns {
            Some(c) => c.clone(),
            None => payload.map(|p| p.keys().to_vec()).unwrap_or_default(),
        };
        check_columns(&cols)?;
        Ok(cols)
    };
    let body = |payload: Option<&Payload>| -> Result<Vec<u8>, Error> {
        let p = payload.ok_or_else(|| Error::InvalidBody("Empty or invalid json".into()))?;
        if matches!(p, Payload::Raw(_)) {
            return Err(Error::MediaType(req.content_type.clone()));
        }
        Ok(p.json_bytes().to_vec())
    };
    let mut put_first = false;
    let kind = match req.method {
        Method::Post => {
            let on_conflict = match prefs.resolution {
                Some(res) => {
                    let cols = req.query.on_conflict.clone().unwrap_or_else(|| table.pk.clone());
                    if cols.is_empty() {
                        // Without a key to conflict on there is no upsert: a plain insert,
                        // and the preference is not reported as applied.
                        None
                    } else {
                        applied.push(
                            match res {
                                Resolution::MergeDuplicates => "resolution=merge-duplicates",
                                Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
                            }
                            .into(),
                        );
                        Some((cols, res))
                    }
                }
                None => None,
            };
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Insert { columns: columns(payload)?, on_conflict }
        }
        Method::Patch => {
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Update { columns: columns(payload)? }
        }
        Method::Put => {
            let (limit, offset) = req.query.root_limit();
            if limit.is_some() || offset.is_some() {
                return Err(Error::PutLimit);
            }
            let mut eq_cols: Vec<&str> = shape
                .filters
                .iter()
                .filter(|f| {
                    !f.negated
                        && f.field.json_path.is_empty()
                        && matches!(
                            f.operation,
                            crate::api_request::Operation::Compare {
                                op: crate::api_request::CmpOp::Eq,
                                quantifier: None,
                                ..
                            }
                        )
                })
                .map(|f| f.field.name.as_str())
                .collect();
            eq_cols.sort_unstable();
            let mut pk: Vec<&str> = table.pk.iter().map(String::as_str).collect();
            pk.sort_unstable();
            if pk.is_empty() || eq_cols != pk || shape.filters.len() != pk.len() || !shape.logic.is_empty() {
                return Err(Error::InvalidPutFilters);
            }
            // The body is one row (an object, or the first of an array) whose key matches the
            // URL's; further rows are ignored, as in PostgREST.
            let row = payload.and_then(|p| serde_json::from_slice::<serde_json::Value>(p.json_bytes()).ok());
            let row = match row {
                Some(serde_json::Value::Array(items)) => items.into_iter().next(),
                Some(v @ serde_json::Value::Object(_)) => Some(v),
                _ => None,
            };
            let matches_url = row.as_ref().and_then(serde_json::Value::as_object).is_some_and(|obj| {
                shape.filters.iter().all(|f| {
                    let url = match &f.operation {
                        crate::api_request::Operation::Compare { value, .. } => value.as_str(),
                        _ => return false,
                    };
                    match obj.get(&f.field.name) {
                        Some(serde_json::Value::String(s)) => s == url,
                        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                            serde_json::from_str::<serde_json::Value>(url).ok().as_ref() == Some(v)
                        }
                        _ => false,
                    }
                })
            });
            if !matches_url {
                return Err(Error::PutMismatch);
            }
            put_first = true;
            MutateKind::Insert {
                columns: columns(payload)?,
                on_conflict: Some((table.pk.clone(), Resolution::MergeDuplicates)),
            }
        }
        Method::Delete => MutateKind::Delete,
        _ => return Err(Error::InvalidPath),
    };
    let payload = match &kind {
        MutateKind::Delete => None,
        _ if put_first => Some(first_element(&body(payload)?)),
        _ => Some(body(payload)?),
    };
    let written = match &kind {
        MutateKind::Insert { columns, .. } | MutateKind::Update { columns } => columns.as_slice(),
        MutateKind::Delete => &[],
    };
    let defaults = if prefs.missing_default {
        written.iter().map(|c| (c.clone(), table.column(c).and_then(|col| col.default.clone()))).collect()
    } else {
        Vec::new()
    };
    let functions: Vec<(String, RepFunction)> =
        written.iter().filter_map(|c| Some((c.clone(), table.column(c)?.reps.as_ref()?.from_json.clone()?))).collect();
    // Body keys of columns with a JSON parser are never read by the record's own input
    // functions, written or not.
    let parses_json = table.columns.iter().any(|c| c.reps.as_ref().is_some_and(|r| r.from_json.is_some()));
    let parse = if !parses_json {
        BodyParse::default()
    } else {
        let skip = table
            .columns
            .iter()
            .map(|c| &c.name)
            .filter(|c| !written.contains(c) || functions.iter().any(|(f, _)| f == *c))
            .cloned()
            .collect();
        BodyParse { functions, skip }
    };
    Ok(Action::Mutate { table: qualified, kind, shape, payload, pk: table.pk.clone(), defaults, parse })
}

/// The text of the first element of a JSON array (as sent: numbers keep their digits), or the
/// body itself when it is not an array.
fn first_element(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(body) {
        Ok(items) => items.first().map(|r| r.get().as_bytes().to_vec()).unwrap_or_else(|| body.to_vec()),
        Err(_) => body.to_vec(),
    }
}

fn plan_call(
    config: &Config,
    req: &ApiRequest,
    cache: &SchemaCache,
    name: &str,
    tx: &mut TxPlan,
) -> Result<Action, Error> {
    // Functions /rpc cannot call (unnamed parameters not taking the body) are unknown here.
    let candidates: Vec<&Routine> = cache.routines(&req.schema, name).iter().filter(|r| r.callable()).collect();
    let read_only = matches!(req.method, Method::Get | Method::Head);
    tx.read_only = read_only;
    let param_names: Vec<&str> = candidates.iter().flat_map(|r| r.params.iter().map(|p| p.name.as_str())).collect();

    // GET: a query parameter is an argument unless it is a filter on the result: the first
    // occurrence of a parameter name is the argument, and a name that is no parameter is an
    // argument only when its value is not a filter (so an unknown argument is reported).
    let mut get_args: Vec<(String, String)> = Vec::new();
    let mut filters: Vec<Filter> = Vec::new();
    for (k, v) in &req.query.params {
        let filter = crate::api_request::parse_filter(k, v);
        let seen = get_args.iter().any(|(a, _)| a == k);
        let is_param = param_names.contains(&k.as_str());
        match (read_only, filter) {
            (true, Ok(f)) if !is_param || seen => filters.push(f),
            (true, Ok(_)) | (true, Err(_)) if is_param || !seen => get_args.push((k.clone(), v.clone())),
            (true, Err(e)) | (false, Err(e)) => return Err(e),
            (_, Ok(f)) => filters.push(f),
        }
    }

    let body_kind = BodyKind::of(req);
    let (arg_names, body_args): (Vec<String>, Option<serde_json::Map<String, serde_json::Value>>) = if read_only {
        let mut names: Vec<String> = Vec::new();
        for (k, _) in &get_args {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        (names, None)
    } else {
        match (&body_kind, &req.payload) {
            (BodyKind::Json | BodyKind::Converted, Some(p)) if !req.preferences.single_object => {
                // An array of objects: the first one's arguments, as PostgREST does.
                let value = serde_json::from_slice::<serde_json::Value>(p.json_bytes()).ok();
                let obj = match value {
                    Some(serde_json::Value::Object(m)) => Some(m),
                    Some(serde_json::Value::Array(mut items)) if !items.is_empty() => match items.swap_remove(0) {
                        serde_json::Value::Object(m) => Some(m),
                        _ => None,
                    },
                    _ => None,
                };
                let mut obj = obj.unwrap_or_default();
                if let Some(cols) = &req.query.columns {
                    obj.retain(|k, _| cols.contains(k));
                }
                (obj.keys().cloned().collect(), Some(obj))
            }
            _ => (vec![], None),
        }
    };
    let routine = choose_routine(req, cache, &candidates, name, &arg_names, &body_kind)?;
    if tx.max_affected.is_some() && !routine.returns_set {
        return Err(Error::MaxAffectedNeedsSet);
    }

    let single_unnamed = routine.params.len() == 1 && routine.params[0].name.is_empty();
    let args = if !read_only && (single_unnamed || (req.preferences.single_object && routine.params.len() == 1)) {
        let body = req.payload.as_ref().map(|p| p.json_bytes().to_vec()).unwrap_or_else(|| b"{}".to_vec());
        CallArgs::Single { value: body, type_: routine.params[0].type_.clone() }
    } else {
        let mut obj = serde_json::Map::new();
        if read_only {
            for (k, v) in &get_args {
                let Some(p) = routine.params.iter().find(|p| &p.name == k) else { continue };
                let repeated = get_args.iter().filter(|(a, _)| a == k).count() > 1;
                if p.variadic || (p.type_.ends_with("[]") && repeated) {
                    // `v=a&v=b` (or any variadic): an array of the values.
                    let entry = obj.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(vec![]));
                    if let serde_json::Value::Array(items) = entry {
                        items.push(serde_json::Value::String(v.clone()));
                    }
                } else {
                    // A single value of an array parameter is an array literal: `{a,b}`.
                    obj.insert(k.clone(), serde_json::Value::String(v.clone()));
                }
            }
        } else if let Some(map) = body_args {
            obj = map;
            // A variadic argument given one value is a one-element array.
            for p in routine.params.iter().filter(|p| p.variadic) {
                if let Some(v) = obj.get_mut(&p.name) {
                    if !v.is_array() {
                        *v = serde_json::Value::Array(vec![v.take()]);
                    }
                }
            }
        }
        let params: Vec<(String, String)> = routine
            .params
            .iter()
            .filter(|p| obj.contains_key(&p.name))
            .map(|p| (p.name.clone(), p.type_.clone()))
            .collect();
        if params.is_empty() {
            CallArgs::None
        } else {
            CallArgs::Named { json: serde_json::Value::Object(obj).to_string(), params }
        }
    };
    let relation = match &routine.shape {
        ReturnShape::Composite { relation: Some((s, t)) } => Some((s.as_str(), t.as_str())),
        _ => None,
    };
    let mut shape = root_shape(config, cache, req, relation)?;
    shape.filters = filters;
    if let Some((s, t)) = relation {
        if let Some(table) = cache.table(s, t) {
            shape.columns = column_info(cache, table, &shape);
        }
    } else if !routine.out_columns.is_empty() {
        // OUT / TABLE parameters: their types are known too.
        let type_of = |name: &str| routine.out_columns.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str());
        shape.columns = column_info_by(cache, &shape, type_of, None);
    }
    Ok(Action::Call { routine: Box::new(routine.clone()), args, shape })
}

/// What a function call's body is, by its content type.
enum BodyKind {
    Json,
    /// CSV or a form, turned into JSON: arguments by name only.
    Converted,
    Text,
    Xml,
    Bytea,
    Other,
}

impl BodyKind {
    fn of(req: &ApiRequest) -> BodyKind {
        match req.content_type.as_str() {
            "application/json" => BodyKind::Json,
            "application/x-www-form-urlencoded" | "text/csv" => BodyKind::Converted,
            "text/plain" => BodyKind::Text,
            "text/xml" => BodyKind::Xml,
            "application/octet-stream" => BodyKind::Bytea,
            _ => BodyKind::Other,
        }
    }

    /// The types a single unnamed parameter must have to take such a body.
    fn unnamed_types(&self) -> &'static [&'static str] {
        match self {
            BodyKind::Json => &["json", "jsonb"],
            BodyKind::Text => &["text"],
            BodyKind::Xml => &["xml"],
            BodyKind::Bytea => &["bytea"],
            BodyKind::Converted | BodyKind::Other => &[],
        }
    }

    fn unnamed_description(&self) -> &'static str {
        match self {
            BodyKind::Json => "json/jsonb",
            BodyKind::Text => "text",
            BodyKind::Xml => "xml",
            BodyKind::Bytea => "bytea",
            BodyKind::Converted | BodyKind::Other => "",
        }
    }
}

/// PostgREST's overload resolution: a function whose named parameters cover the arguments
/// given (required ones present, no unknown ones), else (for POST) one with a single unnamed
/// parameter of the body's type. Several left: PGRST203 (300); none: PGRST202 (404).
fn choose_routine<'a>(
    req: &ApiRequest,
    cache: &SchemaCache,
    candidates: &[&'a Routine],
    name: &str,
    arg_names: &[String],
    body: &BodyKind,
) -> Result<&'a Routine, Error> {
    let post = req.method == Method::Post;
    let unnamed = |r: &Routine| r.params.len() == 1 && r.params[0].name.is_empty();
    let named_match = |r: &Routine| -> bool {
        if unnamed(r) {
            return false;
        }
        if post && req.preferences.single_object && r.params.len() == 1 {
            return true;
        }
        let known = arg_names.iter().all(|a| r.params.iter().any(|p| &p.name == a));
        let required = r.params.iter().filter(|p| !p.has_default).all(|p| arg_names.contains(&p.name));
        known && required
    };
    let body_is_raw = post && !matches!(body, BodyKind::Json | BodyKind::Converted);
    let mut found: Vec<&Routine> =
        if body_is_raw { vec![] } else { candidates.iter().copied().filter(|r| named_match(r)).collect() };
    if found.is_empty() && post {
        found = candidates
            .iter()
            .copied()
            .filter(|r| unnamed(r) && body.unnamed_types().contains(&r.params[0].type_.as_str()))
            .collect();
    }
    if found.len() > 1 {
        // Prefer the one whose parameters are exactly the arguments given.
        let exact: Vec<&Routine> = found.iter().copied().filter(|r| r.params.len() == arg_names.len()).collect();
        if exact.len() == 1 {
            found = exact;
        }
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let qualified = format!("{}.{}", req.schema, name);
            let (shown, details) = if body_is_raw {
                (
                    qualified.clone(),
                    format!(
                        "Searched for the function {qualified} with a single unnamed {} parameter, but no matches were found in the schema cache.",
                        body.unnamed_description()
                    ),
                )
            } else if arg_names.is_empty() {
                (
                    format!("{qualified} without parameters"),
                    format!("Searched for the function {qualified} without parameters, but no matches were found in the schema cache."),
                )
            } else {
                // PostgREST names the arguments in sorted order.
                let mut sorted = arg_names.to_vec();
                sorted.sort();
                let list = sorted.join(", ");
                let noun = if arg_names.len() == 1 { "parameter" } else { "parameters" };
                let or_json = if post && matches!(body, BodyKind::Json) {
                    " or with a single unnamed json/jsonb parameter"
                } else {
                    ""
                };
                (
                    format!("{qualified}({list})"),
                    format!(
                        "Searched for the function {qualified} with {noun} {list}{or_json}, but no matches were found in the schema cache."
                    ),
                )
            };
            let hint = if body_is_raw { None } else { no_function_hint(req, cache, candidates, name, arg_names) };
            Err(Error::NoFunction { name: shown, details, hint })
        }
        many => {
            let list = many
                .iter()
                .map(|r| {
                    let ps: Vec<String> = r.params.iter().map(|p| format!("{} => {}", p.name, p.type_)).collect();
                    format!("{}.{}({})", r.schema, r.name, ps.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            Err(Error::AmbiguousFunction(list))
        }
    }
}

/// PostgREST's hint for an unknown function: the closest function name of the schema, or,
/// when the name exists, the closest of its parameter lists (names sorted).
fn no_function_hint(
    req: &ApiRequest,
    cache: &SchemaCache,
    candidates: &[&Routine],
    name: &str,
    arg_names: &[String],
) -> Option<String> {
    let sorted_list = |names: Vec<&str>| {
        let mut names = names;
        names.sort_unstable();
        format!("({})", names.join(", "))
    };
    let found = if candidates.is_empty() {
        let mut names: Vec<&str> = cache
            .routines
            .iter()
            .filter(|((s, _), rs)| *s == req.schema && rs.iter().any(Routine::callable))
            .map(|((_, n), _)| n.as_str())
            .collect();
        // A fixed order, so that equally close names always give the same hint.
        names.sort_unstable();
        crate::fuzzy::closest(&names, name)?.to_string()
    } else {
        let lists: Vec<String> =
            candidates.iter().map(|r| sorted_list(r.params.iter().map(|p| p.name.as_str()).collect())).collect();
        let lists: Vec<&str> = lists.iter().map(String::as_str).collect();
        let query = sorted_list(arg_names.iter().map(String::as_str).collect());
        format!("{name}{}", crate::fuzzy::closest(&lists, &query)?)
    };
    Some(format!("Perhaps you meant to call the function {}.{found}", req.schema))
}

/// Picks the response media type from `Accept`.
fn negotiate(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    action: &Action,
) -> Result<(Media, Option<Explain>), Error> {
    for accepted in &req.accept {
        let Some(rest) = accepted.strip_prefix("application/vnd.pgrst.plan") else { continue };
        if !config.db_plan_enabled || matches!(action, Action::Root | Action::Options { .. }) {
            continue;
        }
        let mut parts = rest.split(';');
        let json = match parts.next().unwrap_or("") {
            "+json" => true,
            "" | "+text" => false,
            _ => continue,
        };
        let mut for_media = "application/json".to_string();
        let mut options = Vec::new();
        for p in parts {
            if let Some(f) = p.strip_prefix("for=") {
                for_media = f.trim_matches('"').to_string();
            } else if let Some(o) = p.strip_prefix("options=") {
                options = o.split('|').filter(|o| !o.is_empty()).map(str::to_string).collect();
            }
        }
        if for_media == "application/vnd.pgrst.object" {
            for_media = "application/vnd.pgrst.object+json".into();
        }
        let inner = ApiRequest { accept: vec![for_media.clone()], ..req.clone() };
        let media = negotiate_media(config, cache, &inner, action).unwrap_or(Media::Json);
        return Ok((media, Some(Explain { json, for_media, options })));
    }
    negotiate_media(config, cache, req, action).map(|m| (m, None))
}

/// Whether the response rows are the relation's rows as they are (no select list, no embeds).
fn selects_whole_rows(shape: &Shape) -> bool {
    shape.embeds.is_empty() && shape.select.iter().all(|i| *i == SelectItem::Star)
}

fn is_xml(action: &Action) -> bool {
    matches!(action, Action::Call { routine, .. } if routine.return_type == "xml")
}

fn negotiate_media(config: &Config, cache: &SchemaCache, req: &ApiRequest, action: &Action) -> Result<Media, Error> {
    if matches!(action, Action::Root) {
        for accepted in &req.accept {
            match accepted.as_str() {
                "*/*" | "application/openapi+json" => return Ok(Media::Raw("application/openapi+json".into())),
                "application/json" | "application/*" => return Ok(Media::Json),
                _ => {}
            }
        }
        // The OpenAPI document has no other representation.
        return Err(not_acceptable(req));
    }
    let scalar_routine = match action {
        Action::Call { routine, .. } => matches!(routine.shape, ReturnShape::Scalar),
        _ => false,
    };
    // Only a single value can be sent as a media-type domain or text/plain: not a set of them.
    let single_value = scalar_routine && matches!(action, Action::Call { routine, .. } if !routine.returns_set);
    let domain_media = match action {
        Action::Call { routine, .. } if single_value => {
            routine.return_domain.as_ref().map(|(d, _)| d.clone()).filter(|d| d.contains('/'))
        }
        _ => None,
    };
    // Binary results (bytea, or a domain over it) are sent as bytes.
    let binary = match action {
        Action::Call { routine, .. } => {
            routine.return_type == "bytea" || routine.return_domain.as_ref().is_some_and(|(_, base)| base == "bytea")
        }
        _ => false,
    };
    // Rows of a relation can be rendered by a media-type handler aggregate.
    let (relation, whole_rows): (Option<(&str, &str)>, bool) = match action {
        Action::Read { table, shape } | Action::Mutate { table, shape, .. } => {
            (Some((&table.schema, &table.name)), selects_whole_rows(shape))
        }
        Action::Call { routine, shape, .. } => match &routine.shape {
            ReturnShape::Composite { relation: Some((s, t)) } => {
                (Some((s.as_str(), t.as_str())), selects_whole_rows(shape))
            }
            _ => (None, false),
        },
        _ => (None, false),
    };
    for accepted in &req.accept {
        let accepted = accepted.as_str();
        if relation.is_some() {
            let wanted = if accepted == "*/*" { "application/json" } else { accepted };
            // A handler for this relation's rows needs them whole; one for any rows
            // (anyelement) does not override PostgREST's own media types.
            let builtin = matches!(
                wanted,
                "application/json"
                    | "application/vnd.pgrst.object+json"
                    | "application/vnd.pgrst.object"
                    | "text/csv"
                    | "application/geo+json"
            );
            let handler =
                cache.media_handler(wanted, relation).filter(|h| if h.input.is_some() { whole_rows } else { !builtin });
            if let Some(h) = handler {
                return Ok(handler_media(h, h.media.clone()));
            }
            // A handler for "*/*" on this relation answers any media type PostgREST has no
            // builtin for (its function can set the Content-Type), and `*/*` itself.
            let any = cache
                .media_handler("*/*", relation)
                .filter(|h| h.input.is_some() && whole_rows && (accepted == "*/*" || !builtin));
            if let Some(h) = any {
                return Ok(handler_media(h, "application/octet-stream".into()));
            }
        }
        if let Some(d) = &domain_media {
            // A domain named "*/*" answers any Accept, as application/octet-stream.
            if d == "*/*" {
                return Ok(Media::RawBinary("application/octet-stream".into()));
            }
            if accepted == d
                || accepted == "*/*"
                || (accepted.ends_with("/*") && d.starts_with(accepted.trim_end_matches('*')))
            {
                if binary {
                    return Ok(Media::RawBinary(d.clone()));
                }
                // Media types PostgREST knows get a charset; any other is sent as named.
                let known = matches!(d.as_str(), "text/plain" | "text/xml" | "text/csv" | "application/json");
                return Ok(Media::Raw(if known { format!("{d}; charset=utf-8") } else { d.clone() }));
            }
        }
        match accepted {
            "application/octet-stream" if binary && scalar_routine => {
                return Ok(Media::RawBinary("application/octet-stream".into()))
            }
            "*/*" | "application/json" | "application/*" => return Ok(Media::Json),
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => return Ok(Media::SingleObject),
            "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => return Ok(Media::Json),
            "application/geo+json" if !scalar_routine => return Ok(Media::GeoJson),
            "application/vnd.pgrst.array+json;nulls=stripped" | "application/vnd.pgrst.array;nulls=stripped" => {
                return Ok(Media::JsonStripNulls)
            }
            "application/vnd.pgrst.object+json;nulls=stripped" | "application/vnd.pgrst.object;nulls=stripped" => {
                return Ok(Media::SingleObjectStripNulls)
            }
            "text/csv" if !matches!(action, Action::Call { .. }) || !scalar_routine => return Ok(Media::Csv),
            m if scalar_routine && config.raw_media_types.iter().any(|r| r == m) => {
                let charset = if m.starts_with("text/") { "; charset=utf-8" } else { "" };
                return Ok(Media::Raw(format!("{m}{charset}")));
            }
            "text/xml" if scalar_routine && is_xml(action) => return Ok(Media::Raw("text/xml; charset=utf-8".into())),
            "text/plain" if single_value => return Ok(Media::Raw("text/plain; charset=utf-8".into())),
            _ => {}
        }
    }
    Err(not_acceptable(req))
}

/// PGRST107, naming the request's `Accept` header.
fn not_acceptable(req: &ApiRequest) -> Error {
    Error::MediaType(req.headers.iter().find(|(k, _)| k == "accept").map(|(_, v)| v.clone()).unwrap_or_default())
}

/// Rows rendered by the handler aggregate `h`, sent as `media`.
fn handler_media(h: &crate::schema_cache::MediaHandler, media: String) -> Media {
    Media::Handler {
        function: (h.schema.clone(), h.name.clone()),
        media,
        base: h.base.clone(),
        row_type: h.input.clone(),
    }
}
