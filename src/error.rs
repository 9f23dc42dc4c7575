//! Errors of every stage, and the one table that turns them into HTTP responses.
//!
//! Codes follow PostgREST: `PGRST0xx` connection, `PGRST1xx` request, `PGRST2xx` schema cache,
//! `PGRST3xx` JWT; PostgreSQL errors keep their SQLSTATE and get PostgREST's status mapping
//! ([`pg_status`]). Every body is JSON with `code`, `message`, `details` and `hint`.
//! What reaches the client is decided here and only here ([`Error::body`]); internal causes
//! (I/O errors, driver messages) go to the log.

use serde_json::{json, Value};

/// A PostgreSQL error as reported by the server, reduced to what the client may see.
#[derive(Debug, Clone)]
pub struct PgError {
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- PGRST0xx: the database connection
    #[error("Could not connect with the database: {0}")]
    DbConnection(String),
    #[error("Could not query the database for the schema cache. Retrying.")]
    SchemaCacheNotLoaded,
    #[error("Timed out acquiring connection from connection pool.")]
    PoolTimeout,

    // ---- PGRST1xx: the request
    /// A syntax error; `message` is PostgREST's `"failed to parse …" (line 1, column N)`.
    #[error("{message}")]
    Parse { message: String, details: String },
    #[error("Cannot use the {0} method on RPC")]
    InvalidRpcMethod(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("Requested range not satisfiable")]
    /// PGRST103, with the details and the total row count when known (for `Content-Range`).
    InvalidRange(Option<String>, Option<i64>),
    #[error("Filters must include all and only primary key columns with 'eq' operators")]
    InvalidPutFilters,
    #[error("Invalid schema: {0}")]
    UnacceptableSchema(String, Vec<String>),
    #[error("None of these media types are available: {0}")]
    MediaType(String),
    #[error("response.headers guc must be a JSON array composed of objects with a single key and a string value")]
    GucHeaders,
    #[error("response.status guc must be a valid status code")]
    GucStatus,
    #[error("limit/offset querystring parameters are not allowed for PUT")]
    PutLimit,
    #[error("Payload values do not match URL in primary key column(s)")]
    PutMismatch,
    #[error("Cannot coerce the result to a single JSON object")]
    Singularity(i64),
    #[error("Unsupported HTTP method: {0}")]
    UnsupportedMethod(String),
    #[error("Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error")]
    PgrstRaise(String),
    #[error("Invalid preferences given with handling=strict")]
    InvalidPreferences(Vec<String>),
    #[error("Query result exceeds max-affected preference constraint")]
    MaxAffected(i64),
    #[error("'{0}' is not an embedded resource in this request")]
    NotEmbedded(String, Option<String>),
    #[error("A related order on '{0}' is not possible")]
    RelatedOrder(String, String),
    #[error("Root endpoint metadata is disabled")]
    RootDisabled,
    #[error("Use of aggregate functions is not allowed")]
    AggregatesDisabled,
    #[error("Function must return SETOF or TABLE when max-affected preference is used with handling=strict")]
    MaxAffectedNeedsSet,
    #[error("Invalid path specified in request URL")]
    InvalidPath,
    #[error("Feature not implemented")]
    NotImplemented(String),

    // ---- PGRST2xx: the schema cache
    #[error("Could not find a relationship between '{parent}' and '{child}' in the schema cache")]
    /// `suggestion`: a close name and the name of the request it may replace (the child, or
    /// the parent when that has no relationships at all).
    NoRelationship {
        parent: String,
        child: String,
        schema: String,
        hint: Option<String>,
        suggestion: Option<Box<(String, String)>>,
    },
    #[error("Could not embed because more than one relationship was found for '{parent}' and '{child}'")]
    AmbiguousRelationship { parent: String, child: String, details: Vec<Value>, hint: String },
    #[error("Could not choose the best candidate function between: {0}")]
    AmbiguousFunction(String),
    #[error("Could not find the function {name} in the schema cache")]
    NoFunction { name: String, details: String, hint: Option<String> },
    #[error("Could not find the '{column}' column of '{table}' in the schema cache")]
    NoColumn { column: String, table: String },
    #[error("Could not find the table '{0}' in the schema cache")]
    NoTable(String, Option<String>),

    // ---- PGRST3xx: JWT
    #[error("Server lacks JWT secret")]
    JwtNoSecret,
    #[error("{0}")]
    JwtDecode(String, Option<String>),
    #[error("Anonymous access is disabled")]
    AnonDisabled,
    #[error("{0}")]
    JwtClaims(String),

    // ---- errors raised by PostgreSQL
    #[error("{}", .0.message)]
    Pg(PgError),
    /// `RAISE SQLSTATE 'PGRST'` with a JSON message: the function picks status and body.
    #[error("custom error")]
    Custom { status: u16, body: Value, headers: Vec<(String, String)> },

    // ---- PGRSTX00: ours
    #[error("Internal server error: {0}")]
    Internal(String),
}

impl Error {
    /// A syntax error in `what` (e.g. `order (a.b)`) at character `column` (1-based).
    pub fn parse(what: &str, column: usize, details: impl Into<String>) -> Error {
        Error::Parse {
            message: format!("\"failed to parse {what}\" (line 1, column {column})"),
            details: details.into(),
        }
    }

    /// The HTTP status. `authenticated` matters for 42501: 401 for the anonymous role, else 403.
    pub fn status(&self, authenticated: bool) -> u16 {
        use Error::*;
        match self {
            DbConnection(_) | SchemaCacheNotLoaded => 503,
            PoolTimeout => 504,
            Parse { .. } | InvalidBody(_) | PutLimit | PutMismatch | InvalidPreferences(_) => 400,
            MaxAffected(_) | NotImplemented(_) | MaxAffectedNeedsSet => 400,
            InvalidRpcMethod(_) | InvalidPutFilters | UnsupportedMethod(_) => 405,
            InvalidRange(..) => 416,
            UnacceptableSchema(..) | MediaType(_) | Singularity(_) => 406,
            GucHeaders | GucStatus | PgrstRaise(_) | Internal(_) | JwtNoSecret => 500,
            InvalidPath | RootDisabled => 404,
            NoRelationship { .. } | NoColumn { .. } | NotEmbedded(..) | AggregatesDisabled => 400,
            AmbiguousRelationship { .. } | AmbiguousFunction(_) => 300,
            RelatedOrder(..) => 400,
            NoFunction { .. } | NoTable(..) => 404,
            JwtDecode(..) | AnonDisabled | JwtClaims(_) => 401,
            Pg(e) => pg_status(&e.code, &e.message, authenticated),
            Custom { status, .. } => *status,
        }
    }

    pub fn code(&self) -> String {
        use Error::*;
        let code = match self {
            DbConnection(_) => "PGRST000",
            SchemaCacheNotLoaded => "PGRST002",
            PoolTimeout => "PGRST003",
            Parse { .. } => "PGRST100",
            InvalidRpcMethod(_) => "PGRST101",
            InvalidBody(_) => "PGRST102",
            InvalidRange(..) => "PGRST103",
            InvalidPutFilters => "PGRST105",
            UnacceptableSchema(..) => "PGRST106",
            MediaType(_) => "PGRST107",
            GucHeaders => "PGRST111",
            GucStatus => "PGRST112",
            PutLimit => "PGRST114",
            PutMismatch => "PGRST115",
            Singularity(_) => "PGRST116",
            UnsupportedMethod(_) => "PGRST117",
            PgrstRaise(_) => "PGRST121",
            InvalidPreferences(_) => "PGRST122",
            MaxAffected(_) => "PGRST124",
            MaxAffectedNeedsSet => "PGRST128",
            NotEmbedded(..) => "PGRST108",
            RelatedOrder(..) => "PGRST118",
            AggregatesDisabled => "PGRST123",
            InvalidPath => "PGRST125",
            RootDisabled => "PGRST126",
            NotImplemented(_) => "PGRST127",
            NoRelationship { .. } => "PGRST200",
            AmbiguousRelationship { .. } => "PGRST201",
            AmbiguousFunction(_) => "PGRST203",
            NoFunction { .. } => "PGRST202",
            NoColumn { .. } => "PGRST204",
            NoTable(..) => "PGRST205",
            JwtNoSecret => "PGRST300",
            JwtDecode(..) => "PGRST301",
            AnonDisabled => "PGRST302",
            JwtClaims(_) => "PGRST303",
            Pg(e) => return e.code.clone(),
            Custom { body, .. } => {
                return match body.get("code") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => "PGRST".into(),
                }
            }
            Internal(_) => "PGRSTX00",
        };
        code.to_string()
    }

    fn details_hint(&self) -> (Value, Value) {
        use Error::*;
        let s = |v: &str| Value::String(v.to_string());
        match self {
            DbConnection(cause) => (s(cause), Value::Null),
            Parse { details, .. } => (s(details), Value::Null),
            InvalidRange(Some(d), _) => (s(d), Value::Null),
            UnacceptableSchema(_, exposed) => (
                Value::Null,
                s(&format!("Only the following schemas are exposed: {}", exposed.join(", "))),
            ),
            Singularity(n) => (s(&format!("The result contains {n} rows")), Value::Null),
            PgrstRaise(d) if d.contains("DETAIL") => (
                s(d),
                s("DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."),
            ),
            PgrstRaise(d) => (
                s(d),
                s("MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."),
            ),
            InvalidPreferences(p) => (s(&format!("Invalid preferences: {}", p.join(", "))), Value::Null),
            MaxAffected(n) => (s(&format!("The query affects {n} rows")), Value::Null),
            NotImplemented(d) => (s(d), Value::Null),
            NoRelationship { parent, child, schema, hint, suggestion } => (
                s(&format!(
                    "Searched for a foreign key relationship between '{parent}' and '{child}'{} in the schema '{schema}', but no matches were found.",
                    hint.as_ref().map(|h| format!(" using the hint '{h}'")).unwrap_or_default()
                )),
                suggestion
                    .as_ref()
                    .map(|b| s(&format!("Perhaps you meant '{}' instead of '{}'.", b.0, b.1)))
                    .unwrap_or(Value::Null),
            ),
            NotEmbedded(name, None) => (
                Value::Null,
                s(&format!("Verify that '{name}' is included in the 'select' query parameter.")),
            ),
            NotEmbedded(name, Some(alias)) => (
                s("Target names are not allowed in filters if they have an alias"),
                s(&format!("Change '{name}' to '{alias}' in filters, orders or limits.")),
            ),
            RelatedOrder(_, d) => (s(d), Value::Null),
            AmbiguousRelationship { details, hint, .. } => (Value::Array(details.clone()), s(hint)),
            AmbiguousFunction(_) => (
                Value::Null,
                s("Try renaming the parameters or the function itself in the database so function overloading can be resolved"),
            ),
            NoFunction { details, hint, .. } => (s(details), hint.as_deref().map(s).unwrap_or(Value::Null)),
            NoTable(_, hint) => (Value::Null, hint.as_deref().map(s).unwrap_or(Value::Null)),
            JwtDecode(_, Some(d)) => (s(d), Value::Null),
            Pg(e) => (
                e.details.as_deref().map(s).unwrap_or(Value::Null),
                e.hint.as_deref().map(s).unwrap_or(Value::Null),
            ),
            _ => (Value::Null, Value::Null),
        }
    }

    /// The JSON body shown to the client. With `minimal` verbosity (`client-error-verbosity`)
    /// only code and message.
    pub fn body(&self, minimal: bool) -> Value {
        if let Error::Custom { body, .. } = self {
            return body.clone();
        }
        if minimal {
            // client-error-verbosity=minimal: only code and message.
            return json!({ "code": self.code(), "message": self.to_string() });
        }
        let (details, hint) = self.details_hint();
        json!({ "code": self.code(), "message": self.to_string(), "details": details, "hint": hint })
    }

    /// Extra headers: `WWW-Authenticate` on auth failures, headers chosen by a custom error.
    pub fn headers(&self, status: u16) -> Vec<(String, String)> {
        match self {
            Error::Custom { headers, .. } => headers.clone(),
            Error::JwtDecode(msg, _) | Error::JwtClaims(msg) => vec![(
                "WWW-Authenticate".into(),
                format!("Bearer error=\"invalid_token\", error_description=\"{}\"", msg.replace('"', "'")),
            )],
            Error::InvalidRange(_, Some(total)) => vec![("Content-Range".into(), format!("*/{total}"))],
            _ if status == 401 => vec![("WWW-Authenticate".into(), "Bearer".into())],
            _ => vec![],
        }
    }
}

/// PostgREST's mapping of SQLSTATE to HTTP status.
pub fn pg_status(code: &str, message: &str, authenticated: bool) -> u16 {
    let b = code.as_bytes();
    let prefix = |p: &str| code.starts_with(p);
    match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "21000" if message.contains("requires a WHERE clause") => 400,
        "21000" => 500,
        // The role a JWT names does not exist: an authentication failure.
        "22023" if message.starts_with("role") && message.ends_with("does not exist") => 401,
        "53400" => 500,
        "57P01" => 503,
        "P0001" => 400,
        "42883" => 404,
        "42P01" => 404,
        "42P17" => 500,
        "42501" => {
            if authenticated {
                403
            } else {
                401
            }
        }
        _ if prefix("08") => 503,
        _ if prefix("09") => 500,
        _ if prefix("0L") || prefix("0P") => 403,
        _ if prefix("25") => 500,
        _ if prefix("28") => 403,
        _ if prefix("2D") || prefix("38") || prefix("39") || prefix("3B") || prefix("40") => 500,
        _ if prefix("53") => 503,
        _ if prefix("54") || prefix("55") || prefix("57") || prefix("58") => 500,
        _ if prefix("F0") || prefix("HV") || prefix("P0") || prefix("XX") => 500,
        _ if b.len() == 5 && prefix("PT") => code[2..].parse().unwrap_or(500),
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_status_table() {
        for (code, authed, status) in [
            ("42501", false, 401),
            ("42501", true, 403),
            ("23505", true, 409),
            ("23503", true, 409),
            ("P0001", true, 400),
            ("42P01", true, 404),
            ("08006", true, 503),
            ("PT402", true, 402),
            ("22P02", true, 400),
            ("XX000", true, 500),
        ] {
            assert_eq!(pg_status(code, "", authed), status, "{code}");
        }
        assert_eq!(pg_status("22023", "role \"nobody\" does not exist", true), 401);
        assert_eq!(pg_status("22023", "invalid value for parameter", true), 400);
    }

    #[test]
    fn body_shape() {
        let e = Error::NoTable("test.fake".into(), None);
        assert_eq!(e.status(false), 404);
        assert_eq!(
            e.body(false),
            json!({"code": "PGRST205", "message": "Could not find the table 'test.fake' in the schema cache", "details": null, "hint": null})
        );
        let e = Error::Pg(PgError {
            code: "42501".into(),
            message: "permission denied for table tasks".into(),
            details: None,
            hint: None,
        });
        assert_eq!(e.status(false), 401);
        assert_eq!(e.headers(401), vec![("WWW-Authenticate".to_string(), "Bearer".to_string())]);
    }
}
