//! Opening a connection as libpq would: the settings of `db-uri` completed by the environment,
//! the service file and the password file ([`crate::config::libpq`]), then each host of the
//! list in turn until one answers and suits `target_session_attrs` (`prefer-standby`: a second
//! round takes any server). tokio-postgres knows only `any`, `read-write` and `read-only` and
//! one password for all hosts, so the round is ours: each host gets its own configuration
//! (and its own line of the password file), and the server's state is read with
//! `session_state.sql`.
//!
//! TLS as libpq's `sslmode` (rustls, ring): `disable` never, `allow` and `prefer` when the
//! server offers it (no check of its certificate), `require` always (its chain checked when
//! there is a root file, as `verify-ca`), `verify-ca` with the chain checked against
//! `sslrootcert`, `verify-full` with the host name too. Unix sockets never use TLS.
//!
//! A failure says what it is and where, in libpq's words: `connection to server at "h", port
//! 5432 failed: Connection refused`, `could not translate host name "h" to address`,
//! `password authentication failed for user "u"`, `database "d" does not exist`, `no password
//! supplied`. The pool's connections are opened here too ([`LibpqConnect`]); the driver task of
//! each logs nothing when the connection ends (a shutdown closes them all).

use crate::config::libpq::{self, ConnInfo, Host, SessionAttrs};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls;

pub type PgConnection = tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Whether a server is read-only and whether it is a standby (in recovery).
const SESSION_STATE_QUERY: &str = include_str!("session_state.sql");

/// When `connect_timeout` is not set: libpq waits as long as the system does; tusk gives up
/// after this long so that an unreachable host does not hold up the next one.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The last failure of a pool connection, described ([`describe`]): the pool hands back only
/// the driver's error, which does not name the host.
static LAST_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// The description of the pool's last failed connection, if any.
pub fn last_failure() -> Option<String> {
    LAST_FAILURE.lock().ok().and_then(|f| f.clone())
}

/// A failed connection: what libpq would say, and the driver's error underneath.
#[derive(Debug)]
pub struct ConnectError {
    pub message: String,
    pub source: tokio_postgres::Error,
}

/// The process's user name: the owner of `/proc/self` (the effective uid) in `/etc/passwd`.
fn os_user_and_home() -> (Option<String>, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return (None, None) };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry =
        passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.get(2) == Some(&uid.to_string().as_str()));
    match entry {
        Some(f) => (f.first().map(|s| s.to_string()), f.get(5).map(|s| s.to_string())),
        None => (std::env::var("USER").ok(), None),
    }
}

/// A file's text; a password file that group or world may read is ignored, as libpq does.
fn read_file(path: &str, private: bool) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if private && meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!("password file \"{path}\" has group or world access; permissions should be u=rw (0600) or less");
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The settings of `db-uri` after the environment and libpq's files.
pub fn conn_info(uri: &str) -> Result<ConnInfo, String> {
    let vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let (os_user, passwd_home) = os_user_and_home();
    let home = vars.get("HOME").cloned().or(passwd_home);
    let read = |p: &str| read_file(p, false);
    let read_private = |p: &str| read_file(p, true);
    let env = libpq::Env { vars: &vars, os_user, home, read: &read, read_private: &read_private };
    let info = libpq::resolve(uri, &env).map_err(|e| format!("invalid db-uri: {e}"))?;
    // The root file is read again for each connection (it may be replaced), but a bad one
    // stops the start.
    tls(&info).map_err(|e| format!("invalid db-uri: {e}"))?;
    Ok(info)
}

/// The TLS client of `info`'s `sslmode`: the root certificates of `sslrootcert`, if any.
fn tls(info: &ConnInfo) -> Result<MakeRustlsConnect, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    #[allow(deprecated)] // see server::tls: ring's provider
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = match &info.sslrootcert {
        None => None,
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| format!("could not read root certificate file \"{path}\": {e}"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("could not load root certificate file \"{path}\": {e}"))?;
                roots.add(cert).map_err(|e| format!("could not load root certificate file \"{path}\": {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("root certificate file \"{path}\" holds no certificate"));
            }
            let verifier =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("root certificate file \"{path}\": {e}"))?;
            Some(verifier)
        }
    };
    let verifier = Verifier { webpki, check_name: info.sslmode == "verify-full", provider: provider.clone() };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's checks of the server's certificate: none, the chain (`verify-ca`, `require` with a
/// root file), or the chain and the host name (`verify-full`). The handshake's signatures are
/// always checked.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        let Some(webpki) = &self.webpki else { return Ok(rustls::client::danger::ServerCertVerified::assertion()) };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // The chain was good (it is checked first); verify-ca does not look at the name.
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The driver's configuration for one host of the list.
fn host_config(info: &ConnInfo, host: &Host, app: &str) -> tokio_postgres::Config {
    let mut pg = tokio_postgres::Config::new();
    if host.is_socket() {
        pg.host_path(&host.host);
    } else {
        let name = if host.host.is_empty() { host.hostaddr.as_deref().unwrap_or_default() } else { &host.host };
        pg.host(name);
        if let Some(addr) = host.hostaddr.as_deref().and_then(|a| a.parse().ok()) {
            pg.hostaddr(addr);
        }
    }
    pg.port(host.port).user(&info.user).dbname(&info.dbname);
    if let Some(p) = &host.password {
        pg.password(p.as_bytes());
    }
    if let Some(o) = &info.options {
        pg.options(o);
    }
    pg.application_name(info.application_name.as_deref().unwrap_or(app));
    pg.connect_timeout(info.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs));
    // libpq uses no TLS on a unix socket; `allow` is taken as `prefer` (TLS first).
    pg.ssl_mode(match info.sslmode.as_str() {
        _ if host.is_socket() => tokio_postgres::config::SslMode::Disable,
        "disable" => tokio_postgres::config::SslMode::Disable,
        "allow" | "prefer" => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    match info.channel_binding.as_deref() {
        Some("disable") => pg.channel_binding(tokio_postgres::config::ChannelBinding::Disable),
        Some("require") => pg.channel_binding(tokio_postgres::config::ChannelBinding::Require),
        _ => &mut pg,
    };
    pg
}

/// What went wrong, in libpq's words, naming the host.
pub fn describe(host: &Host, e: &tokio_postgres::Error) -> String {
    let at = if host.is_socket() {
        format!("connection to server on {host} failed")
    } else {
        let name = if host.host.is_empty() { host.hostaddr.as_deref().unwrap_or_default() } else { &host.host };
        format!("connection to server at \"{name}\", port {} failed", host.port)
    };
    if let Some(db) = e.as_db_error() {
        return format!("{at}: {}", db.message());
    }
    let mut cause = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    let text = e.to_string();
    match cause {
        // The driver's "invalid configuration: password missing": the server asked for one.
        Some(c) if c.contains("password missing") => format!("{at}: no password supplied"),
        Some(c) if text.contains("TLS") => format!("{at}: TLS: {c}"),
        Some(c) if c.contains("failed to lookup address") || c.contains("Name or service not known") => {
            format!("could not translate host name \"{}\" to address: {c}", host.host)
        }
        Some(c) => format!("{at}: {c}"),
        None if text.contains("timeout") => format!("{at}: timeout expired"),
        None => format!("{at}: {text}"),
    }
}

/// Connects to the first host that answers and suits `target_session_attrs`.
pub async fn connect(info: &ConnInfo, app: &str) -> Result<(Client, PgConnection), ConnectError> {
    let mut hosts: Vec<&Host> = info.hosts.iter().collect();
    if info.load_balance {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = hosts.len().max(1);
        hosts.rotate_left(seed as usize % n);
    }
    let rounds: &[SessionAttrs] = match info.target_session_attrs {
        SessionAttrs::PreferStandby => &[SessionAttrs::Standby, SessionAttrs::Any],
        attrs => &[attrs][..],
    };
    let tls = tls(info).map_err(|message| ConnectError {
        message: format!("TLS: {message}"),
        source: tokio_postgres::Error::__private_api_timeout(),
    })?;
    let mut last: Option<ConnectError> = None;
    let mut unsuitable: Option<(&Host, String)> = None;
    for &wanted in rounds {
        for host in &hosts {
            let pg = host_config(info, host, app);
            let (client, mut connection) = match pg.connect(tls.clone()).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(ConnectError { message: describe(host, &e), source: e });
                    continue;
                }
            };
            if wanted == SessionAttrs::Any {
                return Ok((client, connection));
            }
            let state = drive(&mut connection, client.query_one(SESSION_STATE_QUERY, &[])).await;
            let (read_only, standby): (bool, bool) = match state.and_then(|r| Ok((r.try_get(0)?, r.try_get(1)?))) {
                Ok(s) => s,
                Err(e) => {
                    last = Some(ConnectError { message: describe(host, &e), source: e });
                    continue;
                }
            };
            let why = match wanted {
                SessionAttrs::ReadWrite if read_only => Some("session is read-only"),
                SessionAttrs::ReadOnly if !read_only => Some("session is not read-only"),
                SessionAttrs::Primary if standby => Some("server is in hot standby mode"),
                SessionAttrs::Standby if !standby => Some("server is not in hot standby mode"),
                _ => None,
            };
            match why {
                None => return Ok((client, connection)),
                Some(why) => {
                    tracing::debug!(
                        "{host} does not suit target_session_attrs={}: {why}",
                        info.target_session_attrs.name()
                    );
                    unsuitable = Some((host, format!("{why} ({host})")));
                }
            }
        }
    }
    match (unsuitable, last) {
        // Every host that answered was unsuitable: say so, with the driver's own error.
        (Some((host, why)), _) => {
            let message = format!(
                "no server of the host list suits target_session_attrs={}: {why}",
                info.target_session_attrs.name()
            );
            Err(ConnectError { message, source: unsuitable_error(info, host, app).await })
        }
        (None, Some(e)) => Err(e),
        // The host list is never empty.
        (None, None) => Err(ConnectError {
            message: "no host to connect to".into(),
            source: tokio_postgres::Error::__private_api_timeout(),
        }),
    }
}

/// Runs `query` while driving `connection` (whose messages carry its answer).
async fn drive<T>(
    connection: &mut PgConnection,
    query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    use std::future::Future;
    use std::task::Poll;
    let mut query = std::pin::pin!(query);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = query.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match std::pin::Pin::new(&mut *connection).poll(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The server closed the connection before answering.
            Poll::Ready(Ok(())) => Poll::Ready(Err(tokio_postgres::Error::__private_api_timeout())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A driver error for "the server does not suit": tokio-postgres' own read-only check, asked
/// for the opposite of what the server is (one of the two fails).
async fn unsuitable_error(info: &ConnInfo, host: &Host, app: &str) -> tokio_postgres::Error {
    use tokio_postgres::config::TargetSessionAttrs;
    for attrs in [TargetSessionAttrs::ReadWrite, TargetSessionAttrs::ReadOnly] {
        let mut pg = host_config(info, host, app);
        pg.target_session_attrs(attrs);
        let Ok(tls) = tls(info) else { break };
        if let Err(e) = pg.connect(tls).await {
            return e;
        }
    }
    // Not reached: one of the two checks fails (unless the server changed meanwhile).
    tokio_postgres::Error::__private_api_timeout()
}

/// Opens the pool's connections through [`connect`].
pub struct LibpqConnect {
    pub info: ConnInfo,
}

impl deadpool_postgres::Connect for LibpqConnect {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>>
                + Send
                + '_,
        >,
    > {
        Box::pin(async move {
            match connect(&self.info, "tusk").await {
                Ok((client, connection)) => {
                    if let Ok(mut f) = LAST_FAILURE.lock() {
                        *f = None;
                    }
                    // Ends with the connection; a closed connection is no news (the next
                    // request finds out, and a shutdown closes them all).
                    let driver = tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!("database connection ended: {e}");
                        }
                    });
                    Ok((client, driver))
                }
                Err(e) => {
                    if let Ok(mut f) = LAST_FAILURE.lock() {
                        *f = Some(e.message);
                    }
                    Err(e.source)
                }
            }
        })
    }
}
