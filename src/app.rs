//! The pipeline for one request, in one function: auth → api_request → plan → query → db →
//! response. Every stage's error becomes PostgREST's JSON error response here, in one place.

mod live;

use crate::api_request;
use crate::auth;
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::Error;
use crate::http::{RawRequest, Response};
use crate::plan;
use crate::query::{self, DbResult};
use crate::response;
use crate::schema_cache::SchemaCache;
use std::sync::{Arc, RwLock};

/// Process-wide state shared by all requests.
pub struct AppState {
    /// Replaced as a whole by a config reload; a request keeps the one it started with.
    pub config: RwLock<Arc<Config>>,
    /// Verified JWTs (`jwt-cache-max-entries`).
    pub jwt_cache: auth::JwtCache,
    pub db: Arc<Db>,
    /// `None` until the first successful load.
    pub schema_cache: RwLock<Option<Arc<SchemaCache>>>,
    /// Asks the reloader to reload the schema cache (after NOTIFY, SIGUSR1 or a lost connection).
    pub reload: tokio::sync::mpsc::Sender<crate::server::Reload>,
    /// The live subscriptions (`Accept: text/event-stream`).
    pub live: Arc<db::live::Live>,
}

impl AppState {
    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn schema_cache(&self) -> Option<Arc<SchemaCache>> {
        self.schema_cache.read().ok().and_then(|c| c.clone())
    }
}

/// What the log line of a request needs besides the response.
pub struct Outcome {
    pub response: Response,
    pub role: Option<String>,
}

/// Runs one request through the pipeline with `config`, the configuration current when the
/// request arrived (the caller read it once for the whole request). Never fails: errors are
/// responses.
pub async fn handle(state: &Arc<AppState>, config: &Config, req: &mut RawRequest) -> Outcome {
    let minimal = config.client_error_verbosity_minimal;
    let mut timings = Timings::new(config.server_timing_enabled);
    // Until the schema cache is loaded every request is a 503 (also the ones auth would
    // refuse), so a readiness probe does not see the server as up too early.
    let Some(cache) = state.schema_cache() else {
        return Outcome { response: response::error(&Error::SchemaCacheNotLoaded, false, minimal), role: None };
    };
    let credential = auth::Credential::of(config, req);
    let authenticated = auth::authenticate_cached(config, Some(&state.jwt_cache), credential, auth::now());
    let checked = match credential {
        auth::Credential::Cookie(_) => authenticated.and_then(|a| auth::refuse_cross_site(config, req).map(|()| a)),
        _ => authenticated,
    };
    let auth = match checked {
        Ok(a) => a,
        Err(e) => return Outcome { response: response::error(&e, false, minimal), role: None },
    };
    timings.lap("jwt");
    let role = Some(auth.role.clone());
    match run(state, config, &cache, req, &auth, &mut timings).await {
        Ok(mut response) => {
            timings.lap("response");
            if let Some(h) = timings.header() {
                response.headers.push(("Server-Timing".into(), h));
            }
            Outcome { response, role }
        }
        Err(e) => {
            if matches!(e, Error::DbConnection(_)) {
                // The connection went away: have the reloader check the database again.
                let _ = state.reload.try_send(crate::server::Reload::Schema);
            }
            // 42501 is 401 for the anonymous role (also when a token names it), else 403.
            let authenticated = config.db_anon_role.as_deref() != Some(auth.role.as_str());
            Outcome { response: response::error(&e, authenticated, minimal), role }
        }
    }
}

/// The pipeline: parse → plan → query → db → response, each stage taking the one before's
/// output. The cache is the one current when the request arrived: a reload meanwhile does not
/// change it. The body is let go of by every stage once the transaction holds it, so that the
/// database stage can free it as soon as it is sent.
async fn run(
    state: &Arc<AppState>,
    config: &Config,
    cache: &SchemaCache,
    req: &mut RawRequest,
    auth: &auth::AuthResult,
    timings: &mut Timings,
) -> Result<Response, Error> {
    let mut api = api_request::parse(config, req)?;
    // The parsed request holds the body now: the raw one lets go of it, so that the database
    // stage can free it as soon as it is sent.
    req.body = bytes::Bytes::new();
    api.role = auth.role.clone();
    timings.lap("parse");
    if let Some(subscription) = plan::live::subscription(config, cache, &api)? {
        return live::subscribe(state, config, cache, req, auth, subscription).await;
    }
    respond(state, config, cache, api, auth, timings).await
}

/// The pipeline after parsing: plan → query → db → response.
async fn respond(
    state: &AppState,
    config: &Config,
    cache: &SchemaCache,
    mut api: api_request::ApiRequest,
    auth: &auth::AuthResult,
    timings: &mut Timings,
) -> Result<Response, Error> {
    let mut plan = plan::plan(config, cache, &api)?;
    timings.lap("plan");
    let tx = query::transaction(config, &api, auth, &plan)?;
    api.payload = None;
    plan.drop_body();
    let result = match tx {
        Some(tx) => db::run(&state.db, tx).await?,
        None => DbResult::default(),
    };
    timings.lap("transaction");
    response::build(config, cache, &api, &plan, result)
}

/// Per-stage durations for `Server-Timing` (`server-timing-enabled`).
struct Timings {
    enabled: bool,
    last: std::time::Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Timings {
    fn new(enabled: bool) -> Timings {
        Timings { enabled, last: std::time::Instant::now(), laps: Vec::new() }
    }

    fn lap(&mut self, stage: &'static str) {
        if self.enabled {
            let now = std::time::Instant::now();
            self.laps.push((stage, (now - self.last).as_secs_f64() * 1000.0));
            self.last = now;
        }
    }

    fn header(&self) -> Option<String> {
        self.enabled
            .then(|| self.laps.iter().map(|(stage, ms)| format!("{stage};dur={ms:.1}")).collect::<Vec<_>>().join(", "))
    }
}
