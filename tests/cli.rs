//! The command line: `--help`, `--example`, `--dump-config`, the config file argument, config
//! errors, `tusk token` and `tusk demo`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// Runs a command to completion with a timeout (killing it if it overstays).
fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tusk");
    let out = OutputLog::default();
    let err = OutputLog::default();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    out.capture(stdout);
    err.capture(stderr);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for tusk") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {timeout:?}\nstdout: {}\nstderr: {}", out.text(), err.text());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the reader threads drain the pipes.
    std::thread::sleep(Duration::from_millis(50));
    Output { status, stdout: out.text().into_bytes(), stderr: err.text().into_bytes() }
}

fn tusk(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tusk_command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, Duration::from_secs(30))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of `key = value` in PostgREST config syntax, with quotes removed.
fn config_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        if k.trim() != key {
            return None;
        }
        let v = v.trim();
        Some(v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_string())
    })
}

#[test]
fn help_exits_0_and_explains_configuration() {
    let o = tusk(&["--help"], &[]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("PGRST_DB_URI") || text.to_lowercase().contains("config"),
        "help should mention PGRST_DB_URI or the config file:\n{text}"
    );
    assert!(text.contains("demo"), "help lists the demo command:\n{text}");
    assert!(text.contains("token"), "help lists the token command:\n{text}");
}

#[test]
fn example_prints_a_postgrest_config() {
    let o = tusk(&["--example"], &[]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let db_uri = text
        .lines()
        .find(|l| l.trim_start().starts_with("db-uri"))
        .unwrap_or_else(|| panic!("no db-uri line in:\n{text}"));
    assert!(db_uri.contains("= \""), "db-uri = \"...\" expected: {db_uri}");
    for key in ["db-schemas", "db-anon-role", "jwt-secret", "server-port"] {
        assert!(text.contains(key), "{key} missing from the example:\n{text}");
    }
}

#[test]
fn dump_config_prints_the_effective_config() {
    let o = tusk(
        &["--dump-config"],
        &[
            ("PGRST_DB_URI", "postgresql://someone@127.0.0.1:1/somedb"),
            ("PGRST_DB_SCHEMAS", "todo"),
            ("PGRST_DB_ANON_ROLE", "web_anon"),
            ("PGRST_JWT_SECRET", SECRET),
            ("PGRST_SERVER_PORT", "3456"),
            ("PGRST_DB_MAX_ROWS", "77"),
            ("PGRST_RAW_MEDIA_TYPES", "text/html"),
            ("PGRST_DB_CONFIG", "false"),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let expect = [
        ("db-uri", "postgresql://someone@127.0.0.1:1/somedb"),
        ("db-schemas", "todo"),
        ("db-anon-role", "web_anon"),
        ("jwt-secret", SECRET),
        ("server-port", "3456"),
        ("db-max-rows", "77"),
        ("raw-media-types", "text/html"),
    ];
    for (key, value) in expect {
        assert_eq!(config_value(&text, key).as_deref(), Some(value), "{key} in:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("db-uri = \"")), "strings are quoted:\n{text}");
    assert!(text.lines().any(|l| l.trim() == "server-port = 3456"), "numbers are bare:\n{text}");
}

#[test]
fn config_file_argument_with_env_overriding() {
    let dir = std::env::temp_dir().join(format!("tusk-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("tusk.conf");
    std::fs::write(
        &file,
        "# a PostgREST config file\n\
         db-uri = \"postgresql://fromfile@127.0.0.1:1/filedb\"\n\
         db-schemas = \"from_file\"\n\
         db-anon-role = \"file_anon\"\n\
         server-port = 4321\n\
         db-config = false\n",
    )
    .expect("writing the config file");
    let path = file.to_string_lossy().into_owned();
    let o = tusk(&["--dump-config", &path], &[("PGRST_DB_SCHEMAS", "from_env")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert_eq!(config_value(&text, "db-uri").as_deref(), Some("postgresql://fromfile@127.0.0.1:1/filedb"), "{text}");
    assert_eq!(config_value(&text, "db-anon-role").as_deref(), Some("file_anon"));
    assert_eq!(config_value(&text, "server-port").as_deref(), Some("4321"));
    assert_eq!(
        config_value(&text, "db-schemas").as_deref(),
        Some("from_env"),
        "the environment wins over the file:\n{text}"
    );
}

fn assert_one_line_config_error(env: &[(&str, &str)], names: &[&str]) {
    let mut full = vec![
        ("PGRST_DB_URI", "postgresql://postgrest@127.0.0.1:1/nodb"),
        ("PGRST_DB_SCHEMAS", "todo"),
        ("PGRST_DB_ANON_ROLE", "web_anon"),
    ];
    full.extend_from_slice(env);
    let o = tusk(&[], &full);
    assert_eq!(o.status.code(), Some(1), "{env:?}: {o:?}");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{env:?}: exactly one stderr line expected:\n{err}");
    assert!(
        names.iter().any(|n| lines[0].contains(n)),
        "{env:?}: the error should name the setting ({names:?}): {}",
        lines[0]
    );
}

#[test]
fn a_bad_port_is_a_one_line_error() {
    assert_one_line_config_error(&[("PGRST_SERVER_PORT", "notaport")], &["server-port", "PGRST_SERVER_PORT"]);
}

#[test]
fn a_negative_pool_size_is_a_one_line_error() {
    assert_one_line_config_error(&[("PGRST_DB_POOL", "-1")], &["db-pool", "PGRST_DB_POOL"]);
}

#[test]
fn a_bad_openapi_mode_is_a_one_line_error() {
    assert_one_line_config_error(
        &[("PGRST_OPENAPI_MODE", "ignore_privileges")],
        &["openapi-mode", "PGRST_OPENAPI_MODE"],
    );
}

#[test]
fn a_bad_boolean_is_a_one_line_error() {
    assert_one_line_config_error(
        &[("PGRST_DB_PREPARED_STATEMENTS", "maybe")],
        &["db-prepared-statements", "PGRST_DB_PREPARED_STATEMENTS"],
    );
}

#[test]
fn a_bad_config_file_line_is_a_one_line_error() {
    let dir = std::env::temp_dir().join(format!("tusk-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.conf");
    std::fs::write(&file, "server-port = \"not a number\"\n").expect("write");
    let path = file.to_string_lossy().into_owned();
    let o = tusk(
        &[&path],
        &[("PGRST_DB_URI", "postgresql://postgrest@127.0.0.1:1/nodb"), ("PGRST_DB_ANON_ROLE", "web_anon")],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line expected:\n{err}");
    assert!(lines[0].contains("server-port"), "{}", lines[0]);
}

#[test]
fn a_missing_config_file_is_an_error() {
    let o = tusk(&["/nonexistent/tusk.conf"], &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("/nonexistent/tusk.conf"), "{o:?}");
}

#[test]
fn an_unimplemented_postgrest_setting_is_accepted() {
    let o = tusk(
        &["--dump-config"],
        &[
            ("PGRST_DB_URI", "postgresql://someone@127.0.0.1:1/somedb"),
            ("PGRST_DB_PLAN_ENABLED", "true"),
            ("PGRST_DB_CONFIG", "false"),
        ],
    );
    assert!(o.status.success(), "{o:?}");
}

#[tokio::test]
async fn the_server_runs_with_an_unimplemented_postgrest_setting() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_PLAN_ENABLED", "true");
    set_env(&mut env, "PGRST_SERVER_TIMING_ENABLED", "true");
    let t = Tusk::start(&env).await;
    let r = t.get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
}

#[test]
fn token_mints_a_verifiable_jwt() {
    let secret = "a-test-secret-that-is-at-least-32-chars-long";
    let o = tusk(
        &["token", "--role", "todo_user", "--exp", "5m", "--claim", "email=a@b.c"],
        &[("PGRST_JWT_SECRET", secret)],
    );
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let token = text.trim();
    assert_eq!(token.lines().count(), 1, "one line: {text:?}");
    let claims = verify_jwt(secret, token).unwrap_or_else(|e| panic!("{e}: {token}"));
    assert_eq!(claims["role"], json!("todo_user"), "{claims}");
    assert_eq!(claims["email"], json!("a@b.c"), "{claims}");
    let exp = claims["exp"].as_i64().unwrap_or_else(|| panic!("exp: {claims}"));
    let expected = now() + 300;
    assert!((expected - 10..=expected + 10).contains(&exp), "exp {exp} vs {expected}");
    assert!(verify_jwt("some-other-secret-some-other-secret", token).is_err(), "must not verify with another secret");
}

#[tokio::test]
async fn a_minted_token_is_accepted_by_the_server() {
    let db = TestDb::todo();
    let o = tusk(&["token", "--role", "todo_user", "--exp", "1h"], &[("PGRST_JWT_SECRET", SECRET)]);
    assert!(o.status.success(), "{o:?}");
    let token = stdout(&o).trim().to_string();
    let t = Tusk::start(&db.seed_env()).await;
    t.post("/tasks").bearer(&token).json(&json!({"name": "via tusk token"})).send().await.expect_status(201);
    assert_eq!(db.tasks().last().map(|t| t.3.clone()).as_deref(), Some("todo_user"));
}

#[test]
fn token_without_a_secret_fails() {
    let o = tusk(&["token", "--role", "todo_user"], &[]);
    assert!(!o.status.success(), "{o:?}");
    assert!(!stderr(&o).trim().is_empty(), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// tusk demo
// ---------------------------------------------------------------------------------------------

/// Kills the demo on drop if the test fails half-way.
struct DemoProcess(std::process::Child);

impl Drop for DemoProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn demo_serves_the_app_and_cleans_up_on_sigint() {
    let port = free_port();
    let mut cmd = tusk_command();
    cmd.args(["demo", "--port", &port.to_string()]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tusk demo");
    let stdout = child.stdout.take().expect("stdout");
    let errlog = OutputLog::default();
    errlog.capture(child.stderr.take().expect("stderr"));
    let mut demo = DemoProcess(child);

    // Read stdout lines on a thread.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while lines.len() < 6 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                // Tolerate log lines before the banner; after it, the six lines are exact.
                if lines.is_empty() && !line.starts_with("tusk demo is running") {
                    continue;
                }
                lines.push(line);
            }
            Err(_) => panic!("demo did not print its banner; got {lines:?}\nstderr:\n{}", errlog.text()),
        }
    }
    assert_eq!(lines[0], "tusk demo is running. Press Ctrl-C to stop.");
    assert_eq!(lines[1], format!("  app:    http://127.0.0.1:{port}/rpc/homepage"));
    let token = lines[2].strip_prefix("  token:  ").unwrap_or_else(|| panic!("token line: {:?}", lines[2])).to_string();
    assert_eq!(lines[3], format!("  secret: {SECRET}"));
    let psql_uri = lines[4]
        .strip_prefix("  psql:   psql '")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or_else(|| panic!("psql line: {:?}", lines[4]))
        .to_string();
    assert!(psql_uri.starts_with("postgresql://postgres@127.0.0.1:"), "{psql_uri}");
    let password = lines[5]
        .strip_prefix("  user:   demo (password: ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("user line: {:?}", lines[5]))
        .to_string();
    assert!(password.len() >= 12, "{password}");
    let pg_port: u16 = psql_uri
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {psql_uri}"));

    // The token is a todo_user token for the seed's secret, valid for about a day.
    let claims = verify_jwt(SECRET, &token).unwrap_or_else(|e| panic!("{e}: {token}"));
    assert_eq!(claims["role"], json!("todo_user"));
    let exp = claims["exp"].as_i64().unwrap_or_default();
    assert!(exp > now() + 23 * 3600 && exp <= now() + 24 * 3600 + 60, "exp {exp}");

    let http = client();
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str| Req::new(http.get(format!("{base}{path}")), path);
    let r = get("/rpc/homepage").header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8").send().await;
    r.expect_status(200);
    assert_eq!(r.media_type().as_deref(), Some("text/html"), "{r:#?}");
    assert!(r.text.to_lowercase().starts_with("<!doctype html>"), "{r:#?}");
    assert!(
        r.text.contains("src=\"/static/frontend.js\""),
        "the demo page loads /static/frontend.js from the demo server:\n{}",
        r.text
    );

    let r = get("/static/frontend.js").send().await;
    r.expect_status(200);
    assert_eq!(r.media_type().as_deref(), Some("text/javascript"), "{r:#?}");
    let expected_js =
        std::fs::read_to_string(format!("{}/examples/todo/static/frontend.js", env!("CARGO_MANIFEST_DIR")))
            .expect("reading examples/todo/static/frontend.js");
    assert!(r.text == expected_js, "/static/frontend.js is examples/todo/static/frontend.js");

    let r = get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{r:#?}");

    let r = Req::new(http.post(format!("{base}/tasks")), "/tasks")
        .bearer(&token)
        .json(&json!({"name": "try the demo"}))
        .send()
        .await;
    r.expect_status(201);

    // The printed account signs in, and its cookie signs requests in.
    let r = Req::new(http.post(format!("{base}/rpc/login")), "/rpc/login")
        .json(&json!({"name": "demo", "password": password}))
        .send()
        .await;
    r.expect_status(200);
    let cookie = r.header("set-cookie").unwrap_or_default();
    assert!(cookie.starts_with("todo_jwt=ey") && cookie.contains("HttpOnly"), "{r:#?}");
    let session = get("/rpc/session").header("Cookie", cookie.split(';').next().unwrap_or_default()).send().await;
    assert_eq!(session.json()["name"], json!("demo"), "{session:#?}");
    assert_eq!(session.json()["role"], json!("todo_user"), "{session:#?}");

    // The cluster's postgres is running now.
    let needle = format!("-p {pg_port} ");
    assert!(!processes_matching(&["postgres", &needle]).is_empty(), "expected a postgres process with {needle}");

    // Ctrl-C.
    let pid = demo.0.id();
    let status = Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill -INT");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = demo.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "tusk demo did not exit after SIGINT\nstderr:\n{}", errlog.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status after Ctrl-C: {exit:?}\n{}", errlog.text());

    // Nothing is left: no postgres on that port, nothing listening on either port.
    let leftover = processes_matching(&["postgres", &needle]);
    assert!(leftover.is_empty(), "postgres processes left: {leftover:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg_port)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

// ---------------------------------------------------------------------------------------------
// Operating tusk in place of PostgREST (issue 15): what an operator's scripts see
// ---------------------------------------------------------------------------------------------

/// PostgREST's `--dump-config` of its defaults (with `db-config = false`): every key, unset
/// ones as `""`, sorted.
const POSTGREST_DEFAULT_DUMP: &str = r#"admin-server-host = "!4"
admin-server-port = ""
admin-server-unix-socket = ""
admin-server-unix-socket-mode = "660"
client-error-verbosity = "verbose"
db-aggregates-enabled = false
db-anon-role = ""
db-channel = "pgrst"
db-channel-enabled = true
db-config = false
db-extra-search-path = "public"
db-hoisted-tx-settings = "statement_timeout,plan_filter.statement_cost_limit,default_transaction_isolation"
db-max-rows = ""
db-plan-enabled = false
db-pool = 10
db-pool-acquisition-timeout = 10
db-pool-automatic-recovery = true
db-pool-max-idletime = 30
db-pool-max-lifetime = 1800
db-pre-config = ""
db-pre-request = ""
db-prepared-statements = true
db-root-spec = ""
db-schemas = "public"
db-tx-end = "commit"
db-uri = "postgresql://"
jwt-aud = ""
jwt-cache-max-entries = 1000
jwt-role-claim-key = "$$.role"
jwt-secret = ""
jwt-secret-is-base64 = false
log-level = "error"
log-query = false
openapi-mode = "follow-privileges"
openapi-security-active = false
openapi-server-proxy-uri = ""
server-cors-allowed-origins = ""
server-host = "!4"
server-port = 3000
server-reuseport = false
server-timing-enabled = false
server-trace-header = ""
server-unix-socket = ""
server-unix-socket-mode = "660"
url-use-legacy-target-names = true
"#;

#[test]
fn dump_config_of_the_defaults_is_postgrests_byte_for_byte() {
    let o = tusk(&["--dump-config"], &[("PGRST_DB_CONFIG", "false")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o), POSTGREST_DEFAULT_DUMP);
    assert_eq!(stderr(&o), "", "no warning about the defaults");
}

#[test]
fn dump_config_normalizes_values_as_postgrest_and_reads_back() {
    let o = tusk(
        &["--dump-config"],
        &[
            ("PGRST_DB_CONFIG", "off"),
            ("PGRST_DB_SCHEMAS", "api, v2"),
            ("PGRST_DB_POOL", "010"),
            ("PGRST_ADMIN_SERVER_PORT", "3001"),
            ("PGRST_SERVER_HOST", "127.0.0.1"),
            ("PGRST_SERVER_UNIX_SOCKET_MODE", "0640"),
            ("PGRST_ADMIN_SERVER_UNIX_SOCKET", "/tmp/tusk-admin.sock"),
            ("PGRST_JWT_ROLE_CLAIM_KEY", ".\"https://x.io/claims\".roles[0]"),
            ("PGRST_SERVER_CORS_ALLOWED_ORIGINS", "https://a.io , https://b.io"),
            ("PGRST_ROOT_SPEC", "root"),
            ("PGRST_APP_SETTINGS_greeting", "say \"hi\""),
            ("PGRST_RAW_MEDIA_TYPES", "text/html"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = stdout(&o);
    for line in [
        "db-config = false",
        "db-schemas = \"api,v2\"",
        "db-pool = 10",
        "admin-server-port = 3001",
        "admin-server-host = \"127.0.0.1\"",
        "server-unix-socket-mode = \"640\"",
        "admin-server-unix-socket = \"/tmp/tusk-admin.sock\"",
        "jwt-role-claim-key = \"$$['https://x.io/claims'].roles[0]\"",
        "server-cors-allowed-origins = \"https://a.io,https://b.io\"",
        "db-root-spec = \"root\"",
        "app.settings.greeting = \"say \\\"hi\\\"\"",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"raw-media-types = \"text/html\""), "tusk's own settings come last:\n{text}");
    let postgrest_part = &lines[..lines.len() - 1];
    assert!(postgrest_part.windows(2).all(|w| w[0] <= w[1]), "PostgREST's keys are sorted:\n{text}");

    // The dump is a config file that gives the same dump.
    let dir = std::env::temp_dir().join(format!("tusk-cli-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("dumped.conf");
    std::fs::write(&file, &text).expect("writing the dump");
    let again = tusk(&["--dump-config", &file.to_string_lossy()], &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(stdout(&again), text);
}

/// What tusk logs in its first 1.5 s, started with `env` against an unreachable database.
fn startup_log(env: &[(&str, &str)]) -> String {
    let mut cmd = tusk_command();
    cmd.envs([("PGRST_DB_URI", "postgresql://nobody@127.0.0.1:1/nodb"), ("PGRST_LOG_LEVEL", "warn")]);
    cmd.env("PGRST_SERVER_PORT", free_port().to_string());
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning tusk");
    let log = OutputLog::default();
    log.capture(child.stdout.take().expect("stdout"));
    log.capture(child.stderr.take().expect("stderr"));
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(50));
    log.text()
}

#[test]
fn the_admin_unix_socket_settings_are_known() {
    let o = tusk(
        &["--dump-config"],
        &[
            ("PGRST_DB_CONFIG", "false"),
            ("PGRST_ADMIN_SERVER_UNIX_SOCKET", "/tmp/tusk-admin.sock"),
            ("PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE", "600"),
            ("PGRST_LOG_LEVEL", "warn"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("admin-server-unix-socket-mode = \"600\"\n"), "{o:?}");
    // The server's start-up log names unknown settings; these are not among them.
    let log = startup_log(&[
        ("PGRST_ADMIN_SERVER_UNIX_SOCKET", "/tmp/tusk-admin.sock"),
        ("PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE", "600"),
        ("PGRST_ADMIN_SERVER_NO_SUCH_THING", "x"),
    ]);
    assert!(log.contains("admin-server-no-such-thing"), "the control is reported:\n{log}");
    assert!(!log.contains("unknown setting admin-server-unix-socket"), "{log}");
    assert_one_line_config_error(
        &[("PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE", "999")],
        &["admin-server-unix-socket-mode", "PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE"],
    );
    assert_one_line_config_error(
        &[("PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE", "500")],
        &["admin-server-unix-socket-mode", "PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE"],
    );
}

#[test]
fn jwt_role_claim_key_in_both_of_postgrests_forms() {
    for (key, dumped) in [
        ("$.role", "$$.role"),
        ("$.a.b", "$$.a.b"),
        ("$.roles[0]", "$$.roles[0]"),
        ("$[\"my-role\"]", "$$['my-role']"),
        ("$['https://x.io'].role", "$$['https://x.io'].role"),
        (".role", "$$.role"),
        (".roles[1]", "$$.roles[1]"),
        (".\"my-role\"", "$$['my-role']"),
    ] {
        let o = tusk(&["--dump-config"], &[("PGRST_DB_CONFIG", "false"), ("PGRST_JWT_ROLE_CLAIM_KEY", key)]);
        assert_eq!(o.status.code(), Some(0), "{key}: {o:?}");
        assert_eq!(config_value(&stdout(&o), "jwt-role-claim-key").as_deref(), Some(dumped), "{key}");
    }
    for bad in [".role##", ".my_role;;domain", "role", "$.", "$.role##"] {
        assert_one_line_config_error(
            &[("PGRST_JWT_ROLE_CLAIM_KEY", bad)],
            &["jwt-role-claim-key", "PGRST_JWT_ROLE_CLAIM_KEY"],
        );
    }
}

#[tokio::test]
async fn a_json_path_role_claim_key_finds_the_role() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_JWT_ROLE_CLAIM_KEY", "$.app['roles'][1]");
    let t = Tusk::start(&env).await;
    let token = jwt(&json!({"app": {"roles": ["nobody", "todo_user"]}}));
    t.post("/tasks").bearer(&token).json(&json!({"name": "by JSONPath"})).send().await.expect_status(201);
    assert_eq!(db.tasks().last().map(|t| t.3.clone()).as_deref(), Some("todo_user"));
}

#[test]
fn invalid_configuration_is_refused_with_one_line_and_exit_1() {
    for (env, names) in [
        (
            vec![("PGRST_SERVER_PORT", "3456"), ("PGRST_ADMIN_SERVER_PORT", "3456")],
            &["admin-server-port", "server-port"][..],
        ),
        (vec![("PGRST_ADMIN_SERVER_PORT", "3000")], &["admin-server-port"][..]),
        (vec![("PGRST_DB_SCHEMAS", "api,pg_catalog")], &["pg_catalog"][..]),
        (vec![("PGRST_DB_SCHEMAS", "information_schema")], &["information_schema"][..]),
        (vec![("PGRST_OPENAPI_MODE", "follow-")], &["openapi-mode"][..]),
        (vec![("PGRST_JWT_AUD", "http://bad host")], &["jwt-aud"][..]),
        (vec![("PGRST_JWT_AUD", "not a uri: really")], &["jwt-aud"][..]),
        (vec![("PGRST_OPENAPI_SERVER_PROXY_URI", "example.com/api")], &["openapi-server-proxy-uri"][..]),
        (vec![("PGRST_OPENAPI_SERVER_PROXY_URI", "ftp://example.com")], &["openapi-server-proxy-uri"][..]),
        (vec![("PGRST_OPENAPI_SERVER_PROXY_URI", "https://example.com?x=1")], &["openapi-server-proxy-uri"][..]),
    ] {
        assert_one_line_config_error(&env, names);
        // --dump-config refuses it too.
        let mut with_dump = env.clone();
        with_dump.push(("PGRST_DB_CONFIG", "false"));
        let o = tusk(&["--dump-config"], &with_dump);
        assert_eq!(o.status.code(), Some(1), "{env:?}: {o:?}");
        assert_eq!(stdout(&o), "", "{env:?}");
    }
    // What PostgREST accepts stays accepted.
    for env in [
        vec![("PGRST_JWT_AUD", "my-audience")],
        vec![("PGRST_JWT_AUD", "urn:example:audience")],
        vec![("PGRST_JWT_AUD", "https://api.example.com")],
        vec![("PGRST_OPENAPI_SERVER_PROXY_URI", "https://example.com:8443/basePath")],
        vec![("PGRST_SERVER_PORT", "3456"), ("PGRST_ADMIN_SERVER_PORT", "3457")],
    ] {
        let mut env = env.clone();
        env.push(("PGRST_DB_CONFIG", "false"));
        let o = tusk(&["--dump-config"], &env);
        assert_eq!(o.status.code(), Some(0), "{env:?}: {o:?}");
    }
}

#[test]
fn short_flags_as_postgrest() {
    for flag in ["-v", "--version"] {
        let o = tusk(&[flag], &[]);
        assert_eq!(o.status.code(), Some(0), "{flag}: {o:?}");
        assert_eq!(stdout(&o), format!("tusk {}\n", env!("CARGO_PKG_VERSION")), "{flag}");
    }
    let long = tusk(&["--example"], &[]);
    let short = tusk(&["-e"], &[]);
    assert_eq!(short.status.code(), Some(0), "{short:?}");
    assert_eq!(stdout(&short), stdout(&long));
    assert!(stdout(&short).contains("jwt-role-claim-key = \"$$.role\""), "{}", stdout(&short));
}
