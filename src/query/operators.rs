//! The parser's operator and function names → their SQL text (PostgREST keeps this map in
//! `Query/SqlFragment.hs`). The query-string AST says which operation the request asks for;
//! only here does it become an SQL operator or a function name.

use crate::api_request::{Aggregate, CmpOp, FtsOp, IsValue, Quantifier};

/// The SQL operator of a comparison (`eq` → `=`, `cs` → `@>`…).
pub(super) fn cmp_operator(op: CmpOp) -> &'static str {
    use CmpOp::*;
    match op {
        Eq => "=",
        Neq => "<>",
        Gt => ">",
        Gte => ">=",
        Lt => "<",
        Lte => "<=",
        Like => "LIKE",
        Ilike => "ILIKE",
        Match => "~",
        Imatch => "~*",
        IsDistinct => "IS DISTINCT FROM",
        Cs => "@>",
        Cd => "<@",
        Ov => "&&",
        Sl => "<<",
        Sr => ">>",
        Nxr => "&<",
        Nxl => "&>",
        Adj => "-|-",
    }
}

/// `ANY` or `ALL`, for `eq(any).{…}`.
pub(super) fn quantifier_keyword(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Any => "ANY",
        Quantifier::All => "ALL",
    }
}

/// What follows `IS` for `is.null`, `is.true`….
pub(super) fn is_value(v: IsValue) -> &'static str {
    match v {
        IsValue::Null => "NULL",
        IsValue::NotNull => "NOT NULL",
        IsValue::True => "TRUE",
        IsValue::False => "FALSE",
        IsValue::Unknown => "UNKNOWN",
    }
}

/// The function turning a full-text search's value into a `tsquery`.
pub(super) fn fts_function(op: FtsOp) -> &'static str {
    match op {
        FtsOp::Fts => "to_tsquery",
        FtsOp::Plfts => "plainto_tsquery",
        FtsOp::Phfts => "phraseto_tsquery",
        FtsOp::Wfts => "websearch_to_tsquery",
    }
}

/// The aggregate function, schema-qualified so a user's function cannot shadow it.
pub(super) fn aggregate_function(a: Aggregate) -> &'static str {
    match a {
        Aggregate::Count => "pg_catalog.count",
        Aggregate::Sum => "pg_catalog.sum",
        Aggregate::Avg => "pg_catalog.avg",
        Aggregate::Min => "pg_catalog.min",
        Aggregate::Max => "pg_catalog.max",
    }
}
