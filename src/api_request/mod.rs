//! Parsing: a [`RawRequest`] → an [`ApiRequest`], the user's intent, not yet checked against
//! the schema (PostgREST's ApiRequest).
//!
//! In charge of the URL grammar (`select=`, filters, `or=`/`and=`, `order=`, `limit=`…), the
//! `Prefer`, `Accept`, `Range` and profile headers, and the body's syntax. A request may be
//! rejected here for malformed syntax (PGRST100), an invalid body (PGRST102), an unknown method
//! (PGRST117), an unexposed schema (PGRST106)… but never for naming a table or column that does
//! not exist: that is the plan's job. No I/O, no schema cache.
//!
//! This file reads the method, the path (→ [`Target`]), the profile headers (→ schema), `Range`
//! and cookies, and calls the parts: `grammar` (the query string, into the `query_params`
//! types, counted against the request's `limits`), `preferences` (`Prefer`), `media_type`
//! (`Accept`) and `payload` (the body).

mod grammar;
mod limits;
mod media_type;
mod payload;
mod preferences;
mod query_params;

pub use grammar::{parse_filter, parse_order, parse_query, parse_select};
pub use limits::Limits;
pub use media_type::{MediaType, PlanFormat, PlanRequest, Vnd};
pub use payload::{first_row, Payload};
pub use preferences::{CountPref, Preferences, Resolution, ReturnPref};
pub use query_params::*;

use crate::config::Config;
use crate::error::Error;
use crate::http::RawRequest;
use media_type::{parse_accept, parse_content_type};
use payload::parse_payload;
use preferences::parse_preferences;

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

impl Method {
    pub const ALL: [Method; 7] =
        [Method::Get, Method::Head, Method::Post, Method::Patch, Method::Put, Method::Delete, Method::Options];

    /// The one text form, as on the request line (and in `request.method`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
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
    pub accept: Vec<MediaType>,
    pub content_type: MediaType,
    pub payload: Option<Payload>,
    /// `Range: a-b` request header (row offsets, inclusive).
    pub range: Option<(i64, Option<i64>)>,
    /// The original path, for `request.path`.
    pub path: String,
    /// The query string with its parameters sorted by name (for `Content-Location`).
    pub canonical_query: String,
    pub headers: crate::http::Headers,
    pub cookies: Vec<(String, String)>,
    /// The role the request runs as, set after authentication (`app`); empty until then.
    /// "Perhaps you meant" hints name only what it may use.
    pub role: String,
}

// ---------------------------------------------------------------------------------------------
// Entry point

/// Parses a request. `config` gives the exposed schemas and the request limits.
pub fn parse(config: &Config, req: &RawRequest) -> Result<ApiRequest, Error> {
    let method = Method::ALL
        .into_iter()
        .find(|m| m.as_str() == req.method)
        .ok_or_else(|| Error::UnsupportedMethod(req.method.clone()))?;
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
                return Err(Error::UnacceptableSchema { schema: p.to_string(), exposed: config.db_schemas.clone() });
            }
            (p.to_string(), true)
        }
        None => (config.db_schemas[0].clone(), false),
    };

    let is_routine = matches!(target, Target::Routine(_));
    let query = parse_query(&req.query, is_routine, &config.request_limits)?;
    let preferences = parse_preferences(req.header_all("prefer"));
    let accept = parse_accept(req.header("accept"));
    let content_type = parse_content_type(req.header("content-type"));
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
        role: String::new(),
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

#[cfg(test)]
mod tests;
