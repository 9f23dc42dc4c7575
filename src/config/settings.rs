//! The settings PostgREST knows, each declared once in [`SETTINGS`] (name, default, kind,
//! whether tusk implements it yet, one line of doc), the old names it still accepts, which may
//! come from the database and which need a restart, and the names a setting goes by in the
//! environment and in the database. Data only: parsing and validation are in `config`.

/// What a setting's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
}

/// One PostgREST setting.
pub struct Setting {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    /// false: accepted (and dumped) but tusk does not act on it yet; a warning is logged when set.
    pub implemented: bool,
    pub doc: &'static str,
}

const fn s(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    implemented: bool,
    doc: &'static str,
) -> Setting {
    Setting { name, kind, default, implemented, doc }
}

use Kind::{Bool, Int, Str};

/// Every setting PostgREST accepts, in PostgREST's `--dump-config` order.
pub const SETTINGS: &[Setting] = &[
    s("admin-server-host", Str, None, true, "Host of the admin server (defaults to server-host)"),
    s(
        "admin-server-port",
        Int,
        None,
        true,
        "Port of the admin server (/live, /ready, /metrics, /schema_cache, /config)",
    ),
    s(
        "client-error-verbosity",
        Str,
        Some("verbose"),
        true,
        "verbose or minimal: whether error bodies carry details and hint",
    ),
    s("db-aggregates-enabled", Bool, Some("false"), true, "Allow aggregate functions in select="),
    s("db-anon-role", Str, None, true, "Role used for requests without a JWT; unset means anonymous requests get 401"),
    s(
        "db-channel",
        Str,
        Some("pgrst"),
        true,
        "Channel LISTENed to for 'reload schema' / 'reload config' notifications",
    ),
    s("db-channel-enabled", Bool, Some("true"), true, "Whether to LISTEN on db-channel"),
    s("db-config", Bool, Some("true"), true, "Read settings from the database (ALTER ROLE ... SET pgrst.*)"),
    s("db-extra-search-path", Str, Some("public"), true, "Schemas added to search_path of every request"),
    s(
        "db-hoisted-tx-settings",
        Str,
        Some("statement_timeout,plan_filter.statement_cost_limit,default_transaction_isolation"),
        true,
        "Function settings applied to the transaction",
    ),
    s("db-max-rows", Int, None, true, "Upper bound on rows returned by a read"),
    s("db-plan-enabled", Bool, Some("false"), true, "Allow application/vnd.pgrst.plan (EXPLAIN) responses"),
    s("db-pool", Int, Some("10"), true, "Number of connections in the pool"),
    s(
        "db-pool-acquisition-timeout",
        Int,
        Some("10"),
        true,
        "Seconds to wait for a free connection before answering 504",
    ),
    s("db-pool-automatic-recovery", Bool, Some("true"), true, "Reconnect automatically when the database goes away"),
    s("db-pool-max-idletime", Int, Some("30"), true, "Seconds an idle connection is kept"),
    s("db-pool-max-lifetime", Int, Some("1800"), true, "Seconds a connection is kept at most"),
    s("db-pre-config", Str, None, true, "Function run before loading in-database configuration"),
    s("db-pre-request", Str, None, true, "Function called at the start of every request's transaction"),
    s(
        "db-prepared-statements",
        Bool,
        Some("true"),
        true,
        "Prepare each request's statements once per connection; false runs them unnamed (for transaction poolers)",
    ),
    s("db-root-spec", Str, None, true, "Function whose result replaces the OpenAPI root document"),
    s(
        "db-schemas",
        Str,
        Some("public"),
        true,
        "Comma-separated schemas exposed through the API; the first is the default",
    ),
    s("db-tx-end", Str, Some("commit"), true, "commit, commit-allow-override, rollback or rollback-allow-override"),
    s("db-uri", Str, Some("postgresql://"), true, "PostgreSQL connection URI of the authenticator role"),
    s("jwt-aud", Str, None, true, "Required 'aud' claim of JWTs"),
    s("jwt-cache-max-entries", Int, Some("1000"), true, "Maximum entries of the JWT cache; 0 disables it"),
    s("jwt-role-claim-key", Str, Some(".role"), true, "JSPath of the role claim in the JWT"),
    s("jwt-secret", Str, None, true, "Secret (or JWK) used to verify JWTs; at least 32 characters"),
    s("jwt-secret-is-base64", Bool, Some("false"), true, "Whether jwt-secret is base64-encoded"),
    s("log-level", Str, Some("error"), true, "crit, error, warn, info or debug"),
    s("log-query", Bool, Some("false"), false, "Log the main SQL statement of every request"),
    s("openapi-mode", Str, Some("follow-privileges"), true, "follow-privileges, ignore-privileges or disabled"),
    s("openapi-security-active", Bool, Some("false"), true, "Include security definitions in the OpenAPI output"),
    s("openapi-server-proxy-uri", Str, None, true, "Public URI of the API, used in the OpenAPI output"),
    s(
        "raw-media-types",
        Str,
        None,
        true,
        "Legacy (PostgREST < 12): media types whose responses are sent as-is (e.g. text/html)",
    ),
    s("server-cors-allowed-origins", Str, None, true, "Comma-separated origins allowed by CORS; unset allows any"),
    s("server-host", Str, Some("!4"), true, "Host to bind: an address, or !4 / !6 / * / *4 / *6"),
    s("server-port", Int, Some("3000"), true, "TCP port to bind"),
    s("server-timing-enabled", Bool, Some("false"), true, "Send Server-Timing headers"),
    s("server-trace-header", Str, None, true, "Request header echoed back for tracing"),
    s("server-unix-socket", Str, None, true, "Unix socket to listen on instead of TCP"),
    s("server-unix-socket-mode", Str, Some("660"), true, "Mode of the unix socket (octal, 600 to 777)"),
];

/// Old names PostgREST still accepts, mapped to the current ones.
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("db-schema", "db-schemas"),
    ("max-rows", "db-max-rows"),
    ("pre-request", "db-pre-request"),
    ("role-claim-key", "jwt-role-claim-key"),
    ("secret-is-base64", "jwt-secret-is-base64"),
    ("server-proxy-uri", "openapi-server-proxy-uri"),
    ("db-pool-timeout", "db-pool-max-idletime"),
];

/// Settings that may come from the database (`ALTER ROLE … SET pgrst.NAME` or `db-pre-config`),
/// with `_` for `-` in their in-database name (`pgrst.db_schemas`), as PostgREST lists them.
pub const IN_DB_SETTINGS: &[&str] = &[
    "client-error-verbosity",
    "db-aggregates-enabled",
    "db-anon-role",
    "db-extra-search-path",
    "db-hoisted-tx-settings",
    "db-max-rows",
    "db-plan-enabled",
    "db-pre-config",
    "db-pre-request",
    "db-prepared-statements",
    "db-root-spec",
    "db-schemas",
    "db-tx-end",
    "jwt-aud",
    "jwt-cache-max-entries",
    "jwt-role-claim-key",
    "jwt-secret",
    "jwt-secret-is-base64",
    "openapi-mode",
    "openapi-security-active",
    "openapi-server-proxy-uri",
    "server-cors-allowed-origins",
    "server-timing-enabled",
    "server-trace-header",
];

/// Settings bound to resources made once at start-up (sockets, the pool, logging): a config
/// reload keeps their old value and logs that a restart is needed. Every other setting is
/// applied to the next request.
pub const RESTART_ONLY: &[&str] = &[
    "admin-server-host",
    "admin-server-port",
    "db-pool",
    "db-pool-acquisition-timeout",
    "db-pool-automatic-recovery",
    "db-pool-max-idletime",
    "db-pool-max-lifetime",
    "db-uri",
    "log-level",
    "server-host",
    "server-port",
    "server-unix-socket",
    "server-unix-socket-mode",
];

/// The in-database name of a setting: `db-schemas` → `pgrst.db_schemas`.
pub fn in_db_name(setting: &str) -> String {
    format!("pgrst.{}", setting.replace('-', "_"))
}

/// The environment variable of a setting: `db-uri` → `PGRST_DB_URI`.
pub fn env_name(setting: &str) -> String {
    if let Some(rest) = setting.strip_prefix("app.settings.") {
        return format!("PGRST_APP_SETTINGS_{rest}");
    }
    format!("PGRST_{}", setting.replace('-', "_").to_uppercase())
}
