//! A live subscription through the pipeline: the request checked as a `GET` would be, then
//! handed to [`crate::db::live`] with a `refresh` that runs the same read again, in JSON,
//! through [`super::run`] as the subscriber's role (role switch, `request.jwt.claims`, RLS,
//! `db-pre-request`): every event is what that `GET` would answer at that moment.

use super::{respond, AppState, Timings};
use crate::auth::{self, AuthResult};
use crate::config::Config;
use crate::db::live::{Full, Refresh, Refreshed, Subscribe};
use crate::error::Error;
use crate::http::{BodyStream, RawRequest, Response};
use crate::plan::live::{Subscription, EVENT_STREAM};
use crate::schema_cache::SchemaCache;
use std::sync::Arc;
use std::time::Duration;

/// The request headers a subscription's read sees (and that tell groups apart); the others
/// (user agent, cookies…) do not change the result and would split groups for nothing.
const READ_HEADERS: [&str; 4] = ["accept-profile", "prefer", "range", "range-unit"];

/// The event stream of `req`, or the error a `GET` of it gets now (its first read), or
/// TUSK503 past `server-max-subscriptions`. A `HEAD` gets the headers only.
pub(super) async fn subscribe(
    state: &Arc<AppState>,
    config: &Config,
    cache: &SchemaCache,
    req: &RawRequest,
    auth: &AuthResult,
    subscription: Subscription,
) -> Result<Response, Error> {
    let mut response = Response::new(200);
    response.headers = [("Content-Type", EVENT_STREAM), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if req.method == "HEAD" {
        return Ok(response);
    }
    let read = read_request(req);
    // The first read, as a GET: its error is the response's (no stream starts).
    let first = read_once(state, config, cache, &read, auth).await?.body;
    let key = serde_json::json!([auth.role, auth.claims.as_ref(), read.path, read.query, read.headers.as_slice()])
        .to_string();
    let expires_in = auth
        .claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .map(|exp| Duration::from_secs(u64::try_from(exp.saturating_sub(auth::now())).unwrap_or(0)));
    let (read, who) = (Arc::new(read), Arc::new(auth.clone()));
    let for_refresh = state.clone();
    let refresh: Refresh = Arc::new(move || {
        let (state, read, who) = (for_refresh.clone(), read.clone(), who.clone());
        Box::pin(async move { refresh(&state, &read, &who).await })
    });
    let heartbeat = (config.server_idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(20));
    let stream = state
        .live
        .subscribe(Subscribe {
            key,
            relations: subscription.relations,
            refresh,
            first,
            expires_in,
            heartbeat,
            interval: config.server_subscription_interval,
            max: config.server_max_subscriptions,
        })
        .map_err(|Full(max)| Error::TooManySubscriptions(max))?;
    response.stream = Some(BodyStream::new(stream));
    Ok(response)
}

/// The read a subscription re-runs: `GET` of the same path and query in JSON, with the
/// [`READ_HEADERS`] it was sent with.
fn read_request(req: &RawRequest) -> RawRequest {
    let mut headers: Vec<(String, String)> =
        req.headers.iter().filter(|(k, _)| READ_HEADERS.contains(&k.as_str())).cloned().collect();
    headers.push(("accept".into(), "application/json".into()));
    // The change was notified by the primary; a replica may not have replayed it yet, and the
    // event would miss it (with `db-replica-uris`): re-runs read on the primary.
    headers.push((crate::plan::PRIMARY_HEADER.to_string(), "1".into()));
    RawRequest {
        method: "GET".into(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: headers.into(),
        ..RawRequest::default()
    }
}

/// The subscription's read, as a `GET` (no subscription check: it asks for JSON).
async fn read_once(
    state: &AppState,
    config: &Config,
    cache: &SchemaCache,
    read: &RawRequest,
    who: &AuthResult,
) -> Result<Response, Error> {
    let mut api = crate::api_request::parse(config, read)?;
    api.role = who.role.clone();
    respond(state, config, cache, api, who, &mut Timings::new(false)).await
}

/// One re-run: the pipeline with the configuration and schema cache current now.
async fn refresh(state: &Arc<AppState>, read: &RawRequest, who: &AuthResult) -> Refreshed {
    let config = state.config();
    let Some(cache) = state.schema_cache() else {
        return Refreshed::Unavailable;
    };
    match read_once(state, &config, &cache, read, who).await {
        Ok(r) if r.status < 300 => Refreshed::Snapshot(r.body),
        Ok(r) => Refreshed::Error(r.body),
        Err(Error::DbConnection(_) | Error::PoolTimeout) => Refreshed::Unavailable,
        Err(e) => {
            let authenticated = config.db_anon_role.as_deref() != Some(who.role.as_str());
            Refreshed::Error(crate::response::error(&e, authenticated, config.client_error_verbosity_minimal).body)
        }
    }
}
