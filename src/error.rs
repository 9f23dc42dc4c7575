//! Errors of every stage, and the one table that turns them into HTTP responses.
//!
//! Codes follow PostgREST: `PGRST0xx` connection, `PGRST1xx` request, `PGRST2xx` schema cache,
//! `PGRST3xx` JWT; PostgreSQL errors keep their SQLSTATE and get PostgREST's status mapping
//! ([`pg_status`]). Every body is JSON with `code`, `message`, `details` and `hint`.
//! What reaches the client is decided here and only here ([`Error::body`]); internal causes
//! (I/O errors, driver messages) go to the log.

use serde_json::{json, Value};
use std::borrow::Cow;

/// A PostgreSQL error as reported by the server, reduced to what the client may see.
#[derive(Debug, Clone)]
pub struct PgError {
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

/// PGRST200's "Perhaps you meant" hint: a close `name`, and the name of the request it may
/// replace (`instead_of`: the child, or the parent when that has no relationships at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub name: String,
    pub instead_of: String,
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
    InvalidRange { details: Option<String>, total: Option<i64> },
    #[error("Filters must include all and only primary key columns with 'eq' operators")]
    InvalidPutFilters,
    #[error("Invalid schema: {schema}")]
    /// PGRST106: `schema` was asked for; the hint lists the `exposed` ones.
    UnacceptableSchema { schema: String, exposed: Vec<String> },
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
    #[error("'{name}' is not an embedded resource in this request")]
    /// PGRST108: `alias` is set when `name` is embedded, but under that alias.
    NotEmbedded { name: String, alias: Option<String> },
    #[error("table name \"{0}\" specified more than once")]
    /// 42712 (PostgREST answers PostgreSQL's error of that code): two embeds under one name
    /// at one level; their JSON object would have a duplicate key.
    DuplicateEmbed(String),
    #[error("A related order on '{relation}' is not possible")]
    RelatedOrder { relation: String, details: String },
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
    /// `suggestion`: the "Perhaps you meant" hint (boxed: it is rare, and keeps `Error` small).
    NoRelationship {
        parent: String,
        child: String,
        schema: String,
        hint: Option<String>,
        suggestion: Option<Box<Suggestion>>,
    },
    #[error("Could not embed because more than one relationship was found for '{parent}' and '{child}'")]
    AmbiguousRelationship { parent: String, child: String, details: Vec<Value>, hint: String },
    #[error("Could not choose the best candidate function between: {0}")]
    AmbiguousFunction(String),
    #[error("Could not find the function {name} in the schema cache")]
    NoFunction { name: String, details: String, hint: Option<String> },
    #[error("Could not find the '{column}' column of '{table}' in the schema cache")]
    NoColumn { column: String, table: String },
    #[error("Could not find the table '{name}' in the schema cache")]
    /// PGRST205: `name` is `schema.table`; `hint` suggests a close name.
    NoTable { name: String, hint: Option<String> },

    // ---- PGRST3xx: JWT
    #[error("Server lacks JWT secret")]
    JwtNoSecret,
    #[error("{message}")]
    /// PGRST301: `message` also goes into `WWW-Authenticate`.
    JwtDecode { message: String, details: Option<String> },
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
    // ---- TUSKnnn: refusals of tusk's own HTTP layer, which PostgREST does not make
    #[error("The request body is too large")]
    /// TUSK413: the body is over `server-max-body-size` (the limit, in bytes).
    BodyTooLarge(u64),
    #[error("The request body was not received in time")]
    /// TUSK408: nothing of the body arrived for `server-body-timeout` (seconds).
    BodyTimeout(u64),
    #[error("A cross-site request cannot use the sign-in cookie")]
    /// TUSK403: a write authenticated by the `jwt-cookie` cookie from another origin (`origin`:
    /// its Origin, or its Sec-Fetch-Site).
    CrossSite { origin: String },
    #[error("Too many requests")]
    /// TUSK429: over `server-rate-limit`; `retry_after` seconds until the next one is accepted,
    /// `what` is the key that ran out ("client address" or "role").
    RateLimited { retry_after: u64, what: &'static str },
    #[error("File not found")]
    /// TUSK404: nothing under `server-static-path` at this path (or one it may not serve).
    StaticNotFound,
    #[error("Too many live subscriptions")]
    /// TUSK503: `server-max-subscriptions` event streams are open already (the limit).
    TooManySubscriptions(usize),
    #[error("{}", match status { 414 => "The request target is too long", 431 => "The request head is too large", 505 => "The HTTP version is not supported", _ => "The request line or a header is malformed" })]
    /// TUSK400, TUSK414, TUSK431, TUSK505: a request head the HTTP layer cannot take (see
    /// `server::head`), with what was wrong in `details`.
    BadHead { status: u16, details: String },
}

impl Error {
    /// A syntax error in `what` (e.g. `order (a.b)`) at character `column` (1-based).
    pub fn parse(what: &str, column: usize, details: impl Into<String>) -> Error {
        Error::Parse {
            message: format!("\"failed to parse {what}\" (line 1, column {column})"),
            details: details.into(),
        }
    }

    /// The error's row in the table: status, code, details, hint and headers. Adding a variant
    /// means adding one arm here (and its message in the `#[error]` above). It is long because
    /// it is that table: one arm per variant, in one place. `authenticated`
    /// only matters for the status of 42501: 401 for the anonymous role, else 403.
    pub fn info(&self, authenticated: bool) -> ErrorInfo<'_> {
        use Error::*;
        let row = ErrorInfo::new;
        match self {
            DbConnection(cause) => row(503, "PGRST000").details(cause),
            SchemaCacheNotLoaded => row(503, "PGRST002"),
            PoolTimeout => row(504, "PGRST003"),
            Parse { details, .. } => row(400, "PGRST100").details(details),
            InvalidRpcMethod(_) => row(405, "PGRST101"),
            InvalidBody(_) => row(400, "PGRST102"),
            InvalidRange { details, total } => ErrorInfo {
                headers: total.map(|total| vec![("Content-Range".into(), format!("*/{total}"))].into()),
                ..row(416, "PGRST103").details_opt(details.as_deref())
            },
            InvalidPutFilters => row(405, "PGRST105"),
            UnacceptableSchema { exposed, .. } => {
                row(406, "PGRST106").hint(format!("Only the following schemas are exposed: {}", exposed.join(", ")))
            }
            MediaType(_) => row(406, "PGRST107"),
            NotEmbedded { name, alias: None } => {
                row(400, "PGRST108").hint(format!("Verify that '{name}' is included in the 'select' query parameter."))
            }
            NotEmbedded { name, alias: Some(alias) } => row(400, "PGRST108")
                .details("Target names are not allowed in filters if they have an alias")
                .hint(format!("Change '{name}' to '{alias}' in filters, orders or limits.")),
            DuplicateEmbed(name) => row(400, "42712")
                .details(format!("'{name}' is embedded more than once in the same 'select'"))
                .hint(format!("Give each embed of '{name}' its own alias, e.g. 'first_{name}:{name}!hint(*)'")),
            GucHeaders => row(500, "PGRST111"),
            GucStatus => row(500, "PGRST112"),
            PutLimit => row(400, "PGRST114"),
            PutMismatch => row(400, "PGRST115"),
            Singularity(n) => row(406, "PGRST116").details(format!("The result contains {n} rows")),
            UnsupportedMethod(_) => row(405, "PGRST117"),
            RelatedOrder { details, .. } => row(400, "PGRST118").details(details),
            PgrstRaise(d) => row(500, "PGRST121").details(d).hint(if d.contains("DETAIL") {
                "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."
            } else {
                "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."
            }),
            InvalidPreferences(p) => row(400, "PGRST122").details(format!("Invalid preferences: {}", p.join(", "))),
            AggregatesDisabled => row(400, "PGRST123"),
            MaxAffected(n) => row(400, "PGRST124").details(format!("The query affects {n} rows")),
            InvalidPath => row(404, "PGRST125"),
            RootDisabled => row(404, "PGRST126"),
            NotImplemented(details) => row(400, "PGRST127").details(details),
            MaxAffectedNeedsSet => row(400, "PGRST128"),
            NoRelationship { parent, child, schema, hint, suggestion } => row(400, "PGRST200")
                .details(format!(
                    "Searched for a foreign key relationship between '{parent}' and '{child}'{} in the schema '{schema}', but no matches were found.",
                    hint.as_ref().map(|h| format!(" using the hint '{h}'")).unwrap_or_default()
                ))
                .hint_opt(suggestion.as_ref().map(|s| format!("Perhaps you meant '{}' instead of '{}'.", s.name, s.instead_of))),
            AmbiguousRelationship { details, hint, .. } => {
                ErrorInfo { details: Details::Json(details), ..row(300, "PGRST201").hint(hint) }
            }
            NoFunction { details, hint, .. } => row(404, "PGRST202").details(details).hint_opt(hint.as_deref()),
            AmbiguousFunction(_) => row(300, "PGRST203").hint(
                "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
            ),
            NoColumn { .. } => row(400, "PGRST204"),
            NoTable { hint, .. } => row(404, "PGRST205").hint_opt(hint.as_deref()),
            JwtNoSecret => row(500, "PGRST300"),
            JwtDecode { message, details } => {
                ErrorInfo { headers: Some(invalid_token(message)), ..row(401, "PGRST301").details_opt(details.as_deref()) }
            }
            AnonDisabled => row(401, "PGRST302"),
            JwtClaims(msg) => ErrorInfo { headers: Some(invalid_token(msg)), ..row(401, "PGRST303") },
            Pg(e) => ErrorInfo {
                code: Cow::Borrowed(&e.code),
                ..row(pg_status(&e.code, &e.message, authenticated), "")
                    .details_opt(e.details.as_deref())
                    .hint_opt(e.hint.as_deref())
            },
            // The body is the function's own ([`Error::body`]): details and hint are unused.
            Custom { status, body, headers } => ErrorInfo {
                code: match body.get("code") {
                    Some(Value::String(s)) => Cow::Borrowed(s),
                    Some(v) => Cow::Owned(v.to_string()),
                    None => Cow::Borrowed("PGRST"),
                },
                headers: Some(Cow::Borrowed(headers)),
                ..row(*status, "")
            },
            Internal(_) => row(500, "PGRSTX00"),
            BodyTooLarge(limit) => row(413, "TUSK413").details(format!("The limit is {limit} bytes")),
            BodyTimeout(secs) => {
                row(408, "TUSK408").details(format!("No part of the body arrived for {secs} seconds"))
            }
            CrossSite { origin } => row(403, "TUSK403")
                .details(format!("The request came from {origin}, not from this server's own pages"))
                .hint("Send the token in an Authorization header, or list the origin in server-cors-allowed-origins"),
            RateLimited { retry_after, what } => ErrorInfo {
                headers: Some(vec![("Retry-After".into(), retry_after.to_string())].into()),
                ..row(429, "TUSK429").details(format!("The request rate of this {what} is over server-rate-limit"))
            },
            StaticNotFound => row(404, "TUSK404"),
            TooManySubscriptions(max) => row(503, "TUSK503")
                .details(format!("The limit is {max} subscriptions (server-max-subscriptions)"))
                .hint("Try again later"),
            BadHead { status, details } => {
                let code = match status {
                    414 => "TUSK414",
                    431 => "TUSK431",
                    505 => "TUSK505",
                    _ => "TUSK400",
                };
                row(*status, code).details(details.as_str())
            }
        }
    }

    /// The HTTP status. `authenticated` matters for 42501: 401 for the anonymous role, else 403.
    pub fn status(&self, authenticated: bool) -> u16 {
        self.info(authenticated).status
    }

    /// `PGRST…`, or the SQLSTATE, or the code a custom error chose.
    pub fn code(&self) -> Cow<'_, str> {
        self.info(false).code
    }

    /// The JSON body shown to the client. With `minimal` verbosity (`client-error-verbosity`)
    /// only code and message.
    pub fn body(&self, minimal: bool) -> Value {
        if let Error::Custom { body, .. } = self {
            return body.clone();
        }
        let info = self.info(false);
        if minimal {
            // client-error-verbosity=minimal: only code and message.
            return json!({ "code": info.code, "message": self.to_string() });
        }
        let hint = info.hint.map_or(Value::Null, |h| Value::String(h.into_owned()));
        json!({ "code": info.code, "message": self.to_string(), "details": info.details.to_value(), "hint": hint })
    }

    /// Extra headers: `WWW-Authenticate` on auth failures, `Retry-After` when the database is
    /// not available (every 503), headers chosen by a custom error.
    pub fn headers(&self, status: u16) -> Vec<(String, String)> {
        match self.info(false).headers {
            Some(headers) => headers.into_owned(),
            None if status == 401 => vec![("WWW-Authenticate".into(), "Bearer".into())],
            None if status == 503 => vec![("Retry-After".into(), RETRY_AFTER_SECS.to_string())],
            None => vec![],
        }
    }
}

/// `Retry-After` of a 503: the reloader retries the database at least this often, and a
/// request takes a new connection at once, so service is back about this soon after the
/// database is.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What the client sees of an [`Error`] besides its message: one row of the table. Text is
/// borrowed from the error where it can be, so reading the code allocates nothing.
#[derive(Debug, Clone)]
pub struct ErrorInfo<'a> {
    pub status: u16,
    pub code: Cow<'a, str>,
    pub details: Details<'a>,
    pub hint: Option<Cow<'a, str>>,
    /// Headers of the error's own; `None` leaves the default (`WWW-Authenticate: Bearer` on 401).
    pub headers: Option<Cow<'a, [(String, String)]>>,
}

/// The `details` of an error body: usually text, a list of candidates for PGRST201.
#[derive(Debug, Clone)]
pub enum Details<'a> {
    None,
    Text(Cow<'a, str>),
    Json(&'a [Value]),
}

impl Details<'_> {
    pub fn to_value(&self) -> Value {
        match self {
            Details::None => Value::Null,
            Details::Text(t) => Value::String(t.to_string()),
            Details::Json(items) => Value::Array(items.to_vec()),
        }
    }
}

impl<'a> ErrorInfo<'a> {
    fn new(status: u16, code: &'static str) -> ErrorInfo<'a> {
        ErrorInfo { status, code: Cow::Borrowed(code), details: Details::None, hint: None, headers: None }
    }
    fn details(self, details: impl Into<Cow<'a, str>>) -> ErrorInfo<'a> {
        ErrorInfo { details: Details::Text(details.into()), ..self }
    }
    fn details_opt(self, details: Option<&'a str>) -> ErrorInfo<'a> {
        match details {
            Some(d) => self.details(d),
            None => self,
        }
    }
    fn hint(self, hint: impl Into<Cow<'a, str>>) -> ErrorInfo<'a> {
        ErrorInfo { hint: Some(hint.into()), ..self }
    }
    fn hint_opt(self, hint: Option<impl Into<Cow<'a, str>>>) -> ErrorInfo<'a> {
        ErrorInfo { hint: hint.map(Into::into), ..self }
    }
}

/// `WWW-Authenticate` for a token that was read but refused.
fn invalid_token(msg: &str) -> Cow<'static, [(String, String)]> {
    let description = msg.replace('"', "'");
    vec![("WWW-Authenticate".into(), format!("Bearer error=\"invalid_token\", error_description=\"{description}\""))]
        .into()
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
        // Shutting down, crashed, starting up: PostgREST maps only 57P01 to 503; all three mean
        // "come back in a moment", not a server bug.
        "57P01" | "57P02" | "57P03" => 503,
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
            ("57P01", true, 503),
            ("57P02", true, 503),
            ("57P03", true, 503),
            ("57014", true, 500),
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
        let e = Error::NoTable { name: "test.fake".into(), hint: None };
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

    #[test]
    fn every_503_says_when_to_retry() {
        let pg =
            |code: &str| Error::Pg(PgError { code: code.into(), message: String::new(), details: None, hint: None });
        for e in
            [Error::DbConnection("refused".into()), Error::SchemaCacheNotLoaded, pg("57P01"), pg("57P03"), pg("08006")]
        {
            assert_eq!(e.status(true), 503, "{e:?}");
            assert_eq!(e.headers(503), vec![("Retry-After".to_string(), "1".to_string())], "{e:?}");
        }
        assert!(Error::PoolTimeout.headers(504).is_empty());
    }

    #[test]
    fn codes_and_headers() {
        let e = Error::JwtDecode { message: "bad \"token\"".into(), details: Some("why".into()) };
        assert_eq!((e.status(false), e.code().as_ref()), (401, "PGRST301"));
        assert_eq!(
            e.headers(401),
            vec![(
                "WWW-Authenticate".to_string(),
                "Bearer error=\"invalid_token\", error_description=\"bad 'token'\"".to_string()
            )]
        );
        assert_eq!(e.body(false)["details"], json!("why"));
        assert_eq!(
            Error::InvalidRange { details: None, total: Some(7) }.headers(416),
            vec![("Content-Range".into(), "*/7".into())]
        );
        assert!(Error::InvalidRange { details: None, total: None }.headers(416).is_empty());
        let custom = |code: Value| Error::Custom { status: 401, body: json!({ "code": code }), headers: vec![] };
        assert_eq!(custom(json!("X1")).code(), "X1");
        assert_eq!(custom(json!(12)).code(), "12");
        assert_eq!(custom(json!("X1")).status(false), 401);
        assert!(custom(json!("X1")).headers(401).is_empty());
        let e = Error::AmbiguousRelationship {
            parent: "a".into(),
            child: "b".into(),
            details: vec![json!(1)],
            hint: "h".into(),
        };
        assert_eq!(e.body(true), json!({"code": "PGRST201", "message": e.to_string()}));
        assert_eq!((e.body(false)["details"].clone(), e.status(true)), (json!([1]), 300));
    }
}
