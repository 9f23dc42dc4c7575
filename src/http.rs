//! The plain HTTP types the pipeline works on: [`RawRequest`] in, [`Response`] out, with no
//! axum or hyper types; and the CORS headers PostgREST sends ([`cors_headers`]).
//!
//! The conversion from and to axum, and the per-request log line, are in [`crate::server`];
//! what a request means is decided by the pipeline ([`crate::app::handle`]). Keeping axum in
//! `server` means every stage works on plain data.

use bytes::Bytes;
use futures_util::stream::BoxStream;

/// A request as the pipeline sees it: no axum or hyper types beyond this module.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: String,
    /// The percent-encoded path, e.g. `/rpc/homepage`.
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    /// Header names lower-cased, in arrival order; shared with the parsed request
    /// (`ApiRequest::headers`), not copied.
    pub headers: Headers,
    pub body: Bytes,
}

/// A request's headers: names lower-cased, in arrival order.
pub type Headers = std::sync::Arc<Vec<(String, String)>>;

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All values of a header (e.g. several `Prefer` headers).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A request written on one line, as in `src/query/cases.txt` and the plan tests:
    /// `METHOD /path?query [| Header: value]* [| body]` (a part starting with `{` or `[`, or
    /// without `: `, is the body). For tests and the fuzz targets; any text gives a request.
    pub fn from_line(line: &str) -> RawRequest {
        let mut parts = line.split(" | ");
        let head = parts.next().unwrap_or_default();
        let (method, target) = head.split_once(' ').unwrap_or((head, "/"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut req =
            RawRequest { method: method.into(), path: path.into(), query: query.into(), ..Default::default() };
        for part in parts {
            match part.split_once(": ") {
                Some((k, v)) if !part.starts_with('{') && !part.starts_with('[') => {
                    std::sync::Arc::make_mut(&mut req.headers).push((k.to_lowercase(), v.to_string()))
                }
                _ => req.body = Bytes::from(part.to_string()),
            }
        }
        req
    }
}

/// The pipeline's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// A body sent as it is produced, after `body` (a live subscription's events); `None` for
    /// every other response.
    pub stream: Option<BodyStream>,
}

/// A streamed body: the chunks in order, the end of the stream ends the response. Taken once
/// (a clone of the response shares it).
#[derive(Clone)]
pub struct BodyStream(std::sync::Arc<std::sync::Mutex<Option<BoxStream<'static, Bytes>>>>);

impl BodyStream {
    pub fn new(stream: BoxStream<'static, Bytes>) -> BodyStream {
        BodyStream(std::sync::Arc::new(std::sync::Mutex::new(Some(stream))))
    }

    /// The stream, the first time it is asked for.
    pub fn take(&self) -> Option<BoxStream<'static, Bytes>> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Bytes::new(), stream: None }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Whether a response needs `X-Content-Type-Options: nosniff`: one with a body of a media type
/// other than JSON (raw media types, media-type domains, CSV), which a browser must not take for
/// anything but what it says it is.
pub fn sniffable(response: &Response) -> bool {
    let Some(content_type) = response.header("content-type") else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json" || essence.ends_with("+json");
    !json && response.header("x-content-type-options").is_none()
}

/// CORS headers for a request from `origin`, PostgREST's way: any origin unless
/// `server-cors-allowed-origins` restricts them. An origin the list names is reflected, with
/// credentials allowed on a preflight; `*` in the list allows any other origin as `*`, without
/// credentials (a browser then sends no cookies or `Authorization` it did not set itself).
pub fn cors_headers(
    allowed: Option<&[String]>,
    origin: Option<&str>,
    preflight: Option<&RawRequest>,
) -> Vec<(String, String)> {
    let (allow_origin, credentials) = match (allowed, origin) {
        (None, _) => ("*".to_string(), false),
        (Some(list), Some(origin)) if origin != "*" && list.iter().any(|o| o == origin) => (origin.to_string(), true),
        (Some(list), _) if list.iter().any(|o| o == "*") => ("*".to_string(), false),
        (Some(_), _) => return vec![],
    };
    let mut headers = vec![("Access-Control-Allow-Origin".to_string(), allow_origin)];
    if credentials && preflight.is_some() {
        headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    }
    match preflight {
        Some(req) => {
            headers
                .push(("Access-Control-Allow-Methods".into(), "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD".into()));
            let requested = req.header("access-control-request-headers").unwrap_or("");
            let mut allow = String::from("Authorization");
            for h in requested.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                allow.push_str(", ");
                allow.push_str(h);
            }
            allow.push_str(", Accept, Accept-Language, Content-Language");
            headers.push(("Access-Control-Allow-Headers".into(), allow));
            headers.push(("Access-Control-Max-Age".into(), "86400".into()));
        }
        None => {
            headers.push((
                "Access-Control-Expose-Headers".into(),
                "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit".into(),
            ));
        }
    }
    headers
}

/// With `db-replica-uris`: `X-Tusk-Lsn` added to `Access-Control-Expose-Headers`, so that a
/// script on another origin can read the position of its last write and echo it (a preflight
/// already allows any header the browser asks for). Without replicas the list stays
/// PostgREST's.
pub fn expose_lsn(headers: &mut [(String, String)]) {
    for (name, value) in headers.iter_mut() {
        if name == "Access-Control-Expose-Headers" {
            value.push_str(", X-Tusk-Lsn");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(headers: &[(String, String)], name: &str) -> Option<String> {
        headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn with_replicas_cors_exposes_the_wal_position() {
        let mut h = cors_headers(None, Some("http://a.example"), None);
        expose_lsn(&mut h);
        let expose = get(&h, "Access-Control-Expose-Headers").unwrap_or_default();
        assert!(expose.starts_with("Content-Encoding, ") && expose.ends_with(", Range-Unit, X-Tusk-Lsn"), "{expose}");
        // A preflight allows it as any header the browser asks for.
        let headers = vec![("access-control-request-headers".to_string(), "x-tusk-lsn".to_string())];
        let preflight = RawRequest { method: "OPTIONS".into(), headers: headers.into(), ..RawRequest::default() };
        let allow =
            get(&cors_headers(None, Some("http://a.example"), Some(&preflight)), "Access-Control-Allow-Headers");
        assert!(allow.unwrap_or_default().contains("x-tusk-lsn"));
    }

    #[test]
    fn cors_star_allows_any_origin_without_credentials() {
        let preflight = RawRequest { method: "OPTIONS".into(), ..RawRequest::default() };
        let star = ["*".to_string()];
        let h = cors_headers(Some(&star), Some("http://evil.example"), Some(&preflight));
        assert_eq!(get(&h, "Access-Control-Allow-Origin").as_deref(), Some("*"));
        assert_eq!(get(&h, "Access-Control-Allow-Credentials"), None);
        // A listed origin keeps PostgREST's answer: reflected, with credentials.
        let list = ["http://a.example".to_string(), "*".to_string()];
        let h = cors_headers(Some(&list), Some("http://a.example"), Some(&preflight));
        assert_eq!(get(&h, "Access-Control-Allow-Origin").as_deref(), Some("http://a.example"));
        assert_eq!(get(&h, "Access-Control-Allow-Credentials").as_deref(), Some("true"));
        let h = cors_headers(Some(&list), Some("http://b.example"), Some(&preflight));
        assert_eq!(get(&h, "Access-Control-Allow-Credentials"), None);
        // Unset: any origin as `*`, as PostgREST.
        let h = cors_headers(None, Some("http://b.example"), Some(&preflight));
        assert_eq!(get(&h, "Access-Control-Allow-Origin").as_deref(), Some("*"));
        assert_eq!(get(&h, "Access-Control-Allow-Credentials"), None);
    }

    #[test]
    fn nosniff_on_every_media_type_but_json() {
        let with = |ct: &str| {
            let mut r = Response::new(200);
            r.headers.push(("Content-Type".into(), ct.into()));
            sniffable(&r)
        };
        assert!(with("text/html"));
        assert!(with("text/plain; charset=utf-8"));
        assert!(with("application/octet-stream"));
        assert!(!with("application/json; charset=utf-8"));
        assert!(!with("application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"));
        assert!(!sniffable(&Response::new(204)));
    }
}
