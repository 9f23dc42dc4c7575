//! Operations: in-database configuration (`ALTER ROLE … SET pgrst.*`, `db-pre-config`),
//! reloading the configuration without a restart (`NOTIFY pgrst, 'reload config'`, SIGUSR2),
//! the admin server's `/metrics`, `/schema_cache` and `/config`, and the JWT cache.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::*;

/// A second exposed schema, `api`, with one table readable by the anonymous role.
const API_SCHEMA_SQL: &str = "
create schema api;
create table api.things (id int primary key, name text);
insert into api.things values (1, 'one'), (2, 'two');
grant usage on schema api to web_anon;
grant select on api.things to web_anon;
";

static ROLE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A login role of its own for one test (the authenticator whose settings the test changes),
/// so that `ALTER ROLE … SET` for all databases does not reach the other tests. Returns the
/// role name and the seed's environment pointing at `db` through that role.
fn own_authenticator(db: &TestDb) -> (String, Vec<(String, String)>) {
    let role = format!("ops_auth_{}_{}", std::process::id(), ROLE_COUNTER.fetch_add(1, Ordering::Relaxed));
    db.psql(&format!("create role {role} login noinherit password 'pw'; grant web_anon, todo_user to {role};"));
    let env = seed_env(&cluster().uri(&role, "pw", &db.name));
    (role, env)
}

async fn admin_get(port: u16, path: &str) -> (u16, String, Option<String>) {
    let r = client().get(format!("http://127.0.0.1:{port}{path}")).send().await.expect("the admin server answers");
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    (status, r.text().await.unwrap_or_default(), ct)
}

async fn wait_for_status(t: &Tusk, path: &str, status: u16, what: &str) {
    poll(Duration::from_secs(20), what, || async move { (t.get(path).send().await.status == status).then_some(()) })
        .await;
}

#[tokio::test]
async fn role_settings_are_read_at_start_and_after_notify_reload_config() {
    let db = TestDb::todo();
    db.psql(API_SCHEMA_SQL);
    let (role, env) = own_authenticator(&db);
    // For all databases, and (winning) for this one.
    db.psql(&format!("alter role {role} set pgrst.db_schemas = 'todo'"));
    db.psql(&format!("alter role {role} in database {} set pgrst.db_schemas = 'api'", db.name));
    // A setting tusk does not read from the database stays as file/env say.
    db.psql(&format!("alter role {role} in database {} set pgrst.server_port = '1'", db.name));
    let t = Tusk::start(&env).await;
    t.get("/things").send().await.expect_status(200);
    t.get("/tasks").send().await.expect_error(404, "PGRST205");

    db.psql(&format!("alter role {role} in database {} reset pgrst.db_schemas", db.name));
    // Without a reload nothing changes.
    t.get("/things").send().await.expect_status(200);
    db.psql("notify pgrst, 'reload config'");
    wait_for_status(&t, "/tasks", 200, "the all-databases setting to apply").await;
    t.get("/things").send().await.expect_error(404, "PGRST205");
}

#[tokio::test]
async fn db_config_false_ignores_the_role_settings() {
    let db = TestDb::todo();
    db.psql(API_SCHEMA_SQL);
    let (role, mut env) = own_authenticator(&db);
    db.psql(&format!("alter role {role} in database {} set pgrst.db_schemas = 'api'", db.name));
    set_env(&mut env, "PGRST_DB_CONFIG", "false");
    let t = Tusk::start(&env).await;
    t.get("/tasks").send().await.expect_status(200);
    t.get("/things").send().await.expect_error(404, "PGRST205");
}

#[tokio::test]
async fn db_pre_config_function_configures_tusk() {
    let db = TestDb::todo();
    db.psql(API_SCHEMA_SQL);
    db.psql(
        "create schema postgrest;
         grant usage on schema postgrest to postgrest;
         create function postgrest.pre_config() returns void language sql as $$
           select set_config('pgrst.db_schemas', 'api, todo', true),
                  set_config('pgrst.db_max_rows', '1', true);
         $$;",
    );
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_PRE_CONFIG", "postgrest.pre_config");
    let t = Tusk::start(&env).await;
    assert_eq!(t.get("/things").send().await.json(), json!([{"id": 1, "name": "one"}]));
    let r = t.get("/tasks").header("Accept-Profile", "todo").send().await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1), "{r:?}");

    // The function is called again on a reload.
    db.psql(
        "create or replace function postgrest.pre_config() returns void language sql as $$
           select set_config('pgrst.db_schemas', 'api', true);
         $$;
         notify pgrst, 'reload config';",
    );
    let tref = &t;
    poll(Duration::from_secs(20), "the new pre-config to apply", || async move {
        (tref.get("/things").send().await.json().as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sigusr2_reloads_the_config_and_a_bad_one_is_refused() {
    let db = TestDb::todo();
    let (role, env) = own_authenticator(&db);
    let t = Tusk::start(&env).await;
    let old_token = role_token("todo_user");
    t.get("/tasks").bearer(&old_token).send().await.expect_status(200);

    // A new secret, applied live.
    let new_secret = "a-brand-new-secret-that-is-long-enough";
    db.psql(&format!("alter role {role} in database {} set pgrst.jwt_secret = '{new_secret}'", db.name));
    let status = Command::new("kill").args(["-USR2", &t.pid().to_string()]).status().expect("kill -USR2");
    assert!(status.success());
    let new_token = jwt_with(new_secret, &json!({"role": "todo_user", "exp": now() + 300}));
    let tref = &t;
    let nt = &new_token;
    poll(Duration::from_secs(20), "the new secret to apply", || async move {
        (tref.get("/tasks").bearer(nt).send().await.status == 200).then_some(())
    })
    .await;
    // The cached old token is not accepted any more.
    t.get("/tasks").bearer(&old_token).send().await.expect_error(401, "PGRST301");

    // A secret that is too short is refused; the previous configuration stays.
    db.psql(&format!("alter role {role} in database {} set pgrst.jwt_secret = 'short'", db.name));
    db.psql("notify pgrst, 'reload config'");
    let out = &t.output;
    poll(Duration::from_secs(20), "the refusal to be logged", || async move {
        out.text().contains("Failed reloading the configuration").then_some(())
    })
    .await;
    t.get("/tasks").bearer(&new_token).send().await.expect_status(200);
    let mut t = t;
    assert!(t.is_running());
}

#[tokio::test]
async fn admin_server_serves_metrics_schema_cache_and_config() {
    let db = TestDb::todo();
    let admin_port = free_port();
    let mut env = db.seed_env();
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t = Tusk::start(&env).await;
    let r = client().get(t.url("/tasks")).send().await.expect("the API answers");
    let server = r.headers().get("server").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    assert_eq!(server, Some(format!("tusk/{}", env!("CARGO_PKG_VERSION"))), "like PostgREST's postgrest/<version>");
    t.get("/tasks").bearer(&role_token("todo_user")).send().await.expect_status(200);

    let (status, metrics, ct) = admin_get(admin_port, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"), "as PostgREST: no version= parameter");
    for needle in [
        "# TYPE pgrst_schema_cache_loads_total counter",
        "pgrst_schema_cache_loads_total{status=\"SUCCESS\"} 1\n",
        "pgrst_schema_cache_query_time_seconds ",
        "pgrst_db_pool_max 10\n",
        "pgrst_db_pool_available ",
        "pgrst_db_pool_waiting 0\n",
        "pgrst_db_pool_timeouts_total 0\n",
        "pgrst_jwt_cache_requests_total 1\n",
        "pgrst_jwt_cache_hits_total 0\n",
    ] {
        assert!(metrics.contains(needle), "{needle:?} missing from:\n{metrics}");
    }

    let (status, body, ct) = admin_get(admin_port, "/schema_cache").await;
    assert_eq!(status, 200);
    assert!(ct.unwrap_or_default().starts_with("application/json"));
    let cache: Value = serde_json::from_str(&body).expect("/schema_cache is JSON");
    assert!(body.contains("\"tasks\""), "{cache}");

    let (status, config, _) = admin_get(admin_port, "/config").await;
    assert_eq!(status, 200);
    assert!(config.contains("db-schemas = \"todo\"\n"), "{config}");
    assert!(config.contains("db-anon-role = \"web_anon\"\n"), "{config}");
    assert!(!config.contains("mysecretpassword") && !config.contains(SECRET), "secrets leak:\n{config}");

    let (status, _, _) = admin_get(admin_port, "/nothing").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_jwt_cache_never_accepts_an_expired_token() {
    let db = TestDb::todo();
    let admin_port = free_port();
    let mut env = db.seed_env();
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t = Tusk::start(&env).await;
    // Expired 27 s ago: still inside PostgREST's 30 s clock skew for a few seconds.
    let exp = now() - 27;
    let token = jwt(&json!({"role": "todo_user", "exp": exp}));
    t.get("/tasks").bearer(&token).send().await.expect_status(200);
    t.get("/tasks").bearer(&token).send().await.expect_status(200);
    let (_, metrics, _) = admin_get(admin_port, "/metrics").await;
    assert!(metrics.contains("pgrst_jwt_cache_hits_total 1\n"), "{metrics}");
    while now() <= exp + 30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = t.get("/tasks").bearer(&token).send().await.expect_error(401, "PGRST303");
    assert_eq!(body["message"], json!("JWT expired"));
}

#[tokio::test]
async fn dump_config_includes_the_in_database_settings() {
    let db = TestDb::todo();
    let (role, env) = own_authenticator(&db);
    db.psql(&format!("alter role {role} in database {} set pgrst.db_schemas = 'api'", db.name));
    let dump = move |extra: &[(&str, &str)]| {
        let mut cmd = tusk_command();
        cmd.arg("--dump-config").envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(extra.iter().copied());
        cmd.output().expect("running tusk --dump-config")
    };
    let o = tokio::task::spawn_blocking(move || (dump(&[]), dump(&[("PGRST_DB_CONFIG", "false")])));
    let (with_db, without_db) = o.await.expect("join");
    assert!(with_db.status.success(), "{with_db:?}");
    assert!(String::from_utf8_lossy(&with_db.stdout).contains("db-schemas = \"api\"\n"), "{with_db:?}");
    assert!(String::from_utf8_lossy(&without_db.stdout).contains("db-schemas = \"todo\"\n"), "{without_db:?}");

    // Unreachable database: a clear error, not a guess.
    let mut cmd = tusk_command();
    cmd.arg("--dump-config").env("PGRST_DB_URI", "postgresql://nobody@127.0.0.1:1/nothing");
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("running tusk")).await.expect("join");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("db-config = false"), "{o:?}");
}

/// A reload reads the config file again: a changed db-channel moves the LISTEN, a changed
/// setting applies live, a changed db-pool needs a restart (logged, not applied).
#[tokio::test]
async fn reload_config_rereads_the_file_and_moves_the_channel() {
    let db = TestDb::todo();
    db.psql("insert into todo.tasks (name) values ('three')");
    let dir = std::env::temp_dir().join(format!("tusk-ops-reload-{}-{}", std::process::id(), db.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("tusk.conf");
    let write = |max_rows: u32, channel: &str, extra: &str| {
        std::fs::write(&file, format!("db-max-rows = {max_rows}\ndb-channel = \"{channel}\"\n{extra}"))
            .expect("writing the config file");
    };
    write(1, "chan_a", "");
    let path = file.to_string_lossy().into_owned();
    let t = Tusk::start_with_args(&db.seed_env(), &[&path]).await;
    let rows = |t: &Tusk| {
        let req = t.get("/tasks");
        async move { req.send().await.json().as_array().map(Vec::len) }
    };
    assert_eq!(rows(&t).await, Some(1));

    write(2, "chan_b", "db-pool = 3\n");
    db.psql("notify chan_a, 'reload config'");
    let tref = &t;
    poll(Duration::from_secs(20), "db-max-rows = 2", || async move { (rows(tref).await == Some(2)).then_some(()) })
        .await;
    assert!(t.output.text().contains("db-pool changed; restart tusk to apply it"), "{}", t.output.text());
    let out = &t.output;
    poll(Duration::from_secs(20), "the listener to move to chan_b", || async move {
        out.text().contains("Listening for notifications on the chan_b channel").then_some(())
    })
    .await;

    write(3, "chan_b", "");
    db.psql("notify chan_a, 'reload config'");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows(&t).await, Some(2), "chan_a is not listened to any more");
    db.psql("notify chan_b, 'reload config'");
    poll(Duration::from_secs(20), "db-max-rows = 3", || async move { (rows(tref).await == Some(3)).then_some(()) })
        .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn prepared_statements_per_connection_are_bounded() {
    let db = TestDb::todo();
    db.psql(
        "create function todo.prepared_here() returns bigint language sql volatile as
           $$ select count(*) from pg_prepared_statements $$;",
    );
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_POOL", "1");
    let t = Tusk::start(&env).await;
    // Each LIMIT is written into the SQL: every request is a statement new to the connection.
    let cap = tusk::db::MAX_PREPARED_PER_CONNECTION;
    for limit in 1..=(cap + 50) {
        t.get(&format!("/tasks?limit={limit}")).send().await.expect_status(200);
    }
    let r = t.post("/rpc/prepared_here").send().await;
    r.expect_status(200);
    let held = r.json().as_u64().expect("a count");
    assert!(held > 0, "statements are prepared at all");
    // The settings statement and a few others ride along with the main statements.
    assert!(held <= cap as u64 + 5, "{held} statements prepared on one connection");
}

#[tokio::test]
async fn idle_connections_are_closed_after_db_pool_max_idletime() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_POOL_MAX_IDLETIME", "1");
    let t = Tusk::start(&env).await;
    let pooled = || {
        db.query_lines(
            "select count(*) from pg_stat_activity
              where datname = current_database() and application_name = 'tusk' and pid <> pg_backend_pid()",
        )
        .join("")
    };
    t.get("/tasks").send().await.expect_status(200);
    assert_ne!(pooled(), "0", "a pooled connection after a request");
    poll(std::time::Duration::from_secs(10), "the idle connection to be closed", || async {
        (pooled() == "0").then_some(())
    })
    .await;
    // The next request opens a new one.
    t.get("/tasks").send().await.expect_status(200);
}

/// A connection that carried a large response keeps the buffers it grew to (the driver never
/// shrinks them). It stays pooled while that is within a connection's share (a message up to
/// 4 MiB) and the pool's budget, so that an API serving 1-2 MB pages does not pay a new
/// connection (fork, SCRAM, statements prepared again) per page; a larger response closes its
/// connection.
#[tokio::test]
async fn connections_after_large_responses_stay_pooled_within_the_budget() {
    let db = TestDb::todo();
    db.psql(
        "create function todo.padded(n int) returns json language sql as
           $$ select json_build_object('pid', pg_backend_pid(), 'pad', repeat('x', n)) $$;
         grant execute on function todo.padded(int) to web_anon;",
    );
    let admin_port = free_port();
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_POOL", "1");
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t = Tusk::start(&env).await;
    let pid = |n: usize| {
        let t = &t;
        async move {
            let r = t.get(&format!("/rpc/padded?n={n}")).send().await;
            r.expect_status(200);
            let body = r.json();
            assert_eq!(body["pad"].as_str().map(str::len), Some(n));
            body["pid"].as_i64().expect("a backend pid")
        }
    };
    let retained = || async {
        let (_, metrics, _) = admin_get(admin_port, "/metrics").await;
        let line = metrics.lines().find(|l| l.starts_with("tusk_db_retained_bytes ")).map(str::to_owned);
        line.and_then(|l| l.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok())).expect("the gauge")
    };
    let first = pid(2_000_000).await;
    assert!(retained().await > 4_000_000, "a 2 MB response is accounted, twice");
    for _ in 0..3 {
        assert_eq!(pid(2_000_000).await, first, "2 MB responses keep their connection");
    }
    assert_eq!(pid(10).await, first, "and so does a small one after them");
    // Over a connection's share: closed after the response, the next request gets a new one.
    assert_eq!(pid(5_000_000).await, first);
    assert_eq!(retained().await, 0, "the closed connection is no longer accounted");
    assert_ne!(pid(10).await, first, "the connection that carried 5 MB was closed");
}

/// The schema cache is read in one snapshot, on two connections when the pool has a second
/// one free (one statement each), else on one (also when the snapshot cannot be exported).
/// Either way both halves arrive (relations from the first statement, functions from the
/// second), and no request gets a connection still inside that read: each answers in a
/// transaction of its own, and none is left open.
#[tokio::test]
async fn the_schema_cache_read_leaves_no_connection_in_its_transaction() {
    let db = TestDb::todo();
    db.psql(
        "create function todo.session_state() returns json language sql volatile as
           $$ select json_build_object('pid', pg_backend_pid(),
                'isolation', current_setting('transaction_isolation'),
                'read_only', current_setting('transaction_read_only')) $$;
         grant execute on function todo.session_state() to web_anon;",
    );
    for (case, (pool, export)) in [("1", true), ("10", true), ("10", false)].into_iter().enumerate() {
        if !export {
            db.psql("revoke execute on function pg_export_snapshot() from public");
        }
        let mut env = db.seed_env();
        set_env(&mut env, "PGRST_DB_POOL", pool);
        set_env(&mut env, "PGRST_LOG_LEVEL", "debug");
        let t = Tusk::start(&env).await;
        for reload in [false, true] {
            let what = format!("pool {pool}, export {export}, reload {reload}");
            if reload {
                let probe = format!("probe_{case}");
                db.psql(&format!(
                    "create function todo.{probe}() returns int language sql as $$ select 1 $$;
                     grant execute on function todo.{probe}() to web_anon;
                     notify pgrst, 'reload schema';"
                ));
                let path = format!("/rpc/{probe}");
                poll(Duration::from_secs(20), "the reloaded schema cache", || async {
                    (t.get(&path).send().await.status == 200).then_some(())
                })
                .await;
            }
            t.get("/tasks").send().await.expect_status(200);
            // More requests at once than the load used connections: each of those is taken.
            let calls =
                (0..8).map(|_| async { t.post("/rpc/session_state").json(&serde_json::json!({})).send().await });
            let mut pids = std::collections::HashSet::new();
            for r in futures_util::future::join_all(calls).await {
                r.expect_status(200);
                let state = r.json();
                assert_eq!(state["isolation"], "read committed", "{what}: {state}");
                assert_eq!(state["read_only"], "off", "{what}: {state}");
                pids.insert(state["pid"].as_i64().expect("a pid"));
            }
            assert!(pool == "1" || pids.len() >= 2, "{what}: {pids:?}");
            let open = db.query_lines(&format!(
                "select count(*) from pg_stat_activity where datname = '{}' and state like 'idle in transaction%'",
                db.name
            ));
            assert_eq!(open, ["0"], "{what}: a connection was left in a transaction");
        }
        let log = t.output.text();
        let alone = log.contains("the snapshot cannot be exported");
        assert_eq!(alone, !export, "pool {pool}, export {export}:\n{log}");
        let shared = log.contains("on 2 connection(s)");
        assert_eq!(shared, pool == "10" && export, "pool {pool}, export {export}:\n{log}");
        // The connections the first load takes were opened while the configuration was read.
        let warmed = if pool == "10" { "2 of 2 pool connection(s) opened" } else { "1 of 1 pool connection(s) opened" };
        assert!(log.contains(warmed), "pool {pool}: {warmed:?} missing:\n{log}");
    }
}

/// One HTTP/1.1 request over a unix socket; the whole raw response.
async fn unix_get(path: &std::path::Path, target: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(path).await.ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await.ok()?;
    Some(out)
}

#[tokio::test]
async fn serves_on_a_unix_socket_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::todo();
    let dir = std::env::temp_dir().join(format!("tusk-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("tusk.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_SERVER_UNIX_SOCKET", socket.to_str().expect("utf-8 path"));
    set_env(&mut env, "PGRST_SERVER_UNIX_SOCKET_MODE", "600");
    let _t = Tusk::spawn(&env, free_port());
    let response = poll(std::time::Duration::from_secs(20), "tusk on the unix socket", || async {
        unix_get(&socket, "/tasks?select=name&order=id").await.filter(|r| r.starts_with("HTTP/1.1 200"))
    })
    .await;
    assert!(response.ends_with("[{\"name\":\"finish tutorial 0\"}, \n {\"name\":\"pat self on back\"}]"), "{response}");
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A bad mode is refused with a one-line error.
    let out = tusk_command()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PGRST_SERVER_UNIX_SOCKET_MODE", "999")
        .output()
        .expect("run tusk");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server-unix-socket-mode"), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
