//! TLS and HTTP/2 (issue 10): a test CA and server certificates made here (rcgen), served by
//! tusk from `server-tls-cert`/`server-tls-key`, checked with real clients trusting only that CA:
//! curl (HTTP/2 and HTTP/1.1 by ALPN), Python's ssl + http.client, rustls; the certificate
//! swapped by SIGUSR2 (served certificate compared before and after), a broken one kept out,
//! start-up refusals, the handshake under the header timeout, h2c, and an HTTP/2 stream reset
//! cancelling its query like a disconnect.

mod support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

/// A test CA in a directory of its own, deleted on drop.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("tusk-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Names of their own: a leaf whose subject is its issuer's looks self-signed to OpenSSL.
        params.distinguished_name.push(DnType::CommonName, "tusk test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
        Pki { dir, ca }
    }

    fn ca_path(&self) -> String {
        self.path("ca.pem")
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// A certificate for localhost and 127.0.0.1 with this serial number, signed by the CA,
    /// written to `cert.pem` and `key.pem`; its DER.
    fn issue(&self, serial: u64) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("p");
        params.serial_number = Some(serial.into());
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        std::fs::write(self.dir.join("cert.pem"), cert.pem()).expect("write cert");
        std::fs::write(self.dir.join("key.pem"), key.serialize_pem()).expect("write key");
        cert.der().to_vec()
    }

    fn env(&self, db: &TestDb) -> Vec<(String, String)> {
        let mut env = db.seed_env();
        set_env(&mut env, "PGRST_SERVER_TLS_CERT", &self.path("cert.pem"));
        set_env(&mut env, "PGRST_SERVER_TLS_KEY", &self.path("key.pem"));
        env
    }

    /// A rustls client trusting only the CA, offering `alpn`.
    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.ca_path()).expect("ca pem")).expect("root");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// `GET path` over TLS (HTTP/1.1): the status line and the served certificate's DER.
    async fn get(&self, port: u16, path: &str) -> Result<(String, Vec<u8>), String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut tls = self.client(&[b"http/1.1"]).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let served = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        // A peer that closes without close_notify is fine here.
        let _ = tls.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        Ok((text.lines().next().unwrap_or_default().to_string(), served.unwrap_or_default()))
    }

    /// Spawns tusk with TLS and waits until it answers over HTTPS.
    async fn start(&self, env: &[(String, String)]) -> Tusk {
        let mut t = Tusk::spawn(env, free_port());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(t.is_running(), "tusk exited: {}", t.output.text());
            match self.get(t.port, "/").await {
                Ok((status, _)) if status.starts_with("HTTP/1.1 ") && !status.contains(" 503") => return t,
                _ if Instant::now() > deadline => panic!("not ready over HTTPS: {}", t.output.text()),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
