//! Where a configuration comes from ([`ConfigSource`]): PostgREST's config file format (`name =
//! value` lines, `#` comments, quoted or bare values, `$(VAR)` interpolation) and the `PGRST_*`
//! environment variables, which win over the file. Rejects a malformed line with its number.

use super::settings::ALIASES;
use super::ConfigError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a configuration came from, so that a reload (`NOTIFY pgrst, 'reload config'`, SIGUSR2)
/// can read the same file and environment again.
#[derive(Clone, Default)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for ConfigSource {
    // The environment may hold secrets: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource").field("file", &self.file).finish_non_exhaustive()
    }
}

impl ConfigSource {
    /// The raw settings of the file, then the environment (which wins), under their current
    /// names (an old name, [`ALIASES`], is mapped to its current one unless that is set too).
    pub fn read(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut raw = BTreeMap::new();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
            parse_file(&path.display().to_string(), &text, &self.env, &mut raw)?;
        }
        for (k, v) in &self.env {
            if let Some(name) = setting_of_env(k) {
                raw.insert(name, v.clone());
            }
        }
        // Old names, wherever they came from, give way to the current ones.
        for (alias, name) in ALIASES {
            if let Some(v) = raw.remove(*alias) {
                raw.entry((*name).to_string()).or_insert(v);
            }
        }
        Ok(raw)
    }
}

/// `PGRST_DB_URI` → `db-uri`; `PGRST_APP_SETTINGS_foo` → `app.settings.foo`.
fn setting_of_env(var: &str) -> Option<String> {
    let rest = var.strip_prefix("PGRST_")?;
    if let Some(app) = rest.strip_prefix("APP_SETTINGS_") {
        return Some(format!("app.settings.{app}"));
    }
    Some(rest.to_lowercase().replace('_', "-"))
}

/// Parses PostgREST's config file format: `name = value` lines, `#` comments, values quoted
/// (`"..."` with `\"` and `\\` escapes) or bare (numbers, booleans). `$(VAR)` inside a quoted
/// value is replaced by the environment variable VAR and `$$` by `$`, as PostgREST does.
fn parse_file(
    path: &str,
    text: &str,
    env: &BTreeMap<String, String>,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (i, line) in text.lines().enumerate() {
        let syntax =
            |message: &str| ConfigError::Syntax { path: path.to_string(), line: i + 1, message: message.to_string() };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (name, value) = trimmed.split_once('=').ok_or_else(|| syntax("expected `name = value`"))?;
        let name = name.trim().trim_matches('"').to_string();
        let value = value.trim();
        let value = if let Some(rest) = value.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = rest.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(c) => v.push(c),
                        None => return Err(syntax("unterminated string")),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => v.push(c),
                }
            }
            let tail = chars.as_str().trim();
            if !closed {
                return Err(syntax("unterminated string"));
            }
            if !tail.is_empty() && !tail.starts_with('#') {
                return Err(syntax("unexpected text after the value"));
            }
            interpolate(&v, env)
        } else {
            value.split('#').next().unwrap_or("").trim().to_string()
        };
        out.insert(name, value);
    }
    Ok(())
}

/// Data.Configurator's interpolation in a quoted value: `$(VAR)` is the environment variable
/// VAR (empty when unset), `$$` is a `$`.
fn interpolate(v: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((var, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            out.push_str(env.get(var).map(String::as_str).unwrap_or(""));
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env;
    use crate::config::Config;

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("tusk-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("tusk.conf");
        std::fs::write(
            &path,
            "# comment\ndb-uri = \"postgres://$(USERNAME)@x/db\"\ndb-schemas = \"api, v2\"\nserver-port = 4000\ndb-pool = 3 # trailing\napp.settings.jwt_secret = \"s\\\"q\"\ndb-schema = \"ignored\"\n",
        )
        .expect("write");
        let c = Config::from_sources(Some(&path), &env(&[("PGRST_SERVER_PORT", "5000"), ("USERNAME", "bob")]))
            .expect("valid");
        assert_eq!(c.db_uri, "postgres://bob@x/db");
        assert_eq!(c.db_schemas, vec!["api", "v2"]);
        assert_eq!(c.server_port, 5000);
        assert_eq!(c.db_pool, 3);
        assert_eq!(c.app_settings.get("jwt_secret").map(String::as_str), Some("s\"q"));
        let dumped = c.dump();
        assert!(dumped.contains("server-port = 5000\n"), "{dumped}");
        assert!(dumped.contains("db-schemas = \"api,v2\"\n"), "{dumped}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
