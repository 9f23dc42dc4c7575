//! Loading the schema cache: [`load_schema_cache`] streams the rows of the catalog query
//! ([`CATALOG_QUERY`]: one JSON object per row) into a [`CacheBuilder`], decoding each as it
//! arrives, and packs them, zstd-compressed on a thread of its own, into the document the admin
//! server's `/schema_cache` and `--dump-schema` show ([`CatalogJson`]). Neither PostgreSQL nor
//! tusk ever holds the whole schema as one JSON text: a 68,000-relation catalog is ~170 MB of it.

use super::{map_error, pool_error, Error, Pool};
use crate::schema_cache::{CacheBuilder, SchemaCache, CATALOG_QUERY, SECTIONS};
use futures_util::TryStreamExt;
use std::io::Write;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio_postgres::types::ToSql;

/// The catalog as one JSON document (`{"schemas": [...], "tables": [...], ...}`), kept
/// zstd-compressed: a tenth of its size or less (the generated 10,000-table schema: 26 MB to 0.4 MB).
#[derive(Debug)]
pub struct CatalogJson {
    zstd: Vec<u8>,
}

impl CatalogJson {
    /// The document's text.
    pub fn text(&self) -> Result<String, String> {
        let bytes = zstd::stream::decode_all(self.zstd.as_slice()).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }
}

/// zstd's fastest usual level: the document compresses ten times or more, at a few hundred MB/s.
const LEVEL: i32 = 1;

/// Packs the rows into a [`CatalogJson`] on a thread of its own, while the loader decodes them.
pub struct Packer {
    tx: Option<Sender<(usize, String)>>,
    thread: Option<JoinHandle<std::io::Result<CatalogJson>>>,
}

impl Packer {
    fn start() -> Result<Packer, Error> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("tusk-catalog-json".into())
            .spawn(move || pack(rx))
            .map_err(|e| Error::Internal(format!("cannot start the schema cache's packer: {e}")))?;
        Ok(Packer { tx: Some(tx), thread: Some(thread) })
    }

    fn add(&self, section: usize, json: &str) {
        if let Some(tx) = &self.tx {
            // The packer only ends early on an error, which finish() reports.
            let _ = tx.send((section, json.to_string()));
        }
    }

    /// The document, once every row is packed (blocks until then: call it off the runtime's
    /// threads, e.g. in `spawn_blocking`).
    pub fn finish(mut self) -> Result<CatalogJson, String> {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Ok(json))) => Ok(json),
            Some(Ok(Err(e))) => Err(format!("cannot compress the schema cache's JSON: {e}")),
            _ => Err("the schema cache's packer stopped".into()),
        }
    }
}

/// Each section's rows compressed apart (as `row,row,…`), then joined into one document: zstd
/// frames decompress to the concatenation of their contents.
fn pack(rx: Receiver<(usize, String)>) -> std::io::Result<CatalogJson> {
    let mut parts: Vec<Option<zstd::stream::write::Encoder<'static, Vec<u8>>>> =
        SECTIONS.iter().map(|_| None).collect();
    for (section, json) in rx {
        let Some(slot) = parts.get_mut(section) else { continue };
        match slot {
            Some(encoder) => {
                encoder.write_all(b",")?;
                encoder.write_all(json.as_bytes())?;
            }
            None => {
                let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?;
                encoder.write_all(json.as_bytes())?;
                *slot = Some(encoder);
            }
        }
    }
    let mut zstd = Vec::new();
    for (i, (name, part)) in SECTIONS.iter().zip(parts).enumerate() {
        let open = format!("{}\"{name}\":[", if i == 0 { "{" } else { "" });
        zstd.extend(zstd::stream::encode_all(open.as_bytes(), LEVEL)?);
        if let Some(encoder) = part {
            zstd.extend(encoder.finish()?);
        }
        let close = if i + 1 == SECTIONS.len() { "]}" } else { "]," };
        zstd.extend(zstd::stream::encode_all(close.as_bytes(), LEVEL)?);
    }
    Ok(CatalogJson { zstd })
}

/// Loads the schema cache of `schemas` (views of `extra_search_path` count for relationships).
/// Also returns the [`Packer`] of the catalog's JSON document (the admin server's
/// `/schema_cache`), to be finished once the cache is in use.
pub async fn load_schema_cache(
    pool: &Pool,
    schemas: &[String],
    extra_search_path: &[String],
) -> Result<(SchemaCache, Packer), Error> {
    let client = pool.get().await.map_err(pool_error)?;
    let started = Instant::now();
    let params: [&(dyn ToSql + Sync); 2] = [&schemas, &extra_search_path];
    let rows =
        client.query_raw(CATALOG_QUERY, params.iter().map(|p| *p as &dyn ToSql)).await.map_err(|e| map_error(&e))?;
    let mut rows = std::pin::pin!(rows);
    let mut builder = CacheBuilder::default();
    let packer = Packer::start()?;
    let (mut count, mut bytes) = (0usize, 0usize);
    let decode = |e: &dyn std::fmt::Display| Error::Internal(format!("cannot decode the schema cache: {e}"));
    while let Some(row) = rows.try_next().await.map_err(|e| map_error(&e))? {
        let section: &str = row.try_get(0).map_err(|e| decode(&e))?;
        let json: &str = row.try_get(1).map_err(|e| decode(&e))?;
        builder.add(section, json).map_err(|e| decode(&format!("{section}: {e}")))?;
        if let Some(i) = SECTIONS.iter().position(|s| *s == section) {
            packer.add(i, json);
        }
        count += 1;
        bytes += json.len();
    }
    drop(client);
    builder.rows_took(started.elapsed());
    let (cache, phases) = builder.finish();
    tracing::debug!("Schema cache: {count} rows, {bytes} bytes of JSON; {phases}");
    Ok((cache, packer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_rows_into_one_document_by_section() {
        let packer = Packer::start().expect("packer");
        let tables = SECTIONS.iter().position(|s| *s == "tables").expect("tables");
        let routines = SECTIONS.iter().position(|s| *s == "routines").expect("routines");
        packer.add(tables, r#"{"name":"a"}"#);
        packer.add(routines, r#"{"name":"f"}"#);
        packer.add(tables, r#"{"name":"b"}"#);
        let text = packer.finish().and_then(|json| json.text()).expect("document");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            doc,
            serde_json::json!({"schemas": [], "tables": [{"name": "a"}, {"name": "b"}], "views": [],
                "primary_keys": [], "foreign_keys": [], "media_handlers": [], "routines": [{"name": "f"}]})
        );
    }
}
