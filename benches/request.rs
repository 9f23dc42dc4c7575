//! The CPU work tusk does for one request, without the database: auth (the JWT cache's hit
//! path) → parse → plan → render the transaction's SQL → build the response from a canned
//! database answer. One benchmark per workload of `../shared/perf` (W1–W6), against a schema
//! cache of the perf dataset (`api.authors`, `api.books`, `api.tasks`) built from JSON, as
//! `src/query/tests.rs` builds its own: no database, no network.
//!
//! `cargo bench --bench request` measures; `cargo test` (and so `scripts/test`) runs each
//! benchmark once, in criterion's test mode, only so that they cannot rot.
//! docs/performance.md quotes the medians.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::collections::BTreeMap;
use std::hint::black_box;
use tusk::auth::{self, JwtCache};
use tusk::config::Config;
use tusk::http::RawRequest;
use tusk::query::DbResult;
use tusk::schema_cache::SchemaCache;
use tusk::{api_request, plan, query, response};

/// The perf dataset's schema (`../shared/perf/sql/schema.sql`), as the catalog query reads it.
const SCHEMA: &str = r#"{
  "tables": [
   {"schema":"api","name":"authors","kind":"r","description":null,"pk":["id"],"uniques":[["id"]],
    "insertable":true,"updatable":true,"deletable":true,"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"name","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"email","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"country","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"born","type":"date","nullable":true,"default":null,"generated":false},
    {"name":"created_at","type":"timestamp with time zone","nullable":false,"default":"now()","generated":false}]},
   {"schema":"api","name":"books","kind":"r","description":null,"pk":["id"],"uniques":[["id"]],
    "insertable":true,"updatable":true,"deletable":true,"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"author_id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"title","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"price","type":"numeric","nullable":false,"default":null,"generated":false},
    {"name":"pages","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"published","type":"date","nullable":false,"default":null,"generated":false},
    {"name":"in_stock","type":"boolean","nullable":false,"default":"true","generated":false},
    {"name":"metadata","type":"jsonb","nullable":false,"default":"'{}'::jsonb","generated":false},
    {"name":"created_at","type":"timestamp with time zone","nullable":false,"default":"now()","generated":false}]},
   {"schema":"api","name":"tasks","kind":"r","description":null,"pk":["id"],"uniques":[["id"]],
    "insertable":true,"updatable":true,"deletable":true,"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"owner","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"title","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"done","type":"boolean","nullable":false,"default":"false","generated":false},
    {"name":"priority","type":"smallint","nullable":false,"default":"3","generated":false},
    {"name":"due","type":"date","nullable":true,"default":null,"generated":false},
    {"name":"created_at","type":"timestamp with time zone","nullable":false,"default":"now()","generated":false}]}],
  "foreign_keys": [
    {"name":"books_author_id_fkey","schema":"api","table":"books","columns":["author_id"],
     "foreign_schema":"api","foreign_table":"authors","foreign_columns":["id"]}],
  "routines": []
}"#;

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

const W4_BODY: &str = r#"{"author_id":5,"title":"Perf insert","price":12.5,"pages":200,"published":"1949-06-08","in_stock":true,"metadata":{"genre":"perf","tags":["bench"]}}"#;

/// A small JSON answer (one book), as PostgreSQL builds it.
const ONE_BOOK: &str = r#"[{"id":4242,"author_id":1,"title":"The Last River","price":42.41,"pages":100,"published":"1999-01-01","in_stock":true,"metadata":{"genre":"novel"},"created_at":"2020-01-01T00:00:00+00:00"}]"#;

fn config() -> Config {
    let env: BTreeMap<String, String> =
        [("PGRST_DB_SCHEMAS", "api"), ("PGRST_DB_ANON_ROLE", "anon"), ("PGRST_JWT_SECRET", SECRET)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    Config::from_sources(None, &env).expect("config")
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> RawRequest {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    RawRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        // What curl and wrk send besides the workload's own headers.
        headers: [("host", "127.0.0.1:3000"), ("user-agent", "wrk"), ("accept", "*/*")]
            .iter()
            .chain(headers)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into(),
        body: Bytes::from(body.to_string()),
    }
}

/// One request through everything but the database: what `app::handle` does on the CPU.
fn one(config: &Config, cache: &SchemaCache, jwt: &JwtCache, req: &RawRequest, answer: &DbResult) -> usize {
    let credential = auth::Credential::of(config, req);
    let who = auth::authenticate_cached(config, Some(jwt), credential, auth::now()).expect("auth");
    let mut api = api_request::parse(config, req).expect("parse");
    api.role = who.role.clone();
    let plan = plan::plan(config, cache, &api).expect("plan");
    let tx = query::transaction(config, &api, &who, &plan).expect("render").expect("asks the database");
    let response = response::build(config, cache, &api, &plan, answer.clone()).expect("response");
    tx.main.sql.len() + tx.settings.sql.len() + response.body.len()
}

fn workloads(c: &mut Criterion) {
    let config = config();
    let cache = SchemaCache::from_json(SCHEMA).expect("schema");
    let jwt = JwtCache::new(1000);
    let token = auth::sign_token(&config, &serde_json::json!({"role": "app_user", "sub": "user_7"})).expect("token");
    let bearer = format!("Bearer {token}");
    let big: String = std::iter::repeat_n(ONE_BOOK.trim_matches(['[', ']']), 5000).collect::<Vec<_>>().join(",");
    let answer =
        |body: String, rows: i64| DbResult { body: Bytes::from(body), page_total: rows, ..DbResult::default() };
    let cases = [
        ("W1 row by PK", request("GET", "/books?id=eq.4242", &[], ""), answer(ONE_BOOK.into(), 1)),
        (
            "W2 50-row page",
            request("GET", "/books?author_id=eq.77&order=published.desc&limit=50", &[], ""),
            answer(ONE_BOOK.repeat(50), 50),
        ),
        (
            "W3 embed",
            request("GET", "/authors?select=id,name,books(id,title)&limit=20", &[], ""),
            answer(ONE_BOOK.repeat(20), 20),
        ),
        (
            "W4 insert + return",
            request(
                "POST",
                "/books",
                &[
                    ("content-type", "application/json"),
                    ("prefer", "return=representation"),
                    ("authorization", &bearer),
                ],
                W4_BODY,
            ),
            answer(ONE_BOOK.into(), 1),
        ),
        (
            "W5 RLS with JWT",
            request("GET", "/tasks?limit=20", &[("authorization", &bearer)], ""),
            answer(ONE_BOOK.repeat(20), 20),
        ),
        ("W6 5000 rows", request("GET", "/books?limit=5000", &[], ""), answer(format!("[{big}]"), 5000)),
    ];
    let mut group = c.benchmark_group("request");
    for (name, req, answer) in &cases {
        // Every case must go through (a failing one would time an error path).
        assert!(one(&config, &cache, &jwt, req, answer) > 0, "{name}");
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                || req.clone(),
                |req| black_box(one(&config, &cache, &jwt, req, answer)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, workloads);
criterion_main!(benches);
