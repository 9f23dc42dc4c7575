//! The shape of the rows a read selects (also the rows a mutation or a function returns).
//!
//! In charge of: the select list with its embeds resolved, spreads and the aggregates a to-one
//! spread hoists to its parent, empty embeds (`rel()`) kept only to filter, filters and
//! `embed=is.null` tests per embed level, order, the page (limit/offset, `Range`,
//! `db-max-rows`), and what the renderer must know about the columns mentioned
//! ([`ColumnInfo`]). Rejects: a negative limit or an inverted `Range` (PGRST103), aggregates
//! when disabled, filters on paths that are not embedded (PGRST108).

use super::relationship::find_relationship;
use crate::api_request::{
    Aggregate, ApiRequest, Filter, IsValue, JoinType, LogicTree, Method, Operation, OrderTerm, SelectItem,
};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::QualifiedName;
use crate::schema_cache::{DataRep, Relationship, RepFunction, SchemaCache, Table};
use std::collections::BTreeMap;

/// The rows a read or a mutation's representation selects and how they are filtered.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Columns, casts, JSON paths, aggregates: everything but embeds.
    pub select: Vec<SelectItem>,
    pub embeds: Vec<Embed>,
    /// `embed=is.null` (false) / `embed=not.is.null` (true) filters on embeds, by alias.
    pub embed_filters: Vec<(String, bool)>,
    /// Inside a to-one spread whose aggregates the parent applies: select the aggregated
    /// columns raw, do not group.
    pub hoisting: bool,
    pub columns: ColumnInfo,
    pub filters: Vec<Filter>,
    pub logic: Vec<LogicTree>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// What the plan found out about the columns a request mentions, for rendering them: one
/// [`ColumnFacts`] per column, resolved once here, that `query` asks by name.
#[derive(Debug, Clone, Default)]
pub struct ColumnInfo {
    /// By column name: the columns the shape mentions that need more than `alias.name`, and
    /// every column of the relation with a domain representation.
    facts: BTreeMap<String, ColumnFacts>,
    /// The relation's columns, when one of them is formatted for output: `*` names them.
    pub star: Vec<String>,
    /// Which representation formats output columns; set once the media type is known.
    pub output: RepOutput,
}

/// Everything the plan resolved about one column.
#[derive(Debug, Clone, Default)]
pub struct ColumnFacts {
    /// Used with JSON operators but not json/jsonb (arrays, composites): wrapped in `to_jsonb`.
    pub json_wrap: bool,
    /// Full-text searched but not tsvector (text, json): wrapped in `to_tsvector`.
    pub tsvector_wrap: bool,
    /// Not a column but a function of the row (a computed column).
    pub computed: Option<ComputedColumn>,
    /// The column's domain representation (PostgREST's data representations).
    pub rep: Option<DataRep>,
}

/// A computed column: a function taking the relation's row, called with the row cast to the
/// relation's type (for overloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedColumn {
    pub function: QualifiedName,
    pub row_type: QualifiedName,
}

/// The facts of a column the plan found nothing special about.
static PLAIN: ColumnFacts = ColumnFacts { json_wrap: false, tsvector_wrap: false, computed: None, rep: None };

impl ColumnInfo {
    /// Information about no column: every column is plain.
    pub const fn empty() -> ColumnInfo {
        ColumnInfo { facts: BTreeMap::new(), star: Vec::new(), output: RepOutput::None }
    }

    /// What the plan resolved about `column` (plain when nothing).
    pub fn facts(&self, column: &str) -> &ColumnFacts {
        self.facts.get(column).unwrap_or(&PLAIN)
    }

    /// Whether a column the shape mentions is computed (it then needs the whole row).
    pub fn has_computed(&self) -> bool {
        self.facts.values().any(|f| f.computed.is_some())
    }

    /// The function formatting `column` in the response, if its domain has one for the media.
    pub fn output_function(&self, column: &str) -> Option<&RepFunction> {
        let rep = self.facts(column).rep.as_ref()?;
        match self.output {
            RepOutput::None => None,
            RepOutput::Json => rep.to_json.as_ref(),
            RepOutput::Text => rep.to_text.as_ref(),
        }
    }

    /// The function parsing a query-string filter value for `column` (a cast from text).
    pub fn text_parser(&self, column: &str) -> Option<&RepFunction> {
        self.facts(column).rep.as_ref()?.from_text.as_ref()
    }

    fn entry(&mut self, column: &str) -> &mut ColumnFacts {
        self.facts.entry(column.to_string()).or_default()
    }
}

/// How selected columns with a domain representation are formatted.
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

/// An aggregate of a to-one spread, applied by the parent to the spread's column `name`.
#[derive(Debug, Clone)]
pub struct Hoisted {
    pub name: String,
    pub aggregate: Aggregate,
    pub cast: Option<String>,
}

/// A resource embedded through a relationship (`select=*,clients(*)`).
#[derive(Debug, Clone)]
pub struct Embed {
    /// The key it appears under (the alias, else the name used in `select`).
    pub alias: String,
    pub relationship: Relationship,
    /// `!inner`: parent rows without a match are dropped.
    pub inner: bool,
    /// `...name(cols)`: the embed's columns are merged into the parent.
    pub spread: bool,
    /// `name()`: embedded only to filter the parent (`!inner`, `name=not.is.null`), not shown.
    pub hidden: bool,
    /// For a spread: the columns it brings (of a to-many embed, each becomes an array).
    pub spread_columns: Vec<String>,
    /// For a to-one spread: its aggregates, computed at the parent's level (PostgREST hoists
    /// them there, grouped by the parent's other columns).
    pub hoisted: Vec<Hoisted>,
    pub target: QualifiedName,
    pub shape: Shape,
}

/// The top-level shape of a read (or of a mutation's / function's returned rows): the select
/// list with its embeds resolved, filters, order and the page (limit/offset, `Range`,
/// `db-max-rows`).
pub(super) fn root_shape(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    table: Option<&QualifiedName>,
) -> Result<Shape, Error> {
    let q = &req.query;
    let (mut limit, mut offset) = q.root_limit();
    if limit.is_some_and(|l| l < 0) {
        return Err(Error::InvalidRange {
            details: Some("Limit should be greater than or equal to zero.".into()),
            total: None,
        });
    }
    // A negative offset is ignored, as in PostgREST.
    offset = offset.filter(|o| *o > 0);
    // The Range header applies to GET only (RFC 9110; PostgREST ignores it on HEAD too).
    let range = req.range.filter(|_| req.method == Method::Get);
    if let Some((from, to)) = range {
        if to.is_some_and(|t| t < from) {
            return Err(Error::InvalidRange {
                details: Some(
                    "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into(),
                ),
                total: None,
            });
        }
        // The rows both the Range header and limit/offset ask for.
        let start = offset.unwrap_or(0).max(from);
        let end = match (limit.map(|l| offset.unwrap_or(0).saturating_add(l).saturating_sub(1)), to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        offset = Some(start).filter(|o| *o > 0);
        limit = end.map(|e| e.saturating_sub(start).saturating_add(1).max(0));
    }
    if let Some(max) = config.db_max_rows {
        limit = Some(limit.map_or(max, |l| l.min(max)));
    }
    if !config.db_aggregates_enabled && uses_aggregates(&q.select) {
        return Err(Error::AggregatesDisabled);
    }
    let mut shape = build_shape(config, cache, req, table, &q.select, &[])?;
    shape.limit = limit;
    shape.offset = offset;
    // Every embed path mentioned by a filter, order or limit must be an embed of the request.
    let paths = q
        .filters
        .iter()
        .map(|(p, _)| p)
        .chain(q.logic.iter().map(|(p, _)| p))
        .chain(q.order.iter().map(|(p, _)| p))
        .chain(q.limits.iter().map(|(p, _, _)| p));
    for path in paths {
        check_embed_path(&shape, path, &q.select)?;
    }
    Ok(shape)
}

fn uses_aggregates(items: &[SelectItem]) -> bool {
    items.iter().any(|i| match i {
        SelectItem::Count { .. } | SelectItem::Field { aggregate: Some(_), .. } => true,
        SelectItem::Embed { select, .. } => uses_aggregates(select),
        _ => false,
    })
}

fn check_embed_path(shape: &Shape, path: &[String], select: &[SelectItem]) -> Result<(), Error> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if let Some(e) = shape.embeds.iter().find(|e| &e.alias == first) {
        let inner = select
            .iter()
            .find_map(|i| match i {
                SelectItem::Embed { name, alias, select, .. } if alias.as_ref().unwrap_or(name) == first => {
                    Some(select.as_slice())
                }
                _ => None,
            })
            .unwrap_or(&[]);
        return check_embed_path(&e.shape, rest, inner);
    }
    // Using the table name of an aliased embed gets a more specific hint.
    let aliased = select.iter().find_map(|i| match i {
        SelectItem::Embed { name, alias: Some(a), .. } if name == first => Some(a.clone()),
        _ => None,
    });
    Err(Error::NotEmbedded { name: first.clone(), alias: aliased })
}

/// Splits a select list into plain items and embeds, resolving each embed's relationship and
/// taking the filters, order and page given for its path.
fn build_shape(
    config: &Config,
    cache: &SchemaCache,
    req: &ApiRequest,
    table: Option<&QualifiedName>,
    items: &[SelectItem],
    path: &[String],
) -> Result<Shape, Error> {
    let q = &req.query;
    let at = |p: &Vec<String>| p.as_slice() == path;
    let mut shape = Shape {
        select: Vec::new(),
        embeds: Vec::new(),
        embed_filters: Vec::new(),
        hoisting: false,
        columns: ColumnInfo::default(),
        filters: Vec::new(),
        logic: q.logic.iter().filter(|(p, _)| at(p)).map(|(_, l)| l.clone()).collect(),
        order: q.order.iter().filter(|(p, _)| at(p)).flat_map(|(_, o)| o.clone()).collect(),
        limit: None,
        offset: None,
    };
    if !path.is_empty() {
        if let Some((_, l, o)) = q.limits.iter().find(|(p, _, _)| at(p)) {
            shape.limit = *l;
            shape.offset = *o;
        }
        // db-max-rows bounds embedded resources too.
        if let Some(max) = config.db_max_rows {
            shape.limit = Some(shape.limit.map_or(max, |l| l.min(max)));
        }
    }
    for item in items {
        match item {
            SelectItem::Embed { name, alias, hint, join, spread, select } => {
                let Some(QualifiedName { schema, name: source }) = table else {
                    return Err(Error::NoRelationship {
                        parent: String::new(),
                        child: name.clone(),
                        schema: req.schema.clone(),
                        hint: hint.clone(),
                        suggestion: None,
                    });
                };
                let rel = find_relationship(cache, schema, source, name, hint.as_deref(), &req.role)?;
                let out_name = alias.clone().unwrap_or_else(|| name.clone());
                let mut sub_path = path.to_vec();
                sub_path.push(out_name.clone());
                let target = rel.target.clone();
                let mut inner = build_shape(config, cache, req, Some(&target), select, &sub_path)?;
                let hoisted = if *spread && rel.cardinality.to_one() { hoisted_aggregates(&inner) } else { vec![] };
                inner.hoisting = !hoisted.is_empty();
                if *spread && !rel.cardinality.to_one() && uses_aggregates(select) {
                    return Err(Error::NotImplemented(
                        "Aggregates are not implemented for one-to-many or many-to-many spreads.".into(),
                    ));
                }
                // `rel()`, or only embeds that are hidden themselves.
                let hidden = select.is_empty() || (inner.select.is_empty() && inner.embeds.iter().all(|e| e.hidden));
                let spread_columns =
                    if *spread && !hidden { output_columns(cache, &target, &inner) } else { Vec::new() };
                shape.embeds.push(Embed {
                    alias: out_name,
                    relationship: rel,
                    inner: *join == Some(JoinType::Inner),
                    spread: *spread,
                    hidden,
                    spread_columns,
                    hoisted,
                    target,
                    shape: inner,
                });
            }
            other => shape.select.push(other.clone()),
        }
    }
    // Filters at this level; `embed=is.null` / `embed=not.is.null` filter on the embed itself.
    for (_, f) in q.filters.iter().filter(|(p, _)| at(p)) {
        let on_embed = f.field.json_path.is_empty()
            && matches!(f.operation, Operation::Is(IsValue::Null))
            && shape.embeds.iter().any(|e| e.alias == f.field.name);
        if on_embed {
            shape.embed_filters.push((f.field.name.clone(), f.negated));
        } else {
            shape.filters.push(f.clone());
        }
    }
    if let Some(QualifiedName { schema, name }) = table {
        if let Some(t) = cache.table(schema, name) {
            shape.columns = column_info(cache, t, &shape);
        }
    }
    Ok(shape)
}

/// The aggregates a to-one spread hands up to its parent: its own and those of to-one spreads
/// inside it.
fn hoisted_aggregates(shape: &Shape) -> Vec<Hoisted> {
    let mut out = Vec::new();
    for item in &shape.select {
        match item {
            SelectItem::Field { field: _, alias, aggregate: Some(a), aggregate_cast, .. } => {
                out.push(Hoisted {
                    name: alias.clone().unwrap_or_else(|| a.name().to_string()),
                    aggregate: *a,
                    cast: aggregate_cast.clone(),
                });
            }
            SelectItem::Count { alias, cast } => out.push(Hoisted {
                name: alias.clone().unwrap_or_else(|| Aggregate::Count.name().into()),
                aggregate: Aggregate::Count,
                cast: cast.clone(),
            }),
            _ => {}
        }
    }
    for e in &shape.embeds {
        if e.spread && e.relationship.cardinality.to_one() {
            out.extend(e.hoisted.iter().cloned());
        }
    }
    out
}

/// The keys the rows of `shape` have in the JSON output (for spreading them into a parent).
fn output_columns(cache: &SchemaCache, table: &QualifiedName, shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    let all = || {
        cache
            .table(&table.schema, &table.name)
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    };
    if shape.select.is_empty() && shape.embeds.is_empty() {
        return all();
    }
    for item in &shape.select {
        match item {
            SelectItem::Star => out.extend(all()),
            SelectItem::Field { field, alias, aggregate, .. } => {
                out.push(alias.clone().unwrap_or_else(|| match aggregate {
                    Some(a) => a.name().to_string(),
                    None => field.output_name(),
                }))
            }
            SelectItem::Count { alias, .. } => out.push(alias.clone().unwrap_or_else(|| "count".into())),
            SelectItem::Embed { .. } => {}
        }
    }
    for e in shape.embeds.iter().filter(|e| !e.hidden) {
        match (e.spread, e.relationship.cardinality.to_one()) {
            (true, true) => out.extend(output_columns(cache, &e.target, &e.shape)),
            (true, false) => out.extend(e.spread_columns.iter().cloned()),
            (false, _) => out.push(e.alias.clone()),
        }
    }
    out
}

/// Looks at every column the shape mentions: JSON paths on non-JSON columns, full-text search
/// on non-tsvector columns, and names that are functions of the row (computed columns).
pub(super) fn column_info(cache: &SchemaCache, table: &Table, shape: &Shape) -> ColumnInfo {
    column_info_by(cache, shape, |name| table.column(name).map(|c| c.base_type()), Some(table))
}

/// [`column_info`] for columns whose types `type_of` knows; `table`, when the rows are a
/// relation's, for its computed columns.
pub(super) fn column_info_by<'t>(
    cache: &SchemaCache,
    shape: &Shape,
    type_of: impl Fn(&str) -> Option<&'t str>,
    table: Option<&Table>,
) -> ColumnInfo {
    let mut fields: Vec<(&crate::api_request::Field, bool)> = Vec::new();
    for item in &shape.select {
        if let SelectItem::Field { field, .. } = item {
            fields.push((field, false));
        }
    }
    fn from_tree<'a>(t: &'a LogicTree, out: &mut Vec<(&'a crate::api_request::Field, bool)>) {
        match t {
            LogicTree::Stmt(f) => out.push((&f.field, matches!(f.operation, Operation::Fts { .. }))),
            LogicTree::Expr { children, .. } => children.iter().for_each(|c| from_tree(c, out)),
        }
    }
    for f in &shape.filters {
        fields.push((&f.field, matches!(f.operation, Operation::Fts { .. })));
    }
    for t in &shape.logic {
        from_tree(t, &mut fields);
    }
    for o in &shape.order {
        if let crate::api_request::OrderTarget::Field(f) = &o.target {
            fields.push((f, false));
        }
    }
    let mut info = ColumnInfo::default();
    for (field, fts) in fields {
        match type_of(&field.name) {
            Some(ty) => {
                if !field.json_path.is_empty() && ty != "json" && ty != "jsonb" {
                    info.entry(&field.name).json_wrap = true;
                }
                if fts && ty != "tsvector" {
                    info.entry(&field.name).tsvector_wrap = true;
                }
            }
            None => {
                let Some(table) = table else { continue };
                if info.facts(&field.name).computed.is_some() {
                    continue;
                }
                let takes_row = cache.routines(&table.schema, &field.name).iter().any(|r| {
                    r.params.len() == 1
                        && (r.params[0].type_ == table.name
                            || r.params[0].type_ == format!("{}.{}", table.schema, table.name))
                });
                if takes_row {
                    info.entry(&field.name).computed = Some(ComputedColumn {
                        function: QualifiedName::new(&table.schema, &field.name),
                        row_type: QualifiedName::new(&table.schema, &table.name),
                    });
                }
            }
        }
    }
    if let Some(table) = table {
        let mut formats = false;
        for c in &table.columns {
            if let Some(rep) = &c.reps {
                formats |= rep.to_json.is_some() || rep.to_text.is_some();
                info.entry(&c.name).rep = Some(rep.clone());
            }
        }
        if formats {
            info.star = table.columns.iter().map(|c| c.name.clone()).collect();
        }
    }
    info
}
