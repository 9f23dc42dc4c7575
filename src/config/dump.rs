//! The configuration written back out: the effective settings in PostgREST's file format
//! (`--dump-config`, and the admin server's `/config` with its secrets masked) and the annotated
//! sample file (`--example`).

use super::settings::{setting, Kind, SETTINGS};
use super::{parse_bool, Config};

impl Config {
    /// The effective configuration in PostgREST's file format (`--dump-config`).
    pub fn dump(&self) -> String {
        self.dump_with(false)
    }

    /// [`Config::dump`] with the secrets masked: the password of `db-uri` and `jwt-secret`
    /// (the admin server's `/config`).
    pub fn dump_redacted(&self) -> String {
        self.dump_with(true)
    }

    /// PostgREST's form: every PostgREST setting, set or not (`""` when unset), each value
    /// normalized as PostgREST prints it (booleans `true`/`false`, numbers bare, lists joined
    /// with `,`, socket modes in octal, `jwt-role-claim-key` as a JSONPath with `$` doubled for
    /// the config file), strings quoted with only `"` escaped; with the `app.settings.*`, the
    /// lines sorted, as PostgREST sorts them. Then tusk's own settings, when set.
    fn dump_with(&self, redact: bool) -> String {
        let raw = &self.raw;
        let value = |name: &str| {
            raw.get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .or_else(|| setting(name).and_then(|s| s.default))
        };
        let mut lines: Vec<String> = Vec::new();
        for s in SETTINGS.iter().filter(|s| !s.tusk_only) {
            let name = s.name;
            let v = value(name);
            let rendered = match (name, s.kind) {
                (_, Kind::Bool) => parse_bool(v.unwrap_or_default()).unwrap_or(false).to_string(),
                (_, Kind::Int) => match v.and_then(|v| v.trim().parse::<i64>().ok()) {
                    Some(n) => n.to_string(),
                    None => q(""),
                },
                (
                    "db-schemas" | "db-extra-search-path" | "db-hoisted-tx-settings" | "server-cors-allowed-origins",
                    _,
                ) => {
                    // An empty value is an empty list (the default only when unset).
                    let v = if raw.get(name).is_some_and(|v| v.is_empty()) { "" } else { v.unwrap_or_default() };
                    let items: Vec<&str> = if v.is_empty() { vec![] } else { v.split(',').map(str::trim).collect() };
                    q(&items.join(","))
                }
                ("admin-server-host", _) => q(v.or_else(|| value("server-host")).unwrap_or_default()),
                ("server-unix-socket-mode", _) => q(&format!("{:o}", self.server_unix_socket_mode)),
                ("admin-server-unix-socket-mode", _) => q(&format!("{:o}", self.admin_server_unix_socket_mode)),
                ("jwt-role-claim-key", _) => q(&self.jwt_role_claim_key.to_json_path().replace('$', "$$")),
                ("db-uri", _) if redact => q(&redact_uri_password(v.unwrap_or_default())),
                ("jwt-secret", _) if redact && v.is_some() => q("********"),
                _ => q(v.unwrap_or_default()),
            };
            lines.push(format!("{name} = {rendered}"));
        }
        for (name, v) in raw.iter().filter(|(n, _)| n.starts_with("app.settings.")) {
            lines.push(format!("{name} = {}", q(v)));
        }
        lines.sort();
        for s in SETTINGS.iter().filter(|s| s.tusk_only) {
            if let Some(v) = raw.get(s.name) {
                lines.push(format!("{} = {}", s.name, q(v)));
            }
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// PostgREST's quoting in `--dump-config`: `"` escaped, nothing else.
fn q(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\\\""))
}

/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`; also a `password=`
/// keyword of a key/value connection string or URI parameter.
fn redact_uri_password(uri: &str) -> String {
    let mut out = uri.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "********");
            }
        }
    }
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find([' ', '&']).map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "********");
    }
    out
}

/// An annotated sample configuration file (`--example`).
pub fn example() -> String {
    let mut out = String::from(
        "## tusk configuration file: the same format and settings as PostgREST's.\n\
         ## Give its path as the first argument: `tusk tusk.conf`. Every setting can also be set\n\
         ## with an environment variable (db-uri → PGRST_DB_URI), which wins over the file.\n\n",
    );
    for setting in SETTINGS {
        out.push_str(&format!("## {}\n", setting.doc));
        if !setting.implemented {
            out.push_str("## (accepted; not implemented yet by tusk)\n");
        }
        let value = match (setting.name, setting.default) {
            ("db-uri", _) => quote("postgres://authenticator:mysecretpassword@localhost:5432/postgres"),
            ("db-anon-role", _) => quote("anon"),
            ("jwt-secret", _) => quote("reallyreallyreallyreallyverysafe"),
            // `$` is doubled in a config file (`$$.role`).
            (_, Some(d)) if setting.kind == Kind::Str => quote(&d.replace('$', "$$")),
            (_, Some(d)) => d.to_string(),
            (_, None) => String::from("\"\""),
        };
        let commented = setting.default.is_none() && !matches!(setting.name, "db-uri" | "db-anon-role" | "jwt-secret");
        out.push_str(&format!("{}{} = {}\n\n", if commented { "# " } else { "" }, setting.name, value));
    }
    out.push_str("## Custom settings, readable in SQL with current_setting('app.settings.NAME')\n# app.settings.name = \"value\"\n");
    out
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;
    use std::collections::BTreeMap;

    #[test]
    fn redacted_dump_masks_secrets() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("PGRST_DB_URI", "postgres://auth:s3cret@db.example:5432/app?sslmode=require"),
                ("PGRST_JWT_SECRET", "a-secret-that-is-long-enough-for-hs256"),
            ]),
        )
        .expect("valid");
        let dump = c.dump_redacted();
        assert!(dump.contains("db-uri = \"postgres://auth:********@db.example:5432/app?sslmode=require\"\n"), "{dump}");
        assert!(dump.contains("jwt-secret = \"********\"\n"), "{dump}");
        assert!(!dump.contains("s3cret") && !dump.contains("long-enough"), "{dump}");
        assert!(c.dump().contains("s3cret"));
        assert_eq!(redact_uri_password("host=x password=pw user=u"), "host=x password=******** user=u");
        assert_eq!(redact_uri_password("postgres://u@x/db"), "postgres://u@x/db");
        assert_eq!(redact_uri_password("postgresql://"), "postgresql://");
    }

    #[test]
    fn example_parses_back() {
        let dir = std::env::temp_dir().join(format!("tusk-example-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("example.conf");
        std::fs::write(&path, example()).expect("write");
        Config::from_sources(Some(&path), &BTreeMap::new()).expect("example is valid");
        std::fs::remove_dir_all(&dir).ok();
    }
}
