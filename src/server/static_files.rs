//! Static files (`server-static-dir`, served under `server-static-path`): what a front end needs
//! besides the API (the todo example's `frontend.js`), so that nothing has to stand in front of
//! tusk. GET and HEAD, with `ETag` (size and modification time) and `Last-Modified`, 304 on
//! `If-None-Match` / `If-Modified-Since`, the content type from the file's extension, and
//! `server-static-cache-control`.
//!
//! Refuses (404, TUSK404, the same answer as a missing file, so nothing is learnt about what
//! exists outside): a segment that is empty, `.` or `..` (also percent-encoded), starts with `.`
//! (dotfiles such as `.git`), or holds `/`, `\` or NUL once decoded; a path that resolves (through
//! symbolic links) outside the directory; anything but a regular file; a file over
//! [`MAX_FILE_SIZE`] (logged). Other methods get 405.

use crate::config::Config;
use crate::error::Error;
use crate::http::{RawRequest, Response};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Static files are read whole into memory per request: an app's scripts and styles, not
/// downloads.
pub const MAX_FILE_SIZE: u64 = 32 << 20;
/// The most segments a static path may have.
const MAX_SEGMENTS: usize = 32;

/// The answer when `raw` is under `server-static-path` and `server-static-dir` is set; `None`
/// for every other request.
pub async fn serve(config: &Config, raw: &RawRequest) -> Option<Response> {
    let edge = &config.server_edge;
    let dir = edge.static_dir.as_deref()?;
    let rest = raw.path.strip_prefix(edge.static_path.as_str())?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None; // `/staticky`, not `/static/…`
    }
    let minimal = config.client_error_verbosity_minimal;
    if raw.method != "GET" && raw.method != "HEAD" {
        let mut r = crate::response::error(&Error::UnsupportedMethod(raw.method.clone()), false, minimal);
        r.headers.push(("Allow".into(), "GET, HEAD".into()));
        return Some(r);
    }
    let file = match find(dir, rest).await {
        Some(f) => f,
        None => return Some(crate::response::error(&Error::StaticNotFound, false, minimal)),
    };
    Some(answer(config, raw, file).await)
}

/// A file found under the directory.
struct Found {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

/// The regular file `rest` (`/a/b.js`, still percent-encoded) names inside `dir`, if it may be
/// served.
async fn find(dir: &Path, rest: &str) -> Option<Found> {
    let mut relative = PathBuf::new();
    let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    if segments.len() > MAX_SEGMENTS {
        return None;
    }
    for segment in segments {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?;
        let bad = decoded.is_empty() || decoded.starts_with('.') || decoded.contains(['/', '\\', '\0']);
        if bad {
            return None;
        }
        relative.push(decoded.as_ref());
    }
    // Symbolic links are followed, but the file they lead to must be inside the directory.
    let root = tokio::fs::canonicalize(dir).await.ok()?;
    let path = tokio::fs::canonicalize(root.join(&relative)).await.ok()?;
    if !path.starts_with(&root) {
        return None;
    }
    let meta = tokio::fs::metadata(&path).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.len() > MAX_FILE_SIZE {
        tracing::warn!("static file {} is over {MAX_FILE_SIZE} bytes: not served", path.display());
        return None;
    }
    Some(Found { path, len: meta.len(), modified: meta.modified().unwrap_or(UNIX_EPOCH) })
}

/// 200 with the file, or 304 when the client's copy is current.
async fn answer(config: &Config, raw: &RawRequest, file: Found) -> Response {
    let since_epoch = file.modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!("\"{:x}-{:x}\"", file.len, since_epoch.as_nanos());
    // HTTP dates have whole seconds: compare those.
    let modified = UNIX_EPOCH + std::time::Duration::from_secs(since_epoch.as_secs());
    let mut r = Response::new(200);
    r.headers.push(("ETag".into(), etag.clone()));
    r.headers.push(("Last-Modified".into(), httpdate::fmt_http_date(modified)));
    r.headers.push(("Cache-Control".into(), config.server_edge.static_cache_control.clone()));
    if not_modified(raw, &etag, modified) {
        r.status = 304;
        return r;
    }
    r.headers.push(("Content-Type".into(), content_type(&file.path).into()));
    if raw.method == "GET" {
        match tokio::fs::read(&file.path).await {
            Ok(bytes) => r.body = bytes.into(),
            Err(e) => {
                tracing::warn!("reading static file {}: {e}", file.path.display());
                return crate::response::error(&Error::StaticNotFound, false, config.client_error_verbosity_minimal);
            }
        }
    }
    r
}

/// `If-None-Match` (weak comparison, `*`), or else `If-Modified-Since`, says the client's copy
/// is current.
fn not_modified(raw: &RawRequest, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = raw.header("if-none-match") {
        return tags.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag);
    }
    match raw.header("if-modified-since").and_then(|d| httpdate::parse_http_date(d).ok()) {
        Some(since) => modified <= since,
        None => false,
    }
}

/// The media type of a file, from its extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(Path::new("a/frontend.js")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("x.SVG")), "image/svg+xml");
        assert_eq!(content_type(Path::new("Makefile")), "application/octet-stream");
    }

    #[tokio::test]
    async fn traversal_is_refused() {
        let dir = std::env::temp_dir();
        for rest in ["/../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc", "/a%00b", "/.hidden", "//x", "/a\\..\\b"]
        {
            assert!(find(&dir, rest).await.is_none(), "{rest}");
        }
    }
}
