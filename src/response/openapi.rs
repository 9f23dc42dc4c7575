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
//! What it does not do: no I/O and no privilege checks of its own (the caller passes
//! [`OpenApiOptions::visible`], computed from the role's privileges, or `None` for
//! `openapi-mode=ignore-privileges`), no HTTP concerns (content negotiation, the
//! `application/openapi+json` Content-Type, `openapi-mode=disabled`, `db-root-spec`), and no
//! OpenAPI 3. Keys of JSON objects come out sorted (serde_json's map), so paths, definitions and
//! properties are in name order.
//!
//! A few catalog facts PostgREST uses are not in the schema cache yet; they are read through the
//! small accessors in the "Catalog facts" section below, which is the one place to change when
//! the cache gains them.

use crate::schema_cache::{Cardinality, Column, Param, Routine, SchemaCache, Table};
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
const MIME_JSON: &str = "application/json";
const MIME_OBJECT_STRIPPED: &str = "application/vnd.pgrst.object+json;nulls=stripped";
const MIME_OBJECT: &str = "application/vnd.pgrst.object+json";
const MIME_CSV: &str = "text/csv";
const MIME_OPENAPI: &str = "application/openapi+json";

// ---------------------------------------------------------------------------------------------
// Catalog facts. The schema cache does not hold these yet; each accessor says what it needs.
// ---------------------------------------------------------------------------------------------

/// COMMENT ON SCHEMA: first line is `info.title`, the rest `info.description`.
/// Needs `obj_description(n.oid, 'pg_namespace')` per exposed schema.
fn schema_description<'c>(cache: &'c SchemaCache, schema: &str) -> Option<&'c str> {
    cache.schema_descriptions.get(schema).map(String::as_str)
}

/// COMMENT ON COLUMN. Needs `col_description(a.attrelid, a.attnum)` per column.
fn column_description(col: &Column) -> Option<&str> {
    col.description.as_deref()
}

/// The labels of the column's enum type (or of the enum a domain is based on), in sort order.
/// Needs `pg_enum.enumlabel ORDER BY enumsortorder` per column.
fn column_enum(col: &Column) -> &[String] {
    col.enum_values.as_deref().unwrap_or(&[])
}

/// `information_schema.character_maximum_length`: derived here from the typmod `format_type`
/// prints for `character(n)`, `character varying(n)`, `bit(n)`, `bit varying(n)`.
fn column_max_length(col: &Column) -> Option<u64> {
    let t = col.type_.as_str();
    let (base, rest) = t.split_once('(')?;
    let n = rest.strip_suffix(')')?;
    match base {
        "character" | "character varying" | "bit" | "bit varying" => n.parse().ok(),
        _ => None,
    }
}

/// Whether PostgREST's `tableInsertable || tableUpdatable || tableDeletable` holds: then the
/// path has `post`/`patch`/`delete`. Tables are writable, materialized views are not; for views
/// and foreign tables PostgREST asks `pg_relation_is_updatable` (and INSTEAD OF triggers), which
/// the cache does not hold, so they are assumed writable.
fn table_writable(t: &Table) -> bool {
    t.insertable || t.updatable || t.deletable
}

/// Partitions are not listed (PostgREST's `accessibleTables` has `NOT c.relispartition`).
/// Needs `c.relispartition`; until then nothing is treated as a partition.
fn table_is_partition(t: &Table) -> bool {
    t.is_partition
}

// ---------------------------------------------------------------------------------------------

/// The whole Swagger 2.0 document for `opts.schema`.
pub fn document(cache: &SchemaCache, opts: &OpenApiOptions) -> Value {
    let visible = |kind: &str, name: &str| opts.visible.is_none_or(|f| f(kind, name));

    let mut tables: Vec<&Table> = cache
        .tables
        .values()
        .filter(|t| t.schema == opts.schema && !table_is_partition(t) && visible("table", &t.name))
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));

    let mut routines: Vec<&Routine> = cache
        .routines
        .iter()
        .filter(|((schema, name), _)| schema == opts.schema && visible("function", name))
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

    let definitions: Map<String, Value> = tables.iter().map(|t| (t.name.clone(), table_definition(cache, t))).collect();

    let (title, description) = match schema_description(cache, opts.schema) {
        Some(d) => {
            let (t, rest) = split_description(d);
            (t.to_string(), rest.to_string())
        }
        None => ("PostgREST API".to_string(), "This is a dynamic API generated by PostgREST".to_string()),
    };

    let (scheme, host, port, base_path) = endpoint(opts);
    let mimes = json!([MIME_JSON, MIME_OBJECT_STRIPPED, MIME_OBJECT, MIME_CSV]);

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
        "produces": [MIME_OPENAPI, MIME_JSON],
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
    if table_writable(t) {
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
        t.columns.iter().map(|c| (c.name.clone(), column_property(cache, t, c))).collect();
    let required: Vec<&str> = t.columns.iter().filter(|c| !c.nullable).map(|c| c.name.as_str()).collect();
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
            Cardinality::OneToOne => holds_foreign_key(cache, r),
            _ => false,
        })
        .filter(|r| r.columns.len() == 1 && r.columns[0].0 == col)
        .filter_map(|r| {
            let target = cache.table(&r.target.0, &r.target.1)?;
            Some((
                matches!(target.kind.as_str(), "v" | "m"),
                target.name.as_str(),
                r.columns[0].1.as_str(),
                r.constraint.as_str(),
            ))
        })
        .collect();
    candidates.sort();
    let (_, table, column, _) = candidates.first()?;
    Some(format!("This is a Foreign Key to `{table}.{column}`.<fk table='{table}' column='{column}'/>"))
}

/// Whether the source of a one-to-one relationship is the side whose columns hold the key.
fn holds_foreign_key(cache: &SchemaCache, r: &crate::schema_cache::Relationship) -> bool {
    let src_cols: Vec<&String> = r.columns.iter().map(|(s, _)| s).collect();
    cache.foreign_keys.iter().any(|fk| {
        fk.name == r.constraint
            && fk.schema == r.source.0
            && fk.table == r.source.1
            && fk.columns.iter().collect::<Vec<_>>() == src_cols
    })
}

fn column_property(cache: &SchemaCache, t: &Table, c: &Column) -> Value {
    let ty = column_type(&c.type_);
    let mut notes = vec![];
    if t.pk.contains(&c.name) {
        notes.push("This is a Primary Key.<pk/>".to_string());
    }
    notes.extend(foreign_key_note(cache, t, &c.name));
    let comment = column_description(c);
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
        "enum": column_enum(c),
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
                    "description": column_description(c),
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
    overloads.iter().filter(|r| r.return_type != "trigger" && callable(&r.params)).max_by(|a, b| {
        let key = |r: &Routine| (r.params.len(), r.params.iter().map(|p| p.type_.clone()).collect::<Vec<_>>());
        key(a).cmp(&key(b))
    })
}

fn callable(params: &[Param]) -> bool {
    let unnamed: Vec<&Param> = params.iter().filter(|p| p.name.is_empty()).collect();
    match unnamed.as_slice() {
        [] => true,
        [p] => matches!(p.type_.as_str(), "bytea" | "json" | "jsonb" | "text" | "xml"),
        _ => false,
    }
}

/// A parameter's type as PostgREST shows it: without the qualification by the function's own
/// schema (`test.enum_menagerie_type` → `enum_menagerie_type`).
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
            "produces": [MIME_JSON, MIME_OBJECT_STRIPPED, MIME_OBJECT],
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
        }))
    };
    let mut item = Map::new();
    if r.volatility != 'v' {
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
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{
      "tables": [
        {"schema":"test","name":"entities","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"]],
         "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
        {"schema":"test","name":"child_entities","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":"child_entities comment",
         "pk":["id"],"uniques":[["id"]],"columns":[
          {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
          {"name":"name","type":"text","nullable":true,"default":null,"generated":false},
          {"name":"parent_id","type":"integer","nullable":true,"default":null,"generated":false}]},
        {"schema":"test","name":"grandchild_entities","kind":"r","insertable":true,"updatable":true,"deletable":true,
         "description":"grandchild_entities summary\n\ngrandchild_entities description\nthat spans\nmultiple lines",
         "pk":["id"],"uniques":[["id"]],"columns":[
          {"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
        {"schema":"test","name":"first","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"],["second_id_1"]],
         "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
                    {"name":"second_id_1","type":"integer","nullable":true,"default":null,"generated":false}]},
        {"schema":"test","name":"second","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"]],
         "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
        {"schema":"test","name":"materialized_projects","kind":"m","description":"A materialized view for projects\nJust a test for materialized views","pk":[],
         "columns":[{"name":"id","type":"integer","nullable":true,"default":null,"generated":false}]},
        {"schema":"test","name":"openapi_types","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],"columns":[
          {"name":"a_character_varying","type":"character varying","nullable":true,"default":null,"generated":false},
          {"name":"a_character","type":"character(1)","nullable":true,"default":null,"generated":false},
          {"name":"a_varchar20","type":"character varying(20)","nullable":true,"default":null,"generated":false},
          {"name":"a_smallint","type":"smallint","nullable":true,"default":null,"generated":false},
          {"name":"a_bigint","type":"bigint","nullable":true,"default":null,"generated":false},
          {"name":"a_double_precision","type":"double precision","nullable":true,"default":null,"generated":false},
          {"name":"a_numeric","type":"numeric(10,2)","nullable":true,"default":null,"generated":false},
          {"name":"a_json","type":"json","nullable":true,"default":null,"generated":false},
          {"name":"a_text_arr","type":"text[]","nullable":true,"default":null,"generated":false},
          {"name":"a_int_arr","type":"integer[]","nullable":true,"default":null,"generated":false},
          {"name":"a_jsonb_arr","type":"jsonb[]","nullable":true,"default":null,"generated":false}]},
        {"schema":"test","name":"openapi_defaults","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],"columns":[
          {"name":"text","type":"text","nullable":true,"default":"'default'::text","generated":false},
          {"name":"boolean","type":"boolean","nullable":true,"default":"false","generated":false},
          {"name":"integer","type":"integer","nullable":true,"default":"42","generated":false},
          {"name":"numeric","type":"numeric","nullable":true,"default":"42.2","generated":false},
          {"name":"date","type":"date","nullable":true,"default":"'1900-01-01'::date","generated":false},
          {"name":"time","type":"time without time zone","nullable":true,"default":"'13:00:00'::time without time zone","generated":false},
          {"name":"serial","type":"integer","nullable":false,"default":"nextval('s'::regclass)","generated":false}]},
        {"schema":"v1","name":"children","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],
         "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]}
      ],
      "foreign_keys": [
        {"name":"child_entities_parent_id_fkey","schema":"test","table":"child_entities","columns":["parent_id"],
         "foreign_schema":"test","foreign_table":"entities","foreign_columns":["id"]},
        {"name":"first_second_id_1_fkey","schema":"test","table":"first","columns":["second_id_1"],
         "foreign_schema":"test","foreign_table":"second","foreign_columns":["id"]}
      ],
      "routines": [
        {"schema":"test","name":"varied","description":"An RPC function\n\nJust a test for RPC function arguments",
         "arg_names":["double","enum","int_arr","json","integer"],"arg_modes":[],
         "arg_types":["double precision","test.enum_menagerie_type","integer[]","json","integer"],
         "n_defaults":2,"returns_set":false,"return_type":"text","return_typtype":"b","return_schema":null,
         "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"i","variadic":false},
        {"schema":"test","name":"variadic_param","description":null,"arg_names":["v"],"arg_modes":["v"],
         "arg_types":["text[]"],"n_defaults":1,"returns_set":false,"return_type":"text[]","return_typtype":"b",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"i","variadic":true},
        {"schema":"test","name":"many_out_params","description":null,"arg_names":["my_json","num"],"arg_modes":["o","o"],
         "arg_types":["json","integer"],"n_defaults":0,"returns_set":false,"return_type":"record","return_typtype":"p",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"v","variadic":false},
        {"schema":"test","name":"many_inout_params","description":null,"arg_names":["num","str","b"],"arg_modes":["b","b","b"],
         "arg_types":["integer","text","boolean"],"n_defaults":1,"returns_set":false,"return_type":"record","return_typtype":"p",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"v","variadic":false},
        {"schema":"test","name":"privileged_hello","description":null,"arg_names":["name"],"arg_modes":[],
         "arg_types":["text"],"n_defaults":0,"returns_set":false,"return_type":"text","return_typtype":"b",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"v","variadic":false},
        {"schema":"test","name":"a_trigger","description":null,"arg_names":[],"arg_modes":[],
         "arg_types":[],"n_defaults":0,"returns_set":false,"return_type":"trigger","return_typtype":"p",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"v","variadic":false},
        {"schema":"v1","name":"get_parents_below","description":null,"arg_names":[],"arg_modes":[],
         "arg_types":[],"n_defaults":0,"returns_set":true,"return_type":"integer","return_typtype":"b",
         "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
         "volatility":"s","variadic":false}
      ]
    }"#;

    fn cache() -> SchemaCache {
        SchemaCache::from_json(SCHEMA).expect("schema")
    }

    fn opts<'a>(schema: &'a str) -> OpenApiOptions<'a> {
        OpenApiOptions {
            schema,
            proxy_uri: None,
            security_active: false,
            server_host: "!4",
            server_port: 3000,
            visible: None,
        }
    }

    fn at<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
        path.iter().fold(v, |v, k| match k.parse::<usize>() {
            Ok(i) if v.is_array() => &v[i],
            _ => &v[*k],
        })
    }

    #[test]
    fn top_level() {
        let doc = document(&cache(), &opts("test"));
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["title"], "PostgREST API");
        assert_eq!(doc["info"]["description"], "This is a dynamic API generated by PostgREST");
        assert_eq!(doc["host"], "0.0.0.0:3000");
        assert_eq!(doc["basePath"], "/");
        assert_eq!(doc["schemes"], json!(["http"]));
        assert_eq!(doc["produces"], json!([MIME_JSON, MIME_OBJECT_STRIPPED, MIME_OBJECT, MIME_CSV]));
        assert!(doc.get("security").is_none());
        assert!(doc.get("securityDefinitions").is_none());
        assert_eq!(at(&doc, &["paths", "/", "get", "produces"]), &json!([MIME_OPENAPI, MIME_JSON]));
        // Only the requested schema.
        assert!(doc["paths"].get("/children").is_none());
        assert!(doc["paths"].get("/rpc/get_parents_below").is_none());
        let v1 = document(&cache(), &opts("v1"));
        assert!(v1["paths"].get("/children").is_some());
        assert!(v1["paths"].get("/rpc/get_parents_below").is_some());
        assert!(v1["paths"].get("/child_entities").is_none());
    }

    #[test]
    fn table_paths() {
        let doc = document(&cache(), &opts("test"));
        let get = at(&doc, &["paths", "/child_entities", "get"]);
        assert_eq!(get["summary"], "child_entities comment");
        assert!(get.get("description").is_none());
        assert_eq!(get["tags"], json!(["child_entities"]));
        let refs = |names: &[&str]| -> Value { names.iter().map(|n| reference(n)).collect() };
        assert_eq!(
            get["parameters"],
            refs(&[
                "rowFilter.child_entities.id",
                "rowFilter.child_entities.name",
                "rowFilter.child_entities.parent_id",
                "select",
                "order",
                "range",
                "rangeUnit",
                "offset",
                "limit",
                "preferCount"
            ])
        );
        assert_eq!(
            get["responses"]["200"]["schema"],
            json!({"items": {"$ref": "#/definitions/child_entities"}, "type": "array"})
        );
        assert_eq!(get["responses"]["206"]["description"], json!("Partial Content"));
        let post = at(&doc, &["paths", "/child_entities", "post"]);
        assert_eq!(post["parameters"], refs(&["body.child_entities", "select", "preferPost"]));
        assert_eq!(post["responses"]["201"]["description"], "Created");
        let patch = at(&doc, &["paths", "/child_entities", "patch"]);
        assert_eq!(patch["responses"]["204"]["description"], "No Content");
        assert_eq!(
            patch["parameters"],
            refs(&[
                "rowFilter.child_entities.id",
                "rowFilter.child_entities.name",
                "rowFilter.child_entities.parent_id",
                "body.child_entities",
                "preferReturn"
            ])
        );
        let delete = at(&doc, &["paths", "/child_entities", "delete"]);
        assert_eq!(delete["responses"]["204"]["description"], "No Content");

        let g = at(&doc, &["paths", "/grandchild_entities", "get"]);
        assert_eq!(g["summary"], "grandchild_entities summary");
        assert_eq!(g["description"], "grandchild_entities description\nthat spans\nmultiple lines");

        // Materialized views are read-only.
        let m = at(&doc, &["paths", "/materialized_projects"]);
        assert_eq!(m["get"]["summary"], "A materialized view for projects");
        assert_eq!(m["get"]["description"], "Just a test for materialized views");
        assert!(m.get("post").is_none() && m.get("patch").is_none() && m.get("delete").is_none());
    }

    #[test]
    fn definitions() {
        let doc = document(&cache(), &opts("test"));
        assert_eq!(
            doc["definitions"]["child_entities"],
            json!({
                "type": "object",
                "description": "child_entities comment",
                "properties": {
                    "id": {"description": "Note:\nThis is a Primary Key.<pk/>", "format": "int32", "type": "integer"},
                    "name": {"format": "text", "type": "string"},
                    "parent_id": {
                        "description": "Note:\nThis is a Foreign Key to `entities.id`.<fk table='entities' column='id'/>",
                        "format": "int32", "type": "integer"
                    }
                },
                "required": ["id"]
            })
        );
        // One-to-one: the note is on the side holding the key only.
        assert_eq!(
            at(&doc, &["definitions", "first", "properties", "second_id_1"]),
            &json!({"format": "int32", "type": "integer",
                    "description": "Note:\nThis is a Foreign Key to `second.id`.<fk table='second' column='id'/>"})
        );
        assert_eq!(
            at(&doc, &["definitions", "second", "properties", "id", "description"]),
            &json!("Note:\nThis is a Primary Key.<pk/>")
        );
        let types = &doc["definitions"]["openapi_types"]["properties"];
        assert_eq!(types["a_character_varying"], json!({"format": "character varying", "type": "string"}));
        assert_eq!(types["a_character"], json!({"maxLength": 1, "format": "character", "type": "string"}));
        assert_eq!(types["a_varchar20"], json!({"maxLength": 20, "format": "character varying", "type": "string"}));
        assert_eq!(types["a_smallint"], json!({"format": "int32", "type": "integer"}));
        assert_eq!(types["a_bigint"], json!({"format": "int64", "type": "integer"}));
        assert_eq!(types["a_double_precision"], json!({"format": "double precision", "type": "number"}));
        assert_eq!(types["a_numeric"], json!({"format": "numeric", "type": "number"}));
        assert_eq!(types["a_json"], json!({"format": "json"}));
        assert_eq!(types["a_text_arr"], json!({"format": "text[]", "type": "array", "items": {"type": "string"}}));
        assert_eq!(types["a_int_arr"], json!({"format": "integer[]", "type": "array", "items": {"type": "integer"}}));
        assert_eq!(types["a_jsonb_arr"], json!({"format": "jsonb[]", "type": "array", "items": {}}));
        let defaults = &doc["definitions"]["openapi_defaults"];
        let d = |c: &str| defaults["properties"][c].get("default").cloned();
        assert_eq!(d("text"), Some(json!("default")));
        assert_eq!(d("boolean"), Some(json!(false)));
        assert_eq!(d("integer"), Some(json!(42)));
        assert_eq!(d("numeric"), Some(json!(42.2)));
        assert_eq!(d("date"), Some(json!("1900-01-01")));
        assert_eq!(d("time"), Some(json!("13:00:00")));
        assert_eq!(d("serial"), None);
        assert_eq!(defaults["required"], json!(["serial"]));
        // Views report nullable columns: no `required`.
        assert!(doc["definitions"]["materialized_projects"].get("required").is_none());
    }

    #[test]
    fn parameters() {
        let doc = document(&cache(), &opts("test"));
        let p = &doc["parameters"];
        assert!(p["preferParams"].get("enum").is_none());
        assert_eq!(p["preferCount"]["enum"], json!(["count=none"]));
        assert_eq!(
            p["preferPost"]["enum"],
            json!([
                "return=representation",
                "return=minimal",
                "return=none",
                "resolution=ignore-duplicates",
                "resolution=merge-duplicates"
            ])
        );
        assert_eq!(
            p["rangeUnit"],
            json!({"name": "Range-Unit", "description": "Limiting and Pagination",
                   "required": false, "in": "header", "type": "string", "default": "items"})
        );
        assert_eq!(
            p["select"],
            json!({"name": "select", "description": "Filtering Columns",
                   "required": false, "in": "query", "type": "string"})
        );
        assert_eq!(
            p["body.child_entities"],
            json!({"name": "child_entities", "description": "child_entities", "required": false,
                   "in": "body", "schema": {"$ref": "#/definitions/child_entities"}})
        );
        assert_eq!(
            p["rowFilter.child_entities.parent_id"],
            json!({"name": "parent_id", "required": false, "in": "query", "type": "string"})
        );
        assert!(p.get("on_conflict").is_some() && p.get("limit").is_some());
    }

    #[test]
    fn rpc_paths() {
        let doc = document(&cache(), &opts("test"));
        let get = at(&doc, &["paths", "/rpc/varied", "get"]);
        assert_eq!(get["summary"], "An RPC function");
        assert_eq!(get["description"], "Just a test for RPC function arguments");
        assert_eq!(get["tags"], json!(["(rpc) varied"]));
        assert_eq!(
            get["parameters"],
            json!([
                {"format": "double precision", "in": "query", "name": "double", "required": true, "type": "number"},
                {"format": "enum_menagerie_type", "in": "query", "name": "enum", "required": true, "type": "string"},
                {"format": "integer[]", "in": "query", "name": "int_arr", "required": true, "type": "string"},
                {"format": "json", "in": "query", "name": "json", "required": false, "type": "string"},
                {"format": "int32", "in": "query", "name": "integer", "required": false, "type": "integer"}
            ])
        );
        let post = at(&doc, &["paths", "/rpc/varied", "post"]);
        assert_eq!(post["summary"], "An RPC function");
        assert_eq!(
            post["parameters"][0]["schema"],
            json!({
                "required": ["double", "enum", "int_arr"],
                "properties": {
                    "double": {"format": "double precision", "type": "number"},
                    "enum": {"format": "enum_menagerie_type", "type": "string"},
                    "int_arr": {"format": "integer[]", "type": "array", "items": {"type": "integer"}},
                    "json": {"format": "json"},
                    "integer": {"format": "int32", "type": "integer"}
                },
                "type": "object",
                "description": "An RPC function\n\nJust a test for RPC function arguments"
            })
        );
        assert_eq!(post["parameters"][1], reference("preferParams"));
        assert_eq!(
            at(&doc, &["paths", "/rpc/variadic_param", "get", "parameters", "0"]),
            &json!({"collectionFormat": "multi", "in": "query", "items": {"format": "text", "type": "string"},
                    "name": "v", "required": false, "type": "array"})
        );
        // Volatile: POST only. OUT parameters are not arguments; INOUT ones are.
        let out = at(&doc, &["paths", "/rpc/many_out_params"]);
        assert!(out.get("get").is_none());
        assert!(out["post"]["parameters"][0]["schema"].get("required").is_none());
        assert_eq!(
            at(&doc, &["paths", "/rpc/many_inout_params", "post", "parameters", "0", "schema", "required"]),
            &json!(["num", "str"])
        );
        assert!(doc["paths"].get("/rpc/a_trigger").is_none());
    }

    #[test]
    fn privileges() {
        let only_public = |kind: &str, name: &str| match kind {
            "table" => name != "child_entities",
            _ => name != "privileged_hello",
        };
        let mut o = opts("test");
        o.visible = Some(&only_public);
        let doc = document(&cache(), &o);
        assert!(doc["paths"].get("/child_entities").is_none());
        assert!(doc["definitions"].get("child_entities").is_none());
        assert!(doc["parameters"].get("body.child_entities").is_none());
        assert!(doc["paths"].get("/rpc/privileged_hello").is_none());
        assert!(doc["paths"].get("/grandchild_entities").is_some());
        let all = document(&cache(), &opts("test"));
        assert_eq!(
            at(&all, &["paths", "/rpc/privileged_hello", "post", "tags", "0"]),
            &json!("(rpc) privileged_hello")
        );
    }

    #[test]
    fn proxy_and_security() {
        let mut o = opts("test");
        o.proxy_uri = Some("https://postgrest.com/openapi.json");
        o.security_active = true;
        let doc = document(&cache(), &o);
        assert_eq!(doc["host"], "postgrest.com:443");
        assert_eq!(doc["basePath"], "/openapi.json");
        assert_eq!(doc["schemes"], json!(["https"]));
        assert_eq!(doc["security"], json!([{"JWT": []}]));
        assert_eq!(
            doc["securityDefinitions"],
            json!({"JWT": {"description": "Add the token prepending \"Bearer \" (without quotes) to it",
                           "in": "header", "name": "Authorization", "type": "apiKey"}})
        );
        assert_eq!(
            parse_proxy_uri("HTTP://example.org:8080"),
            Some(("http".into(), "example.org".into(), 8080, "/".into()))
        );
        assert_eq!(
            parse_proxy_uri("http://u:p@[::1]/api?x=1"),
            Some(("http".into(), "[::1]".into(), 80, "/api".into()))
        );
        assert_eq!(parse_proxy_uri("ftp://example.org"), None);
        let mut o = opts("test");
        o.proxy_uri = Some("not a uri");
        o.server_host = "localhost";
        o.server_port = 3001;
        let doc = document(&cache(), &o);
        assert_eq!(doc["host"], "localhost:3001");
    }

    #[test]
    fn type_helpers() {
        assert_eq!(column_type("numeric(10,2)[]"), "numeric[]");
        assert_eq!(column_type("timestamp(3) with time zone"), "timestamp with time zone");
        assert_eq!(column_type("test.\"odd(1)\""), "test.\"odd(1)\"");
        assert_eq!(parse_default("text", "'a'::text"), Some(json!("a")));
        assert_eq!(parse_default("timestamp with time zone", "now()"), Some(json!("now()")));
        assert_eq!(parse_default("jsonb", "'{}'::jsonb"), None);
        assert_eq!(split_description("a\n\n\nb"), ("a", "b"));
        assert_eq!(split_description("a"), ("a", ""));
    }
}
