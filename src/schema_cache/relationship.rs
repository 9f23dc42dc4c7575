//! Relationships: what can be embedded in what ([`Relationship`], its [`Cardinality`], the
//! [`Junction`] of a many-to-many one). Derived from foreign keys (read both ways, and in pairs
//! through junction tables; foreign keys seen through views come from [`super::view`]) and from
//! functions taking one relation's row and returning another's (computed relationships).

use super::routine::{ReturnShape, Routine};
use super::table::{ForeignKey, QualifiedName, Table};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    OneToOne,
    ManyToMany,
}

impl Cardinality {
    pub fn name(self) -> &'static str {
        match self {
            Cardinality::ManyToOne => "many-to-one",
            Cardinality::OneToMany => "one-to-many",
            Cardinality::OneToOne => "one-to-one",
            Cardinality::ManyToMany => "many-to-many",
        }
    }
    /// Embeds as an object (or null) rather than an array.
    pub fn to_one(self) -> bool {
        matches!(self, Cardinality::ManyToOne | Cardinality::OneToOne)
    }
}

/// A junction table joining the two ends of a many-to-many relationship.
#[derive(Debug, Clone)]
pub struct Junction {
    pub schema: String,
    pub name: String,
    /// The foreign key from the junction to the source, and its (junction col, source col) pairs.
    pub source_constraint: String,
    pub source_columns: Vec<(String, String)>,
    /// The foreign key from the junction to the target, and its (junction col, target col) pairs.
    pub target_constraint: String,
    pub target_columns: Vec<(String, String)>,
}

/// A way to embed `target` in `source`, derived from a foreign key (in either direction) or a
/// pair of them through a junction table.
#[derive(Debug, Clone)]
pub struct Relationship {
    pub source: QualifiedName,
    pub target: QualifiedName,
    pub cardinality: Cardinality,
    /// The foreign key's name (for many-to-many: the junction table's); shared by the two
    /// relationships a key gives.
    pub constraint: Arc<str>,
    /// (source column, target column) pairs; empty for many-to-many.
    pub columns: Box<[(Arc<str>, Arc<str>)]>,
    /// Boxed: only many-to-many relationships have one.
    pub junction: Option<Box<Junction>>,
    /// A computed relationship: the function taking the source row and returning the
    /// target's rows (SETOF: to-many) or one row (to-one).
    pub function: Option<QualifiedName>,
    /// The source's `columns` are a foreign key of the source table itself (not one seen
    /// through a view): read from the side that holds the key (OpenAPI's one-to-one notes).
    pub holds_key: bool,
}

impl Relationship {
    /// The order PostgREST keeps relationships in (and lists them in PGRST201): by target,
    /// self-relationships after the others, one-to-many, many-to-one, one-to-one, then
    /// many-to-many, each by constraint (junction) and columns; computed relationships last.
    pub(super) fn sort_key(&self) -> impl Ord + '_ {
        let rank = match self.cardinality {
            Cardinality::OneToMany => 0,
            Cardinality::ManyToOne => 1,
            Cardinality::OneToOne => 2,
            Cardinality::ManyToMany => 3,
        };
        let is_self = self.source == self.target;
        let names: Vec<&str> = match &self.junction {
            Some(j) => vec![&j.schema, &j.name, &j.source_constraint, &j.target_constraint],
            None => vec![&self.constraint],
        };
        let columns: Vec<(&str, &str)> = match &self.junction {
            Some(j) => {
                j.source_columns.iter().chain(&j.target_columns).map(|(a, b)| (b.as_str(), a.as_str())).collect()
            }
            None => self.columns.iter().map(|(a, b)| (&**a, &**b)).collect(),
        };
        (self.function.is_some(), &self.target, is_self, rank, names, columns)
    }
}

/// Every relationship the foreign keys give: each key read both ways (many-to-one /
/// one-to-many, or one-to-one when its columns are unique), and each pair of keys of a
/// junction table whose key columns are part of the junction's primary key (many-to-many).
pub(super) fn relationships(
    tables: &HashMap<QualifiedName, Table>,
    fks: &[ForeignKey],
) -> HashMap<QualifiedName, Vec<Relationship>> {
    let mut out: HashMap<QualifiedName, Vec<Relationship>> = HashMap::new();
    // A relationship's names are the cache's own (its relation's key, the key's name and
    // columns shared by both directions): 28,000 relationships at 10,000 tables.
    let shared = |name: QualifiedName| match tables.get_key_value(&name) {
        Some((key, _)) => key.clone(),
        None => name,
    };
    for fk in fks {
        let source = shared(QualifiedName::new(&fk.schema, &fk.table));
        let target = shared(QualifiedName::new(&fk.foreign_schema, &fk.foreign_table));
        let unique = fk.one_to_one.unwrap_or_else(|| tables.get(&source).is_some_and(|t| t.is_unique(&fk.columns)));
        let pairs: Box<[(Arc<str>, Arc<str>)]> = fk
            .columns
            .iter()
            .zip(&fk.foreign_columns)
            .map(|(a, b)| (Arc::from(a.as_str()), Arc::from(b.as_str())))
            .collect();
        let constraint: Arc<str> = Arc::from(fk.name.as_str());
        out.entry(source.clone()).or_default().push(Relationship {
            source: source.clone(),
            target: target.clone(),
            cardinality: if unique { Cardinality::OneToOne } else { Cardinality::ManyToOne },
            constraint: constraint.clone(),
            columns: pairs.clone(),
            junction: None,
            function: None,
            holds_key: fk.source_holds_key,
        });
        out.entry(target.clone()).or_default().push(Relationship {
            source: target,
            target: source,
            cardinality: if unique { Cardinality::OneToOne } else { Cardinality::OneToMany },
            constraint,
            columns: pairs.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
            junction: None,
            function: None,
            holds_key: false,
        });
    }
    // Many-to-many through junction tables.
    // Sorted, so relationships (and PGRST201's list of them) come out in a stable order.
    let mut junctions: Vec<(&QualifiedName, &Table)> = tables.iter().collect();
    junctions.sort_by(|a, b| a.0.cmp(b.0));
    let mut fks_of: HashMap<(&str, &str), Vec<&ForeignKey>> = HashMap::new();
    for f in fks {
        fks_of.entry((f.schema.as_str(), f.table.as_str())).or_default().push(f);
    }
    for (jkey, junction) in junctions {
        let Some(jfks) = fks_of.get(&(&*jkey.schema, &*jkey.name)) else { continue };
        for a in jfks {
            for b in jfks {
                // Two different keys (a view may repeat one key under several column names).
                if a.name == b.name {
                    continue;
                }
                let in_pk = |f: &ForeignKey| f.columns.iter().all(|c| junction.pk.contains(c));
                if !in_pk(a) || !in_pk(b) {
                    continue;
                }
                let source = shared(QualifiedName::new(&a.foreign_schema, &a.foreign_table));
                let target = shared(QualifiedName::new(&b.foreign_schema, &b.foreign_table));
                out.entry(source.clone()).or_default().push(Relationship {
                    source,
                    target,
                    cardinality: Cardinality::ManyToMany,
                    constraint: junction.name.clone(),
                    columns: Box::new([]),
                    function: None,
                    holds_key: false,
                    junction: Some(Box::new(Junction {
                        schema: junction.schema.to_string(),
                        name: junction.name.to_string(),
                        source_constraint: a.name.clone(),
                        source_columns: a.columns.iter().cloned().zip(a.foreign_columns.iter().cloned()).collect(),
                        target_constraint: b.name.clone(),
                        target_columns: b.columns.iter().cloned().zip(b.foreign_columns.iter().cloned()).collect(),
                    })),
                });
            }
        }
    }
    out
}

/// Functions taking one table's row and returning another table's rows are relationships
/// too (PostgREST's computed relationships), embedded under the function's name.
pub(super) fn computed_relationships(
    tables: &HashMap<QualifiedName, Table>,
    routines: &HashMap<QualifiedName, Vec<Routine>>,
    out: &mut HashMap<QualifiedName, Vec<Relationship>>,
) {
    for r in routines.values().flatten() {
        let (ReturnShape::Composite { relation: Some(target) }, [_]) = (&r.shape, r.params.as_slice()) else {
            continue;
        };
        // Only a row type (not a domain over one) makes a computed relationship.
        if r.return_domain.is_some() {
            continue;
        }
        let Some(source) = r.arg_relation.clone().filter(|s| tables.contains_key(s)) else { continue };
        out.entry(source.clone()).or_default().push(Relationship {
            source,
            target: target.clone(),
            cardinality: if r.returns_set && r.rows != 1.0 { Cardinality::OneToMany } else { Cardinality::ManyToOne },
            constraint: Arc::from(r.name.as_str()),
            columns: Box::new([]),
            junction: None,
            function: Some(QualifiedName::new(&r.schema, &r.name)),
            holds_key: false,
        });
    }
}
