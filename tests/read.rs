//! The read API beyond what the seed app uses, one test per feature of PostgREST's API
//! reference: every filter operator, logic trees, embedding (each cardinality, hints,
//! `!inner`, spreads, embedded filters), aggregates, ranges, media types, profiles,
//! time zones, OPTIONS, Server-Timing, EXPLAIN plans, JSON paths.

mod support;

use serde_json::{json, Value};
use support::*;

const READ_SQL: &str = r#"
create type todo.complex as (r double precision, i double precision);
create function todo.numbers() returns table(id int, val todo.complex)
  language sql stable as $$
  select 1, row(0.1, 0.5)::todo.complex union all
  select 2, row(0.2, 0.6)::todo.complex union all
  select 3, row(0.3, 0.7)::todo.complex $$;
"#;

/// A second exposed schema: customers, their orders and the products in them.
const SHOP_SQL: &str = r#"
create schema shop;
create table shop.customers (
  id int primary key, name text not null, tags text[], span int4range, doc tsvector, note text);
create table shop.profiles (customer_id int primary key references shop.customers(id), bio text);
create table shop.orders (
  id int primary key, customer_id int not null references shop.customers(id), total numeric,
  placed_at timestamptz);
create table shop.products (id int primary key, name text not null);
create table shop.order_items (
  order_id int references shop.orders(id), product_id int references shop.products(id), qty int,
  primary key (order_id, product_id));
create table shop.messages (
  id int primary key, sender int references shop.customers(id), receiver int references shop.customers(id),
  body text);
insert into shop.customers values
  (1, 'Ada',   '{vip,early}', '[1,5)',  to_tsvector('simple', 'the quick brown fox'), null),
  (2, 'Brian', '{early}',     '[5,10)', to_tsvector('simple', 'lazy dogs sleep'),     'has note'),
  (3, 'Cleo',  '{}',          '[20,30)', to_tsvector('simple', 'quick dogs run'),      null);
insert into shop.profiles values (1, 'mathematician');
insert into shop.orders values
  (10, 1, 100, '2024-01-01 12:00+00'), (11, 1, 50, '2024-02-01 12:00+00'), (12, 2, 75, '2024-03-01 12:00+00');
insert into shop.products values (1, 'pen'), (2, 'ink'), (3, 'paper');
insert into shop.order_items values (10, 1, 2), (10, 2, 1), (11, 3, 5), (12, 1, 1);
insert into shop.messages values (1, 1, 2, 'hi Brian'), (2, 2, 1, 'hi Ada');
grant usage on schema shop to web_anon;
grant select on all tables in schema shop to web_anon;
"#;

async fn read_app() -> (TestDb, Tusk) {
    shop_app(&[]).await
}

/// The todo app plus [`READ_SQL`] and the `shop` schema, exposed after `todo`.
async fn shop_app(extra_env: &[(&str, &str)]) -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(READ_SQL);
    db.psql(SHOP_SQL);
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_SCHEMAS", "todo,shop");
    for (k, v) in extra_env {
        set_env(&mut env, k, v);
    }
    let tusk = Tusk::start(&env).await;
    (db, tusk)
}

/// GET `path` in the shop schema.
async fn shop_get(t: &Tusk, path: &str) -> Resp {
    t.get(path).header("Accept-Profile", "shop").send().await
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).iter().map(|r| r["id"].as_i64().unwrap_or(-1)).collect()
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

#[tokio::test]
async fn every_filter_operator() {
    let (_db, t) = read_app().await;
    let cases: &[(&str, &[i64])] = &[
        ("id=eq.1", &[1]),
        ("id=neq.1", &[2, 3]),
        ("id=gt.1", &[2, 3]),
        ("id=gte.2", &[2, 3]),
        ("id=lt.2", &[1]),
        ("id=lte.2", &[1, 2]),
        ("name=like.*a*", &[1, 2]),
        ("name=ilike.a*", &[1]),
        ("name=match.^C", &[3]),
        ("name=imatch.^c", &[3]),
        ("id=in.(1,3)", &[1, 3]),
        ("note=is.null", &[1, 3]),
        ("note=not.is.null", &[2]),
        ("note=isdistinct.has note", &[1, 3]),
        ("id=not.eq.2", &[1, 3]),
        ("tags=cs.{early}", &[1, 2]),
        ("tags=cd.{early,vip}", &[1, 2, 3]),
        ("tags=ov.{vip,none}", &[1]),
        ("span=sl.[10,15)", &[1, 2]),
        ("span=sr.[10,15)", &[3]),
        ("span=nxr.[6,7)", &[1]),
        ("span=nxl.[6,7)", &[3]),
        ("span=adj.[10,20)", &[2, 3]),
        ("doc=fts(simple).quick", &[1, 3]),
        ("doc=plfts(simple).quick dogs", &[3]),
        ("doc=phfts(simple).brown fox", &[1]),
        ("doc=wfts(simple).quick or lazy", &[1, 2, 3]),
        ("name=like(any).{A*,C*}", &[1, 3]),
        ("name=like(all).{*a*,*d*}", &[1]),
        ("id=eq(any).{2,3}", &[2, 3]),
    ];
    for (filter, want) in cases {
        let r = shop_get(&t, &format!("/customers?select=id&order=id&{filter}")).await;
        r.expect_status(200);
        assert_eq!(ids(&r.json()), *want, "{filter}");
    }
}

#[tokio::test]
async fn logic_trees_nest() {
    let (_db, t) = read_app().await;
    let r =
        shop_get(&t, "/customers?select=id&order=id&or=(id.eq.3,and(name.like.A*,not.or(id.gt.5,note.not.is.null)))")
            .await;
    assert_eq!(ids(&r.json()), [1, 3]);
    let r = shop_get(&t, "/customers?select=id&order=id&not.and=(id.gte.2,tags.cs.{early})").await;
    assert_eq!(ids(&r.json()), [1, 3]);
    // A filter on an unknown column is PostgreSQL's error, untouched.
    shop_get(&t, "/customers?nope=eq.1").await.expect_error(400, "42703");
}

#[tokio::test]
async fn embedding_each_cardinality() {
    let (_db, t) = read_app().await;
    // many-to-one: an object.
    let r = shop_get(&t, "/orders?select=id,customers(name)&order=id").await;
    assert_eq!(r.json()[0], json!({"id": 10, "customers": {"name": "Ada"}}));
    // one-to-many: an array, with its own filter, order and limit.
    let r = shop_get(&t, "/customers?select=name,orders(id)&id=eq.1&orders.order=id.desc&orders.limit=1").await;
    assert_eq!(r.json(), json!([{"name": "Ada", "orders": [{"id": 11}]}]));
    // one-to-one: an object (or null).
    let r = shop_get(&t, "/customers?select=id,profiles(bio)&order=id&id=lt.3").await;
    assert_eq!(r.json(), json!([{"id": 1, "profiles": {"bio": "mathematician"}}, {"id": 2, "profiles": null}]));
    // many-to-many through the junction table.
    let r = shop_get(&t, "/orders?select=id,products(name)&id=eq.10&products.order=id").await;
    assert_eq!(r.json(), json!([{"id": 10, "products": [{"name": "pen"}, {"name": "ink"}]}]));
}

#[tokio::test]
async fn embedding_hints_inner_joins_and_spreads() {
    let (_db, t) = read_app().await;
    // Two foreign keys to customers: ambiguous without a hint.
    let r = shop_get(&t, "/messages?select=id,customers(name)").await;
    let body = r.expect_error(300, "PGRST201");
    assert_eq!(body["details"].as_array().map(Vec::len), Some(2), "{body}");
    // A column or a constraint name as the hint; an alias.
    let r = shop_get(
        &t,
        "/messages?select=id,from:customers!sender(name),to:customers!messages_receiver_fkey(name)&order=id",
    )
    .await;
    assert_eq!(r.json()[0], json!({"id": 1, "from": {"name": "Ada"}, "to": {"name": "Brian"}}));
    // No relationship.
    shop_get(&t, "/products?select=id,messages(id)").await.expect_error(400, "PGRST200");
    // !inner keeps only the parents with a matching child.
    let r = shop_get(&t, "/customers?select=id,orders!inner(id)&orders.total=gt.60&order=id").await;
    assert_eq!(ids(&r.json()), [1, 2]);
    // Top-level filtering on an embed; an empty embed selects nothing.
    let r = shop_get(&t, "/customers?select=id,orders()&orders=is.null&order=id").await;
    assert_eq!(r.json(), json!([{"id": 3}]));
    // A spread many-to-one: its columns join the parent's.
    let r = shop_get(&t, "/orders?select=id,...customers(customer:name)&order=id&limit=1").await;
    assert_eq!(r.json(), json!([{"id": 10, "customer": "Ada"}]));
    // Ordering by an embedded many-to-one column.
    let r = shop_get(&t, "/orders?select=id,customers(name)&order=customers(name).desc,id").await;
    assert_eq!(ids(&r.json()), [12, 10, 11]);
}

#[tokio::test]
async fn aggregates_only_when_enabled() {
    let (_db, t) = read_app().await;
    shop_get(&t, "/orders?select=total.sum()").await.expect_error(400, "PGRST123");
    let (_db, t) = shop_app(&[("PGRST_DB_AGGREGATES_ENABLED", "true")]).await;
    let r = shop_get(&t, "/orders?select=customer_id,total.sum(),count()&order=customer_id").await;
    assert_eq!(
        r.json(),
        json!([{"customer_id": 1, "sum": 150, "count": 2}, {"customer_id": 2, "sum": 75, "count": 1}])
    );
    let r = shop_get(&t, "/customers?select=name,orders(total.max())&id=eq.1").await;
    assert_eq!(r.json(), json!([{"name": "Ada", "orders": [{"max": 100}]}]));
}

#[tokio::test]
async fn range_headers_and_counts() {
    let (_db, t) = read_app().await;
    let r = t
        .get("/customers?select=id&order=id")
        .header("Accept-Profile", "shop")
        .header("Range", "0-1")
        .prefer("count=exact")
        .send()
        .await;
    r.expect_status(206);
    assert_eq!(r.header("content-range").as_deref(), Some("0-1/3"));
    assert_eq!(ids(&r.json()), [1, 2]);
    let r = t.get("/customers?select=id&order=id").header("Accept-Profile", "shop").header("Range", "1-").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-range").as_deref(), Some("1-2/*"));
    let r = t.get("/customers?offset=5").header("Accept-Profile", "shop").prefer("count=exact").send().await;
    r.expect_error(416, "PGRST103");
    assert_eq!(r.header("content-range").as_deref(), Some("*/3"));
}

#[tokio::test]
async fn singular_csv_and_stripped_nulls() {
    let (_db, t) = read_app().await;
    let one = "application/vnd.pgrst.object+json";
    let r =
        t.get("/customers?select=id,note&id=eq.2").header("Accept-Profile", "shop").header("Accept", one).send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!({"id": 2, "note": "has note"}));
    let r = t.get("/customers").header("Accept-Profile", "shop").header("Accept", one).send().await;
    let body = r.expect_error(406, "PGRST116");
    assert_eq!(body["details"], "The result contains 3 rows");
    let r = t
        .get("/customers?select=id,name&order=id")
        .header("Accept-Profile", "shop")
        .header("Accept", "text/csv")
        .send()
        .await;
    assert_eq!(r.media_type().as_deref(), Some("text/csv"));
    assert_eq!(r.text, "id,name\n1,Ada\n2,Brian\n3,Cleo");
    let stripped = "application/vnd.pgrst.array+json;nulls=stripped";
    let r = t
        .get("/customers?select=id,note&order=id&id=lt.3")
        .header("Accept-Profile", "shop")
        .header("Accept", stripped)
        .send()
        .await;
    assert_eq!(r.json(), json!([{"id": 1}, {"id": 2, "note": "has note"}]));
}

#[tokio::test]
async fn profiles_choose_the_schema() {
    let (_db, t) = read_app().await;
    // The first schema is the default.
    t.get("/tasks").send().await.expect_status(200);
    t.get("/customers").send().await.expect_error(404, "PGRST205");
    let r = shop_get(&t, "/customers?select=id&id=eq.1").await;
    r.expect_status(200);
    assert_eq!(r.header("content-profile").as_deref(), Some("shop"));
    let r = t.get("/customers").header("Accept-Profile", "nope").send().await;
    let body = r.expect_error(406, "PGRST106");
    assert_eq!(body["message"], "Invalid schema: nope");
    assert_eq!(body["hint"], "Only the following schemas are exposed: todo, shop");
}

#[tokio::test]
async fn time_zone_preference() {
    let (_db, t) = read_app().await;
    let r = t
        .get("/orders?select=placed_at&id=eq.10")
        .header("Accept-Profile", "shop")
        .prefer("timezone=America/Sao_Paulo")
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"placed_at": "2024-01-01T09:00:00-03:00"}]));
    let r = t.get("/orders?select=placed_at&id=eq.10").header("Accept-Profile", "shop").send().await;
    assert_eq!(r.json(), json!([{"placed_at": "2024-01-01T12:00:00+00:00"}]));
}

#[tokio::test]
async fn options_lists_the_allowed_methods() {
    let (_db, t) = read_app().await;
    // Like the writes it announces, OPTIONS names its schema with Content-Profile.
    let r = t.options("/customers").header("Content-Profile", "shop").send().await;
    r.expect_status(200);
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"));
}

#[tokio::test]
async fn server_timing_and_explain_when_enabled() {
    let (_db, t) = shop_app(&[("PGRST_SERVER_TIMING_ENABLED", "true"), ("PGRST_DB_PLAN_ENABLED", "true")]).await;
    let r = shop_get(&t, "/customers?id=eq.1").await;
    let timing = r.header("server-timing").unwrap_or_default();
    for stage in ["jwt", "parse", "plan", "transaction", "response"] {
        assert!(timing.contains(stage), "{timing}");
    }
    let r = t
        .get("/customers?id=eq.1")
        .header("Accept-Profile", "shop")
        .header("Accept", "application/vnd.pgrst.plan+json")
        .send()
        .await;
    r.expect_status(200);
    assert!(r.json()[0]["Plan"]["Total Cost"].is_number(), "{}", r.text);
    // PostgreSQL's text as it wrote it: its layout and key order ("Node Type" first), not
    // re-serialised (which sorted the keys and rewrote numbers such as 15.10).
    assert!(r.text.starts_with("[\n  {\n    \"Plan\": {\n      \"Node Type\""), "{}", r.text);
    let at = |key: &str| r.text.find(key).unwrap_or(usize::MAX);
    assert!(at("\"Node Type\"") < at("\"Parallel Aware\""), "{}", r.text);
    // Costs keep PostgreSQL's two decimals (a trailing zero included).
    let cost = r.text.split("\"Total Cost\": ").nth(1).and_then(|rest| rest.split(',').next()).unwrap_or_default();
    assert!(cost.split_once('.').is_some_and(|(_, d)| d.len() == 2), "{cost}: {}", r.text);
}

#[tokio::test]
async fn a_functions_hoisted_settings_apply_to_its_transaction() {
    let (db, t) = read_app().await;
    db.psql(
        "create function todo.isolation() returns text language sql stable
           set default_transaction_isolation = 'serializable'
           as $$ select current_setting('transaction_isolation') $$;
         create function todo.slow() returns int language sql stable
           set statement_timeout = '100ms'
           as $$ select 1 from pg_sleep(2) $$;
         notify pgrst, 'reload schema';",
    );
    let r = poll(std::time::Duration::from_secs(10), "the new functions", || async {
        let r = t.get("/rpc/isolation").send().await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(r.json(), "serializable");
    let started = std::time::Instant::now();
    let r = t.get("/rpc/slow").send().await;
    assert_eq!(r.json()["code"], "57014", "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "the timeout applied");
    // Not hoisted when the setting says so.
    let (db, t) = shop_app(&[("PGRST_DB_HOISTED_TX_SETTINGS", "statement_timeout")]).await;
    db.psql(
        "create function todo.isolation() returns text language sql stable
           set default_transaction_isolation = 'serializable'
           as $$ select current_setting('transaction_isolation') $$;
         notify pgrst, 'reload schema';",
    );
    let r = poll(std::time::Duration::from_secs(10), "the new function", || async {
        let r = t.get("/rpc/isolation").send().await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(r.json(), "read committed");
}

#[tokio::test]
async fn the_trace_header_is_echoed() {
    let (_db, t) = shop_app(&[("PGRST_SERVER_TRACE_HEADER", "X-Request-Id")]).await;
    let r = t.get("/tasks").header("X-Request-Id", "abc-123").send().await;
    r.expect_status(200);
    assert_eq!(r.header("x-request-id").as_deref(), Some("abc-123"));
    // Errors too.
    let r = t.get("/nope").header("X-Request-Id", "abc-124").send().await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("abc-124"));
}

#[tokio::test]
async fn embedded_rows_keep_the_select_lists_key_order() {
    let (_db, t) = read_app().await;
    // json, not jsonb: keys in the order asked for (jsonb would sort them by length).
    let r =
        shop_get(&t, "/customers?select=name,orders(total,id),profiles(bio,customer_id)&id=eq.1&orders.order=id").await;
    r.expect_status(200);
    assert_eq!(
        r.text,
        "[{\"name\":\"Ada\",\"orders\":[{\"total\":100,\"id\":10}, \n {\"total\":50,\"id\":11}],\
         \"profiles\":{\"bio\":\"mathematician\",\"customer_id\":1}}]"
    );
}

#[tokio::test]
async fn openapi_modes_proxy_uri_and_root_spec() {
    let (_db, t) = shop_app(&[("PGRST_OPENAPI_MODE", "disabled")]).await;
    let r = t.get("/").send().await;
    assert_eq!(r.status, 404, "{r:?}");
    let (_db, t) = shop_app(&[
        ("PGRST_OPENAPI_MODE", "ignore-privileges"),
        ("PGRST_OPENAPI_SERVER_PROXY_URI", "https://api.example.com:8443/v1"),
    ])
    .await;
    let doc = t.get("/").send().await.json();
    assert_eq!(doc["host"], "api.example.com:8443");
    assert_eq!(doc["basePath"], "/v1");
    assert_eq!(doc["schemes"], json!(["https"]));
    // ignore-privileges: also what the anonymous role may not read.
    assert!(doc["paths"].get("/tasks").is_some(), "{}", doc["paths"]);
    let db = TestDb::todo();
    db.psql("create function todo.root() returns json language sql stable as $$ select '{\"my\": \"spec\"}'::json $$;");
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_ROOT_SPEC", "root");
    let t = Tusk::start(&env).await;
    let r = t.get("/").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!({"my": "spec"}));
}
