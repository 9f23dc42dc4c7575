//! Tidy checks: the rules of ARCHITECTURE.md that the compiler does not enforce, checked over
//! the source text (as rust-analyzer's `tidy.rs` does). Each failure names the file and the rule.
//!
//! - The stages before `db` do no I/O: they import no tokio, hyper, axum, tokio-postgres or
//!   deadpool.
//! - SQL text is written only in `query/` (and `.sql` files read with `include_str!`); `db` keeps
//!   only the transaction mechanics (`BEGIN`, `COMMIT`, `ROLLBACK`).
//! - `query` renders only resolved fields (`plan::Column`, `plan::Select`, `plan::Condition`,
//!   `plan::Logic`, `plan::Order`, `plan::WriteColumn`): it never sees the parser's unresolved
//!   column types or the schema cache, so it cannot look a column up by name.
//! - A file over 800 lines says at its top why it is one room; a function over 100 lines says
//!   in the comment above it why it is one piece.
//! - The vendored h2 (`vendor/h2`, see its TUSK-PATCH.md) percent-encodes in `:path` the same
//!   bytes as the HTTP/1 head gate (`src/server/head.rs`) does in a request target.

use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Modules that make up the sans-IO stages of the pipeline (and the plain types they share).
const SANS_IO: &[&str] =
    &["api_request", "plan", "query", "response", "schema_cache", "config", "auth", "http", "error", "fuzzy"];

const IO_CRATES: &[&str] = &["tokio", "hyper", "axum", "tokio_postgres", "deadpool_postgres", "deadpool", "reqwest"];

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 100;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(SRC).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (rel, text)
        })
        .collect()
}

/// The module a source file belongs to: `plan/read.rs` → `plan`, `auth.rs` → `auth`.
fn module_of(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs")
}

/// The text of a file without its `#[cfg(test)]` tail and without test files: tests may use
/// anything.
fn non_test_code(rel: &str, text: &str) -> Option<String> {
    if rel.ends_with("tests.rs") || rel.contains("/tests/") {
        return None;
    }
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    Some(code.to_string())
}

#[test]
fn stages_before_db_do_no_io() {
    let mut bad = Vec::new();
    for (rel, text) in all_sources() {
        if !SANS_IO.contains(&module_of(&rel)) {
            continue;
        }
        let Some(code) = non_test_code(&rel, &text) else { continue };
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for krate in IO_CRATES {
                if line.contains(&format!("{krate}::")) {
                    bad.push(format!("src/{rel}:{}: uses `{krate}`: {line}", n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "sans-IO stages must not use I/O crates:\n{}", bad.join("\n"));
}

/// A string literal is SQL text when it starts with one of these keywords (upper case, as tusk
/// writes SQL) or names the catalog or `set_config`.
const SQL_STARTS: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE ",
    "WITH ",
    "LISTEN ",
    "NOTIFY ",
    "SET ",
    "CREATE ",
    "DROP ",
    "ALTER ",
    "EXPLAIN ",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "DEALLOCATE",
];
const SQL_ANYWHERE: &[&str] = &["pg_catalog.", "set_config("];

/// What `db` may write itself: transaction mechanics and the health check, no data.
const DB_MECHANICS: &[&str] =
    &["BEGIN", "COMMIT", "ROLLBACK", "SET CONSTRAINTS ALL IMMEDIATE", "SELECT 1", "DEALLOCATE ALL"];

fn is_sql(literal: &str) -> bool {
    SQL_STARTS.iter().any(|k| literal.starts_with(k)) || SQL_ANYWHERE.iter().any(|k| literal.contains(k))
}

#[test]
fn sql_is_written_only_in_query() {
    let mut bad = Vec::new();
    for (rel, text) in all_sources() {
        let module = module_of(&rel);
        if module == "query" || module == "cluster" || module == "demo" {
            // query writes SQL; cluster and demo are process set-up outside the pipeline
            // (psql scripts for a throwaway cluster), not request handling.
            continue;
        }
        let Some(code) = non_test_code(&rel, &text) else { continue };
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            // Only string literals count: the text between quotes.
            for literal in line.split('"').skip(1).step_by(2) {
                if is_sql(literal) && !(module == "db" && DB_MECHANICS.contains(&literal)) {
                    bad.push(format!("src/{rel}:{}: SQL outside query/: {}", n + 1, trimmed));
                }
            }
        }
    }
    assert!(bad.is_empty(), "SQL text belongs in src/query/ or a .sql file:\n{}", bad.join("\n"));
}

/// What `query` must not name: the parser's types that carry unresolved columns, and the schema
/// cache's lookups (the plan resolved every column before `query` sees it).
const UNRESOLVED: &[&str] =
    &["SelectItem", "Filter", "LogicTree", "OrderTerm", "OrderTarget", "Field", "SchemaCache", "ColumnInfo"];

/// Whether `line` uses `word` as a whole identifier (not as a variant of the plan's
/// `Select::Field`).
fn uses_word(line: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident) && !line[..at].ends_with("Select::")
    })
}

#[test]
fn query_renders_only_resolved_fields() {
    let mut bad = Vec::new();
    for (rel, text) in all_sources() {
        if module_of(&rel) != "query" {
            continue;
        }
        let Some(code) = non_test_code(&rel, &text) else { continue };
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            for word in UNRESOLVED.iter().filter(|w| uses_word(line, w)) {
                bad.push(format!("src/{rel}:{}: `{word}` in query: {trimmed}", n + 1));
            }
            if line.contains(".facts(") || line.contains(".column(") {
                bad.push(format!("src/{rel}:{}: a column looked up by name in query: {trimmed}", n + 1));
            }
        }
    }
    assert!(bad.is_empty(), "query renders the plan's resolved fields only:\n{}", bad.join("\n"));
}

/// A long file or function is allowed when its comment says why with this phrase.
const WHY_LONG: &str = "long because";

#[test]
fn long_files_say_why() {
    let mut bad = Vec::new();
    for (rel, text) in all_sources() {
        if rel.ends_with("tests.rs") {
            continue;
        }
        let lines = text.lines().count();
        let head: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
        if lines > MAX_FILE_LINES && !head.contains(WHY_LONG) {
            bad.push(format!("src/{rel}: {lines} lines, and its header does not say why (\"{WHY_LONG} …\")"));
        }
    }
    assert!(bad.is_empty(), "files over {MAX_FILE_LINES} lines:\n{}", bad.join("\n"));
}

#[test]
fn long_functions_say_why() {
    let mut bad = Vec::new();
    for (rel, text) in all_sources() {
        let Some(code) = non_test_code(&rel, &text) else { continue };
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) async fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !is_fn || trimmed.ends_with(';') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let close = format!("{}}}", " ".repeat(indent));
            let Some(len) = lines[i..].iter().position(|l| *l == close) else { continue };
            if len + 1 > MAX_FN_LINES {
                let above = lines[i.saturating_sub(8)..i].join("\n");
                if !above.contains(WHY_LONG) {
                    bad.push(format!("src/{rel}:{}: {} lines: {}", i + 1, len + 1, trimmed));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "functions over {MAX_FN_LINES} lines without a comment saying why (\"{WHY_LONG} …\"):\n{}",
        bad.join("\n")
    );
}

/// The rule of `raw_ok` in `text` (the byte range and the `!matches!(b, …)` list of bytes
/// encoded besides), whitespace removed.
fn encoded_bytes(text: &str) -> Option<String> {
    let start = text.find("fn raw_ok(b: u8) -> bool {")?;
    let body = &text[start..];
    let rule = &body[body.find("(0x21..0x7f)")?..];
    let list = rule.find("!matches!(b,")?;
    let end = list + rule[list..].find(')')?;
    Some(rule[..=end].split_whitespace().collect())
}

#[test]
fn http2_paths_are_encoded_as_http1_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let head = encoded_bytes(&read("src/server/head.rs")).expect("raw_ok in src/server/head.rs");
    let h2 = encoded_bytes(&read("vendor/h2/src/server.rs")).expect("raw_ok in vendor/h2/src/server.rs");
    assert_eq!(h2, head, "vendor/h2's tusk patch and src/server/head.rs encode different bytes");
}
