//! The plain HTTP types the pipeline works on: [`RawRequest`] in, [`Response`] out, with no
//! axum or hyper types; and the CORS headers PostgREST sends ([`cors_headers`]).
//!
//! The conversion from and to axum, and the per-request log line, are in [`crate::server`];
//! what a request means is decided by the pipeline ([`crate::app::handle`]). Keeping axum in
//! `server` means every stage works on plain data.

use bytes::Bytes;

/// A request as the pipeline sees it: no axum or hyper types beyond this module.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: String,
    /// The percent-encoded path, e.g. `/rpc/homepage`.
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All values of a header (e.g. several `Prefer` headers).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The pipeline's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Bytes::new() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// CORS headers for a request from `origin`, PostgREST's way: any origin unless
/// `server-cors-allowed-origins` restricts them.
pub fn cors_headers(
    allowed: Option<&[String]>,
    origin: Option<&str>,
    preflight: Option<&RawRequest>,
) -> Vec<(String, String)> {
    let allow_origin = match (allowed, origin) {
        (None, _) => "*".to_string(),
        (Some(list), Some(origin)) if list.iter().any(|o| o == origin || o == "*") => origin.to_string(),
        (Some(_), _) => return vec![],
    };
    let mut headers = vec![("Access-Control-Allow-Origin".to_string(), allow_origin)];
    if allowed.is_some() && preflight.is_some() {
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
