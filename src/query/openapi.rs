//! The follow-privileges query behind `GET /` (`openapi-mode = follow-privileges`): which
//! tables and functions of the schema the request's role may use, asked of PostgreSQL inside
//! the role-switched transaction. The OpenAPI document itself is written by `openapi`.

use super::result::MainRow;
use super::sql::Sql;
use crate::plan::Plan;

/// The main row whose body is `{"tables": [names], "functions": [names]}`.
pub(super) fn statement(sql: &mut Sql, plan: &Plan) {
    let schema = sql.bind(plan.root_schema.clone());
    let body = format!(
        "json_build_object(\
         'tables', (SELECT coalesce(json_agg(c.relname), '[]') FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = {schema}::text AND c.relkind IN ('r', 'v', 'm', 'f', 'p') \
           AND (pg_has_role(c.relowner, 'USAGE') \
             OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
             OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))), \
         'functions', (SELECT coalesce(json_agg(p.proname), '[]') FROM pg_proc p \
           JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = {schema}::text AND has_function_privilege(p.oid, 'EXECUTE')))::text"
    );
    MainRow {
        total: "NULL::bigint",
        page_total: "0::bigint",
        body: &body,
        response_headers: "NULL::text",
        response_status: "NULL::text",
        location: "NULL::text",
        inserted: "NULL::bigint",
        location_first: false,
    }
    .render(sql, None);
}
