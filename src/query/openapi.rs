//! The follow-privileges query behind `GET /`.

use super::sql::Sql;
use crate::plan::Plan;

pub(super) fn statement(sql: &mut Sql, plan: &Plan) {
    // What the request's role may use in the schema (openapi-mode follow-privileges):
    // asked of PostgreSQL inside the role-switched transaction.
    let schema = sql.bind(plan.root_schema.clone());
    sql.push(&format!(
        "SELECT NULL::bigint AS total_result_set, 0::bigint AS page_total, json_build_object(\
         'tables', (SELECT coalesce(json_agg(c.relname), '[]') FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = {schema}::text AND c.relkind IN ('r', 'v', 'm', 'f', 'p') \
           AND (pg_has_role(c.relowner, 'USAGE') \
             OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
             OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))), \
         'functions', (SELECT coalesce(json_agg(p.proname), '[]') FROM pg_proc p \
           JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = {schema}::text AND has_function_privilege(p.oid, 'EXECUTE')))::text AS body, \
         NULL::text AS response_headers, NULL::text AS response_status, NULL::text AS location, \
         NULL::bigint AS inserted"
    ));
}
