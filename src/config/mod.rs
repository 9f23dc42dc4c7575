//! Configuration: PostgREST's settings, from a PostgREST-format file and `PGRST_*` variables.
//!
//! In charge of: turning the raw settings into the typed [`Config`]. Every setting PostgREST
//! knows is declared once in [`SETTINGS`] (`settings.rs`: name, kind, default, whether it may
//! come from the database or needs a restart, whether tusk implements it yet, one line of
//! doc). That table drives parsing, validation, `--example` and `--dump-config` (`dump.rs`).
//! Loading is two steps: the raw layer ([`ConfigSource`], `file.rs`: file, then environment,
//! environment wins, old names mapped to current ones) is a map of setting name → text;
//! [`Config::from_raw`] validates it into the typed [`Config`]. A reload
//! ([`Config::reloaded`]) reads the same file and environment again and lays the in-database
//! settings ([`in_db_settings`], read by `db`) over them; settings bound to start-up resources
//! (`restart_only`) keep their value. Nothing here does I/O beyond reading the config file.
//!
//! Rejects: a value of the wrong kind, a value outside its setting's choices or range, a
//! malformed config file line, each as one [`ConfigError`] naming the setting.

use crate::schema_cache::QualifiedName;
use std::collections::BTreeMap;
use std::path::Path;

mod claim_path;
mod dump;
mod edge;
mod file;
pub mod libpq;
mod settings;
mod uri;

pub use claim_path::{ClaimPath, ClaimPathError, Step};
pub use dump::example;
pub use edge::{Cidr, Edge};
pub use file::ConfigSource;
pub use settings::{env_name, in_db_name, in_db_settings, setting, Kind, Setting, SETTINGS};

/// A bad or missing setting: always names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value for {setting}: {message}")]
    Invalid { setting: String, message: String },
    #[error("cannot read config file {path}: {message}")]
    File { path: String, message: String },
    #[error("config file {path}, line {line}: {message}")]
    Syntax { path: String, line: usize, message: String },
}

fn invalid(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { setting: format!("{setting} ({})", env_name(setting)), message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Crit,
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    /// Its spellings in `log-level`.
    const NAMES: &'static [(&'static str, LogLevel)] = &[
        ("crit", LogLevel::Crit),
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ];

    pub fn as_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Crit | LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
        }
    }
}

/// How a request's transaction ends (`db-tx-end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxEnd {
    pub rollback: bool,
    /// `Prefer: tx=commit|rollback` is honoured.
    pub allow_override: bool,
}

impl TxEnd {
    /// Its spellings in `db-tx-end`.
    const NAMES: &'static [(&'static str, TxEnd)] = &[
        ("commit", TxEnd { rollback: false, allow_override: false }),
        ("commit-allow-override", TxEnd { rollback: false, allow_override: true }),
        ("rollback", TxEnd { rollback: true, allow_override: false }),
        ("rollback-allow-override", TxEnd { rollback: true, allow_override: true }),
    ];
}

/// What `GET /` answers (`openapi-mode`), PostgREST's three modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenApiMode {
    /// The OpenAPI document of what the request's role has privileges on.
    FollowPrivileges,
    /// The OpenAPI document of everything exposed, whatever the role's privileges.
    IgnorePrivileges,
    /// No OpenAPI document: `GET /` is not found.
    Disabled,
}

impl OpenApiMode {
    /// Its spellings in `openapi-mode`.
    const NAMES: &'static [(&'static str, OpenApiMode)] = &[
        ("follow-privileges", OpenApiMode::FollowPrivileges),
        ("ignore-privileges", OpenApiMode::IgnorePrivileges),
        ("disabled", OpenApiMode::Disabled),
    ];
}

/// The validated configuration. Built once at start-up; immutable afterwards.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_uri: String,
    pub db_schemas: Vec<String>,
    pub db_anon_role: Option<String>,
    pub db_extra_search_path: Vec<String>,
    /// Settings of a called function (`ALTER FUNCTION … SET`) applied to its whole transaction.
    pub db_hoisted_tx_settings: Vec<String>,
    pub db_max_rows: Option<i64>,
    pub db_pool: usize,
    pub db_pool_acquisition_timeout: u64,
    /// Seconds an idle connection is kept open (`db-pool-max-idletime`).
    pub db_pool_max_idletime: u64,
    /// Seconds a connection is used at most before it is replaced (`db-pool-max-lifetime`).
    pub db_pool_max_lifetime: u64,
    pub db_pre_request: Option<QualifiedName>,
    /// `db-replica-uris`: one connection string per streaming replica (reads go there).
    pub db_replica_uris: Vec<String>,
    /// `db-replica-pool`: connections in each replica's pool.
    pub db_replica_pool: usize,
    /// `db-replica-max-lag`: bytes of WAL a replica may be behind and stay in rotation (0: any).
    pub db_replica_max_lag: u64,
    /// `db-replica-wait`: how long a read whose client's last write no replica has replayed
    /// yet waits for one before going to the primary (at most [`MAX_REPLICA_WAIT_MS`]).
    pub db_replica_wait: std::time::Duration,
    pub db_tx_end: TxEnd,
    pub db_channel: String,
    pub db_channel_enabled: bool,
    pub jwt_secret: Option<Vec<u8>>,
    pub jwt_aud: Option<String>,
    /// Where the role is in the claims (`jwt-role-claim-key`).
    pub jwt_role_claim_key: ClaimPath,
    pub log_level: LogLevel,
    pub raw_media_types: Vec<String>,
    pub server_host: String,
    pub server_port: u16,
    pub server_cors_allowed_origins: Option<Vec<String>>,
    /// The HTTP layer's limits (tusk's own settings): the largest request body in bytes, and the
    /// header, body and idle timeouts.
    pub server_max_body_size: u64,
    pub server_header_timeout: std::time::Duration,
    pub server_body_timeout: std::time::Duration,
    pub server_idle_timeout: std::time::Duration,
    /// The largest request head, in bytes (`server-max-header-size`).
    pub server_max_header_size: usize,
    /// The PEM certificate chain and key (`server-tls-cert`, `server-tls-key`): both or neither.
    pub server_tls: Option<(String, String)>,
    pub server_trace_header: Option<String>,
    /// Compression, static files, rate limits and trusted proxies (tusk's own, `edge.rs`).
    pub server_edge: edge::Edge,
    /// Live updates: the channel change triggers notify (`db-changes-channel`), the most
    /// subscriptions open at once, and the least time between two re-runs of one group.
    pub db_changes_channel: String,
    pub server_max_subscriptions: usize,
    pub server_subscription_interval: std::time::Duration,
    /// Listen on this unix socket instead of TCP (`server-unix-socket`), with this mode.
    pub server_unix_socket: Option<String>,
    pub server_unix_socket_mode: u32,
    /// `server-reuseport` (accepted; not acted on yet).
    pub server_reuseport: bool,
    /// `url-use-legacy-target-names` (accepted; not acted on yet).
    pub url_use_legacy_target_names: bool,
    pub openapi_mode: OpenApiMode,
    pub db_aggregates_enabled: bool,
    pub server_timing_enabled: bool,
    pub db_plan_enabled: bool,
    /// `db-prepared-statements`: false sends every statement unnamed (nothing stays prepared).
    pub db_prepared_statements: bool,
    /// A function whose result answers `GET /` instead of the OpenAPI document.
    pub db_root_spec: Option<String>,
    /// The admin server (`/live`, `/ready`), off unless a port is set.
    pub admin_server_port: Option<u16>,
    pub admin_server_host: Option<String>,
    /// The admin server's unix socket (`admin-server-unix-socket`), with this mode; it takes
    /// precedence over `admin-server-port`.
    pub admin_server_unix_socket: Option<String>,
    pub admin_server_unix_socket_mode: u32,
    pub openapi_security_active: bool,
    pub openapi_server_proxy_uri: Option<String>,
    pub client_error_verbosity_minimal: bool,
    /// `app.settings.*`, set as `app.settings.NAME` on every transaction.
    pub app_settings: BTreeMap<String, String>,
    /// Read settings from the database (`db-config`).
    pub db_config: bool,
    /// The function run before reading the in-database settings (`db-pre-config`).
    pub db_pre_config: Option<QualifiedName>,
    /// Capacity of the JWT cache (`jwt-cache-max-entries`); 0 disables it.
    pub jwt_cache_max_entries: usize,
    /// The cookie a JWT is read from when there is no Authorization header (`jwt-cookie`).
    pub jwt_cookie: Option<String>,
    /// What one request may build (`request-max-depth`, `-embeds`, `-select-items`, `-filters`).
    pub request_limits: crate::api_request::Limits,
    /// The effective raw settings (defaults included), for `--dump-config`.
    pub raw: BTreeMap<String, String>,
    /// Settings of the roles requests run as (`ALTER ROLE … SET`), role → `(name, value)`:
    /// read from the database with each configuration load, not a setting of its own.
    pub role_settings: std::sync::Arc<BTreeMap<String, Vec<(String, String)>>>,
    /// The file and environment this configuration was read from (for reloads).
    pub source: ConfigSource,
    /// What the operator should hear about at start-up whatever the log level: unknown
    /// settings (with the closest known name) and settings tusk does not implement.
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads the configuration from an optional PostgREST-format file and the environment
    /// (only `PGRST_*` variables are looked at; they win over the file).
    pub fn from_sources(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let source = ConfigSource { file: file.map(Path::to_path_buf), env: env.clone() };
        let mut config = Config::from_raw(source.read()?)?;
        config.warnings = config.warnings.iter().map(|w| from_env_warning(w, &source.env)).collect();
        config.source = source;
        Ok(config)
    }

    /// The configuration after a reload: `fresh` is the file + environment read again
    /// ([`ConfigSource::read`], names canonical), `db` the in-database settings (`pgrst.NAME` →
    /// value; names of settings not marked `in_db` are ignored), which win over file and
    /// environment. `restart_only` settings keep their current value; their names are
    /// returned when the new sources wanted to change them.
    pub fn reloaded(
        &self,
        mut fresh: BTreeMap<String, String>,
        db: &[(String, String)],
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let from_db: Vec<(String, &String)> = db
            .iter()
            .filter_map(|(n, v)| n.strip_prefix("pgrst.").map(|n| (n.replace('_', "-"), v)))
            .filter(|(n, _)| setting(n).is_some_and(|s| s.in_db))
            .collect();
        for (name, value) in &from_db {
            fresh.insert(name.clone(), (*value).clone());
        }
        let mut ignored = Vec::new();
        for setting in SETTINGS.iter().filter(|s| s.restart_only) {
            let name = setting.name;
            let fresh_value = fresh.remove(name);
            let old_value = self.raw.get(name).cloned();
            let default = setting.default.map(str::to_string);
            if fresh_value.is_some() && fresh_value != old_value || fresh_value.is_none() && old_value != default {
                ignored.push(name.to_string());
            }
            if let Some(v) = old_value {
                fresh.insert(name.to_string(), v);
            }
        }
        let mut config = Config::from_raw(fresh).map_err(|e| match e {
            // Name where the bad value came from: the database, not the environment.
            ConfigError::Invalid { setting, message } => {
                let name = setting.split(" (").next().unwrap_or_default().to_string();
                if from_db.iter().any(|(n, _)| *n == name) {
                    ConfigError::Invalid { setting: format!("{name} ({} in the database)", in_db_name(&name)), message }
                } else {
                    ConfigError::Invalid { setting, message }
                }
            }
            other => other,
        })?;
        config.source = self.source.clone();
        Ok((config, ignored))
    }

    /// Validates raw settings (names canonical: [`ConfigSource::read`] maps the old ones) into
    /// a [`Config`]. It is long because its struct literal names every `Config` field once;
    /// the checks of more than a line are helpers.
    pub fn from_raw(mut raw: BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let warnings = complete(&mut raw)?;
        let r = Raw(&raw);
        let (db_schemas, default_schema) = schemas(&r)?;
        let db_pool = r.int("db-pool")?;
        if db_pool < 1 {
            return Err(invalid("db-pool", "must be a positive number"));
        }
        let server_port = u16::try_from(r.int("server-port")?)
            .map_err(|_| invalid("server-port", "must be a port number (0-65535)"))?;
        let acq = r.int("db-pool-acquisition-timeout")?;
        if acq < 1 {
            return Err(invalid("db-pool-acquisition-timeout", "must be a positive number of seconds"));
        }
        let db_max_rows = r.int_if_set("db-max-rows")?;
        if matches!(db_max_rows, Some(n) if n < 0) {
            return Err(invalid("db-max-rows", "must not be negative"));
        }
        let log_level = r.one_of("log-level", LogLevel::NAMES)?;
        let db_tx_end = r.one_of("db-tx-end", TxEnd::NAMES)?;
        let verbosity = [("verbose", false), ("minimal", true)];
        let client_error_verbosity_minimal = r.one_of("client-error-verbosity", &verbosity)?;
        let jwt_secret =
            r.get("jwt-secret").map(|secret| jwt_secret(secret, r.flag("jwt-secret-is-base64"))).transpose()?;
        let jwt_role_claim_key = ClaimPath::parse(r.value("jwt-role-claim-key"))
            .map_err(|e| invalid("jwt-role-claim-key", format!("'{}' is {e}", r.value("jwt-role-claim-key"))))?;
        let (jwt_aud, openapi_server_proxy_uri) = uris(&r)?;
        let jwt_cache_max_entries = r.int("jwt-cache-max-entries")?.max(0) as usize;
        let jwt_cookie = cookie_name(r.text("jwt-cookie"))?;
        let request_limits = request_limits(&r)?;
        let server_unix_socket_mode = r.socket_mode("server-unix-socket-mode")?;
        let admin_server_unix_socket_mode = r.socket_mode("admin-server-unix-socket-mode")?;
        let admin_server_port = admin_port(&r, server_port)?;
        let server_max_body_size = r.positive("server-max-body-size", "bytes")?;
        let seconds = |name| r.positive(name, "seconds").map(std::time::Duration::from_secs);
        let (server_header_timeout, server_body_timeout, server_idle_timeout) =
            (seconds("server-header-timeout")?, seconds("server-body-timeout")?, seconds("server-idle-timeout")?);
        let (server_max_subscriptions, server_subscription_interval) = live_limits(&r)?;
        let (server_max_header_size, server_tls) = http_edge(&r)?;
        Ok(Config {
            db_uri: r.value("db-uri").to_string(),
            db_anon_role: r.text("db-anon-role"),
            db_extra_search_path: r.list("db-extra-search-path"),
            db_hoisted_tx_settings: r.list("db-hoisted-tx-settings"),
            db_max_rows,
            db_pool: db_pool as usize,
            db_pool_acquisition_timeout: acq as u64,
            db_pool_max_idletime: r.int("db-pool-max-idletime")?.max(1) as u64,
            db_pool_max_lifetime: r.int("db-pool-max-lifetime")?.max(1) as u64,
            db_pre_request: r.function("db-pre-request", &default_schema),
            db_replica_uris: replica_uris(r.value("db-replica-uris"))?,
            db_replica_pool: usize::try_from(r.positive("db-replica-pool", "connections")?).unwrap_or(usize::MAX),
            db_replica_max_lag: u64::try_from(r.int("db-replica-max-lag")?)
                .map_err(|_| invalid("db-replica-max-lag", "must not be negative"))?,
            db_replica_wait: replica_wait(r.int("db-replica-wait")?)?,
            db_tx_end,
            db_channel: r.value("db-channel").to_string(),
            db_channel_enabled: r.flag("db-channel-enabled"),
            jwt_secret,
            jwt_aud,
            jwt_role_claim_key,
            log_level,
            raw_media_types: r.list("raw-media-types"),
            server_host: r.value("server-host").to_string(),
            server_port,
            server_cors_allowed_origins: r
                .get("server-cors-allowed-origins")
                .map(|_| r.list("server-cors-allowed-origins")),
            server_max_body_size,
            server_header_timeout,
            server_body_timeout,
            server_idle_timeout,
            server_max_header_size,
            server_tls,
            server_trace_header: r.get("server-trace-header").map(str::to_lowercase),
            server_edge: edge::read(&r)?,
            db_changes_channel: r.value("db-changes-channel").to_string(),
            server_max_subscriptions,
            server_subscription_interval,
            server_unix_socket: r.text("server-unix-socket"),
            server_unix_socket_mode,
            server_reuseport: r.flag("server-reuseport"),
            url_use_legacy_target_names: r.flag("url-use-legacy-target-names"),
            openapi_mode: r.one_of("openapi-mode", OpenApiMode::NAMES)?,
            db_aggregates_enabled: r.flag("db-aggregates-enabled"),
            server_timing_enabled: r.flag("server-timing-enabled"),
            db_plan_enabled: r.flag("db-plan-enabled"),
            db_prepared_statements: r.flag("db-prepared-statements"),
            db_root_spec: r.text("db-root-spec"),
            admin_server_port,
            admin_server_host: r.text("admin-server-host"),
            admin_server_unix_socket: r.text("admin-server-unix-socket"),
            admin_server_unix_socket_mode,
            openapi_security_active: r.flag("openapi-security-active"),
            openapi_server_proxy_uri,
            client_error_verbosity_minimal,
            app_settings: r.app_settings(),
            db_schemas,
            db_config: r.flag("db-config"),
            db_pre_config: r.function("db-pre-config", &default_schema),
            jwt_cache_max_entries,
            jwt_cookie,
            request_limits,
            raw,
            role_settings: Default::default(),
            source: ConfigSource::default(),
            warnings,
        })
    }
}

/// `db-schemas` and its first, the default schema. PostgREST refuses to expose the catalogs.
fn schemas(r: &Raw) -> Result<(Vec<String>, String), ConfigError> {
    let db_schemas = r.list("db-schemas");
    let Some(default_schema) = db_schemas.first().cloned() else {
        return Err(invalid("db-schemas", "at least one schema is required"));
    };
    if let Some(s) = db_schemas.iter().find(|s| matches!(s.as_str(), "pg_catalog" | "information_schema")) {
        return Err(invalid("db-schemas", format!("db-schemas does not allow schema: '{s}'")));
    }
    Ok((db_schemas, default_schema))
}

/// `jwt-aud` (a string, or a URI when it looks like one) and `openapi-server-proxy-uri`.
fn uris(r: &Raw) -> Result<(Option<String>, Option<String>), ConfigError> {
    let jwt_aud = r.text("jwt-aud");
    if let Some(aud) = jwt_aud.as_deref().filter(|a| !uri::is_string_or_uri(a)) {
        return Err(invalid("jwt-aud", format!("'{aud}': jwt-aud should be a string or a valid URI")));
    }
    let proxy_uri = r.text("openapi-server-proxy-uri");
    if let Some(proxy) = proxy_uri.as_deref().filter(|p| !uri::is_proxy_uri(p)) {
        return Err(invalid(
            "openapi-server-proxy-uri",
            format!("'{proxy}': malformed proxy uri, a correct example: https://example.com:8443/basePath"),
        ));
    }
    Ok((jwt_aud, proxy_uri))
}

/// The request limits (`request-max-*`), none negative.
fn request_limits(r: &Raw) -> Result<crate::api_request::Limits, ConfigError> {
    let limit = |name: &str| usize::try_from(r.int(name)?).map_err(|_| invalid(name, "must not be negative"));
    Ok(crate::api_request::Limits {
        max_depth: limit("request-max-depth")?,
        max_embeds: limit("request-max-embeds")?,
        max_select_items: limit("request-max-select-items")?,
        max_filters: limit("request-max-filters")?,
    })
}

/// Checks each known setting's value against its kind and fills in the defaults of those
/// unset. Returns the warnings: unknown settings (with "did you mean") and unimplemented ones.
fn complete(raw: &mut BTreeMap<String, String>) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for setting in SETTINGS {
        match raw.get(setting.name) {
            Some(v) => {
                check_kind(setting, v)?;
                if !setting.implemented && Some(v.as_str()) != setting.default {
                    warnings.push(format!(
                        "setting {} is accepted but not implemented yet by tusk; it has no effect",
                        setting.name
                    ));
                }
            }
            None => {
                if let Some(d) = setting.default {
                    raw.insert(setting.name.to_string(), d.to_string());
                }
            }
        }
    }
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    for name in raw.keys() {
        if !name.starts_with("app.settings.") && setting(name).is_none() {
            let hint = match crate::fuzzy::closest(&names, name) {
                Some(close) => format!("; did you mean {close}?"),
                None => String::new(),
            };
            warnings.push(format!("unknown setting {name} is ignored{hint}"));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(warnings)
}

/// A warning about setting `db-url` names `PGRST_DB_URL` (and suggests `PGRST_DB_URI`) when
/// the environment set it.
fn from_env_warning(warning: &str, env: &BTreeMap<String, String>) -> String {
    let Some(rest) = warning.strip_prefix("unknown setting ") else { return warning.to_string() };
    let name = rest.split(' ').next().unwrap_or_default();
    if !env.contains_key(&env_name(name)) {
        return warning.to_string();
    }
    let hint = rest.split_once("; did you mean ").map(|(_, c)| c.trim_end_matches('?'));
    match hint {
        Some(close) => {
            format!("unknown setting {} ({name}) is ignored; did you mean {}?", env_name(name), env_name(close))
        }
        None => format!("unknown setting {} ({name}) is ignored", env_name(name)),
    }
}

/// `server-max-header-size`, and the TLS files (`server-tls-cert`, `server-tls-key`: both or
/// neither).
fn http_edge(r: &Raw) -> Result<(usize, Option<(String, String)>), ConfigError> {
    let max_header_size = usize::try_from(r.positive("server-max-header-size", "bytes")?)
        .map_err(|_| invalid("server-max-header-size", "is too large"))?;
    let tls = match (r.text("server-tls-cert"), r.text("server-tls-key")) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("server-tls-key", "must be set with server-tls-cert")),
        (None, Some(_)) => return Err(invalid("server-tls-cert", "must be set with server-tls-key")),
    };
    Ok((max_header_size, tls))
}

/// Typed reads of the raw settings (after [`complete`]): an empty value counts as unset.
struct Raw<'a>(&'a BTreeMap<String, String>);

impl<'a> Raw<'a> {
    /// The value, unless unset or empty.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The value, or the setting's default when it is unset or empty.
    fn value(&self, name: &str) -> &'a str {
        self.get(name).or_else(|| setting(name).and_then(|s| s.default)).unwrap_or_default()
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A boolean setting (its kind was checked, so its value parses).
    fn flag(&self, name: &str) -> bool {
        parse_bool(self.value(name)).unwrap_or(false)
    }

    /// A comma-separated list; empty when unset.
    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// A number setting without a default.
    fn int_if_set(&self, name: &str) -> Result<Option<i64>, ConfigError> {
        match self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| invalid(name, format!("'{v}' is not a number"))),
        }
    }

    /// A number setting with a default.
    fn int(&self, name: &str) -> Result<i64, ConfigError> {
        match self.int_if_set(name)? {
            Some(n) => Ok(n),
            None => Raw::default_of(name).trim().parse().map_err(|_| invalid(name, "the default is not a number")),
        }
    }

    /// A number setting with a default that must be at least 1 (`unit` names it in the error).
    fn positive(&self, name: &str, unit: &str) -> Result<u64, ConfigError> {
        u64::try_from(self.int(name)?)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid(name, format!("must be a positive number of {unit}")))
    }

    fn default_of(name: &str) -> &'static str {
        setting(name).and_then(|s| s.default).unwrap_or_default()
    }

    /// One of the values `names` spells (the setting's default when unset or empty).
    fn one_of<T: Copy>(&self, name: &str, names: &[(&str, T)]) -> Result<T, ConfigError> {
        let value = self.value(name);
        match names.iter().find(|(n, _)| *n == value) {
            Some((_, t)) => Ok(*t),
            None => {
                let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                Err(invalid(name, format!("'{value}' is not one of {}", all.join(", "))))
            }
        }
    }

    /// A function setting (`db-pre-request`, `db-pre-config`): `schema.function`, or a function
    /// of `default_schema`.
    fn function(&self, name: &str, default_schema: &str) -> Option<QualifiedName> {
        self.get(name).map(|v| match v.split_once('.') {
            Some((s, f)) => QualifiedName::new(s, f),
            None => QualifiedName::new(default_schema, v),
        })
    }

    /// A unix socket mode: octal, from 600 to 777.
    fn socket_mode(&self, name: &str) -> Result<u32, ConfigError> {
        let text = self.value(name);
        u32::from_str_radix(text.trim(), 8)
            .ok()
            .filter(|m| (0o600..=0o777).contains(m))
            .ok_or_else(|| invalid(name, format!("'{text}' is not an octal mode from 600 to 777")))
    }

    /// `app.settings.NAME` → value.
    fn app_settings(&self) -> BTreeMap<String, String> {
        self.0.iter().filter_map(|(k, v)| k.strip_prefix("app.settings.").map(|n| (n.to_string(), v.clone()))).collect()
    }
}

/// The key `jwt-secret` gives: its bytes (base64-decoded with `jwt-secret-is-base64`); a
/// shared secret must be at least 32 bytes, a JWK (JSON) may be shorter.
fn jwt_secret(secret: &str, base64: bool) -> Result<Vec<u8>, ConfigError> {
    let bytes = if base64 {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret.trim()))
            .map_err(|e| invalid("jwt-secret", format!("not valid base64: {e}")))?
    } else {
        secret.as_bytes().to_vec()
    };
    if bytes.len() < 32 && !secret.trim_start().starts_with('{') {
        return Err(invalid("jwt-secret", "the JWT secret must be at least 32 characters long"));
    }
    Ok(bytes)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn check_kind(setting: &Setting, v: &str) -> Result<(), ConfigError> {
    match setting.kind {
        Kind::Bool if parse_bool(v).is_none() => {
            Err(invalid(setting.name, format!("'{v}' is not a boolean (true or false)")))
        }
        Kind::Int if !v.trim().is_empty() && v.trim().parse::<i64>().is_err() => {
            Err(invalid(setting.name, format!("'{v}' is not a number")))
        }
        _ => Ok(()),
    }
}

/// `server-max-subscriptions` and `server-subscription-interval` (milliseconds, at most a minute).
fn live_limits(r: &Raw) -> Result<(usize, std::time::Duration), ConfigError> {
    let max = r.int("server-max-subscriptions")?.max(0) as usize;
    let interval = std::time::Duration::from_millis(r.int("server-subscription-interval")?.clamp(0, 60_000) as u64);
    Ok((max, interval))
}

/// `admin-server-port`: a port number, and not `server-port`.
fn admin_port(r: &Raw, server_port: u16) -> Result<Option<u16>, ConfigError> {
    let port = match r.int_if_set("admin-server-port")? {
        None => return Ok(None),
        Some(p) => u16::try_from(p).map_err(|_| invalid("admin-server-port", "must be a port number"))?,
    };
    if port == server_port {
        return Err(invalid("admin-server-port", "admin-server-port cannot be the same as server-port"));
    }
    Ok(Some(port))
}

/// `jwt-cookie`: a cookie name is an HTTP token (RFC 6265 §4.1.1).
fn cookie_name(name: Option<String>) -> Result<Option<String>, ConfigError> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    match name {
        Some(n) if !n.chars().all(token_char) => Err(invalid("jwt-cookie", format!("'{n}' is not a cookie name"))),
        name => Ok(name),
    }
}

#[cfg(test)]
mod tests;

/// The longest `db-replica-wait`, in milliseconds: a read waits at most this long for a replica.
pub const MAX_REPLICA_WAIT_MS: i64 = 60_000;

/// `db-replica-wait`, checked: 0 to [`MAX_REPLICA_WAIT_MS`] milliseconds.
fn replica_wait(ms: i64) -> Result<std::time::Duration, ConfigError> {
    u64::try_from(ms)
        .ok()
        .filter(|_| ms <= MAX_REPLICA_WAIT_MS)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| invalid("db-replica-wait", format!("must be 0 to {MAX_REPLICA_WAIT_MS} milliseconds")))
}

/// At most this many replicas in `db-replica-uris`.
pub const MAX_REPLICAS: usize = 16;

/// `db-replica-uris` split into connection strings. A comma separates two of them only where
/// a new one starts (`postgres://`, `postgresql://` or `keyword=`), so the host lists of a URI
/// (`postgres://h1,h2/db`) and of `host=h1,h2` stay whole.
pub fn replica_uris(value: &str) -> Result<Vec<String>, ConfigError> {
    let starts_one = |piece: &str| {
        let p = piece.trim_start();
        let word = p.find('=').map(|i| &p[..i]);
        p.starts_with("postgres://")
            || p.starts_with("postgresql://")
            || word.is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    let mut uris: Vec<String> = Vec::new();
    for piece in value.split(',') {
        match uris.last_mut() {
            Some(last) if !starts_one(piece) => {
                last.push(',');
                last.push_str(piece);
            }
            _ => uris.push(piece.to_string()),
        }
    }
    let uris: Vec<String> = uris.into_iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
    if uris.len() > MAX_REPLICAS {
        return Err(invalid("db-replica-uris", format!("at most {MAX_REPLICAS} replicas")));
    }
    Ok(uris)
}
