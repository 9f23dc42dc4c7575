//! The process: binds the listener, owns the shared state (config, pool, schema cache) and hands
//! each HTTP request to [`crate::app::handle`] through the glue below: the request becomes a
//! plain [`RawRequest`], the pipeline's [`Response`] becomes HTTP again, and the per-request log
//! line is written here. Answers by itself only CORS preflights, a request whose body cannot be
//! read (400), is too large (413) or too slow (408), a request head the HTTP layer refused
//! ([`head`]: 400, 414, 431, 505), one over the rate limit (429, [`rate_limit`]) and the static
//! files ([`static_files`]); everything else goes through the pipeline. Every response passes
//! through the compression layer ([`compress`]). Connections, their timeouts, TLS ([`tls`])
//! and the body limit are in [`conn`]; the reloader (configuration and schema cache) in
//! [`reload`], the admin server (`/live`, `/ready`, `/metrics`, `/schema_cache`, `/config`) in
//! [`admin`].

mod admin;
mod compress;
mod conn;
mod head;
mod rate_limit;
mod reload;
mod static_files;
mod tls;

use crate::app::{self, AppState};
use crate::config::{Config, LogLevel};
use crate::db::{self, Db};
use crate::error::Error;
use crate::http::{cors_headers, RawRequest, Response};
pub use admin::{check_ready, dump_schema};
use axum::body::Body;
use bytes::Bytes;
use conn::Listen;
use reload::{reloader, restart_listener, signals};
pub use reload::{reread_config, Reload, RereadError};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
pub use tls::self_signed;

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
    listener: Listen,
    /// The admin server's listener (`admin-server-unix-socket`, else `admin-server-port`).
    admin: Option<Listen>,
    state: Arc<AppState>,
    ops: Arc<Ops>,
}

/// What the reloader and the admin server share besides the request path's [`AppState`].
struct Ops {
    state: Arc<AppState>,
    /// Where reload requests go (the reloader's queue).
    reload: tokio::sync::mpsc::Sender<Reload>,
    /// The `LISTEN` task, restarted when `db-channel` or `db-channel-enabled` change.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The catalog query's JSON of the current schema cache (`/schema_cache`).
    schema_cache_json: RwLock<Option<Arc<db::CatalogJson>>>,
    schema_cache_loads_ok: AtomicU64,
    schema_cache_loads_failed: AtomicU64,
    /// Duration of the last schema cache query, in microseconds.
    schema_cache_query_us: AtomicU64,
    /// Where the API listens, for the admin server's check that it still accepts connections.
    main: admin::MainListener,
    /// The served certificate (`server-tls-cert`), read again on each config reload.
    tls: Option<Arc<tls::Tls>>,
}

/// The address to bind for `host` and `port`: `server-host`'s special values as PostgREST reads
/// them, and an IPv6 host in brackets (`[::]:3000`).
pub(super) fn bind_addr(host: &str, port: u16) -> String {
    let host = match host {
        "!4" | "*4" | "*" => "0.0.0.0",
        "!6" | "*6" => "::",
        h => h,
    };
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) async fn bind_tcp(addr: &str) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr: addr.to_string(), source })
}

/// Closes pooled connections past `db-pool-max-idletime` / `db-pool-max-lifetime`, checking
/// every second (the settings are re-read each time, so a config reload applies).
async fn retire_connections(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let config = state.config();
        let closed = state.db.close_old_connections(
            Duration::from_secs(config.db_pool_max_idletime),
            Duration::from_secs(config.db_pool_max_lifetime),
        );
        if closed > 0 {
            tracing::debug!("closed {closed} idle or old database connection(s)");
        }
    }
}

impl Server {
    /// Binds the listener, creates the pool and starts loading the schema cache.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let pool = db::pool(&config.db_uri, config.db_pool, config.db_pool_acquisition_timeout)
            .map_err(ServerError::Config)?;
        let replicas = db::Replicas::new(
            &config.db_replica_uris,
            config.db_replica_pool,
            config.db_pool_acquisition_timeout,
            config.db_replica_max_lag,
            config.db_replica_wait,
        )
        .map_err(ServerError::Config)?;
        let listener = match &config.server_unix_socket {
            Some(path) => Listen::Unix(bind_unix(path, config.server_unix_socket_mode)?),
            None => Listen::Tcp(bind_tcp(&bind_addr(&config.server_host, config.server_port)).await?),
        };
        let tls = match &config.server_tls {
            Some((cert, key)) => Some(Arc::new(tls::Tls::load(cert, key).map_err(ServerError::Config)?)),
            None => None,
        };
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel::<Reload>(16);
        let config = Arc::new(config);
        let state = Arc::new(AppState {
            config: RwLock::new(config.clone()),
            jwt_cache: crate::auth::JwtCache::new(config.jwt_cache_max_entries),
            db: Arc::new(Db::with_replicas(pool, replicas)),
            schema_cache: RwLock::new(None),
            reload: reload_tx.clone(),
            live: Arc::new(db::live::Live::new(config.db_pool)),
        });
        let ops = Arc::new(Ops {
            state: state.clone(),
            reload: reload_tx.clone(),
            listener: Mutex::new(None),
            schema_cache_json: RwLock::new(None),
            schema_cache_loads_ok: AtomicU64::new(0),
            schema_cache_loads_failed: AtomicU64::new(0),
            schema_cache_query_us: AtomicU64::new(0),
            main: admin::MainListener::of(&listener, config.server_unix_socket.as_deref()),
            tls,
        });
        tokio::spawn(reloader(ops.clone(), reload_rx));
        tokio::spawn(retire_connections(state.clone()));
        if !state.db.replicas.members.is_empty() {
            let primary = db::conn_info(&config.db_uri).map_err(ServerError::Config)?;
            tokio::spawn(db::watch_replicas(state.db.clone(), primary));
        }
        // The in-database settings and the request roles' settings first (they may change
        // db-schemas), then the schema cache; meanwhile the pool opens the connections those
        // two take (the schema cache reads on two at once when the pool has them).
        let db = state.db.clone();
        let warm = config.db_pool.clamp(1, 2);
        tokio::spawn(async move { db.warm_up(warm).await });
        let _ = reload_tx.try_send(Reload::Config);
        let _ = reload_tx.try_send(Reload::Schema);
        restart_listener(&ops, &config);
        tokio::spawn(signals(reload_tx));
        if config.raw_media_types.iter().any(|m| m.eq_ignore_ascii_case("text/html")) {
            tracing::warn!(
                "raw-media-types includes text/html: every exposed function returning text is served as HTML, \
                 a reflected-XSS risk with a function that echoes its input. Prefer a \"text/html\" domain \
                 as the return type of the one function that serves HTML (PostgREST 12's way)"
            );
        }
        let https = if ops.tls.is_some() { " (HTTPS, HTTP/2 and HTTP/1.1)" } else { "" };
        match &listener {
            Listen::Tcp(l) => {
                if let Ok(a) = l.local_addr() {
                    tracing::info!("Listening on {a}{https}");
                }
            }
            Listen::Unix(_) => {
                tracing::info!("Listening on unix socket {}", config.server_unix_socket.as_deref().unwrap_or_default())
            }
        }
        let admin = admin::bind(&config).await?;
        Ok(Server { listener, admin, state, ops })
    }

    /// The TCP address listened on (127.0.0.1:0 for a unix socket).
    pub fn local_addr(&self) -> SocketAddr {
        let none = SocketAddr::from(([127, 0, 0, 1], 0));
        match &self.listener {
            Listen::Tcp(l) => l.local_addr().unwrap_or(none),
            Listen::Unix(_) => none,
        }
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        if let Some(admin) = self.admin {
            tokio::spawn(admin::admin_server(admin, self.ops.clone()));
        }
        // A clean shutdown first stops the LISTEN connection, so that the database going down
        // with the same Ctrl-C is no "lost connection".
        let ops = self.ops.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(task) = ops.listener.lock().ok().and_then(|mut l| l.take()) {
                task.abort();
            }
        };
        let state = self.state.clone();
        let limiter = Arc::new(rate_limit::Limiter::default());
        // The router, wrapped in the compression layer; the peer travels in the request.
        let service = tower::ServiceBuilder::new().layer(compress::layer()).service_fn(
            move |req: hyper::Request<hyper::body::Incoming>| {
                let (state, limiter) = (state.clone(), limiter.clone());
                async move {
                    let peer = req.extensions().get::<Peer>().and_then(|p| p.0);
                    // Boxed: the pipeline's future is large, and every future around it is moved
                    // (into the compression layer's, the handler's box, hyper's dispatcher) by
                    // copying it whole.
                    Ok::<_, std::convert::Infallible>(Box::pin(serve_one(&state, &limiter, peer, req)).await)
                }
            },
        );
        let refusing = self.state.clone();
        let handler: conn::Handler = Arc::new(move |peer, req| {
            // A head the HTTP layer refused ([`head`]) is answered here, small and uncompressed.
            let mut req = match req {
                Ok(req) => req,
                Err(refused) => {
                    let response = refused_head(&refusing.config(), peer, &refused);
                    return Box::pin(async move { response });
                }
            };
            req.extensions_mut().insert(Peer(peer));
            let service = service.clone();
            Box::pin(async move {
                use tower::ServiceExt;
                match service.oneshot(req).await {
                    Ok(mut response) => {
                        compress::restore_row_range(&mut response);
                        response.map(Body::new)
                    }
                    Err(never) => match never {},
                }
            })
        });
        let state = self.state.clone();
        let timeouts = move || conn::Timeouts::of(&state.config());
        // Live subscriptions never finish by themselves: end them, so the shutdown does not
        // wait for them.
        let live = self.state.live.clone();
        let shutdown = async move {
            shutdown.await;
            live.close_all();
        };
        conn::serve(self.listener, timeouts, handler, self.ops.tls.clone(), shutdown).await;
        Ok(())
    }
}

/// Binds the unix socket at `path` with `mode`, replacing a stale socket file left by an earlier
/// run (but no other kind of file).
pub(super) fn bind_unix(path: &str, mode: u32) -> Result<tokio::net::UnixListener, ServerError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let bind_error = |source| ServerError::Bind { addr: path.to_string(), source };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(bind_error(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a file is in the way")));
        }
        std::fs::remove_file(path).map_err(bind_error)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(bind_error)?;
    Ok(listener)
}

/// The connection's peer, as a request extension (`None` on the unix socket).
#[derive(Clone, Copy)]
struct Peer(Option<SocketAddr>);

async fn serve_one(
    state: &Arc<AppState>,
    limiter: &rate_limit::Limiter,
    peer: Option<SocketAddr>,
    req: hyper::Request<hyper::body::Incoming>,
) -> axum::response::Response {
    let config = state.config();
    let (parts, body) = req.into_parts();
    // A body that cannot be read (a malformed chunk, a connection lost midway), too large or too
    // slow is refused (400, 413, 408), not an empty body the pipeline would take for the request.
    let content_length = parts.headers.get("content-length").and_then(|v| v.to_str().ok());
    let (body, unreadable): (Bytes, Option<Error>) =
        match conn::read_body(body, content_length, config.server_max_body_size, config.server_body_timeout).await {
            Ok(b) => (b, None),
            Err(e) => (Bytes::new(), Some(e)),
        };
    let mut raw = RawRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            // `HeaderName` is lowercase already (the http crate lowers it when parsing).
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect::<Vec<_>>()
            .into(),
        body,
    };
    // HTTP/2 carries the host as the `:authority` pseudo-header, not as `Host`: the pipeline (the
    // cookie's same-origin check, `request.headers`) sees it as `host` either way.
    if raw.header("host").is_none() {
        if let Some(authority) = parts.uri.authority() {
            std::sync::Arc::make_mut(&mut raw.headers).push(("host".into(), authority.as_str().to_string()));
        }
    }
    let origin = raw.header("origin").map(str::to_string);
    let allowed = config.server_cors_allowed_origins.as_deref();
    let (mut response, role) =
        if raw.method == "OPTIONS" && origin.is_some() && raw.header("access-control-request-method").is_some() {
            // A CORS preflight.
            let mut r = Response::new(200);
            r.headers = cors_headers(allowed, origin.as_deref(), Some(&raw));
            (r, None)
        } else {
            let outcome = route(state, &config, limiter, peer, &mut raw, unreadable).await;
            let mut r = outcome.response;
            if origin.is_some() || raw.method == "OPTIONS" {
                let mut cors = cors_headers(allowed, origin.as_deref(), None);
                if !config.db_replica_uris.is_empty() {
                    crate::http::expose_lsn(&mut cors);
                }
                r.headers.extend(cors);
            }
            (r, outcome.role)
        };
    if crate::http::sniffable(&response) {
        response.headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
    }
    if let Some(name) = &config.server_trace_header {
        if let Some(v) = raw.header(name) {
            response.headers.push((name.clone(), v.to_string()));
        }
    }
    log_request(config.log_level, &raw, parts.version, peer, role.as_deref(), &response);
    let head = raw.method == "HEAD";
    if head {
        response.body = Bytes::new();
    }
    let mut response = to_axum(response, head);
    if head || !config.server_edge.compression {
        response.extensions_mut().insert(compress::Uncompressed);
    }
    compress::hide_row_range(&mut response);
    response
}

/// Everything but a preflight: an unreadable body, the rate limits, the static files, then the
/// pipeline.
async fn route(
    state: &Arc<AppState>,
    config: &Config,
    limiter: &rate_limit::Limiter,
    peer: Option<SocketAddr>,
    raw: &mut RawRequest,
    unreadable: Option<Error>,
) -> app::Outcome {
    let minimal = config.client_error_verbosity_minimal;
    if let Some(e) = unreadable {
        let mut response = crate::response::error(&e, false, minimal);
        // What is left of the body is not read: the connection cannot carry another request.
        response.headers.push(("Connection".into(), "close".into()));
        return app::Outcome { response, role: None };
    }
    if let Some(e) = rate_limited(state, config, limiter, peer, raw) {
        return app::Outcome { response: crate::response::error(&e, false, minimal), role: None };
    }
    if let Some(response) = static_files::serve(config, raw).await {
        return app::Outcome { response, role: None };
    }
    // The pipeline takes the body out of the request once parsed, so it can free it early.
    app::handle(state, config, raw).await
}

/// TUSK429 when the client's address or its JWT's role (and subject) is over
/// `server-rate-limit`. A token that does not verify is not counted here: the pipeline refuses it.
fn rate_limited(
    state: &AppState,
    config: &Config,
    limiter: &rate_limit::Limiter,
    peer: Option<SocketAddr>,
    raw: &RawRequest,
) -> Option<Error> {
    let edge = &config.server_edge;
    if edge.rate_limit == 0 {
        return None;
    }
    let now = std::time::Instant::now();
    let check = |key: &str, what: &'static str| match limiter.check(key, edge.rate_limit, edge.rate_limit_burst, now) {
        rate_limit::Verdict::Go => None,
        rate_limit::Verdict::Wait(retry_after) => Some(Error::RateLimited { retry_after, what }),
    };
    if let Some(key) = rate_limit::client_key(edge, peer, raw.header("x-forwarded-for")) {
        if let Some(e) = check(&key, "client address") {
            return Some(e);
        }
    }
    // The token in the Authorization header, or in the jwt-cookie cookie.
    let credential = crate::auth::Credential::of(config, raw);
    if credential == crate::auth::Credential::None {
        return None;
    }
    let auth = crate::auth::authenticate_cached(config, Some(&state.jwt_cache), credential, crate::auth::now()).ok()?;
    let key = match auth.claims.get("sub").and_then(|s| s.as_str()) {
        Some(sub) => format!("role:{}:{sub}", auth.role),
        None => format!("role:{}", auth.role),
    };
    check(&key, "role")
}

/// The answer to a request head the HTTP layer refused (`head`): its JSON error, and the
/// connection closes. Logged as a request of method and target `-`.
fn refused_head(config: &Config, peer: Option<SocketAddr>, e: &Error) -> axum::response::Response {
    let mut response = crate::response::error(e, false, config.client_error_verbosity_minimal);
    response.headers.push(("Connection".into(), "close".into()));
    let raw = RawRequest {
        method: "-".into(),
        path: "-".into(),
        query: String::new(),
        headers: Default::default(),
        body: Bytes::new(),
    };
    log_request(config.log_level, &raw, hyper::Version::HTTP_11, peer, None, &response);
    to_axum(response, false)
}

/// The `Server` header of every response (API and admin).
pub const SERVER_HEADER: &str = concat!("tusk/", env!("CARGO_PKG_VERSION"));

fn to_axum(r: Response, head: bool) -> axum::response::Response {
    // HEAD: no body, and like PostgREST no Content-Length (a body of unknown size).
    let body = if head {
        Body::from_stream(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
    } else if let Some(stream) = r.stream.as_ref().and_then(|s| s.take()) {
        // A live subscription's events: each chunk is written as it comes, never buffered
        // or compressed (the response says `Cache-Control: no-cache`, `X-Accel-Buffering: no`).
        use futures_util::StreamExt;
        let first = futures_util::stream::iter((!r.body.is_empty()).then_some(r.body));
        Body::from_stream(first.chain(stream).map(Ok::<Bytes, std::convert::Infallible>))
    } else {
        Body::from(r.body)
    };
    // Headers go straight into the response's map (appended, in order, as the builder would):
    // the builder moves its whole state through every `.header()` call.
    let mut resp = axum::response::Response::new(body);
    let Ok(status) = axum::http::StatusCode::from_u16(r.status) else { return invalid_header() };
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.reserve(r.headers.len() + 1);
    let mut has_server = false;
    for (k, v) in &r.headers {
        let (Ok(name), Ok(value)) =
            (axum::http::HeaderName::from_bytes(k.as_bytes()), axum::http::HeaderValue::from_str(v))
        else {
            return invalid_header();
        };
        has_server |= name == axum::http::header::SERVER;
        headers.append(name, value);
    }
    // PostgREST sends `Server: postgrest/<version>`; tusk names itself the same way.
    if !has_server {
        headers.append(axum::http::header::SERVER, axum::http::HeaderValue::from_static(SERVER_HEADER));
    }
    resp
}

/// A response whose status or a header cannot be sent: a 500 saying so.
fn invalid_header() -> axum::response::Response {
    let mut resp = axum::response::Response::new(Body::from(
        "{\"code\":\"PGRSTX00\",\"message\":\"Invalid response header\",\"details\":null,\"hint\":null}",
    ));
    *resp.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    resp
}

/// One line per request, Apache combined format as PostgREST writes it. `info` logs every
/// request, `warn` 4xx and 5xx, `error` 5xx only.
fn log_request(
    level: LogLevel,
    req: &RawRequest,
    version: hyper::Version,
    peer: Option<SocketAddr>,
    role: Option<&str>,
    resp: &Response,
) {
    let show = match level {
        LogLevel::Crit => false,
        LogLevel::Error => resp.status >= 500,
        LogLevel::Warn => resp.status >= 400,
        LogLevel::Info | LogLevel::Debug => true,
    };
    if !show {
        return;
    }
    // One buffer, written in place: this runs for every request at `log-level = info`.
    use std::fmt::Write as _;
    let mut line = String::with_capacity(160 + req.path.len() + req.query.len());
    match peer {
        Some(p) => {
            let _ = write!(line, "{}", p.ip());
        }
        None => line.push_str("unix"),
    }
    line.push_str(" - ");
    line.push_str(role.unwrap_or("-"));
    line.push_str(" [");
    push_log_time(&mut line);
    line.push_str("] \"");
    line.push_str(&req.method);
    line.push(' ');
    line.push_str(&req.path);
    if !req.query.is_empty() {
        line.push('?');
        line.push_str(&req.query);
    }
    let version = match version {
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let _ = write!(line, " {version}\" {} ", resp.status);
    if resp.body.is_empty() {
        line.push('-');
    } else {
        let _ = write!(line, "{}", resp.body.len());
    }
    let _ = write!(line, " \"{}\" \"{}\"", req.header("referer").unwrap_or(""), req.header("user-agent").unwrap_or(""));
    // Printed directly (like PostgREST), so the level filter above is the only filter. A closed
    // or full stdout (a log pipe whose reader went away) loses the line, never the server:
    // `println!` would panic on EPIPE.
    line.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes());
}

/// Now, as the log line's timestamp, appended to `line`. The text changes once a second: each
/// worker thread keeps the last one it wrote instead of formatting a date for every request.
fn push_log_time(line: &mut String) {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = crate::auth::now();
    LAST.with_borrow_mut(|(secs, text)| {
        if *secs != now {
            *text = clf_time(now);
            *secs = now;
        }
        line.push_str(text);
    });
}

/// Seconds since 1970-01-01 UTC in the Common Log Format: `27/Nov/2026:09:17:31 +0000`.
fn clf_time(secs: i64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server whose database is unreachable: enough for what happens before the pipeline.
    async fn server_without_database() -> Server {
        let env = [
            ("PGRST_DB_URI", "postgresql://tusk@127.0.0.1:1/none"),
            ("PGRST_SERVER_HOST", "127.0.0.1"),
            ("PGRST_SERVER_PORT", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::from_sources(None, &env).expect("config");
        Server::bind(config).await.expect("bind")
    }

    #[tokio::test]
    async fn an_unreadable_body_is_a_400_not_an_empty_body() {
        let server = server_without_database().await;
        let addr = server.local_addr();
        tokio::spawn(server.run(std::future::pending()));
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = "POST /items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnot-a-chunk-size\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer);
        tokio::time::timeout(Duration::from_secs(10), read).await.expect("answered in time").expect("read");
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("\"code\":\"PGRST102\""), "{answer}");
        assert!(answer.contains("Could not read the request body"), "{answer}");
    }

    #[test]
    fn log_timestamps_in_common_log_format() {
        let cases = [
            (0, "01/Jan/1970:00:00:00 +0000"),
            (-1, "31/Dec/1969:23:59:59 +0000"),
            (951_868_799, "29/Feb/2000:23:59:59 +0000"),
            (1_735_646_405, "31/Dec/2024:12:00:05 +0000"),
            (1_795_771_051, "27/Nov/2026:09:17:31 +0000"),
            (4_107_542_400, "01/Mar/2100:00:00:00 +0000"),
        ];
        for (secs, text) in cases {
            assert_eq!(clf_time(secs), text, "{secs}");
        }
    }
}
