//! The OpenAPI (Swagger 2.0) document PostgREST serves at `GET /`.
//!
//! [`document`] renders one schema of the [`SchemaCache`] the way PostgREST's
//! `Response/OpenAPI.hs` does: one path per table/view (`get`, plus `post`/`patch`/`delete` when
//! the relation is writable) and one per function (`/rpc/name`: `post`, plus `get` unless the
//! function is volatile), one definition per table/view (properties with `format` = PostgreSQL
//! type, JSON `type`, `<pk/>`/`<fk/>` notes, defaults, `required` = NOT NULL columns), the shared
//! parameter definitions (`select`, `order`, `Range`, `Prefer` variants, `body.<table>`,
//! `rowFilter.<table>.<column>`), `host`/`basePath`/`schemes` (from `openapi-server-proxy-uri`
//! when set), and the JWT security definitions when `openapi-security-active`.
//!
//! Like the Haskell `swagger2` encoder, absent and empty fields (null, `[]`, `{}`) are left out of
//! every object, except `items` (a `json[]` column has `"items": {}`).
//!
//! [`body`] is the response format of `GET /`: with `openapi-mode=follow-privileges` it lists
//! only what the database said the request's role may use (the query is `query`'s), with
//! `ignore-privileges` everything.
//!
//! What it does not do: no I/O and no privilege checks of its own, no HTTP concerns (content negotiation, the
//! `application/openapi+json` Content-Type, `openapi-mode=disabled`, `db-root-spec`), and no
//! OpenAPI 3. Keys of JSON objects come out sorted (serde_json's map), so paths, definitions and
//! properties are in name order.

use crate::api_request::{MediaType, Vnd};
use crate::config::{Config, OpenApiMode};
use crate::schema_cache::{Cardinality, Column, Param, Routine, SchemaCache, Table, Volatility};
use bytes::Bytes;
use serde_json::{json, Map, Value};

pub struct OpenApiOptions<'a> {
    /// The requested schema (first of db-schemas or Accept-Profile).
    pub schema: &'a str,
    /// openapi-server-proxy-uri, e.g. "https://postgrest.com/openapi.json": host/basePath/schemes
    /// come from it.
    pub proxy_uri: Option<&'a str>,
    /// openapi-security-active.
    pub security_active: bool,
    pub server_host: &'a str,
    pub server_port: u16,
    /// Tables/views/functions the current role may use (follow-privileges); None = show
    /// everything (ignore-privileges). Arguments: kind ("table" | "function"), name.
    #[allow(clippy::type_complexity)]
    pub visible: Option<&'a dyn Fn(&str, &str) -> bool>,
}

const DOCS_URL: &str = "https://postgrest.org/en/stable/references/api.html";
const MIME_OBJECT: MediaType = MediaType::Object(Vnd { strip_nulls: false, json_suffix: true });
const MIME_OBJECT_STRIPPED: MediaType = MediaType::Object(Vnd { strip_nulls: true, json_suffix: true });

/// A `consumes`/`produces` list.
fn mimes(types: &[MediaType]) -> Value {
    types.iter().map(|m| Value::from(m.text().into_owned())).collect()
}

/// The body of `GET /`: the document of the request's `schema`. With
/// `openapi-mode = follow-privileges`, `privileges` is what the database answered for the
/// request's role (`{"tables": [names], "functions": [names]}`), and only those are listed;
/// with `ignore-privileges` everything in the schema is.
pub fn body(config: &Config, cache: &SchemaCache, schema: &str, privileges: &[u8]) -> Bytes {
    let allowed: Option<Value> = match config.openapi_mode {
        OpenApiMode::IgnorePrivileges => None,
        _ => Some(serde_json::from_slice(privileges).unwrap_or(Value::Null)),
    };
    let allows = |kind: &str, name: &str| -> bool {
        let key = if kind == "function" { "functions" } else { "tables" };
        allowed
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_array)
            .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(name)))
    };
    let opts = OpenApiOptions {
        schema,
        proxy_uri: config.openapi_server_proxy_uri.as_deref(),
        security_active: config.openapi_security_active,
        server_host: &config.server_host,
        server_port: config.server_port,
        visible: if allowed.is_some() { Some(&allows) } else { None },
    };
    Bytes::from(document(cache, &opts).to_string())
}

/// The whole Swagger 2.0 document for `opts.schema`.
pub fn document(cache: &SchemaCache, opts: &OpenApiOptions) -> Value {
    let visible = |kind: &str, name: &str| opts.visible.is_none_or(|f| f(kind, name));

    let mut tables: Vec<&Table> = cache
        .tables
        .values()
        .filter(|t| *t.schema == *opts.schema && !t.is_partition && visible("table", &t.name))
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));

    let mut routines: Vec<&Routine> = cache
        .routines
        .iter()
        .filter(|(k, _)| *k.schema == *opts.schema && visible("function", &k.name))
        .filter_map(|(_, overloads)| pick_overload(overloads))
        .collect();
    routines.sort_by(|a, b| a.name.cmp(&b.name));

    let mut paths = Map::new();
    paths.insert("/".into(), root_path_item());
    for t in &tables {
        paths.insert(format!("/{}", t.name), table_path_item(t));
    }
    for r in &routines {
        paths.insert(format!("/rpc/{}", r.name), routine_path_item(r));
    }

    let definitions: Map<String, Value> =
        tables.iter().map(|t| (t.name.to_string(), table_definition(cache, t))).collect();

    let (title, description) = match cache.schema_descriptions.get(opts.schema) {
        Some(d) => {
            let (t, rest) = split_description(d);
            (t.to_string(), rest.to_string())
        }
        None => ("PostgREST API".to_string(), "This is a dynamic API generated by PostgREST".to_string()),
    };

    let (scheme, host, port, base_path) = endpoint(opts);
    let mimes = mimes(&[MediaType::Json, MIME_OBJECT_STRIPPED, MIME_OBJECT, MediaType::Csv]);

    let mut doc = json!({
        "swagger": "2.0",
        "info": {
            "version": env!("CARGO_PKG_VERSION"),
            "title": title,
            "description": description,
        },
        "externalDocs": {"description": "PostgREST Documentation", "url": DOCS_URL},
        "host": format!("{host}:{port}"),
        "basePath": base_path,
        "schemes": [scheme],
        "consumes": mimes.clone(),
        "produces": mimes,
        "paths": paths,
        "definitions": definitions,
        "parameters": parameter_definitions(&tables),
    });
    if opts.security_active {
        doc["security"] = json!([{"JWT": []}]);
        doc["securityDefinitions"] = json!({"JWT": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Add the token prepending \"Bearer \" (without quotes) to it",
        }});
    }
    prune(doc)
}

/// Drops the null, `[]` and `{}` members of an object (swagger2's `omitEmpties`); `items` stays.
fn prune(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|k, v| {
            k == "items"
                || !(v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty))
        });
    }
    v
}

/// A comment's first line, and the rest with its leading newlines dropped.
fn split_description(d: &str) -> (&str, &str) {
    match d.split_once('\n') {
        Some((first, rest)) => (first, rest.trim_start_matches('\n')),
        None => (d, ""),
    }
}

/// Summary and description of an operation: the description only when non-empty.
fn summary_fields(d: Option<&str>) -> (Value, Value) {
    match d {
        None => (Value::Null, Value::Null),
        Some(d) => {
            let (s, rest) = split_description(d);
            let rest = if rest.is_empty() { Value::Null } else { rest.into() };
            (s.into(), rest)
        }
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/parameters/{name}")})
}

fn root_path_item() -> Value {
    json!({"get": {
        "tags": ["Introspection"],
        "summary": "OpenAPI description (this document)",
        "produces": mimes(&[MediaType::OpenApi, MediaType::Json]),
        "responses": {"200": {"description": "OK"}},
    }})
}

fn table_path_item(t: &Table) -> Value {
    let (summary, description) = summary_fields(t.description.as_deref());
    let op = |parameters: Vec<Value>, responses: Value| {
        prune(json!({
            "tags": [t.name],
            "summary": summary,
            "description": description,
            "parameters": parameters,
            "responses": responses,
        }))
    };
    let row_filters: Vec<Value> =
        t.columns.iter().map(|c| reference(&format!("rowFilter.{}.{}", t.name, c.name))).collect();
    let body = reference(&format!("body.{}", t.name));
    let with = |extra: &[Value]| -> Vec<Value> { row_filters.iter().chain(extra).cloned().collect::<Vec<_>>() };

    let mut item = Map::new();
    let get_params = with(&["select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"].map(reference));
    item.insert(
        "get".into(),
        op(
            get_params,
            json!({
                "200": {
                    "description": "OK",
                    "schema": {
                        "type": "array",
                        "items": {"$ref": format!("#/definitions/{}", t.name)},
                    },
                },
                "206": {"description": "Partial Content"},
            }),
        ),
    );
    // PostgREST's tableInsertable || tableUpdatable || tableDeletable.
    if t.insertable || t.updatable || t.deletable {
        item.insert(
            "post".into(),
            op(
                vec![body.clone(), reference("select"), reference("preferPost")],
                json!({"201": {"description": "Created"}}),
            ),
        );
        item.insert(
            "patch".into(),
            op(with(&[body, reference("preferReturn")]), json!({"204": {"description": "No Content"}})),
        );
        item.insert(
            "delete".into(),
            op(with(&[reference("preferReturn")]), json!({"204": {"description": "No Content"}})),
        );
    }
    Value::Object(item)
}

// ---- types ---------------------------------------------------------------------------------

/// The JSON type of a PostgreSQL type (`None` for json/jsonb: any JSON value).
fn swagger_type(t: &str) -> Option<&'static str> {
    match t {
        "character varying" | "character" | "text" => Some("string"),
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        _ if t.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

/// The `format` of a PostgreSQL type: OpenAPI's `int32`/`int64` for the integer types, the
/// type's name otherwise.
fn swagger_format(t: &str) -> &str {
    match t {
        "smallint" | "integer" => "int32",
        "bigint" => "int64",
        _ => t,
    }
}

/// `items` of an array type: the element's JSON type (`{}` for json[]/jsonb[]).
fn array_items(t: &str) -> Option<Value> {
    let elem = t.strip_suffix("[]")?;
    Some(match swagger_type(elem) {
        Some(ty) => json!({"type": ty}),
        None => json!({}),
    })
}

/// The type as PostgREST reports it: built-in types without their typmod
/// (`character varying(20)` → `character varying`, `numeric(10,2)[]` → `numeric[]`,
/// `timestamp(3) with time zone` → `timestamp with time zone`).
fn column_type(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut quoted = false;
    let mut rest = t;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            quoted = !quoted;
        } else if c == '(' && !quoted {
            if let Some(end) = rest.find(')') {
                let inner = &rest[1..end];
                if inner.chars().all(|c| c.is_ascii_digit() || c == ',' || c == ' ') {
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `information_schema.character_maximum_length`: derived here from the typmod `format_type`
/// prints for `character(n)`, `character varying(n)`, `bit(n)`, `bit varying(n)`.
fn column_max_length(col: &Column) -> Option<u64> {
    let t: &str = &col.type_;
    let (base, rest) = t.split_once('(')?;
    let n = rest.strip_suffix(')')?;
    match base {
        "character" | "character varying" | "bit" | "bit varying" => n.parse().ok(),
        _ => None,
    }
}

/// A column default as a JSON value, as PostgREST's `parseDefault`: for string types the
/// literal without its `::type` cast and quotes; otherwise the expression when it is JSON
/// (`42`, `false`); nothing when it does not decode (`nextval(...)`).
fn parse_default(ty: &str, default: &str) -> Option<Value> {
    let text = if swagger_type(ty) == Some("string") {
        let inner = match default.strip_suffix(&format!("::{ty}")) {
            Some(d) => d.trim_matches('\''),
            None => default,
        };
        format!("\"{inner}\"")
    } else {
        default.to_string()
    };
    serde_json::from_str(&text).ok()
}

// ---- definitions ---------------------------------------------------------------------------

fn table_definition(cache: &SchemaCache, t: &Table) -> Value {
    let properties: Map<String, Value> =
        t.columns.iter().map(|c| (c.name.to_string(), column_property(cache, t, c))).collect();
    let required: Vec<&str> = t.columns.iter().filter(|c| !c.nullable).map(|c| &*c.name).collect();
    prune(json!({
        "type": "object",
        "description": t.description,
        "properties": properties,
        "required": required,
    }))
}

/// The single-column foreign key note of a column: the to-one relationship whose key is just
/// this column, relationships to tables before those to views.
fn foreign_key_note(cache: &SchemaCache, t: &Table, col: &str) -> Option<String> {
    let mut candidates: Vec<(bool, &str, &str, &str)> = cache
        .relationships_from(&t.schema, &t.name)
        .iter()
        .filter(|r| match r.cardinality {
            Cardinality::ManyToOne => true,
            Cardinality::OneToOne => r.holds_key,
            _ => false,
        })
        .filter(|r| r.columns.len() == 1 && *r.columns[0].0 == *col)
        .filter_map(|r| {
            let target = cache.table(&r.target.schema, &r.target.name)?;
            Some((target.kind.is_view(), &*target.name, &*r.columns[0].1, &*r.constraint))
        })
        .collect();
    candidates.sort();
    let (_, table, column, _) = candidates.first()?;
    Some(format!("This is a Foreign Key to `{table}.{column}`.<fk table='{table}' column='{column}'/>"))
}

fn column_property(cache: &SchemaCache, t: &Table, c: &Column) -> Value {
    let ty = column_type(&c.type_);
    let mut notes = vec![];
    if t.pk.iter().any(|k| **k == *c.name) {
        notes.push("This is a Primary Key.<pk/>".to_string());
    }
    notes.extend(foreign_key_note(cache, t, &c.name));
    let comment = c.description();
    let description = if notes.is_empty() {
        comment.map(str::to_string)
    } else {
        let prefix = comment.map(|d| format!("{d}\n\n")).unwrap_or_default();
        Some(format!("{prefix}Note:\n{}", notes.join("\n")))
    };
    let mut p = json!({
        "format": swagger_format(&ty),
        "type": swagger_type(&ty),
        "description": description,
        "default": c.default.as_deref().and_then(|d| parse_default(&ty, d)),
        "enum": c.enum_values(),
        "maxLength": column_max_length(c),
    });
    if let Some(items) = array_items(&ty) {
        p["items"] = items;
    }
    prune(p)
}

// ---- parameters ----------------------------------------------------------------------------

fn prefer(values: &[&str]) -> Value {
    prune(json!({
        "name": "Prefer",
        "description": "Preference",
        "required": false,
        "in": "header",
        "type": "string",
        "enum": values,
    }))
}

fn simple_param(name: &str, description: &str, location: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "required": false,
        "in": location,
        "type": "string",
    })
}

fn parameter_definitions(tables: &[&Table]) -> Value {
    const RETURN: [&str; 3] = ["return=representation", "return=minimal", "return=none"];
    const RESOLUTION: [&str; 2] = ["resolution=ignore-duplicates", "resolution=merge-duplicates"];
    let pagination = "Limiting and Pagination";
    let mut range_unit = simple_param("Range-Unit", pagination, "header");
    range_unit["default"] = json!("items");
    let mut m = Map::new();
    m.insert("preferParams".into(), prefer(&[]));
    m.insert("preferReturn".into(), prefer(&RETURN));
    m.insert("preferCount".into(), prefer(&["count=none"]));
    m.insert("preferPost".into(), prefer(&[RETURN.as_slice(), RESOLUTION.as_slice()].concat()));
    m.insert("select".into(), simple_param("select", "Filtering Columns", "query"));
    m.insert("on_conflict".into(), simple_param("on_conflict", "On Conflict", "query"));
    m.insert("order".into(), simple_param("order", "Ordering", "query"));
    m.insert("range".into(), simple_param("Range", pagination, "header"));
    m.insert("rangeUnit".into(), range_unit);
    m.insert("offset".into(), simple_param("offset", pagination, "query"));
    m.insert("limit".into(), simple_param("limit", pagination, "query"));
    for t in tables {
        m.insert(
            format!("body.{}", t.name),
            json!({
                "name": t.name,
                "description": t.name,
                "required": false,
                "in": "body",
                "schema": {"$ref": format!("#/definitions/{}", t.name)},
            }),
        );
        for c in &t.columns {
            m.insert(
                format!("rowFilter.{}.{}", t.name, c.name),
                prune(json!({
                    "name": c.name,
                    "description": c.description(),
                    "required": false,
                    "in": "query",
                    "type": "string",
                })),
            );
        }
    }
    Value::Object(m)
}

// ---- functions -----------------------------------------------------------------------------

/// The overload shown for a function name (PostgREST lists one path per name: the overload
/// with the most parameters), skipping trigger functions and functions PostgREST cannot call
/// (unnamed parameters other than a single json/jsonb/text/xml/bytea one).
fn pick_overload(overloads: &[Routine]) -> Option<&Routine> {
    overloads.iter().filter(|r| r.return_type != "trigger" && r.callable()).max_by(|a, b| {
        let key = |r: &Routine| (r.params.len(), r.params.iter().map(|p| p.type_.clone()).collect::<Vec<_>>());
        key(a).cmp(&key(b))
    })
}

/// A parameter's type as PostgREST shows it: without the qualification by the function's own
/// schema (`test.enum_menagerie_type` → `enum_menagerie_type`). The quoted prefix
/// (`"My Schema".t`) re-implements identifier quoting as `format_type` prints it; kept here
/// rather than calling `query`'s quoting so that `response` does not depend on `query`, until
/// the cache holds unqualified type names.
fn param_type<'r>(r: &Routine, p: &'r Param) -> &'r str {
    let t = p.type_.as_str();
    let quoted = format!("\"{}\".", r.schema.replace('"', "\"\""));
    t.strip_prefix(&format!("{}.", r.schema)).or_else(|| t.strip_prefix(&quoted)).unwrap_or(t)
}

fn routine_get_param(r: &Routine, p: &Param) -> Value {
    let t = param_type(r, p);
    if p.variadic {
        let elem = t.strip_suffix("[]").unwrap_or(t);
        let items = prune(json!({"type": swagger_type(elem), "format": swagger_format(elem)}));
        json!({
            "name": p.name,
            "required": !p.has_default,
            "in": "query",
            "type": swagger_type(t).unwrap_or("string"),
            "collectionFormat": "multi",
            "items": items,
        })
    } else {
        // Arrays are passed as `{a,b}` and json as text in a query string: strings both.
        let ty = match swagger_type(t) {
            Some("array") | None => "string",
            Some(ty) => ty,
        };
        json!({
            "name": p.name,
            "required": !p.has_default,
            "in": "query",
            "format": swagger_format(t),
            "type": ty,
        })
    }
}

fn routine_body_schema(r: &Routine) -> Value {
    let properties: Map<String, Value> = r
        .params
        .iter()
        .map(|p| {
            let t = param_type(r, p);
            let mut s = json!({"format": swagger_format(t), "type": swagger_type(t)});
            if let Some(items) = array_items(t) {
                s["items"] = items;
            }
            (p.name.clone(), prune(s))
        })
        .collect();
    let required: Vec<&str> = r.params.iter().filter(|p| !p.has_default).map(|p| p.name.as_str()).collect();
    prune(json!({
        "description": r.description,
        "type": "object",
        "properties": properties,
        "required": required,
    }))
}

fn routine_path_item(r: &Routine) -> Value {
    let (summary, description) = summary_fields(r.description.as_deref());
    let op = |parameters: Vec<Value>| {
        prune(json!({
            "tags": [format!("(rpc) {}", r.name)],
            "summary": summary,
            "description": description,
            "produces": mimes(&[MediaType::Json, MIME_OBJECT_STRIPPED, MIME_OBJECT]),
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
        }))
    };
    let mut item = Map::new();
    if r.volatility != Volatility::Volatile {
        let params = r.params.iter().map(|p| routine_get_param(r, p)).collect();
        item.insert("get".into(), op(params));
    }
    let body = json!({
        "name": "args",
        "required": true,
        "in": "body",
        "schema": routine_body_schema(r),
    });
    item.insert("post".into(), op(vec![body, reference("preferParams")]));
    Value::Object(item)
}

// ---- host ----------------------------------------------------------------------------------

/// (scheme, host, port, basePath): from the proxy URI when it is a well-formed http(s) URI,
/// else from server-host/server-port with basePath `/`.
fn endpoint(opts: &OpenApiOptions) -> (String, String, u16, String) {
    if let Some(p) = opts.proxy_uri.and_then(parse_proxy_uri) {
        return p;
    }
    let host = match opts.server_host {
        "*" | "*4" | "!4" | "*6" | "!6" => "0.0.0.0",
        h => h,
    };
    ("http".into(), host.into(), opts.server_port, "/".to_string())
}

fn parse_proxy_uri(uri: &str) -> Option<(String, String, u16, String)> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let after = &rest[end..];
    let path_end = after.find(['?', '#']).unwrap_or(after.len());
    let path = match &after[..path_end] {
        "" => "/",
        p => p,
    };
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        (format!("[{h}]"), rest.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") if scheme == "https" => 443,
        None | Some("") => 80,
        Some(p) => p.parse().unwrap_or(80),
    };
    let scheme = if scheme == "http" { "http" } else { "https" };
    Some((scheme.to_string(), host, port, path.to_string()))
}

#[cfg(test)]
mod tests;
