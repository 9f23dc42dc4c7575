//! Losing the database and getting it back; reloading the schema cache without a restart.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

#[tokio::test]
async fn database_outage_gives_503_and_tusk_recovers() {
    // This test stops its cluster, so it gets a cluster of its own.
    let mut pg = tokio::task::spawn_blocking(|| TempCluster::start().expect("starting a cluster")).await.expect("join");
    pg.psql(&backend_sql()).expect("loading backend.sql");
    let env = seed_env(&pg.uri("postgrest", "mysecretpassword", "postgres"));
    let t = Tusk::start(&env).await;
    t.get("/tasks").send().await.expect_status(200);

    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .expect("join");

    // Every request gets an answer (the client timeout catches hangs) and it is a 503 with a
    // PGRST00x code (connection errors), whatever the request.
    for _ in 0..3 {
        let requests = [
            t.get("/tasks"),
            t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "while down"})),
            t.get("/rpc/homepage").header("Accept", "text/html"),
        ];
        for req in requests {
            let r = tokio::time::timeout(Duration::from_secs(15), req.send())
                .await
                .expect("a request while the database is down must not hang");
            r.expect_status(503);
            let body = r.json();
            assert_error_shape(&body, &r);
            let code = body["code"].as_str().unwrap_or_default();
            assert!(code.starts_with("PGRST00"), "{r:#?}");
        }
    }

    let pg = tokio::task::spawn_blocking(move || {
        pg.restart().expect("restarting the cluster");
        pg
    })
    .await
    .expect("join");

    // Recovery: requests succeed again without restarting tusk.
    let t = &t;
    poll(Duration::from_secs(60), "tusk to reconnect", || async move {
        let r = t.get("/tasks").send().await;
        (r.status == 200).then_some(())
    })
    .await;
    let r = t.get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "after the outage"})).send().await.expect_status(201);
    assert_eq!(pg.psql("select count(*) from todo.tasks").expect("psql").trim(), "3");
    drop(pg);
}

#[tokio::test]
async fn tusk_started_before_the_database_serves_once_it_is_up() {
    let mut pg = tokio::task::spawn_blocking(|| TempCluster::start().expect("starting a cluster")).await.expect("join");
    pg.psql(&backend_sql()).expect("loading backend.sql");
    pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .expect("join");

    let env = seed_env(&pg.uri("postgrest", "mysecretpassword", "postgres"));
    let port = free_port();
    let t = Tusk::spawn(&env, port);
    // While the database is down tusk keeps running and answers 503.
    let tref = &t;
    let r =
        poll(Duration::from_secs(30), "tusk to answer", || async move { tref.client_get_raw("/tasks").await }).await;
    r.expect_status(503);

    let pg = tokio::task::spawn_blocking(move || {
        pg.restart().expect("starting the cluster");
        pg
    })
    .await
    .expect("join");
    poll(Duration::from_secs(60), "tusk to connect", || async move {
        let r = tref.get("/tasks").send().await;
        (r.status == 200).then_some(())
    })
    .await;
    drop(t);
    drop(pg);
}

/// A fresh todo database with tusk running on it.
async fn app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    (db, t)
}

const NEW_OBJECTS_SQL: &str = "
create table todo.notes (id int primary key, body text);
insert into todo.notes values (1, 'hello');
grant select on todo.notes to web_anon;
create function todo.answer() returns int language sql as $$ select 42 $$;
";

async fn assert_new_objects_missing(t: &Tusk) {
    t.get("/notes").send().await.expect_error(404, "PGRST205");
    t.get("/rpc/answer").send().await.expect_error(404, "PGRST202");
}

async fn assert_new_objects_served_soon(t: &Tusk) {
    poll(Duration::from_secs(20), "the new table to be served", || async move {
        let r = t.get("/notes").send().await;
        (r.status == 200).then_some(())
    })
    .await;
    let r = t.get("/notes").send().await;
    assert_eq!(r.json(), json!([{"id": 1, "body": "hello"}]));
    poll(Duration::from_secs(20), "the new function to be served", || async move {
        let r = t.get("/rpc/answer").send().await;
        (r.status == 200).then_some(())
    })
    .await;
    assert_eq!(t.get("/rpc/answer").send().await.json(), json!(42));
}

#[tokio::test]
async fn notify_pgrst_reloads_the_schema_cache() {
    let (db, t) = app().await;
    db.psql(NEW_OBJECTS_SQL);
    assert_new_objects_missing(&t).await;
    db.psql("notify pgrst, 'reload schema'");
    assert_new_objects_served_soon(&t).await;
    // The old objects are still there.
    t.get("/tasks").send().await.expect_status(200);
}

#[tokio::test]
async fn sigusr1_reloads_the_schema_cache() {
    let (db, t) = app().await;
    db.psql(NEW_OBJECTS_SQL);
    assert_new_objects_missing(&t).await;
    let status = Command::new("kill").args(["-USR1", &t.pid().to_string()]).status().expect("kill -USR1");
    assert!(status.success());
    assert_new_objects_served_soon(&t).await;
    let mut t = t;
    assert!(t.is_running(), "SIGUSR1 must not stop tusk");
}

#[tokio::test]
async fn a_dropped_table_disappears_after_reload() {
    let (db, t) = app().await;
    db.psql(NEW_OBJECTS_SQL);
    db.psql("notify pgrst, 'reload schema'");
    assert_new_objects_served_soon(&t).await;
    db.psql("drop table todo.notes; notify pgrst, 'reload schema'");
    let tref = &t;
    poll(Duration::from_secs(20), "the dropped table to be gone", || async move {
        // Until the reload lands, the stale cache sends the query and PostgreSQL answers
        // 42P01 (also a 404); after it, the table is unknown to the cache: PGRST205.
        let r = tref.get("/notes").send().await;
        (r.status == 404 && r.text.contains("PGRST205")).then_some(())
    })
    .await;
    t.get("/notes").send().await.expect_error(404, "PGRST205");
}

/// The admin server (admin-server-port): /live while the process runs, /ready only while the
/// database answers.
#[tokio::test]
async fn admin_server_reports_live_and_ready() {
    let mut pg = tokio::task::spawn_blocking(|| TempCluster::start().expect("starting a cluster")).await.expect("join");
    pg.psql(&backend_sql()).expect("loading backend.sql");
    let admin_port = free_port();
    let mut env = seed_env(&pg.uri("postgrest", "mysecretpassword", "postgres"));
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t = Tusk::start(&env).await;
    let admin = |path: &str| format!("http://127.0.0.1:{admin_port}{path}");
    let status = |url: String| async move {
        tokio::time::timeout(REQUEST_TIMEOUT, client().get(url).send())
            .await
            .expect("the admin server must answer")
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(status(admin("/live")).await, 200);
    assert_eq!(status(admin("/ready")).await, 200);

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .expect("join");
    assert_eq!(status(admin("/live")).await, 200);
    assert_eq!(status(admin("/ready")).await, 503);
    drop(t);
    drop(pg);
}

/// A log pipe whose reader went away (`tusk | head`, a crashed log shipper) costs the log lines,
/// never the server: writing the request line to a closed stdout must not panic a worker.
#[tokio::test]
async fn a_closed_stdout_does_not_take_the_server_down() {
    let db = TestDb::todo();
    let port = free_port();
    let mut cmd = tusk_command();
    cmd.env("PGRST_SERVER_HOST", "127.0.0.1").env("PGRST_SERVER_PORT", port.to_string()).env("PGRST_LOG_LEVEL", "info");
    for (k, v) in db.seed_env() {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawning tusk");
    // Close the read end at once: every later write to stdout gets EPIPE.
    drop(child.stdout.take());
    let url = format!("http://127.0.0.1:{port}/tasks");
    let client = client();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut answered = 0;
    while answered < 20 && std::time::Instant::now() < deadline {
        assert!(matches!(child.try_wait(), Ok(None)), "tusk exited after a write to a closed stdout");
        if let Ok(r) = client.get(&url).timeout(Duration::from_secs(5)).send().await {
            if r.status() == 200 {
                answered += 1;
                continue;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    assert!(running, "tusk exited after a write to a closed stdout");
    assert_eq!(answered, 20, "tusk stopped answering after its stdout closed");
}
