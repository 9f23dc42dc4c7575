//! What a driver error means for the request: a PostgreSQL error keeps its SQLSTATE (and a
//! `RAISE SQLSTATE 'PGRST'` becomes the custom error it describes); the database out of reach is
//! a 503 (`Error::DbConnection`); a message the driver could not encode is the request's fault
//! (400), never a lost connection; a pool that stayed full is a 504.

use super::last_failure;
use crate::error::{Error, PgError};

/// Maps a driver error: a PostgreSQL error keeps its SQLSTATE; a message the driver could not
/// encode (a NUL byte in a value or a name) is the request's fault, never a lost connection;
/// anything else that broke the conversation is a lost connection.
pub fn map_error(e: &tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code().to_string();
            if code == "PGRST" {
                return custom_error(db.message(), db.detail());
            }
            Error::Pg(PgError {
                code,
                message: db.message().to_string(),
                details: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
            })
        }
        None => match classify(e) {
            DriverError::Encoding(msg) => encoding_error(&msg),
            DriverError::Connection => Error::DbConnection(e.to_string()),
            // Our own mistake (a parameter the statement does not take, a value it cannot read).
            DriverError::Other => Error::Internal(e.to_string()),
        },
    }
}

/// What a driver error that is no PostgreSQL error means.
#[derive(Debug, PartialEq)]
enum DriverError {
    /// The driver refused to encode a message (before sending anything): the connection is
    /// fine, the request carried something PostgreSQL's protocol cannot (a NUL byte).
    Encoding(String),
    /// The database is out of reach: refused, reset, closed, timed out.
    Connection,
    Other,
}

/// Classifies by the I/O error underneath rather than the driver's message: an `InvalidInput`
/// I/O error is what the driver's encoder returns ("string contains embedded null", "value
/// too large to transmit"); any other I/O error, a closed connection or a connect timeout is
/// a lost connection.
fn classify(e: &tokio_postgres::Error) -> DriverError {
    // The driver's own word for it, whatever the cause underneath.
    if e.to_string().starts_with("error encoding message") {
        return DriverError::Encoding(e.to_string());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::InvalidInput => DriverError::Encoding(io.to_string()),
                _ => DriverError::Connection,
            };
        }
        source = s.source();
    }
    if e.is_closed() {
        return DriverError::Connection;
    }
    // Without an I/O cause, the driver's own kinds: "error connecting to server", "timeout
    // waiting for server", "error communicating with the server".
    let msg = e.to_string();
    if ["error connecting", "timeout waiting", "error communicating"].iter().any(|w| msg.starts_with(w)) {
        DriverError::Connection
    } else {
        DriverError::Other
    }
}

/// The error PostgreSQL itself gives a value with a NUL byte (22021, a 400), for whatever the
/// driver refused to encode.
fn encoding_error(cause: &str) -> Error {
    let message = if cause.contains("null") {
        "invalid byte sequence for encoding \"UTF8\": 0x00".to_string()
    } else {
        format!("the request could not be sent to the database: {cause}")
    };
    Error::Pg(PgError { code: "22021".into(), message, details: None, hint: None })
}

/// `RAISE SQLSTATE 'PGRST' USING message = '{"code":…}', detail = '{"status":…,"headers":…}'`.
fn custom_error(message: &str, detail: Option<&str>) -> Error {
    let msg: serde_json::Value = match serde_json::from_str(message) {
        Ok(v @ serde_json::Value::Object(_)) if v.get("code").is_some() && v.get("message").is_some() => v,
        _ => return Error::PgrstRaise(format!("Invalid JSON value for MESSAGE: '{message}'")),
    };
    let detail: serde_json::Value = match detail.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(v @ serde_json::Value::Object(_))) if v.get("status").is_some() => v,
        Some(_) => return Error::PgrstRaise(format!("Invalid JSON value for DETAIL: '{}'", detail.unwrap_or(""))),
        None => return Error::PgrstRaise("DETAIL is missing in the RAISE statement".into()),
    };
    let status = detail.get("status").and_then(serde_json::Value::as_u64).unwrap_or(500) as u16;
    let headers = detail
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let body = serde_json::json!({
        "code": msg.get("code").cloned().unwrap_or(serde_json::Value::Null),
        "message": msg.get("message").cloned().unwrap_or(serde_json::Value::Null),
        "details": msg.get("details").cloned().unwrap_or(serde_json::Value::Null),
        "hint": msg.get("hint").cloned().unwrap_or(serde_json::Value::Null),
    });
    Error::Custom { status, body, headers }
}

/// A connection could not be had: the pool was full for too long (504), or the database
/// refused or could not take a new connection (503, whatever PostgreSQL said, with the host).
pub(super) fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => Error::PoolTimeout,
        // What failed and where (the driver's error does not name the host), as PostgREST:
        // a connection that cannot be had is PGRST000, whatever PostgreSQL said.
        deadpool_postgres::PoolError::Backend(e) => {
            Error::DbConnection(last_failure().unwrap_or_else(|| e.to_string()))
        }
        other => Error::DbConnection(other.to_string()),
    }
}
