//! TLS and HTTP/2 (issue 10): a test CA and server certificates made here (support/pki.rs), served by
//! tusk from `server-tls-cert`/`server-tls-key`, checked with real clients trusting only that CA:
//! curl (HTTP/2 and HTTP/1.1 by ALPN), Python's ssl + http.client, rustls; the certificate
//! swapped by SIGUSR2 (served certificate compared before and after), a broken one kept out,
//! start-up refusals, the handshake under the header timeout, h2c, an HTTP/2 stream reset
//! cancelling its query like a disconnect, and curl-style URLs (raw `"`, `<`, `>`) over HTTP/2
//! (the patched `vendor/h2`) with malformed `:path`s still refused. Chromium trusting the test
//! CA is in `tests/optional.rs` (it skips without Chromium).

mod support;

use rcgen::KeyPair;
use std::process::Command;
use std::time::{Duration, Instant};
use support::pki::Pki;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// `curl` with `args`: stdout, or `None` (and "SKIPPED") when curl is not installed.
fn curl(args: &[&str]) -> Option<String> {
    match Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output() {
        Ok(out) => {
            assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => {
            eprintln!("SKIPPED: curl is not available ({e})");
            None
        }
    }
}

#[tokio::test]
async fn https_with_http2_and_http11_by_alpn_for_curl_and_python() {
    let pki = Pki::new("alpn");
    pki.issue(1);
    let db = TestDb::todo();
    let t = pki.start(&pki.env(&db)).await;
    let url = format!("https://localhost:{}/tasks?select=id&order=id", t.port);
    let ca = pki.ca_path();
    let fmt = "%{http_version} %{http_code} ";
    if let Some(out) = curl(&["--cacert", &ca, "--http2", "-w", fmt, "-o", "/dev/null", &url]) {
        assert_eq!(out, "2 200 ");
        let out = curl(&["--cacert", &ca, "--http1.1", "-w", fmt, "-o", "/dev/null", &url]).unwrap_or_default();
        assert_eq!(out, "1.1 200 ");
        let body = curl(&["--cacert", &ca, "--http2", &url]).unwrap_or_default();
        let rows: Value = serde_json::from_str(&body).expect("json");
        assert!(rows.as_array().is_some_and(|r| !r.is_empty()), "{body}");
        // Without the CA the certificate is not trusted.
        let untrusted = Command::new("curl").args(["-sS", "--max-time", "10", &url]).output().expect("curl");
        assert!(!untrusted.status.success());
    }
    // Python's ssl verifies the chain and the host name against the CA file.
    let script = format!(
        "import ssl, http.client, json\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         c = http.client.HTTPSConnection('localhost', {port}, context=ctx)\n\
         c.request('GET', '/tasks?select=id&limit=1')\n\
         r = c.getresponse()\n\
         print(r.status, len(json.loads(r.read())), c.sock.version())\n",
        port = t.port
    );
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
            assert!(text.starts_with("200 1 TLSv1."), "{text}");
        }
        Err(e) => eprintln!("SKIPPED: python3 is not available ({e})"),
    }
}

#[tokio::test]
async fn sigusr2_serves_a_renewed_certificate_and_keeps_it_when_the_new_one_is_broken() {
    let pki = Pki::new("reload");
    let first = pki.issue(1001);
    let db = TestDb::todo();
    let t = pki.start(&pki.env(&db)).await;
    let (status, served) = pki.get(t.port, "/tasks?select=id").await.expect("get");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(served, first);
    let second = pki.issue(1002);
    assert_ne!(first, second);
    let usr2 = || assert!(Command::new("kill").args(["-USR2", &t.pid().to_string()]).status().expect("kill").success());
    usr2();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pki.get(t.port, "/").await.map(|(_, s)| s) != Ok(second.clone()) {
        assert!(Instant::now() < deadline, "the renewed certificate is not served: {}", t.output.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A key that does not match the certificate: refused, logged, the current one stays.
    let third = KeyPair::generate().expect("key");
    std::fs::write(pki.dir.join("key.pem"), third.serialize_pem()).expect("write");
    usr2();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.output.text().contains("the current TLS certificate stays in effect") {
        assert!(Instant::now() < deadline, "no log of the refused certificate: {}", t.output.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t.output.text().contains("server-tls-key does not match"), "{}", t.output.text());
    let (status, served) = pki.get(t.port, "/tasks?select=id").await.expect("still serving");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(served, second);
}

/// Runs tusk with `env` until it exits (at most 20 s): its exit code and output.
fn run_to_exit(env: &[(String, String)]) -> (Option<i32>, String) {
    let mut cmd = tusk_command();
    cmd.env("PGRST_SERVER_HOST", "127.0.0.1").env("PGRST_SERVER_PORT", free_port().to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tusk kept running with a broken TLS configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[tokio::test]
async fn a_missing_or_mismatched_key_refuses_to_start() {
    let pki = Pki::new("refuse");
    pki.issue(1);
    let db = TestDb::todo();
    let cases: [(&str, &str, &str); 4] = [
        ("PGRST_SERVER_TLS_KEY", "", "server-tls-key"),
        ("PGRST_SERVER_TLS_KEY", "/nonexistent/key.pem", "server-tls-key: cannot read /nonexistent/key.pem"),
        ("PGRST_SERVER_TLS_CERT", "/nonexistent/cert.pem", "server-tls-cert: cannot read /nonexistent/cert.pem"),
        ("PGRST_SERVER_TLS_KEY", "MISMATCH", "server-tls-key does not match the certificate"),
    ];
    let other = KeyPair::generate().expect("key");
    std::fs::write(pki.dir.join("other.pem"), other.serialize_pem()).expect("write");
    for (var, value, message) in cases {
        let mut env = pki.env(&db);
        let value = if value == "MISMATCH" { pki.path("other.pem") } else { value.to_string() };
        set_env(&mut env, var, &value);
        let (code, output) = run_to_exit(&env);
        assert_eq!(code, Some(1), "{var}={value}: {output}");
        assert!(output.contains(message), "{var}={value}: wanted {message:?} in {output}");
    }
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_dropped_after_the_header_timeout() {
    let pki = Pki::new("handshake");
    pki.issue(1);
    let db = TestDb::todo();
    let mut env = pki.env(&db);
    set_env(&mut env, "PGRST_SERVER_HEADER_TIMEOUT", "1");
    let t = pki.start(&env).await;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await.expect("connect");
    // The first bytes of a ClientHello, then nothing.
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the half handshake was left open");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(4), "closed after {took:?}");
    // Still serving.
    let (status, _) = pki.get(t.port, "/tasks?select=id").await.expect("get");
    assert!(status.contains(" 200"), "{status}");
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    env.push(("PGRST_LOG_LEVEL".into(), "info".into()));
    let t = Tusk::start(&env).await;
    let url = t.url("/tasks?select=id");
    if let Some(out) = curl(&["--http2-prior-knowledge", "-w", "%{http_version} %{http_code}", "-o", "/dev/null", &url])
    {
        assert_eq!(out, "2 200");
        let out = curl(&["--http1.1", "-w", "%{http_version} %{http_code}", "-o", "/dev/null", &url]);
        assert_eq!(out.as_deref(), Some("1.1 200"));
        // The request log names the protocol each request came over.
        let deadline = Instant::now() + Duration::from_secs(10);
        let logged = |log: &str| {
            log.contains("\"GET /tasks?select=id HTTP/2.0\" 200")
                && log.contains("\"GET /tasks?select=id HTTP/1.1\" 200")
        };
        while !logged(&t.output.text()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(logged(&t.output.text()), "{}", t.output.text());
    }
}

/// `curl --path-as-is -g` with `args` and `url` as written: HTTP version, status and body.
fn curl_as_written(args: &[&str], url: &str) -> Option<(String, String, String)> {
    let mut all = vec!["--path-as-is", "-g", "-w", "\n%{http_version} %{http_code}"];
    all.extend_from_slice(args);
    all.push(url);
    let out = curl(&all)?;
    let (body, status) = out.rsplit_once('\n').expect("status line");
    let (version, code) = status.split_once(' ').expect("version and code");
    Some((version.to_string(), code.to_string(), body.to_string()))
}

fn people(db: &TestDb) {
    db.psql(
        "create table todo.people (id int primary key, json_data jsonb);
         insert into todo.people values (1, '{\"blood_type\": \"A-\"}'), (2, '{\"blood_type\": \"O+\"}');
         grant select on todo.people to web_anon;",
    );
}

/// Each of [`DOC_URLS`] as written, with curl and `args` against `base`: HTTP/2, 200, and the
/// body of the same URL percent-encoded.
fn doc_urls_answer_over_http2(args: &[&str], base: &str) {
    for (raw, encoded) in DOC_URLS {
        let Some((version, status, body)) = curl_as_written(args, &format!("{base}{raw}")) else { return };
        assert_eq!((version.as_str(), status.as_str()), ("2", "200"), "{raw}: {body}");
        let want = curl_as_written(args, &format!("{base}{encoded}")).unwrap_or_default();
        assert_eq!((version, status, body), want, "{raw}");
    }
    let (_, _, body) = curl_as_written(args, &format!("{base}{}", DOC_URLS[0].0)).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(&body).ok(),
        Some(serde_json::json!([{"id": 1, "blood_type": "A-"}, {"id": 2, "blood_type": "O+"}]))
    );
    let (_, _, body) = curl_as_written(args, &format!("{base}{}", DOC_URLS[1].0)).unwrap_or_default();
    assert_eq!(serde_json::from_str::<Value>(&body).ok(), Some(serde_json::json!([{"id": 1}])));
}

#[tokio::test]
async fn curl_style_urls_work_as_written_over_http2_with_tls() {
    let pki = Pki::new("curlurls");
    pki.issue(1);
    let db = TestDb::todo();
    people(&db);
    let t = pki.start(&pki.env(&db)).await;
    let ca = pki.ca_path();
    doc_urls_answer_over_http2(&["--cacert", &ca, "--http2"], &format!("https://localhost:{}", t.port));
}

#[tokio::test]
async fn curl_style_urls_work_as_written_over_cleartext_http2() {
    let db = TestDb::todo();
    people(&db);
    let t = Tusk::start(&db.seed_env()).await;
    doc_urls_answer_over_http2(&["--http2-prior-knowledge"], &t.url(""));
}

/// A raw HTTP/2 client (h2c, prior knowledge) whose `:path` is sent as given, byte for byte:
/// the `h2` client, as every other, refuses to send what these tests need.
struct RawH2 {
    s: std::net::TcpStream,
}

impl RawH2 {
    fn connect(port: u16) -> RawH2 {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").expect("preface");
        let mut h = RawH2 { s };
        h.frame(4, 0, 0, &[]);
        h
    }

    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        use std::io::Write;
        let len = u32::try_from(payload.len()).expect("len").to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        self.s.write_all(&f).expect("write frame");
    }

    /// `GET path` on `stream`: the header block is HPACK literals without Huffman coding.
    fn get(&mut self, stream: u32, path: &[u8]) {
        let mut block = Vec::new();
        for (name, value) in
            [(&b":method"[..], &b"GET"[..]), (b":scheme", b"http"), (b":authority", b"localhost"), (b":path", path)]
        {
            assert!(name.len() < 127 && value.len() < 127);
            block.push(0);
            block.push(name.len() as u8);
            block.extend_from_slice(name);
            block.push(value.len() as u8);
            block.extend_from_slice(value);
        }
        // END_STREAM | END_HEADERS
        self.frame(1, 0x5, stream, &block);
    }

    /// Reads frames until `stream` ends: `Err(code)` for a RST_STREAM, else its DATA.
    fn answer(&mut self, stream: u32) -> Result<Vec<u8>, u32> {
        use std::io::Read;
        let mut data = Vec::new();
        loop {
            let mut head = [0u8; 9];
            self.s.read_exact(&mut head).expect("frame head");
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, flags) = (head[3], head[4]);
            let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            self.s.read_exact(&mut payload).expect("frame payload");
            match kind {
                // SETTINGS (not an ACK): acknowledged.
                4 if flags & 1 == 0 => self.frame(4, 1, 0, &[]),
                // GOAWAY: the connection is over.
                7 => panic!("GOAWAY while waiting for stream {stream}: {payload:?}"),
                3 if id == stream => return Err(u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])),
                0 if id == stream => {
                    data.extend_from_slice(&payload);
                    if flags & 1 == 1 {
                        return Ok(data);
                    }
                }
                1 if id == stream && flags & 1 == 1 => return Ok(data),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn http2_paths_are_encoded_as_http1_targets_and_malformed_ones_still_refused() {
    let db = TestDb::todo();
    let t = Tusk::start(&db.seed_env()).await;
    let mut h2 = RawH2::connect(t.port);
    let mut stream = 1;
    let mut next = || {
        let id = stream;
        stream += 2;
        id
    };
    // Raw `"` and spaces (curl will not send those, other clients do), and UTF-8.
    for (path, rows) in [
        ("/tasks?select=name&name=in.(\"finish tutorial 0\")", serde_json::json!([{"name": "finish tutorial 0"}])),
        ("/tasks?select=name&name=eq.pat self on back", serde_json::json!([{"name": "pat self on back"}])),
        ("/tasks?select=id&name=eq.\"<José>\"#x", serde_json::json!([])),
    ] {
        let id = next();
        h2.get(id, path.as_bytes());
        let body = h2.answer(id).unwrap_or_else(|code| panic!("{path}: reset with {code}"));
        assert_eq!(
            serde_json::from_slice::<Value>(&body).ok(),
            Some(rows),
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    // Still refused, as HTTP/2 says (a stream error PROTOCOL_ERROR), on a connection that goes on:
    // a control character, no leading slash, an empty path.
    for path in [&b"/tasks?select=id&name=eq.\x01"[..], b"/tasks\x7f", b"/tasks?\"\r\n", b"\"/tasks", b"tasks", b""] {
        let id = next();
        h2.get(id, path);
        assert_eq!(h2.answer(id), Err(1), "{}", String::from_utf8_lossy(path));
    }
    let id = next();
    h2.get(id, b"/tasks?select=id&name=eq.\"<x>\"");
    assert_eq!(h2.answer(id).map(|b| String::from_utf8_lossy(&b).into_owned()), Ok("[]".to_string()));
}

/// How many statements of this database's requests run `pg_sleep` right now.
fn sleeps_running(db: &TestDb) -> i64 {
    let sql = format!(
        "select count(*) from pg_stat_activity where datname = '{}' and state = 'active' \
         and query like '%\"nap\"%' and pid <> pg_backend_pid()",
        db.name
    );
    db.psql(&sql).trim().parse().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_stream_reset_cancels_its_query_and_the_connection_goes_on() {
    let pki = Pki::new("reset");
    pki.issue(1);
    let db = TestDb::todo();
    db.psql(
        "create function todo.nap(seconds float8) returns int language sql as 'select 1 from pg_sleep(seconds)';
         grant execute on function todo.nap(float8) to web_anon, todo_user;",
    );
    let t = pki.start(&pki.env(&db)).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = pki.client(&[b"h2"]).connect(name, tcp).await.expect("tls");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    let (h2, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.expect("ready");
    let get = |path: &str| {
        hyper::Request::get(format!("https://localhost:{}{path}", t.port))
            .header("authorization", format!("Bearer {SEED_TOKEN}"))
            .body(())
            .expect("request")
    };
    let (response, mut stream) = h2.send_request(get("/rpc/nap?seconds=30"), true).expect("send");
    let db_ref = &db;
    poll(
        Duration::from_secs(10),
        "the statement to run",
        || async move { (sleeps_running(db_ref) == 1).then_some(()) },
    )
    .await;
    stream.send_reset(h2::Reason::CANCEL);
    drop(response);
    let reset = Instant::now();
    while sleeps_running(&db) != 0 {
        assert!(reset.elapsed() < Duration::from_secs(5), "the statement still runs 5 s after the reset");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("the statement of a reset HTTP/2 stream ended {} ms after the reset", reset.elapsed().as_millis());
    // The same connection serves the next stream.
    let mut h2 = h2.ready().await.expect("still ready");
    let (response, _) = h2.send_request(get("/rpc/nap?seconds=0"), true).expect("send");
    let response = tokio::time::timeout(Duration::from_secs(10), response).await.expect("in time").expect("response");
    assert_eq!(response.status(), 200);
}

/// `tusk demo --tls` on `port` until its banner names the certificate: the process and the
/// certificate's path (`None`: it exited first, e.g. the port was taken meanwhile).
fn spawn_demo_tls(port: u16) -> (std::process::Child, Option<String>) {
    use std::io::{BufRead, BufReader};
    let mut cmd = tusk_command();
    cmd.args(["demo", "--tls", "--port", &port.to_string()]);
    let mut child = cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        if let Some(cert) = line.strip_prefix("  cert:   ").and_then(|l| l.split(' ').next()) {
            return (child, Some(cert.to_string()));
        }
    }
    (child, None)
}

#[tokio::test]
async fn demo_tls_serves_https_with_a_self_signed_certificate() {
    let mut attempts = 0;
    let (port, mut child, cert) = loop {
        let port = free_port();
        let (child, cert) = spawn_demo_tls(port);
        attempts += 1;
        if cert.is_some() || attempts == 3 {
            break (port, child, cert);
        }
    };
    let result = cert.ok_or("no cert line in the banner").map(|cert| {
        let url = format!("https://localhost:{port}/tasks");
        curl(&["--cacert", &cert, "--http2", "-w", "\n%{http_version} %{http_code}", &url])
    });
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(out) = result.expect("demo banner") {
        let (body, version) = out.rsplit_once('\n').expect("status");
        assert_eq!(version, "2 200", "{out}");
        assert_eq!(serde_json::from_str::<Value>(body).ok().and_then(|v| v.as_array().map(Vec::len)), Some(2));
    }
}
