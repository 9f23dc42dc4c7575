//! Faults on the database side: a client that goes away mid-query, a request role's
//! `statement_timeout`, a request the driver cannot encode, and PostgreSQL restarting under load.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

use support::*;

/// `todo.nap(seconds)`: sleeps, callable by both request roles.
fn add_nap(db: &TestDb) {
    db.psql(
        "create function todo.nap(seconds float8) returns int language sql as 'select 1 from pg_sleep(seconds)';
         grant execute on function todo.nap(float8) to web_anon, todo_user;
         notify pgrst, 'reload schema';",
    );
}

/// How many statements of this database's requests run `nap` right now.
fn naps_running(db: &TestDb) -> i64 {
    let sql = format!(
        "select count(*) from pg_stat_activity where datname = '{}' and state = 'active' \
         and query like '%\"nap\"%' and pid <> pg_backend_pid()",
        db.name
    );
    db.psql(&sql).trim().parse().unwrap_or(-1)
}

async fn app_with_nap() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    add_nap(&db);
    let t = Tusk::start(&db.seed_env()).await;
    let t_ref = &t;
    poll(Duration::from_secs(10), "nap in the schema cache", || async move {
        let r = t_ref.get("/rpc/nap?seconds=0").send().await;
        (r.status == 200).then_some(())
    })
    .await;
    (db, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_has_its_query_cancelled() {
    let (db, t) = app_with_nap().await;
    // As todo_user (statement_timeout 10 s): only the disconnect may end the statement.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await.expect("connect");
    let request = format!("GET /rpc/nap?seconds=30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SEED_TOKEN}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let started = Instant::now();
    let db_ref = &db;
    poll(Duration::from_secs(5), "the statement to run", || async move { (naps_running(db_ref) == 1).then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_millis(500).saturating_sub(started.elapsed())).await;
    drop(stream);
    let gone = Instant::now();
    let deadline = gone + Duration::from_secs(5);
    while naps_running(&db) != 0 {
        assert!(Instant::now() < deadline, "the statement still runs 5 s after the client left");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = gone.elapsed();
    eprintln!("the statement of a disconnected client ended {} ms after the client left", took.as_millis());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The connection went back to the pool healthy: requests keep working, none stays in a
    // transaction.
    t.get("/tasks").send().await.expect_status(200);
    t.get("/rpc/nap?seconds=0").bearer(SEED_TOKEN).send().await.expect_status(200);
    let idle_in_tx = db.psql(&format!(
        "select count(*) from pg_stat_activity where datname = '{}' and state like 'idle in transaction%'",
        db.name
    ));
    assert_eq!(idle_in_tx.trim(), "0");
}

#[tokio::test]
async fn the_request_roles_statement_timeout_applies_and_reloads_with_the_config() {
    let (db, t) = app_with_nap().await;
    // backend.sql: web_anon may run 3 s.
    let started = Instant::now();
    let r = t.get("/rpc/nap?seconds=5").send().await;
    let took = started.elapsed();
    r.expect_error(500, "57014");
    assert!(took >= Duration::from_millis(2900) && took < Duration::from_millis(4500), "took {took:?}");
    // The anonymous role's setting is not todo_user's (10 s).
    t.get("/rpc/nap?seconds=3.5").bearer(SEED_TOKEN).send().await.expect_status(200);

    // A setting for this database wins over the role's own, once the configuration is reloaded.
    db.psql(&format!("alter role web_anon in database {} set statement_timeout = '500ms'", db.name));
    db.psql("notify pgrst, 'reload config'");
    let t_ref = &t;
    let took = poll(Duration::from_secs(10), "the role settings to reload", || async move {
        let started = Instant::now();
        let r = t_ref.get("/rpc/nap?seconds=1.5").send().await;
        (r.status == 500).then(|| started.elapsed())
    })
    .await;
    assert!(took < Duration::from_millis(1400), "took {took:?}");
    db.psql(&format!("alter role web_anon in database {} reset statement_timeout", db.name));
}

#[tokio::test]
async fn a_value_the_driver_cannot_encode_is_no_outage() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let loads = |t: &Tusk| t.output.text().matches("Schema cache loaded").count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = loads(&t);
    for path in ["/tasks?na%00me=eq.a", "/tasks?select=na%00me", "/tasks?order=na%00me"] {
        let r = t.get(path).send().await;
        assert_eq!(r.status / 100, 4, "{path}: {r:#?}");
        assert_error_shape(&r.json(), &r);
    }
    // A NUL in a bound value is PostgreSQL's to refuse (22021), also a 400.
    t.get("/tasks?name=eq.a%00b").send().await.expect_status(400);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(loads(&t), before, "no schema cache reload:\n{}", t.output.text());
    t.get("/tasks").send().await.expect_status(200);
}

/// What one request of the load saw.
struct Seen {
    started: Instant,
    status: u16,
    /// For a 503: a `Retry-After` and a JSON error body.
    well_formed: bool,
}

/// Restarts PostgreSQL under load, alternating fast and immediate shutdowns: only 200, 503 or
/// 504; service back within 1 s of each restart; no connection left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarts_under_load() {
    const CYCLES: usize = 10;
    const CLIENTS: usize = 4;
    let pg = tokio::task::spawn_blocking(|| TempCluster::start().expect("starting a cluster")).await.expect("join");
    pg.psql(&backend_sql()).expect("loading backend.sql");
    let env = seed_env(&pg.uri("postgrest", "mysecretpassword", "postgres"));
    let t = Tusk::start(&env).await;
    t.get("/tasks").send().await.expect_status(200);

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (seen, stop, url) = (seen.clone(), stop.clone(), t.url("/tasks"));
        clients.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let r = http.get(&url).timeout(Duration::from_secs(15)).send().await;
                let seen_now = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry_after = r.headers().contains_key("retry-after");
                        let body = r.text().await.unwrap_or_default();
                        let json = serde_json::from_str::<Value>(&body).is_ok_and(|v| v["code"].is_string());
                        Seen { started, status, well_formed: status != 503 || retry_after && json }
                    }
                    // No answer at all (the client's timeout, a reset): recorded as 0.
                    Err(_) => Seen { started, status: 0, well_formed: false },
                };
                seen.lock().expect("lock").push(seen_now);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    let mut pg = pg;
    let mut recoveries = Vec::new();
    for cycle in 0..CYCLES {
        let mode = if cycle % 2 == 0 { "fast" } else { "immediate" };
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg = tokio::task::spawn_blocking(move || {
            pg.stop_mode(mode).expect("stopping");
            std::thread::sleep(Duration::from_millis(200));
            pg.restart().expect("starting again");
            pg
        })
        .await
        .expect("join");
        let up = Instant::now();
        let deadline = up + Duration::from_secs(10);
        let back = loop {
            let first_ok = seen.lock().expect("lock").iter().filter(|s| s.started >= up && s.status == 200).count() > 0;
            if first_ok {
                break up.elapsed();
            }
            assert!(Instant::now() < deadline, "no 200 within 10 s of restart {cycle} ({mode})");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        recoveries.push((mode, back));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }

    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    let count = |f: &dyn Fn(&Seen) -> bool| seen.iter().filter(|s| f(s)).count();
    eprintln!(
        "{} requests: {} × 200, {} × 503, {} × 504; recovery after each restart (ms): {:?}",
        seen.len(),
        count(&|s| s.status == 200),
        count(&|s| s.status == 503),
        count(&|s| s.status == 504),
        recoveries.iter().map(|(m, d)| format!("{m} {}", d.as_millis())).collect::<Vec<_>>()
    );
    let unexpected: Vec<u16> = seen.iter().map(|s| s.status).filter(|s| ![200, 503, 504].contains(s)).collect();
    assert!(unexpected.is_empty(), "statuses other than 200/503/504: {unexpected:?}\n{}", t.output.text());
    assert_eq!(count(&|s| !s.well_formed), 0, "503s without Retry-After or a JSON error body");
    let slowest = recoveries.iter().map(|(_, d)| *d).max().unwrap_or_default();
    assert!(slowest < Duration::from_secs(1), "service came back only after {slowest:?}: {recoveries:?}");

    // No connection leaked: at most the pool's size (db-pool's default, 10), none left inside
    // a transaction.
    let backends = |filter: &str| {
        pg.psql(&format!(
            "select count(*) from pg_stat_activity where usename = 'postgrest' and application_name = 'tusk' {filter}"
        ))
        .expect("psql")
        .trim()
        .parse::<usize>()
        .expect("a count")
    };
    let open = backends("");
    eprintln!("authenticator connections after the load: {open} (pool size 10)");
    assert!(open <= 10, "{open} connections for a pool of 10");
    assert_eq!(backends("and state like 'idle in transaction%'"), 0);
    t.get("/tasks").send().await.expect_status(200);
}
