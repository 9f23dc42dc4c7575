//! The process: binds the listener, owns the shared state (config, pool, schema cache), runs
//! the schema-cache reloader (start-up, `NOTIFY pgrst, 'reload schema'`, SIGUSR1, lost
//! connections, with backoff while the database is unreachable) and hands each HTTP request to
//! [`crate::app::handle`] through the axum glue below. Also writes the per-request log line.

use crate::app::{self, AppState};
use crate::config::{Config, LogLevel};
use crate::db::{self, Db};
use crate::http::{cors_headers, RawRequest, Response};
use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Server {
    listener: tokio::net::TcpListener,
    /// The admin server's listener (`admin-server-port`).
    admin: Option<tokio::net::TcpListener>,
    state: Arc<AppState>,
    statics: HashMap<String, (String, Bytes)>,
}

/// `server-host` special values, as PostgREST reads them.
fn bind_host(host: &str) -> &str {
    match host {
        "!4" | "*4" | "*" => "0.0.0.0",
        "!6" | "*6" => "::",
        h => h,
    }
}

impl Server {
    /// Binds the listener, creates the pool and starts loading the schema cache.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let pool = db::pool(&config.db_uri, config.db_pool, config.db_pool_acquisition_timeout)
            .map_err(ServerError::Config)?;
        let host = bind_host(&config.server_host).to_string();
        let addr = if host.contains(':') {
            format!("[{host}]:{}", config.server_port)
        } else {
            format!("{host}:{}", config.server_port)
        };
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel::<String>(16);
        let config = Arc::new(config);
        let state = Arc::new(AppState {
            config: config.clone(),
            db: Arc::new(Db::new(pool)),
            schema_cache: RwLock::new(None),
            reload: reload_tx.clone(),
        });
        tokio::spawn(reloader(state.clone(), reload_rx));
        let _ = reload_tx.try_send("reload schema".into());
        if config.db_channel_enabled {
            tokio::spawn(db::listen(config.db_uri.clone(), config.db_channel.clone(), reload_tx.clone()));
        }
        tokio::spawn(signals(reload_tx));
        if let Ok(a) = listener.local_addr() {
            tracing::info!("Listening on {a}");
        }
        let admin = match config.admin_server_port {
            Some(port) => {
                let host = bind_host(config.admin_server_host.as_deref().unwrap_or(&config.server_host)).to_string();
                let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
                let l = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr: addr.clone(), source })?;
                tracing::info!("Admin server listening on {addr}");
                Some(l)
            }
            None => None,
        };
        Ok(Server { listener, admin, state, statics: HashMap::new() })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves `body` at `path` (used by `tusk demo` for the app's frontend.js).
    pub fn serve_static(&mut self, path: &str, content_type: &str, body: Bytes) {
        self.statics.insert(path.to_string(), (content_type.to_string(), body));
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        if let Some(admin) = self.admin {
            tokio::spawn(admin_server(admin, self.state.clone()));
        }
        let state = self.state.clone();
        let statics = Arc::new(self.statics);
        let router = axum::Router::new().fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
                  req: axum::extract::Request| {
                let state = state.clone();
                let statics = statics.clone();
                async move { serve_one(&state, &statics, peer, req).await }
            },
        );
        axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

/// `/live`: the process answers. `/ready`: the schema cache is loaded and the database
/// answers. Both 200 or 503 with an empty body, as PostgREST's admin server.
async fn admin_server(listener: tokio::net::TcpListener, state: Arc<AppState>) {
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let state = state.clone();
        async move {
            let status = match req.uri().path() {
                "/live" => 200,
                "/ready" if state.schema_cache().is_some() && db::ping(&state.db.pool).await => 200,
                "/ready" => 503,
                _ => 404,
            };
            to_axum(Response::new(status), false)
        }
    });
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!("admin server stopped: {e}");
    }
}

async fn serve_one(
    state: &AppState,
    statics: &HashMap<String, (String, Bytes)>,
    peer: SocketAddr,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let raw = RawRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    let origin = raw.header("origin").map(str::to_string);
    let allowed = state.config.server_cors_allowed_origins.as_deref();
    let (mut response, role) =
        if raw.method == "OPTIONS" && origin.is_some() && raw.header("access-control-request-method").is_some() {
            // A CORS preflight.
            let mut r = Response::new(200);
            r.headers = cors_headers(allowed, origin.as_deref(), Some(&raw));
            (r, None)
        } else if let Some((ct, body)) = statics.get(&raw.path).filter(|_| raw.method == "GET" || raw.method == "HEAD")
        {
            let mut r = Response::new(200);
            r.headers.push(("Content-Type".into(), ct.clone()));
            r.body = body.clone();
            (r, None)
        } else {
            let outcome = app::handle(state, raw.clone()).await;
            let mut r = outcome.response;
            if origin.is_some() || raw.method == "OPTIONS" {
                r.headers.extend(cors_headers(allowed, origin.as_deref(), None));
            }
            (r, outcome.role)
        };
    if let Some(name) = &state.config.server_trace_header {
        if let Some(v) = raw.header(name) {
            response.headers.push((name.clone(), v.to_string()));
        }
    }
    log_request(state.config.log_level, &raw, peer, role.as_deref(), &response);
    let head = raw.method == "HEAD";
    if head {
        response.body = Bytes::new();
    }
    to_axum(response, head)
}

fn to_axum(r: Response, head: bool) -> axum::response::Response {
    let mut builder = axum::http::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    // HEAD: no body, and like PostgREST no Content-Length (a body of unknown size).
    let body = if head {
        Body::from_stream(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
    } else {
        Body::from(r.body)
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut resp = axum::response::Response::new(Body::from(
            "{\"code\":\"PGRSTX00\",\"message\":\"Invalid response header\",\"details\":null,\"hint\":null}",
        ));
        *resp.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// One line per request, Apache combined format as PostgREST writes it. `info` logs every
/// request, `warn` 4xx and 5xx, `error` 5xx only.
fn log_request(level: LogLevel, req: &RawRequest, peer: SocketAddr, role: Option<&str>, resp: &Response) {
    let show = match level {
        LogLevel::Crit => false,
        LogLevel::Error => resp.status >= 500,
        LogLevel::Warn => resp.status >= 400,
        LogLevel::Info | LogLevel::Debug => true,
    };
    if !show {
        return;
    }
    let target = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
    let line = format!(
        "{} - {} [{}] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"",
        peer.ip(),
        role.unwrap_or("-"),
        http_log_time(),
        req.method,
        target,
        resp.status,
        if resp.body.is_empty() { "-".to_string() } else { resp.body.len().to_string() },
        req.header("referer").unwrap_or(""),
        req.header("user-agent").unwrap_or(""),
    );
    // Printed directly (like PostgREST), so the level filter above is the only filter.
    println!("{line}");
}

/// `27/Nov/2026:09:17:31 +0000`.
fn http_log_time() -> String {
    let secs = crate::auth::now();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Loads the schema cache whenever asked, retrying with backoff while the database is away.
/// Requests keep being served with the previous cache during a reload.
async fn reloader(state: Arc<AppState>, mut rx: tokio::sync::mpsc::Receiver<String>) {
    while let Some(msg) = rx.recv().await {
        match msg.trim() {
            "" | "reload schema" => {}
            "reload config" => {
                tracing::warn!("'reload config' is not implemented yet; restart tusk to change its configuration");
                continue;
            }
            other => {
                tracing::debug!("ignoring notification {other:?}");
                continue;
            }
        }
        // Coalesce a burst of reload requests into one load.
        while rx.try_recv().is_ok() {}
        let mut backoff = Duration::from_millis(250);
        loop {
            match db::load_schema_cache(&state.db.pool, &state.config.db_schemas, &state.config.db_extra_search_path)
                .await
            {
                Ok(cache) => {
                    tracing::info!("Schema cache loaded: {}", cache.summary());
                    state.db.clear_statement_caches();
                    if let Ok(mut slot) = state.schema_cache.write() {
                        *slot = Some(Arc::new(cache));
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!("Could not load the schema cache ({e}); retrying in {:?}", backoff);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(32));
                    while rx.try_recv().is_ok() {}
                }
            }
        }
    }
}

/// SIGUSR1 reloads the schema cache; SIGUSR2 asks for a config reload.
async fn signals(tx: tokio::sync::mpsc::Sender<String>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut usr1), Ok(mut usr2)) = (signal(SignalKind::user_defined1()), signal(SignalKind::user_defined2()))
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = usr1.recv() => { let _ = tx.send("reload schema".into()).await; }
            _ = usr2.recv() => { let _ = tx.send("reload config".into()).await; }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
