//! Content negotiation: `Accept` → the response's [`Media`], and EXPLAIN requests.
//!
//! In charge of: PostgREST's media types (JSON, `vnd.pgrst.object`/`array`, `nulls=stripped`,
//! CSV, GeoJSON), raw media types and media-type domains for scalar function results, bytes
//! for bytea, media-type handler aggregates, the OpenAPI document's types, and
//! `application/vnd.pgrst.plan` (`db-plan-enabled`). Rejects: no acceptable media type
//! (PGRST107, 406).

use super::read::Shape;
use super::Action;
use crate::api_request::{ApiRequest, SelectItem};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{ReturnShape, SchemaCache};

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

/// Picks the response media type from `Accept`.
pub(super) fn negotiate(
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
        let media =
            negotiate_media(config, cache, req, std::slice::from_ref(&for_media), action).unwrap_or(Media::Json);
        return Ok((media, Some(Explain { json, for_media, options })));
    }
    negotiate_media(config, cache, req, &req.accept, action).map(|m| (m, None))
}

/// Whether the response rows are the relation's rows as they are (no select list, no embeds).
fn selects_whole_rows(shape: &Shape) -> bool {
    shape.embeds.is_empty() && shape.select.iter().all(|i| *i == SelectItem::Star)
}

fn is_xml(action: &Action) -> bool {
    matches!(action, Action::Call { routine, .. } if routine.return_type == "xml")
}

/// What an action's result is, as far as the media types it can be sent as depend on it.
struct Produces<'a> {
    /// A function returning scalars.
    scalar_routine: bool,
    /// Only a single value can be sent as a media-type domain or text/plain: not a set of them.
    single_value: bool,
    /// The media type a single value's domain is named after.
    domain_media: Option<String>,
    /// Binary results (bytea, or a domain over it) are sent as bytes.
    binary: bool,
    /// A function returning xml.
    xml: bool,
    /// Rows of a relation can be rendered by a media-type handler aggregate.
    relation: Option<(&'a str, &'a str)>,
    /// The rows are the relation's rows as they are.
    whole_rows: bool,
}

impl<'a> Produces<'a> {
    fn of(action: &'a Action) -> Produces<'a> {
        let scalar_routine = match action {
            Action::Call { routine, .. } => matches!(routine.shape, ReturnShape::Scalar),
            _ => false,
        };
        let single_value = scalar_routine && matches!(action, Action::Call { routine, .. } if !routine.returns_set);
        let domain_media = match action {
            Action::Call { routine, .. } if single_value => {
                routine.return_domain.as_ref().map(|(d, _)| d.clone()).filter(|d| d.contains('/'))
            }
            _ => None,
        };
        let binary = match action {
            Action::Call { routine, .. } => {
                routine.return_type == "bytea"
                    || routine.return_domain.as_ref().is_some_and(|(_, base)| base == "bytea")
            }
            _ => false,
        };
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
        Produces { scalar_routine, single_value, domain_media, binary, xml: is_xml(action), relation, whole_rows }
    }
}

/// The first of the `accept`ed media types (in preference order) `action` can answer with;
/// `req` names the `Accept` header in the error. For each, in this order: a media-type
/// handler of the relation, the function's media-type domain, PostgREST's own media types.
fn negotiate_media(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    accept: &[String],
    action: &Action,
) -> Result<Media, Error> {
    if matches!(action, Action::Root) {
        return root_media(req, accept);
    }
    let produces = Produces::of(action);
    for accepted in accept {
        let accepted = accepted.as_str();
        let media = handler_for(cache, accepted, &produces)
            .or_else(|| domain_media_for(accepted, &produces))
            .or_else(|| builtin_media(config, accepted, &produces));
        if let Some(media) = media {
            return Ok(media);
        }
    }
    Err(not_acceptable(req))
}

/// The OpenAPI document's media type: it has no other representation.
fn root_media(req: &ApiRequest, accept: &[String]) -> Result<Media, Error> {
    for accepted in accept {
        match accepted.as_str() {
            "*/*" | "application/openapi+json" => return Ok(Media::Raw("application/openapi+json".into())),
            "application/json" | "application/*" => return Ok(Media::Json),
            _ => {}
        }
    }
    Err(not_acceptable(req))
}

/// A media-type handler aggregate for the relation's rows answering `accepted`.
fn handler_for(cache: &SchemaCache, accepted: &str, p: &Produces) -> Option<Media> {
    let relation = Some(p.relation?);
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
        cache.media_handler(wanted, relation).filter(|h| if h.input.is_some() { p.whole_rows } else { !builtin });
    if let Some(h) = handler {
        return Some(handler_media(h, h.media.clone()));
    }
    // A handler for "*/*" on this relation answers any media type PostgREST has no
    // builtin for (its function can set the Content-Type), and `*/*` itself.
    let any = cache
        .media_handler("*/*", relation)
        .filter(|h| h.input.is_some() && p.whole_rows && (accepted == "*/*" || !builtin));
    any.map(|h| handler_media(h, "application/octet-stream".into()))
}

/// A single value sent as the media type its domain is named after, when `accepted` covers it.
fn domain_media_for(accepted: &str, p: &Produces) -> Option<Media> {
    let d = p.domain_media.as_ref()?;
    // A domain named "*/*" answers any Accept, as application/octet-stream.
    if d == "*/*" {
        return Some(Media::RawBinary("application/octet-stream".into()));
    }
    let covers = accepted == d
        || accepted == "*/*"
        || (accepted.ends_with("/*") && d.starts_with(accepted.trim_end_matches('*')));
    if !covers {
        return None;
    }
    if p.binary {
        return Some(Media::RawBinary(d.clone()));
    }
    // Media types PostgREST knows get a charset; any other is sent as named.
    let known = matches!(d.as_str(), "text/plain" | "text/xml" | "text/csv" | "application/json");
    Some(Media::Raw(if known { format!("{d}; charset=utf-8") } else { d.clone() }))
}

/// PostgREST's own media types: bytes, its JSON family, GeoJSON, CSV, then raw scalars.
fn builtin_media(config: &Config, accepted: &str, p: &Produces) -> Option<Media> {
    if accepted == "application/octet-stream" && p.binary && p.scalar_routine {
        return Some(Media::RawBinary("application/octet-stream".into()));
    }
    json_media(accepted).or_else(|| match accepted {
        "application/geo+json" if !p.scalar_routine => Some(Media::GeoJson),
        "text/csv" if !p.scalar_routine => Some(Media::Csv),
        _ => scalar_media(config, accepted, p),
    })
}

/// PostgREST's JSON media types, which every action but the root can answer with.
fn json_media(accepted: &str) -> Option<Media> {
    Some(match accepted {
        "*/*" | "application/json" | "application/*" => Media::Json,
        "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => Media::Json,
        "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => Media::SingleObject,
        "application/vnd.pgrst.array+json;nulls=stripped" | "application/vnd.pgrst.array;nulls=stripped" => {
            Media::JsonStripNulls
        }
        "application/vnd.pgrst.object+json;nulls=stripped" | "application/vnd.pgrst.object;nulls=stripped" => {
            Media::SingleObjectStripNulls
        }
        _ => return None,
    })
}

/// A function's scalar result sent as it is: a `raw-media-types` type, xml, or text.
fn scalar_media(config: &Config, accepted: &str, p: &Produces) -> Option<Media> {
    if !p.scalar_routine {
        return None;
    }
    if config.raw_media_types.iter().any(|r| r == accepted) {
        let charset = if accepted.starts_with("text/") { "; charset=utf-8" } else { "" };
        return Some(Media::Raw(format!("{accepted}{charset}")));
    }
    match accepted {
        "text/xml" if p.xml => Some(Media::Raw("text/xml; charset=utf-8".into())),
        "text/plain" if p.single_value => Some(Media::Raw("text/plain; charset=utf-8".into())),
        _ => None,
    }
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
