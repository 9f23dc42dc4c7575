//! Response compression (`server-compression`): tower-http's `CompressionLayer` with gzip, br
//! and zstd, chosen from the request's `Accept-Encoding` (its q-values), `Vary: Accept-Encoding`
//! added to whatever it compresses.
//!
//! What is never compressed: a response under [`MIN_SIZE`] bytes, one whose `Content-Encoding`
//! is already set (e.g. by a function through `response.headers`; tower-http checks this), a
//! content type that is compressed already
//! ([`COMPRESSED`]), and a response marked [`Uncompressed`] (compression off, or HEAD, which has
//! no body to compress).

use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Smaller responses gain too little to be worth the CPU and the header.
pub const MIN_SIZE: u16 = 1024;

/// Content types (prefixes) whose bodies are compressed already.
const COMPRESSED: &[&str] = &[
    "image/", // except image/svg+xml, below
    "video/",
    "audio/",
    "font/woff",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/zstd",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/pdf",
    "application/octet-stream",
    "application/wasm-compressed",
    "text/event-stream",
];

/// tower-http never compresses a response with `Content-Range`, taking it for a byte range.
/// tusk's `Content-Range` is PostgREST's range of rows (`0-24/*`, on every read), never of
/// bytes: it is set aside around the layer ([`hide_row_range`], [`restore_row_range`]).
#[derive(Clone)]
struct RowRange(axum::http::HeaderValue);

/// Before the layer: keeps `Content-Range` in an extension.
pub fn hide_row_range<B>(response: &mut axum::http::Response<B>) {
    if let Some(v) = response.headers_mut().remove(axum::http::header::CONTENT_RANGE) {
        response.extensions_mut().insert(RowRange(v));
    }
}

/// After the layer: puts `Content-Range` back.
pub fn restore_row_range<B>(response: &mut axum::http::Response<B>) {
    if let Some(RowRange(v)) = response.extensions_mut().remove::<RowRange>() {
        response.headers_mut().insert(axum::http::header::CONTENT_RANGE, v);
    }
}

/// A response extension: do not compress this one.
#[derive(Clone, Copy, Debug)]
pub struct Uncompressed;

/// When to compress: see the module's doc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worthwhile;

impl Predicate for Worthwhile {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        if response.extensions().get::<Uncompressed>().is_some() {
            return false;
        }
        let ct = response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let ct = ct.trim().to_ascii_lowercase();
        let compressed = !ct.starts_with("image/svg+xml") && COMPRESSED.iter().any(|p| ct.starts_with(p));
        !compressed && SizeAbove::new(MIN_SIZE).should_compress(response)
    }
}

/// The layer: gzip, br and zstd at level 4. The algorithms' own defaults are tuned for files
/// compressed once (brotli's is 11, hundreds of times slower than 4); an API response is
/// compressed for each request, and level 4 keeps most of the gain at a fraction of the CPU.
pub fn layer() -> CompressionLayer<Worthwhile> {
    CompressionLayer::new().quality(CompressionLevel::Precise(4)).compress_when(Worthwhile)
}
