//! Fixtures and checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every target drives tusk's public pipeline API the way `app` does for one request, without a
//! database: `api_request::parse` → `plan::plan` (against the fixed schema cache in
//! `schema.json`, the one of `src/query/tests.rs`) → `query::main_statement` / `transaction`.
//!
//! Besides "no panic, no abort, no stack overflow", two properties are checked on every input
//! (issue 9: no request may make tusk answer 5xx because of its own content, and no request text
//! may unbalance the quoting of the generated SQL):
//! - an error from parse or plan is never a 5xx;
//! - every generated statement has balanced `"…"` and `'…'` quoting, and no NUL byte.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use tusk::api_request;
use tusk::auth::AuthResult;
use tusk::config::Config;
use tusk::error::Error;
use tusk::http::RawRequest;
use tusk::plan;
use tusk::query::{self, Statement};
use tusk::schema_cache::SchemaCache;

/// The HS256 secret of every configuration here (32 characters, tusk's minimum).
pub const JWT_SECRET: &str = "reallyreallyreallyreallyverysafe";

fn config_from(pairs: &[(&str, &str)]) -> Config {
    let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_sources(None, &env).expect("fuzz config")
}

/// The configuration of the SQL snapshot tests, with a second exposed schema (so that the
/// profile headers have something to choose) and a JWT secret.
pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        config_from(&[
            ("PGRST_DB_SCHEMAS", "todo,api"),
            ("PGRST_DB_ANON_ROLE", "web_anon"),
            ("PGRST_RAW_MEDIA_TYPES", "text/html"),
            ("PGRST_DB_AGGREGATES_ENABLED", "true"),
            ("PGRST_DB_MAX_ROWS", "100"),
            ("PGRST_DB_PLAN_ENABLED", "true"),
            ("PGRST_DB_PRE_REQUEST", "todo.check_request"),
            ("PGRST_JWT_SECRET", JWT_SECRET),
        ])
    })
}

/// A stricter configuration for the JWT target: an audience, a nested role claim and no
/// anonymous role.
pub fn strict_jwt_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        config_from(&[
            ("PGRST_DB_SCHEMAS", "todo"),
            ("PGRST_JWT_SECRET", JWT_SECRET),
            ("PGRST_JWT_AUD", "tusk"),
            ("PGRST_JWT_ROLE_CLAIM_KEY", ".\"https://tusk/claims\".roles[0]"),
        ])
    })
}

pub fn schema_cache() -> &'static SchemaCache {
    static CACHE: OnceLock<SchemaCache> = OnceLock::new();
    CACHE.get_or_init(|| SchemaCache::from_json(include_str!("schema.json")).expect("fuzz schema"))
}

/// The input as text: tusk receives headers and query strings as `String`s.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Panics when a request's own content made a stage fail with a 5xx.
pub fn check_error(stage: &str, e: &Error) {
    let status = e.status(false);
    assert!(status < 500, "{stage} answered {status} because of the request's content: {}", e.body(false));
}

/// Panics when a statement's text holds a NUL byte (the protocol cannot send it: PostgreSQL
/// never sees the request) or leaves a quoted identifier or string literal open.
pub fn check_sql(stmt: &Statement) {
    assert!(!stmt.sql.contains('\0'), "NUL byte in generated SQL: {:?}", stmt.sql);
    #[derive(PartialEq)]
    enum State {
        Out,
        Ident,
        Literal,
    }
    let mut state = State::Out;
    let mut chars = stmt.sql.chars().peekable();
    while let Some(c) = chars.next() {
        state = match (state, c) {
            (State::Out, '"') => State::Ident,
            (State::Out, '\'') => State::Literal,
            (State::Ident, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                State::Ident
            }
            (State::Ident, '"') => State::Out,
            (State::Literal, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                State::Literal
            }
            (State::Literal, '\'') => State::Out,
            (s, _) => s,
        };
    }
    assert!(state == State::Out, "unbalanced quoting in generated SQL: {}", stmt.sql);
}

/// parse only, with the 5xx check.
pub fn parse(config: &Config, req: &RawRequest) -> Option<api_request::ApiRequest> {
    match api_request::parse(config, req) {
        Ok(api) => Some(api),
        Err(e) => {
            check_error("parse", &e);
            None
        }
    }
}

/// The whole request pipeline short of the database: parse → plan → the transaction query
/// renders (as the anonymous role), with both checks.
pub fn pipeline(config: &Config, req: &RawRequest) {
    let Some(api) = parse(config, req) else { return };
    let plan = match plan::plan(config, schema_cache(), &api) {
        Ok(plan) => plan,
        Err(e) => return check_error("plan", &e),
    };
    let auth = AuthResult { role: "web_anon".into(), claims: Default::default() };
    let tx = match query::transaction(config, &api, &auth, &plan) {
        Ok(Some(tx)) => tx,
        Ok(None) => return,
        Err(e) => return check_error("query", &e),
    };
    check_sql(&tx.main);
    check_sql(&tx.settings);
    if let Some(pre) = &tx.pre_request {
        check_sql(pre);
    }
    if let Some(estimate) = &tx.estimate {
        check_sql(&estimate.statement);
    }
}
