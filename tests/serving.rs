//! What lets tusk face the internet alone (issue 10), with curl as the client: response
//! compression (gzip, br, zstd; `server-compression`), static files (`server-static-dir`:
//! ETag, Last-Modified, 304, HEAD, content types, no path traversal) and rate limits
//! (`server-rate-limit`, per address and per JWT role, `server-trusted-proxies`).

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use support::*;

/// A response as curl saw it: status, headers (lower-case names, last value wins) and body.
struct Curl {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Curl {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Runs curl on `path` of `t` with `args` (e.g. `-H`, `--compressed`, `-I`).
fn curl(t: &Tusk, path: &str, args: &[&str]) -> Curl {
    let dir = tempdir("curl");
    let (head, body) = (dir.join("head"), dir.join("body"));
    let out = Command::new("curl")
        .args(["-sS", "--path-as-is", "--max-time", "20", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(format!("http://127.0.0.1:{}{path}", t.port))
        .output()
        .expect("running curl (apt-get install curl)");
    assert!(out.status.success(), "curl {path} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let head = std::fs::read_to_string(&head).expect("curl's headers");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = std::fs::read(&body).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Curl { status, headers, body }
}

/// A fresh directory under the system temp dir.
fn tempdir(what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tusk-serving-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

async fn app(db: &TestDb, extra: &[(&str, &str)]) -> Tusk {
    let mut env = db.seed_env();
    for (k, v) in extra {
        set_env(&mut env, k, v);
    }
    Tusk::start(&env).await
}

/// The seed with 300 tasks (about 20 KB of JSON at `/tasks`) and a function that sets its
/// own `Content-Encoding`.
fn big_db() -> TestDb {
    let db = TestDb::todo();
    db.psql(
        "insert into todo.tasks (name, owner) select 'task number ' || i, 'todo_user' from generate_series(1, 300) i;
         create function todo.pre_encoded() returns text language plpgsql as $$ begin
           perform set_config('response.headers', '[{\"Content-Encoding\": \"identity\"}]', true);
           return repeat('already encoded ', 500); end $$;
         grant execute on function todo.pre_encoded() to web_anon;",
    );
    db
}

#[tokio::test]
async fn compression_follows_accept_encoding() {
    let db = big_db();
    let t = app(&db, &[]).await;
    let plain = curl(&t, "/tasks", &[]);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None, "no Accept-Encoding, no compression");
    assert!(plain.body.len() > 10_000, "{}", plain.body.len());
    for encoding in ["gzip", "br", "zstd"] {
        // `--compressed` makes curl decode the body; the header picks the one algorithm.
        let r = curl(&t, "/tasks", &["--compressed", "-H", &format!("Accept-Encoding: {encoding}")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(encoding), "{:?}", r.headers);
        assert!(r.header("vary").is_some_and(|v| v.to_lowercase().contains("accept-encoding")), "{:?}", r.headers);
        assert_eq!(r.body, plain.body, "{encoding} decodes to the same body");
    }
    // The client's preference (q-values) decides.
    let r = curl(&t, "/tasks", &["--compressed", "-H", "Accept-Encoding: gzip;q=0.5, zstd;q=0.9, br;q=0.1"]);
    assert_eq!(r.header("content-encoding"), Some("zstd"));
    // What the wire carries is smaller.
    let raw = curl(&t, "/tasks", &["-H", "Accept-Encoding: gzip"]);
    assert!(raw.body.len() * 4 < plain.body.len(), "{} vs {}", raw.body.len(), plain.body.len());
    // Small responses are left alone.
    let small = curl(&t, "/tasks?limit=1", &["-H", "Accept-Encoding: gzip, br, zstd"]);
    assert_eq!(small.header("content-encoding"), None);
    // A function that set its own Content-Encoding is not encoded again.
    let own = curl(&t, "/rpc/pre_encoded", &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.header("content-encoding"), Some("identity"));
    assert!(own.text().contains("already encoded"));
    // HEAD is not compressed (no body to compress).
    let head = curl(&t, "/tasks", &["-I", "-H", "Accept-Encoding: gzip"]);
    assert_eq!(head.header("content-encoding"), None);
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let db = big_db();
    let t = app(&db, &[("PGRST_SERVER_COMPRESSION", "false")]).await;
    let r = curl(&t, "/tasks", &["-H", "Accept-Encoding: gzip, br, zstd"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.json().as_array().is_some_and(|a| a.len() > 300));
}

/// A static directory inside a parent holding a secret, with a dotfile, a sub-directory, an
/// image, and symbolic links pointing inside and outside.
fn static_tree() -> (PathBuf, PathBuf) {
    let parent = tempdir("static");
    let dir = parent.join("public");
    std::fs::create_dir_all(dir.join("css")).expect("mkdir");
    std::fs::write(parent.join("secret.txt"), "the secret").expect("write");
    std::fs::write(dir.join("app.js"), "console.log('hello');\n".repeat(200)).expect("write");
    std::fs::write(dir.join("css/site.css"), "body { color: red }\n").expect("write");
    std::fs::write(dir.join(".env"), "PASSWORD=x").expect("write");
    std::fs::write(dir.join("pic.png"), vec![7u8; 5000]).expect("write");
    std::os::unix::fs::symlink(parent.join("secret.txt"), dir.join("escape.txt")).expect("symlink");
    std::os::unix::fs::symlink(dir.join("app.js"), dir.join("alias.js")).expect("symlink");
    (parent, dir)
}

fn assert_not_found(r: &Curl, what: &str) {
    assert_eq!(r.status, 404, "{what}: {}", r.text());
    assert_eq!(r.json()["code"], "TUSK404", "{what}");
    assert!(!r.text().contains("secret") && !r.text().contains("PASSWORD"), "{what}");
}

#[tokio::test]
async fn static_files_with_validators_and_no_traversal() {
    let db = TestDb::todo();
    let (parent, dir) = static_tree();
    let dir_s = dir.display().to_string();
    let t = app(&db, &[("PGRST_SERVER_STATIC_DIR", &dir_s)]).await;

    let r = curl(&t, "/static/app.js", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.body, std::fs::read(dir.join("app.js")).expect("read"));
    let etag = r.header("etag").expect("an ETag").to_string();
    let modified = r.header("last-modified").expect("Last-Modified").to_string();
    assert_eq!(curl(&t, "/static/css/site.css", &[]).header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(curl(&t, "/static/alias.js", &[]).status, 200, "a link inside the directory is followed");

    // Revalidation.
    let r = curl(&t, "/static/app.js", &["-H", &format!("If-None-Match: {etag}")]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(curl(&t, "/static/app.js", &["-H", &format!("If-None-Match: \"other\", W/{etag}")]).status, 304);
    assert_eq!(curl(&t, "/static/app.js", &["-H", "If-None-Match: \"other\""]).status, 200);
    assert_eq!(curl(&t, "/static/app.js", &["-H", &format!("If-Modified-Since: {modified}")]).status, 304);
    let old = "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(curl(&t, "/static/app.js", &["-H", old]).status, 200);

    // HEAD: the headers, no body.
    let r = curl(&t, "/static/app.js", &["-I"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(!r.text().contains("console.log"), "{}", r.text());

    // Compression applies to scripts, not to images.
    let r = curl(&t, "/static/app.js", &["--compressed", "-H", "Accept-Encoding: br"]);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.body, std::fs::read(dir.join("app.js")).expect("read"));
    let r = curl(&t, "/static/pic.png", &["-H", "Accept-Encoding: gzip"]);
    assert_eq!((r.status, r.header("content-type"), r.header("content-encoding")), (200, Some("image/png"), None));

    // Nothing outside the directory, no dotfiles, no directories.
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css/..%2F..%2Fsecret.txt",
        "/static/escape.txt",
        "/static/.env",
        "/static/%2eenv",
        "/static/app.js%00.png",
        "/static/css",
        "/static/",
        "/static",
        "/static//etc/passwd",
        "/static/missing.js",
    ] {
        assert_not_found(&curl(&t, path, &[]), path);
    }
    // Other methods are refused; other paths are the API's.
    let r = curl(&t, "/static/app.js", &["-X", "POST", "-d", "{}"]);
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(curl(&t, "/tasks", &[]).status, 200);
    assert_eq!(curl(&t, "/staticky", &[]).status, 404);
    let _ = std::fs::remove_dir_all(&parent);
}

#[tokio::test]
async fn static_files_under_another_path_and_cache_control() {
    let db = TestDb::todo();
    let (parent, dir) = static_tree();
    let dir_s = dir.display().to_string();
    let t = app(
        &db,
        &[
            ("PGRST_SERVER_STATIC_DIR", &dir_s),
            ("PGRST_SERVER_STATIC_PATH", "/assets/v1/"),
            ("PGRST_SERVER_STATIC_CACHE_CONTROL", "public, max-age=3600"),
        ],
    )
    .await;
    let r = curl(&t, "/assets/v1/app.js", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert_ne!(curl(&t, "/static/app.js", &[]).status, 200);
    let _ = std::fs::remove_dir_all(&parent);
}

/// Waits until a bucket of `burst` at 1 request a second is full again (the readiness probe
/// used some tokens).
async fn settle(burst: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(burst * 1000 + 200)).await;
}

/// The statuses of `n` requests made back to back by one curl on one connection (milliseconds
/// apart, so the 1-per-second refill does not blur the count).
fn statuses(t: &Tusk, path: &str, n: usize, args: &[&str]) -> Vec<u16> {
    let each: Vec<Vec<String>> = (0..n).map(|_| args.iter().map(|a| a.to_string()).collect()).collect();
    statuses_each(t, path, &each)
}

/// [`statuses`] with each request's own arguments (curl's `--next`).
fn statuses_each(t: &Tusk, path: &str, each: &[Vec<String>]) -> Vec<u16> {
    let url = format!("http://127.0.0.1:{}{path}", t.port);
    let mut cmd = Command::new("curl");
    for (i, args) in each.iter().enumerate() {
        if i > 0 {
            cmd.arg("--next");
        }
        cmd.args(["-sS", "--max-time", "20", "-w", "%{http_code}\\n", "-o", "/dev/null"]).args(args).arg(&url);
    }
    let out = cmd.output().expect("running curl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().parse().expect("a status")).collect()
}

fn assert_limited(r: &Curl) {
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(r.json()["code"], "TUSK429");
    assert_eq!(r.json()["message"], "Too many requests");
}

#[tokio::test]
async fn rate_limit_per_address() {
    let db = TestDb::todo();
    let t = app(&db, &[("PGRST_SERVER_RATE_LIMIT", "1"), ("PGRST_SERVER_RATE_LIMIT_BURST", "3")]).await;
    settle(3).await;
    assert_eq!(statuses(&t, "/tasks", 5, &[]), [200, 200, 200, 429, 429]);
    assert_limited(&curl(&t, "/tasks", &[]));
    // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    assert_limited(&curl(&t, "/tasks", &["-H", "X-Forwarded-For: 203.0.113.9"]));
    // A second later, one more.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(statuses(&t, "/tasks", 2, &[]), [200, 429]);
}

#[tokio::test]
async fn rate_limit_behind_a_trusted_proxy_and_per_role() {
    let db = TestDb::todo();
    let t = app(
        &db,
        &[
            ("PGRST_SERVER_RATE_LIMIT", "1"),
            ("PGRST_SERVER_RATE_LIMIT_BURST", "2"),
            ("PGRST_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ],
    )
    .await;
    settle(2).await;
    let from = |ip: &str| format!("X-Forwarded-For: {ip}");
    // Each client behind the proxy has its own budget.
    assert_eq!(statuses(&t, "/tasks", 3, &["-H", &from("198.51.100.1")]), [200, 200, 429]);
    // A spoofed left-most entry does not help: the proxy appended the real one.
    assert_limited(&curl(&t, "/tasks", &["-H", &from("1.1.1.1, 198.51.100.1")]));
    assert_eq!(statuses(&t, "/tasks", 2, &["-H", &from("198.51.100.2")]), [200, 200]);
    // One role and subject from many addresses shares one budget.
    let token = jwt(&json!({"role": "todo_user", "sub": "alice", "exp": now() + 300}));
    let auth = format!("Authorization: Bearer {token}");
    let each: Vec<Vec<String>> =
        (0..3).map(|i| vec!["-H".into(), auth.clone(), "-H".into(), from(&format!("192.0.2.{i}"))]).collect();
    assert_eq!(statuses_each(&t, "/tasks", &each), [200, 200, 429]);
    let r = curl(&t, "/tasks", &["-H", &auth, "-H", &from("192.0.2.99")]);
    assert_limited(&r);
    assert!(r.json()["details"].as_str().is_some_and(|d| d.contains("role")), "{}", r.text());
    // Another subject of the same role is not affected.
    let bob = jwt(&json!({"role": "todo_user", "sub": "bob", "exp": now() + 300}));
    let r = curl(&t, "/tasks", &["-H", &format!("Authorization: Bearer {bob}"), "-H", &from("192.0.2.78")]);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn bad_edge_settings_are_refused() {
    for (k, v) in [
        ("PGRST_SERVER_STATIC_PATH", "static"),
        ("PGRST_SERVER_STATIC_PATH", "/a/../b"),
        ("PGRST_SERVER_RATE_LIMIT", "-1"),
        ("PGRST_SERVER_TRUSTED_PROXIES", "10.0.0.0/99"),
    ] {
        let out = tusk_command()
            .arg("--dump-config")
            .env_clear()
            .env("PGRST_DB_URI", "postgresql://x@127.0.0.1:1/x")
            .env(k, v)
            .output()
            .expect("running tusk");
        assert!(!out.status.success(), "{k}={v} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let name = k.trim_start_matches("PGRST_").to_lowercase().replace('_', "-");
        assert!(err.contains(&name), "{k}={v}: {err}");
    }
}
