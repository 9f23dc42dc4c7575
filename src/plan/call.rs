//! Function calls (`/rpc/name`, and `db-root-spec`).
//!
//! In charge of: which query parameters are arguments and which filter the result, the
//! arguments from the body (named, or the whole body as a single unnamed parameter),
//! PostgREST's overload resolution, and the shape of the returned rows. Rejects: no matching
//! function (PGRST202, with a "Perhaps you meant" hint), several (PGRST203), `max-affected`
//! on a function not returning a set.

use super::field::Resolver;
use super::read::root_shape;
use super::{Action, Shape, TxPlan};
use crate::api_request::{ApiRequest, Filter, MediaType, Method};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{Param, ReturnShape, Routine, SchemaCache};

#[derive(Debug, Clone)]
pub enum CallArgs {
    /// Named arguments from a JSON object (body or query string): the signature's parameters
    /// it gives, in the signature's order.
    Named {
        json: String,
        params: Vec<Param>,
    },
    /// The whole body as the single unnamed parameter, of this type.
    Single {
        value: Vec<u8>,
        type_: String,
    },
    None,
}

/// A call of the function `name`: the overload the arguments pick, the arguments, and the
/// shape of the rows it returns.
pub(super) fn plan_call(
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
    let (get_args, filters) = split_query_params(req, &param_names, read_only)?;

    let body_kind = BodyKind::of(req);
    let (arg_names, body_args) = if read_only {
        let mut names: Vec<String> = Vec::new();
        for (k, _) in &get_args {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        (names, None)
    } else {
        body_arguments(req, &body_kind)
    };
    let routine = choose_routine(req, cache, &candidates, name, &arg_names, &body_kind)?;
    if tx.max_affected.is_some() && !routine.returns_set {
        return Err(Error::MaxAffectedNeedsSet);
    }

    // A single unnamed parameter (named "") is passed positionally, as PostgREST does: it takes
    // the whole body, or for GET the arguments as one JSON object (`?=v` gives `{"":"v"}`).
    let single_unnamed = routine.params.len() == 1 && routine.params[0].name.is_empty();
    let args = if read_only && single_unnamed {
        let obj: serde_json::Map<String, serde_json::Value> =
            get_args.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        CallArgs::Single {
            value: serde_json::Value::Object(obj).to_string().into_bytes(),
            type_: routine.params[0].type_.clone(),
        }
    } else if !read_only && (single_unnamed || (req.preferences.single_object && routine.params.len() == 1)) {
        let body = req.payload.as_ref().map(|p| p.json_bytes().to_vec()).unwrap_or_else(|| b"{}".to_vec());
        CallArgs::Single { value: body, type_: routine.params[0].type_.clone() }
    } else {
        let obj = if read_only {
            query_arguments(routine, &get_args)
        } else {
            let mut obj = body_args.unwrap_or_default();
            // A variadic argument given one value is a one-element array.
            for p in routine.params.iter().filter(|p| p.variadic) {
                if let Some(v) = obj.get_mut(&p.name) {
                    if !v.is_array() {
                        *v = serde_json::Value::Array(vec![v.take()]);
                    }
                }
            }
            obj
        };
        let params: Vec<Param> = routine
            .params
            .iter()
            // An unnamed parameter among named ones cannot be passed by name: left out.
            .filter(|p| !p.name.is_empty() && obj.contains_key(&p.name))
            .cloned()
            .collect();
        if params.is_empty() {
            CallArgs::None
        } else {
            CallArgs::Named { json: serde_json::Value::Object(obj).to_string(), params }
        }
    };
    let shape = call_shape(config, cache, req, routine, filters)?;
    Ok(Action::Call { routine: Box::new(routine.clone()), args, shape })
}

/// A GET call's arguments from the query string, in order, as `(name, value)`.
type QueryArgs = Vec<(String, String)>;

/// GET: a query parameter is an argument unless it is a filter on the result: the first
/// occurrence of a parameter name is the argument, and a name that is no parameter is an
/// argument only when its value is not a filter (so an unknown argument is reported).
/// Otherwise every query parameter is a filter.
fn split_query_params(
    req: &ApiRequest,
    param_names: &[&str],
    read_only: bool,
) -> Result<(QueryArgs, Vec<Filter>), Error> {
    let mut get_args: QueryArgs = Vec::new();
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
    Ok((get_args, filters))
}

/// The named arguments of a JSON (or converted) body: its keys (restricted by `columns=`) and
/// the object. An array of objects gives the first one's, as PostgREST does.
fn body_arguments(
    req: &ApiRequest,
    body_kind: &BodyKind,
) -> (Vec<String>, Option<serde_json::Map<String, serde_json::Value>>) {
    match (body_kind, &req.payload) {
        (BodyKind::Json | BodyKind::Converted, Some(p)) if !req.preferences.single_object => {
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
}

/// The arguments of a GET call as a JSON object: a repeated array parameter (or any variadic
/// one) becomes an array of its values.
fn query_arguments(routine: &Routine, get_args: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    let mut obj = serde_json::Map::new();
    for (k, v) in get_args {
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
    obj
}

/// The shape of the rows a function returns, filtered by `filters`; their columns are those
/// of the relation it returns, or its OUT / TABLE parameters.
fn call_shape(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    routine: &Routine,
    filters: Vec<Filter>,
) -> Result<Shape, Error> {
    let rows = match &routine.shape {
        ReturnShape::Composite { relation: Some(r) } => Resolver::relation(cache, Some(r)),
        // OUT / TABLE parameters: their types are known too.
        _ => Resolver::out_columns(cache, &routine.out_columns),
    };
    let mut shape = root_shape(config, req, rows)?;
    shape.filters = filters.iter().map(|f| rows.condition(f)).collect();
    Ok(shape)
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
        match req.content_type {
            MediaType::Json => BodyKind::Json,
            MediaType::UrlEncoded | MediaType::Csv => BodyKind::Converted,
            MediaType::TextPlain => BodyKind::Text,
            MediaType::TextXml => BodyKind::Xml,
            MediaType::OctetStream => BodyKind::Bytea,
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

/// PostgREST's overload resolution: a function whose parameters cover the arguments given
/// (required ones present, no unknown ones; an unnamed parameter is named `""`), else (for
/// POST) one with a single unnamed parameter of the body's type. Several left: PGRST203 (300),
/// whatever their parameter counts; none: PGRST202 (404).
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
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let qualified = format!("{}.{}", req.schema, name);
            let or_json = if post && matches!(body, BodyKind::Json) {
                " or with a single unnamed json/jsonb parameter"
            } else {
                ""
            };
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
                    format!(
                        "Searched for the function {qualified} without parameters{}, but no matches were found in the schema cache.",
                        or_json
                    ),
                )
            } else {
                // PostgREST names the arguments in sorted order.
                let mut sorted = arg_names.to_vec();
                sorted.sort();
                let list = sorted.join(", ");
                let noun = if arg_names.len() == 1 { "parameter" } else { "parameters" };
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
            // PostgREST's order: fewer parameters first, then by the parameters' (name, type).
            let mut many = many.to_vec();
            many.sort_by(|a, b| {
                let key = |r: &Routine| {
                    r.params.iter().map(|p| (p.name.clone(), p.type_.clone())).collect::<Vec<(String, String)>>()
                };
                a.params.len().cmp(&b.params.len()).then_with(|| key(a).cmp(&key(b)))
            });
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
            .filter(|(k, rs)| *k.schema == *req.schema && rs.iter().any(|r| r.callable() && r.usable_by(&req.role)))
            .map(|(k, _)| &*k.name)
            .collect();
        // A fixed order, so that equally close names always give the same hint.
        names.sort_unstable();
        crate::fuzzy::closest_scoring(&names, name, crate::fuzzy::NAME_SCORE)?.to_string()
    } else {
        let lists: Vec<String> = candidates
            .iter()
            .filter(|r| r.usable_by(&req.role))
            .map(|r| sorted_list(r.params.iter().map(|p| p.name.as_str()).collect()))
            .collect();
        let lists: Vec<&str> = lists.iter().map(String::as_str).collect();
        let query = sorted_list(arg_names.iter().map(String::as_str).collect());
        format!("{name}{}", crate::fuzzy::closest(&lists, &query)?)
    };
    Some(format!("Perhaps you meant to call the function {}.{found}", req.schema))
}
