//! Shared helpers for the integration tests: a throwaway PostgreSQL cluster per test binary,
//! one fresh database per test, the real `tusk` binary spawned on a free port, an HTTP client
//! and JWT minting.
#![allow(dead_code)]

pub mod pki;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use reqwest::header::HeaderMap;
pub use reqwest::Method;
pub use serde_json::{json, Value};
pub use tusk::cluster::TempCluster;

/// The secret used by the seed (and by the seed's ready-made token).
pub const SECRET: &str = "your-256-bit-secret-your-256-bit-secret";
/// The seed's token: `{"role":"todo_user"}` signed with [`SECRET`].
pub const SEED_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoidG9kb191c2VyIn0.xXy_2x-iYau-SKFi_XTulaRvfQ6MXx9P5M-AqxOKbs8";

/// How long a single HTTP request may take before the test fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long tusk may take to answer its first request.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of `examples/todo/backend.sql`.
pub fn backend_sql_path() -> String {
    format!("{}/examples/todo/backend.sql", env!("CARGO_MANIFEST_DIR"))
}

/// The text of `examples/todo/backend.sql`.
pub fn backend_sql() -> String {
    std::fs::read_to_string(backend_sql_path()).unwrap_or_else(|e| panic!("reading {}: {e}", backend_sql_path()))
}

// ---------------------------------------------------------------------------------------------
// Cluster and databases
// ---------------------------------------------------------------------------------------------

/// The cluster shared by all tests of this test binary (started on first use). Tests that stop
/// or restart a cluster must start their own with [`TempCluster::start`] instead.
///
/// Statics are never dropped; the cluster's watchdog stops it once the test process exits.
pub fn cluster() -> &'static TempCluster {
    static CLUSTER: OnceLock<TempCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TempCluster::start().expect("starting the test cluster"))
}

/// A database of the shared cluster, private to one test.
pub struct TestDb {
    pub name: String,
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

fn next_db_name(prefix: &str) -> String {
    format!("{prefix}_{}", DB_COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A template database with `backend.sql` loaded, created once per test binary.
fn todo_template() -> &'static str {
    static TEMPLATE: OnceLock<()> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let c = cluster();
        c.psql("create database todo_template").expect("creating todo_template");
        c.psql_db("todo_template", &backend_sql()).expect("loading examples/todo/backend.sql");
    });
    "todo_template"
}

impl TestDb {
    /// A new database with the todo example's `backend.sql` loaded (two sample tasks, owned by
    /// `postgres`; roles `postgrest`, `web_anon`, `todo_user`).
    pub fn todo() -> TestDb {
        let template = todo_template();
        let name = next_db_name("todo");
        create_db_retrying(&format!("create database {name} template {template}"));
        TestDb { name }
    }

    /// A new empty database. The roles created by `backend.sql` exist (they are cluster-wide).
    pub fn empty() -> TestDb {
        todo_template();
        let name = next_db_name("empty");
        create_db_retrying(&format!("create database {name}"));
        TestDb { name }
    }

    /// Runs SQL as the superuser in this database; returns psql's unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        cluster().psql_db(&self.name, sql).unwrap_or_else(|e| panic!("psql on {}: {e}", self.name))
    }

    /// Runs SQL and returns the output lines.
    pub fn query_lines(&self, sql: &str) -> Vec<String> {
        self.psql(sql).lines().map(str::to_string).collect()
    }

    /// `postgresql://postgrest:mysecretpassword@127.0.0.1:<port>/<db>`, as in the seed.
    pub fn authenticator_uri(&self) -> String {
        cluster().uri("postgrest", "mysecretpassword", &self.name)
    }

    /// The PGRST_* settings of the seed, pointing at this database.
    pub fn seed_env(&self) -> Vec<(String, String)> {
        seed_env(&self.authenticator_uri())
    }

    /// `(id, name, done, owner)` of every task, ordered by id, read as the superuser.
    pub fn tasks(&self) -> Vec<(i64, String, bool, String)> {
        self.query_lines("select id, name, done, owner from todo.tasks order by id")
            .into_iter()
            .map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                assert_eq!(f.len(), 4, "unexpected psql line {l:?}");
                (f[0].parse().expect("id"), f[1].to_string(), f[2] == "t", f[3].to_string())
            })
            .collect()
    }
}

/// The PGRST_* settings of the seed, with `db_uri`.
pub fn seed_env(db_uri: &str) -> Vec<(String, String)> {
    vec![
        ("PGRST_DB_URI".into(), db_uri.to_string()),
        ("PGRST_DB_ANON_ROLE".into(), "web_anon".into()),
        ("PGRST_DB_SCHEMAS".into(), "todo".into()),
        ("PGRST_JWT_SECRET".into(), SECRET.into()),
        ("PGRST_RAW_MEDIA_TYPES".into(), "text/html".into()),
        ("PGRST_LOG_LEVEL".into(), "info".into()),
    ]
}

fn create_db_retrying(sql: &str) {
    // Concurrent CREATE DATABASE from one template can collide ("source database is being
    // accessed by other users"); retry a few times.
    let mut last = None;
    for attempt in 0..10 {
        match cluster().psql(sql) {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
    }
    panic!("{sql}: {:?}", last);
}

// ---------------------------------------------------------------------------------------------
// The tusk process
// ---------------------------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1 (free when asked; bind soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("finding a free port")
}

/// The `tusk` binary under test.
pub fn tusk_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tusk")
}

/// A `tusk` command with every inherited `PGRST_*` variable removed.
pub fn tusk_command() -> Command {
    let mut cmd = Command::new(tusk_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PGRST_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Collects a child's output in the background.
#[derive(Clone, Default)]
pub struct OutputLog(Arc<Mutex<String>>);

impl OutputLog {
    pub fn capture(&self, mut pipe: impl Read + Send + 'static) {
        let log = self.0.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if let Ok(mut l) = log.lock() {
                            l.push_str(&text);
                        }
                    }
                }
            }
        });
    }

    pub fn text(&self) -> String {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A running `tusk` server; killed when dropped.
pub struct Tusk {
    child: Child,
    pub port: u16,
    pub base: String,
    pub output: OutputLog,
    client: reqwest::Client,
}

impl Tusk {
    /// Spawns `tusk` (no arguments) with exactly these PGRST_* variables plus
    /// `PGRST_SERVER_HOST=127.0.0.1` and a free `PGRST_SERVER_PORT`, and waits until it answers.
    pub async fn start(env: &[(String, String)]) -> Tusk {
        Tusk::start_authenticated(env, None).await
    }

    /// Like [`Tusk::start`], probing readiness with `Authorization: Bearer <ready_token>`.
    /// Needed without an anonymous role: an anonymous `GET /` is then refused with 401 even
    /// before the schema cache is loaded.
    pub async fn start_authenticated(env: &[(String, String)], ready_token: Option<&str>) -> Tusk {
        let mut last_output = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut tusk = Tusk::spawn(env, port);
            match tusk.wait_ready_with(ready_token).await {
                Ok(()) => return tusk,
                Err(why) => {
                    last_output = format!("{why}\n--- tusk output ---\n{}", tusk.output.text());
                    // Lost a race for the port: try another one.
                    if !last_output.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("tusk did not become ready: {last_output}");
    }

    /// Like [`Tusk::start`], with command-line arguments (e.g. a config file).
    pub async fn start_with_args(env: &[(String, String)], args: &[&str]) -> Tusk {
        let mut tusk = Tusk::spawn_with_args(env, args, free_port());
        if let Err(why) = tusk.wait_ready().await {
            panic!("tusk did not become ready: {why}\n--- tusk output ---\n{}", tusk.output.text());
        }
        tusk
    }

    /// Spawns without waiting.
    pub fn spawn(env: &[(String, String)], port: u16) -> Tusk {
        Tusk::spawn_with_args(env, &[], port)
    }

    /// Spawns with command-line arguments, without waiting.
    pub fn spawn_with_args(env: &[(String, String)], args: &[&str], port: u16) -> Tusk {
        let mut cmd = tusk_command();
        cmd.args(args);
        cmd.env("PGRST_SERVER_HOST", "127.0.0.1").env("PGRST_SERVER_PORT", port.to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning tusk");
        let output = OutputLog::default();
        if let Some(out) = child.stdout.take() {
            output.capture(out);
        }
        if let Some(err) = child.stderr.take() {
            output.capture(err);
        }
        Tusk { child, port, base: format!("http://127.0.0.1:{port}"), output, client: client() }
    }

    /// Polls `GET /` until it answers anything but 503.
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        self.wait_ready_with(None).await
    }

    /// [`Tusk::wait_ready`] with an optional bearer token on the probe.
    pub async fn wait_ready_with(&mut self, token: Option<&str>) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("tusk exited early with {status}"));
            }
            let mut probe = self.client.get(self.url("/")).timeout(Duration::from_secs(5));
            if let Some(token) = token {
                probe = probe.bearer_auth(token);
            }
            match probe.send().await {
                Ok(r) if r.status().as_u16() != 503 => return Ok(()),
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("not ready after {STARTUP_TIMEOUT:?}: {last}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A request builder for `method path`.
    pub fn req(&self, method: Method, path: &str) -> Req {
        Req { rb: self.client.request(method, self.url(path)).timeout(REQUEST_TIMEOUT), what: String::new() }
            .describe(path)
    }

    /// `GET path`, or `None` if the connection fails (server not listening yet).
    pub async fn client_get_raw(&self, path: &str) -> Option<Resp> {
        let r = self.client.get(self.url(path)).timeout(REQUEST_TIMEOUT).send().await.ok()?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.ok()?;
        Some(Resp { status, headers, text })
    }

    pub fn get(&self, path: &str) -> Req {
        self.req(Method::GET, path)
    }
    pub fn head(&self, path: &str) -> Req {
        self.req(Method::HEAD, path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Req {
        self.req(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.req(Method::DELETE, path)
    }
    pub fn options(&self, path: &str) -> Req {
        self.req(Method::OPTIONS, path)
    }
}

impl Drop for Tusk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- tusk output (port {}) ---\n{}", self.port, self.output.text());
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("building the HTTP client")
}

// ---------------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------------

/// A request being built (a thin wrapper over reqwest that remembers what it is for messages).
pub struct Req {
    rb: reqwest::RequestBuilder,
    what: String,
}

impl Req {
    /// Wraps a reqwest request (for servers not started through [`Tusk`]).
    pub fn new(rb: reqwest::RequestBuilder, what: &str) -> Req {
        Req { rb: rb.timeout(REQUEST_TIMEOUT), what: what.to_string() }
    }
    fn describe(mut self, path: &str) -> Req {
        self.what = path.to_string();
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.rb = self.rb.header(name, value);
        self
    }
    pub fn bearer(self, token: &str) -> Req {
        self.header("Authorization", &format!("Bearer {token}"))
    }
    pub fn prefer(self, value: &str) -> Req {
        self.header("Prefer", value)
    }
    pub fn json(mut self, body: &Value) -> Req {
        self.rb = self.rb.header("Content-Type", "application/json").body(body.to_string());
        self
    }
    pub fn body(mut self, content_type: &str, body: &str) -> Req {
        self.rb = self.rb.header("Content-Type", content_type).body(body.to_string());
        self
    }
    pub async fn send(self) -> Resp {
        let what = self.what;
        let r = self.rb.send().await.unwrap_or_else(|e| panic!("request {what} failed: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_else(|e| panic!("reading the body of {what}: {e}"));
        Resp { status, headers, text }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
    }
    /// Asserts the status, showing the whole response if it differs.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Resp {
        assert_eq!(self.status, status, "unexpected status; response: {self:#?}");
        self
    }
    /// Asserts a PostgREST error body `{code, message, details, hint}` with this code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        self.expect_status(status);
        let body = self.json();
        assert_error_shape(&body, self);
        assert_eq!(body["code"], json!(code), "unexpected error code; response: {self:#?}");
        body
    }
    /// The `Content-Type` header without parameters, lowercased.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    }
}

/// PostgREST error bodies are objects with exactly the keys code, message, details, hint.
#[track_caller]
pub fn assert_error_shape(body: &Value, resp: &Resp) {
    let obj = body.as_object().unwrap_or_else(|| panic!("error body is not an object: {resp:#?}"));
    for key in ["code", "message", "details", "hint"] {
        assert!(obj.contains_key(key), "error body lacks {key:?}: {resp:#?}");
    }
    assert!(obj["code"].is_string(), "code is not a string: {resp:#?}");
    assert!(obj["message"].is_string(), "message is not a string: {resp:#?}");
}

// ---------------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------------

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// An HS256 token over `claims` signed with `secret`.
pub fn jwt_with(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encoding a JWT")
}

/// An HS256 token over `claims` signed with the seed's [`SECRET`].
pub fn jwt(claims: &Value) -> String {
    jwt_with(SECRET, claims)
}

/// A token for `role` expiring in 5 minutes (as the seed suggests).
pub fn role_token(role: &str) -> String {
    jwt(&json!({"role": role, "exp": now() + 300}))
}

/// Decodes and verifies an HS256 token, returning its claims.
pub fn verify_jwt(secret: &str, token: &str) -> Result<Value, String> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The env map as a BTreeMap (handy for debugging output).
pub fn env_map(env: &[(String, String)]) -> BTreeMap<String, String> {
    env.iter().cloned().collect()
}

/// Sets `key` in an env list, replacing an existing entry.
pub fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}

/// Removes `key` from an env list.
pub fn unset_env(env: &mut Vec<(String, String)>, key: &str) {
    env.retain(|(k, _)| k != key);
}

/// PIDs of processes whose command line contains every one of `needles`.
pub fn processes_matching(needles: &[&str]) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if needles.iter().all(|n| cmdline.contains(n)) {
            pids.push(pid);
        }
    }
    pids
}

/// PostgREST's documented URLs with raw `"`, `<`, `>` (and `{`, `|`, `^`, `` ` ``, `\`), each
/// with the same URL percent-encoded.
pub const DOC_URLS: [(&str, &str); 4] = [
    ("/people?select=id,json_data->>blood_type&order=id", "/people?select=id,json_data-%3E%3Eblood_type&order=id"),
    (
        "/people?select=id&json_data->>blood_type=in.(\"A-\",\"B+\")",
        "/people?select=id&json_data-%3E%3Eblood_type=in.(%22A-%22,%22B+%22)",
    ),
    ("/tasks?select=id&name=like.*<b>*", "/tasks?select=id&name=like.*%3Cb%3E*"),
    (
        "/tasks?select=id&name=in.(\"a,b\",\"{x}|^`\\\")",
        "/tasks?select=id&name=in.(%22a,b%22,%22%7Bx%7D%7C%5E%60%5C%22)",
    ),
];
