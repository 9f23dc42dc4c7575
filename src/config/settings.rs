//! The settings PostgREST knows, each declared once in [`SETTINGS`]: one row per key with its
//! kind, its default, whether it may come from the database, whether changing it needs a
//! restart, whether tusk implements it yet, and one line of doc. Also the old names PostgREST
//! still accepts ([`ALIASES`]) and the names a setting goes by in the environment and in the
//! database. Data only: parsing and validation are in `config`.

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
    /// The value it has when unset (and when set to an empty value, for a setting with one
    /// value); the only place a default is written.
    pub default: Option<&'static str>,
    /// May come from the database (`ALTER ROLE … SET pgrst.NAME` or `db-pre-config`), with `_`
    /// for `-` in its in-database name (`pgrst.db_schemas`), as PostgREST lists them.
    pub in_db: bool,
    /// Bound to resources made once at start-up (sockets, the pool, logging): a config reload
    /// keeps its old value and logs that a restart is needed. Every other setting is applied to
    /// the next request.
    pub restart_only: bool,
    /// false: accepted (and dumped) but tusk does not act on it yet; a warning is logged when set.
    pub implemented: bool,
    /// A setting of tusk's own, unknown to PostgREST: `--dump-config` prints it after
    /// PostgREST's keys, and only when it is set.
    pub tusk_only: bool,
    pub doc: &'static str,
}

impl Setting {
    /// A setting without a default, read from the file and the environment only, applied on
    /// reload, implemented. The methods below say how a row differs.
    const fn new(name: &'static str, kind: Kind, doc: &'static str) -> Setting {
        Setting {
            name,
            kind,
            default: None,
            in_db: false,
            restart_only: false,
            implemented: true,
            tusk_only: false,
            doc,
        }
    }

    const fn defaults_to(mut self, default: &'static str) -> Setting {
        self.default = Some(default);
        self
    }

    const fn in_db(mut self) -> Setting {
        self.in_db = true;
        self
    }

    const fn restart_only(mut self) -> Setting {
        self.restart_only = true;
        self
    }

    const fn not_implemented(mut self) -> Setting {
        self.implemented = false;
        self
    }

    const fn tusk_only(mut self) -> Setting {
        self.tusk_only = true;
        self
    }
}

use Kind::{Bool, Int, Str};

/// Every setting PostgREST accepts (and tusk's own, marked `tusk_only`), by name.
pub const SETTINGS: &[Setting] = &[
    Setting::new("admin-server-host", Str, "Host of the admin server (defaults to server-host)").restart_only(),
    Setting::new(
        "admin-server-port",
        Int,
        "Port of the admin server (/live, /ready, /metrics, /schema_cache, /config)",
    )
    .restart_only(),
    Setting::new(
        "admin-server-unix-socket",
        Str,
        "Unix socket of the admin server; takes precedence over admin-server-port",
    )
    .restart_only(),
    Setting::new("admin-server-unix-socket-mode", Str, "Mode of the admin server's unix socket (octal, 600 to 777)")
        .defaults_to("660")
        .restart_only(),
    Setting::new("client-error-verbosity", Str, "verbose or minimal: whether error bodies carry details and hint")
        .defaults_to("verbose")
        .in_db(),
    Setting::new("db-aggregates-enabled", Bool, "Allow aggregate functions in select=").defaults_to("false").in_db(),
    Setting::new("db-anon-role", Str, "Role used for requests without a JWT; unset means anonymous requests get 401")
        .in_db(),
    Setting::new("db-channel", Str, "Channel LISTENed to for 'reload schema' / 'reload config' notifications")
        .defaults_to("pgrst"),
    Setting::new("db-channel-enabled", Bool, "Whether to LISTEN on db-channel").defaults_to("true"),
    Setting::new("db-config", Bool, "Read settings from the database (ALTER ROLE ... SET pgrst.*)").defaults_to("true"),
    Setting::new("db-extra-search-path", Str, "Schemas added to search_path of every request")
        .defaults_to("public")
        .in_db(),
    Setting::new("db-hoisted-tx-settings", Str, "Function settings applied to the transaction")
        .defaults_to("statement_timeout,plan_filter.statement_cost_limit,default_transaction_isolation")
        .in_db(),
    Setting::new("db-max-rows", Int, "Upper bound on rows returned by a read").in_db(),
    Setting::new("db-plan-enabled", Bool, "Allow application/vnd.pgrst.plan (EXPLAIN) responses")
        .defaults_to("false")
        .in_db(),
    Setting::new("db-pool", Int, "Number of connections in the pool").defaults_to("10").restart_only(),
    Setting::new("db-pool-acquisition-timeout", Int, "Seconds to wait for a free connection before answering 504")
        .defaults_to("10")
        .restart_only(),
    Setting::new("db-pool-automatic-recovery", Bool, "Reconnect automatically when the database goes away")
        .defaults_to("true")
        .restart_only(),
    Setting::new("db-pool-max-idletime", Int, "Seconds an idle connection is kept").defaults_to("30").restart_only(),
    Setting::new("db-pool-max-lifetime", Int, "Seconds a connection is kept at most")
        .defaults_to("1800")
        .restart_only(),
    Setting::new("db-replica-uris", Str, "Comma-separated connection strings of streaming replicas that serve reads")
        .restart_only()
        .tusk_only(),
    Setting::new("db-replica-pool", Int, "Number of connections in each replica's pool")
        .defaults_to("10")
        .restart_only()
        .tusk_only(),
    Setting::new(
        "db-replica-max-lag",
        Int,
        "Bytes of WAL a replica may be behind the primary and still serve reads (0: no limit)",
    )
    .defaults_to("16777216")
    .restart_only()
    .tusk_only(),
    Setting::new(
        "db-replica-wait",
        Int,
        "Milliseconds a read carrying its writer's WAL position waits for a replica to replay it before going to the primary (0: no wait)",
    )
    .defaults_to("0")
    .restart_only()
    .tusk_only(),
    Setting::new("db-pre-config", Str, "Function run before loading in-database configuration").in_db(),
    Setting::new("db-pre-request", Str, "Function called at the start of every request's transaction").in_db(),
    Setting::new(
        "db-prepared-statements",
        Bool,
        "Prepare each request's statements once per connection; false runs them unnamed (for transaction poolers)",
    )
    .defaults_to("true")
    .in_db(),
    Setting::new("db-root-spec", Str, "Function whose result replaces the OpenAPI root document").in_db(),
    Setting::new("db-schemas", Str, "Comma-separated schemas exposed through the API; the first is the default")
        .defaults_to("public")
        .in_db(),
    Setting::new("db-tx-end", Str, "commit, commit-allow-override, rollback or rollback-allow-override")
        .defaults_to("commit")
        .in_db(),
    Setting::new("db-uri", Str, "PostgreSQL connection URI of the authenticator role")
        .defaults_to("postgresql://")
        .restart_only(),
    Setting::new("jwt-aud", Str, "Required 'aud' claim of JWTs").in_db(),
    Setting::new("jwt-cache-max-entries", Int, "Maximum entries of the JWT cache; 0 disables it")
        .defaults_to("1000")
        .in_db(),
    Setting::new(
        "jwt-cookie",
        Str,
        "Name of a cookie to read the JWT from when a request has no Authorization header; unset: none",
    )
    .in_db()
    .tusk_only(),
    Setting::new(
        "jwt-role-claim-key",
        Str,
        "JSONPath of the role claim in the JWT ($.role, $.realm.roles[0]; also .role)",
    )
    .defaults_to("$.role")
    .in_db(),
    Setting::new("jwt-secret", Str, "Secret (or JWK) used to verify JWTs; at least 32 characters").in_db(),
    Setting::new("jwt-secret-is-base64", Bool, "Whether jwt-secret is base64-encoded").defaults_to("false").in_db(),
    Setting::new("log-level", Str, "crit, error, warn, info or debug").defaults_to("error").restart_only(),
    Setting::new("log-query", Bool, "Log the main SQL statement of every request")
        .defaults_to("false")
        .not_implemented(),
    Setting::new("openapi-mode", Str, "follow-privileges, ignore-privileges or disabled")
        .defaults_to("follow-privileges")
        .in_db(),
    Setting::new("openapi-security-active", Bool, "Include security definitions in the OpenAPI output")
        .defaults_to("false")
        .in_db(),
    Setting::new("openapi-server-proxy-uri", Str, "Public URI of the API, used in the OpenAPI output").in_db(),
    Setting::new(
        "raw-media-types",
        Str,
        "Legacy (PostgREST < 12): media types whose responses are sent as-is (e.g. text/html)",
    )
    .tusk_only(),
    // tusk's own (PostgREST has none): limits on what one request's query string may build,
    // checked while parsing; past one the answer is 400 PGRST100 naming it.
    Setting::new(
        "request-max-depth",
        Int,
        "Deepest nesting of a request's logic trees and embeds, and most keys of a JSON path",
    )
    .defaults_to("32")
    .in_db()
    .tusk_only(),
    Setting::new("request-max-embeds", Int, "Most embedded resources in one request's select")
        .defaults_to("20")
        .in_db()
        .tusk_only(),
    Setting::new("request-max-filters", Int, "Most filters, logic tree terms and order terms in one request")
        .defaults_to("1000")
        .in_db()
        .tusk_only(),
    Setting::new(
        "request-max-select-items",
        Int,
        "Most select items in one request (all levels), and most names in columns or on_conflict",
    )
    .defaults_to("500")
    .in_db()
    .tusk_only(),
    // tusk's own limits of the HTTP layer (PostgREST has none): read for each new connection
    // and request, so a reload applies them.
    Setting::new("server-max-body-size", Int, "tusk: largest request body accepted, in bytes; larger gets 413")
        .defaults_to("104857600")
        .tusk_only(),
    Setting::new(
        "server-header-timeout",
        Int,
        "tusk: seconds a client has to send a request's headers, counted from its first byte (or from connecting)",
    )
    .defaults_to("30")
    .tusk_only(),
    Setting::new("server-body-timeout", Int, "tusk: seconds the request body may pause between two parts; then 408")
        .defaults_to("30")
        .tusk_only(),
    Setting::new(
        "server-idle-timeout",
        Int,
        "tusk: seconds a kept-alive connection may wait for its next request, or a response stall, before it is closed",
    )
    .defaults_to("30")
    .tusk_only(),
    // tusk's HTTP edge, so that nothing needs to stand in front of it (docs/deploy.md): read
    // for each request, so a reload applies them.
    Setting::new(
        "server-compression",
        Bool,
        "tusk: compress responses over 1 KiB (gzip, br, zstd, from Accept-Encoding)",
    )
    .defaults_to("true")
    .tusk_only(),
    Setting::new("server-static-dir", Str, "tusk: a directory of files served under server-static-path").tusk_only(),
    Setting::new("server-static-path", Str, "tusk: the URL path under which server-static-dir is served")
        .defaults_to("/static")
        .tusk_only(),
    Setting::new("server-static-cache-control", Str, "tusk: the Cache-Control header of static files")
        .defaults_to("no-cache")
        .tusk_only(),
    Setting::new("server-rate-limit", Int, "tusk: requests per second per client address and per JWT role; 0 is off")
        .defaults_to("0")
        .tusk_only(),
    Setting::new(
        "server-rate-limit-burst",
        Int,
        "tusk: requests a client may make at once; 0 means one second's worth (server-rate-limit)",
    )
    .defaults_to("0")
    .tusk_only(),
    Setting::new(
        "server-trusted-proxies",
        Str,
        "tusk: comma-separated addresses or CIDR ranges of proxies whose X-Forwarded-For is believed",
    )
    .tusk_only(),
    // Live updates (`Accept: text/event-stream`, docs/live.md): tusk's own.
    Setting::new(
        "db-changes-channel",
        Str,
        "tusk: channel the change triggers NOTIFY with 'schema.table'; live subscriptions re-run their read on it",
    )
    .defaults_to("tusk_changes")
    .tusk_only(),
    Setting::new("server-max-subscriptions", Int, "tusk: live subscriptions (event streams) open at once; past it 503")
        .defaults_to("1000")
        .tusk_only(),
    Setting::new(
        "server-subscription-interval",
        Int,
        "tusk: milliseconds between two re-runs of the same subscription group (changes meanwhile are coalesced)",
    )
    .defaults_to("50")
    .tusk_only(),
    Setting::new(
        "server-max-header-size",
        Int,
        "tusk: largest request head (request line and headers) accepted, in bytes; larger gets 431",
    )
    .defaults_to("65536")
    .tusk_only(),
    // tusk's own TLS: both PEM paths set make the port speak HTTPS (and HTTP/2 by ALPN); the
    // files are read again on every config reload, so a renewed certificate needs no restart.
    Setting::new("server-tls-cert", Str, "tusk: PEM certificate chain; with server-tls-key, the port speaks HTTPS")
        .tusk_only(),
    Setting::new("server-tls-key", Str, "tusk: PEM private key of server-tls-cert").tusk_only(),
    Setting::new("server-cors-allowed-origins", Str, "Comma-separated origins allowed by CORS; unset allows any")
        .in_db(),
    Setting::new("server-host", Str, "Host to bind: an address, or !4 / !6 / * / *4 / *6")
        .defaults_to("!4")
        .restart_only(),
    Setting::new("server-port", Int, "TCP port to bind").defaults_to("3000").restart_only(),
    Setting::new("server-reuseport", Bool, "Bind the port with SO_REUSEPORT, so that several servers may share it")
        .defaults_to("false")
        .restart_only()
        .not_implemented(),
    Setting::new("server-timing-enabled", Bool, "Send Server-Timing headers").defaults_to("false").in_db(),
    Setting::new("server-trace-header", Str, "Request header echoed back for tracing").in_db(),
    Setting::new("server-unix-socket", Str, "Unix socket to listen on instead of TCP").restart_only(),
    Setting::new("server-unix-socket-mode", Str, "Mode of the unix socket (octal, 600 to 777)")
        .defaults_to("660")
        .restart_only(),
    Setting::new(
        "url-use-legacy-target-names",
        Bool,
        "Let filters, order and limit on an aliased embed name its table instead of its alias",
    )
    .defaults_to("true")
    .not_implemented(),
];

/// The row of a setting, by its canonical name.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The names of the settings that may come from the database, in [`SETTINGS`] order.
pub fn in_db_settings() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.in_db).map(|s| s.name)
}

/// Old names PostgREST still accepts, mapped to the current ones.
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("db-schema", "db-schemas"),
    ("max-rows", "db-max-rows"),
    ("pre-request", "db-pre-request"),
    ("role-claim-key", "jwt-role-claim-key"),
    ("secret-is-base64", "jwt-secret-is-base64"),
    ("server-proxy-uri", "openapi-server-proxy-uri"),
    ("db-pool-timeout", "db-pool-max-idletime"),
    ("root-spec", "db-root-spec"),
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
