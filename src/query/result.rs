//! The one row every main statement returns.

use super::sql::{ident, Sql};
use crate::plan::Media;

pub(super) fn wrap(sql: &mut Sql, inner: &str, total: &str, body: String, location: &str) {
    sql.push(&format!("WITH pgrst_source AS ({inner}) "));
    let inner = "SELECT * FROM pgrst_source";
    push_outer(sql, inner, total, &body, location);
}

pub(super) fn push_outer(sql: &mut Sql, inner: &str, total: &str, body: &str, location: &str) {
    sql.push(&format!(
        "SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {body} AS body, \
         nullif(current_setting('response.headers', true), '') AS response_headers, \
         nullif(current_setting('response.status', true), '') AS response_status, \
         {location} AS location, NULL::bigint AS inserted \
         FROM ({inner}) _postgrest_t"
    ));
}

/// The one row a write returns (`location` before `body`, in PostgREST's order). `inserted`:
/// for upserts, how many rows were new.
pub(super) fn push_outer_upsert(sql: &mut Sql, inner: &str, total: &str, body: &str, location: &str, inserted: &str) {
    sql.push(&format!(
        "SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, {location} AS location, \
         {body} AS body, nullif(current_setting('response.headers', true), '') AS response_headers, \
         nullif(current_setting('response.status', true), '') AS response_status, {inserted} AS inserted \
         FROM ({inner}) _postgrest_t"
    ));
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
        Media::Handler { function: (schema, name), base, row_type, .. } => {
            let row = match row_type {
                Some((s, t)) => format!("_postgrest_t::{}.{}", ident(s), ident(t)),
                None => "_postgrest_t".into(),
            };
            let agg = format!("{}.{}({row})", ident(schema), ident(name));
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
