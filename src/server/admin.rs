//! The admin server (`admin-server-unix-socket`, else `admin-server-port`), as PostgREST's:
//! `/live`, `/ready`, `/metrics`, `/schema_cache` and `/config`. In charge of those five
//! answers, of the Prometheus text, and of the command line's `--ready` (asking a running
//! tusk's `/ready`) and `--dump-schema`; rejects every other path with 404. Reads the shared
//! state, changes nothing.

use super::conn::Listen;
use super::{bind_addr, bind_tcp, bind_unix, to_axum, Ops, ServerError};
use crate::config::Config;
use crate::db;
use crate::http::Response;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where the API listens: the admin server connects there to see that it still accepts
/// connections (PostgREST's `reachMainApp`).
pub(super) enum MainListener {
    Tcp(std::net::SocketAddr),
    Unix(String),
    Unknown,
}

impl MainListener {
    pub(super) fn of(listener: &Listen, unix_socket: Option<&str>) -> MainListener {
        match (listener, unix_socket) {
            (Listen::Unix(_), Some(path)) => MainListener::Unix(path.to_string()),
            (Listen::Tcp(l), _) => match l.local_addr() {
                // Listening on every address: reach it on the loopback one.
                Ok(mut a) => {
                    if a.ip().is_unspecified() {
                        a.set_ip(match a {
                            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                        });
                    }
                    MainListener::Tcp(a)
                }
                Err(_) => MainListener::Unknown,
            },
            _ => MainListener::Unknown,
        }
    }

    /// Whether the API accepts a connection now (its socket file removed, its accept loop
    /// gone: no).
    async fn reachable(&self) -> bool {
        let connect = async {
            match self {
                MainListener::Tcp(a) => tokio::net::TcpStream::connect(a).await.is_ok(),
                MainListener::Unix(p) => tokio::net::UnixStream::connect(p).await.is_ok(),
                MainListener::Unknown => true,
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), connect).await.unwrap_or(false)
    }
}

/// The admin server's listener: its unix socket when `admin-server-unix-socket` is set (it
/// wins over the port, as in PostgREST), else its port; none when neither is set.
pub(super) async fn bind(config: &Config) -> Result<Option<Listen>, ServerError> {
    if let Some(path) = &config.admin_server_unix_socket {
        let l = bind_unix(path, config.admin_server_unix_socket_mode)?;
        tracing::info!("Admin server listening on unix socket {path}");
        return Ok(Some(Listen::Unix(l)));
    }
    match config.admin_server_port {
        Some(port) => {
            let addr = bind_addr(config.admin_server_host.as_deref().unwrap_or(&config.server_host), port);
            let l = bind_tcp(&addr).await?;
            tracing::info!("Admin server listening on {addr}");
            Ok(Some(Listen::Tcp(l)))
        }
        None => Ok(None),
    }
}

/// The admin server, as PostgREST's: `/live` (the API accepts connections) 200, else 500;
/// `/ready` (that, plus the schema cache is loaded and the database answers) 200, 503 when not
/// ready, 500 when the API does not accept connections; both with an empty body. `/metrics`
/// (Prometheus text), `/schema_cache` (JSON), `/config` (the effective configuration, secrets
/// masked).
pub(super) async fn admin_server(listener: Listen, ops: Arc<Ops>) {
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
                "/live" | "/ready" if !ops.main.reachable().await => response.status = 500,
                "/live" => {}
                "/ready" if state.schema_cache().is_some() && db::ping(&state.db.pool).await => {}
                "/ready" => response.status = 503,
                // As PostgREST: no `version=` parameter.
                "/metrics" => body("text/plain; charset=utf-8", metrics(&ops)),
                "/schema_cache" => {
                    let json = ops.schema_cache_json.read().ok().and_then(|j| j.clone());
                    // Empty until the first load, as PostgREST.
                    match json.map(|json| json.text()) {
                        Some(Ok(text)) => body("application/json; charset=utf-8", text),
                        Some(Err(why)) => {
                            tracing::error!("cannot unpack the schema cache's JSON: {why}");
                            response.status = 500;
                        }
                        None => {}
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
    super::conn::serve(listener, timeouts, handler, None, std::future::pending()).await;
}

/// `--ready`: asks the admin server of a tusk running with `config` for `/ready`. `Ok` (the
/// URL asked) when it answers 200; `Err` says why not.
pub async fn check_ready(config: &Config) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: &[u8] = b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    async fn ask(mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) -> std::io::Result<String> {
        stream.write_all(REQUEST).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        let line = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or_default().to_string();
        Ok(line)
    }
    async fn within(f: impl std::future::Future<Output = std::io::Result<String>>) -> std::io::Result<String> {
        let timeout = std::time::Duration::from_secs(10);
        tokio::time::timeout(timeout, f).await.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }
    let (url, answer) = if let Some(path) = &config.admin_server_unix_socket {
        let url = format!("unix:{path}:/ready");
        (url, within(async { ask(tokio::net::UnixStream::connect(path).await?).await }).await)
    } else {
        let Some(port) = config.admin_server_port else {
            return Err("the admin server is not enabled (set admin-server-port or admin-server-unix-socket)".into());
        };
        let host = match config.admin_server_host.as_deref().unwrap_or(&config.server_host) {
            "*" | "*4" | "!4" | "0.0.0.0" => "127.0.0.1",
            "*6" | "!6" | "::" => "::1",
            h => h,
        };
        let addr = bind_addr(host, port);
        let url = format!("http://{addr}/ready");
        (url, within(async { ask(tokio::net::TcpStream::connect(&addr).await?).await }).await)
    };
    match answer {
        Ok(line) if line.split(' ').nth(1) == Some("200") => Ok(url),
        Ok(line) => Err(format!("{url}: {}", line.split_once(' ').map_or(line.as_str(), |(_, s)| s))),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

/// `--dump-schema`: the schema cache as JSON (the catalog query's, as `/schema_cache`), read
/// with the configuration in effect (the in-database settings included, as a start-up would).
pub async fn dump_schema(config: &Config) -> Result<String, String> {
    let config = if config.db_config {
        super::reread_config(config).await.map_err(|e| e.to_string())?.0
    } else {
        config.clone()
    };
    let pool = db::pool(&config.db_uri, 1, config.db_pool_acquisition_timeout)?;
    let (_, packer) = db::load_schema_cache(&pool, &config.db_schemas, &config.db_extra_search_path)
        .await
        .map_err(|e| format!("could not load the schema cache: {e}"))?;
    tokio::task::spawn_blocking(move || packer.finish()?.text())
        .await
        .map_err(|e| format!("could not load the schema cache: {e}"))?
}

/// `/metrics` with `db-replica-uris`: per pool (`primary`, `replica1`…), its requests, health,
/// lag behind the primary (bytes of WAL) and connections in use.
fn replica_metrics(db: &db::Db, metric: &mut impl FnMut(&str, &str, &str, &[(&str, String)])) {
    let replicas = &db.replicas;
    let in_use = |pool: &deadpool_postgres::Pool| {
        let s = pool.status();
        s.size.saturating_sub(s.available).to_string()
    };
    let labels: Vec<String> = std::iter::once("primary".to_string())
        .chain(replicas.members.iter().map(|r| r.name.clone()))
        .map(|name| format!("{{pool=\"{name}\"}}"))
        .collect();
    let samples = |primary: String, each: &dyn Fn(&db::Replica) -> String| -> Vec<(&str, String)> {
        let values = std::iter::once(primary).chain(replicas.members.iter().map(each));
        labels.iter().map(String::as_str).zip(values).collect()
    };
    let primary_requests = replicas.primary_requests.load(Ordering::Relaxed).to_string();
    let requests = samples(primary_requests, &|r| r.requests.load(Ordering::Relaxed).to_string());
    metric("tusk_db_pool_requests_total", "counter", "Requests each pool ran", &requests);
    let primary_healthy = u8::from(replicas.primary_healthy.load(Ordering::Relaxed)).to_string();
    let healthy = samples(primary_healthy, &|r| u8::from(replicas.in_rotation(r)).to_string());
    metric(
        "tusk_db_pool_healthy",
        "gauge",
        "1 when the pool's server answered the last health check (a replica: in recovery and within db-replica-max-lag)",
        &healthy,
    );
    let lag = samples("0".into(), &|r| r.lag.load(Ordering::Relaxed).to_string());
    metric(
        "tusk_db_pool_lag_bytes",
        "gauge",
        "Bytes of WAL the pool's server was behind the primary at the last check",
        &lag,
    );
    let used = samples(in_use(&db.pool), &|r| in_use(&r.db.pool));
    metric("tusk_db_pool_in_use", "gauge", "Connections of the pool running a request", &used);
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
    metric(
        "tusk_db_retained_bytes",
        "gauge",
        "Buffer bytes the pooled connections keep after messages over 1 MiB (twice the largest, at most)",
        &[("", state.db.retained().to_string())],
    );
    if !state.db.replicas.members.is_empty() {
        replica_metrics(&state.db, &mut metric);
    }
    let jwt = &state.jwt_cache;
    metric("pgrst_jwt_cache_requests_total", "counter", "JWT cache lookups", &[("", load(&jwt.requests).to_string())]);
    metric("pgrst_jwt_cache_hits_total", "counter", "JWT cache lookups that hit", &[("", load(&jwt.hits).to_string())]);
    metric(
        "pgrst_jwt_cache_evictions_total",
        "counter",
        "Tokens evicted from the full JWT cache",
        &[("", load(&jwt.evictions).to_string())],
    );
    let live = &state.live;
    metric("tusk_live_subscribers", "gauge", "Open live subscriptions", &[("", live.subscribers().to_string())]);
    metric(
        "tusk_live_groups",
        "gauge",
        "Live subscription groups (one re-run each)",
        &[("", live.groups().to_string())],
    );
    metric(
        "tusk_live_refreshes_total",
        "counter",
        "Re-runs of live subscriptions",
        &[("", load(&live.refreshes).to_string())],
    );
    out
}
