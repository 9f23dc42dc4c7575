//! The configuration written back out: the effective settings in PostgREST's file format
//! (`--dump-config`, and the admin server's `/config` with its secrets masked) and the annotated
//! sample file (`--example`).

use super::settings::{Kind, SETTINGS};
use super::Config;

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

    fn dump_with(&self, redact: bool) -> String {
        let mut out = String::new();
        for (name, value) in &self.raw {
            let value = &match name.as_str() {
                "db-uri" if redact => redact_uri_password(value),
                "jwt-secret" if redact && !value.is_empty() => "********".to_string(),
                _ => value.clone(),
            };
            let kind = SETTINGS.iter().find(|s| s.name == name).map(|s| s.kind);
            let rendered = match kind {
                Some(Kind::Bool) | Some(Kind::Int) => value.clone(),
                _ => quote(value),
            };
            out.push_str(&format!("{name} = {rendered}\n"));
        }
        out
    }
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
            (_, Some(d)) if setting.kind == Kind::Str => quote(d),
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
