//! Mutations: POST, PATCH, PUT and DELETE on a table.
//!
//! In charge of: the columns written (`columns=` or the payload's keys), `on_conflict` and
//! `Prefer: resolution`, `missing=default` defaults, the body parsed by domain
//! representations, and PUT's rules. Rejects: unknown payload columns (PGRST204), a missing or
//! non-JSON body, PUT with limit/offset (PGRST114), PUT filters that are not the primary key
//! (PGRST105) or whose values differ from the body's (PGRST115).

use super::field::Condition;
use super::{Action, Shape};
use crate::api_request::{ApiRequest, CmpOp, Method, Operation, Payload, Resolution};
use crate::error::Error;
use crate::schema_cache::{QualifiedName, RepFunction, Table};

/// How a mutation reads its body when some column's domain parses JSON itself (a cast from
/// json): the written ones take `function(value)` ([`WriteColumn::from_json`]), and the record
/// populated from the body leaves out `skip` (those columns and the table's columns not
/// written, so their keys are ignored rather than parsed).
#[derive(Debug, Clone, Default)]
pub struct BodyParse {
    pub skip: Vec<String>,
}

impl BodyParse {
    /// Whether the body is read this way (the table has columns parsing JSON: each is skipped,
    /// written or not).
    pub fn is_active(&self) -> bool {
        !self.skip.is_empty()
    }
}

/// A column a mutation writes, resolved against the table once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteColumn {
    pub name: String,
    /// Its default expression from the catalog: what `missing=default` writes when a row lacks
    /// the key (NULL when none).
    pub default: Option<String>,
    /// Its domain's cast from json, when the domain parses its JSON values itself.
    pub from_json: Option<RepFunction>,
}

#[derive(Debug, Clone)]
pub enum MutateKind {
    Insert {
        columns: Vec<WriteColumn>,
        /// `ON CONFLICT (cols) DO UPDATE/NOTHING`.
        on_conflict: Option<(Vec<String>, Resolution)>,
    },
    Update {
        columns: Vec<WriteColumn>,
    },
    Delete,
}

/// A mutation of `table`: what it writes, from which body, and what it answers with (`shape`).
pub(super) fn plan_mutation(
    req: &ApiRequest,
    table: &Table,
    qualified: QualifiedName,
    shape: Shape,
    applied: &mut Vec<String>,
) -> Result<Action, Error> {
    let prefs = &req.preferences;
    let kind = match req.method {
        Method::Post => {
            let on_conflict = on_conflict(req, table, applied);
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Insert { columns: written_columns(req, table)?, on_conflict }
        }
        Method::Patch => {
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Update { columns: written_columns(req, table)? }
        }
        Method::Put => {
            check_put(req, table, &shape)?;
            MutateKind::Insert {
                columns: written_columns(req, table)?,
                on_conflict: Some((table.pk.clone(), Resolution::MergeDuplicates)),
            }
        }
        Method::Delete => MutateKind::Delete,
        _ => return Err(Error::InvalidPath),
    };
    let payload = match &kind {
        MutateKind::Delete => None,
        // PUT writes the first row of an array body only.
        _ if req.method == Method::Put => Some(first_element(&json_body(req)?)),
        _ => Some(json_body(req)?),
    };
    let written = match &kind {
        MutateKind::Insert { columns, .. } | MutateKind::Update { columns } => columns.as_slice(),
        MutateKind::Delete => &[],
    };
    let parse = body_parse(table, written);
    let missing_default = prefs.missing_default;
    Ok(Action::Mutate { table: qualified, kind, shape, payload, pk: table.pk.clone(), missing_default, parse })
}

/// The columns written: `columns=`, else the payload's keys; each must be the table's (PGRST204).
fn written_columns(req: &ApiRequest, table: &Table) -> Result<Vec<WriteColumn>, Error> {
    let names: &[String] = match &req.query.columns {
        Some(c) => c,
        None => req.payload.as_ref().map(|p| p.keys()).unwrap_or_default(),
    };
    names
        .iter()
        .map(|c| match table.column(c) {
            Some(col) => Ok(WriteColumn {
                name: c.clone(),
                default: col.default.as_deref().map(str::to_string),
                from_json: col.reps.as_ref().and_then(|r| r.from_json.clone()),
            }),
            None => Err(Error::NoColumn { column: c.clone(), table: table.name.to_string() }),
        })
        .collect()
}

/// The body as JSON text: a body that is missing, or not JSON after conversion, is refused.
fn json_body(req: &ApiRequest) -> Result<bytes::Bytes, Error> {
    let p = req.payload.as_ref().ok_or_else(|| Error::InvalidBody("Empty or invalid json".into()))?;
    if matches!(p, Payload::Raw(_)) {
        return Err(Error::MediaType(req.content_type.text().into_owned()));
    }
    Ok(p.json_bytes().clone())
}

/// A POST's `ON CONFLICT`, from `Prefer: resolution` and `on_conflict=` (else the primary
/// key), recording the preference in `applied` when it takes effect.
fn on_conflict(req: &ApiRequest, table: &Table, applied: &mut Vec<String>) -> Option<(Vec<String>, Resolution)> {
    let res = req.preferences.resolution?;
    let cols = req.query.on_conflict.clone().unwrap_or_else(|| table.pk.clone());
    if cols.is_empty() {
        // Without a key to conflict on there is no upsert: a plain insert, and the
        // preference is not reported as applied.
        return None;
    }
    applied.push(res.as_str().into());
    Some((cols, res))
}

/// PUT's rules: no limit/offset (PGRST114), filters that are exactly `pk=eq.value` for every
/// primary-key column (PGRST105), and a body whose key values are the URL's (PGRST115).
fn check_put(req: &ApiRequest, table: &Table, shape: &Shape) -> Result<(), Error> {
    let (limit, offset) = req.query.root_limit();
    if limit.is_some() || offset.is_some() {
        return Err(Error::PutLimit);
    }
    let mut eq_cols: Vec<&str> = shape
        .filters
        .iter()
        .filter(|f| {
            !f.negated
                && f.column.field.json_path.is_empty()
                && matches!(f.operation, Operation::Compare { op: CmpOp::Eq, quantifier: None, .. })
        })
        .map(|f| f.column.field.name.as_str())
        .collect();
    eq_cols.sort_unstable();
    let mut pk: Vec<&str> = table.pk.iter().map(String::as_str).collect();
    pk.sort_unstable();
    if pk.is_empty() || eq_cols != pk || shape.filters.len() != pk.len() || !shape.logic.is_empty() {
        return Err(Error::InvalidPutFilters);
    }
    if !put_body_matches_url(req.payload.as_ref(), &shape.filters) {
        return Err(Error::PutMismatch);
    }
    Ok(())
}

/// Whether PUT's body is one row (an object, or the first of an array) whose key matches the
/// URL's `filters`; further rows are ignored, as in PostgREST.
fn put_body_matches_url(payload: Option<&Payload>, filters: &[Condition]) -> bool {
    // Only the first row is parsed, whatever follows it.
    let row = payload
        .and_then(|p| crate::api_request::first_row(p.json_bytes()))
        .and_then(|r| serde_json::from_slice::<serde_json::Value>(r).ok());
    row.as_ref().and_then(serde_json::Value::as_object).is_some_and(|obj| {
        filters.iter().all(|f| {
            let url = match &f.operation {
                Operation::Compare { value, .. } => value.as_str(),
                _ => return false,
            };
            match obj.get(&f.column.field.name) {
                Some(serde_json::Value::String(s)) => s == url,
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    serde_json::from_str::<serde_json::Value>(url).ok().as_ref() == Some(v)
                }
                _ => false,
            }
        })
    })
}

/// The written columns whose domain parses JSON, and the body keys the record must skip.
fn body_parse(table: &Table, written: &[WriteColumn]) -> BodyParse {
    // Body keys of columns with a JSON parser are never read by the record's own input
    // functions, written or not.
    let parses_json = table.columns.iter().any(|c| c.reps.as_ref().is_some_and(|r| r.from_json.is_some()));
    if !parses_json {
        return BodyParse::default();
    }
    let skip = table
        .columns
        .iter()
        .map(|c| &*c.name)
        .filter(|c| written.iter().all(|w| w.name != *c || w.from_json.is_some()))
        .map(str::to_string)
        .collect();
    BodyParse { skip }
}

/// The text of the first element of a JSON array (as sent: numbers keep their digits), or the
/// body itself when it is not an array.
fn first_element(body: &bytes::Bytes) -> bytes::Bytes {
    crate::api_request::first_row(body).map_or_else(|| body.clone(), |row| body.slice_ref(row))
}
