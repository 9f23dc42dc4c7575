//! Writes: INSERT, UPDATE and DELETE in a CTE, and what they return.

use super::read::{select_query, where_clause, RowSource};
use super::result::{body_expr, MainRow};
use super::sql::{array_literal, function_name, ident, qualified, Sql};
use crate::api_request::{Resolution, ReturnPref};
use crate::error::Error;
use crate::plan::{BodyParse, MutateKind, Plan, Select, Shape, WriteColumn};
use crate::schema_cache::QualifiedName;

/// What the plan writes.
#[derive(Clone, Copy)]
pub(super) struct Write<'a> {
    pub table: &'a QualifiedName,
    pub kind: &'a MutateKind,
    pub shape: &'a Shape,
    pub payload: &'a Option<bytes::Bytes>,
    pub pk: &'a [String],
    pub missing_default: bool,
    pub parse: &'a BodyParse,
}

/// The write in a CTE (`pgrst_source`), then the one row of the response over the rows it
/// returned.
pub(super) fn statement(sql: &mut Sql, plan: &Plan, write: Write) -> Result<(), Error> {
    let target = qualified(&write.table.schema, &write.table.name);
    let alias = ident(&write.table.name);
    let cte = match write.kind {
        MutateKind::Insert { columns, on_conflict } => insert(sql, plan, &write, &target, columns, on_conflict)?,
        MutateKind::Update { columns } => update(sql, plan, &write, &target, &alias, columns)?,
        MutateKind::Delete => {
            let where_ = where_clause(sql, &alias, write.shape)?;
            format!("DELETE FROM {target}{where_}{}", returning(&target, plan, write.shape, write.pk))
        }
    };
    sql.push("WITH pgrst_source AS (").push_composed(&cte).push(") ");
    main_row(sql, plan, &write, &alias)
}

/// `INSERT` (or upsert: `ON CONFLICT`) of the payload's rows.
fn insert(
    sql: &mut Sql,
    plan: &Plan,
    write: &Write,
    target: &str,
    columns: &[WriteColumn],
    on_conflict: &Option<(Vec<String>, Resolution)>,
) -> Result<String, Error> {
    let Write { shape, payload, pk, missing_default, parse, .. } = *write;
    let mut cte = String::new();
    let cols: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
    let no_rows = payload.as_deref().is_some_and(|b| String::from_utf8_lossy(b).trim() == "[]");
    // An upsert counts the rows it inserts in a transaction-local setting: each
    // row of the payload adds one, each that updates an existing row instead
    // takes it back (in DO UPDATE's WHERE). Unlike xmax, this also works on
    // partitioned tables and views.
    let counting = on_conflict.is_some() && !no_rows;
    let counted = if counting { format!(" WHERE {}", count_inserted('+')) } else { String::new() };
    if no_rows {
        // `[]`: nothing to insert (and no row to default).
        cte.push_str(&format!("SELECT {target}.* FROM {target} WHERE false"));
    } else {
        let p = match payload {
            Some(body) => sql.bind_body(body.clone(), !is_json_array(body)),
            None => sql.bind("[]"),
        };
        let into = if cols.is_empty() {
            // `{}`: every column gets its default, once per element.
            format!("INSERT INTO {target} SELECT")
        } else {
            format!("INSERT INTO {target} ({cols}) SELECT", cols = cols.join(", "))
        };
        if cols.is_empty() {
            cte.push_str(&format!("{into} FROM json_array_elements({p}::json) pgrst_elem{counted}"));
        } else if parse.is_active() {
            // Some columns' domains parse their JSON values themselves.
            let (values, evaluated) = if missing_default {
                or_default(sql, columns)
            } else {
                (columns.iter().map(|c| body_value(sql, c)).collect(), String::new())
            };
            let record = record_source(sql, parse);
            cte.push_str(&format!(
                "{into} {} FROM jsonb_array_elements({p}::jsonb) pgrst_elem, \
                 LATERAL jsonb_populate_record(NULL::{target}, {record}) pgrst_body{evaluated}{counted}",
                values.join(", ")
            ));
        } else if !missing_default {
            cte.push_str(&format!(
                "{into} {cols} FROM json_populate_recordset(NULL::{target}, {p}::json) pgrst_body{counted}",
                cols = cols.join(", ")
            ));
        } else {
            let (values, evaluated) = or_default(sql, columns);
            cte.push_str(&format!(
                "{into} {} FROM jsonb_array_elements({p}::jsonb) pgrst_elem, \
                 LATERAL jsonb_populate_record(NULL::{target}, pgrst_elem) pgrst_body{evaluated}{counted}",
                values.join(", ")
            ));
        }
    }
    if let (true, Some((conflict_cols, resolution))) = (counting, on_conflict) {
        let cc: Vec<String> = conflict_cols.iter().map(|c| ident(c)).collect();
        cte.push_str(&format!(" ON CONFLICT ({}) ", cc.join(", ")));
        match resolution {
            Resolution::IgnoreDuplicates => cte.push_str("DO NOTHING"),
            Resolution::MergeDuplicates if cols.is_empty() => cte.push_str("DO NOTHING"),
            Resolution::MergeDuplicates => {
                let sets: Vec<String> = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                cte.push_str(&format!("DO UPDATE SET {} WHERE {}", sets.join(", "), count_inserted('-')));
            }
        }
    }
    if !no_rows {
        cte.push_str(&returning(target, plan, shape, pk));
    }
    Ok(cte)
}

/// `UPDATE` with the payload's (first) row.
fn update(
    sql: &mut Sql,
    plan: &Plan,
    write: &Write,
    target: &str,
    alias: &str,
    columns: &[WriteColumn],
) -> Result<String, Error> {
    let Write { shape, payload, pk, missing_default, parse, .. } = *write;
    let mut cte = String::new();
    if columns.is_empty() {
        cte.push_str(&format!("SELECT * FROM {target} WHERE false"));
    } else {
        let p = sql.bind_body(payload.clone().unwrap_or_default(), false);
        if parse.is_active() {
            // Some columns' domains parse their JSON values themselves; an
            // array body updates with its first element, as below. The row
            // comes from a set-returning function so that the parsers run
            // only for rows updated (never folded into constants at planning).
            let (values, evaluated): (Vec<String>, String) = if missing_default {
                or_default(sql, columns)
            } else {
                (columns.iter().map(|c| body_value(sql, c)).collect(), String::new())
            };
            let sets: Vec<String> =
                columns.iter().zip(values).map(|(c, v)| format!("{} = {v}", ident(&c.name))).collect();
            let record = record_source(sql, parse);
            cte.push_str(&format!(
                "UPDATE {target} SET {} FROM (SELECT pgrst_elem FROM jsonb_array_elements(\
                 CASE WHEN jsonb_typeof({p}::jsonb) = 'array' THEN {p}::jsonb \
                 ELSE jsonb_build_array({p}::jsonb) END) pgrst_elem LIMIT 1) pgrst_e, \
                 LATERAL jsonb_populate_record(NULL::{target}, {record}) pgrst_body{evaluated}",
                sets.join(", ")
            ));
        } else if !missing_default {
            let sets: Vec<String> =
                columns.iter().map(|c| format!("{} = pgrst_body.{}", ident(&c.name), ident(&c.name))).collect();
            cte.push_str(&format!(
                "UPDATE {target} SET {} FROM (SELECT * FROM json_populate_record(NULL::{target}, \
                 CASE WHEN json_typeof({p}::json) = 'array' THEN {p}::json->0 ELSE {p}::json END)) pgrst_body",
                sets.join(", ")
            ));
        } else {
            let (values, evaluated) = or_default(sql, columns);
            let sets: Vec<String> =
                columns.iter().zip(values).map(|(c, v)| format!("{} = {v}", ident(&c.name))).collect();
            cte.push_str(&format!(
                "UPDATE {target} SET {} FROM (SELECT {p}::jsonb AS pgrst_elem) pgrst_e, \
                 LATERAL jsonb_populate_record(NULL::{target}, pgrst_e.pgrst_elem) pgrst_body{evaluated}",
                sets.join(", ")
            ));
        }
        cte.push_str(&where_clause(sql, alias, shape)?);
        cte.push_str(&returning(target, plan, shape, pk));
    }
    Ok(cte)
}

/// The response's row over the rows the write returned (`location` before `body`, in
/// PostgREST's order; `inserted` for upserts).
fn main_row(sql: &mut Sql, plan: &Plan, write: &Write, alias: &str) -> Result<(), Error> {
    let Write { kind, shape, pk, .. } = *write;
    // The returned rows are already filtered: only the select list and embeds apply.
    let returning = if plan.return_ == ReturnPref::Representation {
        Shape { filters: vec![], logic: vec![], limit: None, offset: None, ..shape.clone() }
    } else {
        // Nothing of the rows is shown: only counted.
        Shape { select: vec![Select::Star], ..Shape::default() }
    };
    let rep = select_query(sql, RowSource::new(&format!("pgrst_source {alias}"), alias), &returning)?;
    let location = if plan.return_ == ReturnPref::HeadersOnly && !pk.is_empty() {
        let cols: Vec<String> = pk.iter().map(|c| ident(c)).collect();
        // Only a single created row has a location.
        format!(
            "CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN \
             (SELECT row_to_json(pgrst_pk)::text FROM (SELECT {} FROM pgrst_source LIMIT 1) pgrst_pk) END",
            cols.join(", ")
        )
    } else {
        "NULL::text".into()
    };
    let body = if plan.return_ == ReturnPref::Representation { body_expr(&plan.media, false) } else { "''".into() };
    let inner = rep.query();
    let total = match plan.count {
        Some(_) => "(SELECT pg_catalog.count(*) FROM pgrst_source)".to_string(),
        None => "NULL::bigint".to_string(),
    };
    // has run to completion.
    let inserted = match kind {
        MutateKind::Insert { on_conflict: Some(_), .. } => {
            "coalesce(nullif(current_setting('pgrst.inserted', true), '')::bigint, 0)"
        }
        _ => "NULL::bigint",
    };
    let row = MainRow { location: &location, inserted, location_first: true, ..MainRow::over_rows(&total, &body) };
    row.render(sql, Some(&inner));
    Ok(())
}

/// `set_config('pgrst.inserted', n ± 1)`, always true as a condition: the upsert's count of
/// inserted rows, one step (see the Insert rendering).
pub(super) fn count_inserted(step: char) -> String {
    let never = if step == '+' { "0" } else { "-1" };
    format!(
        "pg_catalog.set_config('pgrst.inserted', (coalesce(nullif(pg_catalog.current_setting('pgrst.inserted', true), \
         '')::int, 0) {step} 1)::text, true) <> '{never}'"
    )
}

/// `missing=default`: a column's value from the row when the row has the key, else the
/// column's default (its catalog expression) or NULL. As in PostgREST, every listed column's
/// default is evaluated for every row, even one giving the value (a sequence advances once
/// per row): the defaults are a LATERAL subquery tied to the row (`pgrst_defaults`, returned
/// second, to follow the FROM list; empty when no column has a default).
pub(super) fn or_default(sql: &mut Sql, columns: &[WriteColumn]) -> (Vec<String>, String) {
    let mut evaluated: Vec<String> = Vec::new();
    let values = columns
        .iter()
        .map(|c| {
            let key = sql.bind(c.name.clone());
            let value = body_value(sql, c);
            let fallback = match &c.default {
                Some(d) => {
                    let name = format!("pgrst_d{}", evaluated.len());
                    evaluated.push(format!("{d} AS {name}"));
                    format!("pgrst_defaults.{name}")
                }
                None => "NULL".to_string(),
            };
            format!("CASE WHEN pgrst_elem ? {key}::text THEN {value} ELSE {fallback} END")
        })
        .collect();
    // Referring to the row keeps the subquery per row (a volatile one is never flattened).
    let lateral = if evaluated.is_empty() {
        String::new()
    } else {
        format!(", LATERAL (SELECT {} WHERE pgrst_elem IS NOT NULL) pgrst_defaults", evaluated.join(", "))
    };
    (values, lateral)
}

/// A written column's value from the body row (`pgrst_elem`, jsonb, and the record populated
/// from it, `pgrst_body`): the record's field, or the domain's JSON parser applied to the
/// key's JSON value (a missing key or a JSON null is SQL NULL).
pub(super) fn body_value(sql: &mut Sql, column: &WriteColumn) -> String {
    match &column.from_json {
        Some(function) => {
            let key = sql.bind(column.name.clone());
            format!("{}(nullif(pgrst_elem->{key}::text, 'null'::jsonb)::json)", function_name(function))
        }
        None => format!("pgrst_body.{}", ident(&column.name)),
    }
}

/// The body row the record is populated from: without the keys the record must not parse.
pub(super) fn record_source(sql: &mut Sql, parse: &BodyParse) -> String {
    let skip = array_literal(&parse.skip);
    format!("pgrst_elem - {}::text[]", sql.bind(skip))
}

/// What a mutation returns: only the columns the response needs, so a role allowed to write
/// but not to read every column (column privileges) can still write. Nothing is needed for
/// `return=minimal` but a row count.
pub(super) fn returning(target: &str, plan: &Plan, shape: &Shape, pk: &[String]) -> String {
    match plan.return_ {
        // Computed columns take the whole row.
        ReturnPref::Representation
            if shape.has_computed() || shape.embeds.iter().any(|e| e.relationship.function.is_some()) =>
        {
            format!(" RETURNING {target}.*")
        }
        ReturnPref::Representation => {
            let mut cols: Vec<String> = Vec::new();
            for item in &shape.select {
                match item {
                    Select::Field { column, .. } => cols.push(column.field.name.clone()),
                    _ => return format!(" RETURNING {target}.*"),
                }
            }
            if shape.select.is_empty() && shape.embeds.is_empty() {
                return format!(" RETURNING {target}.*");
            }
            for e in &shape.embeds {
                match &e.relationship.junction {
                    Some(j) => cols.extend(j.source_columns.iter().map(|(_, c)| c.clone())),
                    None => cols.extend(e.relationship.columns.iter().map(|(c, _)| c.to_string())),
                }
            }
            let mut seen = std::collections::HashSet::new();
            let list: Vec<String> = cols
                .into_iter()
                .filter(|c| seen.insert(c.clone()))
                .map(|c| format!("{target}.{}", ident(&c)))
                .collect();
            format!(" RETURNING {}", list.join(", "))
        }
        ReturnPref::HeadersOnly if !pk.is_empty() => {
            let list: Vec<String> = pk.iter().map(|c| format!("{target}.{}", ident(c))).collect();
            format!(" RETURNING {}", list.join(", "))
        }
        _ => " RETURNING 1".to_string(),
    }
}

/// Whether a JSON body is an array (else it is bound wrapped in `[` `]`, a one-element array).
pub(super) fn is_json_array(body: &[u8]) -> bool {
    body.trim_ascii_start().starts_with(b"[")
}
