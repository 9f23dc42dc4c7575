//! Content negotiation: `Accept` → the response's [`Media`], and EXPLAIN requests.
//!
//! In charge of: PostgREST's media types (JSON, `vnd.pgrst.object`/`array`, `nulls=stripped`,
//! CSV, GeoJSON), raw media types and media-type domains for scalar function results, bytes
//! for bytea, media-type handler aggregates, the OpenAPI document's types, and
//! `application/vnd.pgrst.plan` (`db-plan-enabled`). Rejects: no acceptable media type
//! (PGRST107, 406).

use super::field::Select;
use super::read::Shape;
use super::Action;
use crate::api_request::{ApiRequest, MediaType, PlanFormat, Vnd};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{QualifiedName, ReturnShape, SchemaCache};

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
        function: QualifiedName,
        media: String,
        /// The handler's result type (the media-type domain's base type).
        base: String,
        row_type: Option<QualifiedName>,
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
            Media::Raw(m) if *m == MediaType::OpenApi.text() => format!("{m}; charset=utf-8"),
            Media::Raw(m) | Media::RawBinary(m) => m.clone(),
            Media::Handler { media, .. } => {
                let known = matches!(
                    MediaType::parse(media, &[]),
                    MediaType::TextPlain | MediaType::TextXml | MediaType::Csv | MediaType::Json | MediaType::GeoJson
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
        let MediaType::Plan(plan) = accepted else { continue };
        if !config.db_plan_enabled || matches!(action, Action::Root | Action::Options { .. }) {
            continue;
        }
        let for_media = plan.for_media.clone().unwrap_or_else(|| MediaType::Json.text().into_owned());
        let explained = [MediaType::parse(&for_media, &[])];
        let media = negotiate_media(config, cache, req, &explained, action).unwrap_or(Media::Json);
        let options = plan.options.clone().unwrap_or_default();
        return Ok((media, Some(Explain { json: plan.format == PlanFormat::Json, for_media, options })));
    }
    negotiate_media(config, cache, req, &req.accept, action).map(|m| (m, None))
}

/// Whether the response rows are the relation's rows as they are (no select list, no embeds).
fn selects_whole_rows(shape: &Shape) -> bool {
    shape.embeds.is_empty() && shape.select.iter().all(|i| matches!(i, Select::Star))
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
    relation: Option<&'a QualifiedName>,
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
        let (relation, whole_rows) = match action {
            Action::Read { table, shape } | Action::Mutate { table, shape, .. } => {
                (Some(table), selects_whole_rows(shape))
            }
            Action::Call { routine, shape, .. } => match &routine.shape {
                ReturnShape::Composite { relation: Some(r) } => (Some(r), selects_whole_rows(shape)),
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
    accept: &[MediaType],
    action: &Action,
) -> Result<Media, Error> {
    if matches!(action, Action::Root) {
        return root_media(req, accept);
    }
    let produces = Produces::of(action);
    for accepted in accept {
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
fn root_media(req: &ApiRequest, accept: &[MediaType]) -> Result<Media, Error> {
    for accepted in accept {
        match accepted {
            MediaType::Any | MediaType::OpenApi => return Ok(Media::Raw(MediaType::OpenApi.text().into_owned())),
            MediaType::Json | MediaType::AnyApplication => return Ok(Media::Json),
            _ => {}
        }
    }
    Err(not_acceptable(req))
}

/// A media-type handler aggregate for the relation's rows answering `accepted`.
fn handler_for(cache: &SchemaCache, accepted: &MediaType, p: &Produces) -> Option<Media> {
    let relation = Some(p.relation?);
    let any = *accepted == MediaType::Any;
    let wanted = if any { MediaType::Json.text() } else { accepted.text() };
    // A handler for this relation's rows needs them whole; one for any rows
    // (anyelement) does not override PostgREST's own media types.
    let builtin = matches!(
        accepted,
        MediaType::Any
            | MediaType::Json
            | MediaType::Object(Vnd { strip_nulls: false, .. })
            | MediaType::Csv
            | MediaType::GeoJson
    );
    let handler =
        cache.media_handler(&wanted, relation).filter(|h| if h.input.is_some() { p.whole_rows } else { !builtin });
    if let Some(h) = handler {
        return Some(handler_media(h, h.media.clone()));
    }
    // A handler for "*/*" on this relation answers any media type PostgREST has no
    // builtin for (its function can set the Content-Type), and `*/*` itself.
    let any_handler = cache
        .media_handler(&MediaType::Any.text(), relation)
        .filter(|h| h.input.is_some() && p.whole_rows && (any || !builtin));
    any_handler.map(|h| handler_media(h, MediaType::OctetStream.text().into_owned()))
}

/// A single value sent as the media type its domain is named after, when `accepted` covers it.
fn domain_media_for(accepted: &MediaType, p: &Produces) -> Option<Media> {
    let d = p.domain_media.as_ref()?;
    let d_type = MediaType::parse(d, &[]);
    // A domain named "*/*" answers any Accept, as application/octet-stream.
    if d_type == MediaType::Any {
        return Some(Media::RawBinary(MediaType::OctetStream.text().into_owned()));
    }
    let accepted_text = accepted.text();
    let covers = accepted_text == d.as_str()
        || *accepted == MediaType::Any
        || (accepted_text.ends_with("/*") && d.starts_with(accepted_text.trim_end_matches('*')));
    if !covers {
        return None;
    }
    if p.binary {
        return Some(Media::RawBinary(d.clone()));
    }
    // Media types PostgREST knows get a charset; any other is sent as named.
    let known = matches!(d_type, MediaType::TextPlain | MediaType::TextXml | MediaType::Csv | MediaType::Json);
    Some(Media::Raw(if known { format!("{d}; charset=utf-8") } else { d.clone() }))
}

/// PostgREST's own media types: bytes, its JSON family, GeoJSON, CSV, then raw scalars.
fn builtin_media(config: &Config, accepted: &MediaType, p: &Produces) -> Option<Media> {
    if *accepted == MediaType::OctetStream && p.binary && p.scalar_routine {
        return Some(Media::RawBinary(MediaType::OctetStream.text().into_owned()));
    }
    json_media(accepted).or_else(|| match accepted {
        MediaType::GeoJson if !p.scalar_routine => Some(Media::GeoJson),
        MediaType::Csv if !p.scalar_routine => Some(Media::Csv),
        _ => scalar_media(config, accepted, p),
    })
}

/// PostgREST's JSON media types, which every action but the root can answer with.
fn json_media(accepted: &MediaType) -> Option<Media> {
    Some(match accepted {
        MediaType::Any | MediaType::Json | MediaType::AnyApplication => Media::Json,
        MediaType::Array(v) if v.strip_nulls => Media::JsonStripNulls,
        MediaType::Array(_) => Media::Json,
        MediaType::Object(v) if v.strip_nulls => Media::SingleObjectStripNulls,
        MediaType::Object(_) => Media::SingleObject,
        _ => return None,
    })
}

/// A function's scalar result sent as it is: a `raw-media-types` type, xml, or text.
fn scalar_media(config: &Config, accepted: &MediaType, p: &Produces) -> Option<Media> {
    if !p.scalar_routine {
        return None;
    }
    let text = accepted.text();
    if config.raw_media_types.iter().any(|r| *r == text) {
        let charset = if text.starts_with("text/") { "; charset=utf-8" } else { "" };
        return Some(Media::Raw(format!("{text}{charset}")));
    }
    match accepted {
        MediaType::TextXml if p.xml => Some(Media::Raw("text/xml; charset=utf-8".into())),
        MediaType::TextPlain if p.single_value => Some(Media::Raw("text/plain; charset=utf-8".into())),
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
        function: QualifiedName::new(&h.schema, &h.name),
        media,
        base: h.base.clone(),
        row_type: h.input.clone(),
    }
}
