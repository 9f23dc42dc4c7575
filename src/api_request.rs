//! Parsing: a [`RawRequest`] → an [`ApiRequest`], the user's intent, not yet checked against
//! the schema (PostgREST's ApiRequest).
//!
//! In charge of the URL grammar (`select=`, filters, `or=`/`and=`, `order=`, `limit=`…), the
//! `Prefer`, `Accept`, `Range` and profile headers, and the body's syntax. A request may be
//! rejected here for malformed syntax (PGRST100), an invalid body (PGRST102), an unknown method
//! (PGRST117), an unexposed schema (PGRST106)… but never for naming a table or column that does
//! not exist: that is the plan's job. No I/O, no schema cache.

use crate::config::Config;
use crate::error::Error;
use crate::http::RawRequest;
use bytes::Bytes;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The parsed request

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/`: the OpenAPI root.
    Root,
    /// `/name`: a table or view.
    Relation(String),
    /// `/rpc/name`: a function.
    Routine(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
    Options,
}

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub target: Target,
    /// The schema chosen by `Accept-Profile`/`Content-Profile` or the first of `db-schemas`.
    pub schema: String,
    /// Whether a profile header picked the schema (then responses carry `Content-Profile`).
    pub profile_requested: bool,
    pub query: QueryParams,
    pub preferences: Preferences,
    /// Accepted media types, most preferred first.
    pub accept: Vec<String>,
    pub content_type: String,
    pub payload: Option<Payload>,
    /// `Range: a-b` request header (row offsets, inclusive).
    pub range: Option<(i64, Option<i64>)>,
    /// The original path, for `request.path`.
    pub path: String,
    /// The query string with its parameters sorted by name (for `Content-Location`).
    pub canonical_query: String,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
}

/// A path into embedded resources: empty for the top level, `["clients","projects"]` for
/// `clients.projects.order=…`.
pub type EmbedPath = Vec<String>;

#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pub select: Vec<SelectItem>,
    /// Filters (non-reserved parameters). For functions these include the arguments: which
    /// ones are arguments is known only to the plan, so they are kept raw in `params` too.
    pub filters: Vec<(EmbedPath, Filter)>,
    pub logic: Vec<(EmbedPath, LogicTree)>,
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    pub limits: Vec<(EmbedPath, Option<i64>, Option<i64>)>,
    pub columns: Option<Vec<String>>,
    pub on_conflict: Option<Vec<String>>,
    /// Every non-reserved parameter, raw, in order.
    pub params: Vec<(String, String)>,
}

impl QueryParams {
    pub fn root_limit(&self) -> (Option<i64>, Option<i64>) {
        self.limits.iter().find(|(p, _, _)| p.is_empty()).map(|(_, l, o)| (*l, *o)).unwrap_or((None, None))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Name(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOp {
    /// `->>` (text) rather than `->` (json).
    pub as_text: bool,
    pub key: JsonKey,
}

/// A column, possibly followed by a JSON path: `data->a->>b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonOp>,
}

impl Field {
    /// The key it gets in the JSON output when selected without an alias: the last named
    /// key of its JSON path, else the column name.
    pub fn output_name(&self) -> String {
        self.json_path
            .iter()
            .rev()
            .find_map(|op| match &op.key {
                JsonKey::Name(n) => Some(n.clone()),
                JsonKey::Index(_) => None,
            })
            .unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl Aggregate {
    /// The SQL function, which is also the output key when no alias is given.
    pub fn function(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    Star,
    Field {
        field: Field,
        alias: Option<String>,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
        aggregate_cast: Option<String>,
    },
    /// `count()` without a column.
    Count {
        alias: Option<String>,
        cast: Option<String>,
    },
    Embed {
        name: String,
        alias: Option<String>,
        hint: Option<String>,
        join: Option<JoinType>,
        spread: bool,
        select: Vec<SelectItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    IsDistinct,
    Cs,
    Cd,
    Ov,
    Sl,
    Sr,
    Nxr,
    Nxl,
    Adj,
}

impl CmpOp {
    fn parse(s: &str) -> Option<CmpOp> {
        use CmpOp::*;
        Some(match s {
            "eq" => Eq,
            "neq" => Neq,
            "gt" => Gt,
            "gte" => Gte,
            "lt" => Lt,
            "lte" => Lte,
            "like" => Like,
            "ilike" => Ilike,
            "match" => Match,
            "imatch" => Imatch,
            "isdistinct" => IsDistinct,
            "cs" => Cs,
            "cd" => Cd,
            "ov" => Ov,
            "sl" => Sl,
            "sr" => Sr,
            "nxr" => Nxr,
            "nxl" => Nxl,
            "adj" => Adj,
            _ => return None,
        })
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        use CmpOp::*;
        match self {
            Eq => "=",
            Neq => "<>",
            Gt => ">",
            Gte => ">=",
            Lt => "<",
            Lte => "<=",
            Like => "LIKE",
            Ilike => "ILIKE",
            Match => "~",
            Imatch => "~*",
            IsDistinct => "IS DISTINCT FROM",
            Cs => "@>",
            Cd => "<@",
            Ov => "&&",
            Sl => "<<",
            Sr => ">>",
            Nxr => "&<",
            Nxl => "&>",
            Adj => "-|-",
        }
    }

    pub fn supports_quantifier(self) -> bool {
        use CmpOp::*;
        matches!(self, Eq | Neq | Gt | Gte | Lt | Lte | Like | Ilike | Match | Imatch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOp {
    Fts,
    Plfts,
    Phfts,
    Wfts,
}

impl FtsOp {
    pub fn function(self) -> &'static str {
        match self {
            FtsOp::Fts => "to_tsquery",
            FtsOp::Plfts => "plainto_tsquery",
            FtsOp::Phfts => "phraseto_tsquery",
            FtsOp::Wfts => "websearch_to_tsquery",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Compare { op: CmpOp, quantifier: Option<Quantifier>, value: String },
    In(Vec<String>),
    Is(IsValue),
    Fts { op: FtsOp, language: Option<String>, value: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Expr { negated: bool, or: bool, children: Vec<LogicTree> },
    Stmt(Filter),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderTarget {
    Field(Field),
    /// `relation(column)`: ordering by a column of an embedded to-one resource.
    Related {
        relation: String,
        field: Field,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub target: OrderTarget,
    /// `Some(true)` for `.desc`.
    pub descending: Option<bool>,
    /// `Some(true)` for `.nullsfirst`.
    pub nulls_first: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Preferences

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Default)]
pub struct Preferences {
    pub return_: Option<ReturnPref>,
    pub count: Option<CountPref>,
    pub resolution: Option<Resolution>,
    pub missing_default: bool,
    pub strict: bool,
    /// `Some(true)` for `tx=commit`, `Some(false)` for `tx=rollback`.
    pub tx_commit: Option<bool>,
    pub max_affected: Option<i64>,
    pub timezone: Option<String>,
    pub single_object: bool,
    /// Preferences that were understood, in PostgREST's `Preference-Applied` form.
    pub applied: Vec<String>,
    pub invalid: Vec<String>,
}

fn parse_preferences<'a>(values: impl Iterator<Item = &'a str>) -> Preferences {
    let mut p = Preferences::default();
    for item in values.flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').map(|(k, v)| (k.trim(), v.trim())).unwrap_or((item, ""));
        let ok = match (k, v) {
            ("return", "minimal") => set(&mut p.return_, ReturnPref::Minimal),
            ("return", "headers-only") => set(&mut p.return_, ReturnPref::HeadersOnly),
            ("return", "representation") => set(&mut p.return_, ReturnPref::Representation),
            ("count", "exact") => set(&mut p.count, CountPref::Exact),
            ("count", "planned") => set(&mut p.count, CountPref::Planned),
            ("count", "estimated") => set(&mut p.count, CountPref::Estimated),
            ("resolution", "merge-duplicates") => set(&mut p.resolution, Resolution::MergeDuplicates),
            ("resolution", "ignore-duplicates") => set(&mut p.resolution, Resolution::IgnoreDuplicates),
            ("missing", "default") => {
                p.missing_default = true;
                true
            }
            ("missing", "null") => true,
            ("handling", "strict") => {
                p.strict = true;
                true
            }
            ("handling", "lenient") => true,
            ("tx", "commit") => set(&mut p.tx_commit, true),
            ("tx", "rollback") => set(&mut p.tx_commit, false),
            ("max-affected", n) => match n.parse::<i64>() {
                Ok(n) => set(&mut p.max_affected, n),
                Err(_) => false,
            },
            ("timezone", tz) if !tz.is_empty() => set(&mut p.timezone, tz.to_string()),
            ("params", "single-object") => {
                p.single_object = true;
                true
            }
            _ => false,
        };
        if ok {
            if !p.applied.iter().any(|a| a == item) {
                p.applied.push(item.to_string());
            }
        } else {
            p.invalid.push(item.to_string());
        }
    }
    p
}

fn set<T>(slot: &mut Option<T>, v: T) -> bool {
    if slot.is_none() {
        *slot = Some(v);
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The body

#[derive(Debug, Clone)]
pub enum Payload {
    /// A JSON body. `keys`: the keys of the object (or of the first object of an array).
    Json { raw: Bytes, is_array: bool, keys: Vec<String> },
    /// `application/x-www-form-urlencoded` or `text/csv`, turned into a JSON array/object.
    Converted { raw: Bytes, is_array: bool, keys: Vec<String> },
    /// Anything else (for functions taking the body as one unnamed parameter).
    Raw(Bytes),
}

impl Payload {
    pub fn keys(&self) -> &[String] {
        match self {
            Payload::Json { keys, .. } | Payload::Converted { keys, .. } => keys,
            Payload::Raw(_) => &[],
        }
    }

    /// The body as JSON text (for `Raw`, the bytes themselves).
    pub fn json_bytes(&self) -> &Bytes {
        match self {
            Payload::Json { raw, .. } | Payload::Converted { raw, .. } | Payload::Raw(raw) => raw,
        }
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Payload::Json { is_array: true, .. } | Payload::Converted { is_array: true, .. })
    }
}

fn parse_payload(content_type: &str, body: &Bytes, columns_given: bool) -> Result<Payload, Error> {
    let invalid = || Error::InvalidBody("Empty or invalid json".into());
    match content_type {
        "application/json" | "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
            let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
            let (is_array, keys) = json_keys(&value, columns_given)?;
            Ok(Payload::Json { raw: body.clone(), is_array, keys })
        }
        "application/x-www-form-urlencoded" => {
            // A repeated key (`v=a&v=b`) becomes an array of its values.
            let mut map = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(body) {
                let v = Value::String(v.into_owned());
                match map.get_mut(k.as_ref()) {
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = Value::Array(vec![first.take(), v]),
                    None => {
                        map.insert(k.into_owned(), v);
                    }
                }
            }
            let keys = map.keys().cloned().collect();
            Ok(Payload::Converted { raw: Bytes::from(Value::Object(map).to_string()), is_array: false, keys })
        }
        "text/csv" => {
            let (value, keys) = csv_to_json(body)?;
            Ok(Payload::Converted { raw: Bytes::from(value.to_string()), is_array: true, keys })
        }
        _ => Ok(Payload::Raw(body.clone())),
    }
}

fn json_keys(value: &Value, columns_given: bool) -> Result<(bool, Vec<String>), Error> {
    match value {
        Value::Object(map) => Ok((false, map.keys().cloned().collect())),
        Value::Array(items) => {
            let mut keys: Option<Vec<String>> = None;
            for item in items {
                let Value::Object(map) = item else {
                    return Err(Error::InvalidBody("All object keys must match".into()));
                };
                let mut these: Vec<String> = map.keys().cloned().collect();
                these.sort();
                match &keys {
                    None => keys = Some(these),
                    Some(k) if *k != these && !columns_given => {
                        return Err(Error::InvalidBody("All object keys must match".into()))
                    }
                    Some(_) => {}
                }
            }
            let first =
                items.first().and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            Ok((true, first))
        }
        _ => Ok((false, vec![])),
    }
}

/// A CSV body (header line, then rows) as a JSON array of objects of strings; `NULL` → null.
fn csv_to_json(body: &[u8]) -> Result<(Value, Vec<String>), Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::InvalidBody("Invalid CSV: not UTF-8".into()))?;
    let rows = parse_csv(text);
    let mut iter = rows.into_iter();
    let header = iter.next().unwrap_or_default();
    let mut out = Vec::new();
    for row in iter {
        if row.len() == 1 && row[0].as_deref() == Some("") {
            continue;
        }
        if row.len() != header.len() {
            return Err(Error::InvalidBody("All lines must have same number of fields".into()));
        }
        let obj: serde_json::Map<String, Value> = header
            .iter()
            .zip(row)
            .map(|(k, v)| (k.clone().unwrap_or_default(), v.map(Value::String).unwrap_or(Value::Null)))
            .collect();
        out.push(Value::Object(obj));
    }
    Ok((Value::Array(out), header.into_iter().map(Option::unwrap_or_default).collect()))
}

/// RFC 4180 CSV; an unquoted `NULL` field is SQL NULL.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let finish = |field: &mut String, was_quoted: &mut bool, row: &mut Vec<Option<String>>| {
        let f = std::mem::take(field);
        row.push(if !*was_quoted && f == "NULL" { None } else { Some(f) });
        *was_quoted = false;
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => {
                    quoted = true;
                    was_quoted = true;
                }
                ',' => finish(&mut field, &mut was_quoted, &mut row),
                '\r' => {}
                '\n' => {
                    finish(&mut field, &mut was_quoted, &mut row);
                    rows.push(std::mem::take(&mut row));
                }
                c => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() || was_quoted {
        finish(&mut field, &mut was_quoted, &mut row);
        rows.push(row);
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Entry point

/// Parses a request. `config` gives the exposed schemas.
pub fn parse(config: &Config, req: &RawRequest) -> Result<ApiRequest, Error> {
    let method = match req.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        other => return Err(Error::UnsupportedMethod(other.to_string())),
    };
    let target = parse_path(&req.path)?;
    if let Target::Routine(_) = target {
        if matches!(method, Method::Patch | Method::Put | Method::Delete) {
            return Err(Error::InvalidRpcMethod(req.method.clone()));
        }
    }

    // Schema from the profile headers.
    let profile_header = match method {
        Method::Get | Method::Head => "accept-profile",
        _ => "content-profile",
    };
    let (schema, profile_requested) = match req.header(profile_header) {
        Some(p) => {
            let p = p.trim();
            if !config.db_schemas.iter().any(|s| s == p) {
                return Err(Error::UnacceptableSchema(p.to_string(), config.db_schemas.clone()));
            }
            (p.to_string(), true)
        }
        None => (config.db_schemas[0].clone(), false),
    };

    let is_routine = matches!(target, Target::Routine(_));
    let query = parse_query(&req.query, is_routine)?;
    let preferences = parse_preferences(req.header_all("prefer"));
    let accept = parse_accept(req.header("accept"));
    let content_type = req
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_lowercase())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "application/json".to_string());
    let has_body = matches!(method, Method::Post | Method::Patch | Method::Put);
    let payload = if has_body {
        if req.body.iter().all(u8::is_ascii_whitespace) && !is_routine {
            // A write to a table needs a body (even `{}`), in any content type.
            return Err(Error::InvalidBody("Empty or invalid json".into()));
        } else if req.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(parse_payload(&content_type, &req.body, query.columns.is_some())?)
        }
    } else {
        None
    };
    let range = req.header("range").and_then(parse_range_header);
    let cookies = req
        .header_all("cookie")
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(ApiRequest {
        method,
        target,
        schema,
        // With several schemas, responses always say which one answered.
        profile_requested: profile_requested || config.db_schemas.len() > 1,
        query,
        preferences,
        accept,
        content_type,
        payload,
        range,
        path: req.path.clone(),
        canonical_query: canonical_query(&req.query),
        headers: req.headers.clone(),
        cookies,
    })
}

/// The query string's parameters sorted by (decoded) name, each kept as the client encoded it.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let key = p.split('=').next().unwrap_or("");
            let decoded =
                form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
            (decoded, p)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join("&")
}

fn parse_path(path: &str) -> Result<Target, Error> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => Ok(Target::Root),
        [name] => Ok(Target::Relation(decode(name))),
        ["rpc", name] if !name.is_empty() => Ok(Target::Routine(decode(name))),
        [name, ""] if !name.is_empty() && *name != "rpc" => Ok(Target::Relation(decode(name))),
        _ => Err(Error::InvalidPath),
    }
}

fn parse_range_header(v: &str) -> Option<(i64, Option<i64>)> {
    let v = v.trim();
    let v = v.split_once('=').map(|(_, r)| r).unwrap_or(v);
    let (a, b) = v.split_once('-')?;
    let a = a.trim().parse().ok()?;
    let b = b.trim();
    let b = if b.is_empty() { None } else { Some(b.parse().ok()?) };
    Some((a, b))
}

/// `Accept` → media types ordered by preference (`q`), without parameters.
fn parse_accept(accept: Option<&str>) -> Vec<String> {
    let Some(accept) = accept else {
        return vec!["*/*".into()];
    };
    let mut items: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_lowercase();
            if media.is_empty() {
                return None;
            }
            let params: Vec<String> = pieces.map(|p| p.trim().to_lowercase()).collect();
            let q = params.iter().find_map(|p| p.strip_prefix("q=")?.trim().parse::<f32>().ok()).unwrap_or(1.0);
            // The one media-type parameter that changes the answer: `nulls=stripped`.
            let media = if media.starts_with("application/vnd.pgrst.plan") {
                // `for` and `options` choose what is explained and how: keep them.
                let kept: Vec<&str> = params
                    .iter()
                    .map(|p| p.trim_end_matches(';'))
                    .filter(|p| p.starts_with("for=") || p.starts_with("options="))
                    .collect();
                std::iter::once(media.as_str()).chain(kept).collect::<Vec<_>>().join(";")
            } else if params.iter().any(|p| p == "nulls=stripped") {
                format!("{media};nulls=stripped")
            } else {
                media
            };
            Some((q, i, media))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
    if items.is_empty() {
        return vec!["*/*".into()];
    }
    items.into_iter().map(|(_, _, m)| m).collect()
}

/// Parses the query string (`+` is a space, as in forms).
pub fn parse_query(query: &str, is_routine: bool) -> Result<QueryParams, Error> {
    let mut q = QueryParams::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        if let Some((path, op)) = negated_logic(&key) {
            q.logic.push((path, parse_logic(op == "or", true, &value)?));
            continue;
        }
        let (path, last) = split_embed_path(&key);
        match last.as_str() {
            "select" if path.is_empty() => q.select = parse_select(&value)?,
            "columns" if path.is_empty() => {
                if value.trim().is_empty() {
                    // PostgREST's column-list parser needs at least one name.
                    return Err(Error::parse(
                        &format!("columns parameter ({value})"),
                        value.len() + 1,
                        "unexpected end of input expecting field name (* or [a..z0..9_$])",
                    ));
                }
                q.columns = Some(parse_columns(&value))
            }
            "on_conflict" if path.is_empty() => q.on_conflict = Some(parse_columns(&value)),
            "order" => q.order.push((path, parse_order(&value)?)),
            "limit" | "offset" => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| Error::parse(&format!("{last} parameter ({value})"), 1, "expecting a number"))?;
                let i = match q.limits.iter().position(|(p, _, _)| *p == path) {
                    Some(i) => i,
                    None => {
                        q.limits.push((path, None, None));
                        q.limits.len() - 1
                    }
                };
                if last == "limit" {
                    q.limits[i].1 = Some(n);
                } else {
                    q.limits[i].2 = Some(n);
                }
            }
            "or" | "and" => q.logic.push((path, parse_logic(last == "or", false, &value)?)),
            _ => {
                let (path, field_key) = split_filter_key(&key);
                if !is_routine || !path.is_empty() {
                    // A filter on an embedded resource is never a function argument.
                    q.filters.push((path, parse_filter(&field_key, &value)?));
                } else {
                    q.params.push((key.clone(), value.clone()));
                }
                if !is_routine {
                    q.params.push((key.clone(), value.clone()));
                }
            }
        }
    }
    Ok(q)
}

fn parse_columns(value: &str) -> Vec<String> {
    value.split(',').map(|c| c.trim().trim_matches('"').to_string()).filter(|c| !c.is_empty()).collect()
}

/// `clients.not.or` → (["clients"], "or"); `not.and` → ([], "and").
fn negated_logic(key: &str) -> Option<(EmbedPath, &str)> {
    let (prefix, op) = if let Some(p) = key.strip_suffix("not.or") {
        (p, "or")
    } else if let Some(p) = key.strip_suffix("not.and") {
        (p, "and")
    } else {
        return None;
    };
    if prefix.is_empty() {
        return Some((vec![], op));
    }
    let prefix = prefix.strip_suffix('.')?;
    Some((prefix.split('.').map(str::to_string).collect(), op))
}

/// `clients.projects.order` → (["clients","projects"], "order").
fn split_embed_path(key: &str) -> (EmbedPath, String) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or("").to_string();
    (parts.into_iter().map(str::to_string).collect(), last)
}

/// For a filter key, the embed path is every dot-separated part before the last, but JSON
/// paths (`data->a.b`?) are not split: only dots before the first `->`.
fn split_filter_key(key: &str) -> (EmbedPath, String) {
    let head_end = key.find("->").unwrap_or(key.len());
    let head = &key[..head_end];
    match head.rfind('.') {
        Some(i) => (head[..i].split('.').map(str::to_string).collect(), key[i + 1..].to_string()),
        None => (vec![], key.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// The grammar: a small hand-written parser over chars.

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    /// Added to reported columns (the text PostgREST parses starts earlier than ours).
    column_offset: usize,
    /// PostgREST's order parser quotes the unexpected character with '…', the others with "…".
    single_quotes: bool,
    /// What is being parsed, for error messages: `select parameter (…)`.
    what: String,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str, what: String) -> Cursor<'a> {
        Cursor { s, pos: 0, column_offset: 0, single_quotes: false, what }
    }
    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn error(&self, expecting: &str) -> Error {
        let col = self.s[..self.pos].chars().count() + 1 + self.column_offset;
        let found = match self.peek() {
            Some(c) if self.single_quotes => format!("unexpected '{c}'"),
            Some(c) => format!("unexpected \"{c}\""),
            None => "unexpected end of input".to_string(),
        };
        Error::parse(&self.what, col, format!("{found} expecting {expecting}"))
    }
    /// An identifier: quoted `"…"` or a run of characters that are not delimiters.
    fn ident(&mut self, stop: &[char]) -> Option<String> {
        if self.eat("\"") {
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            loop {
                let (i, c) = chars.next()?;
                if c == '"' {
                    self.pos += i + 1;
                    return Some(out);
                }
                out.push(c);
            }
        }
        let rest = self.rest();
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if stop.contains(&c) || rest[i..].starts_with("->") || rest[i..].starts_with("::") {
                end = i;
                break;
            }
        }
        if end == 0 {
            return None;
        }
        let out = rest[..end].trim().to_string();
        self.pos += end;
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }
}

const SELECT_STOP: &[char] = &[',', '.', ':', '(', ')', '!'];

/// `data->a->>b` (the column name has already been read).
fn json_path(c: &mut Cursor, stop: &[char]) -> Result<Vec<JsonOp>, Error> {
    let mut path = Vec::new();
    loop {
        let as_text = if c.eat("->>") {
            true
        } else if c.eat("->") {
            false
        } else {
            break;
        };
        // A JSON key may hold any character but the reserved ones (`.,>()` and `:`).
        let key_stop: Vec<char> = stop.iter().copied().filter(|c| !"!".contains(*c)).chain(['>']).collect();
        let start = c.pos;
        let key = c
            .ident(&key_stop)
            .ok_or_else(|| c.error("\"-\", digit or any non reserved character different from: .,>()"))?;
        let key = match key.parse::<i64>() {
            Ok(i) => JsonKey::Index(i),
            Err(_) if key.starts_with('-') => {
                // A negative index: what follows the minus must be digits.
                let digits = key[1..].chars().take_while(char::is_ascii_digit).count();
                c.pos = start + 1 + digits;
                return Err(c.error("digit"));
            }
            Err(_) => JsonKey::Name(key),
        };
        path.push(JsonOp { as_text, key });
    }
    Ok(path)
}

fn cast(c: &mut Cursor) -> Result<Option<String>, Error> {
    if !c.eat("::") {
        return Ok(None);
    }
    let rest = c.rest();
    let end = rest.find([',', ')', '.', ':']).unwrap_or(rest.len());
    let ty = rest[..end].trim().to_string();
    if ty.is_empty() || !ty.chars().all(|ch| ch.is_alphanumeric() || " _[]\"".contains(ch)) {
        return Err(c.error("a type name"));
    }
    c.pos += end;
    Ok(Some(ty))
}

/// The `select=` grammar.
pub fn parse_select(s: &str) -> Result<Vec<SelectItem>, Error> {
    if s.trim().is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    let mut c = Cursor::new(s, format!("select parameter ({s})"));
    // As in PostgREST, the list ends where the grammar does: what follows a complete list
    // (`select=id,name)`) is ignored.
    select_list(&mut c)
}

fn select_list(c: &mut Cursor) -> Result<Vec<SelectItem>, Error> {
    let mut items = Vec::new();
    loop {
        items.push(select_item(c)?);
        if !c.eat(",") {
            break;
        }
    }
    Ok(items)
}

fn select_item(c: &mut Cursor) -> Result<SelectItem, Error> {
    if c.eat("*") {
        return Ok(SelectItem::Star);
    }
    let spread = c.eat("...");
    let first = c.ident(SELECT_STOP).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
    let (alias, name) = if !c.rest().starts_with("::") && c.eat(":") {
        let name = c.ident(SELECT_STOP).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
        (Some(first), name)
    } else {
        (None, first)
    };
    // count()
    if name == "count" && c.rest().starts_with("()") {
        c.eat("()");
        let cast = cast(c)?;
        return Ok(SelectItem::Count { alias, cast });
    }
    // embed: name!hint!inner(...)
    if c.peek() == Some('!') || c.peek() == Some('(') {
        let mut hint = None;
        let mut join = None;
        while c.eat("!") {
            let word = c.ident(SELECT_STOP).ok_or_else(|| c.error("hint or join type"))?;
            match word.as_str() {
                "inner" => join = Some(JoinType::Inner),
                "left" => join = Some(JoinType::Left),
                _ => hint = Some(word),
            }
        }
        if !c.eat("(") {
            return Err(c.error("\"(\""));
        }
        let select = if c.eat(")") {
            vec![]
        } else {
            let items = select_list(c)?;
            if !c.eat(")") {
                return Err(c.error("\",\" or \")\""));
            }
            items
        };
        return Ok(SelectItem::Embed { name, alias, hint, join, spread, select });
    }
    if spread {
        return Err(c.error("\"(\""));
    }
    let json_path = json_path(c, SELECT_STOP)?;
    let cast = cast(c)?;
    let mut aggregate = None;
    let mut aggregate_cast = None;
    if c.rest().starts_with('.') {
        let save = c.pos;
        c.eat(".");
        let agg = match c.ident(SELECT_STOP).as_deref() {
            Some("count") => Some(Aggregate::Count),
            Some("sum") => Some(Aggregate::Sum),
            Some("avg") => Some(Aggregate::Avg),
            Some("min") => Some(Aggregate::Min),
            Some("max") => Some(Aggregate::Max),
            _ => None,
        };
        match agg {
            Some(a) if c.eat("()") => {
                aggregate = Some(a);
                aggregate_cast = self::cast(c)?;
            }
            _ => {
                c.pos = save;
                return Err(c.error("\",\" or end of input"));
            }
        }
    }
    Ok(SelectItem::Field { field: Field { name, json_path }, alias, cast, aggregate, aggregate_cast })
}

/// A filter value `[not.]op[(any|all)].value` on `key`.
pub fn parse_filter(key: &str, value: &str) -> Result<Filter, Error> {
    let field = parse_field(key, &format!("filter ({key})"))?;
    let (negated, operation) = parse_operation(value, &format!("filter ({value})"))?;
    Ok(Filter { field, negated, operation })
}

fn parse_field(s: &str, what: &str) -> Result<Field, Error> {
    let mut c = Cursor::new(s, what.to_string());
    let name = c.ident(&[]).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
    let json_path = json_path(&mut c, &[])?;
    if !c.at_end() {
        return Err(c.error("end of input"));
    }
    Ok(Field { name, json_path })
}

fn parse_operation(value: &str, what: &str) -> Result<(bool, Operation), Error> {
    let err = |col: usize, found: &str| {
        Error::parse(what, col, format!("{found} expecting \"not\" or operator (eq, gt, ...)"))
    };
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, value),
    };
    let col0 = if negated { 5 } else { 1 };
    let (op_part, operand) = rest
        .split_once('.')
        .ok_or_else(|| err(col0, &format!("unexpected \"{}\"", rest.chars().next().unwrap_or(' '))))?;
    let bad_op = || err(col0, &format!("unexpected \"{}\"", op_part.chars().next().unwrap_or(' ')));
    // op(any) / fts(english)
    let (op_name, modifier) = match op_part.split_once('(') {
        Some((o, m)) => (o, Some(m.strip_suffix(')').ok_or_else(bad_op)?)),
        None => (op_part, None),
    };
    let operation = match op_name {
        "in" if modifier.is_none() => Operation::In(
            parse_in_list(operand)
                .ok_or_else(|| Error::parse(what, col0 + 3, "unexpected end of input expecting \"(\""))?,
        ),
        "is" if modifier.is_none() => Operation::Is(match operand.to_lowercase().as_str() {
            "null" => IsValue::Null,
            "not_null" => IsValue::NotNull,
            "true" => IsValue::True,
            "false" => IsValue::False,
            "unknown" => IsValue::Unknown,
            _ => {
                return Err(Error::parse(
                    what,
                    col0 + 3,
                    "unexpected value expecting null or trilean value (unknown, true, false)",
                ))
            }
        }),
        "fts" | "plfts" | "phfts" | "wfts" => Operation::Fts {
            op: match op_name {
                "fts" => FtsOp::Fts,
                "plfts" => FtsOp::Plfts,
                "phfts" => FtsOp::Phfts,
                _ => FtsOp::Wfts,
            },
            language: modifier.map(str::to_string),
            value: operand.to_string(),
        },
        other => {
            let op = CmpOp::parse(other).ok_or_else(bad_op)?;
            let quantifier = match modifier {
                None => None,
                Some("any") if op.supports_quantifier() => Some(Quantifier::Any),
                Some("all") if op.supports_quantifier() => Some(Quantifier::All),
                Some(_) => return Err(bad_op()),
            };
            Operation::Compare { op, quantifier, value: operand.to_string() }
        }
    };
    Ok((negated, operation))
}

/// `(a,b,"c,d")` → values; double quotes protect commas and parentheses, `\` escapes.
fn parse_in_list(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    if inner.trim().is_empty() {
        return Some(vec![]);
    }
    Some(split_list(inner))
}

/// Splits an `in.(…)` list on commas. An element that starts with `"` and has a closing `"`
/// before the next comma is quoted (`\` escapes inside); anything else is taken literally.
fn split_list(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    if chars.is_empty() {
        return out;
    }
    let mut i = 0;
    loop {
        let start = i;
        let mut element: Option<String> = None;
        if chars.get(i) == Some(&'"') {
            let mut v = String::new();
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '\\' if j + 1 < chars.len() => {
                        v.push(chars[j + 1]);
                        j += 2;
                    }
                    '"' => break,
                    c => {
                        v.push(c);
                        j += 1;
                    }
                }
            }
            if j < chars.len() && matches!(chars.get(j + 1), None | Some(',')) {
                element = Some(v);
                i = j + 1;
            }
        }
        let value = match element {
            Some(v) => v,
            None => {
                i = start;
                let mut v = String::new();
                while i < chars.len() && chars[i] != ',' {
                    v.push(chars[i]);
                    i += 1;
                }
                // Unquoted elements are trimmed, as PostgREST does.
                v.trim().to_string()
            }
        };
        out.push(value);
        if i >= chars.len() {
            break;
        }
        i += 1; // the comma
    }
    out
}

/// `or=(a.eq.1,and(b.gt.2,c.is.null))`.
fn parse_logic(or: bool, negated: bool, value: &str) -> Result<LogicTree, Error> {
    let mut c = Cursor::new(value, format!("logic tree ({value})"));
    // PostgREST parses `or(…)`: its columns count from the operator's first letter.
    c.column_offset = if or { 2 } else { 3 } + if negated { 4 } else { 0 };
    if !c.eat("(") {
        return Err(c.error("\"(\""));
    }
    let children = logic_children(&mut c)?;
    // Like PostgREST, text after the closing parenthesis is ignored.
    if !c.eat(")") {
        return Err(c.error("\",\" or \")\""));
    }
    Ok(LogicTree::Expr { negated, or, children })
}

fn logic_children(c: &mut Cursor) -> Result<Vec<LogicTree>, Error> {
    let mut children = Vec::new();
    loop {
        children.push(logic_item(c)?);
        if !c.eat(",") {
            break;
        }
    }
    Ok(children)
}

fn logic_item(c: &mut Cursor) -> Result<LogicTree, Error> {
    c.skip_spaces();
    let rest = c.rest();
    for (prefix, negated, or) in
        [("not.or", true, true), ("not.and", true, false), ("or", false, true), ("and", false, false)]
    {
        if let Some(after) = rest.strip_prefix(prefix) {
            let trimmed = after.trim_start();
            if trimmed.starts_with('(') {
                c.pos += prefix.len() + (after.len() - trimmed.len()) + 1;
                let children = logic_children(c)?;
                c.skip_spaces();
                if !c.eat(")") {
                    return Err(c.error("\",\" or \")\""));
                }
                c.skip_spaces();
                return Ok(LogicTree::Expr { negated, or, children });
            }
        }
    }
    // field.op.value up to the next top-level ',' or ')'.
    let start = c.pos;
    let bytes: Vec<(usize, char)> = rest.char_indices().collect();
    let mut depth = 0;
    let mut quoted = false;
    let mut end = rest.len();
    for (i, ch) in bytes {
        match ch {
            '"' => quoted = !quoted,
            '(' | '{' if !quoted => depth += 1,
            '}' if !quoted => depth -= 1,
            ')' if !quoted && depth == 0 => {
                end = i;
                break;
            }
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let stmt = rest[..end].trim();
    if stmt.is_empty() {
        return Err(c.error("field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"));
    }
    c.pos = start + end;
    let head_end = stmt.find("->").unwrap_or(stmt.len());
    let dot = stmt[..head_end]
        .find('.')
        .or_else(|| stmt[head_end..].find('.').map(|i| i + head_end))
        .ok_or_else(|| c.error("operator"))?;
    // JSON path fields: `data->>a.eq.1`: the field ends at the first '.' after the path.
    let (key, value) = (&stmt[..dot], &stmt[dot + 1..]);
    let value = unquote_logic_value(value);
    Ok(LogicTree::Stmt(parse_filter(key, &value)?))
}

/// Inside logic trees a value may be double-quoted: `name.eq."a,b"`.
fn unquote_logic_value(v: &str) -> String {
    // Keep quotes inside in.(…) lists: parse_in_list handles them.
    if let Some(dot) = v.rfind('.') {
        let (op, val) = (&v[..dot], &v[dot + 1..]);
        if val.len() >= 2 && val.starts_with('"') && val.ends_with('"') && !op.ends_with("in") {
            return format!("{op}.{}", &val[1..val.len() - 1]);
        }
    }
    v.to_string()
}

/// The `order=` grammar: `a.desc.nullslast,b,rel(c).asc`.
pub fn parse_order(s: &str) -> Result<Vec<OrderTerm>, Error> {
    let mut terms = Vec::new();
    let what = format!("order ({s})");
    let mut c = Cursor::new(s, what);
    c.single_quotes = true;
    loop {
        let name = c.ident(&[',', '.', '(', ')']).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
        let target = if c.eat("(") {
            let col = c.ident(&[',', '.', '(', ')']).ok_or_else(|| c.error("field name"))?;
            let path = json_path(&mut c, &[',', '.', '(', ')'])?;
            if !c.eat(")") {
                return Err(c.error("\")\""));
            }
            OrderTarget::Related { relation: name, field: Field { name: col, json_path: path } }
        } else {
            let path = json_path(&mut c, &[',', '.', '(', ')'])?;
            OrderTarget::Field(Field { name, json_path: path })
        };
        let mut term = OrderTerm { target, descending: None, nulls_first: None };
        while c.rest().starts_with('.') {
            let save = c.pos;
            c.eat(".");
            let word_end = c.rest().find([',', '.']).unwrap_or(c.rest().len());
            let word = &c.rest()[..word_end];
            match word {
                "asc" if term.descending.is_none() && term.nulls_first.is_none() => term.descending = Some(false),
                "desc" if term.descending.is_none() && term.nulls_first.is_none() => term.descending = Some(true),
                "nullsfirst" if term.nulls_first.is_none() => term.nulls_first = Some(true),
                "nullslast" if term.nulls_first.is_none() => term.nulls_first = Some(false),
                _ => {
                    // Point at the first character that breaks the grammar.
                    let known = ["asc", "desc", "nullsfirst", "nullslast"];
                    let matched = known.iter().filter(|k| word.starts_with(*k)).map(|k| k.len()).max();
                    c.pos = match matched {
                        Some(n) => save + 1 + n,
                        None => save + 1,
                    };
                    let expecting = if matched.is_some() {
                        "\",\" or end of input"
                    } else {
                        "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                    };
                    return Err(c.error(expecting));
                }
            }
            c.pos += word_end;
        }
        terms.push(term);
        if c.at_end() {
            break;
        }
        if !c.eat(",") {
            return Err(c.error("\",\" or end of input"));
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests;
