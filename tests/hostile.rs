//! Hostile input (issue 9): requests an attacker would send, fired at a real tusk on a throwaway
//! database with the todo example. Each must get a 4xx JSON error with a code (or, at a limit,
//! an ordinary answer), and after each the process must be alive and an ordinary `GET /tasks`
//! must answer 200 in under a second. At the end the database must hold what it held, except
//! for what allowed requests changed.
//!
//! To add cases: a row in one of the tables below when a request and its answer say it all, or
//! a test of its own that starts with [`hostile_app`] and calls [`assert_still_serving`] after
//! each hostile request and [`HostileApp::assert_unchanged`] at the end.

mod support;

use std::time::{Duration, Instant};
use support::*;

/// The todo app on a database of its own, and the tasks it held at the start.
struct HostileApp {
    db: TestDb,
    tusk: Tusk,
    tasks: Vec<(i64, String, bool, String)>,
}

impl HostileApp {
    /// Asserts the tasks table holds what it held when the app started.
    fn assert_unchanged(&self) {
        assert_eq!(self.db.tasks(), self.tasks, "the hostile requests changed the database");
    }
}

async fn hostile_app() -> HostileApp {
    let db = TestDb::todo();
    let tusk = Tusk::start(&db.seed_env()).await;
    let tasks = db.tasks();
    assert!(!tasks.is_empty(), "the todo example has sample tasks");
    HostileApp { db, tusk, tasks }
}

/// The process is alive and an ordinary request answers 200 in under a second.
async fn assert_still_serving(tusk: &mut Tusk, after: &str) {
    assert!(tusk.is_running(), "tusk died after {after}\n--- output ---\n{}", tusk.output.text());
    let start = Instant::now();
    let r = tusk.get("/tasks").send().await;
    let took = start.elapsed();
    assert_eq!(r.status, 200, "GET /tasks after {after}: {r:#?}");
    assert!(took < Duration::from_secs(1), "GET /tasks took {took:?} after {after}");
}

/// A 4xx answer with a JSON error body carrying a code (`code`, when given, must be it).
#[track_caller]
fn assert_client_error(r: &Resp, what: &str, code: Option<&str>) -> Value {
    assert!((400..500).contains(&r.status), "{what}: expected a 4xx, got {r:#?}");
    let body: Value =
        serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {r:#?}"));
    assert_error_shape(&body, r);
    if let Some(code) = code {
        assert_eq!(body["code"], json!(code), "{what}: {r:#?}");
    }
    body
}

fn rep(s: &str, n: usize) -> String {
    s.repeat(n)
}

/// `n` copies of `item` joined by `sep`.
fn list(item: &str, n: usize, sep: &str) -> String {
    vec![item; n].join(sep)
}

/// The grammar findings of issue 9 and their neighbours: (what, path and query, the code of
/// the 400 answer, a word its message or details must contain).
fn grammar_cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        // Nesting: each once overflowed the worker's stack and aborted the process.
        ("2,500 or( unclosed", format!("/tasks?or=({}", rep("or(", 2500)), "PGRST100", "request-max-depth"),
        (
            "2,500 or( closed",
            format!("/tasks?or=({}id.eq.1{})", rep("or(", 2500), rep(")", 2501)),
            "PGRST100",
            "request-max-depth",
        ),
        ("2,500 and(", format!("/tasks?and=({}", rep("and(", 2500)), "PGRST100", "request-max-depth"),
        ("2,500 not.or(", format!("/tasks?not.or=({}", rep("not.or(", 2500)), "PGRST100", "request-max-depth"),
        ("2,500 or( embedded", format!("/tasks?x.or=({}", rep("or(", 2500)), "PGRST100", "request-max-depth"),
        ("2,500 or( on /rpc", format!("/rpc/homepage?or=({}", rep("or(", 2500)), "PGRST100", "request-max-depth"),
        ("2,500 or( on a missing table", format!("/nope?or=({}", rep("or(", 2500)), "PGRST100", "request-max-depth"),
        (
            "select a( × 4,000",
            format!("/tasks?select={}id{}", rep("a(", 4000), rep(")", 4000)),
            "PGRST100",
            "request-max-",
        ),
        ("select a( × 4,000 unclosed", format!("/tasks?select={}id", rep("a(", 4000)), "PGRST100", "request-max-"),
        ("embed path × 2,500", format!("/tasks?{}.order=id", list("a", 2500, ".")), "PGRST100", "request-max-depth"),
        // PostgreSQL's 54001 (stack depth) and 54011 (too many columns), and its planner.
        (
            "10,000 select items",
            format!("/tasks?select={}", list("id", 10_000, ",")),
            "PGRST100",
            "request-max-select-items",
        ),
        ("1,000 stars", format!("/tasks?select={}", list("*", 1000, ",")), "PGRST100", "request-max-select-items"),
        (
            "JSON path × 10,000 in select",
            format!("/tasks?select=name{}", rep("->a", 10_000)),
            "PGRST100",
            "request-max-depth",
        ),
        (
            "JSON path × 10,000 in a filter",
            format!("/tasks?name{}=eq.1", rep("->a", 10_000)),
            "PGRST100",
            "request-max-depth",
        ),
        (
            "JSON path × 10,000 in order",
            format!("/tasks?order=name{}", rep("->a", 10_000)),
            "PGRST100",
            "request-max-depth",
        ),
        (
            "JSON path × 10,000 in a logic tree",
            format!("/tasks?or=(name{}.eq.1)", rep("->a", 10_000)),
            "PGRST100",
            "request-max-depth",
        ),
        (
            "JSON path × 10,000 in a function argument",
            format!("/rpc/homepage?x{}=1", rep("->a", 10_000)),
            "PGRST100",
            "request-max-depth",
        ),
        (
            "1,000 embeds",
            format!("/tasks?select=id,{}", (0..1000).map(|i| format!("a{i}:tasks(id)")).collect::<Vec<_>>().join(",")),
            "PGRST100",
            "request-max-embeds",
        ),
        ("5,000 filters", format!("/tasks?{}", list("id=gt.0", 5000, "&")), "PGRST100", "request-max-filters"),
        ("5,000 logic terms", format!("/tasks?or=({})", list("id.gt.0", 5000, ",")), "PGRST100", "request-max-filters"),
        ("5,000 order terms", format!("/tasks?order={}", list("id", 5000, ",")), "PGRST100", "request-max-filters"),
        (
            "5,000 columns",
            format!("/tasks?columns={}", list("name", 5000, ",")),
            "PGRST100",
            "request-max-select-items",
        ),
        // NUL: once 503 and a schema cache reload on every request.
        ("NUL in a filter's column", "/tasks?na%00me=eq.a".into(), "PGRST100", "NUL"),
        ("NUL in a filter's value", "/tasks?name=eq.a%00b".into(), "PGRST100", "NUL"),
        ("NUL in an in list", "/tasks?name=in.(a,%00)".into(), "PGRST100", "NUL"),
        ("NUL in select", "/tasks?select=na%00me".into(), "PGRST100", "NUL"),
        ("NUL in an alias", "/tasks?select=a%00:name".into(), "PGRST100", "NUL"),
        ("NUL in order", "/tasks?order=na%00me".into(), "PGRST100", "NUL"),
        ("NUL in a JSON key", "/tasks?select=name->a%00".into(), "PGRST100", "NUL"),
        ("NUL in a logic tree", "/tasks?or=(na%00me.eq.a)".into(), "PGRST100", "NUL"),
        ("NUL in an embed path", "/tasks?a%00.order=id".into(), "PGRST100", "NUL"),
        ("NUL in a function argument", "/rpc/homepage?a%00=1".into(), "PGRST100", "NUL"),
        ("NUL in a function argument's value", "/rpc/homepage?a=%00".into(), "PGRST100", "NUL"),
        // A `"` in a cast once unbalanced the quoting of the generated SQL.
        ("\" in a cast", "/tasks?select=zzinjectedzz:id::%22".into(), "PGRST100", "type name"),
        ("quoted cast", "/tasks?select=id::%22text%22".into(), "PGRST100", "type name"),
        ("\" after a cast", "/tasks?select=id::text%22x".into(), "PGRST100", "type name"),
        ("\" in an aggregate's cast", "/tasks?select=id.sum()::int%22".into(), "PGRST100", "type name"),
    ]
}

#[tokio::test]
async fn hostile_query_strings_get_400_and_the_server_keeps_serving() {
    let mut app = hostile_app().await;
    for (what, path, code, word) in grammar_cases() {
        let r = app.tusk.get(&path).send().await;
        let body = assert_client_error(&r, what, Some(code));
        let text = format!("{} {}", body["message"], body["details"]);
        assert!(text.contains(word), "{what}: the error should mention {word:?}: {body}");
        assert_still_serving(&mut app.tusk, what).await;
    }
    // The same with a token and on writes: refused before anything runs.
    let deep = format!("or=({}", rep("or(", 2500));
    for (method, path) in [
        (Method::PATCH, format!("/tasks?{deep}")),
        (Method::DELETE, format!("/tasks?{deep}")),
        (Method::DELETE, "/tasks?na%00me=eq.a".to_string()),
        (Method::POST, format!("/tasks?columns={}", list("name", 5000, ","))),
        (Method::POST, "/tasks?select=na%00me".to_string()),
    ] {
        let what = format!("{method} {}", &path[..path.len().min(40)]);
        let r = app.tusk.req(method, &path).bearer(SEED_TOKEN).json(&json!({"name": "x"})).send().await;
        assert_client_error(&r, &what, Some("PGRST100"));
        assert_still_serving(&mut app.tusk, &what).await;
    }
    app.assert_unchanged();
}

#[tokio::test]
async fn requests_at_the_limits_are_answered_normally() {
    let mut app = hostile_app().await;
    // At each default limit the request parses and goes on; what comes after is no 5xx.
    let cases = [
        ("logic tree 32 deep", format!("/tasks?or=({}id.gt.0{})", rep("or(", 31), rep(")", 32))),
        ("not.and 32 deep", format!("/tasks?not.and=({}id.lt.0{})", rep("not.and(", 31), rep(")", 32))),
        ("500 select items", format!("/tasks?select={}", list("id", 500, ","))),
        ("1,000 filters", format!("/tasks?{}", list("id=gt.0", 1000, "&"))),
        ("1,000 logic terms", format!("/tasks?or=({})", list("id.gt.0", 999, ","))),
        ("1,000 order terms", format!("/tasks?order={}", list("id", 1000, ","))),
        ("a JSON path of 32 keys", format!("/tasks?select=name{}", rep("->a", 32))),
        (
            "20 embeds",
            format!("/tasks?select=id,{}", (0..20).map(|i| format!("a{i}:x()")).collect::<Vec<_>>().join(",")),
        ),
        ("select 20 deep", format!("/tasks?select={}id{}", rep("a(", 20), rep(")", 20))),
    ];
    for (what, path) in cases {
        let start = Instant::now();
        let r = app.tusk.get(&path).send().await;
        assert!(r.status < 500, "{what}: {r:#?}");
        assert!(start.elapsed() < Duration::from_secs(5), "{what} took {:?}", start.elapsed());
        if r.status != 200 {
            // Past the parser: the plan or PostgreSQL refused it, with a coded JSON error.
            assert_client_error(&r, what, None);
        }
        assert_still_serving(&mut app.tusk, what).await;
    }
    let r = app.tusk.get(&format!("/tasks?select={}", list("id", 500, ","))).send().await;
    assert_eq!(r.status, 200, "{r:#?}");
    app.assert_unchanged();
}

#[tokio::test]
async fn limits_come_from_the_configuration() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_REQUEST_MAX_DEPTH", "2");
    set_env(&mut env, "PGRST_REQUEST_MAX_FILTERS", "4");
    let mut tusk = Tusk::start(&env).await;
    // Four terms: or, id.eq.1, and, id.eq.1.
    tusk.get("/tasks?or=(id.eq.1,and(id.eq.1))").send().await.expect_status(200);
    let body = tusk.get("/tasks?or=(id.eq.1,and(or(id.eq.1)))").send().await.expect_error(400, "PGRST100");
    assert_eq!(body["details"], "The limit is 2 (request-max-depth)");
    let body = tusk.get("/tasks?id=gt.0&id=gt.0&order=id,name,done").send().await.expect_error(400, "PGRST100");
    assert_eq!(body["details"], "The limit is 4 (request-max-filters)");
    assert_still_serving(&mut tusk, "tight limits").await;
}

/// "Perhaps you meant" names only what the requesting role may use: a table and a function
/// only `todo_user` may use are never hinted to the anonymous role, but are to `todo_user`.
#[tokio::test]
async fn hints_name_only_what_the_role_may_use() {
    let db = TestDb::todo();
    db.psql(
        "create table todo.hidden_admin (id int);
         grant all on todo.hidden_admin to todo_user;
         create function todo.hidden_admin_fn(count_all int) returns int language sql as 'select count_all';
         revoke execute on function todo.hidden_admin_fn(int) from public;
         grant execute on function todo.hidden_admin_fn(int) to todo_user;
         create table todo.column_granted (id int, secret text);
         grant select (id) on todo.column_granted to todo_user;",
    );
    let mut tusk = Tusk::start(&db.seed_env()).await;
    let hint = |r: &Resp| r.json()["hint"].as_str().unwrap_or("").to_string();

    let anon = tusk.get("/hidden_admi").send().await;
    assert_client_error(&anon, "anonymous, unknown table", Some("PGRST205"));
    assert!(!hint(&anon).contains("hidden_admin"), "hinted to anon: {anon:#?}");
    let user = tusk.get("/hidden_admi").bearer(SEED_TOKEN).send().await;
    assert_client_error(&user, "todo_user, unknown table", Some("PGRST205"));
    assert!(hint(&user).contains("todo.hidden_admin'"), "not hinted to todo_user: {user:#?}");
    // A privilege on one column only is a privilege too.
    let anon = tusk.get("/column_grante").send().await;
    assert!(!hint(&anon).contains("column_granted"), "hinted to anon: {anon:#?}");
    let user = tusk.get("/column_grante").bearer(SEED_TOKEN).send().await;
    assert!(hint(&user).contains("todo.column_granted'"), "not hinted to todo_user: {user:#?}");

    let anon = tusk.post("/rpc/hidden_admin_f").json(&json!({"count_all": 1})).send().await;
    assert_client_error(&anon, "anonymous, unknown function", Some("PGRST202"));
    assert!(!hint(&anon).contains("hidden_admin"), "hinted to anon: {anon:#?}");
    let user = tusk.post("/rpc/hidden_admin_f").bearer(SEED_TOKEN).json(&json!({"count_all": 1})).send().await;
    assert_client_error(&user, "todo_user, unknown function", Some("PGRST202"));
    assert!(hint(&user).contains("hidden_admin_fn"), "not hinted to todo_user: {user:#?}");

    // The function exists, with other arguments: its parameter lists are not shown to anon.
    let anon = tusk.post("/rpc/hidden_admin_fn").json(&json!({"count_al": 1})).send().await;
    assert_client_error(&anon, "anonymous, wrong arguments", Some("PGRST202"));
    assert!(!hint(&anon).contains("hidden_admin"), "hinted to anon: {anon:#?}");
    let user = tusk.post("/rpc/hidden_admin_fn").bearer(SEED_TOKEN).json(&json!({"count_al": 1})).send().await;
    assert!(hint(&user).contains("hidden_admin_fn(count_all)"), "not hinted to todo_user: {user:#?}");
    assert_still_serving(&mut tusk, "hints").await;
}

/// A body over 1 MiB is streamed into a transaction-local table before the role switch
/// (`query::STAGE_BODY_OVER`): refused, it must leave neither rows nor that table behind.
#[tokio::test]
async fn a_refused_large_body_leaves_nothing_behind() {
    let mut app = hostile_app().await;
    let mut rows: Vec<Value> = (0..60_000).map(|i| json!({"name": format!("task {i}"), "done": false})).collect();
    let body = Value::Array(rows.clone()).to_string();
    assert!(body.len() > 1 << 20, "the body is over 1 MiB");
    // Anonymous: web_anon may not insert.
    let r = app.tusk.post("/tasks").body("application/json", &body).send().await;
    assert_client_error(&r, "a large anonymous insert", Some("42501"));
    assert_still_serving(&mut app.tusk, "a large anonymous insert").await;
    // Allowed, but its last row is wrong.
    rows.push(json!({"name": "last", "done": "not a boolean"}));
    let body = Value::Array(rows).to_string();
    let r = app.tusk.post("/tasks").bearer(SEED_TOKEN).body("application/json", &body).send().await;
    assert_client_error(&r, "a large insert with a bad row", Some("22P02"));
    assert_still_serving(&mut app.tusk, "a large insert with a bad row").await;
    assert_eq!(app.db.psql("select count(*) from pg_class where relname = 'pgrst_body'").trim(), "0");
    app.assert_unchanged();
}
