//! Plan decisions that need no database: requests parsed as in `src/query/tests.rs`, planned
//! against a small schema cache, and the resulting [`Plan`] (or error) checked.

use super::{Action, CallArgs, Media, MutateKind, Plan};
use crate::api_request;
use crate::config::Config;
use crate::error::Error;
use crate::http::RawRequest;
use crate::schema_cache::SchemaCache;
use std::collections::BTreeMap;

/// `tasks` has two foreign keys to `users` (an ambiguous embed) and one to `lists`; `tags` has
/// no relationship at all. `pick` is overloaded (ambiguously for one argument `a`), `greet`
/// returns text and `bump` is volatile.
const SCHEMA: &str = r#"{
  "tables": [
   {"schema":"api","name":"tasks","kind":"r","description":null,"pk":["id"],"insertable":true,"updatable":true,
    "deletable":true,"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"title","type":"text","nullable":true,"default":"'untitled'::text","generated":false},
    {"name":"owner_id","type":"integer","nullable":true,"default":null,"generated":false},
    {"name":"reviewer_id","type":"integer","nullable":true,"default":null,"generated":false},
    {"name":"list_id","type":"integer","nullable":true,"default":null,"generated":false}]},
   {"schema":"api","name":"users","kind":"r","description":null,"pk":["id"],"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"name","type":"text","nullable":true,"default":null,"generated":false}]},
   {"schema":"api","name":"lists","kind":"r","description":null,"pk":["id"],"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"name","type":"text","nullable":true,"default":null,"generated":false}]},
   {"schema":"api","name":"tags","kind":"r","description":null,"pk":[],"columns":[
    {"name":"name","type":"text","nullable":true,"default":null,"generated":false}]}],
  "foreign_keys": [
    {"name":"tasks_owner_id_fkey","schema":"api","table":"tasks","columns":["owner_id"],
     "foreign_schema":"api","foreign_table":"users","foreign_columns":["id"]},
    {"name":"tasks_reviewer_id_fkey","schema":"api","table":"tasks","columns":["reviewer_id"],
     "foreign_schema":"api","foreign_table":"users","foreign_columns":["id"]},
    {"name":"tasks_list_id_fkey","schema":"api","table":"tasks","columns":["list_id"],
     "foreign_schema":"api","foreign_table":"lists","foreign_columns":["id"]}],
  "routines": [
    {"schema":"api","name":"pick","description":null,"arg_names":["a"],"arg_modes":[],"arg_types":["integer"],
     "n_defaults":0,"returns_set":false,"return_type":"integer","return_typtype":"b","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"api","name":"pick","description":null,"arg_names":["a"],"arg_modes":[],"arg_types":["text"],
     "n_defaults":0,"returns_set":false,"return_type":"integer","return_typtype":"b","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"api","name":"pick","description":null,"arg_names":["a","b"],"arg_modes":[],"arg_types":["integer","integer"],
     "n_defaults":0,"returns_set":false,"return_type":"integer","return_typtype":"b","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"api","name":"greet","description":null,"arg_names":["name"],"arg_modes":[],"arg_types":["text"],
     "n_defaults":1,"returns_set":false,"return_type":"text","return_typtype":"b","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"i","variadic":false},
    {"schema":"api","name":"bump","description":null,"arg_names":[],"arg_modes":[],"arg_types":[],
     "n_defaults":0,"returns_set":false,"return_type":"void","return_typtype":"p","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"v","variadic":false}]
}"#;

fn config() -> Config {
    let env: BTreeMap<String, String> = [
        ("PGRST_DB_SCHEMAS", "api"),
        ("PGRST_DB_ANON_ROLE", "web_anon"),
        ("PGRST_DB_PLAN_ENABLED", "true"),
        ("PGRST_DB_TX_END", "commit-allow-override"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_sources(None, &env).expect("config")
}

/// Plans `line`: `METHOD /path?query`, then ` | Header: value` parts and an optional body.
fn plan(line: &str) -> Result<Plan, Error> {
    let req = RawRequest::from_line(line);
    let config = config();
    let cache = SchemaCache::from_json(SCHEMA).expect("schema");
    api_request::parse(&config, &req).and_then(|api| super::plan(&config, &cache, &api))
}

/// The error's code and status, for requests that must be refused.
fn refusal(line: &str) -> (String, u16) {
    match plan(line) {
        Ok(p) => panic!("{line}: planned {:?}", p.action),
        Err(e) => (e.code().to_string(), e.status(false)),
    }
}

#[test]
fn refusals_carry_postgrest_codes() {
    let cases = [
        // Table not found.
        ("GET /taks", "PGRST205", 404),
        // Two foreign keys to users: ambiguous embed.
        ("GET /tasks?select=*,users(*)", "PGRST201", 300),
        // No relationship between tasks and tags.
        ("GET /tasks?select=*,tags(*)", "PGRST200", 400),
        // Filter on a path that is not embedded.
        ("GET /tasks?lists.name=eq.x", "PGRST108", 400),
        // No overload with these arguments, and two with one argument `a`.
        ("GET /rpc/pick?x=1", "PGRST202", 404),
        ("GET /rpc/pick?a=1", "PGRST203", 300),
        ("GET /rpc/nothing", "PGRST202", 404),
        // Payload columns must be the table's.
        (r#"POST /tasks | {"id":1,"nope":2}"#, "PGRST204", 400),
        ("PATCH /tasks?id=eq.1&columns=nope | {\"id\":1}", "PGRST204", 400),
        // PUT: filters on the whole primary key by equality, no limit, body matching the URL.
        (r#"PUT /tasks?id=gt.1 | {"id":1}"#, "PGRST105", 405),
        (r#"PUT /tasks?title=eq.a | {"id":1}"#, "PGRST105", 405),
        (r#"PUT /tags?name=eq.a | {"name":"a"}"#, "PGRST105", 405),
        (r#"PUT /tasks?id=eq.1&limit=1 | {"id":1}"#, "PGRST114", 400),
        (r#"PUT /tasks?id=eq.1 | {"id":2}"#, "PGRST115", 400),
        // No media type the resource can be sent as.
        ("GET /tasks | Accept: text/plain", "PGRST107", 406),
        ("GET / | Accept: text/csv", "PGRST107", 406),
        // An inverted Range.
        ("GET /tasks | Range: 5-1", "PGRST103", 416),
    ];
    for (line, code, status) in cases {
        assert_eq!(refusal(line), (code.to_string(), status), "{line}");
    }
}

#[test]
fn unknown_names_get_a_suggestion() {
    let Err(Error::NoTable { name, hint }) = plan("GET /tsks") else { panic!("expected PGRST205") };
    assert_eq!(name, "api.tsks");
    assert_eq!(hint.as_deref(), Some("Perhaps you meant the table 'api.tasks'"));
    let Err(Error::NoFunction { hint, .. }) = plan("GET /rpc/pik?a=1") else { panic!("expected PGRST202") };
    assert_eq!(hint.as_deref(), Some("Perhaps you meant to call the function api.pick"));
}

#[test]
fn ambiguous_embed_lists_each_foreign_key() {
    let Err(Error::AmbiguousRelationship { details, hint, .. }) = plan("GET /tasks?select=*,users(*)") else {
        panic!("expected PGRST201")
    };
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["cardinality"], "many-to-one");
    assert!(hint.contains("'users!tasks_owner_id_fkey'"), "{hint}");
    assert!(hint.contains("'users!tasks_reviewer_id_fkey'"), "{hint}");
}

#[test]
fn a_hint_or_a_column_resolves_the_embed() {
    for (select, constraint) in [
        ("*,users!tasks_reviewer_id_fkey(*)", "tasks_reviewer_id_fkey"),
        ("*,owner:owner_id(*)", "tasks_owner_id_fkey"),
        ("*,lists(*)", "tasks_list_id_fkey"),
    ] {
        let p = plan(&format!("GET /tasks?select={select}")).expect(select);
        let Action::Read { shape, .. } = p.action else { panic!("{select}: not a read") };
        assert_eq!(shape.embeds.len(), 1, "{select}");
        assert_eq!(&*shape.embeds[0].relationship.constraint, constraint, "{select}");
    }
}

#[test]
fn overloads_are_chosen_by_argument_names() {
    let p = plan("GET /rpc/pick?a=1&b=2").expect("pick(a, b)");
    let Action::Call { routine, args, .. } = p.action else { panic!("not a call") };
    assert_eq!(routine.params.len(), 2);
    let CallArgs::Named { params, .. } = args else { panic!("named arguments expected") };
    let params: Vec<_> = params.into_iter().map(|p| (p.name, p.type_)).collect();
    assert_eq!(params, [("a".to_string(), "integer".to_string()), ("b".to_string(), "integer".to_string())]);
    assert!(p.tx.read_only);
    // A parameter given twice: the second is a filter on the result, not an argument.
    let p = plan("GET /rpc/greet?name=x&name=eq.y").expect("greet");
    let Action::Call { shape, .. } = p.action else { panic!("not a call") };
    assert_eq!(shape.filters.len(), 1);
    // A default-only parameter may be left out.
    assert!(plan("GET /rpc/greet").is_ok());
}

#[test]
fn media_types_follow_accept() {
    let cases = [
        ("GET /tasks", Media::Json),
        ("GET /tasks | Accept: text/csv", Media::Csv),
        ("GET /tasks | Accept: application/vnd.pgrst.object", Media::SingleObject),
        ("GET /tasks | Accept: application/vnd.pgrst.array+json;nulls=stripped", Media::JsonStripNulls),
        ("GET /tasks | Accept: application/geo+json", Media::GeoJson),
        ("GET /tasks | Accept: text/plain, text/csv;q=0.5", Media::Csv),
        ("GET /rpc/greet | Accept: text/plain", Media::Raw("text/plain; charset=utf-8".into())),
        ("GET / | Accept: */*", Media::Raw("application/openapi+json".into())),
        ("GET / | Accept: application/json", Media::Json),
    ];
    for (line, media) in cases {
        let p = plan(line).expect(line);
        assert_eq!(p.media, media, "{line}");
        assert_eq!(p.tx.require_single, media == Media::SingleObject, "{line}");
    }
}

#[test]
fn explain_names_the_media_explained_and_rolls_back() {
    let p = plan(r#"POST /tasks | Accept: application/vnd.pgrst.plan+json; for="text/csv" | {"id":1}"#)
        .expect("explained insert");
    assert_eq!(p.media, Media::Csv);
    let explain = p.explain.expect("an EXPLAIN");
    assert!(explain.json);
    assert_eq!(explain.for_media, "text/csv");
    assert!(p.tx.rollback);
    // An unknown media type explained falls back to JSON.
    let p = plan("GET /tasks | Accept: application/vnd.pgrst.plan; for=\"text/nope\"").expect("explained read");
    assert_eq!(p.media, Media::Json);
}

#[test]
fn mutations_write_the_payload_columns() {
    let p = plan(r#"POST /tasks?on_conflict=id | Prefer: resolution=ignore-duplicates | [{"id":1,"title":"a"}]"#)
        .expect("upsert");
    let Action::Mutate { kind: MutateKind::Insert { columns, on_conflict }, .. } = p.action else {
        panic!("not an insert")
    };
    assert_eq!(columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["id", "title"]);
    assert_eq!(on_conflict.map(|(cols, _)| cols), Some(vec!["id".to_string()]));
    // PUT is an upsert of the first row on the primary key.
    let p = plan(r#"PUT /tasks?id=eq.1 | [{"id":1,"title":"a"},{"id":2,"title":"b"}]"#).expect("put");
    let Action::Mutate { kind: MutateKind::Insert { on_conflict, .. }, payload, .. } = p.action else {
        panic!("not an insert")
    };
    assert_eq!(on_conflict.map(|(cols, _)| cols), Some(vec!["id".to_string()]));
    assert_eq!(payload.as_deref(), Some(br#"{"id":1,"title":"a"}"#.as_slice()));
    // missing=default: each written column with its default.
    let p = plan(r#"POST /tasks | Prefer: missing=default | {"id":1,"title":"a"}"#).expect("missing=default");
    let Action::Mutate { kind: MutateKind::Insert { columns, .. }, missing_default, .. } = p.action else {
        panic!("not an insert")
    };
    assert!(missing_default);
    let defaults: Vec<_> = columns.into_iter().map(|c| (c.name, c.default)).collect();
    assert_eq!(defaults, [("id".to_string(), None), ("title".to_string(), Some("'untitled'::text".to_string()))]);
}

#[test]
fn preference_applied_is_in_postgrest_order() {
    let p = plan(
        r#"POST /tasks | Prefer: tx=rollback, count=exact, return=representation, missing=default, resolution=merge-duplicates | {"id":1}"#,
    )
    .expect("insert");
    assert_eq!(
        p.applied,
        ["resolution=merge-duplicates", "missing=default", "return=representation", "count=exact", "tx=rollback"]
    );
    assert!(p.tx.rollback);
}

#[test]
fn options_allow_what_the_target_permits() {
    let cases = [
        ("OPTIONS /tasks", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
        ("OPTIONS /users", "OPTIONS,GET,HEAD"),
        ("OPTIONS /rpc/bump", "OPTIONS,POST"),
        ("OPTIONS /rpc/greet", "OPTIONS,GET,HEAD,POST"),
        ("OPTIONS /", "OPTIONS,GET,HEAD"),
    ];
    for (line, expected) in cases {
        let Action::Options { allow } = plan(line).expect(line).action else { panic!("{line}: not OPTIONS") };
        assert_eq!(allow, expected, "{line}");
    }
}

#[test]
fn page_of_limit_offset_and_range() {
    let cases = [
        ("GET /tasks?limit=10&offset=5", Some(10), Some(5)),
        ("GET /tasks | Range: 10-19", Some(10), Some(10)),
        // limit/offset ask for rows 0-4, Range for 10-19: none.
        ("GET /tasks?limit=5 | Range: 10-19", Some(0), Some(10)),
        ("GET /tasks?offset=2 | Range: 0-3", Some(2), Some(2)),
        // HEAD ignores Range.
        ("HEAD /tasks | Range: 10-19", None, None),
        // Huge numbers saturate instead of overflowing (the last row is i64::MAX - 1).
        ("GET /tasks?limit=9223372036854775807&offset=5 | Range: 0-", Some(i64::MAX - 5), Some(5)),
        ("GET /tasks?limit=9223372036854775807&offset=5 | Range: 0-10", Some(6), Some(5)),
    ];
    for (line, limit, offset) in cases {
        let Action::Read { shape, .. } = plan(line).expect(line).action else { panic!("{line}: not a read") };
        assert_eq!((shape.limit, shape.offset), (limit, offset), "{line}");
    }
}

/// `db-replica-uris` set: the route of each kind of request. The invariant: a request that may
/// write (any write method, a VOLATILE function, `tx=rollback`, EXPLAIN) is never routed to a
/// replica, and only writes ask for the WAL position afterwards.
#[test]
fn a_request_that_writes_never_runs_on_a_replica() {
    use super::Route;
    let mut env: BTreeMap<String, String> = [
        ("PGRST_DB_SCHEMAS", "api"),
        ("PGRST_DB_ANON_ROLE", "web_anon"),
        ("PGRST_DB_PLAN_ENABLED", "true"),
        ("PGRST_DB_TX_END", "commit-allow-override"),
        ("PGRST_DB_REPLICA_URIS", "host=r1,host=r2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cache = SchemaCache::from_json(SCHEMA).expect("schema");
    let route = |config: &Config, line: &str| {
        let api = api_request::parse(config, &RawRequest::from_line(line)).expect("parses");
        let plan = super::plan(config, &cache, &api).expect("plans");
        (plan.tx.route, plan.tx.report_lsn)
    };
    let config = Config::from_sources(None, &env).expect("config");
    let replica = |min_lsn| (Route::Replica { min_lsn }, false);
    let primary = (Route::Primary, false);
    let write = (Route::Primary, true);
    let cases = [
        ("GET /tasks", replica(None)),
        ("HEAD /tasks", replica(None)),
        ("GET /rpc/greet", replica(None)),
        ("GET /rpc/pick?a=1&b=2", replica(None)),
        (r#"POST /rpc/greet | {"name":"x"}"#, replica(None)),
        ("GET /tasks | X-Tusk-Lsn: 16/B374D848", replica(Some(0x16_B374_D848))),
        ("GET /tasks | Cookie: tusk_lsn=0/10", replica(Some(0x10))),
        ("GET /tasks | Cookie: tusk_lsn=0/10 | X-Tusk-Lsn: 0/20", replica(Some(0x20))),
        // Asked for the primary, or a position that is none: the primary.
        ("GET /tasks | X-Tusk-Primary: 1", primary),
        ("GET /tasks | X-Tusk-Primary: 0", replica(None)),
        ("GET /tasks | X-Tusk-Lsn: nope", primary),
        ("GET /tasks | X-Tusk-Lsn: 123456789/0", primary),
        // May write: the primary.
        ("GET /rpc/bump", primary),
        ("POST /rpc/bump", write),
        ("GET /tasks | Prefer: tx=rollback", primary),
        ("GET /tasks | Accept: application/vnd.pgrst.plan", primary),
        (r#"POST /tasks | {"id":1}"#, write),
        (r#"POST /tasks | Prefer: tx=rollback | {"id":1}"#, primary),
        (r#"PATCH /tasks?id=eq.1 | {"title":"x"}"#, write),
        (r#"PUT /tasks?id=eq.1 | {"id":1}"#, write),
        ("DELETE /tasks?id=eq.1", write),
    ];
    for (line, want) in cases {
        assert_eq!(route(&config, line), want, "{line}");
    }
    // With a db-pre-request function (which may write), only read-only transactions go.
    env.insert("PGRST_DB_PRE_REQUEST".into(), "api.check".into());
    let with_pre_request = Config::from_sources(None, &env).expect("config");
    assert_eq!(route(&with_pre_request, "GET /rpc/greet"), replica(None));
    assert_eq!(route(&with_pre_request, r#"POST /rpc/greet | {"name":"x"}"#), write);
    env.remove("PGRST_DB_PRE_REQUEST");
    // Without replicas everything runs on the primary and nothing asks for a position.
    env.remove("PGRST_DB_REPLICA_URIS");
    let config = Config::from_sources(None, &env).expect("config");
    for (line, _) in cases {
        assert_eq!(route(&config, line), primary, "{line}");
    }
}

#[test]
fn wal_positions_parse_as_postgresql_writes_them() {
    use super::parse_lsn;
    assert_eq!(parse_lsn("0/0"), Some(0));
    assert_eq!(parse_lsn("FFFFFFFF/FFFFFFFF"), Some(u64::MAX));
    assert_eq!(parse_lsn("16/b374d848"), Some(0x16_B374_D848));
    for bad in ["", "/", "0/", "/0", "1", "0/0/0", "g/0", "100000000/0", "-1/0", "+1/0", "0x1/0"] {
        assert_eq!(parse_lsn(bad), None, "{bad}");
    }
}
