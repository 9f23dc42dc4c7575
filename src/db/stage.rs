//! Large bodies streamed to PostgreSQL (bodies over [`crate::query::STAGE_BODY_OVER`]): the
//! transaction opens with a temporary table, the body goes into it with `COPY` in pieces, and
//! the main statement reads it from there instead of from a bound parameter. Binding would make
//! the driver hold two more whole copies (its Bind message and its write buffer); this way it
//! holds one piece at a time. Costs two more round trips, for big bodies only.

use bytes::{Bytes, BytesMut};

/// Why a large body was not staged: the table could not be made (bind the body instead), or
/// the transaction failed (an outage, a cancel: the request fails).
pub(super) enum Staging {
    Refused(tokio_postgres::Error),
    Failed(tokio_postgres::Error),
}

/// How much of a staged body one `CopyData` message carries: the driver's write buffer holds
/// about one piece at a time, never the body.
const STAGE_PIECE: usize = 64 * 1024;

/// Opens the transaction with a large body in its table ([`crate::query::STAGE_TABLE`]):
/// `BEGIN` and the table in one round trip, then the body streamed with `COPY` in binary
/// format (one row, one text field), in [`STAGE_PIECE`]s sliced from the body without a copy.
pub(super) async fn stage(
    client: &deadpool_postgres::Client,
    begin: &str,
    staged: &crate::query::StagedBody,
) -> Result<(), Staging> {
    use futures_util::SinkExt;
    let (b, t) = tokio::join!(client.batch_execute(begin), client.batch_execute(crate::query::STAGE_TABLE));
    b.map_err(Staging::Failed)?;
    // A refusal has an SQLSTATE (42501 without TEMP, 25006 read-only); a cancel (57014) or a
    // lost connection is the request's end.
    t.map_err(|e| match e.code() {
        Some(c) if *c != tokio_postgres::error::SqlState::QUERY_CANCELED => Staging::Refused(e),
        _ => Staging::Failed(e),
    })?;
    let body = &staged.bytes;
    let brackets = if staged.in_array { 2 } else { 0 };
    // A text value is at most 1 GB in PostgreSQL; a longer body fails there, as when bound.
    let len = i32::try_from(body.len().saturating_add(brackets)).unwrap_or(i32::MAX);
    let mut head = BytesMut::with_capacity(32);
    head.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    head.extend_from_slice(&0i32.to_be_bytes()); // flags
    head.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    head.extend_from_slice(&1i16.to_be_bytes()); // fields in the row
    head.extend_from_slice(&len.to_be_bytes());
    if staged.in_array {
        head.extend_from_slice(b"[");
    }
    let mut tail = BytesMut::with_capacity(8);
    if staged.in_array {
        tail.extend_from_slice(b"]");
    }
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // the end of the rows
    let sink = client.copy_in::<_, Bytes>(crate::query::STAGE_COPY).await.map_err(Staging::Failed)?;
    let mut sink = std::pin::pin!(sink);
    sink.send(head.freeze()).await.map_err(Staging::Failed)?;
    let mut at = 0;
    while at < body.len() {
        let end = at.saturating_add(STAGE_PIECE).min(body.len());
        sink.send(body.slice(at..end)).await.map_err(Staging::Failed)?;
        at = end;
    }
    sink.send(tail.freeze()).await.map_err(Staging::Failed)?;
    sink.as_mut().finish().await.map_err(Staging::Failed)?;
    Ok(())
}
