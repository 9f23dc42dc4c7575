//! Functions: the catalog's description of one ([`RawRoutine`]) turned into what `/rpc` and
//! computed relationships need ([`Routine`]): the parameters a caller passes ([`Param`]), the
//! shape of what it returns ([`ReturnShape`]), its volatility and `SET` clauses.

use super::table::QualifiedName;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawRoutine {
    schema: String,
    name: String,
    description: Option<String>,
    arg_names: Vec<String>,
    arg_modes: Vec<String>,
    arg_types: Vec<String>,
    n_defaults: usize,
    returns_set: bool,
    return_type: String,
    return_typtype: String,
    return_schema: Option<String>,
    return_relation: Option<String>,
    return_domain: Option<String>,
    return_domain_base: Option<String>,
    volatility: Volatility,
    variadic: bool,
    #[serde(default)]
    rows: f64,
    #[serde(default)]
    arg_relation: Option<QualifiedName>,
    /// `ALTER FUNCTION … SET name = value`, as `name=value`.
    #[serde(default)]
    settings: Vec<String>,
    #[serde(default)]
    usable_by: Option<Vec<String>>,
}

/// pg_proc.provolatile, decoded from its letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Volatility {
    #[serde(rename = "i")]
    Immutable,
    #[serde(rename = "s")]
    Stable,
    /// Also any letter PostgreSQL does not use: it may not be run by GET.
    #[serde(rename = "v", other)]
    Volatile,
}

/// A function parameter the caller passes (IN, INOUT or VARIADIC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub type_: String,
    pub has_default: bool,
    pub variadic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnShape {
    /// A scalar (or an array, or a domain).
    Scalar,
    /// A row type: a table's, a composite type's, or `record` with OUT parameters.
    Composite {
        relation: Option<QualifiedName>,
    },
    Void,
}

#[derive(Debug, Clone)]
pub struct Routine {
    pub schema: String,
    pub name: String,
    pub description: Option<String>,
    pub params: Vec<Param>,
    pub returns_set: bool,
    pub shape: ReturnShape,
    /// `format_type` of the return type.
    pub return_type: String,
    /// For a function returning a domain: the domain's name (e.g. `text/html`) and base type.
    pub return_domain: Option<(String, String)>,
    pub volatility: Volatility,
    /// `ROWS n` of a set-returning function (1 makes a computed relationship to-one).
    pub rows: f64,
    pub variadic: bool,
    /// OUT, INOUT and TABLE parameters: (name, type), the columns of the rows it returns.
    pub out_columns: Vec<(String, String)>,
    /// The relation whose row is the only argument, if it is one.
    pub arg_relation: Option<QualifiedName>,
    /// Its `SET name = value` clauses (`db-hoisted-tx-settings` names those applied to the
    /// whole transaction).
    pub settings: Vec<(String, String)>,
    /// The request roles that may call it: hints name nothing else. `None`: anyone.
    pub usable_by: Option<Arc<[String]>>,
}

impl Routine {
    /// Whether `role` may call it (for "Perhaps you meant" hints).
    pub fn usable_by(&self, role: &str) -> bool {
        self.usable_by.as_ref().is_none_or(|roles| roles.iter().any(|r| r == role))
    }

    /// Whether it can be called through `/rpc` (PostgREST does not know the others): every
    /// parameter named, or a single unnamed one taking the whole body (bytea, json, jsonb,
    /// text or xml). The others still serve as computed columns and relationships.
    pub fn callable(&self) -> bool {
        let unnamed: Vec<&Param> = self.params.iter().filter(|p| p.name.is_empty()).collect();
        match unnamed.as_slice() {
            [] => true,
            [p] => matches!(p.type_.as_str(), "bytea" | "json" | "jsonb" | "text" | "xml"),
            _ => false,
        }
    }

    pub(super) fn from_raw(r: RawRoutine) -> Routine {
        let n_args = r.arg_types.len();
        let mode = |i: usize| r.arg_modes.get(i).map(String::as_str).unwrap_or("i");
        let inputs: Vec<usize> = (0..n_args).filter(|&i| matches!(mode(i), "i" | "b" | "v")).collect();
        let first_default = inputs.len().saturating_sub(r.n_defaults);
        let params = inputs
            .iter()
            .enumerate()
            .map(|(k, &i)| Param {
                name: r.arg_names.get(i).cloned().unwrap_or_default(),
                type_: r.arg_types.get(i).cloned().unwrap_or_default(),
                has_default: k >= first_default,
                variadic: mode(i) == "v",
            })
            .collect();
        let out_columns: Vec<(String, String)> = (0..n_args)
            .filter(|&i| matches!(mode(i), "o" | "b" | "t"))
            .map(|i| (r.arg_names.get(i).cloned().unwrap_or_default(), r.arg_types.get(i).cloned().unwrap_or_default()))
            .collect();
        let has_out = !out_columns.is_empty();
        let shape = if r.return_type == "void" {
            ReturnShape::Void
        } else if r.return_typtype == "c" {
            ReturnShape::Composite {
                relation: r.return_schema.clone().zip(r.return_relation.clone()).map(QualifiedName::from),
            }
        } else if has_out {
            // OUT/INOUT/TABLE parameters: a row of them, even a single one.
            ReturnShape::Composite { relation: None }
        } else {
            // A scalar, or a plain `returns record` (its columns are known only at run time;
            // json_agg still renders it as an object).
            ReturnShape::Scalar
        };
        Routine {
            schema: r.schema,
            name: r.name,
            description: r.description,
            params,
            returns_set: r.returns_set,
            shape,
            return_type: r.return_type,
            return_domain: r.return_domain.zip(r.return_domain_base),
            volatility: r.volatility,
            rows: r.rows,
            variadic: r.variadic,
            out_columns,
            arg_relation: r.arg_relation,
            settings: r
                .settings
                .iter()
                .filter_map(|s| s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
            usable_by: r.usable_by.map(Arc::from),
        }
    }
}
