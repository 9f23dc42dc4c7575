//! Function calls (`/rpc`): the call, its arguments, and the rows it returns.

use super::needs_total;
use super::read::{select_query, RowSource};
use super::result::{body_expr, MainRow};
use super::sql::{ident, Sql, TypeName};
use crate::error::Error;
use crate::plan::{CallArgs, Media, Plan, Select, Shape};
use crate::schema_cache::{ReturnShape, Routine};

pub(super) fn statement(
    sql: &mut Sql,
    plan: &Plan,
    routine: &Routine,
    args: &CallArgs,
    shape: &Shape,
) -> Result<(), Error> {
    let func = format!("{}.{}", ident(&routine.schema), ident(&routine.name));
    let (arg_list, from_args) = match args {
        CallArgs::None => (String::new(), String::new()),
        CallArgs::Single { value, type_ } if type_ == "bytea" => {
            // Bytes travel as base64 text and are decoded by PostgreSQL.
            use base64::Engine;
            let p = sql.bind(base64::engine::general_purpose::STANDARD.encode(value));
            (format!("decode({p}, 'base64')"), String::new())
        }
        CallArgs::Single { value, type_ } => {
            let p = sql.bind(String::from_utf8_lossy(value).into_owned());
            (format!("{p}::{}", TypeName::from_catalog(type_)), String::new())
        }
        CallArgs::Named { json, params } => {
            let p = sql.bind(json.clone());
            let defs: Vec<String> =
                params.iter().map(|p| format!("{} {}", ident(&p.name), arg_type(&p.type_))).collect();
            let call_args: Vec<String> = params
                .iter()
                .map(|p| {
                    let variadic = if p.variadic { "VARIADIC " } else { "" };
                    format!("{variadic}{} := pgrst_args.{}", ident(&p.name), ident(&p.name))
                })
                .collect();
            (call_args.join(", "), format!(" FROM json_to_record({p}::json) AS pgrst_args({})", defs.join(", ")))
        }
    };
    let call = format!("{func}({arg_list})");
    let alias = "pgrst_call";
    let scalar = matches!(routine.shape, ReturnShape::Scalar);
    let source = match (&routine.shape, routine.returns_set) {
        (ReturnShape::Void, _) => format!("SELECT {call}{from_args}"),
        (ReturnShape::Scalar, false) => format!("SELECT {call} AS pgrst_scalar{from_args}"),
        // `setof record`: only the target-list form needs no column definition list.
        (ReturnShape::Scalar, true) if routine.return_type == "record" => {
            format!("SELECT {call} AS pgrst_scalar{from_args}")
        }
        (ReturnShape::Scalar, true) => {
            if from_args.is_empty() {
                format!("SELECT pgrst_call.pgrst_scalar FROM {call} pgrst_call(pgrst_scalar)")
            } else {
                format!("SELECT pgrst_call.pgrst_scalar{from_args}, LATERAL {call} pgrst_call(pgrst_scalar)")
            }
        }
        (ReturnShape::Composite { .. }, _) => {
            if from_args.is_empty() {
                format!("SELECT pgrst_call.* FROM {call} pgrst_call")
            } else {
                format!("SELECT pgrst_call.*{from_args}, LATERAL {call} pgrst_call")
            }
        }
    };
    let p = if scalar || matches!(routine.shape, ReturnShape::Void) {
        let plain = Shape { select: vec![Select::Star], embeds: vec![], ..shape.clone() };
        select_query(sql, RowSource::new("pgrst_source pgrst_call", alias), &plain)?
    } else {
        select_query(sql, RowSource::new("pgrst_source pgrst_call", alias), shape)?
    };
    let inner = p.query();
    let where_ = format!("{}{}", p.filtering_joins, p.where_);
    let body = match (&plan.media, &routine.shape, routine.returns_set) {
        (_, ReturnShape::Void, _) => "''".to_string(),
        // XML goes out through its own output function (as PostgreSQL sends an xml value).
        (Media::Raw(_), _, _)
            if routine.return_type == "xml"
                || routine.return_domain.as_ref().is_some_and(|(_, base)| base == "xml") =>
        {
            "xmlagg(_postgrest_t.pgrst_scalar)".to_string()
        }
        (Media::Json, ReturnShape::Scalar, false) => {
            "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')".to_string()
        }
        (Media::Json, ReturnShape::Composite { .. }, false) => {
            "coalesce(json_agg(_postgrest_t)->0, 'null')".to_string()
        }
        (media, _, _) => body_expr(media, scalar),
    };
    let total = if needs_total(plan) {
        format!("(SELECT pg_catalog.count(*) FROM pgrst_source {alias}{where_})")
    } else {
        "NULL::bigint".into()
    };
    sql.push("WITH pgrst_source AS (").push_composed(&source).push(") ");
    MainRow::over_rows(&total, &body).render(sql, Some(&inner));
    Ok(())
}

/// A parameter's type as a column type for json_to_record: `character` and `bit` without a
/// length mean length 1 there, but a function parameter takes any length.
pub(super) fn arg_type(t: &str) -> TypeName {
    let (base, array) = match t.strip_suffix("[]") {
        Some(b) => (b, "[]"),
        None => (t, ""),
    };
    match base {
        "character" => TypeName::from_catalog(&format!("bpchar{array}")),
        "bit" => TypeName::from_catalog(&format!("bit varying{array}")),
        _ => TypeName::from_catalog(t),
    }
}
