//! A throwaway PostgreSQL cluster, used by `tusk demo` and by the integration tests.
//!
//! [`TempCluster::start`] finds the installed PostgreSQL binaries (`pg_config --bindir`, falling
//! back to the newest `/usr/lib/postgresql/*/bin`), runs `initdb` into a fresh directory under
//! the system temp dir and starts the server with `pg_ctl`, listening on a unix socket in that
//! directory and on `127.0.0.1` at a free TCP port. Durability is switched off (`fsync=off`,
//! …) because the data is thrown away.
//!
//! `initdb` refuses to run as root, so when the current process is root the PostgreSQL binaries
//! are run as the `postgres` system user (`runuser -u postgres --`) and the directory is handed
//! to that user with `chown`.
//!
//! Dropping the cluster stops the server and removes the directory. As a safety net for owners
//! that never get dropped (a `static` in a test binary, a process killed by a signal), every
//! cluster also has a small watchdog shell process that stops the server and removes the
//! directory once the owning process has gone away.
//!
//! Everything here is blocking; call it from `tokio::task::spawn_blocking` inside async code
//! when that matters.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system user that runs PostgreSQL when we are root.
const PG_SYSTEM_USER: &str = "postgres";

/// libpq environment variables that would redirect a `psql` (or a `tusk` under test) elsewhere:
/// every command this module runs, and the tests' own, remove them.
pub const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGAPPNAME",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
    "PGSYSCONFDIR",
    "PGDATA",
];

/// Why a [`TempCluster`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable PostgreSQL installation was found.
    #[error("PostgreSQL is not installed: install it with `apt-get install postgresql` (version 15 or newer). No initdb, pg_ctl, postgres and psql in {0}")]
    NoBinaries(String),
    /// A file-system or process-spawning operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An external command ran but failed.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A PostgreSQL cluster living in a temporary directory; stopped and deleted on drop.
#[derive(Debug)]
pub struct TempCluster {
    bindir: PathBuf,
    dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    watchdog: Option<Child>,
    /// The superuser's password, when the cluster asks for one (`scram-sha-256`).
    password: Option<String>,
}

/// How a new cluster's data directory is made.
enum Init<'a> {
    /// `initdb`, with `trust` authentication or a password.
    Initdb { password: Option<&'a str> },
    /// `pg_basebackup -R` of a running cluster: a streaming standby of it.
    StandbyOf(&'a TempCluster),
}

impl TempCluster {
    /// Creates, initialises and starts a new cluster.
    pub fn start() -> Result<TempCluster, ClusterError> {
        Self::create(Init::Initdb { password: None })
    }

    /// A cluster that asks every connection for a password (`scram-sha-256`): the superuser
    /// `postgres` has `password`.
    pub fn start_with_password(password: &str) -> Result<TempCluster, ClusterError> {
        Self::create(Init::Initdb { password: Some(password) })
    }

    /// A streaming standby of this cluster (`pg_basebackup -R`), started on a port of its own.
    pub fn start_standby(&self) -> Result<TempCluster, ClusterError> {
        Self::create(Init::StandbyOf(self))
    }

    fn create(init: Init<'_>) -> Result<TempCluster, ClusterError> {
        let bindir = find_bindir()?;
        let as_postgres = running_as_root();
        let dir = unique_temp_dir();
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating directory {}", dir.display())))?;
        let mut cluster = TempCluster {
            bindir,
            data_dir: dir.join("data"),
            dir,
            port: 0,
            as_postgres,
            running: false,
            watchdog: None,
            password: match &init {
                Init::Initdb { password } => password.map(str::to_string),
                Init::StandbyOf(primary) => primary.password.clone(),
            },
        };
        // From here on, `Drop` cleans up whatever was created if a step fails.
        if as_postgres {
            let owner = format!("{PG_SYSTEM_USER}:{PG_SYSTEM_USER}");
            let mut chown = Command::new("chown");
            chown.arg(&owner).arg(&cluster.dir);
            run_checked(&mut chown, None)?;
        }
        match init {
            Init::Initdb { password } => {
                let mut initdb = cluster.pg_command("initdb");
                initdb.arg("-D").arg(&cluster.data_dir).args(["-U", "postgres", "-E", "UTF8", "--no-locale"]);
                match password {
                    None => initdb.args(["-A", "trust"]),
                    Some(pw) => {
                        let file = cluster.dir.join("pwfile");
                        std::fs::write(&file, pw).map_err(io_err("writing the password file"))?;
                        if cluster.as_postgres {
                            run_checked(Command::new("chown").arg(PG_SYSTEM_USER).arg(&file), None)?;
                        }
                        initdb.args(["-A", "scram-sha-256"]).arg("--pwfile").arg(&file)
                    }
                };
                run_checked(initdb.arg("--no-sync"), None)?;
            }
            Init::StandbyOf(primary) => {
                let mut backup = cluster.pg_command("pg_basebackup");
                backup.arg("-D").arg(&cluster.data_dir).arg("-h").arg(&primary.dir);
                backup.args(["-p", &primary.port.to_string(), "-U", "postgres", "-R", "-X", "stream", "--no-sync"]);
                if let Some(pw) = &primary.password {
                    backup.env("PGPASSWORD", pw);
                }
                run_checked(&mut backup, None)?;
            }
        }
        cluster.spawn_watchdog()?;

        // The free port we picked may be grabbed by someone else before postgres binds it.
        let mut last_err = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.running = true;
                    return Ok(cluster);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| ClusterError::NoBinaries("no attempt was made".into())))
    }

    /// The TCP port the server listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A connection URI for the `postgres` superuser on the `postgres` database, over TCP.
    pub fn superuser_uri(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's temporary directory (deleted with it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A TCP connection URI for `user`/`password` on database `db`.
    pub fn uri(&self, user: &str, password: &str, db: &str) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!("postgresql://{}:{}@127.0.0.1:{}/{}", enc(user), enc(password), self.port, enc(db))
    }

    /// Runs `sql` with `psql` as the superuser on the `postgres` database and returns stdout
    /// (unaligned, tuples only). Stops at the first error.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.psql_db("postgres", sql)
    }

    /// Like [`TempCluster::psql`], on database `db`.
    pub fn psql_db(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        let mut cmd = Command::new(self.bindir.join("psql"));
        for var in LIBPQ_ENV {
            cmd.env_remove(var);
        }
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw);
        }
        cmd.args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-At"])
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db]);
        let out = run_checked(&mut cmd, Some(sql.as_bytes()))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server (fast shutdown: open sessions are terminated). Idempotent.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        if let Err(e) = run_checked(&mut cmd, None) {
            tracing::warn!("stopping the temporary cluster failed: {e}; trying immediate mode");
            let mut cmd = self.pg_command("pg_ctl");
            cmd.arg("-D").arg(&self.data_dir).args(["-m", "immediate", "-w", "-t", "60", "stop"]);
            if let Err(e) = run_checked(&mut cmd, None) {
                tracing::error!("could not stop the temporary cluster: {e}");
            }
        }
        self.running = false;
    }

    /// Stops the server with `pg_ctl -m MODE` (`smart`, `fast` or `immediate`: the fault
    /// tests' crash), waiting until it is down. Start it again with [`TempCluster::restart`].
    pub fn stop_mode(&mut self, mode: &str) -> Result<(), ClusterError> {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).args(["-m", mode, "-w", "-t", "60", "stop"]);
        run_checked(&mut cmd, None)?;
        self.running = false;
        Ok(())
    }

    /// Starts the server again (after [`TempCluster::stop`], or stops it first), on the same
    /// port and data.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.stop();
        self.pg_ctl_start()?;
        self.running = true;
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.dir.join("postgres.log");
        let options = format!(
            "-p {port} -k '{sock}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
             -c shared_buffers=32MB -c log_min_messages=warning",
            port = self.port,
            sock = self.dir.display(),
        );
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).arg("-l").arg(&log).args(["-w", "-t", "60", "-o"]).arg(options).arg("start");
        run_checked(&mut cmd, None).map_err(|e| match e {
            ClusterError::Command { command, status, mut stderr } => {
                if let Ok(text) = std::fs::read_to_string(&log) {
                    let _ = write!(stderr, "\nserver log:\n{}", tail(&text, 40));
                }
                ClusterError::Command { command, status, stderr }
            }
            other => other,
        })?;
        Ok(())
    }

    /// A command running the PostgreSQL binary `name`, as `postgres` when we are root.
    fn pg_command(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_SYSTEM_USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        // The caller's working directory may not be readable by the postgres user.
        cmd.current_dir(&self.dir);
        for var in LIBPQ_ENV {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Starts a detached shell that cleans up once this process is gone.
    fn spawn_watchdog(&mut self) -> Result<(), ClusterError> {
        let q = |p: &Path| shell_quote(&p.to_string_lossy());
        let runuser = if self.as_postgres { format!("runuser -u {PG_SYSTEM_USER} -- ") } else { String::new() };
        let script = format!(
            "trap '' INT HUP; \
             while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f {data}/postmaster.pid ]; then \
               {runuser}{pg_ctl} -D {data} -m immediate -w -t 30 stop; \
             fi; rm -rf {dir}",
            pid = std::process::id(),
            data = q(&self.data_dir),
            pg_ctl = q(&self.bindir.join("pg_ctl")),
            dir = q(&self.dir),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err("spawning the cluster watchdog (sh)"))?;
        self.watchdog = Some(child);
        Ok(())
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// Runs `cmd` to completion (feeding `stdin` if given) and fails unless it exits with 0.
fn run_checked(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output, ClusterError> {
    let command = describe(cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(io_err(format!("running `{command}`")))?;
    if let Some(input) = stdin {
        if let Some(mut pipe) = child.stdin.take() {
            let input = input.to_vec();
            // Write from a thread so a large input cannot deadlock against a full stdout pipe.
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(&input);
            });
            let out = child.wait_with_output().map_err(io_err(format!("waiting for `{command}`")))?;
            let _ = writer.join();
            return check(command, out);
        }
    }
    let out = child.wait_with_output().map_err(io_err(format!("waiting for `{command}`")))?;
    check(command, out)
}

fn check(command: String, out: Output) -> Result<Output, ClusterError> {
    if out.status.success() {
        return Ok(out);
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(ClusterError::Command { command, status: out.status.to_string(), stderr })
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
fn find_bindir() -> Result<PathBuf, ClusterError> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres", "psql"].iter().all(|b| dir.join(b).is_file());
    let mut tried = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if complete(&dir) {
                return Ok(dir);
            }
            tried.push(dir.display().to_string());
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((version, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    for (_, dir) in candidates.into_iter().rev() {
        if complete(&dir) {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    // Last resort: the binaries are on PATH.
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if complete(&dir) {
                return Ok(dir);
            }
        }
    }
    tried.push("$PATH".into());
    Err(ClusterError::NoBinaries(tried.join(", ")))
}

/// Whether the effective user is root, read from `/proc/self/status` (falling back to `id -u`).
fn running_as_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved fs
            if let Some(euid) = line.split_whitespace().nth(2) {
                return euid == "0";
            }
        }
    }
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut name = OsString::from("tusk-pg-");
    name.push(format!("{}-{n}-{nanos:08x}", std::process::id()));
    std::env::temp_dir().join(name)
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free TCP port"))?;
    listener.local_addr().map(|a| a.port()).map_err(io_err("finding a free TCP port"))
}
