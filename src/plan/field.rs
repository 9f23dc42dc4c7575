//! Resolved fields: each column a request names, resolved once while planning (PostgREST's
//! `CoercibleField`), and the select items, filters, logic trees and order terms made of them.
//! `query` renders these as they are: it never looks a column up by name.
//!
//! In charge of: what the plan finds out about a column ([`ColumnFacts`]: JSON or full-text
//! wrapping, a computed column, a domain representation), from the types of a relation's
//! columns or of a function's OUT / TABLE parameters ([`Resolver`]). Rejects nothing.

use crate::api_request::{Aggregate, Field, Filter, LogicTree, Operation, OrderTarget, OrderTerm, SelectItem};
use crate::schema_cache::{DataRep, QualifiedName, RepFunction, SchemaCache, Table};

/// A column reference resolved by the plan: the field as the request wrote it (column name and
/// JSON path) and what the plan found out about its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub field: Field,
    pub facts: ColumnFacts,
}

/// Everything the plan resolved about one column (the rare, large facts boxed, so that a
/// plain column stays small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnFacts {
    /// Used with JSON operators but not json/jsonb (arrays, composites): wrapped in `to_jsonb`.
    pub json_wrap: bool,
    /// Full-text searched but not tsvector (text, json): wrapped in `to_tsvector`.
    pub tsvector_wrap: bool,
    /// Not a column but a function of the row (a computed column).
    pub computed: Option<Box<ComputedColumn>>,
    /// The column's domain representation (PostgREST's data representations).
    pub rep: Option<Box<DataRep>>,
}

/// A computed column: a function taking the relation's row, called with the row cast to the
/// relation's type (for overloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedColumn {
    pub function: QualifiedName,
    pub row_type: QualifiedName,
}

/// Which domain representation formats output columns: set once the media type is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepOutput {
    /// As they are (media-type handlers, raw bodies).
    #[default]
    None,
    /// Through the domain's cast to json (JSON responses).
    Json,
    /// Through the domain's cast to text (CSV).
    Text,
}

impl Column {
    /// A column the plan knows nothing special about (`order=embed(column)`: the embed's
    /// column as its lateral subquery selected it).
    pub fn plain(field: Field) -> Column {
        Column { field, facts: ColumnFacts::default() }
    }

    /// The function formatting the column in the response, if its domain has one for `output`.
    pub fn output_function(&self, output: RepOutput) -> Option<&RepFunction> {
        let rep = self.facts.rep.as_ref()?;
        match output {
            RepOutput::None => None,
            RepOutput::Json => rep.to_json.as_ref(),
            RepOutput::Text => rep.to_text.as_ref(),
        }
    }

    /// The function parsing a query-string filter value for the column (a cast from text).
    pub fn text_parser(&self) -> Option<&RepFunction> {
        self.facts.rep.as_ref()?.from_text.as_ref()
    }
}

/// A select item other than an embed (the plan moves embeds into `Shape.embeds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    Star,
    Field {
        column: Column,
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
}

/// A filter on a resolved column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: Column,
    pub negated: bool,
    pub operation: Operation,
}

/// `or=(…)` / `and=(…)` over resolved filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logic {
    Expr { negated: bool, or: bool, children: Vec<Logic> },
    Stmt(Condition),
}

/// An order term on a resolved column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub target: OrderBy,
    /// `Some(true)` for `.desc`.
    pub descending: Option<bool>,
    /// `Some(true)` for `.nullsfirst`.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderBy {
    Column(Column),
    /// `relation(column)`: a column of an embedded to-one resource.
    Related {
        relation: String,
        column: Column,
    },
}

/// Where the columns of one level's rows come from, for resolving them: a relation (its
/// column types, computed columns and domain representations), a function's OUT / TABLE
/// parameters (their types), or nothing known (every column plain).
#[derive(Clone, Copy)]
pub(super) struct Resolver<'a> {
    cache: &'a SchemaCache,
    /// The relation the rows are of (embeds start from it), when there is one.
    pub relation: Option<&'a QualifiedName>,
    table: Option<&'a Table>,
    out_columns: &'a [(String, String)],
}

impl<'a> Resolver<'a> {
    /// The rows of `relation` (its columns are known when the schema cache has it).
    pub fn relation(cache: &'a SchemaCache, relation: Option<&'a QualifiedName>) -> Resolver<'a> {
        let table = relation.and_then(|r| cache.table(&r.schema, &r.name));
        Resolver { cache, relation, table, out_columns: &[] }
    }

    /// The rows of a function with OUT / TABLE parameters `out_columns` (name, type).
    pub fn out_columns(cache: &'a SchemaCache, out_columns: &'a [(String, String)]) -> Resolver<'a> {
        Resolver { cache, relation: None, table: None, out_columns }
    }

    pub fn cache(&self) -> &'a SchemaCache {
        self.cache
    }

    fn type_of(&self, name: &str) -> Option<&'a str> {
        match self.table {
            Some(t) => t.column(name).map(|c| c.base_type()),
            None => self.out_columns.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str()),
        }
    }

    /// Resolves `field`; `fts`: it is full-text searched.
    pub fn column(&self, field: &Field, fts: bool) -> Column {
        let mut facts = ColumnFacts::default();
        match self.type_of(&field.name) {
            Some(ty) => {
                facts.json_wrap = !field.json_path.is_empty() && ty != "json" && ty != "jsonb";
                facts.tsvector_wrap = fts && ty != "tsvector";
            }
            None => facts.computed = self.computed(&field.name).map(Box::new),
        }
        facts.rep = self.table.and_then(|t| t.column(&field.name)).and_then(|c| c.reps.clone());
        Column { field: field.clone(), facts }
    }

    /// `name` as a function of the relation's row, if there is one.
    fn computed(&self, name: &str) -> Option<ComputedColumn> {
        let table = self.table?;
        let takes_row = self.cache.routines(&table.schema, name).iter().any(|r| {
            r.params.len() == 1
                && (*r.params[0].type_ == *table.name
                    || r.params[0].type_ == format!("{}.{}", table.schema, table.name))
        });
        takes_row.then(|| ComputedColumn {
            function: QualifiedName::new(&table.schema, name),
            row_type: QualifiedName::new(&table.schema, &table.name),
        })
    }

    /// A select item other than an embed, resolved (`None` for an embed).
    pub fn select(&self, item: &SelectItem) -> Option<Select> {
        Some(match item {
            SelectItem::Star => Select::Star,
            SelectItem::Field { field, alias, cast, aggregate, aggregate_cast } => Select::Field {
                column: self.column(field, false),
                alias: alias.clone(),
                cast: cast.clone(),
                aggregate: *aggregate,
                aggregate_cast: aggregate_cast.clone(),
            },
            SelectItem::Count { alias, cast } => Select::Count { alias: alias.clone(), cast: cast.clone() },
            SelectItem::Embed { .. } => return None,
        })
    }

    pub fn condition(&self, f: &Filter) -> Condition {
        let fts = matches!(f.operation, Operation::Fts { .. });
        Condition { column: self.column(&f.field, fts), negated: f.negated, operation: f.operation.clone() }
    }

    pub fn logic(&self, tree: &LogicTree) -> Logic {
        match tree {
            LogicTree::Stmt(f) => Logic::Stmt(self.condition(f)),
            LogicTree::Expr { negated, or, children } => {
                Logic::Expr { negated: *negated, or: *or, children: children.iter().map(|c| self.logic(c)).collect() }
            }
        }
    }

    pub fn order(&self, term: &OrderTerm) -> Order {
        let target = match &term.target {
            OrderTarget::Field(f) => OrderBy::Column(self.column(f, false)),
            OrderTarget::Related { relation, field } => {
                OrderBy::Related { relation: relation.clone(), column: Column::plain(field.clone()) }
            }
        };
        Order { target, descending: term.descending, nulls_first: term.nulls_first }
    }

    /// The relation's columns when one of them is formatted for output (a domain with a cast
    /// to json or text), for `*` to name them; else none (`*` stays `alias.*`).
    pub fn star(&self) -> Vec<Column> {
        let Some(table) = self.table else { return Vec::new() };
        let formats =
            table.columns.iter().any(|c| c.reps.as_ref().is_some_and(|r| r.to_json.is_some() || r.to_text.is_some()));
        if !formats {
            return Vec::new();
        }
        let plain = |name: &str| Field { name: name.to_string(), json_path: Vec::new() };
        table
            .columns
            .iter()
            .map(|c| Column {
                field: plain(&c.name),
                facts: ColumnFacts { rep: c.reps.clone(), ..ColumnFacts::default() },
            })
            .collect()
    }
}

impl Logic {
    /// Every resolved column of the tree.
    pub fn columns(&self) -> Vec<&Column> {
        match self {
            Logic::Stmt(c) => vec![&c.column],
            Logic::Expr { children, .. } => children.iter().flat_map(Logic::columns).collect(),
        }
    }
}
