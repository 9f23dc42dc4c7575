//! Reads on a streaming replica, writes on the primary (`db-replica-uris`, docs/replicas.md),
//! against a real primary and a real standby made with `pg_basebackup -R`: where each kind of
//! request runs (the STABLE `in_recovery()` answers `pg_is_in_recovery()` of the server it ran
//! on), `X-Tusk-Primary`, the `tusk_lsn` cookie and `X-Tusk-Lsn` header under a replica delayed
//! with `recovery_min_apply_delay` (the writer's read goes to the primary and sees its write;
//! once the replica has replayed it, back to the replica), `/metrics` per pool, a read whose
//! replica backend is killed retried once on the primary, and a stopped replica costing no 5xx;
//! a read waiting up to `db-replica-wait` for the replica to replay its writer's write; two
//! instances on one database (both reload on `NOTIFY`, a write through one is read through the
//! other with `X-Tusk-Lsn`, exposed to CORS scripts); the primary down: writes 503, reads go on.

mod support;

use std::time::{Duration, Instant};
use support::*;

const SCHEMA: &str = "
create table items(id serial primary key, name text not null);
create view where_am_i as select pg_is_in_recovery() as standby;
create view items_where as select name, pg_is_in_recovery() as standby from items;
create function in_recovery() returns boolean stable language sql as 'select pg_is_in_recovery()';
create function in_recovery_volatile() returns boolean volatile language sql as 'select pg_is_in_recovery()';
create function slow_in_recovery() returns boolean stable language plpgsql
  as $$ begin perform pg_sleep(2); return pg_is_in_recovery(); end $$;
create function add_item(name text) returns int volatile language sql
  as 'insert into items(name) values (add_item.name) returning id';
";

async fn admin_get(port: u16, path: &str) -> String {
    let r = client().get(format!("http://127.0.0.1:{port}{path}")).send().await.expect("the admin server answers");
    r.text().await.unwrap_or_default()
}

/// The value of one sample of `/metrics`.
async fn metric(admin: u16, sample: &str) -> Option<String> {
    let text = admin_get(admin, "/metrics").await;
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).map(str::to_string))
}

async fn wait_replica_healthy(admin: u16, healthy: &str) {
    let want = healthy.to_string();
    poll(Duration::from_secs(30), "replica1's health in /metrics", || {
        let want = want.clone();
        async move { (metric(admin, "tusk_db_pool_healthy{pool=\"replica1\"}").await == Some(want)).then_some(()) }
    })
    .await;
}

/// A primary with [`SCHEMA`] and a streaming standby that has replayed it.
async fn primary_and_standby() -> (TempCluster, TempCluster) {
    let (primary, standby) = tokio::task::spawn_blocking(|| {
        let primary = TempCluster::start().expect("a primary");
        primary.psql(SCHEMA).expect("the schema");
        let standby = primary.start_standby().expect("a streaming standby");
        (primary, standby)
    })
    .await
    .expect("clusters");
    let deadline = Instant::now() + Duration::from_secs(30);
    while standby.psql("select public.in_recovery()").is_err() {
        assert!(Instant::now() < deadline, "the standby never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (primary, standby)
}

/// A tusk on `primary` reading from `standby`, its admin server on `admin`, plus `extra`.
fn replica_env(
    primary: &TempCluster,
    standby: &TempCluster,
    admin: u16,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PGRST_DB_URI".into(), primary.superuser_uri()),
        ("PGRST_DB_SCHEMAS".into(), "public".into()),
        ("PGRST_DB_ANON_ROLE".into(), "postgres".into()),
        ("PGRST_DB_REPLICA_URIS".into(), standby.superuser_uri()),
        ("PGRST_DB_REPLICA_POOL".into(), "4".into()),
        ("PGRST_ADMIN_SERVER_PORT".into(), admin.to_string()),
        ("PGRST_LOG_LEVEL".into(), "info".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Sets the standby's `recovery_min_apply_delay` (each commit applied that late).
fn delay_standby(standby: &TempCluster, delay: &str) {
    standby
        .psql(&format!("alter system set recovery_min_apply_delay = '{delay}'; select pg_reload_conf()"))
        .expect("delaying the standby");
}

#[tokio::test]
async fn two_instances_share_one_database_and_a_read_waits_for_its_writers_write() {
    let (primary, standby) = primary_and_standby().await;
    let (admin_a, admin_b) = (free_port(), free_port());
    // `a` sends a read its replica is not ready for to the primary; `b` waits up to 5 s.
    let a = Tusk::start(&replica_env(&primary, &standby, admin_a, &[])).await;
    let b = Tusk::start(&replica_env(&primary, &standby, admin_b, &[("PGRST_DB_REPLICA_WAIT", "5000")])).await;
    wait_replica_healthy(admin_a, "1").await;
    wait_replica_healthy(admin_b, "1").await;

    // CORS: a script on another origin may read X-Tusk-Lsn, and send it back.
    let r = a.get("/items").header("Origin", "http://app.example").send().await;
    let expose = r.header("access-control-expose-headers").unwrap_or_default();
    assert!(expose.starts_with("Content-Encoding, ") && expose.ends_with(", X-Tusk-Lsn"), "{expose}");
    let r = a
        .options("/items")
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-tusk-lsn")
        .send()
        .await;
    let allow = r.expect_status(200).header("access-control-allow-headers").unwrap_or_default();
    assert!(allow.split(", ").any(|h| h.eq_ignore_ascii_case("x-tusk-lsn")), "{allow}");

    // A schema change and one NOTIFY: both instances serve the new table.
    for t in [&a, &b] {
        t.get("/later").send().await.expect_status(404);
    }
    primary
        .psql("create table later(id int); insert into later values (1); notify pgrst, 'reload schema'")
        .expect("the migration");
    for t in [&a, &b] {
        poll(Duration::from_secs(20), "the new table on both instances", || async move {
            let r = t.get("/later").send().await;
            (r.status == 200 && r.json() == json!([{"id": 1}])).then_some(())
        })
        .await;
    }

    // The replica applies each commit 2 s late. A write through one instance, read through the
    // other with its position: never stale. `b` waits for the replica and reads it there; `a`
    // reads on the primary.
    delay_standby(&standby, "2s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, (writer, reader, on_standby)) in [(&a, &b, true), (&b, &a, false), (&a, &b, true)].into_iter().enumerate() {
        let name = format!("write {i}");
        let r = writer.post("/items").json(&json!({ "name": name })).send().await;
        let lsn = r.expect_status(201).header("x-tusk-lsn").expect("X-Tusk-Lsn");
        // Without its position, the read of the write is stale on the replica…
        assert_eq!(reader.get(&format!("/items?name=eq.{name}")).send().await.json(), json!([]));
        // …with it, never.
        let started = Instant::now();
        let r = reader.get(&format!("/items_where?name=eq.{name}")).header("X-Tusk-Lsn", &lsn).send().await;
        let waited = started.elapsed();
        assert_eq!(r.expect_status(200).json(), json!([{"name": name, "standby": on_standby}]), "after {waited:?}");
        assert!(waited < Duration::from_millis(4900), "{waited:?}");
    }

    // Past the bound: the replica 20 s late, `b` waits 5 s, then reads on the primary.
    delay_standby(&standby, "20s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = a.post("/items").json(&json!({"name": "late"})).send().await;
    let lsn = r.expect_status(201).header("x-tusk-lsn").expect("X-Tusk-Lsn");
    let started = Instant::now();
    let r = b.get("/items_where?name=eq.late").header("Cookie", &format!("tusk_lsn={lsn}")).send().await;
    let waited = started.elapsed();
    assert_eq!(r.expect_status(200).json(), json!([{"name": "late", "standby": false}]));
    assert!(waited >= Duration::from_millis(4900) && waited < Duration::from_secs(15), "{waited:?}");
    // A position no write made (past the primary's): no wait, the primary.
    let started = Instant::now();
    let r = b.get("/rpc/in_recovery").header("X-Tusk-Lsn", "FFFFFFFF/0").send().await;
    assert_eq!(r.expect_status(200).text, "false");
    assert!(started.elapsed() < Duration::from_millis(2000), "{:?}", started.elapsed());
    // A read without a position does not wait.
    let started = Instant::now();
    assert_eq!(b.get("/rpc/in_recovery").send().await.expect_status(200).text, "true");
    assert!(started.elapsed() < Duration::from_millis(2000), "{:?}", started.elapsed());
    standby.psql("alter system reset recovery_min_apply_delay; select pg_reload_conf()").expect("undelaying");
}

#[tokio::test]
async fn the_primary_down_writes_get_503_and_reads_go_on_on_the_replica() {
    let (mut primary, standby) = primary_and_standby().await;
    let admin = free_port();
    let t = Tusk::start(&replica_env(&primary, &standby, admin, &[])).await;
    wait_replica_healthy(admin, "1").await;
    let r = t.post("/items").json(&json!({"name": "before"})).send().await;
    let lsn = r.expect_status(201).header("x-tusk-lsn").expect("X-Tusk-Lsn");
    assert_eq!(metric(admin, "tusk_db_pool_healthy{pool=\"primary\"}").await.as_deref(), Some("1"));
    let (t, lsn) = (&t, &lsn);
    poll(Duration::from_secs(20), "the replica to replay the write", || async move {
        (t.get("/rpc/in_recovery").header("X-Tusk-Lsn", lsn).send().await.text == "true").then_some(())
    })
    .await;

    let primary = tokio::task::spawn_blocking(move || {
        primary.stop();
        primary
    })
    .await
    .expect("stopping the primary");
    // Writes: 503, as without replicas.
    for _ in 0..3 {
        let r = t.post("/items").json(&json!({"name": "during"})).send().await;
        assert_eq!(r.status, 503, "{r:?}");
    }
    let r = t.get("/rpc/in_recovery").header("X-Tusk-Primary", "1").send().await;
    assert_eq!(r.status, 503, "{r:?}");
    // Reads: the replica, also the writer's (the replica has replayed its write).
    for _ in 0..5 {
        assert_eq!(t.get("/rpc/in_recovery").send().await.expect_status(200).text, "true");
        let r = t.get("/items_where?select=name").header("X-Tusk-Lsn", lsn).send().await;
        assert_eq!(r.expect_status(200).json(), json!([{"name": "before"}]));
    }
    poll(Duration::from_secs(10), "the primary reported down", || async move {
        (metric(admin, "tusk_db_pool_healthy{pool=\"primary\"}").await.as_deref() == Some("0")).then_some(())
    })
    .await;
    assert_eq!(metric(admin, "tusk_db_pool_healthy{pool=\"replica1\"}").await.as_deref(), Some("1"));
    assert_eq!(t.get("/where_am_i").send().await.expect_status(200).json(), json!([{"standby": true}]));
    drop(primary);
}

#[tokio::test]
async fn reads_on_the_replica_writes_on_the_primary_and_the_writer_reads_its_writes() {
    let (primary, mut standby) = primary_and_standby().await;
    let admin = free_port();
    let env: Vec<(String, String)> = vec![
        ("PGRST_DB_URI".into(), primary.superuser_uri()),
        ("PGRST_DB_SCHEMAS".into(), "public".into()),
        ("PGRST_DB_ANON_ROLE".into(), "postgres".into()),
        ("PGRST_DB_REPLICA_URIS".into(), standby.superuser_uri()),
        ("PGRST_DB_REPLICA_POOL".into(), "4".into()),
        ("PGRST_DB_TX_END".into(), "commit-allow-override".into()),
        ("PGRST_ADMIN_SERVER_PORT".into(), admin.to_string()),
        ("PGRST_LOG_LEVEL".into(), "info".into()),
    ];
    let t = Tusk::start(&env).await;
    wait_replica_healthy(admin, "1").await;

    // Reads of tables and views, and STABLE functions: the replica.
    assert_eq!(t.get("/rpc/in_recovery").send().await.expect_status(200).text, "true");
    assert_eq!(t.get("/where_am_i").send().await.expect_status(200).json(), json!([{"standby": true}]));
    assert_eq!(t.head("/where_am_i").send().await.status, 200);
    // Asked for the primary: the primary.
    let r = t.get("/rpc/in_recovery").header("X-Tusk-Primary", "1").send().await;
    assert_eq!(r.expect_status(200).text, "false");
    // VOLATILE functions: the primary, by GET or POST.
    assert_eq!(t.get("/rpc/in_recovery_volatile").send().await.expect_status(200).text, "false");
    assert_eq!(t.post("/rpc/in_recovery_volatile").json(&json!({})).send().await.expect_status(200).text, "false");
    // tx=rollback: the primary (the request may write).
    let r = t.get("/rpc/in_recovery").prefer("tx=rollback").send().await;
    assert_eq!(r.expect_status(200).text, "false", "{r:?}");
    // A read carrying garbage for a position: the primary, no error.
    let r = t.get("/rpc/in_recovery").header("X-Tusk-Lsn", "not/an-lsn").send().await;
    assert_eq!(r.expect_status(200).text, "false");

    // Writes: the primary, which hands back its WAL position as a header and a cookie.
    let r = t.post("/items").json(&json!({"name": "first"})).send().await;
    r.expect_status(201);
    let lsn = r.header("x-tusk-lsn").expect("X-Tusk-Lsn on a write");
    let cookie = r.header_all("set-cookie").into_iter().find(|c| c.starts_with("tusk_lsn=")).expect("the cookie");
    assert_eq!(cookie, format!("tusk_lsn={lsn}; Path=/; HttpOnly; SameSite=Lax"));
    assert_eq!(t.post("/rpc/add_item").json(&json!({"name": "by rpc"})).send().await.status, 200);
    // Reads hand back no position.
    assert!(t.get("/items").send().await.header("x-tusk-lsn").is_none());

    // The replica delayed: it applies each commit 3 s late.
    standby
        .psql("alter system set recovery_min_apply_delay = '3s'; select pg_reload_conf()")
        .expect("delaying the standby");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = t.post("/items").json(&json!({"name": "fresh"})).send().await;
    r.expect_status(201);
    let lsn = r.header("x-tusk-lsn").expect("X-Tusk-Lsn");
    let cookie = format!("tusk_lsn={lsn}");
    // Without the position the read is stale (the replica has not applied the write yet)…
    let stale = t.get("/items?name=eq.fresh").send().await;
    assert_eq!(stale.expect_status(200).json(), json!([]), "the delay makes the replica stale");
    // …with it (cookie or header) the read goes to the primary and sees the write.
    let r = t.get("/items?name=eq.fresh&select=name").header("Cookie", &cookie).send().await;
    assert_eq!(r.expect_status(200).json(), json!([{"name": "fresh"}]));
    let r = t.get("/items?name=eq.fresh&select=name").header("X-Tusk-Lsn", &lsn).send().await;
    assert_eq!(r.expect_status(200).json(), json!([{"name": "fresh"}]));
    assert_eq!(t.get("/rpc/in_recovery").header("Cookie", &cookie).send().await.text, "false");
    // Once the replica has replayed the write, the same reader goes back to it.
    let t = &t;
    let cookie = &cookie;
    poll(Duration::from_secs(20), "the replica to replay the write", || async move {
        (t.get("/rpc/in_recovery").header("Cookie", cookie).send().await.text == "true").then_some(())
    })
    .await;
    let r = t.get("/items?name=eq.fresh&select=name").header("Cookie", cookie).send().await;
    assert_eq!(r.expect_status(200).json(), json!([{"name": "fresh"}]));
    standby.psql("alter system reset recovery_min_apply_delay; select pg_reload_conf()").expect("undelaying");

    // /metrics: per pool, requests, health, lag and connections in use.
    let metrics = admin_get(admin, "/metrics").await;
    for needle in [
        "# TYPE tusk_db_pool_requests_total counter",
        "tusk_db_pool_healthy{pool=\"primary\"} 1",
        "tusk_db_pool_healthy{pool=\"replica1\"} 1",
        "tusk_db_pool_lag_bytes{pool=\"replica1\"} ",
        "tusk_db_pool_in_use{pool=\"primary\"} ",
        "tusk_db_pool_in_use{pool=\"replica1\"} ",
    ] {
        assert!(metrics.contains(needle), "{needle:?} missing from:\n{metrics}");
    }
    let count = |pool: &str| -> u64 {
        let sample = format!("tusk_db_pool_requests_total{{pool=\"{pool}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&sample)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    assert!(count("replica1") >= 5 && count("primary") >= 8, "{metrics}");

    // The replica's connection killed under a running read: retried once, on the primary
    // (the only other server), and answered 200.
    let slow = tokio::spawn({
        let req = t.get("/rpc/slow_in_recovery");
        async move { req.send().await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = standby
        .psql("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'tusk' and query like '%slow_in_recovery%'")
        .expect("terminating the read's backend");
    assert_eq!(killed.trim(), "1", "the read was running on the replica");
    let r = slow.await.expect("the slow read");
    assert_eq!((r.status, r.text.as_str()), (200, "false"), "{r:?}\n{}", t.output.text());
    assert!(t.output.text().contains("replica1 failed, the read is retried elsewhere"), "{}", t.output.text());

    // The replica stopped: reads are served by the primary, without a 5xx, also the first
    // ones (whose pooled replica connections are dead).
    tokio::task::spawn_blocking(move || {
        standby.stop();
        standby
    })
    .await
    .expect("stopping the standby");
    for _ in 0..10 {
        let r = t.get("/rpc/in_recovery").send().await;
        assert_eq!(r.status, 200, "{r:?}\n{}", t.output.text());
        assert_eq!(r.text, "false");
        t.get("/items").send().await.expect_status(200);
    }
    wait_replica_healthy(admin, "0").await;
    assert_eq!(t.get("/where_am_i").send().await.expect_status(200).json(), json!([{"standby": false}]));
}
