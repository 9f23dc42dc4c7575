//! Unit tests of reading and validating the configuration.
use super::*;

pub(super) fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn seed_environment() {
    let c = Config::from_sources(
        None,
        &env(&[
            ("PGRST_RAW_MEDIA_TYPES", "text/html"),
            ("PGRST_DB_URI", "postgres://postgrest:mysecretpassword@localhost:5432/dbname"),
            ("PGRST_DB_ANON_ROLE", "web_anon"),
            ("PGRST_DB_SCHEMAS", "todo"),
            ("PGRST_JWT_SECRET", "your-256-bit-secret-your-256-bit-secret"),
            ("PGRST_LOG_LEVEL", "info"),
            ("HOME", "/root"),
        ]),
    )
    .expect("valid");
    assert_eq!(c.db_schemas, vec!["todo"]);
    assert_eq!(c.raw_media_types, vec!["text/html"]);
    assert_eq!(c.db_anon_role.as_deref(), Some("web_anon"));
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.server_port, 3000);
}

#[test]
fn bad_values_name_the_setting() {
    for (var, value, needle) in [
        ("PGRST_SERVER_PORT", "notaport", "server-port"),
        ("PGRST_SERVER_PORT", "70000", "server-port"),
        ("PGRST_DB_POOL", "-1", "db-pool"),
        ("PGRST_LOG_LEVEL", "loud", "log-level"),
        ("PGRST_DB_TX_END", "maybe", "db-tx-end"),
        ("PGRST_JWT_SECRET", "short", "jwt-secret"),
        ("PGRST_DB_PLAN_ENABLED", "perhaps", "db-plan-enabled"),
    ] {
        let err = Config::from_sources(None, &env(&[(var, value)])).expect_err(var);
        let msg = err.to_string();
        assert!(msg.contains(needle) && msg.contains(var), "{msg}");
        assert!(!msg.contains('\n'));
    }
}

#[test]
fn openapi_mode_is_one_of_postgrest_modes() {
    let mode = |v: &str| Config::from_sources(None, &env(&[("PGRST_OPENAPI_MODE", v)])).map(|c| c.openapi_mode);
    assert_eq!(mode("follow-privileges").expect("valid"), OpenApiMode::FollowPrivileges);
    assert_eq!(mode("ignore-privileges").expect("valid"), OpenApiMode::IgnorePrivileges);
    assert_eq!(mode("disabled").expect("valid"), OpenApiMode::Disabled);
    assert_eq!(mode("").expect("the default"), OpenApiMode::FollowPrivileges);
    let c = Config::from_sources(None, &env(&[])).expect("valid");
    assert_eq!(c.openapi_mode, OpenApiMode::FollowPrivileges);
    assert!(c.dump().contains("openapi-mode = \"follow-privileges\"\n"));
    let err = mode("ignore_privileges").expect_err("a typo").to_string();
    assert_eq!(
        err,
        "invalid value for openapi-mode (PGRST_OPENAPI_MODE): 'ignore_privileges' is not one of \
         follow-privileges, ignore-privileges, disabled"
    );
}

#[test]
fn an_empty_value_is_the_default_of_a_one_value_setting_and_an_empty_list() {
    let c = Config::from_sources(
        None,
        &env(&[
            ("PGRST_DB_POOL", ""),
            ("PGRST_LOG_LEVEL", ""),
            ("PGRST_SERVER_HOST", ""),
            ("PGRST_JWT_ROLE_CLAIM_KEY", ""),
            ("PGRST_DB_EXTRA_SEARCH_PATH", ""),
            ("PGRST_DB_MAX_ROWS", ""),
        ]),
    )
    .expect("valid");
    assert_eq!((c.db_pool, c.log_level, c.server_host.as_str()), (10, LogLevel::Error, "!4"));
    assert_eq!(c.jwt_role_claim_key, ClaimPath::role());
    assert!(c.db_extra_search_path.is_empty());
    assert_eq!(c.db_max_rows, None);
    let err = Config::from_sources(None, &env(&[("PGRST_DB_SCHEMAS", " , ")])).expect_err("no schema");
    assert!(err.to_string().contains("at least one schema is required"), "{err}");
}

#[test]
fn old_names_give_way_to_current_ones() {
    let c = Config::from_sources(None, &env(&[("PGRST_DB_SCHEMA", "old"), ("PGRST_MAX_ROWS", "7")])).expect("valid");
    assert_eq!((c.db_schemas, c.db_max_rows), (vec!["old".to_string()], Some(7)));
    assert!(!c.raw.contains_key("db-schema") && !c.raw.contains_key("max-rows"));
    let both = env(&[("PGRST_DB_SCHEMA", "old"), ("PGRST_DB_SCHEMAS", "new")]);
    assert_eq!(Config::from_sources(None, &both).expect("valid").db_schemas, vec!["new"]);
}

#[test]
fn the_settings_table_marks_in_db_and_restart_only_settings() {
    let in_db: Vec<&str> = in_db_settings().collect();
    assert!(in_db.contains(&"db-schemas") && in_db.contains(&"jwt-secret") && !in_db.contains(&"db-uri"));
    let restart: Vec<&str> = SETTINGS.iter().filter(|s| s.restart_only).map(|s| s.name).collect();
    assert!(restart.contains(&"db-uri") && restart.contains(&"server-port") && !restart.contains(&"db-schemas"));
    assert!(SETTINGS.iter().all(|s| !(s.in_db && s.restart_only)), "a restart-only setting from the database");
    assert_eq!(setting("db-pool").and_then(|s| s.default), Some("10"));
}

#[test]
fn in_database_settings_win_but_restart_only_ones_keep_their_value() {
    let c = Config::from_sources(
        None,
        &env(&[("PGRST_DB_SCHEMAS", "todo"), ("PGRST_SERVER_PORT", "4000"), ("PGRST_DB_MAX_ROWS", "5")]),
    )
    .expect("valid");
    let fresh = c.source.read().expect("raw");
    let db = [
        ("pgrst.db_schemas".to_string(), "api, v2".to_string()),
        ("pgrst.jwt_secret".to_string(), "a-secret-that-is-long-enough-for-hs256".to_string()),
        // Not settable from the database: ignored.
        ("pgrst.db_uri".to_string(), "postgres://elsewhere".to_string()),
        ("pgrst.server_port".to_string(), "1".to_string()),
        ("other.setting".to_string(), "x".to_string()),
    ];
    let (new, ignored) = c.reloaded(fresh, &db).expect("valid");
    assert_eq!(new.db_schemas, vec!["api", "v2"]);
    assert!(new.jwt_secret.is_some());
    assert_eq!(new.db_max_rows, Some(5));
    assert_eq!(new.db_uri, "postgresql://");
    assert_eq!(new.server_port, 4000);
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(new.source.env.get("PGRST_DB_SCHEMAS").map(String::as_str), Some("todo"));

    // A restart-only setting changed in the sources keeps its value and is reported.
    let mut fresh = c.source.read().expect("raw");
    fresh.insert("server-port".into(), "5000".into());
    fresh.insert("db-pool".into(), "3".into());
    let (new, ignored) = c.reloaded(fresh, &[]).expect("valid");
    assert_eq!((new.server_port, new.db_pool), (4000, 10));
    assert_eq!(ignored, vec!["db-pool", "server-port"]);
    // An old name for an unchanged value is no change.
    let c = Config::from_sources(None, &env(&[("PGRST_DB_POOL_TIMEOUT", "10")])).expect("valid");
    let (_, ignored) = c.reloaded(c.source.read().expect("raw"), &[]).expect("valid");
    assert!(ignored.is_empty(), "{ignored:?}");

    // An invalid in-database value is an error (the caller keeps the old config).
    let bad = [("pgrst.jwt_secret".to_string(), "short".to_string())];
    let err = c.reloaded(c.source.read().expect("raw"), &bad).expect_err("too short").to_string();
    assert!(err.contains("jwt-secret (pgrst.jwt_secret in the database)"), "{err}");
}

#[test]
fn db_config_pre_config_and_jwt_cache_settings() {
    let c = Config::from_sources(None, &env(&[("PGRST_DB_SCHEMAS", "api")])).expect("valid");
    assert!(c.db_config);
    assert_eq!(c.db_pre_config, None);
    assert_eq!(c.jwt_cache_max_entries, 1000);
    let c = Config::from_sources(
        None,
        &env(&[
            ("PGRST_DB_SCHEMAS", "api"),
            ("PGRST_DB_CONFIG", "false"),
            ("PGRST_DB_PRE_CONFIG", "pre_config"),
            ("PGRST_JWT_CACHE_MAX_ENTRIES", "0"),
        ]),
    )
    .expect("valid");
    assert!(!c.db_config);
    assert_eq!(c.db_pre_config, Some(QualifiedName::new("api", "pre_config")));
    assert_eq!(c.jwt_cache_max_entries, 0);
    assert_eq!(in_db_name("db-schemas"), "pgrst.db_schemas");
}

#[test]
fn request_limits() {
    let c = Config::from_sources(None, &env(&[])).expect("valid");
    assert_eq!(c.request_limits, crate::api_request::Limits::default());
    assert_eq!(c.raw.get("request-max-depth").map(String::as_str), Some("32"));
    let c = Config::from_sources(
        None,
        &env(&[
            ("PGRST_REQUEST_MAX_DEPTH", "8"),
            ("PGRST_REQUEST_MAX_EMBEDS", "0"),
            ("PGRST_REQUEST_MAX_SELECT_ITEMS", "100"),
            ("PGRST_REQUEST_MAX_FILTERS", "20"),
        ]),
    )
    .expect("valid");
    let limits = crate::api_request::Limits { max_depth: 8, max_embeds: 0, max_select_items: 100, max_filters: 20 };
    assert_eq!(c.request_limits, limits);
    let err = Config::from_sources(None, &env(&[("PGRST_REQUEST_MAX_FILTERS", "-1")])).expect_err("negative");
    assert!(err.to_string().contains("request-max-filters"), "{err}");
    // From the database too, like the other request settings.
    let db = [("pgrst.request_max_depth".to_string(), "4".to_string())];
    let (c, _) = c.reloaded(c.source.read().expect("raw"), &db).expect("valid");
    assert_eq!(c.request_limits.max_depth, 4);
    assert!(crate::config::example().contains("\nrequest-max-embeds = 20\n"));
}

#[test]
fn replica_uris_split_where_a_connection_string_starts() {
    use crate::config::replica_uris;
    assert!(replica_uris("").expect("empty").is_empty());
    assert_eq!(
        replica_uris("postgres://a,b/db, postgresql://c/db,host=d,e port=5433, dbname=x").expect("valid"),
        vec!["postgres://a,b/db", "postgresql://c/db", "host=d,e port=5433", "dbname=x"]
    );
    assert!(replica_uris(&vec!["host=h"; 17].join(",")).is_err());
}

#[test]
fn replica_wait_is_milliseconds_within_a_bound() {
    let wait = |v: &str| Config::from_sources(None, &env(&[("PGRST_DB_REPLICA_WAIT", v)])).map(|c| c.db_replica_wait);
    assert_eq!(wait("").expect("the default"), std::time::Duration::ZERO);
    assert_eq!(wait("250").expect("valid"), std::time::Duration::from_millis(250));
    assert_eq!(wait("60000").expect("the bound"), std::time::Duration::from_secs(60));
    for bad in ["-1", "60001", "soon"] {
        let err = wait(bad).expect_err(bad).to_string();
        assert!(err.contains("db-replica-wait"), "{err}");
    }
}
