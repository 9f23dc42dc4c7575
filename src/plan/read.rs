//! The shape of the rows a read selects (also the rows a mutation or a function returns).
//!
//! In charge of: the select list with its embeds resolved, spreads and the aggregates a to-one
//! spread hoists to its parent, empty embeds (`rel()`) kept only to filter, filters and
//! `embed=is.null` tests per embed level, order, the page (limit/offset, `Range`,
//! `db-max-rows`), each column mentioned resolved once ([`Column`], by the [`Resolver`] of
//! its level). Rejects: a negative limit or an inverted `Range` (PGRST103), aggregates
//! when disabled, filters on paths that are not embedded (PGRST108).

use super::field::{Column, Condition, Logic, Order, OrderBy, RepOutput, Resolver, Select};
use super::relationship::find_relationship;
use crate::api_request::{Aggregate, ApiRequest, IsValue, JoinType, Method, Operation, SelectItem};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{QualifiedName, Relationship, SchemaCache};

/// The rows a read or a mutation's representation selects and how they are filtered, every
/// column in it resolved ([`Column`]).
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Columns, casts, JSON paths, aggregates: everything but embeds.
    pub select: Vec<Select>,
    pub embeds: Vec<Embed>,
    /// `embed=is.null` (false) / `embed=not.is.null` (true) filters on embeds, by alias.
    pub embed_filters: Vec<(String, bool)>,
    /// Inside a to-one spread whose aggregates the parent applies: select the aggregated
    /// columns raw, do not group.
    pub hoisting: bool,
    /// The relation's columns, when one of them is formatted for output: `*` names them.
    pub star: Vec<Column>,
    /// Which representation formats output columns; set once the media type is known.
    pub output: RepOutput,
    pub filters: Vec<Condition>,
    pub logic: Vec<Logic>,
    pub order: Vec<Order>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Shape {
    /// Whether a column the shape mentions is computed (it then needs the whole row).
    pub fn has_computed(&self) -> bool {
        let selected = self.select.iter().filter_map(|s| match s {
            Select::Field { column, .. } => Some(column),
            _ => None,
        });
        let ordered = self.order.iter().filter_map(|o| match &o.target {
            OrderBy::Column(c) => Some(c),
            OrderBy::Related { .. } => None,
        });
        let filtered = self.filters.iter().map(|c| &c.column);
        let in_logic = self.logic.iter().flat_map(Logic::columns);
        selected.chain(ordered).chain(filtered).chain(in_logic).any(|c| c.facts.computed.is_some())
    }
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
pub(super) fn root_shape(config: &Config, req: &ApiRequest, rows: Resolver) -> Result<Shape, Error> {
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
    let mut shape = build_shape(config, req, rows, &q.select, &[])?;
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
/// taking the filters, order and page given for its path; every column is resolved by `rows`.
fn build_shape(
    config: &Config,
    req: &ApiRequest,
    rows: Resolver,
    items: &[SelectItem],
    path: &[String],
) -> Result<Shape, Error> {
    let q = &req.query;
    let at = |p: &Vec<String>| p.as_slice() == path;
    let mut shape = Shape {
        star: rows.star(),
        logic: q.logic.iter().filter(|(p, _)| at(p)).map(|(_, l)| rows.logic(l)).collect(),
        order: q.order.iter().filter(|(p, _)| at(p)).flat_map(|(_, o)| o.iter().map(|t| rows.order(t))).collect(),
        ..Shape::default()
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
        match rows.select(item) {
            Some(select) => shape.select.push(select),
            None => {
                let embed = build_embed(config, req, rows, item, path)?;
                // PostgREST names an embed's join after it (42712 for a second one); its JSON
                // object would have a duplicate key.
                if shape.embeds.iter().any(|e| e.alias == embed.alias) {
                    return Err(Error::DuplicateEmbed(embed.alias));
                }
                shape.embeds.push(embed);
            }
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
            shape.filters.push(rows.condition(f));
        }
    }
    Ok(shape)
}

/// An embed of the rows `rows` resolves (`item` is a [`SelectItem::Embed`]): its relationship
/// and its own shape.
fn build_embed(
    config: &Config,
    req: &ApiRequest,
    rows: Resolver,
    item: &SelectItem,
    path: &[String],
) -> Result<Embed, Error> {
    let SelectItem::Embed { name, alias, hint, join, spread, select } = item else {
        return Err(Error::Internal("not an embed".into()));
    };
    let Some(QualifiedName { schema, name: source }) = rows.relation else {
        return Err(Error::NoRelationship {
            parent: String::new(),
            child: name.clone(),
            schema: req.schema.clone(),
            hint: hint.clone(),
            suggestion: None,
        });
    };
    let cache = rows.cache();
    let rel = find_relationship(cache, schema, source, name, hint.as_deref(), &req.role)?;
    let out_name = alias.clone().unwrap_or_else(|| name.clone());
    let mut sub_path = path.to_vec();
    sub_path.push(out_name.clone());
    let target = rel.target.clone();
    let mut inner = build_shape(config, req, Resolver::relation(cache, Some(&target)), select, &sub_path)?;
    let hoisted = if *spread && rel.cardinality.to_one() { hoisted_aggregates(&inner) } else { vec![] };
    inner.hoisting = !hoisted.is_empty();
    if *spread && !rel.cardinality.to_one() && uses_aggregates(select) {
        return Err(Error::NotImplemented(
            "Aggregates are not implemented for one-to-many or many-to-many spreads.".into(),
        ));
    }
    // `rel()`, or only embeds that are hidden themselves.
    let hidden = select.is_empty() || (inner.select.is_empty() && inner.embeds.iter().all(|e| e.hidden));
    let spread_columns = if *spread && !hidden { output_columns(cache, &target, &inner) } else { Vec::new() };
    Ok(Embed {
        alias: out_name,
        relationship: rel,
        inner: *join == Some(JoinType::Inner),
        spread: *spread,
        hidden,
        spread_columns,
        hoisted,
        target,
        shape: inner,
    })
}

/// The aggregates a to-one spread hands up to its parent: its own and those of to-one spreads
/// inside it.
fn hoisted_aggregates(shape: &Shape) -> Vec<Hoisted> {
    let mut out = Vec::new();
    for item in &shape.select {
        match item {
            Select::Field { alias, aggregate: Some(a), aggregate_cast, .. } => {
                out.push(Hoisted {
                    name: alias.clone().unwrap_or_else(|| a.name().to_string()),
                    aggregate: *a,
                    cast: aggregate_cast.clone(),
                });
            }
            Select::Count { alias, cast } => out.push(Hoisted {
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
            .map(|t| t.columns.iter().map(|c| c.name.to_string()).collect())
            .unwrap_or_default()
    };
    if shape.select.is_empty() && shape.embeds.is_empty() {
        return all();
    }
    for item in &shape.select {
        match item {
            Select::Star => out.extend(all()),
            Select::Field { column, alias, aggregate, .. } => {
                out.push(alias.clone().unwrap_or_else(|| match aggregate {
                    Some(a) => a.name().to_string(),
                    None => column.field.output_name(),
                }))
            }
            Select::Count { alias, .. } => out.push(alias.clone().unwrap_or_else(|| "count".into())),
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
