//! libpq's connection rules, as PostgREST gets them from libpq: `db-uri` as a URI
//! (`postgresql://user:pw@a:5432,b:5433/db?target_session_attrs=read-write`) or a key=value
//! string (`host=a,b port=5432 dbname=db`); then a service from `pg_service.conf` (`service` or
//! `PGSERVICE`, the file `PGSERVICEFILE` or `~/.pg_service.conf`, then
//! `PGSYSCONFDIR/pg_service.conf`) fills what the string leaves out, then the environment
//! (`PGHOST`, `PGPORT`, `PGUSER`, …), then the built-in defaults (the unix socket directory
//! `/var/run/postgresql`, port 5432, the OS user, the database named as the user); a host
//! without a password takes one from the password file (`PGPASSFILE` or `~/.pgpass`, with
//! `*` wildcards and `\` escapes, ignored when group or world can read it).
//!
//! In charge of turning those sources into [`ConnInfo`]: one [`Host`] per host of the list,
//! each with its port and password. Rejects what libpq rejects: an unknown keyword or URI
//! parameter, an unknown service, a port list that does not match the host list, a
//! malformed value of `target_session_attrs`, `sslmode` or `connect_timeout`, and
//! `sslrootcert=system`. Picks the root certificate file of the `sslmode` (`sslrootcert`, else
//! `~/.postgresql/root.crt`). Reads only the service and password files (through the `read` function it is given).

use std::collections::BTreeMap;

/// libpq's default socket directory (Debian's build, which PostgREST's images use).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Every keyword libpq knows, with the variable that supplies it when the string does not.
const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("service", Some("PGSERVICE")),
    ("options", Some("PGOPTIONS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("client_encoding", Some("PGCLIENTENCODING")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslnegotiation", Some("PGSSLNEGOTIATION")),
    ("sslcompression", Some("PGSSLCOMPRESSION")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslpassword", None),
    ("sslcertmode", Some("PGSSLCERTMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcrl", Some("PGSSLCRL")),
    ("sslcrldir", Some("PGSSLCRLDIR")),
    ("sslsni", Some("PGSSLSNI")),
    ("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    ("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    ("requirepeer", Some("PGREQUIREPEER")),
    ("require_auth", Some("PGREQUIREAUTH")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("gsslib", Some("PGGSSLIB")),
    ("gssdelegation", Some("PGGSSDELEGATION")),
    ("krbsrvname", Some("PGKRBSRVNAME")),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("replication", None),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("load_balance_hosts", Some("PGLOADBALANCEHOSTS")),
    ("min_protocol_version", Some("PGMINPROTOCOLVERSION")),
    ("max_protocol_version", Some("PGMAXPROTOCOLVERSION")),
];

/// `target_session_attrs`: which server of the host list will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    /// A standby if any host is one, else any server.
    PreferStandby,
}

impl SessionAttrs {
    const NAMES: &'static [(&'static str, SessionAttrs)] = &[
        ("any", SessionAttrs::Any),
        ("read-write", SessionAttrs::ReadWrite),
        ("read-only", SessionAttrs::ReadOnly),
        ("primary", SessionAttrs::Primary),
        ("standby", SessionAttrs::Standby),
        ("prefer-standby", SessionAttrs::PreferStandby),
    ];

    /// Its spelling in `target_session_attrs`.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, a)| *a == self).map_or("any", |(n, _)| n)
    }
}

/// One server of the host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// A host name, an IP address, or a unix socket directory (starts with `/` or `@`).
    pub host: String,
    /// `hostaddr`: the address to connect to instead of resolving `host`.
    pub hostaddr: Option<String>,
    pub port: u16,
    /// From the string, the service, `PGPASSWORD` or the password file.
    pub password: Option<String>,
}

impl Host {
    pub fn is_socket(&self) -> bool {
        self.hostaddr.is_none() && (self.host.starts_with('/') || self.host.starts_with('@'))
    }
}

impl std::fmt::Display for Host {
    /// `host:port`, or the socket file for a unix socket (as libpq names them in errors).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_socket() {
            write!(f, "socket \"{}/.s.PGSQL.{}\"", self.host.trim_end_matches('/'), self.port)
        } else {
            let host = self.hostaddr.as_deref().unwrap_or(&self.host);
            match host.contains(':') {
                true => write!(f, "[{host}]:{}", self.port),
                false => write!(f, "{host}:{}", self.port),
            }
        }
    }
}

/// The connection settings after every source, as libpq would use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub hosts: Vec<Host>,
    pub user: String,
    pub dbname: String,
    pub options: Option<String>,
    pub application_name: Option<String>,
    /// `connect_timeout` in seconds; `None`: wait as long as the system does (libpq's 0).
    pub connect_timeout: Option<u64>,
    pub sslmode: String,
    /// The root certificates to check the server's chain against, or `None`: no check
    /// (`allow`, `prefer`, and `require` without a root file). With `verify-full` the host
    /// name is checked too.
    pub sslrootcert: Option<String>,
    pub channel_binding: Option<String>,
    pub target_session_attrs: SessionAttrs,
    /// `load_balance_hosts=random`: try the hosts in random order.
    pub load_balance: bool,
}

/// What [`resolve`] needs from the process: its environment, the OS user and home directory,
/// and a way to read a file (`None` when it cannot be read); `read_private` reads the password
/// file (`None` too when group or world may read it: libpq ignores such a file).
pub struct Env<'a> {
    pub vars: &'a BTreeMap<String, String>,
    pub os_user: Option<String>,
    pub home: Option<String>,
    pub read: &'a dyn Fn(&str) -> Option<String>,
    pub read_private: &'a dyn Fn(&str) -> Option<String>,
}

/// The connection settings of `conninfo` (a URI or key=value string; `""` or
/// `postgresql://` take everything from the environment) after libpq's other sources.
pub fn resolve(conninfo: &str, env: &Env<'_>) -> Result<ConnInfo, String> {
    let mut given = parse(conninfo)?;
    let service = given.get("service").cloned().or_else(|| env.vars.get("PGSERVICE").cloned());
    if let Some(service) = service.filter(|s| !s.is_empty()) {
        for (k, v) in service_settings(&service, env)? {
            given.entry(k).or_insert(v);
        }
    }
    let get = |key: &str| -> Option<String> {
        given.get(key).cloned().or_else(|| {
            let var = KEYWORDS.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v)?;
            env.vars.get(var).cloned()
        })
    };
    // An empty value counts as unset, as in libpq.
    let get = |key: &str| get(key).filter(|v| !v.is_empty());
    let user = get("user").or_else(|| env.os_user.clone()).ok_or("could not find the operating system user name")?;
    let dbname = get("dbname").unwrap_or_else(|| user.clone());
    let mut hosts = host_list(get("host").as_deref(), get("hostaddr").as_deref(), get("port").as_deref())?;
    let passfile = get("passfile").or_else(|| env.home.as_ref().map(|h| format!("{h}/.pgpass")));
    let password = get("password");
    for h in &mut hosts {
        h.password = password.clone().or_else(|| {
            let text = (env.read_private)(passfile.as_deref()?)?;
            let name = if h.is_socket() || h.host.is_empty() { "localhost" } else { &h.host };
            pgpass_lookup(&text, name, h.port, &dbname, &user)
        });
    }
    let connect_timeout = match get("connect_timeout") {
        None => None,
        Some(t) => match t.trim().parse::<i64>() {
            // As libpq: 0 (or less) waits forever, 1 is taken as 2.
            Ok(n) if n <= 0 => None,
            Ok(n) => Some(n.max(2) as u64),
            Err(_) => return Err(format!("invalid integer value \"{t}\" for connection option \"connect_timeout\"")),
        },
    };
    let sslmode = get("sslmode").unwrap_or_else(|| "prefer".into());
    if !["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(&sslmode.as_str()) {
        return Err(format!("invalid sslmode value: \"{sslmode}\""));
    }
    let sslrootcert = root_cert(&sslmode, get("sslrootcert"), env)?;
    let tsa = get("target_session_attrs").unwrap_or_else(|| "any".into());
    let Some(&(_, target_session_attrs)) = SessionAttrs::NAMES.iter().find(|(n, _)| *n == tsa) else {
        return Err(format!("invalid target_session_attrs value: \"{tsa}\""));
    };
    let load_balance = match get("load_balance_hosts").as_deref() {
        None | Some("disable") => false,
        Some("random") => true,
        Some(other) => return Err(format!("invalid load_balance_hosts value: \"{other}\"")),
    };
    Ok(ConnInfo {
        hosts,
        user,
        dbname,
        options: get("options"),
        application_name: get("application_name").or_else(|| get("fallback_application_name")),
        connect_timeout,
        sslmode,
        sslrootcert,
        channel_binding: get("channel_binding"),
        target_session_attrs,
        load_balance,
    })
}

/// The root certificate file the server's chain is checked against, as libpq picks it:
/// `sslrootcert`, else `~/.postgresql/root.crt`; `verify-ca` and `verify-full` need one,
/// `require` checks the chain when one is given or the default file exists (as `verify-ca`),
/// `disable`, `allow` and `prefer` never check.
fn root_cert(sslmode: &str, given: Option<String>, env: &Env<'_>) -> Result<Option<String>, String> {
    if !matches!(sslmode, "require" | "verify-ca" | "verify-full") {
        return Ok(None);
    }
    if given.as_deref() == Some("system") {
        return Err("sslrootcert=system is not supported by tusk (it has no store of system roots); \
                    give the file of the root certificates instead"
            .into());
    }
    if given.is_some() {
        return Ok(given);
    }
    let default = env.home.as_ref().map(|h| format!("{}/.postgresql/root.crt", h.trim_end_matches('/')));
    match default {
        Some(path) if sslmode != "require" || (env.read)(&path).is_some() => Ok(Some(path)),
        None if sslmode != "require" => Err("could not get home directory to locate root certificate file; \
                                             give sslrootcert or change sslmode to disable server certificate \
                                             verification"
            .into()),
        _ => Ok(None),
    }
}

/// `host`, `hostaddr` and `port` as lists: as many ports as hosts, or one for all.
fn host_list(host: Option<&str>, hostaddr: Option<&str>, port: Option<&str>) -> Result<Vec<Host>, String> {
    let split = |s: Option<&str>| s.map(|s| s.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>());
    let addrs = split(hostaddr);
    let names = split(host).unwrap_or_else(|| match &addrs {
        Some(a) => vec![String::new(); a.len()],
        None => vec![String::new()],
    });
    if addrs.as_ref().is_some_and(|a| a.len() != names.len()) {
        return Err(format!(
            "could not match {} host names to {} hostaddr values",
            names.len(),
            addrs.map_or(0, |a| a.len())
        ));
    }
    let ports = split(port).unwrap_or_default();
    if ports.len() > 1 && ports.len() != names.len() {
        return Err(format!("could not match {} port numbers to {} hosts", ports.len(), names.len()));
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let port = match ports.get(if ports.len() == 1 { 0 } else { i }).filter(|p| !p.is_empty()) {
                None => 5432,
                Some(p) => {
                    p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| format!("invalid port number: \"{p}\""))?
                }
            };
            let hostaddr = addrs.as_ref().and_then(|a| a.get(i)).filter(|a| !a.is_empty()).cloned();
            if let Some(a) = hostaddr.as_deref().filter(|a| a.parse::<std::net::IpAddr>().is_err()) {
                return Err(format!("could not parse network address \"{a}\""));
            }
            let host = if name.is_empty() && hostaddr.is_none() { DEFAULT_SOCKET_DIR.to_string() } else { name };
            Ok(Host { host, hostaddr, port, password: None })
        })
        .collect()
}

/// The keywords set by a URI or a key=value string.
pub fn parse(conninfo: &str) -> Result<BTreeMap<String, String>, String> {
    let s = conninfo.trim();
    let map = match s.strip_prefix("postgresql://").or_else(|| s.strip_prefix("postgres://")) {
        Some(rest) => parse_uri(rest, s)?,
        None => parse_key_values(s)?,
    };
    if let Some(k) = map.keys().find(|k| !KEYWORDS.iter().any(|(n, _)| n == k)) {
        return Err(format!("invalid connection option \"{k}\""));
    }
    Ok(map)
}

fn decode(s: &str, uri: &str) -> Result<String, String> {
    if s.contains('%') {
        let b = s.as_bytes();
        let mut i = 0;
        while let Some(at) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'%')) {
            let at = i + at;
            if !(b.get(at + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(at + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return Err(format!("invalid percent-encoded token: \"{s}\" in URI \"{uri}\""));
            }
            i = at + 3;
        }
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(s).collect();
    String::from_utf8(bytes).map_err(|_| format!("invalid percent-encoded token in URI \"{uri}\""))
}

/// `[user[:password]@][host[:port][,…]][/dbname][?key=value&…]`.
fn parse_uri(rest: &str, uri: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.find('/') {
        Some(at) => (&main[..at], Some(&main[at + 1..])),
        None => (main, None),
    };
    let hosts = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                map.insert("user".into(), decode(user, uri)?);
            }
            if let Some(p) = password {
                map.insert("password".into(), decode(p, uri)?);
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    if !hosts.is_empty() {
        let (mut names, mut ports) = (Vec::new(), Vec::new());
        for spec in hosts.split(',') {
            let (name, port) = if let Some(v6) = spec.strip_prefix('[') {
                let (name, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("missing \"]\" in IPv6 host address in URI: \"{uri}\""))?;
                match after {
                    "" => (name, ""),
                    p => (
                        name,
                        p.strip_prefix(':')
                            .ok_or_else(|| format!("unexpected character after IPv6 host in URI: \"{uri}\""))?,
                    ),
                }
            } else {
                spec.split_once(':').unwrap_or((spec, ""))
            };
            names.push(decode(name, uri)?);
            ports.push(decode(port, uri)?);
        }
        if names.iter().any(|n| !n.is_empty()) {
            map.insert("host".into(), names.join(","));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            map.insert("port".into(), ports.join(","));
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        map.insert("dbname".into(), decode(db, uri)?);
    }
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("missing key/value separator \"=\" in URI query parameter: \"{pair}\""))?;
        let (k, v) = (decode(k, uri)?, decode(v, uri)?);
        // The JDBC spelling libpq accepts.
        if k == "ssl" && v == "true" {
            map.insert("sslmode".into(), "require".into());
        } else if !KEYWORDS.iter().any(|(n, _)| *n == k) {
            return Err(format!("invalid URI query parameter: \"{k}\""));
        } else {
            map.insert(k, v);
        }
    }
    Ok(map)
}

/// `key = value …`; a value may be single-quoted; `\` escapes the next character.
fn parse_key_values(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(map);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("missing \"=\" after \"{key}\" in connection info string"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted string in connection info string".into()),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        map.insert(key, value);
    }
}

/// The settings of `service` in the user's service file, else in the system's.
fn service_settings(service: &str, env: &Env<'_>) -> Result<Vec<(String, String)>, String> {
    let user_file =
        env.vars.get("PGSERVICEFILE").cloned().or_else(|| env.home.as_ref().map(|h| format!("{h}/.pg_service.conf")));
    let sysconf = env.vars.get("PGSYSCONFDIR").cloned().unwrap_or_else(|| "/etc/postgresql-common".into());
    for file in user_file.into_iter().chain([format!("{sysconf}/pg_service.conf")]) {
        let Some(text) = (env.read)(&file) else { continue };
        if let Some(settings) = service_section(&text, service, &file)? {
            return Ok(settings);
        }
    }
    Err(format!("definition of service \"{service}\" not found"))
}

/// The `key=value` lines of section `[service]` of a service file (`None`: no such section).
fn service_section(text: &str, service: &str, file: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let mut found: Option<Vec<(String, String)>> = None;
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if found.is_some() {
                break;
            }
            inside = name == service;
            if inside {
                found = Some(Vec::new());
            }
            continue;
        }
        if let Some(settings) = found.as_mut().filter(|_| inside) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("syntax error in service file \"{file}\", line {}", n + 1))?;
            let k = k.trim();
            if k == "service" {
                return Err(format!(
                    "nested service specifications not supported in service file \"{file}\", line {}",
                    n + 1
                ));
            }
            if !KEYWORDS.iter().any(|(name, _)| *name == k) {
                return Err(format!(
                    "syntax error in service file \"{file}\", line {}: invalid connection option \"{k}\"",
                    n + 1
                ));
            }
            settings.push((k.to_string(), v.trim().to_string()));
        }
    }
    Ok(found)
}

/// The password of the first matching `hostname:port:database:username:password` line.
fn pgpass_lookup(text: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).find_map(|line| {
        let fields = pgpass_fields(line);
        if fields.len() < 5 {
            return None;
        }
        let matches = wanted.iter().zip(&fields).all(|(w, f)| f == "*" || f == w);
        matches.then(|| fields[4..].join(":"))
    })
}

/// The `:`-separated fields of a password file line; `\:` and `\\` are literal.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().into_iter().for_each(|f| f.extend(chars.next())),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().into_iter().for_each(|f| f.push(c)),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(conninfo: &str, vars: &[(&str, &str)], files: &[(&str, &str)]) -> Result<ConnInfo, String> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let files: BTreeMap<String, String> = files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let read = |p: &str| files.get(p).cloned();
        let env = Env {
            vars: &vars,
            os_user: Some("osuser".into()),
            home: Some("/home/u".into()),
            read: &read,
            read_private: &read,
        };
        resolve(conninfo, &env)
    }

    #[test]
    fn everything_from_the_environment() {
        let c = resolve_with("postgresql://", &[("PGHOST", "/sock"), ("PGUSER", "u"), ("PGPORT", "6000")], &[])
            .expect("resolves");
        assert_eq!(c.hosts, vec![Host { host: "/sock".into(), hostaddr: None, port: 6000, password: None }]);
        assert_eq!((c.user.as_str(), c.dbname.as_str()), ("u", "u"));
        let c = resolve_with("", &[], &[]).expect("resolves");
        assert_eq!(c.hosts[0].host, DEFAULT_SOCKET_DIR);
        assert_eq!((c.user.as_str(), c.hosts[0].port), ("osuser", 5432));
        // What the string says wins over the environment.
        let c = resolve_with("postgres:///postgres?host=/s", &[("PGUSER", "u"), ("PGHOST", "elsewhere")], &[])
            .expect("resolves");
        assert_eq!((c.user.as_str(), c.dbname.as_str(), c.hosts[0].host.as_str()), ("u", "postgres", "/s"));
    }

    #[test]
    fn uris_and_key_values() {
        let c = resolve_with(
            "postgresql://al%40x:p%3Aw@a:5433,[::1]:5434,b/d%2Fb?application_name=x&target_session_attrs=read-write",
            &[],
            &[],
        )
        .expect("resolves");
        let hosts: Vec<(String, u16)> = c.hosts.iter().map(|h| (h.host.clone(), h.port)).collect();
        assert_eq!(hosts, vec![("a".into(), 5433), ("::1".into(), 5434), ("b".into(), 5432)]);
        assert_eq!((c.user.as_str(), c.dbname.as_str()), ("al@x", "d/b"));
        assert_eq!(c.hosts[1].password.as_deref(), Some("p:w"));
        assert_eq!(c.target_session_attrs, SessionAttrs::ReadWrite);
        let c = resolve_with("host=a,b port=1,2 user='o\\'k' password = 'a b' dbname=x", &[], &[]).expect("resolves");
        assert_eq!((c.hosts[1].host.as_str(), c.hosts[1].port), ("b", 2));
        assert_eq!((c.user.as_str(), c.hosts[0].password.as_deref()), ("o'k", Some("a b")));
        let c = resolve_with("postgresql://%2Fvar%2Frun%2Fx/db", &[], &[]).expect("resolves");
        assert!(c.hosts[0].is_socket());
        for bad in [
            "postgresql://x/?nope=1",
            "host=a,b,c port=1,2",
            "bogus=1",
            "host",
            "sslmode=sometimes",
            "target_session_attrs=writable",
            "port=70000",
            "hostaddr=not-an-address",
        ] {
            assert!(resolve_with(bad, &[], &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_file() {
        let pass = "# comment\nother:*:*:*:no\nlocalhost:5432:*:u:sock\\:pw\n*:*:db:*:any\\\\thing\n";
        let files = [("/home/u/.pgpass", pass)];
        let c = resolve_with("user=u", &[], &files).expect("resolves");
        assert_eq!(c.hosts[0].password.as_deref(), Some("sock:pw"));
        let c = resolve_with("host=h dbname=db", &[], &files).expect("resolves");
        assert_eq!(c.hosts[0].password.as_deref(), Some("any\\thing"));
        let c = resolve_with("host=h dbname=db password=given", &[], &files).expect("resolves");
        assert_eq!(c.hosts[0].password.as_deref(), Some("given"));
        let c = resolve_with("host=h dbname=x", &[("PGPASSFILE", "/p")], &[("/p", "h:5432:x:osuser:mine")])
            .expect("resolves");
        assert_eq!(c.hosts[0].password.as_deref(), Some("mine"));
    }

    #[test]
    fn services() {
        let file = "[other]\nhost=no\n\n# c\n[svc]\nhost = /s\ndbname=d\nport=7\n";
        let c =
            resolve_with("user=u", &[("PGSERVICE", "svc")], &[("/home/u/.pg_service.conf", file)]).expect("resolves");
        assert_eq!((c.hosts[0].host.as_str(), c.hosts[0].port, c.dbname.as_str()), ("/s", 7, "d"));
        let c = resolve_with("service=svc port=8", &[("PGSERVICEFILE", "/f")], &[("/f", file)]).expect("resolves");
        assert_eq!(c.hosts[0].port, 8);
        assert!(resolve_with("service=none", &[], &[("/home/u/.pg_service.conf", file)]).is_err());
    }

    #[test]
    fn the_root_certificate_file_of_each_sslmode() {
        let root = |conninfo: &str, vars: &[(&str, &str)], files: &[(&str, &str)]| {
            resolve_with(conninfo, vars, files).map(|i| i.sslrootcert)
        };
        let default = "/home/u/.postgresql/root.crt";
        for mode in ["disable", "allow", "prefer"] {
            assert_eq!(root(&format!("sslmode={mode} sslrootcert=/ca.pem"), &[], &[]), Ok(None));
        }
        // require checks the chain only with a root file: given, or the default one if it exists.
        assert_eq!(root("sslmode=require", &[], &[]), Ok(None));
        assert_eq!(root("sslmode=require", &[], &[(default, "x")]), Ok(Some(default.into())));
        assert_eq!(root("sslmode=require sslrootcert=/ca.pem", &[], &[]), Ok(Some("/ca.pem".into())));
        // verify-* always, the default file when none is given (whether it exists is for later).
        assert_eq!(root("sslmode=verify-ca", &[], &[]), Ok(Some(default.into())));
        assert_eq!(
            root("", &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", "/env.pem")], &[]),
            Ok(Some("/env.pem".into()))
        );
        assert!(root("sslmode=verify-full sslrootcert=system", &[], &[]).is_err_and(|e| e.contains("system")));
    }
}
