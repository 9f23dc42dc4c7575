//! The admin server (`admin-server-port`), as PostgREST's: `/live`, `/ready`, `/metrics`,
//! `/schema_cache` and `/config`. In charge of those five answers and of the Prometheus text;
//! rejects every other path with 404. Reads the shared state, changes nothing.

use super::{to_axum, Ops};
use crate::db;
use crate::http::Response;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The admin server, as PostgREST's: `/live` (the process answers), `/ready` (the schema cache
/// is loaded and the database answers), both 200 or 503 with an empty body; `/metrics`
/// (Prometheus text), `/schema_cache` (JSON), `/config` (the effective configuration, secrets
/// masked).
pub(super) async fn admin_server(listener: tokio::net::TcpListener, ops: Arc<Ops>) {
    let state = ops.state.clone();
    let handler: super::conn::Handler = Arc::new(move |_peer, req| {
        let ops = ops.clone();
        Box::pin(async move {
            let state = &ops.state;
            let mut response = Response::new(200);
            let mut body = |content_type: &str, text: String| {
                response.headers.push(("Content-Type".into(), content_type.into()));
                response.body = Bytes::from(text);
            };
            let req = match req {
                Ok(req) => req,
                Err(e) => return to_axum(crate::response::error(&e, false, false), false),
            };
            match req.uri().path() {
                "/live" => {}
                "/ready" if state.schema_cache().is_some() && db::ping(&state.db.pool).await => {}
                "/ready" => response.status = 503,
                // As PostgREST: no `version=` parameter.
                "/metrics" => body("text/plain; charset=utf-8", metrics(&ops)),
                "/schema_cache" => {
                    let json = ops.schema_cache_json.read().ok().and_then(|j| j.clone());
                    // Empty until the first load, as PostgREST.
                    if let Some(json) = json {
                        body("application/json; charset=utf-8", json.to_string());
                    }
                }
                "/config" => body("text/plain; charset=utf-8", state.config().dump_redacted()),
                _ => response.status = 404,
            }
            to_axum(response, false)
        })
    });
    // The API's accept loop and connection timeouts (cleartext: the admin port is for probes on
    // a private network); it serves until the process ends.
    let timeouts = move || super::conn::Timeouts::of(&state.config());
    super::conn::serve(super::conn::Listen::Tcp(listener), timeouts, handler, None, std::future::pending()).await;
}

/// `/metrics`: PostgREST's metric names, in Prometheus' text format.
fn metrics(ops: &Ops) -> String {
    let state = &ops.state;
    let pool = state.db.pool.status();
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    metric(
        "pgrst_schema_cache_query_time_seconds",
        "gauge",
        "Seconds the last schema cache query took",
        &[("", format!("{}", load(&ops.schema_cache_query_us) as f64 / 1e6))],
    );
    metric(
        "pgrst_schema_cache_loads_total",
        "counter",
        "Schema cache loads, by outcome",
        &[
            ("{status=\"SUCCESS\"}", load(&ops.schema_cache_loads_ok).to_string()),
            ("{status=\"FAIL\"}", load(&ops.schema_cache_loads_failed).to_string()),
        ],
    );
    metric(
        "pgrst_db_pool_timeouts_total",
        "counter",
        "Requests that waited too long for a pool connection",
        &[("", load(&state.db.pool_timeouts).to_string())],
    );
    // Free slots: idle connections plus the ones the pool may still open.
    let available = pool.max_size.saturating_sub(pool.size) + pool.available;
    metric("pgrst_db_pool_available", "gauge", "Connections a request can get now", &[("", available.to_string())]);
    metric("pgrst_db_pool_waiting", "gauge", "Requests waiting for a connection", &[("", pool.waiting.to_string())]);
    metric("pgrst_db_pool_max", "gauge", "Size limit of the connection pool", &[("", pool.max_size.to_string())]);
    let jwt = &state.jwt_cache;
    metric("pgrst_jwt_cache_requests_total", "counter", "JWT cache lookups", &[("", load(&jwt.requests).to_string())]);
    metric("pgrst_jwt_cache_hits_total", "counter", "JWT cache lookups that hit", &[("", load(&jwt.hits).to_string())]);
    metric(
        "pgrst_jwt_cache_evictions_total",
        "counter",
        "Tokens evicted from the full JWT cache",
        &[("", load(&jwt.evictions).to_string())],
    );
    out
}
