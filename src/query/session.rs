//! The session around the main statement: `BEGIN` (its isolation level and access mode), the
//! transaction-local settings PostgREST sets (`role`, `request.jwt.claims`, `request.headers`…,
//! all bound, and the settings of the request's role), the `db-pre-request` call; and the
//! statements of connections of their own: the `db-pre-config` call, `LISTEN`, and the
//! schema cache's snapshot.

use super::sql::{push_ident, qualified, Sql};
use super::{count_estimate, main_statement, staged_body, Statement, Transaction};
use crate::api_request::ApiRequest;
use crate::auth::AuthResult;
use crate::config::{Config, OpenApiMode};
use crate::error::Error;
use crate::plan::{Action, Plan};
use crate::schema_cache::QualifiedName;

/// Sent (simple protocol) in the same flight as a write's `COMMIT` when replicas are
/// configured: the primary's WAL insert position, which covers the commit record.
pub const WAL_POSITION: &str = "SELECT pg_catalog.pg_current_wal_insert_lsn()::text";

/// The health check of a replica: how far it has replayed the primary's WAL (NULL on a server
/// that is not in recovery).
pub const REPLAY_POSITION: &str = "SELECT pg_catalog.pg_last_wal_replay_lsn()::text";

/// The schema cache's read: one `REPEATABLE READ` snapshot for both catalog statements.
pub const CATALOG_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// [`CATALOG_READ`], exporting its snapshot (its id is the one row) for a second connection.
pub const CATALOG_READ_EXPORTED: &str =
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_catalog.pg_export_snapshot()";

/// [`CATALOG_READ`] in the snapshot `id` exported by [`CATALOG_READ_EXPORTED`]; `None` when
/// `id` is not shaped like one (hex digits and dashes, e.g. `00000003-0000001B-1`): it is
/// written into the statement, which takes no bound value.
pub fn catalog_read_in(id: &str) -> Option<String> {
    let valid = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    valid.then(|| format!("{CATALOG_READ}; SET TRANSACTION SNAPSHOT '{id}'"))
}

/// Everything one request runs: `BEGIN`, the settings, the optional pre-request call, the
/// plan's main statement, and how the transaction ends; `None` when the request asks the
/// database nothing (see [`asks_database`]).
pub fn transaction(
    config: &Config,
    req: &ApiRequest,
    auth: &AuthResult,
    plan: &Plan,
) -> Result<Option<Transaction>, Error> {
    if !asks_database(config, plan) {
        return Ok(None);
    }
    let main = main_statement(plan)?;
    let staged = staged_body(plan, &main)?;
    // A called function's own settings named by db-hoisted-tx-settings apply to the whole
    // transaction (its isolation level to BEGIN).
    let hoisted: Vec<(String, String)> = match &plan.action {
        Action::Call { routine, .. } => routine
            .settings
            .iter()
            .filter(|(k, _)| config.db_hoisted_tx_settings.iter().any(|h| h == k))
            .cloned()
            .collect(),
        _ => vec![],
    };
    // The settings of the role the request runs as (`ALTER ROLE … SET`), as PostgREST applies
    // them: after the role switch; its isolation level (if any) in BEGIN.
    let role_settings: &[(String, String)] = config.role_settings.get(&auth.role).map_or(&[], Vec::as_slice);
    let isolation = hoisted
        .iter()
        .chain(role_settings)
        .find(|(k, _)| k == "default_transaction_isolation")
        .map(|(_, v)| v.as_str());
    let begin = match (isolation.map(str::to_ascii_lowercase).as_deref(), plan.tx.read_only) {
        (Some("serializable"), true) => "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
        (Some("serializable"), false) => "BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE",
        (Some("repeatable read"), true) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        (Some("repeatable read"), false) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE",
        (_, true) => "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY",
        (_, false) => "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE",
    };
    let mut settings = Settings::new();
    let mut search_path = String::with_capacity(64);
    push_ident(&mut search_path, &req.schema);
    for s in &config.db_extra_search_path {
        search_path.push_str(", ");
        push_ident(&mut search_path, s);
    }
    settings.set_static("search_path", search_path);
    settings.set_static("role", auth.role.as_str());
    for (k, v) in role_settings.iter().filter(|(k, _)| k != "default_transaction_isolation") {
        settings.set(k.as_str(), v.as_str());
    }
    settings.set_static("request.jwt.claims", serde_json::to_string(&*auth.claims).unwrap_or_else(|_| "{}".into()));
    let n = settings.sql.bind_static("request.method");
    let v = settings.sql.bind_static(req.method.as_str());
    settings.call(n, v);
    settings.set_static("request.path", req.path.as_str());
    settings.set_static("request.headers", json_object(&req.headers));
    settings.set_static("request.cookies", json_object(&req.cookies));
    for (k, v) in &config.app_settings {
        settings.set(format!("app.settings.{k}"), v.as_str());
    }
    if let Some(tz) = &req.preferences.timezone {
        settings.set_static("timezone", tz.as_str());
    }
    for (k, v) in hoisted.into_iter().filter(|(k, _)| k != "default_transaction_isolation") {
        settings.set(k, v);
    }
    let pre_request = config.db_pre_request.as_ref().map(|f| call_function(&f.schema, &f.name));
    let estimate = count_estimate(plan);
    Ok(Some(Transaction {
        begin,
        settings: settings.sql.finish(),
        pre_request,
        main,
        staged,
        explain: plan.explain.is_some(),
        estimate,
        prepared: config.db_prepared_statements,
        policy: on_primary_if(plan.tx, begin.starts_with("BEGIN ISOLATION LEVEL SERIALIZABLE")),
    }))
}

/// The settings statement being written: `SELECT set_config($1, $2, true), …`, one call per
/// setting, names and values bound, written straight into one buffer.
struct Settings {
    sql: Sql,
    first: bool,
}

impl Settings {
    fn new() -> Settings {
        Settings { sql: Sql::with_capacity(512, 24), first: true }
    }

    fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let n = self.sql.bind(name);
        let v = self.sql.bind(value);
        self.call(n, v);
    }

    /// [`Settings::set`] of a fixed name: the name is bound without an allocation.
    fn set_static(&mut self, name: &'static str, value: impl Into<String>) {
        let n = self.sql.bind_static(name);
        let v = self.sql.bind(value);
        self.call(n, v);
    }

    fn call(&mut self, n: super::sql::Placeholder, v: super::sql::Placeholder) {
        self.sql.push(if self.first { "SELECT " } else { ", " });
        self.first = false;
        self.sql.push("set_config(").placeholder(&n).push(", ").placeholder(&v).push(", true)");
    }
}

/// Name/value pairs as a JSON object, as `serde_json::Map` writes it (keys sorted, the last
/// of a repeated name wins), without copying the pairs.
fn json_object(pairs: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// A hot standby refuses serializable transactions (0A000): one (hoisted from the function or
/// the role's settings) runs on the primary whatever the plan's route.
fn on_primary_if(mut policy: crate::plan::TxPlan, serializable: bool) -> crate::plan::TxPlan {
    if serializable {
        policy.route = crate::plan::Route::Primary;
    }
    policy
}

/// Whether a request asks the database anything. `OPTIONS` is answered from the plan alone
/// (the `Allow` header), and so is `GET /` with `openapi-mode = ignore-privileges`: its
/// document comes from the schema cache, with no question of what the role may use.
fn asks_database(config: &Config, plan: &Plan) -> bool {
    match plan.action {
        Action::Options { .. } => false,
        Action::Root => config.openapi_mode != OpenApiMode::IgnorePrivileges,
        _ => true,
    }
}

/// `SELECT schema.function()`: the `db-pre-request` and `db-pre-config` calls.
fn call_function(schema: &str, name: &str) -> Statement {
    let mut sql = Sql::new();
    sql.push("SELECT ").push_composed(&qualified(schema, name)).push("()");
    sql.finish()
}

/// The `db-pre-config` function's call, before the in-database settings are read.
pub fn pre_config_call(function: &QualifiedName) -> Statement {
    call_function(&function.schema, &function.name)
}

/// `LISTEN channel` for each channel (`db-channel`, `db-changes-channel`).
pub fn listen(channels: &[String]) -> Statement {
    let mut sql = Sql::new();
    for (i, channel) in channels.iter().enumerate() {
        if i > 0 {
            sql.push("; ");
        }
        sql.push("LISTEN ").ident(channel);
    }
    sql.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_snapshot_ids_are_written_into_the_catalog_read() {
        let read = super::catalog_read_in("00000003-0000001B-1").expect("an id");
        assert!(read.ends_with("; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"), "{read}");
        for bad in ["", "1'; DROP TABLE x; --", "00000003 0000001B", "\u{0}", &"0".repeat(65)] {
            assert_eq!(super::catalog_read_in(bad), None, "{bad:?}");
        }
    }

    use crate::auth::AuthResult;
    use crate::config::Config;
    use crate::http::RawRequest;
    use crate::schema_cache::SchemaCache;
    use std::collections::BTreeMap;

    const SCHEMA: &str = r#"{"tables": [{"schema":"todo","name":"tasks","kind":"r","description":null,"pk":["id"],
        "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]}],
        "foreign_keys": [], "routines": []}"#;

    #[test]
    fn the_request_roles_settings_follow_the_role_switch() {
        let env: BTreeMap<String, String> =
            [("PGRST_DB_SCHEMAS".to_string(), "todo".to_string())].into_iter().collect();
        let mut config = Config::from_sources(None, &env).expect("config");
        let web_anon = vec![
            ("statement_timeout".to_string(), "3s".to_string()),
            ("default_transaction_isolation".to_string(), "serializable".to_string()),
        ];
        config.role_settings = std::sync::Arc::new([("web_anon".to_string(), web_anon)].into_iter().collect());
        let cache = SchemaCache::from_json(SCHEMA).expect("schema");
        let raw = RawRequest { method: "GET".into(), path: "/tasks".into(), ..Default::default() };
        let api = crate::api_request::parse(&config, &raw).expect("parse");
        let plan = crate::plan::plan(&config, &cache, &api).expect("plan");
        let auth = |role: &str| AuthResult { role: role.into(), claims: Default::default() };

        let tx = super::transaction(&config, &api, &auth("web_anon"), &plan)
            .expect("transaction")
            .expect("a GET runs a transaction");
        assert_eq!(tx.begin, "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY");
        let params: Vec<Option<&str>> = tx.settings.params.iter().map(|p| p.as_deref()).collect();
        assert_eq!(params[2..6], [Some("role"), Some("web_anon"), Some("statement_timeout"), Some("3s")]);
        assert!(!params.contains(&Some("default_transaction_isolation")));

        let tx = super::transaction(&config, &api, &auth("todo_user"), &plan)
            .expect("transaction")
            .expect("a GET runs a transaction");
        assert_eq!(tx.begin, "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY");
        assert!(!tx.settings.params.iter().any(|p| p.as_deref() == Some("statement_timeout")));

        // Routed to a replica by the plan: a serializable transaction stays on the primary
        // (a hot standby refuses it), any other goes.
        let mut plan = plan;
        let replica = crate::plan::Route::Replica { min_lsn: None };
        plan.tx.route = replica;
        let route =
            |role: &str| super::transaction(&config, &api, &auth(role), &plan).ok().flatten().map(|t| t.policy.route);
        assert_eq!(route("web_anon"), Some(crate::plan::Route::Primary));
        assert_eq!(route("todo_user"), Some(replica));
    }
}
