//! Loading the schema cache: [`load_schema_cache`] streams the rows of the catalog queries
//! ([`CATALOG_QUERIES`]: one JSON object per row) into a [`CacheBuilder`], decoding each as it
//! arrives, and packs them, zstd-compressed on a thread of its own, into the document the admin
//! server's `/schema_cache` and `--dump-schema` show ([`CatalogJson`]). Neither PostgreSQL nor
//! tusk ever holds the whole schema as one JSON text: a 68,000-relation catalog is ~170 MB of it.

use super::{map_error, pool_error, Error, Pool};
use crate::query::{catalog_read_in, CATALOG_READ, CATALOG_READ_EXPORTED};
use crate::schema_cache::{CacheBuilder, SchemaCache, CATALOG_QUERIES, SECTIONS};
use futures_util::TryStreamExt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
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
/// Rows go to it in batches of [`BATCH`] bytes per section: a message per row cost the loader
/// a quarter of its time in the channel and in waking the thread.
pub struct Packer {
    tx: Option<Sender<(usize, String)>>,
    thread: Option<JoinHandle<std::io::Result<CatalogJson>>>,
    /// Each section's rows not sent yet, as `row,row,…`.
    batches: Vec<String>,
}

/// How much of a section is sent to the packer at once.
const BATCH: usize = 256 * 1024;

impl Packer {
    fn start() -> Result<Packer, Error> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("tusk-catalog-json".into())
            .spawn(move || pack(rx))
            .map_err(|e| Error::Internal(format!("cannot start the schema cache's packer: {e}")))?;
        let batches = SECTIONS.iter().map(|_| String::new()).collect();
        Ok(Packer { tx: Some(tx), thread: Some(thread), batches })
    }

    fn add(&mut self, section: usize, json: &str) {
        let Some(batch) = self.batches.get_mut(section) else { return };
        if !batch.is_empty() {
            batch.push(',');
        }
        batch.push_str(json);
        if batch.len() >= BATCH {
            self.send(section);
        }
    }

    fn send(&mut self, section: usize) {
        let Some(batch) = self.batches.get_mut(section) else { return };
        let batch = std::mem::take(batch);
        if let (Some(tx), false) = (&self.tx, batch.is_empty()) {
            // The packer only ends early on an error, which finish() reports.
            let _ = tx.send((section, batch));
        }
    }

    /// The document, once every row is packed (blocks until then: call it off the runtime's
    /// threads, e.g. in `spawn_blocking`).
    pub fn finish(mut self) -> Result<CatalogJson, String> {
        for section in 0..self.batches.len() {
            self.send(section);
        }
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Ok(json))) => Ok(json),
            Some(Ok(Err(e))) => Err(format!("cannot compress the schema cache's JSON: {e}")),
            _ => Err("the schema cache's packer stopped".into()),
        }
    }
}

/// Each section's batches compressed apart (as `row,row,…`), then joined into one document:
/// zstd frames decompress to the concatenation of their contents.
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
///
/// The catalog is read by two statements ([`CATALOG_QUERIES`]: the relations with their
/// columns, and the rest) in one `REPEATABLE READ` snapshot. When the pool has a second
/// connection free, the second statement runs there at the same time, in the snapshot the
/// first exported (as `pg_dump --jobs` does): the two halves cost about the same, so the load
/// takes about as long as one of them. Otherwise (no connection free, or no snapshot to share)
/// both run on one connection, one after the other.
pub async fn load_schema_cache(
    pool: &Pool,
    schemas: &[String],
    extra_search_path: &[String],
) -> Result<(SchemaCache, Packer), Error> {
    let started = Instant::now();
    let first = Pooled::new(pool.get().await.map_err(pool_error)?);
    let mut sink = Sink { builder: CacheBuilder::default(), packer: Packer::start()?, count: 0, bytes: 0 };
    let params: [Vec<&(dyn ToSql + Sync)>; 2] = [vec![&schemas], vec![&schemas, &extra_search_path]];
    let [relations, objects] = CATALOG_QUERIES;
    let [relations_params, objects_params] = &params;
    let second = second_connection(pool, &first).await?;
    match &second {
        Some(second) => {
            // Both sent before either is awaited: a statement's stream opens only with its
            // first rows, which for the relations come after most of their work.
            let (a, b) = futures_util::future::try_join(
                query_rows(&first, relations, relations_params),
                query_rows(second, objects, objects_params),
            )
            .await?;
            sink.take(futures_util::stream::select(a, b)).await?;
        }
        None => {
            sink.take(query_rows(&first, relations, relations_params).await?).await?;
            sink.take(query_rows(&first, objects, objects_params).await?).await?;
        }
    }
    for client in [Some(&first), second.as_ref()].into_iter().flatten() {
        client.end().await?;
    }
    let Sink { mut builder, packer, count, bytes } = sink;
    builder.rows_took(started.elapsed());
    let (cache, phases) = builder.finish();
    let connections = if second.is_some() { 2 } else { 1 };
    tracing::debug!("Schema cache: {count} rows, {bytes} bytes of JSON, on {connections} connection(s); {phases}");
    Ok((cache, packer))
}

/// Where the rows go: decoded into the cache, packed into the document.
struct Sink {
    builder: CacheBuilder,
    packer: Packer,
    count: usize,
    bytes: usize,
}

impl Sink {
    async fn take(
        &mut self,
        rows: impl futures_util::Stream<Item = Result<tokio_postgres::Row, tokio_postgres::Error>>,
    ) -> Result<(), Error> {
        let decode = |e: &dyn std::fmt::Display| Error::Internal(format!("cannot decode the schema cache: {e}"));
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await.map_err(|e| map_error(&e))? {
            let section: &str = row.try_get(0).map_err(|e| decode(&e))?;
            let json: &str = row.try_get(1).map_err(|e| decode(&e))?;
            self.builder.add(section, json).map_err(|e| decode(&format!("{section}: {e}")))?;
            if let Some(i) = SECTIONS.iter().position(|s| *s == section) {
                self.packer.add(i, json);
            }
            self.count += 1;
            self.bytes += json.len();
        }
        Ok(())
    }
}

async fn query_rows(
    client: &Pooled,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<tokio_postgres::RowStream, Error> {
    client.client().query_raw(sql, params.iter().map(|p| *p as &dyn ToSql)).await.map_err(|e| map_error(&e))
}

/// Opens the snapshot on `first` and, when the pool has a connection free right away, shares
/// it with that one. A database that cannot export or import a snapshot still gets its cache
/// loaded, on `first` alone.
async fn second_connection(pool: &Pool, first: &Pooled) -> Result<Option<Pooled>, Error> {
    let free = deadpool_postgres::Timeouts { wait: Some(Duration::ZERO), ..pool.timeouts() };
    if let Ok(client) = pool.timeout_get(&free).await {
        let second = Pooled::new(client);
        let exported = first.client().simple_query(CATALOG_READ_EXPORTED).await;
        first.opened();
        let id = exported.as_deref().ok().and_then(|messages| {
            messages.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
        });
        match id.as_deref().and_then(catalog_read_in) {
            Some(read) => {
                let imported = second.client().batch_execute(&read).await;
                second.opened();
                return match imported {
                    Ok(()) => Ok(Some(second)),
                    // `first` is in the snapshot already.
                    Err(e) => {
                        tracing::debug!("Schema cache: on one connection, the snapshot cannot be imported: {e}");
                        Ok(None)
                    }
                };
            }
            None => {
                let why = exported.as_ref().err().map_or_else(|| "no snapshot id".to_string(), |e| e.to_string());
                tracing::debug!("Schema cache: on one connection, the snapshot cannot be exported: {why}");
                // Out of the failed (or unusable) export, into a read of its own below.
                first.client().batch_execute("ROLLBACK").await.map_err(|e| map_error(&e))?;
            }
        }
    }
    first.client().batch_execute(CATALOG_READ).await.map_err(|e| map_error(&e))?;
    first.opened();
    Ok(None)
}

/// A pooled connection that may be inside the load's transaction: unless that transaction
/// ends cleanly ([`Pooled::end`]), the connection is closed rather than returned to the pool
/// (an error or a cancelled load must not hand a request a read-only transaction).
struct Pooled {
    client: Option<deadpool_postgres::Client>,
    open: AtomicBool,
}

impl Pooled {
    fn new(client: deadpool_postgres::Client) -> Pooled {
        Pooled { client: Some(client), open: AtomicBool::new(false) }
    }

    fn client(&self) -> &deadpool_postgres::Client {
        // Set in `new`, taken only in `drop`.
        self.client.as_ref().expect("a pooled connection until dropped")
    }

    /// A transaction may be open from now on.
    fn opened(&self) {
        self.open.store(true, Ordering::Relaxed);
    }

    async fn end(&self) -> Result<(), Error> {
        self.client().batch_execute("COMMIT").await.map_err(|e| map_error(&e))?;
        self.open.store(false, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if self.open.load(Ordering::Relaxed) {
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_a_batch_join_the_same_section() {
        let mut packer = Packer::start().expect("packer");
        let tables = SECTIONS.iter().position(|s| *s == "tables").expect("tables");
        let row = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1000));
        // Three batches and a rest.
        let rows = 3 * BATCH / row.len() + 7;
        for _ in 0..rows {
            packer.add(tables, &row);
        }
        let text = packer.finish().and_then(|json| json.text()).expect("document");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(doc["tables"].as_array().map(Vec::len), Some(rows));
    }

    #[test]
    fn packs_rows_into_one_document_by_section() {
        let mut packer = Packer::start().expect("packer");
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
