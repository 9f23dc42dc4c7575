//! Mutations: POST, PATCH, PUT and DELETE on a table.
//!
//! In charge of: the columns written (`columns=` or the payload's keys), `on_conflict` and
//! `Prefer: resolution`, `missing=default` defaults, the body parsed by domain
//! representations, and PUT's rules. Rejects: unknown payload columns (PGRST204), a missing or
//! non-JSON body, PUT with limit/offset (PGRST114), PUT filters that are not the primary key
//! (PGRST105) or whose values differ from the body's (PGRST115).

use super::{Action, QualifiedTable, Shape};
use crate::api_request::{ApiRequest, Method, Payload, Resolution};
use crate::error::Error;
use crate::schema_cache::{RepFunction, Table};

/// How a mutation reads its body when some column's domain parses JSON itself (a cast from
/// json): the written ones take `function(value)`, and the record populated from the body
/// leaves out `skip` (those columns and the table's columns not written, so their keys are
/// ignored rather than parsed).
#[derive(Debug, Clone, Default)]
pub struct BodyParse {
    pub functions: Vec<(String, RepFunction)>,
    pub skip: Vec<String>,
}

impl BodyParse {
    /// Whether the body is read this way (the table has columns parsing JSON).
    pub fn is_active(&self) -> bool {
        !self.functions.is_empty() || !self.skip.is_empty()
    }
}

#[derive(Debug, Clone)]
pub enum MutateKind {
    Insert {
        columns: Vec<String>,
        /// `ON CONFLICT (cols) DO UPDATE/NOTHING`.
        on_conflict: Option<(Vec<String>, Resolution)>,
    },
    Update {
        columns: Vec<String>,
    },
    Delete,
}

pub(super) fn plan_mutation(
    req: &ApiRequest,
    table: &Table,
    qualified: QualifiedTable,
    shape: Shape,
    applied: &mut Vec<String>,
) -> Result<Action, Error> {
    let prefs = &req.preferences;
    let payload = req.payload.as_ref();
    let check_columns = |cols: &[String]| -> Result<(), Error> {
        for c in cols {
            if table.column(c).is_none() {
                return Err(Error::NoColumn { column: c.clone(), table: table.name.clone() });
            }
        }
        Ok(())
    };
    let columns = |payload: Option<&Payload>| -> Result<Vec<String>, Error> {
        let cols: Vec<String> = match &req.query.columns {
            Some(c) => c.clone(),
            None => payload.map(|p| p.keys().to_vec()).unwrap_or_default(),
        };
        check_columns(&cols)?;
        Ok(cols)
    };
    let body = |payload: Option<&Payload>| -> Result<Vec<u8>, Error> {
        let p = payload.ok_or_else(|| Error::InvalidBody("Empty or invalid json".into()))?;
        if matches!(p, Payload::Raw(_)) {
            return Err(Error::MediaType(req.content_type.clone()));
        }
        Ok(p.json_bytes().to_vec())
    };
    let mut put_first = false;
    let kind = match req.method {
        Method::Post => {
            let on_conflict = match prefs.resolution {
                Some(res) => {
                    let cols = req.query.on_conflict.clone().unwrap_or_else(|| table.pk.clone());
                    if cols.is_empty() {
                        // Without a key to conflict on there is no upsert: a plain insert,
                        // and the preference is not reported as applied.
                        None
                    } else {
                        applied.push(
                            match res {
                                Resolution::MergeDuplicates => "resolution=merge-duplicates",
                                Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
                            }
                            .into(),
                        );
                        Some((cols, res))
                    }
                }
                None => None,
            };
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Insert { columns: columns(payload)?, on_conflict }
        }
        Method::Patch => {
            if prefs.missing_default {
                applied.push("missing=default".into());
            }
            MutateKind::Update { columns: columns(payload)? }
        }
        Method::Put => {
            let (limit, offset) = req.query.root_limit();
            if limit.is_some() || offset.is_some() {
                return Err(Error::PutLimit);
            }
            let mut eq_cols: Vec<&str> = shape
                .filters
                .iter()
                .filter(|f| {
                    !f.negated
                        && f.field.json_path.is_empty()
                        && matches!(
                            f.operation,
                            crate::api_request::Operation::Compare {
                                op: crate::api_request::CmpOp::Eq,
                                quantifier: None,
                                ..
                            }
                        )
                })
                .map(|f| f.field.name.as_str())
                .collect();
            eq_cols.sort_unstable();
            let mut pk: Vec<&str> = table.pk.iter().map(String::as_str).collect();
            pk.sort_unstable();
            if pk.is_empty() || eq_cols != pk || shape.filters.len() != pk.len() || !shape.logic.is_empty() {
                return Err(Error::InvalidPutFilters);
            }
            // The body is one row (an object, or the first of an array) whose key matches the
            // URL's; further rows are ignored, as in PostgREST.
            let row = payload.and_then(|p| serde_json::from_slice::<serde_json::Value>(p.json_bytes()).ok());
            let row = match row {
                Some(serde_json::Value::Array(items)) => items.into_iter().next(),
                Some(v @ serde_json::Value::Object(_)) => Some(v),
                _ => None,
            };
            let matches_url = row.as_ref().and_then(serde_json::Value::as_object).is_some_and(|obj| {
                shape.filters.iter().all(|f| {
                    let url = match &f.operation {
                        crate::api_request::Operation::Compare { value, .. } => value.as_str(),
                        _ => return false,
                    };
                    match obj.get(&f.field.name) {
                        Some(serde_json::Value::String(s)) => s == url,
                        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                            serde_json::from_str::<serde_json::Value>(url).ok().as_ref() == Some(v)
                        }
                        _ => false,
                    }
                })
            });
            if !matches_url {
                return Err(Error::PutMismatch);
            }
            put_first = true;
            MutateKind::Insert {
                columns: columns(payload)?,
                on_conflict: Some((table.pk.clone(), Resolution::MergeDuplicates)),
            }
        }
        Method::Delete => MutateKind::Delete,
        _ => return Err(Error::InvalidPath),
    };
    let payload = match &kind {
        MutateKind::Delete => None,
        _ if put_first => Some(first_element(&body(payload)?)),
        _ => Some(body(payload)?),
    };
    let written = match &kind {
        MutateKind::Insert { columns, .. } | MutateKind::Update { columns } => columns.as_slice(),
        MutateKind::Delete => &[],
    };
    let defaults = if prefs.missing_default {
        written.iter().map(|c| (c.clone(), table.column(c).and_then(|col| col.default.clone()))).collect()
    } else {
        Vec::new()
    };
    let functions: Vec<(String, RepFunction)> =
        written.iter().filter_map(|c| Some((c.clone(), table.column(c)?.reps.as_ref()?.from_json.clone()?))).collect();
    // Body keys of columns with a JSON parser are never read by the record's own input
    // functions, written or not.
    let parses_json = table.columns.iter().any(|c| c.reps.as_ref().is_some_and(|r| r.from_json.is_some()));
    let parse = if !parses_json {
        BodyParse::default()
    } else {
        let skip = table
            .columns
            .iter()
            .map(|c| &c.name)
            .filter(|c| !written.contains(c) || functions.iter().any(|(f, _)| f == *c))
            .cloned()
            .collect();
        BodyParse { functions, skip }
    };
    Ok(Action::Mutate { table: qualified, kind, shape, payload, pk: table.pk.clone(), defaults, parse })
}

/// The text of the first element of a JSON array (as sent: numbers keep their digits), or the
/// body itself when it is not an array.
fn first_element(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(body) {
        Ok(items) => items.first().map(|r| r.get().as_bytes().to_vec()).unwrap_or_else(|| body.to_vec()),
        Err(_) => body.to_vec(),
    }
}
