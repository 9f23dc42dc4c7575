//! Tests that need a PostgreSQL extension or library that is not part of PostgreSQL itself:
//! PostGIS (`postgresql-15-postgis-3`) and contrib/safeupdate (built from this repository).
//! `scripts/test` and `.ci/run` install both, so there they always run.
//!
//! A test whose prerequisite is missing is reported as ignored, with the reason printed as
//! `SKIPPED <test>: <why>` on standard output, never as a pass. That needs deciding at run time,
//! which the built-in harness cannot, so this file runs under libtest-mimic (`harness = false`
//! in Cargo.toml); the usual filters (`cargo test --test optional safeupdate`) still work.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use support::*;

fn main() {
    let args = Arguments::from_args();
    let tests = vec![
        optional("geojson_with_postgis", postgis_missing, geojson_with_postgis),
        optional("safeupdate_refuses_unfiltered_updates_and_deletes", safeupdate_missing, safeupdate),
    ];
    libtest_mimic::run(&args, tests).exit();
}

/// A trial that runs `body` on a tokio runtime, or is ignored when `missing` names a missing
/// prerequisite (checked only when the test is selected to run).
fn optional(name: &'static str, missing: fn() -> Option<String>, body: fn() -> Test) -> Trial {
    let listing = std::env::args().any(|a| a == "--list");
    let why = if listing { None } else { missing() };
    let ignored = why.is_some();
    if let Some(why) = why {
        println!("SKIPPED {name}: {why}");
    }
    Trial::test(name, move || {
        let rt = tokio::runtime::Runtime::new().map_err(|e| Failed::from(e.to_string()))?;
        rt.block_on(body());
        Ok(())
    })
    .with_ignored_flag(ignored)
}

type Test = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

fn postgis_missing() -> Option<String> {
    let available = cluster()
        .psql("select count(*) from pg_available_extensions where name = 'postgis'")
        .map(|out| out.trim() == "1")
        .unwrap_or(false);
    (!available).then(|| "PostGIS is not installed (apt-get install postgresql-15-postgis-3)".to_string())
}

fn safeupdate_missing() -> Option<String> {
    let db = TestDb::empty();
    cluster()
        .psql_db(&db.name, "load 'safeupdate'")
        .err()
        .map(|e| format!("the safeupdate library is not installed (make -C contrib/safeupdate install): {e}"))
}

/// GeoJSON output (`Accept: application/geo+json`) of a table with a PostGIS geometry column.
fn geojson_with_postgis() -> Test {
    Box::pin(async {
        let db = TestDb::todo();
        db.psql(
            "create extension if not exists postgis;
             create table todo.places (id int primary key, name text, geom geometry(Point, 4326));
             insert into todo.places values (1, 'home', 'SRID=4326;POINT(1 2)');
             grant select on todo.places to web_anon;",
        );
        let t = Tusk::start(&db.seed_env()).await;
        let r = t.get("/places").header("Accept", "application/geo+json").send().await;
        r.expect_status(200);
        assert_eq!(r.media_type().as_deref(), Some("application/geo+json"));
        let doc = r.json();
        assert_eq!(doc["type"], "FeatureCollection");
        assert_eq!(doc["features"][0]["geometry"], json!({"type": "Point", "coordinates": [1, 2]}));
        assert_eq!(doc["features"][0]["properties"], json!({"id": 1, "name": "home"}));
    })
}

/// With contrib/safeupdate loaded by a pre-request function (as PostgREST's docs suggest for
/// pg-safeupdate), an UPDATE or DELETE without a filter is a 400 with SQLSTATE 21000 and nothing
/// changes.
fn safeupdate() -> Test {
    Box::pin(async {
        let db = TestDb::todo();
        db.psql(
            "create function todo.load_safeupdate() returns void language plpgsql security definer
               as $$ begin load 'safeupdate'; end $$;
             grant execute on function todo.load_safeupdate() to web_anon, todo_user;",
        );
        let mut env = db.seed_env();
        set_env(&mut env, "PGRST_DB_PRE_REQUEST", "todo.load_safeupdate");
        let t = Tusk::start(&env).await;
        let before = db.tasks();
        let body =
            t.patch("/tasks").bearer(SEED_TOKEN).json(&json!({"done": true})).send().await.expect_error(400, "21000");
        assert_eq!(
            body,
            json!({"code": "21000", "message": "UPDATE requires a WHERE clause", "details": null, "hint": null})
        );
        let body = t.delete("/tasks").bearer(SEED_TOKEN).send().await.expect_error(400, "21000");
        assert_eq!(body["message"], json!("DELETE requires a WHERE clause"));
        assert_eq!(db.tasks(), before);
        // With a filter it goes through (on a task of todo_user's own: row-level security).
        t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "mine"})).send().await.expect_status(201);
        t.patch("/tasks?name=eq.mine").bearer(SEED_TOKEN).json(&json!({"done": true})).send().await.expect_status(204);
        assert!(db.tasks().iter().any(|(_, name, done, _)| name == "mine" && *done));
    })
}
