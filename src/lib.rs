//! tusk: a PostgREST-compatible HTTP API server for PostgreSQL.
//!
//! A request flows one way through the pipeline, one module per stage:
//!
//! ```text
//! config → http → api_request → plan → query → db → response
//!            (auth)   (parse)   (resolve   (render   (execute in a     (status, headers,
//!                               against    SQL)      role-switched      body)
//!                               schema_cache)        transaction)
//! ```
//!
//! `app` composes the stages for one request; `server` owns the process-wide state (config,
//! pool, schema cache) and the listener. Only `db` (and `cluster`, used by `tusk demo` and the
//! tests) does I/O against PostgreSQL. See ARCHITECTURE.md.

pub mod api_request;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod fuzzy;
pub mod http;
pub mod plan;
pub mod query;
pub mod response;
pub use response::openapi;
pub mod schema_cache;
pub mod server;
