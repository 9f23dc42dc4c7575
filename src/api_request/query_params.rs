//! The query string's syntax tree: what `select=`, filters, `or=`/`and=`, `order=` and
//! `limit=`/`offset=` say, as data (PostgREST's `QueryParams` and its `Types`).
//!
//! In charge of the types only, and the small facts attached to them (a field's output name).
//! They name operations; their SQL spelling is `query`'s (`query/operators.rs`). Parsing them is `grammar`'s job; deciding whether the
//! names exist is the plan's.

/// A path into embedded resources: empty for the top level, `["clients","projects"]` for
/// `clients.projects.order=…`.
pub type EmbedPath = Vec<String>;

#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pub select: Vec<SelectItem>,
    /// Filters (non-reserved parameters). For functions these include the arguments: which
    /// ones are arguments is known only to the plan, so they are kept raw in `params` too.
    pub filters: Vec<(EmbedPath, Filter)>,
    pub logic: Vec<(EmbedPath, LogicTree)>,
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    pub limits: Vec<(EmbedPath, Option<i64>, Option<i64>)>,
    pub columns: Option<Vec<String>>,
    pub on_conflict: Option<Vec<String>>,
    /// Every non-reserved parameter, raw, in order.
    pub params: Vec<(String, String)>,
}

impl QueryParams {
    pub fn root_limit(&self) -> (Option<i64>, Option<i64>) {
        self.limits.iter().find(|(p, _, _)| p.is_empty()).map(|(_, l, o)| (*l, *o)).unwrap_or((None, None))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Name(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOp {
    /// `->>` (text) rather than `->` (json).
    pub as_text: bool,
    pub key: JsonKey,
}

/// A column, possibly followed by a JSON path: `data->a->>b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonOp>,
}

impl Field {
    /// The key it gets in the JSON output when selected without an alias: the last named
    /// key of its JSON path, else the column name.
    pub fn output_name(&self) -> String {
        self.json_path
            .iter()
            .rev()
            .find_map(|op| match &op.key {
                JsonKey::Name(n) => Some(n.clone()),
                JsonKey::Index(_) => None,
            })
            .unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl Aggregate {
    /// The name written in `select` (`amount.sum()`), which is also the output key when no
    /// alias is given. Its SQL function is `query`'s business.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    Star,
    Field {
        field: Field,
        alias: Option<String>,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
        aggregate_cast: Option<String>,
    },
    /// `count()` without a column.
    Count {
        alias: Option<String>,
        cast: Option<String>,
    },
    Embed {
        name: String,
        alias: Option<String>,
        hint: Option<String>,
        join: Option<JoinType>,
        spread: bool,
        select: Vec<SelectItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    IsDistinct,
    Cs,
    Cd,
    Ov,
    Sl,
    Sr,
    Nxr,
    Nxl,
    Adj,
}

impl CmpOp {
    pub(super) fn parse(s: &str) -> Option<CmpOp> {
        use CmpOp::*;
        Some(match s {
            "eq" => Eq,
            "neq" => Neq,
            "gt" => Gt,
            "gte" => Gte,
            "lt" => Lt,
            "lte" => Lte,
            "like" => Like,
            "ilike" => Ilike,
            "match" => Match,
            "imatch" => Imatch,
            "isdistinct" => IsDistinct,
            "cs" => Cs,
            "cd" => Cd,
            "ov" => Ov,
            "sl" => Sl,
            "sr" => Sr,
            "nxr" => Nxr,
            "nxl" => Nxl,
            "adj" => Adj,
            _ => return None,
        })
    }

    pub fn supports_quantifier(self) -> bool {
        use CmpOp::*;
        matches!(self, Eq | Neq | Gt | Gte | Lt | Lte | Like | Ilike | Match | Imatch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOp {
    Fts,
    Plfts,
    Phfts,
    Wfts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Compare { op: CmpOp, quantifier: Option<Quantifier>, value: String },
    In(Vec<String>),
    Is(IsValue),
    Fts { op: FtsOp, language: Option<String>, value: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Expr { negated: bool, or: bool, children: Vec<LogicTree> },
    Stmt(Filter),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderTarget {
    Field(Field),
    /// `relation(column)`: ordering by a column of an embedded to-one resource.
    Related {
        relation: String,
        field: Field,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub target: OrderTarget,
    /// `Some(true)` for `.desc`.
    pub descending: Option<bool>,
    /// `Some(true)` for `.nullsfirst`.
    pub nulls_first: Option<bool>,
}
