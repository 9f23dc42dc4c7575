//! Tests that need more than PostgreSQL itself: PostGIS (`postgresql-15-postgis-3`),
//! contrib/safeupdate (built from this repository), and Chromium with NSS's `certutil`
//! (`chromium`, `libnss3-tools`) for the todo app over HTTPS. `scripts/test` and `.ci/run`
//! install them all (scripts/setup), so there they always run.
//!
//! A test whose prerequisite is missing is reported as ignored, with the reason printed as
//! `SKIPPED <test>: <why>` on standard output, never as a pass. That needs deciding at run time,
//! which the built-in harness cannot, so this file runs under libtest-mimic (`harness = false`
//! in Cargo.toml); the usual filters (`cargo test --test optional safeupdate`) still work.

mod support;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::pki::Pki;
use support::*;

fn main() {
    let args = Arguments::from_args();
    let tests = vec![
        optional("geojson_with_postgis", postgis_missing, geojson_with_postgis),
        optional("safeupdate_refuses_unfiltered_updates_and_deletes", safeupdate_missing, safeupdate),
        optional(
            "chromium_shows_the_todo_app_over_https_and_http2_trusting_a_test_ca",
            chromium_missing,
            chromium_https,
        ),
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

/// Chromium: `$CHROMIUM` or Debian's `/usr/bin/chromium`.
fn chromium_bin() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string())
}

fn chromium_missing() -> Option<String> {
    if !Path::new(&chromium_bin()).exists() {
        return Some(format!("{} is not installed (apt-get install chromium)", chromium_bin()));
    }
    Command::new("certutil")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .err()
        .map(|e| format!("NSS's certutil is not available (apt-get install libnss3-tools): {e}"))
}

/// A page served from `server-static-dir` that shows the todo app (`/rpc/homepage`) in a frame,
/// waits until the app has rendered tasks, and writes into `#result` the tasks it shows and the
/// protocol Chromium fetched each part over (`nextHopProtocol`: `h2` for HTTP/2).
const PROBE_HTML: &str = r#"<!doctype html>
<html><head><title>probe</title></head><body>
<pre id="result">waiting</pre>
<iframe id="app" src="/rpc/homepage" width="900" height="700"></iframe>
<script>
const frame = document.getElementById('app');
function check() {
  const doc = frame.contentDocument;
  const tasks = doc ? [...doc.querySelectorAll('[data-testid="task"]')].map((li) => li.textContent.trim()) : [];
  if (tasks.length === 0) return setTimeout(check, 50);
  const perf = frame.contentWindow.performance;
  const protocol = (entries, part) => (entries.getEntriesByType('resource').find((e) => e.name.includes(part)) || {}).nextHopProtocol;
  const page = perf.getEntriesByType('navigation')[0].nextHopProtocol;
  const script = protocol(perf, '/static/frontend.js');
  // The app keeps its list live over an EventSource, a request that never ends: with it open,
  // headless Chromium's virtual time never runs out and --dump-dom never comes. Closing the
  // app ends it; an API read from this page then shows the API's protocol.
  frame.remove();
  fetch('/tasks?select=id').then((r) => r.text()).then(() => {
    document.getElementById('result').textContent = JSON.stringify({
      probe: performance.getEntriesByType('navigation')[0].nextHopProtocol,
      page,
      script,
      tasks_api: protocol(performance, '/tasks'),
      tasks,
    });
  });
}
check();
</script>
</body></html>
"#;

/// Headless Chromium with `home` as its HOME (its NSS database of trusted CAs is
/// `home/.pki/nssdb`): `url`'s DOM once the page has settled, or an error.
fn chromium_dump_dom(home: &Path, url: &str) -> Result<String, String> {
    let profile = home.join("profile");
    let mut child = Command::new(chromium_bin())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-quic",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let log = OutputLog::default();
    log.capture(child.stdout.take().ok_or("stdout")?);
    let errors = OutputLog::default();
    errors.capture(child.stderr.take().ok_or("stderr")?);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("chromium did not finish in 90 s: {}", errors.text()));
            }
        }
    }
    // The pipes' readers finish after the process.
    std::thread::sleep(Duration::from_millis(200));
    Ok(log.text())
}

/// Chromium loads the todo app from tusk over HTTPS, with a certificate issued by a test CA that
/// only this browser's NSS database trusts: the app renders the seed's tasks, the page, its
/// script and the API calls all come over HTTP/2 (Chromium's `nextHopProtocol` and tusk's log
/// agree), and a browser without the CA loads nothing.
fn chromium_https() -> Test {
    Box::pin(async {
        let pki = Pki::new("chromium");
        pki.issue(1);
        let statics = pki.dir.join("static");
        std::fs::create_dir_all(&statics).expect("static dir");
        let frontend = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/todo/static/frontend.js");
        std::fs::copy(frontend, statics.join("frontend.js")).expect("frontend.js");
        std::fs::write(statics.join("probe.html"), PROBE_HTML).expect("probe.html");
        let db = TestDb::todo();
        let mut env = pki.env(&db);
        set_env(&mut env, "PGRST_SERVER_STATIC_DIR", &statics.to_string_lossy());
        let t = pki.start(&env).await;
        let url = format!("https://localhost:{}/static/probe.html", t.port);

        // A HOME whose NSS database trusts the test CA (and nothing else of its own).
        let home = pki.dir.join("home");
        let nssdb = format!("sql:{}", home.join(".pki/nssdb").display());
        std::fs::create_dir_all(home.join(".pki/nssdb")).expect("nssdb dir");
        let certutil = |args: &[&str]| {
            let out = Command::new("certutil").args(args).output().expect("certutil");
            assert!(out.status.success(), "certutil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        certutil(&["-d", &nssdb, "-N", "--empty-password"]);
        certutil(&["-d", &nssdb, "-A", "-t", "C,,", "-n", "tusk test CA", "-i", &pki.ca_path()]);

        let dom = chromium_dump_dom(&home, &url).expect("chromium");
        let result = dom
            .split_once("<pre id=\"result\">")
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map(|(text, _)| text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
            .unwrap_or_default();
        let seen: Value = serde_json::from_str(&result)
            .unwrap_or_else(|_| panic!("the probe did not see the app render: {result:?}\n{}", t.output.text()));
        eprintln!("Chromium saw: {seen}");
        for part in ["probe", "page", "script", "tasks_api"] {
            assert_eq!(seen[part], "h2", "{part} over {}: {seen}", seen[part]);
        }
        let shown = seen["tasks"].to_string();
        for (_, name, _, _) in db.tasks() {
            assert!(shown.contains(&name), "task {name:?} not shown: {seen}");
        }
        // tusk's side: the same requests, logged as HTTP/2.
        let log = t.output.text();
        for request in ["\"GET /static/probe.html HTTP/2.0\" 200", "\"GET /rpc/homepage HTTP/2.0\" 200"] {
            assert!(log.contains(request), "{request} not logged: {log}");
        }
        assert!(log.lines().any(|l| l.contains("\"GET /tasks") && l.contains(" HTTP/2.0\" 200")), "{log}");

        // Without the CA the certificate is refused: nothing of the page is shown.
        let stranger = pki.dir.join("stranger");
        std::fs::create_dir_all(stranger.join(".pki/nssdb")).expect("nssdb dir");
        let dom = chromium_dump_dom(&stranger, &url).unwrap_or_default();
        assert!(!dom.contains("<pre id=\"result\">"), "an untrusted certificate was accepted: {dom}");
    })
}
