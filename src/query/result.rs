//! The one row every main statement returns, and what `db` decodes it into.
//!
//! In charge of: the row's columns (`total_result_set`, `page_total`, `body`,
//! `response_headers`, `response_status`, `location`, `inserted`), written by one renderer
//! ([`MainRow`]) and read by name into [`DbResult`]; and the `body` expression for each media
//! type, built by PostgreSQL.

use super::sql::{ident, Sql};
use crate::plan::Media;
use bytes::Bytes;

/// What the main statement returned (decoded by `db`, read by `response`).
#[derive(Debug, Clone, Default)]
pub struct DbResult {
    pub total: Option<i64>,
    pub page_total: i64,
    /// The response body exactly as PostgreSQL built it (JSON, text, XML or bytes).
    pub body: Bytes,
    pub response_headers: Option<String>,
    pub response_status: Option<String>,
    pub location: Option<String>,
    /// For upserts: how many of the rows were inserted (the others were updated).
    pub inserted: Option<i64>,
    /// After a write with replicas configured: the primary's WAL position once it committed
    /// (`X-Tusk-Lsn`, the `tusk_lsn` cookie).
    pub lsn: Option<String>,
}

/// The main row's column names, as `db` decodes them (by name: their order is cosmetic).
pub mod column {
    pub const TOTAL: &str = "total_result_set";
    pub const PAGE_TOTAL: &str = "page_total";
    pub const BODY: &str = "body";
    pub const RESPONSE_HEADERS: &str = "response_headers";
    pub const RESPONSE_STATUS: &str = "response_status";
    pub const LOCATION: &str = "location";
    pub const INSERTED: &str = "inserted";
}

/// The one row of a main statement: an SQL expression per column.
pub(super) struct MainRow<'a> {
    pub total: &'a str,
    pub page_total: &'a str,
    pub body: &'a str,
    pub response_headers: &'a str,
    pub response_status: &'a str,
    pub location: &'a str,
    pub inserted: &'a str,
    /// Writes put `location` before `body`, in PostgREST's order.
    pub location_first: bool,
}

impl<'a> MainRow<'a> {
    /// The row over the rows of `_postgrest_t`: the page counted, the response headers and
    /// status a function may have set, no location, nothing inserted.
    pub(super) fn over_rows(total: &'a str, body: &'a str) -> MainRow<'a> {
        MainRow {
            total,
            page_total: "pg_catalog.count(_postgrest_t)",
            body,
            response_headers: "nullif(current_setting('response.headers', true), '')",
            response_status: "nullif(current_setting('response.status', true), '')",
            location: "NULL::text",
            inserted: "NULL::bigint",
            location_first: false,
        }
    }

    /// Writes `SELECT <the columns>`, then ` FROM (rows) _postgrest_t` when given rows.
    pub(super) fn render(&self, sql: &mut Sql, rows: Option<&str>) {
        use column::*;
        let (location_early, location_late) =
            if self.location_first { (Some(self.location), None) } else { (None, Some(self.location)) };
        let columns = [
            Some((self.total, TOTAL)),
            Some((self.page_total, PAGE_TOTAL)),
            location_early.map(|l| (l, LOCATION)),
            Some((self.body, BODY)),
            Some((self.response_headers, RESPONSE_HEADERS)),
            Some((self.response_status, RESPONSE_STATUS)),
            location_late.map(|l| (l, LOCATION)),
            Some((self.inserted, INSERTED)),
        ];
        sql.push("SELECT ");
        for (i, (expr, name)) in columns.into_iter().flatten().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_composed(expr).push(" AS ").push(name);
        }
        if let Some(rows) = rows {
            sql.push(" FROM (").push_composed(rows).push(") _postgrest_t");
        }
    }
}

/// The response body, built by PostgreSQL and sent in its own type (json, text, xml or
/// bytea), so the bytes arrive as they are: nothing is re-encoded on the way.
pub(super) fn body_expr(media: &Media, scalar: bool) -> String {
    match media {
        Media::Json if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')".into(),
        Media::Json => "coalesce(json_agg(_postgrest_t), '[]')".into(),
        Media::JsonStripNulls if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')".into(),
        Media::JsonStripNulls => "coalesce(json_agg(json_strip_nulls(row_to_json(_postgrest_t))), '[]')".into(),
        Media::SingleObjectStripNulls if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".into(),
        Media::SingleObjectStripNulls => {
            "coalesce(json_agg(json_strip_nulls(row_to_json(_postgrest_t)))->0, 'null')".into()
        }
        Media::SingleObject if scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".into(),
        Media::SingleObject => "coalesce(json_agg(_postgrest_t)->0, 'null')".into(),
        Media::Csv => "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r) AS k FROM \
             (SELECT row_to_json(hh) AS r FROM pgrst_source AS hh LIMIT 1) s) a) || chr(10) || \
             coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), chr(10)), '')"
            .into(),
        Media::Raw(_) => "coalesce(string_agg(_postgrest_t.pgrst_scalar::text, ''), '')".into(),
        Media::RawBinary(_) => "coalesce(string_agg(_postgrest_t.pgrst_scalar::bytea, ''::bytea), '')".into(),
        Media::Handler { function, base, row_type, .. } => {
            let row = match row_type {
                Some(t) => format!("_postgrest_t::{}.{}", ident(&t.schema), ident(&t.name)),
                None => "_postgrest_t".into(),
            };
            let agg = format!("{}.{}({row})", ident(&function.schema), ident(&function.name));
            // These types travel as they are; any other is sent as its text.
            match base.as_str() {
                "bytea" | "text" | "json" | "jsonb" | "xml" | "character varying" => agg,
                _ => format!("({agg})::text"),
            }
        }
        // PostGIS turns each row (its first geometry column) into a Feature.
        Media::GeoJson => "json_build_object('type', 'FeatureCollection', 'features', \
             coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))"
            .into(),
    }
}
