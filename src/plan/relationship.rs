//! PostgREST's `findRel`: which relationship an embed names.
//!
//! In charge of: matching an embed's name (and `!hint`) against the relationships of the
//! parent: by target table, foreign-key name, column, junction table or computed
//! relationship. Rejects: no match (PGRST200, with the closest name as a hint) and several
//! matches (PGRST201, listing them).

use crate::error::{Error, Suggestion};
use crate::schema_cache::{Cardinality, Relationship, SchemaCache};

/// PostgREST's relationship lookup: by target table name (with an optional `!hint` naming
/// the foreign key, a column or the junction table), by foreign key name, or by a column of a
/// single-column foreign key.
pub(super) fn find_relationship(
    cache: &SchemaCache,
    schema: &str,
    source: &str,
    target: &str,
    hint: Option<&str>,
    role: &str,
) -> Result<Relationship, Error> {
    let rels = cache.relationships_from(schema, source);
    let found: Vec<&Relationship> =
        rels.iter().filter(|r| *r.target.schema == *schema).filter(|r| names(cache, r, target, hint)).collect();
    // A computed relationship overrides foreign-key ones of the same name.
    let found: Vec<&Relationship> = if found.iter().any(|r| r.function.is_some()) {
        found.into_iter().filter(|r| r.function.is_some()).collect()
    } else {
        found
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NoRelationship {
            parent: source.to_string(),
            child: target.to_string(),
            schema: schema.to_string(),
            hint: hint.map(str::to_string),
            suggestion: suggestion(cache, rels, schema, source, target, role),
        }),
        many => {
            let options: Vec<String> = many.iter().map(|r| format!("'{}!{}'", target, r.constraint)).collect();
            Err(Error::AmbiguousRelationship {
                parent: source.to_string(),
                child: target.to_string(),
                details: many.iter().map(|r| describe(r)).collect(),
                hint: format!(
                    "Try changing '{target}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                    options.join(", ")
                ),
            })
        }
    }
}

/// PostgREST's findRel rules: whether the embed `target` (with `hint`) names `r`.
fn names(cache: &SchemaCache, r: &Relationship, target: &str, hint: Option<&str>) -> bool {
    let constraint_is = |r: &Relationship, name: &str| r.junction.is_none() && *r.constraint == *name;
    let single_col = |r: &Relationship, name: &str| r.columns.len() == 1 && *r.columns[0].0 == *name;
    let single_ref_col = |r: &Relationship, name: &str| r.columns.len() == 1 && *r.columns[0].1 == *name;
    let junction_is = |r: &Relationship, name: &str| r.junction.as_ref().is_some_and(|j| j.name == name);
    if let Some(function) = &r.function {
        // A computed relationship is named by its function.
        return *function.name == *target;
    }
    let Some(target_table) = cache.table(&r.target.schema, &r.target.name) else { return false };
    let target_is_view = target_table.kind.is_view();
    let is_self = r.source == r.target && r.junction.is_none() && r.function.is_none();
    let m2o = r.cardinality == Cardinality::ManyToOne;
    let o2m = r.cardinality == Cardinality::OneToMany;
    match (is_self, hint) {
        // A self-relationship: the table name picks the one-to-many side, the column the
        // many-to-one side; a hint names the referenced column.
        (true, None) => (*r.target.name == *target && o2m) || (single_col(r, target) && m2o),
        (true, Some(h)) => *r.target.name == *target && o2m && single_ref_col(r, h),
        (false, None) => {
            *r.target.name == *target
                || (constraint_is(r, target) && !target_is_view)
                || (single_col(r, target) && !target_is_view)
        }
        (false, Some(h)) => {
            *r.target.name == *target
                && (constraint_is(r, h) || single_col(r, h) || single_ref_col(r, h) || junction_is(r, h))
        }
    }
}

/// PGRST200's suggestion, as PostgREST's fuzzy set gives it: when `source` has relationships,
/// the closest other table it is related to — none when `target` is one of them, only through
/// another path (fuzzyset answers an exact match alone) —; when it has none, the closest table
/// that has some, at the score of a table name (so a hint cannot list a schema's tables). Only
/// tables `role` may use are named.
fn suggestion(
    cache: &SchemaCache,
    rels: &[Relationship],
    schema: &str,
    source: &str,
    target: &str,
    role: &str,
) -> Option<Box<Suggestion>> {
    let usable = |name: &str| cache.table(schema, name).is_none_or(|t| t.usable_by(role));
    let closest = |names: &mut dyn Iterator<Item = &str>, name: &str, min_score: f64| {
        // A fixed order, so that equally close names always give the same hint.
        let mut names: Vec<&str> = names.collect();
        if names.contains(&name) {
            return None;
        }
        names.retain(|n| usable(n));
        names.sort_unstable();
        names.dedup();
        crate::fuzzy::closest_scoring(&names, name, min_score)
            .map(|n| Box::new(Suggestion { name: n.to_string(), instead_of: name.to_string() }))
    };
    if rels.iter().any(|r| *r.target.schema == *schema) {
        let mut children = rels.iter().filter(|r| *r.target.schema == *schema).map(|r| &*r.target.name);
        closest(&mut children, target, crate::fuzzy::MIN_SCORE)
    } else {
        let mut parents = cache
            .relationships
            .iter()
            .filter(|(k, rels)| *k.schema == *schema && rels.iter().any(|r| *r.target.schema == *schema))
            .map(|(k, _)| &*k.name);
        closest(&mut parents, source, crate::fuzzy::NAME_SCORE)
    }
}

/// One of PGRST201's details: the relationship's cardinality, keys and the embedding.
fn describe(r: &Relationship) -> serde_json::Value {
    let relationship = match &r.junction {
        Some(j) => format!(
            "{} using {}({}) and {}({})",
            j.name,
            j.source_constraint,
            j.source_columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", "),
            j.target_constraint,
            j.target_columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
        ),
        None => format!(
            "{} using {}({}) and {}({})",
            r.constraint,
            r.source.name,
            r.columns.iter().map(|c| &*c.0).collect::<Vec<_>>().join(", "),
            r.target.name,
            r.columns.iter().map(|c| &*c.1).collect::<Vec<_>>().join(", ")
        ),
    };
    serde_json::json!({
        "cardinality": r.cardinality.name(),
        "relationship": relationship,
        "embedding": format!("{} with {}", r.source.name, r.target.name),
    })
}
