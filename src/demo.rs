//! `tusk demo`: the todo example app of the seed story, running with nothing installed but
//! PostgreSQL's binaries.
//!
//! It starts a throwaway cluster ([`TempCluster`]), loads `examples/todo/backend.sql` into it,
//! writes `examples/todo/static/frontend.js` into the cluster's directory and serves it from
//! there as `server-static-dir` (at `/static/frontend.js`, where the page loads it by default),
//! starts the API server with the seed's settings plus sign-in (the `todo_jwt` cookie and the
//! secret handed to SQL), and prints where to go, a demo account's name and password and a
//! ready-made login token. Ctrl-C (or SIGTERM/SIGHUP) stops the server and the cluster; nothing is left
//! running or on disk.
//!
//! Both example files are embedded in the binary, so `tusk demo` works from any directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::json;

use crate::auth::AuthError;
use crate::cluster::{ClusterError, TempCluster};
use crate::config::{Config, ConfigError};
use crate::server::{Server, ServerError};

/// The example's database script.
const BACKEND_SQL: &str = include_str!("../examples/todo/backend.sql");
/// The example's front end, served at [`FRONTEND_PATH`].
const FRONTEND_JS: &str = include_str!("../examples/todo/static/frontend.js");
/// The seed's JWT secret, so that the seed's ready-made token works too.
pub const DEMO_JWT_SECRET: &str = "your-256-bit-secret-your-256-bit-secret";
/// The name of the demo account (its role is `todo_user`, like the printed token's).
const DEMO_ACCOUNT: &str = "demo";
/// The sign-in cookie (`jwt-cookie`), as `todo_private.settings` names it.
const DEMO_COOKIE: &str = "todo_jwt";
/// Lifetime of the printed token.
const TOKEN_LIFETIME_SECS: i64 = 24 * 60 * 60;
/// How long to wait for the server to answer before printing the banner anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `tusk demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Port for the HTTP server.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Address for the HTTP server.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Serve HTTPS (and HTTP/2) with a self-signed certificate made for the occasion.
    #[arg(long)]
    pub tls: bool,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("could not set up the demo database: {0}")]
    Cluster(#[from] ClusterError),
    #[error("invalid demo configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Server(#[from] ServerError),
    #[error("could not sign the demo token: {0}")]
    Token(#[from] AuthError),
    #[error("could not write to stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Tls(String),
}

/// Runs the demo until Ctrl-C / SIGTERM.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let (cluster, password) = tokio::task::spawn_blocking(start_cluster).await??;
    let result = serve(&args, &cluster, &password).await;
    // Stopping the cluster blocks (pg_ctl stop); keep it off the async workers.
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    result
}

/// Starts the cluster, loads the example into its `postgres` database and creates the demo
/// account with a random password (PostgreSQL's `gen_random_bytes`), which it returns.
fn start_cluster() -> Result<(TempCluster, String), ClusterError> {
    let cluster = TempCluster::start()?;
    cluster.psql(BACKEND_SQL)?;
    let password = cluster.psql(&format!(
        "select p from (select encode(todo_private.gen_random_bytes(8), 'hex') as p) s, \
         lateral todo_private.create_account('{DEMO_ACCOUNT}', p)"
    ))?;
    Ok((cluster, password.trim().to_string()))
}

/// Writes the app's static files into the cluster's directory (removed with it), for
/// `server-static-dir`.
fn write_static_dir(cluster: &TempCluster) -> Result<std::path::PathBuf, std::io::Error> {
    let dir = cluster.socket_dir().join("static");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("frontend.js"), FRONTEND_JS)?;
    Ok(dir)
}

/// The seed's settings, pointing at `cluster`.
fn demo_env(args: &DemoArgs, cluster: &TempCluster, static_dir: &std::path::Path) -> BTreeMap<String, String> {
    [
        ("PGRST_DB_URI", cluster.uri("postgrest", "mysecretpassword", "postgres")),
        ("PGRST_DB_ANON_ROLE", "web_anon".to_string()),
        ("PGRST_DB_SCHEMAS", "todo".to_string()),
        ("PGRST_JWT_SECRET", DEMO_JWT_SECRET.to_string()),
        // Sign-in (backend.sql §7): the token in an HttpOnly cookie, signed in SQL.
        ("PGRST_JWT_COOKIE", DEMO_COOKIE.to_string()),
        ("PGRST_APP_SETTINGS_JWT_SECRET", DEMO_JWT_SECRET.to_string()),
        ("PGRST_RAW_MEDIA_TYPES", "text/html".to_string()),
        ("PGRST_SERVER_HOST", args.host.clone()),
        ("PGRST_SERVER_PORT", args.port.to_string()),
        ("PGRST_LOG_LEVEL", "info".to_string()),
        ("PGRST_SERVER_STATIC_DIR", static_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A self-signed certificate for `host` and localhost, written beside the cluster's files: the
/// paths of the certificate and key, and the certificate's PEM.
fn demo_certificate(host: &str, cluster: &TempCluster) -> Result<(String, String, String), DemoError> {
    let names = ["localhost", "127.0.0.1", "::1", host].iter().map(|n| n.to_string()).collect();
    let (cert, key) = crate::server::self_signed(names).map_err(DemoError::Tls)?;
    let (cert_path, key_path) = (cluster.dir().join("demo-cert.pem"), cluster.dir().join("demo-key.pem"));
    std::fs::write(&cert_path, &cert)?;
    std::fs::write(&key_path, &key)?;
    Ok((cert_path.to_string_lossy().into_owned(), key_path.to_string_lossy().into_owned(), cert))
}

async fn serve(args: &DemoArgs, cluster: &TempCluster, password: &str) -> Result<(), DemoError> {
    let static_dir = write_static_dir(cluster)?;
    let mut env = demo_env(args, cluster, &static_dir);
    let tls = if args.tls {
        let (cert, key, pem) = demo_certificate(&args.host, cluster)?;
        env.insert("PGRST_SERVER_TLS_CERT".into(), cert.clone());
        env.insert("PGRST_SERVER_TLS_KEY".into(), key);
        Some((cert, pem))
    } else {
        None
    };
    let config = Config::from_sources(None, &env)?;
    let token = crate::auth::sign_token(
        &config,
        &json!({"role": "todo_user", "exp": crate::auth::now() + TOKEN_LIFETIME_SECS}),
    )?;
    let server = Server::bind(config).await?;
    let local = server.local_addr();
    let port = local.port();
    let host = if args.host.contains(':') { format!("[{}]", args.host) } else { args.host.clone() };
    let mut server_task = tokio::spawn(server.run(shutdown_signal()));
    // Print the banner once the app answers (the schema cache loads in the background), unless
    // the server stops first (Ctrl-C, or an error).
    tokio::select! {
        res = &mut server_task => return Ok(res??),
        () = wait_until_ready(probe_addr(local), tls.as_ref().map(|(_, pem)| pem.as_str())) => {}
    }
    {
        let mut out = std::io::stdout().lock();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(out, "tusk demo is running. Press Ctrl-C to stop.")?;
        writeln!(out, "  app:    {scheme}://{host}:{port}/rpc/homepage")?;
        if let Some((cert, _)) = &tls {
            writeln!(out, "  cert:   {cert} (self-signed: curl --cacert {cert} {scheme}://localhost:{port}/todos)")?;
        }
        writeln!(out, "  token:  {token}")?;
        writeln!(out, "  secret: {DEMO_JWT_SECRET}")?;
        writeln!(out, "  psql:   psql '{}'", cluster.superuser_uri())?;
        writeln!(out, "  user:   {DEMO_ACCOUNT} (password: {password})")?;
        out.flush()?;
    }
    server_task.await??;
    Ok(())
}

/// Where to reach a server listening on `local` (a wildcard address means loopback).
fn probe_addr(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Polls `GET /` until the server answers with something other than 503 (schema cache not
/// loaded yet), for at most [`READY_TIMEOUT`]; over TLS trusting `cert` (PEM) when given.
async fn wait_until_ready(addr: SocketAddr, cert: Option<&str>) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Ok(Some(status))) = tokio::time::timeout(Duration::from_secs(5), probe_status(addr, cert)).await {
            if status != 503 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!("the demo server is not ready after {READY_TIMEOUT:?}; it may answer 503 for a while");
}

/// The status code of a minimal `GET /` request.
async fn probe_status(addr: SocketAddr, cert: Option<&str>) -> std::io::Result<Option<u16>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    match cert {
        None => probe_on(stream).await,
        Some(pem) => probe_on(tls_client(pem)?.connect(localhost(), stream).await?).await,
    }
}

fn localhost() -> tokio_rustls::rustls::pki_types::ServerName<'static> {
    tokio_rustls::rustls::pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into())
}

/// A TLS client trusting only the demo's certificate.
fn tls_client(pem: &str) -> std::io::Result<tokio_rustls::TlsConnector> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    roots.add(cert).map_err(|e| invalid(e.to_string()))?;
    #[allow(deprecated)] // see server::tls: ring's provider
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
}

async fn probe_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
) -> std::io::Result<Option<u16>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    // "HTTP/1.1 200 OK"
    Ok(String::from_utf8_lossy(&buf).split_whitespace().nth(1).and_then(|code| code.parse().ok()))
}

/// Resolves on Ctrl-C (SIGINT), SIGTERM or SIGHUP.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let hup = async {
        match hup.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = hup => {}
    }
    tracing::info!("shutting down the demo");
}
