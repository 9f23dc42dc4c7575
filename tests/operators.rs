//! tusk run the way an operator's scripts run PostgREST: libpq's environment, password file,
//! service file and multi-host strings with `target_session_attrs` (against real clusters: one
//! asking for passwords, a primary with a streaming standby); connection errors that say what
//! and where; `--dump-schema`, `--ready`; the admin server on a unix socket and its `/live` and
//! `/ready` when the API's socket is gone; unknown settings warned about at any log level; a
//! quiet log (one line per retry, no colours in a pipe, nothing alarming on Ctrl-C).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::*;

/// `tusk ARGS` with exactly `env` (besides PATH and HOME=`home`), run to completion.
fn tusk_run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = tusk_command();
    for v in tusk::cluster::LIBPQ_ENV {
        cmd.env_remove(v);
    }
    let home = scratch_dir("home");
    cmd.env("HOME", &home).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Each of these exits by itself: the pool gives up after its timeouts.
    cmd.spawn().expect("spawning tusk").wait_with_output().expect("waiting for tusk")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A fresh directory under the system temp dir, readable by the postgres user.
fn scratch_dir(what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tusk-ops-{}-{what}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a scratch dir");
    dir
}

fn write_private(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writing");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

const PASSWORD: &str = "pa:ss\\word";

/// A cluster that asks for passwords (`scram-sha-256`); the superuser's is [`PASSWORD`].
fn password_cluster() -> &'static TempCluster {
    static C: OnceLock<TempCluster> = OnceLock::new();
    C.get_or_init(|| TempCluster::start_with_password(PASSWORD).expect("starting a password cluster"))
}

fn socket_dir() -> String {
    cluster().socket_dir().display().to_string()
}

#[test]
fn everything_from_the_libpq_environment() {
    let db = TestDb::todo();
    let env = |user: &str| {
        vec![
            ("PGHOST", socket_dir()),
            ("PGPORT", cluster().port().to_string()),
            ("PGUSER", user.to_string()),
            ("PGDATABASE", db.name.clone()),
            ("PGAPPNAME", "ops-test".to_string()),
            ("PGRST_DB_SCHEMAS", "todo".to_string()),
        ]
    };
    // No db-uri at all: PostgREST's default `postgresql://`, all from the environment.
    let o = tusk_run(&["--dump-schema"], &env("postgres"));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let schema: Value = serde_json::from_str(&out).expect("--dump-schema prints JSON");
    assert!(schema["tables"].to_string().contains("\"tasks\""), "{out}");
    // The repro: `--dump-config` reads the in-database settings over that connection.
    let o = tusk_run(&["--dump-config"], &env("postgres"));
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("db-schemas = \"todo\""), "{:?}", text(&o));
    // PGUSER is who connects: an unknown one is refused by the server, which names it.
    let o = tusk_run(&["--dump-schema"], &env("nobody_here"));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("role \"nobody_here\" does not exist"), "{err}");
    // A URI naming only the database and the socket takes the user and port from the
    // environment too.
    let mut with_uri = env("nobody_here");
    with_uri.retain(|(k, _)| *k != "PGHOST" && *k != "PGDATABASE");
    with_uri.push(("PGRST_DB_URI", format!("postgres:///{}?host={}", db.name, socket_dir())));
    let (_, err) = text(&tusk_run(&["--dump-schema"], &with_uri));
    assert!(err.contains("role \"nobody_here\" does not exist"), "{err}");
    // PGSSLMODE=require over a unix socket: libpq uses no TLS there, and connects.
    let mut tls = env("postgres");
    tls.push(("PGSSLMODE", "require".into()));
    let o = tusk_run(&["--dump-schema"], &tls);
    assert!(o.status.success(), "{:?}", text(&o));
    // A mode libpq does not know is refused at start-up, saying so.
    let mut tls = env("postgres");
    tls.push(("PGSSLMODE", "sometimes".into()));
    let o = tusk_run(&["--dump-schema"], &tls);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("invalid sslmode value"), "{:?}", text(&o));
    // The key=value form.
    let kv = format!("host={} port={} user=postgres dbname={}", socket_dir(), cluster().port(), db.name);
    let o = tusk_run(&["--dump-schema"], &[("PGRST_DB_URI", kv), ("PGRST_DB_SCHEMAS", "todo".into())]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn the_password_file_with_wildcards_and_escapes() {
    let c = password_cluster();
    let dir = scratch_dir("pgpass");
    let file = dir.join("pgpass");
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    // Over the socket libpq looks up "localhost"; over TCP the host as given.
    let lines = format!(
        "# tusk\nlocalhost:{port}:postgres:postgres:{escaped}\n127.0.0.1:*:*:postgres:{escaped}\n",
        port = c.port()
    );
    write_private(&file, &lines, 0o600);
    let base = |host: String| {
        vec![
            ("PGHOST", host),
            ("PGPORT", c.port().to_string()),
            ("PGUSER", "postgres".to_string()),
            ("PGDATABASE", "postgres".to_string()),
            ("PGPASSFILE", file.display().to_string()),
            ("PGRST_DB_SCHEMAS", "public".to_string()),
        ]
    };
    for host in [c.socket_dir().display().to_string(), "127.0.0.1".to_string()] {
        let o = tusk_run(&["--dump-schema"], &base(host.clone()));
        assert!(o.status.success(), "over {host}: {:?}", text(&o));
    }
    // PGPASSWORD wins over the file; a wrong one is refused.
    let mut wrong = base("127.0.0.1".into());
    wrong.push(("PGPASSWORD", "wrong".into()));
    let (_, err) = text(&tusk_run(&["--dump-schema"], &wrong));
    assert!(err.contains("password authentication failed for user \"postgres\""), "{err}");
    // A file that group or world can read is ignored, as libpq does: no password then.
    write_private(&file, &lines, 0o644);
    let o = tusk_run(&["--dump-schema"], &base("127.0.0.1".into()));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("no password supplied"), "{err}");
    assert!(err.contains(&format!("\"127.0.0.1\", port {}", c.port())), "{err}");
}

#[test]
fn a_service_from_pg_service_conf() {
    let db = TestDb::todo();
    let dir = scratch_dir("service");
    let file = dir.join("pg_service.conf");
    let conf = format!(
        "# services\n[other]\nhost=/nowhere\n\n[tusk_todo]\nhost={}\nport={}\nuser=postgres\ndbname={}\n",
        socket_dir(),
        cluster().port(),
        db.name
    );
    std::fs::write(&file, conf).expect("writing the service file");
    let env = vec![
        ("PGSERVICEFILE", file.display().to_string()),
        ("PGSERVICE", "tusk_todo".to_string()),
        ("PGRST_DB_SCHEMAS", "todo".to_string()),
    ];
    let o = tusk_run(&["--dump-schema"], &env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("\"tasks\""), "{out}");
    // `service=` in db-uri says the same; an unknown service is refused with its name.
    let o =
        tusk_run(&["--dump-schema"], &[env[0].clone(), ("PGRST_DB_URI", "service=tusk_todo".into()), env[2].clone()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = tusk_run(&["--dump-schema"], &[env[0].clone(), ("PGRST_DB_URI", "service=nope".into())]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("definition of service \"nope\" not found"), "{err}");
}

/// Runs `tusk` on `env` until `/rpc/port` answers, and returns that answer: the port of the
/// server it connected to.
async fn connected_port(env: Vec<(String, String)>) -> u16 {
    let mut full = env;
    full.push(("PGRST_DB_SCHEMAS".into(), "public".into()));
    full.push(("PGRST_DB_ANON_ROLE".into(), "postgres".into()));
    full.push(("PGRST_LOG_LEVEL".into(), "info".into()));
    let t = Tusk::start(&full).await;
    let r = t.get("/rpc/port").send().await;
    assert_eq!(r.status, 200, "{}\n{}", r.text, t.output.text());
    r.text.trim().parse().unwrap_or_else(|_| panic!("a port: {}", r.text))
}

#[tokio::test]
async fn multi_host_strings_pick_by_target_session_attrs() {
    let (primary, standby) = tokio::task::spawn_blocking(|| {
        let primary = TempCluster::start().expect("a primary");
        primary
            .psql("create function public.port() returns int language sql as 'select inet_server_port()'")
            .expect("creating port()");
        let standby = primary.start_standby().expect("a streaming standby");
        (primary, standby)
    })
    .await
    .expect("clusters");
    // The function reaches the standby by streaming replication.
    let deadline = Instant::now() + Duration::from_secs(30);
    while standby.psql("select public.port()").is_err() {
        assert!(Instant::now() < deadline, "the standby never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(standby.psql("select pg_is_in_recovery()").expect("psql").trim(), "t");
    let dead = free_port();
    let (p, s) = (primary.port(), standby.port());
    let uri = |attrs: &str| {
        format!(
            "postgresql://postgres@127.0.0.1:{dead},127.0.0.1:{s},127.0.0.1:{p}/postgres?target_session_attrs={attrs}"
        )
    };
    let with_uri = |attrs: &str| vec![("PGRST_DB_URI".to_string(), uri(attrs))];
    // A dead first host is skipped; `any` takes the first that answers (the standby).
    assert_eq!(connected_port(with_uri("any")).await, s);
    assert_eq!(connected_port(with_uri("read-write")).await, p);
    assert_eq!(connected_port(with_uri("primary")).await, p);
    assert_eq!(connected_port(with_uri("standby")).await, s);
    assert_eq!(connected_port(with_uri("read-only")).await, s);
    assert_eq!(connected_port(with_uri("prefer-standby")).await, s);
    // The environment's form: `PGHOST=a,b`, a port each, `PGTARGETSESSIONATTRS`.
    let env = vec![
        ("PGHOST".to_string(), "127.0.0.1,127.0.0.1".to_string()),
        ("PGPORT".to_string(), format!("{s},{p}")),
        ("PGUSER".to_string(), "postgres".to_string()),
        ("PGDATABASE".to_string(), "postgres".to_string()),
        ("PGTARGETSESSIONATTRS".to_string(), "read-write".to_string()),
    ];
    assert_eq!(connected_port(env).await, p);
    // Only the standby listed and a primary wanted: never ready, and the log says why.
    let only_standby = vec![(
        "PGRST_DB_URI".to_string(),
        format!("postgresql://postgres@127.0.0.1:{s}/postgres?target_session_attrs=primary"),
    )];
    let o = tusk_run(&["--dump-schema"], &env_of(&only_standby));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("target_session_attrs=primary") && err.contains("hot standby"), "{err}");
    drop(standby);
    drop(primary);
}

/// The log of a tusk that cannot reach its database, once it has said `wanted` (two attempts'
/// worth), or after 20 s.
fn log_of_failing_start(uri: &str, wanted: &str) -> String {
    let port = free_port();
    let env = vec![("PGRST_DB_URI".to_string(), uri.to_string())];
    let t = Tusk::spawn(&env, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.output.text().matches(wanted).count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = t.output.text();
    drop(t);
    log
}

#[test]
fn connection_errors_say_what_and_where() {
    let c = password_cluster();
    let dead = free_port();
    let p = c.port();
    let cases = [
        (format!("postgresql://postgres:x@127.0.0.1:{dead}/postgres"), format!("connection to server at \"127.0.0.1\", port {dead} failed: Connection refused")),
        ("postgresql://postgres:x@no-such-host.invalid:5432/postgres".to_string(), "could not translate host name \"no-such-host.invalid\" to address".to_string()),
        (format!("postgresql://postgres:wrong@127.0.0.1:{p}/postgres"), format!("connection to server at \"127.0.0.1\", port {p} failed: password authentication failed for user \"postgres\"")),
        (format!("postgresql://postgres:{}@127.0.0.1:{p}/no_such_db", pct(PASSWORD)), format!("connection to server at \"127.0.0.1\", port {p} failed: database \"no_such_db\" does not exist")),
        (format!("postgresql://postgres@127.0.0.1:{p}/postgres"), format!("connection to server at \"127.0.0.1\", port {p} failed: no password supplied")),
    ];
    for (uri, wanted) in cases {
        let log = log_of_failing_start(&uri, &wanted);
        assert!(log.contains(&wanted), "{uri}: wanted {wanted:?} in\n{log}");
        // One line per attempt, each saying what failed; nothing about a previous
        // configuration that never was; no colour codes in a pipe.
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        assert!(!errors.is_empty(), "{log}");
        assert!(errors.iter().all(|l| l.contains(&wanted) && l.contains("retrying in")), "{log}");
        assert!(!log.contains("previous configuration"), "{log}");
        assert!(!log.contains('\x1b'), "{log:?}");
        assert!(!log.contains("invalid configuration"), "{log}");
    }
}

fn env_of(env: &[(String, String)]) -> Vec<(&str, String)> {
    env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

fn pct(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A").replace('\\', "%5C")
}

#[test]
fn unknown_settings_are_warned_about_at_any_log_level() {
    let dir = scratch_dir("typo");
    let file = dir.join("tusk.conf");
    std::fs::write(&file, "db-shemas = \"api\"\ndb-config = false\n").expect("writing");
    let o = tusk_run(
        &["--dump-config", file.to_str().expect("path")],
        &[("PGRST_DB_URL", "postgres://x".into()), ("PGRST_LOG_LEVEL", "crit".into())],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("unknown setting db-shemas is ignored; did you mean db-schemas?"), "{err}");
    assert!(err.contains("unknown setting PGRST_DB_URL (db-url) is ignored; did you mean PGRST_DB_URI?"), "{err}");
    // The dump itself stays clean.
    assert!(!out.contains("unknown"), "{out}");
}

#[tokio::test]
async fn ready_flag_and_admin_server_on_a_unix_socket() {
    let db = TestDb::todo();
    let dir = scratch_dir("admin");
    let admin_socket = dir.join("admin.sock");
    let mut env = db.seed_env();
    env.push(("PGRST_ADMIN_SERVER_UNIX_SOCKET".into(), admin_socket.display().to_string()));
    env.push(("PGRST_ADMIN_SERVER_UNIX_SOCKET_MODE".into(), "600".into()));
    let t = Tusk::start(&env).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&admin_socket).expect("the admin socket exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // What a health check does: curl on the socket.
    let curl = |path: &str| {
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket"])
            .arg(&admin_socket)
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while curl("/ready") != "200" {
        assert!(Instant::now() < deadline, "never ready: {}", t.output.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl("/live"), "200");
    let o = tusk_run(&["--ready"], &env_of(&env));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("OK: "), "{out}");
    // Over TCP too, and failing (exit 1) once nobody listens.
    let admin_port = free_port();
    let mut tcp_env = db.seed_env();
    tcp_env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t2 = Tusk::start(&tcp_env).await;
    let mut tcp_env_cli = tcp_env.clone();
    tcp_env_cli.push(("PGRST_SERVER_HOST".into(), "127.0.0.1".into()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = tusk_run(&["--ready"], &env_of(&tcp_env_cli));
        if o.status.success() {
            assert_eq!(text(&o).0.trim(), format!("OK: http://127.0.0.1:{admin_port}/ready"));
            break;
        }
        assert!(Instant::now() < deadline, "--ready never succeeded: {:?}", text(&o));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(t2);
    std::thread::sleep(Duration::from_millis(200));
    let o = tusk_run(&["--ready"], &env_of(&tcp_env_cli));
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert!(text(&o).1.starts_with("ERROR: "), "{:?}", text(&o));
    // Without an admin server there is nothing to ask.
    let o = tusk_run(&["--ready"], &env_of(&db.seed_env()));
    assert_eq!(o.status.code(), Some(1));
    drop(t);
}

#[tokio::test]
async fn live_and_ready_are_500_when_the_api_socket_is_gone() {
    let db = TestDb::todo();
    let dir = scratch_dir("gone");
    let api_socket = dir.join("api.sock");
    let admin_port = free_port();
    let mut env = db.seed_env();
    env.push(("PGRST_SERVER_UNIX_SOCKET".into(), api_socket.display().to_string()));
    env.push(("PGRST_ADMIN_SERVER_PORT".into(), admin_port.to_string()));
    let t = Tusk::spawn(&env, free_port());
    let status = |path: &str| {
        let url = format!("http://127.0.0.1:{admin_port}{path}");
        let o =
            Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).output().expect("curl");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while status("/ready") != "200" {
        assert!(Instant::now() < deadline, "never ready: {}", t.output.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status("/live"), "200");
    std::fs::remove_file(&api_socket).expect("removing the API's socket");
    assert_eq!(status("/live"), "500");
    assert_eq!(status("/ready"), "500");
}

#[tokio::test]
async fn a_clean_shutdown_logs_no_lost_connection() {
    let mut own = tokio::task::spawn_blocking(|| TempCluster::start().expect("a cluster")).await.expect("cluster");
    own.psql("create function public.one() returns int language sql as 'select 1'").expect("psql");
    let env = vec![
        ("PGRST_DB_URI".to_string(), own.superuser_uri()),
        ("PGRST_DB_SCHEMAS".to_string(), "public".to_string()),
        ("PGRST_DB_ANON_ROLE".to_string(), "postgres".to_string()),
        ("PGRST_LOG_LEVEL".to_string(), "info".to_string()),
    ];
    let mut t = Tusk::start(&env).await;
    assert_eq!(t.get("/rpc/one").send().await.status, 200);
    // Ctrl-C in a terminal reaches the database started from it too: both go down at once.
    let _ = Command::new("kill").args(["-INT", &t.pid().to_string()]).status();
    own.stop_mode("fast").expect("stopping the cluster");
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.is_running() {
        assert!(Instant::now() < deadline, "tusk did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let log = t.output.text();
    assert!(!log.contains("LISTEN connection was lost"), "{log}");
    assert!(!log.contains("Connection error"), "{log}");
}

/// A cluster with `ssl = on`, its certificate (for localhost and 127.0.0.1) signed by a test CA
/// whose file is returned, with a second CA's file that signed nothing.
fn tls_cluster() -> &'static (TempCluster, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    static C: OnceLock<(TempCluster, String, String)> = OnceLock::new();
    C.get_or_init(|| {
        let c = TempCluster::start().expect("starting a cluster");
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
        };
        let (right, wrong) = (ca("tusk test CA"), ca("another CA"));
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("p");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &right).expect("sign");
        let dir = c.dir();
        let (cert_file, key_file) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        write_private(&key_file, &key.serialize_pem(), 0o600);
        // The server runs as the postgres user when the tests run as root.
        let _ = Command::new("chown").arg("postgres").arg(&cert_file).arg(&key_file).status();
        let pki = scratch_dir("pki");
        let (right_file, wrong_file) = (pki.join("right.pem"), pki.join("wrong.pem"));
        std::fs::write(&right_file, right.pem()).expect("write ca");
        std::fs::write(&wrong_file, wrong.pem()).expect("write ca");
        c.psql(&format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_file.display())).expect("cert");
        c.psql(&format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_file.display())).expect("key");
        c.psql("ALTER SYSTEM SET ssl = on").expect("ssl");
        c.psql("SELECT pg_reload_conf()").expect("reload");
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.psql("SHOW ssl").expect("show").trim() != "on" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(c.psql("SHOW ssl").expect("show").trim(), "on", "the server's TLS did not come on");
        (c, right_file.display().to_string(), wrong_file.display().to_string())
    })
}

/// Whether the connection of `app` to the TLS cluster uses TLS, by `pg_stat_ssl`.
fn uses_tls(app: &str) -> String {
    let sql = format!(
        "SELECT string_agg(DISTINCT s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = '{app}'"
    );
    tls_cluster().0.psql(&sql).expect("pg_stat_ssl").trim().to_string()
}

#[tokio::test]
async fn tls_to_the_database_as_sslmode_says() {
    let (c, right, wrong) = tls_cluster();
    let p = c.port();
    let serve = |app: &str, params: String| {
        vec![
            (
                "PGRST_DB_URI".to_string(),
                format!("postgresql://postgres@127.0.0.1:{p}/postgres?application_name={app}&{params}"),
            ),
            ("PGRST_DB_SCHEMAS".into(), "public".into()),
            ("PGRST_DB_ANON_ROLE".into(), "postgres".into()),
        ]
    };
    // require: TLS without a check of the certificate; verify-full with the right CA and host;
    // prefer (libpq's default) takes TLS when offered; disable does without.
    for (app, params, wanted) in [
        ("tls_require", "sslmode=require".to_string(), "true"),
        ("tls_full", format!("sslmode=verify-full&sslrootcert={right}"), "true"),
        ("tls_ca", format!("sslmode=verify-ca&sslrootcert={right}"), "true"),
        ("tls_prefer", String::new(), "true"),
        ("tls_disable", "sslmode=disable".to_string(), "false"),
    ] {
        let t = Tusk::start(&serve(app, params.clone())).await;
        let r = t.get("/").send().await;
        assert_eq!(r.status, 200, "{params}: {}\n{}", r.text, t.output.text());
        assert_eq!(uses_tls(app), wanted, "{params}");
    }
    // Refused, saying TLS: a CA that did not sign the server's certificate (verify-full,
    // verify-ca, and require with a root file), a host name the certificate does not name.
    let refuse = |params: String| {
        let uri = format!("postgresql://postgres@localhost:{p}/postgres?{params}");
        let o = tusk_run(&["--dump-schema"], &[("PGRST_DB_URI", uri)]);
        assert_eq!(o.status.code(), Some(1), "{params}: {:?}", text(&o));
        let err = text(&o).1;
        assert!(err.contains("TLS") && err.contains(&format!("port {p} failed")), "{params}: {err}");
        err
    };
    let err = refuse(format!("sslmode=verify-full&sslrootcert={wrong}"));
    assert!(err.contains("UnknownIssuer"), "{err}");
    refuse(format!("sslmode=verify-ca&sslrootcert={wrong}"));
    refuse(format!("sslmode=require&sslrootcert={wrong}"));
    let err = refuse(format!("sslmode=verify-full&sslrootcert={right}&host=wrong.example&hostaddr=127.0.0.1"));
    assert!(err.contains("certificate not valid for name \"wrong.example\""), "{err}");
    // verify-ca does not look at the name.
    let uri = format!("postgresql://postgres@/postgres?host=wrong.example&hostaddr=127.0.0.1&port={p}&sslmode=verify-ca&sslrootcert={right}");
    let o = tusk_run(&["--dump-schema"], &[("PGRST_DB_URI", uri), ("PGRST_DB_SCHEMAS", "public".into())]);
    assert!(o.status.success(), "{:?}", text(&o));
    // verify-full without a root file (HOME has none) is refused at start-up, naming the file;
    // PGSSLMODE and PGSSLROOTCERT count; sslrootcert=system is refused, saying why.
    let uri = format!("postgresql://postgres@localhost:{p}/postgres");
    let o = tusk_run(&["--dump-schema"], &[("PGRST_DB_URI", uri.clone()), ("PGSSLMODE", "verify-full".into())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains(".postgresql/root.crt"), "{:?}", text(&o));
    let env = [
        ("PGRST_DB_URI", uri.clone()),
        ("PGSSLMODE", "verify-full".into()),
        ("PGSSLROOTCERT", right.clone()),
        ("PGRST_DB_SCHEMAS", "public".into()),
    ];
    let o = tusk_run(&["--dump-schema"], &env);
    assert!(o.status.success(), "{:?}", text(&o));
    let env = [("PGRST_DB_URI", format!("{uri}?sslmode=verify-full&sslrootcert=system"))];
    let o = tusk_run(&["--dump-schema"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("sslrootcert=system is not supported"), "{:?}", text(&o));
}
