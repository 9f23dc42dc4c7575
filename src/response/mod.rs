//! Responses: the plan and the database's result → status, headers and body; and errors →
//! PostgREST's JSON error responses.
//!
//! In charge of `Content-Type`, `Content-Range`, `Location`, `Preference-Applied`, 206 for
//! partial ranges, 204/201 choices, and of applying the `response.headers` /
//! `response.status` settings a function made inside the transaction (PGRST111/112 when they
//! are malformed). The body is passed through as PostgreSQL built it: no per-row work here.
//! The OpenAPI document served at `GET /` is in [`openapi`].

pub mod openapi;

use crate::api_request::{ApiRequest, ReturnPref};
use crate::config::Config;
use crate::error::Error;
use crate::http::Response;
use crate::plan::{Action, MutateKind, Plan};
use crate::query::DbResult;
use crate::schema_cache::{ReturnShape, SchemaCache};
use bytes::Bytes;

/// Read-your-writes (docs/replicas.md): where the primary's WAL stood after this write, as
/// `X-Tusk-Lsn` and the `tusk_lsn` cookie.
fn wal_position(headers: &mut Vec<(String, String)>, lsn: Option<&str>) {
    if let Some(lsn) = lsn.filter(|l| crate::plan::parse_lsn(l).is_some()) {
        headers.push(("X-Tusk-Lsn".into(), lsn.to_string()));
        let cookie = format!("{}={lsn}; Path=/; HttpOnly; SameSite=Lax", crate::plan::LSN_COOKIE);
        headers.push(("Set-Cookie".into(), cookie));
    }
}

/// Builds the response of a successful request. `GET /` is a response format like any other:
/// the OpenAPI document, from the schema cache and what the database said the role may use.
pub fn build(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    plan: &Plan,
    mut result: DbResult,
) -> Result<Response, Error> {
    if let Some(explain) = &plan.explain {
        let mut resp = Response::new(200);
        resp.headers.push(("Content-Type".into(), explain.content_type()));
        resp.body = result.body;
        return Ok(resp);
    }
    let mut resp = Response::new(200);
    let mut body: Option<Bytes> = Some(std::mem::take(&mut result.body));
    let range_start = match &plan.action {
        Action::Read { shape, .. } | Action::Call { shape, .. } => shape.offset.unwrap_or(0),
        _ => 0,
    };
    let content_range = |total: Option<i64>| content_range(range_start, result.page_total, total);
    // Only a count preference makes a total (exact, estimated or planned).
    let shown_total = result.total.filter(|_| plan.count.is_some());
    match &plan.action {
        Action::Read { table, .. } => {
            out_of_range(&result, range_start)?;
            resp.headers.push(("Content-Range".into(), content_range(shown_total)));
            let mut location = format!("/{}", table.name);
            if !req.canonical_query.is_empty() {
                location.push('?');
                location.push_str(&req.canonical_query);
            }
            resp.headers.push(("Content-Location".into(), location));
            if shown_total.is_some_and(|total| result.page_total < total) {
                resp.status = 206;
            }
        }
        Action::Mutate { table, kind, .. } => {
            let (status, range) = write_status(req, kind, &result);
            resp.status = status;
            resp.headers.push(("Content-Range".into(), range));
            if plan.return_ != ReturnPref::Representation {
                body = None;
                // Only a POST keeps its status without a body.
                if !matches!(kind, MutateKind::Insert { .. }) || req.method == crate::api_request::Method::Put {
                    resp.status = 204;
                }
            }
            if let Some(loc) = &result.location {
                resp.headers.push(("Location".into(), location(&table.name, loc)));
            }
        }
        Action::Call { routine, .. } => {
            out_of_range(&result, range_start)?;
            resp.headers.push(("Content-Range".into(), content_range(shown_total)));
            if shown_total.is_some_and(|total| result.page_total < total) {
                resp.status = 206;
            }
            if routine.shape == ReturnShape::Void {
                resp.status = 204;
                body = None;
            }
        }
        Action::Options { allow } => {
            resp.headers.push(("Allow".into(), allow.clone()));
            body = None;
        }
        Action::Root => body = body.map(|privileges| openapi::body(config, cache, &req.schema, &privileges)),
    }
    if body.is_some() {
        resp.headers.push(("Content-Type".into(), plan.media.content_type()));
    }
    if matches!(plan.action, Action::Read { .. } | Action::Call { .. }) {
        resp.headers.push(("Vary".into(), "Accept, Prefer, Range".into()));
    }
    if !plan.applied.is_empty() {
        resp.headers.push(("Preference-Applied".into(), plan.applied.join(", ")));
    }
    if req.profile_requested {
        resp.headers.push(("Content-Profile".into(), req.schema.clone()));
    }
    // Settings made by the request's SQL.
    if let Some(h) = &result.response_headers {
        // They replace ours of the same name; several of one name (Set-Cookie) all stay.
        let set = guc_headers(h)?;
        resp.headers.retain(|(name, _)| !set.iter().any(|(k, _)| name.eq_ignore_ascii_case(k)));
        resp.headers.extend(set);
    }
    wal_position(&mut resp.headers, result.lsn.as_deref());
    if let Some(s) = &result.response_status {
        resp.status = s.trim().parse::<u16>().ok().filter(|s| (100..600).contains(s)).ok_or(Error::GucStatus)?;
    }
    if !plan.headers_only {
        if let Some(b) = body {
            resp.body = b;
        }
    }
    Ok(resp)
}

/// The status and `Content-Range` of a write, as PostgREST gives them.
fn write_status(req: &ApiRequest, kind: &MutateKind, result: &DbResult) -> (u16, String) {
    // How many rows were new: an upsert counts them; a plain insert inserted them all.
    let inserted = result.inserted.unwrap_or(result.page_total);
    let put = req.method == crate::api_request::Method::Put;
    let merge = req.preferences.resolution == Some(crate::api_request::Resolution::MergeDuplicates);
    let status = match kind {
        // PUT: 201 when it created the row, 200 when it replaced it.
        MutateKind::Insert { .. } if put && inserted > 0 => 201,
        MutateKind::Insert { .. } if put => 200,
        // POST: 201, but 200 for a merge that inserted nothing (PostgREST's rule: an
        // ignore-duplicates upsert is 201 even when every row was a duplicate).
        MutateKind::Insert { .. } if inserted <= 0 && merge => 200,
        MutateKind::Insert { .. } => 201,
        _ => 200,
    };
    // PostgREST: an update reports the rows' range, inserts and deletes only the total.
    let range = match kind {
        MutateKind::Update { .. } => content_range(0, result.page_total, result.total),
        _ => format!("*/{}", result.total.map(|t| t.to_string()).unwrap_or_else(|| "*".into())),
    };
    (status, range)
}

/// `Content-Range`: `first-last/total` of the page, `*/total` for an empty page, `*` for an
/// unknown total. The offset comes from the request, so the last row's index saturates instead
/// of overflowing.
fn content_range(offset: i64, page_total: i64, total: Option<i64>) -> String {
    let total = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
    if page_total == 0 {
        format!("*/{total}")
    } else {
        format!("{offset}-{}/{total}", offset.saturating_add(page_total - 1))
    }
}

/// With a total (a count was asked for), an offset past the last row is 416, with the total in
/// `Content-Range`; an offset just at the end is an empty page (206), as in PostgREST. Without a
/// total, any page past the end is simply empty.
fn out_of_range(result: &DbResult, offset: i64) -> Result<(), Error> {
    match result.total {
        Some(total) if result.page_total == 0 && offset > total => Err(Error::InvalidRange {
            details: Some(format!("An offset of {offset} was requested, but there are only {total} rows.")),
            total: Some(total),
        }),
        _ => Ok(()),
    }
}

/// `response.headers`: a JSON array of single-key objects with string values.
fn guc_headers(text: &str) -> Result<Vec<(String, String)>, Error> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| Error::GucHeaders)?;
    let items = value.as_array().ok_or(Error::GucHeaders)?;
    let mut out = Vec::new();
    for item in items {
        let obj = item.as_object().filter(|o| o.len() == 1).ok_or(Error::GucHeaders)?;
        for (k, v) in obj {
            out.push((k.clone(), v.as_str().ok_or(Error::GucHeaders)?.to_string()));
        }
    }
    Ok(out)
}

/// `/tasks?id=eq.3` from the inserted row's primary key (a JSON object).
fn location(table: &str, pk_json: &str) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
    let mut out = format!("/{}", enc(table));
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(pk_json) {
        let parts: Vec<String> = map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::Null => format!("{}=is.null", enc(k)),
                serde_json::Value::String(s) => format!("{}=eq.{}", enc(k), enc(s)),
                other => format!("{}=eq.{}", enc(k), enc(&other.to_string())),
            })
            .collect();
        if !parts.is_empty() {
            out.push('?');
            out.push_str(&parts.join("&"));
        }
    }
    out
}

const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// An error as PostgREST answers it.
pub fn error(e: &Error, authenticated: bool, minimal: bool) -> Response {
    let status = e.status(authenticated);
    let mut resp = Response::new(status);
    resp.headers.push(("Content-Type".into(), "application/json; charset=utf-8".into()));
    resp.headers.extend(e.headers(status));
    resp.headers.push(("Proxy-Status".into(), format!("PostgREST; error={}", e.code())));
    resp.body = Bytes::from(e.body(minimal).to_string());
    resp
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_range_of_a_page() {
        assert_eq!(content_range(0, 10, Some(100)), "0-9/100");
        assert_eq!(content_range(5, 1, None), "5-5/*");
        assert_eq!(content_range(20, 0, Some(20)), "*/20");
        assert_eq!(content_range(0, 0, None), "*/*");
        // An offset at the edge of i64 does not overflow.
        assert_eq!(content_range(i64::MAX, 2, None), format!("{}-{}/*", i64::MAX, i64::MAX));
    }
}
