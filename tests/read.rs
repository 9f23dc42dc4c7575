//! The read API beyond what the seed app uses: JSON paths on any column type, the OpenAPI
//! document's media types.

mod support;

use serde_json::json;
use support::*;

const READ_SQL: &str = r#"
create type todo.complex as (r double precision, i double precision);
create function todo.numbers() returns table(id int, val todo.complex)
  language sql stable as $$
  select 1, row(0.1, 0.5)::todo.complex union all
  select 2, row(0.2, 0.6)::todo.complex union all
  select 3, row(0.3, 0.7)::todo.complex $$;
"#;

async fn read_app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(READ_SQL);
    let tusk = Tusk::start(&db.seed_env()).await;
    (db, tusk)
}

#[tokio::test]
async fn json_paths_reach_into_composite_columns_of_function_results() {
    let (_db, t) = read_app().await;
    let r = t.get("/rpc/numbers?select=id,real:val->r&val->i=gt.0.55&order=val->>i.desc").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 3, "real": 0.3}, {"id": 2, "real": 0.2}]));
}

#[tokio::test]
async fn json_path_errors_come_from_postgresql_or_the_parser() {
    let (_db, t) = read_app().await;
    // `->` after `->>` applies to text: PostgreSQL's own error, as with PostgREST.
    let r = t.get("/rpc/numbers?select=val->>r->x").send().await;
    let body = r.expect_error(404, "42883");
    assert_eq!(body["message"], "operator does not exist: text -> unknown");
    let r = t.get("/rpc/numbers?select=val->>--1").send().await;
    let body = r.expect_error(400, "PGRST100");
    assert_eq!(body["details"], "unexpected \"-\" expecting digit");
}

#[tokio::test]
async fn the_openapi_document_is_json_only() {
    let (_db, t) = read_app().await;
    let r = t.get("/").header("Accept", "text/csv").send().await;
    r.expect_error(406, "PGRST107");
    let r = t.get("/").header("Accept", "application/openapi+json").send().await;
    r.expect_status(200);
    assert_eq!(r.json()["swagger"], "2.0");
}
