//! Live updates (`Accept: text/event-stream`, docs/live.md) against a real server and
//! database: snapshots on subscribing and after changes, filters, row-level security with two
//! users and anonymous, token expiry, a PostgreSQL restart, the subscription cap and a reader
//! that never reads.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::AsyncWriteExt;

/// One event of a stream.
#[derive(Debug)]
struct Event {
    id: Option<u64>,
    kind: String,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// An open event stream.
struct Sse {
    resp: reqwest::Response,
    buf: String,
    ended: bool,
}

impl Sse {
    async fn open(t: &Tusk, path: &str, token: Option<&str>) -> Sse {
        let resp = Sse::request(t, path, token).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert_eq!(ct, "text/event-stream");
        assert_eq!(resp.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-cache"));
        Sse { resp, buf: String::new(), ended: false }
    }

    async fn request(t: &Tusk, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut rb = client().get(t.url(path)).header("Accept", "text/event-stream");
        if let Some(token) = token {
            rb = rb.bearer_auth(token);
        }
        tokio::time::timeout(Duration::from_secs(10), rb.send()).await.expect("answered in time").expect("request")
    }

    /// The next event (comments and `retry:` skipped) within `within`; `None` if none came or
    /// the stream ended.
    async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut ev = Event { id: None, kind: String::new(), data: String::new() };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.kind = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        if !ev.data.is_empty() {
                            ev.data.push('\n');
                        }
                        ev.data.push_str(v);
                    }
                }
                if !ev.kind.is_empty() {
                    return Some(ev);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => self.ended = true,
            }
        }
    }

    /// The next event, which must be a snapshot.
    async fn snapshot(&mut self, within: Duration, what: &str) -> Value {
        let ev = self.next(within).await.unwrap_or_else(|| panic!("no snapshot within {within:?}: {what}"));
        assert_eq!(ev.kind, "snapshot", "{what}: {ev:?}");
        assert!(ev.id.is_some(), "{ev:?}");
        ev.json()
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array().expect("an array").iter().map(|r| r["name"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_the_read_then_each_change_within_a_second() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let path = "/tasks?select=id,name&done=eq.false&order=id";
    let get = t.get(path).send().await;
    get.expect_status(200);
    let mut sse = Sse::open(&t, path, None).await;
    let first = sse.snapshot(Duration::from_secs(5), "the initial snapshot").await;
    assert_eq!(first, get.json(), "the first event is what the GET answers");
    assert_eq!(first[0].as_object().map(|o| o.len()), Some(2), "select applies: {first}");

    // Another client inserts: the new row arrives within a second.
    let started = Instant::now();
    let r = t
        .post("/tasks")
        .bearer(SEED_TOKEN)
        .prefer("return=representation")
        .json(&json!({"name": "live one"}))
        .send()
        .await;
    r.expect_status(201);
    let id = r.json()[0]["id"].as_i64().expect("id");
    let after_insert = sse.snapshot(Duration::from_secs(1), "after an insert").await;
    assert!(names(&after_insert).contains(&"live one".to_string()), "{after_insert}");
    eprintln!("insert to event: {:?}", started.elapsed());

    // A change the filter hides sends nothing.
    t.post("/tasks")
        .bearer(SEED_TOKEN)
        .json(&json!({"name": "done already", "done": true}))
        .send()
        .await
        .expect_status(201);
    let quiet = sse.next(Duration::from_millis(700)).await;
    assert!(quiet.is_none(), "a change outside the filter sent {quiet:?}");

    // An update that makes the row leave the filter, then a delete.
    t.patch(&format!("/tasks?id=eq.{id}"))
        .bearer(SEED_TOKEN)
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .expect_status(204);
    let renamed = sse.snapshot(Duration::from_secs(1), "after an update").await;
    assert!(names(&renamed).contains(&"renamed".to_string()), "{renamed}");
    t.delete(&format!("/tasks?id=eq.{id}")).bearer(SEED_TOKEN).send().await.expect_status(204);
    let deleted = sse.snapshot(Duration::from_secs(1), "after a delete").await;
    assert_eq!(deleted, first, "back to the first result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_is_refused_where_it_is_no_read() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    for (method, path) in [("POST", "/tasks"), ("GET", "/rpc/homepage"), ("GET", "/"), ("DELETE", "/tasks?id=eq.1")] {
        let r = t
            .req(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), path)
            .bearer(SEED_TOKEN)
            .header("Accept", "text/event-stream")
            .json(&json!({"name": "x"}))
            .send()
            .await;
        r.expect_error(406, "PGRST107");
    }
    // A bad read is the read's error, before any stream.
    let r = t.get("/tasks?select=nope").header("Accept", "text/event-stream").send().await;
    r.expect_error(400, "42703");
    // HEAD: the headers only.
    let r = t.head("/tasks").header("Accept", "text/event-stream").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("text/event-stream"));
}

/// A test-only table whose rows only their owner can see, with the change trigger, and a
/// second user role.
fn add_private_notes(db: &TestDb) {
    db.psql(
        "do $$ begin create role live_other nologin; exception when duplicate_object then null; end $$;
         grant live_other to postgrest;
         grant usage on schema todo to live_other;
         create table todo.notes (id serial primary key, owner name not null default current_user, body text);
         alter table todo.notes enable row level security;
         create policy notes_own on todo.notes for select using (owner = current_user);
         create policy notes_insert on todo.notes for insert with check (owner = current_user);
         grant select on todo.notes to web_anon;
         grant select, insert on todo.notes to todo_user, live_other;
         grant usage on sequence todo.notes_id_seq to todo_user, live_other;
         create trigger live_changes after insert or update or delete or truncate on todo.notes
           for each statement execute function tusk.notify_change();
         insert into todo.notes (owner, body) values ('todo_user', 'mine');
         notify pgrst, 'reload schema';",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_holds_for_every_event() {
    let db = TestDb::todo();
    add_private_notes(&db);
    let t = Tusk::start(&db.seed_env()).await;
    let other = role_token("live_other");
    let t_ref = &t;
    poll(Duration::from_secs(10), "notes in the schema cache", || async move {
        (t_ref.get("/notes").send().await.status == 200).then_some(())
    })
    .await;
    let path = "/notes?select=body,owner&order=id";
    let mut user = Sse::open(&t, path, Some(SEED_TOKEN)).await;
    let mut second = Sse::open(&t, path, Some(&other)).await;
    let mut anon = Sse::open(&t, path, None).await;
    assert_eq!(
        user.snapshot(Duration::from_secs(5), "todo_user").await,
        json!([{"body": "mine", "owner": "todo_user"}])
    );
    assert_eq!(second.snapshot(Duration::from_secs(5), "live_other").await, json!([]));
    assert_eq!(anon.snapshot(Duration::from_secs(5), "anonymous").await, json!([]));

    // live_other writes a row only it can see: only it hears of it.
    t.post("/notes").bearer(&other).json(&json!({"body": "secret"})).send().await.expect_status(201);
    let seen = second.snapshot(Duration::from_secs(1), "the writer").await;
    assert_eq!(seen, json!([{"body": "secret", "owner": "live_other"}]));
    for (who, sse) in [("todo_user", &mut user), ("anonymous", &mut anon)] {
        let ev = sse.next(Duration::from_millis(800)).await;
        assert!(ev.is_none(), "{who} learnt of a hidden change: {ev:?}");
    }
    // The streams are alive: todo_user's own change reaches todo_user only.
    t.post("/notes").bearer(SEED_TOKEN).json(&json!({"body": "mine too"})).send().await.expect_status(201);
    let mine = user.snapshot(Duration::from_secs(1), "todo_user's own change").await;
    assert_eq!(mine.as_array().map(Vec::len), Some(2), "{mine}");
    assert!(second.next(Duration::from_millis(500)).await.is_none());
    assert!(anon.next(Duration::from_millis(100)).await.is_none());
}

/// docs/live.md: there is no replay, and none is needed: a client that reconnects with
/// `Last-Event-ID` (as `EventSource` does by itself) after changes were made while it was away
/// gets, as its first event, a fresh snapshot that has them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_gets_the_changes_made_while_away() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let path = "/tasks?select=id,name,done&order=id";
    let mut sse = Sse::open(&t, path, None).await;
    let before = sse.next(Duration::from_secs(5)).await.expect("the initial snapshot");
    assert_eq!(before.kind, "snapshot", "{before:?}");
    let last_id = before.id.expect("events carry an id");
    drop(sse); // the connection drops

    // Meanwhile: an insert, an update, and an insert deleted again.
    let add = |name: &'static str| {
        t.post("/tasks").bearer(SEED_TOKEN).prefer("return=representation").json(&json!({"name": name})).send()
    };
    let kept = add("made while away").await;
    kept.expect_status(201);
    let kept_id = kept.json()[0]["id"].as_i64().expect("id");
    t.patch(&format!("/tasks?id=eq.{kept_id}"))
        .bearer(SEED_TOKEN)
        .json(&json!({"done": true}))
        .send()
        .await
        .expect_status(204);
    let gone = add("added and deleted while away").await;
    let gone_id = gone.json()[0]["id"].as_i64().expect("id");
    t.delete(&format!("/tasks?id=eq.{gone_id}")).bearer(SEED_TOKEN).send().await.expect_status(204);

    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client()
            .get(t.url(path))
            .header("Accept", "text/event-stream")
            .header("Last-Event-ID", last_id.to_string())
            .send(),
    )
    .await
    .expect("answered in time")
    .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let mut sse = Sse { resp, buf: String::new(), ended: false };
    let after = sse.snapshot(Duration::from_secs(5), "the snapshot after reconnecting").await;
    assert_eq!(after, t.get(path).send().await.json(), "the whole state as it is now");
    let row = after.as_array().and_then(|rows| rows.iter().find(|r| r["id"] == json!(kept_id))).cloned();
    assert_eq!(row, Some(json!({"id": kept_id, "name": "made while away", "done": true})), "{after}");
    assert!(!names(&after).contains(&"added and deleted while away".to_string()), "{after}");
    assert_ne!(after, before.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_ends_when_the_token_expires() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let token = jwt(&json!({"role": "todo_user", "exp": now() + 3}));
    let mut sse = Sse::open(&t, "/tasks", Some(&token)).await;
    sse.snapshot(Duration::from_secs(5), "initial").await;
    let ev = sse.next(Duration::from_secs(6)).await.expect("an event at expiry");
    assert_eq!(ev.kind, "expired", "{ev:?}");
    assert!(sse.next(Duration::from_secs(3)).await.is_none());
    assert!(sse.ended, "the stream ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_cap_refuses_more_and_a_leaver_frees_its_place() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    env.push(("PGRST_SERVER_MAX_SUBSCRIPTIONS".into(), "2".into()));
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), free_port().to_string()));
    let t = Tusk::start(&env).await;
    let mut a = Sse::open(&t, "/tasks", None).await;
    let mut b = Sse::open(&t, "/tasks?order=id", None).await;
    a.snapshot(Duration::from_secs(5), "a").await;
    b.snapshot(Duration::from_secs(5), "b").await;
    let third = Sse::request(&t, "/tasks", None).await;
    assert_eq!(third.status().as_u16(), 503);
    let body: Value = third.json().await.expect("JSON");
    assert_eq!(body["code"], "TUSK503", "{body}");
    drop(a);
    let t_ref = &t;
    poll(Duration::from_secs(5), "the place of a subscriber that left", || async move {
        let r = Sse::request(t_ref, "/tasks", None).await;
        (r.status().as_u16() == 200).then_some(r)
    })
    .await;
}

/// Restarts PostgreSQL (own cluster): the stream stays open and the next change arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_survives_a_postgres_restart() {
    let pg = tokio::task::spawn_blocking(|| TempCluster::start().expect("starting a cluster")).await.expect("join");
    pg.psql(&backend_sql()).expect("loading backend.sql");
    let t = Tusk::start(&seed_env(&pg.uri("postgrest", "mysecretpassword", "postgres"))).await;
    let mut sse = Sse::open(&t, "/tasks?select=name&order=id", None).await;
    let first = sse.snapshot(Duration::from_secs(5), "initial").await;
    let mut pg = pg;
    pg = tokio::task::spawn_blocking(move || {
        pg.stop_mode("fast").expect("stopping");
        std::thread::sleep(Duration::from_millis(300));
        pg.restart().expect("starting again");
        pg
    })
    .await
    .expect("join");
    // A change made while tusk may not be listening yet is not lost: the reconnection re-runs
    // every subscription.
    pg.psql("insert into todo.tasks (name) values ('after the restart')").expect("insert");
    let ev = sse.snapshot(Duration::from_secs(10), "after the restart").await;
    assert_ne!(ev, first);
    assert!(names(&ev).contains(&"after the restart".to_string()), "{ev}");
    pg.psql("insert into todo.tasks (name) values ('and another')").expect("insert");
    let ev = sse.snapshot(Duration::from_secs(2), "the next change").await;
    assert!(names(&ev).contains(&"and another".to_string()), "{ev}");
}

/// A schema reload (`NOTIFY pgrst, 'reload schema'`, here with a new column) keeps the stream:
/// the next change still arrives, read through the new schema cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_survives_a_schema_reload() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let mut sse = Sse::open(&t, "/tasks?select=name&order=id", None).await;
    let first = sse.snapshot(Duration::from_secs(5), "initial").await;
    db.psql("alter table todo.tasks add column note text; notify pgrst, 'reload schema';");
    // The reload re-runs the subscription: an identical result sends nothing, a different one
    // (none here) would. Wait until the new column is served, so the reload has happened.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = t.get("/tasks?select=note&limit=1").send().await;
        if r.status == 200 || Instant::now() > deadline {
            r.expect_status(200);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.psql("insert into todo.tasks (name) values ('after the reload')");
    let ev = sse.snapshot(Duration::from_secs(2), "after the reload").await;
    assert_ne!(ev, first);
    assert!(names(&ev).contains(&"after the reload".to_string()), "{ev}");
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A subscriber that never reads while 1 MB snapshots are made: tusk's memory stays bounded
/// (one pending snapshot), and once its connection stalls past the idle timeout it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_costs_bounded_memory_and_is_dropped() {
    let db = TestDb::todo();
    db.psql(
        "create table todo.blobs (id int primary key, body text);
         grant select on todo.blobs to web_anon;
         create trigger live_changes after insert or update or delete or truncate on todo.blobs
           for each statement execute function tusk.notify_change();
         insert into todo.blobs values (1, repeat('x', 1000000));
         notify pgrst, 'reload schema';",
    );
    let mut env = db.seed_env();
    env.push(("PGRST_SERVER_MAX_SUBSCRIPTIONS".into(), "1".into()));
    env.push(("PGRST_SERVER_IDLE_TIMEOUT".into(), "3".into()));
    let t = Tusk::start(&env).await;
    let t_ref = &t;
    poll(Duration::from_secs(10), "blobs in the schema cache", || async move {
        (t_ref.get("/blobs?select=id").send().await.status == 200).then_some(())
    })
    .await;
    let mut stuck = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await.expect("connect");
    let request = "GET /blobs HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    stuck.write_all(request.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kb(t.pid());
    let mut peak = before;
    for i in 0..40 {
        db.psql(&format!("update todo.blobs set body = repeat('{}', 1000000)", (b'a' + (i % 26) as u8) as char));
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kb(t.pid()));
    }
    eprintln!("RSS before {before} kB, peak {peak} kB over 40 snapshots of 1 MB");
    assert!(peak < before + 60_000, "RSS grew from {before} kB to {peak} kB");
    // The stalled connection is closed after the idle timeout: its place is free again.
    poll(Duration::from_secs(15), "the stalled subscriber dropped", || async move {
        let r = Sse::request(t_ref, "/blobs?select=id", None).await;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
    drop(stuck);
}

/// Open streams never finish by themselves: SIGTERM ends them, and tusk exits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_streams_instead_of_waiting_for_them() {
    let db = TestDb::todo();
    let mut t = Tusk::start(&db.seed_env()).await;
    let mut sse = Sse::open(&t, "/tasks", None).await;
    sse.snapshot(Duration::from_secs(5), "initial").await;
    let status = std::process::Command::new("kill").args(["-TERM", &t.pid().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.is_running() {
        assert!(Instant::now() < deadline, "tusk still runs 5 s after SIGTERM with a stream open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sse.next(Duration::from_secs(2)).await.is_none());
    assert!(sse.ended, "the stream ended");
}
