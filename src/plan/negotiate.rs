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

/// The first of the `accept`ed media types (in preference order) `action` can answer with;
/// `req` names the `Accept` header in the error.
fn negotiate_media(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    accept: &[String],
    action: &Action,
) -> Result<Media, Error> {
    if matches!(action, Action::Root) {
        for accepted in accept {
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
    for accepted in accept {
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
