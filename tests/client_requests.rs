//! Requests shaped exactly as real PostgREST client libraries send them (issue 4: "real clients
//! must work unchanged"), so that `cargo test` guards them without Node.js or Python. The
//! libraries themselves run in `tests/clients/`; these are the shapes seen there:
//!
//! - postgrest-py: both `Accept-Profile` and `Content-Profile` on every request, a `{}` JSON
//!   body on DELETE and on GET `/rpc`, preferences joined with `,`;
//! - postgrest-js / supabase-js: `URLSearchParams` (spaces as `+`), preferences appended into
//!   one header with `, `, `columns="a","b"` on inserts;
//! - ra-data-postgrest: `qs` (spaces as `%20`), `Content-Type: application/json` on bodiless
//!   DELETEs.

mod support;

use support::*;

const SETUP_SQL: &str = r#"
create table todo.items (id int primary key, name text not null, qty int not null default 1);
insert into todo.items values (1, 'big apple', 1), (2, 'a+b', 2), (3, 'pear', 3);
grant select, insert, update, delete on todo.items to web_anon;

create schema other;
grant usage on schema other to web_anon;
create table other.items (id int primary key, name text not null, qty int not null default 1);
insert into other.items values (1, 'other apple', 10);
grant select, insert, update, delete on other.items to web_anon;

create function todo.echo(t text) returns text language sql immutable as $$ select t $$;
create function todo.echo_items() returns setof todo.items language sql stable as $$ select * from todo.items $$;
grant execute on function todo.echo(text), todo.echo_items() to web_anon;
"#;

async fn app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(SETUP_SQL);
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_SCHEMAS", "todo,other");
    let tusk = Tusk::start(&env).await;
    (db, tusk)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_else(|| panic!("no name in {r}")).to_string())
        .collect()
}

#[tokio::test]
async fn delete_with_an_empty_json_body() {
    let (db, t) = app().await;
    // postgrest-py
    let r = t.delete("/items?id=eq.3").prefer("return=representation,count=exact").json(&json!({})).send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 3, "name": "pear", "qty": 3}]));
    assert_eq!(r.header("content-range").as_deref(), Some("*/1"));
    // ra-data-postgrest: the content type, no body.
    let r = t.delete("/items?id=eq.2").body("application/json", "").send().await;
    r.expect_status(204);
    assert_eq!(db.query_lines("select id from todo.items order by id"), ["1"]);
}

#[tokio::test]
async fn several_preferences_in_one_prefer_header() {
    let (db, t) = app().await;
    // postgrest-js: Headers.append joins with ", ".
    let r = t
        .post("/items?columns=%22id%22%2C%22name%22%2C%22qty%22")
        .prefer("resolution=merge-duplicates, missing=default, count=exact, return=representation")
        .json(&json!([{"id": 1, "name": "big apple", "qty": 5}, {"id": 4, "name": "plum"}]))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(r.json(), json!([{"id": 1, "name": "big apple", "qty": 5}, {"id": 4, "name": "plum", "qty": 1}]));
    assert_eq!(r.header("content-range").as_deref(), Some("*/2"));
    // postgrest-py: ",".join(...), no spaces.
    let r = t
        .post("/items")
        .prefer("return=representation,resolution=ignore-duplicates,count=exact")
        .json(&json!([{"id": 4, "name": "plum", "qty": 99}, {"id": 5, "name": "fig", "qty": 1}]))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(names(&r.json()), ["fig"]);
    assert_eq!(db.query_lines("select qty from todo.items where id = 4"), ["1"]);
}

#[tokio::test]
async fn plus_and_percent_20_are_spaces_in_query_strings() {
    let (_db, t) = app().await;
    for q in ["name=eq.big+apple", "name=eq.big%20apple", "name=ilike.%25g+ap%25", "name=in.(big+apple,p+ear)"] {
        let r = t.get(&format!("/items?select=name&order=id&{q}")).send().await;
        r.expect_status(200);
        assert_eq!(names(&r.json()), ["big apple"], "{q}");
    }
    // A literal plus is %2B.
    let r = t.get("/items?select=name&name=eq.a%2Bb").send().await;
    assert_eq!(names(&r.json()), ["a+b"]);
    // Also in RPC arguments.
    let r = t.get("/rpc/echo?t=two+words").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!("two words"));
}

#[tokio::test]
async fn both_profile_headers_on_every_request() {
    let (db, t) = app().await;
    let both = |req: Req, schema: &str| req.header("Accept-Profile", schema).header("Content-Profile", schema);
    let r = both(t.get("/items?select=name"), "other").send().await;
    r.expect_status(200);
    assert_eq!(names(&r.json()), ["other apple"]);
    assert_eq!(r.header("content-profile").as_deref(), Some("other"));

    let r = both(t.post("/items"), "other")
        .prefer("return=representation")
        .json(&json!({"id": 2, "name": "x"}))
        .send()
        .await;
    r.expect_status(201);
    let r = both(t.patch("/items?id=eq.2"), "other").json(&json!({"qty": 7})).send().await;
    r.expect_status(204);
    let r = both(t.delete("/items?id=eq.1"), "other").json(&json!({})).send().await;
    r.expect_status(204);
    assert_eq!(db.query_lines("select id || ':' || qty from other.items order by id"), ["2:7"]);
    assert_eq!(db.query_lines("select count(*) from todo.items"), ["3"]);

    // The default schema, named in both headers (postgrest-py's default client).
    let r = both(t.get("/items?select=name&id=eq.1"), "todo").send().await;
    assert_eq!(names(&r.json()), ["big apple"]);
    // Reads follow Accept-Profile, writes Content-Profile, whatever the other one says.
    let r =
        t.get("/items?select=name").header("Accept-Profile", "todo").header("Content-Profile", "other").send().await;
    assert_eq!(names(&r.json()).len(), 3);
    let r = t
        .post("/items")
        .header("Accept-Profile", "todo")
        .header("Content-Profile", "other")
        .json(&json!({"id": 3, "name": "y"}))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(db.query_lines("select name from other.items where id = 3"), ["y"]);
}

#[tokio::test]
async fn get_rpc_with_an_empty_json_body() {
    let (_db, t) = app().await;
    // postgrest-py sends json={} with GET and HEAD calls; the arguments are in the query string.
    let r = t
        .get("/rpc/echo?t=hi")
        .header("Accept-Profile", "todo")
        .header("Content-Profile", "todo")
        .json(&json!({}))
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json(), json!("hi"));
}

#[tokio::test]
async fn paging_past_the_end() {
    let (_db, t) = app().await;
    // postgrest-js `range(10, 19)` without a count, as infinite scrolling does: an empty page.
    let r = t.get("/items?offset=10&limit=10").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([]));
    assert_eq!(r.header("content-range").as_deref(), Some("*/*"));
    // react-admin's last page after its last row was deleted: offset = total is an empty page.
    let r = t.get("/items?offset=3&limit=3").prefer("count=exact").send().await;
    r.expect_status(206);
    assert_eq!(r.json(), json!([]));
    assert_eq!(r.header("content-range").as_deref(), Some("*/3"));
    // Past that, with a count: 416.
    let r = t.get("/items?offset=4&limit=3").prefer("count=exact").send().await;
    r.expect_error(416, "PGRST103");
    assert_eq!(r.header("content-range").as_deref(), Some("*/3"));
    // The same for a set-returning function.
    let r = t.get("/rpc/echo_items?offset=7").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([]));
    // limit=0 with a count (the total without rows) is a partial page too.
    let r = t.get("/items?limit=0").prefer("count=exact").send().await;
    r.expect_status(206);
    assert_eq!(r.header("content-range").as_deref(), Some("*/3"));
}

#[tokio::test]
async fn upsert_statuses_without_a_body() {
    let (_db, t) = app().await;
    let row = json!({"id": 1, "name": "big apple", "qty": 9});
    // postgrest-js `upsert(row)` (no select()): a merge that only updated is 200, no body.
    let r = t.post("/items").prefer("resolution=merge-duplicates").json(&row).send().await;
    r.expect_status(200);
    assert_eq!(r.text, "");
    // `upsert(row, { ignoreDuplicates: true })` where every row exists: still 201.
    let r = t.post("/items").prefer("resolution=ignore-duplicates").json(&row).send().await;
    r.expect_status(201);
    let r = t.post("/items").prefer("resolution=ignore-duplicates, return=representation").json(&row).send().await;
    r.expect_status(201);
    assert_eq!(r.json(), json!([]));
    // A new row through a merge: 201.
    let r = t.post("/items").prefer("resolution=merge-duplicates").json(&json!({"id": 9, "name": "kiwi"})).send().await;
    r.expect_status(201);
    // PUT without representation is 204, whether it inserted or updated.
    for id in [9, 10] {
        let r = t.req(Method::PUT, &format!("/items?id=eq.{id}")).json(&json!({"id": id, "name": "put"})).send().await;
        r.expect_status(204);
    }
}
