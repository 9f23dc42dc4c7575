//! Reads: SELECT with LATERAL embeds, WHERE, ORDER BY, LIMIT; the count estimate. Every
//! column comes resolved by the plan ([`Column`]): rendered as it is, never looked up by name.

use super::operators::{aggregate_function, cmp_operator, fts_function, is_value, quantifier_keyword};
use super::result::{body_expr, MainRow};
use super::sql::{array_literal, cast as cast_to, function_name, ident, push_ident, qualified, Placeholder, Sql};
use super::{needs_total, Estimate};
use crate::api_request::{CountPref, IsValue, JsonKey, Operation};
use crate::error::Error;
use crate::plan::{Action, Column, ComputedColumn, Condition, Embed, Logic, OrderBy, Plan, RepOutput, Select, Shape};
use crate::schema_cache::QualifiedName;

/// For `count=planned|estimated` on a table read: `EXPLAIN` of the rows counted.
pub(super) fn count_estimate(plan: &Plan) -> Option<Estimate> {
    let (Action::Read { table, shape }, Some(count)) = (&plan.action, plan.count) else { return None };
    let above = match count {
        CountPref::Planned => None,
        CountPref::Estimated => Some(plan.max_rows),
        CountPref::Exact => return None,
    };
    // The rows of the read without its page (rendered in their own statement, so every bound
    // parameter is used); the planner's estimate of them is the total.
    let mut sql = Sql::new();
    let from = format!("{}.{}", ident(&table.schema), ident(&table.name));
    let unpaged = Shape { limit: None, offset: None, ..shape.clone() };
    let alias = ident(&table.name);
    let p = level_query(&mut sql, &mut 0, RowSource::new(&from, &alias), &unpaged, true).ok()?;
    sql.push("EXPLAIN (FORMAT JSON) ").push_composed(&p.query());
    Some(Estimate { statement: sql.finish(), above })
}

pub(super) fn statement(sql: &mut Sql, plan: &Plan, table: &QualifiedName, shape: &Shape) -> Result<(), Error> {
    let from = qualified(&table.schema, &table.name);
    let alias = ident(&table.name);
    let p = select_query(sql, RowSource::new(&from, &alias), shape)?;
    let total = if let (Some(CountPref::Estimated), Some(max)) = (plan.count, plan.max_rows) {
        // count=estimated counts exactly only up to just past db-max-rows; beyond that
        // the planner's estimate is used when larger (see Estimate).
        format!(
            "(SELECT pg_catalog.count(*) FROM (SELECT 1 FROM {from}{}{} LIMIT {}) pgrst_counted)",
            p.filtering_joins,
            p.where_,
            max.saturating_add(1)
        )
    } else if needs_total(plan) {
        format!("(SELECT pg_catalog.count(*) FROM {from}{}{})", p.filtering_joins, p.where_)
    } else {
        "NULL::bigint".into()
    };
    sql.push("WITH pgrst_source AS (");
    p.write_to(sql);
    sql.push(") ");
    MainRow::over_rows(&total, &body_expr(&plan.media, false)).render(sql, Some("SELECT * FROM pgrst_source"));
    Ok(())
}

/// A resolved column of the row aliased `alias`, as the plan resolved it (no lookup here).
pub(super) fn field_expr(sql: &mut Sql, alias: &str, column: &Column) -> String {
    let Column { field, facts } = column;
    let mut out = match facts.computed.as_deref() {
        // A computed column: a function taking the row (typed, for overloads).
        Some(ComputedColumn { function: f, row_type: t }) => {
            format!("{}({alias}::{})", qualified(&f.schema, &f.name), qualified(&t.schema, &t.name))
        }
        None => {
            let mut out = String::with_capacity(alias.len() + field.name.len() + 3);
            out.push_str(alias);
            out.push('.');
            push_ident(&mut out, &field.name);
            out
        }
    };
    if !field.json_path.is_empty() && facts.json_wrap {
        // JSON operators on arrays and composites work on their JSON form.
        out = format!("to_jsonb({out})");
    }
    for op in &field.json_path {
        let arrow = if op.as_text { "->>" } else { "->" };
        let key = match &op.key {
            // Untyped, like PostgREST's literal: `jsonb -> unknown` resolves to the text key,
            // and a `->` after `->>` fails as PostgreSQL says (`text -> unknown`).
            JsonKey::Name(n) => sql.bind(n.clone()).to_string(),
            JsonKey::Index(i) => format!("{}::int", sql.bind(i.to_string())),
        };
        out = format!("{out}{arrow}{key}");
    }
    out
}

/// A rendered `SELECT … FROM … JOIN LATERAL … WHERE … GROUP BY … ORDER BY … LIMIT …`, in
/// pieces so a count can reuse the FROM, joins and WHERE (and their parameters).
pub(super) struct SelectQuery {
    pub(super) list: String,
    pub(super) from: String,
    pub(super) joins: String,
    /// The joins that can remove parent rows (`!inner`, `embed=not.is.null`): all a count needs.
    pub(super) filtering_joins: String,
    pub(super) where_: String,
    pub(super) group: String,
    pub(super) order: String,
    pub(super) limit: String,
}

impl SelectQuery {
    pub(super) fn query(&self) -> String {
        let parts = [&self.list, &self.from, &self.joins, &self.where_, &self.group, &self.order, &self.limit];
        let mut out = String::with_capacity(13 + parts.iter().map(|p| p.len()).sum::<usize>());
        out.push_str("SELECT ");
        out.push_str(&self.list);
        out.push_str(" FROM ");
        for p in &parts[1..] {
            out.push_str(p);
        }
        out
    }

    /// [`SelectQuery::query`], written straight into `sql`.
    pub(super) fn write_to(&self, sql: &mut Sql) {
        sql.push("SELECT ").push_composed(&self.list).push(" FROM ");
        for p in [&self.from, &self.joins, &self.where_, &self.group, &self.order, &self.limit] {
            sql.push_composed(p);
        }
    }
}

/// Where one level's rows come from: `from` (a table, a CTE or a function, already aliased
/// as `alias`), a join that belongs to it (an embed's junction table) and the conditions
/// linking it to its parent's row.
pub(super) struct RowSource<'a> {
    from: String,
    alias: &'a str,
    join: String,
    link: Vec<String>,
}

impl<'a> RowSource<'a> {
    /// A top-level source: no junction, no parent.
    pub(super) fn new(from: &str, alias: &'a str) -> RowSource<'a> {
        RowSource { from: from.to_string(), alias, join: String::new(), link: vec![] }
    }
}

/// Renders the rows of `shape` read from `source`, with each embed as a `LEFT`/`INNER JOIN
/// LATERAL` subquery: to-one embeds become `row_to_json(…)`, to-many embeds `json_agg(…)`,
/// so one statement builds the whole nested body.
pub(super) fn select_query(sql: &mut Sql, source: RowSource, shape: &Shape) -> Result<SelectQuery, Error> {
    level_query(sql, &mut 0, source, shape, false)
}

/// What a level's embeds add to its query.
#[derive(Default)]
struct Level {
    cols: Vec<String>,
    joins: String,
    filtering_joins: String,
    /// For a GROUP BY: whether this level aggregates, and the non-aggregated expressions.
    aggregating: bool,
    group_exprs: Vec<String>,
    /// alias → (lateral alias, to-one)
    laterals: Vec<(String, String, bool)>,
    /// Counting: alias → the embed's rows as an EXISTS test.
    exists: Vec<(String, String)>,
    where_conds: Vec<String>,
}

/// [`select_query`] of one level; `n` numbers the aliases. `counting`: only which rows there
/// are matters (the planner's estimate of a count), so nothing is selected, ordered or
/// grouped, and the embeds that filter (`!inner`, `embed=not.is.null`, also inside `or=(…)`)
/// are `EXISTS` tests, as in PostgREST's count query; the other embeds are left out.
fn level_query(
    sql: &mut Sql,
    n: &mut usize,
    source: RowSource,
    shape: &Shape,
    counting: bool,
) -> Result<SelectQuery, Error> {
    let alias = source.alias;
    let mut level = Level {
        joins: source.join.clone(),
        filtering_joins: source.join,
        aggregating: !shape.hoisting && has_aggregates(&shape.select),
        where_conds: source.link,
        ..Level::default()
    };
    if counting {
        level.cols.push("1".into());
    } else if !shape.select.is_empty() || shape.embeds.is_empty() {
        // Only embeds selected (`select=clients(*)`): no columns of this table.
        level.cols.push(select_list(sql, alias, shape)?);
    }
    for e in &shape.embeds {
        embed(sql, n, &mut level, alias, shape, e, counting)?;
    }
    let tests = EmbedTests { laterals: &level.laterals, exists: &level.exists };
    let mut where_conds = std::mem::take(&mut level.where_conds);
    for f in &shape.filters {
        where_conds.push(filter_expr(sql, alias, f));
    }
    for tree in &shape.logic {
        where_conds.push(logic_expr(sql, alias, tree, tests));
    }
    for (embed, not_null) in &shape.embed_filters {
        if let Some(expr) = tests.test(embed, *not_null) {
            where_conds.push(expr);
        }
    }
    let where_ = where_text(&where_conds);
    let order = if counting { String::new() } else { order_clause(sql, alias, shape, &level.laterals)? };
    let group =
        if level.aggregating && !counting { group_by(alias, &shape.select, &level.group_exprs) } else { String::new() };
    Ok(SelectQuery {
        list: level.cols.join(", "),
        from: source.from,
        joins: level.joins,
        filtering_joins: level.filtering_joins,
        where_,
        group,
        order,
        limit: limit_clause(sql, shape),
    })
}

/// Adds embed `e` of the level read as `alias`: its LATERAL join and its columns, or
/// (counting) its EXISTS test.
fn embed(
    sql: &mut Sql,
    n: &mut usize,
    level: &mut Level,
    alias: &str,
    shape: &Shape,
    e: &Embed,
    counting: bool,
) -> Result<(), Error> {
    let filtered =
        shape.embed_filters.iter().any(|(a, _)| *a == e.alias) || shape.logic.iter().any(|t| tests_embed(t, &e.alias));
    if counting && !e.inner && !filtered {
        return Ok(());
    }
    let joins_before = level.joins.len();
    *n += 1;
    let lat = format!("pgrst_{n}");
    let t_alias = ident(&format!("{}_{n}", e.target.name));
    let source = embed_source(*n, alias, &t_alias, e);
    let inner = level_query(sql, n, source, &e.shape, counting)?.query();
    if counting {
        let test = format!("EXISTS ({inner})");
        if e.inner {
            level.where_conds.push(test.clone());
        }
        level.exists.push((e.alias.clone(), test));
        return Ok(());
    }
    let to_one = e.relationship.cardinality.to_one();
    if to_one {
        to_one_join(level, shape, e, &inner, &lat)?;
    } else {
        to_many_join(level, shape, e, &inner, &lat);
    }
    if e.inner || filtered {
        // Joins that can drop parent rows count for the total too; the others do not.
        let added = level.joins[joins_before..].to_string();
        level.filtering_joins.push_str(&added);
    }
    level.laterals.push((e.alias.clone(), lat, to_one));
    Ok(())
}

/// The rows of embed `e` (aliased `t_alias`) for a row of its parent (aliased `alias`):
/// through the relationship's columns, its junction table, or its function.
fn embed_source<'a>(n: usize, alias: &str, t_alias: &'a str, e: &Embed) -> RowSource<'a> {
    let rel = &e.relationship;
    let (join, link) = match &rel.junction {
        None => (
            String::new(),
            rel.columns.iter().map(|(s, t)| format!("{t_alias}.{} = {alias}.{}", ident(t), ident(s))).collect(),
        ),
        Some(j) => {
            let ja = ident(&format!("{}_{n}", j.name));
            let on: Vec<String> = j
                .target_columns
                .iter()
                .map(|(jc, tc)| format!("{ja}.{} = {t_alias}.{}", ident(jc), ident(tc)))
                .collect();
            (
                format!(" JOIN {} AS {ja} ON {}", qualified(&j.schema, &j.name), on.join(" AND ")),
                j.source_columns.iter().map(|(jc, sc)| format!("{ja}.{} = {alias}.{}", ident(jc), ident(sc))).collect(),
            )
        }
    };
    let from = match &rel.function {
        // A computed relationship: the function's rows for the parent row.
        Some(f) => {
            format!(
                "{}({alias}::{}) AS {t_alias}",
                qualified(&f.schema, &f.name),
                qualified(&rel.source.schema, &rel.source.name)
            )
        }
        None => format!("{} AS {t_alias}", qualified(&e.target.schema, &e.target.name)),
    };
    RowSource { from, alias: t_alias, join, link }
}

/// Embedded values are json, passed through as PostgreSQL aggregated them. A level whose
/// columns are grouped (here or, when it hands aggregates up, by its parent) needs jsonb:
/// json has no equality for GROUP BY. (PostgREST converts every embed to jsonb; that
/// conversion costs a third of the throughput of an embedding read.)
fn embed_type(shape: &Shape) -> &'static str {
    let grouped = has_aggregates(&shape.select) || shape.hoisting || shape.embeds.iter().any(|e| !e.hoisted.is_empty());
    if grouped {
        "::jsonb"
    } else {
        ""
    }
}

/// A to-one embed: one joined row, as a JSON object, or its columns spread into the parent.
fn to_one_join(level: &mut Level, shape: &Shape, e: &Embed, inner: &str, lat: &str) -> Result<(), Error> {
    let kind = if e.inner { "INNER" } else { "LEFT" };
    level.joins.push_str(&format!(" {kind} JOIN LATERAL ({inner}) AS {lat} ON TRUE"));
    if e.hidden {
        return Ok(());
    }
    if !e.spread {
        let expr = format!("row_to_json({lat}.*){}", embed_type(shape));
        level.cols.push(format!("{expr} AS {}", ident(&e.alias)));
        level.group_exprs.push(expr);
        return Ok(());
    }
    // Hoisted aggregates are applied here (unless this level hands them up too); the spread's
    // other columns then join the GROUP BY.
    let aggregate_here = !e.hoisted.is_empty() && !shape.hoisting;
    for c in &e.spread_columns {
        let col = format!("{lat}.{}", ident(c));
        match e.hoisted.iter().find(|h| &h.name == c).filter(|_| aggregate_here) {
            Some(h) => {
                let mut expr = format!("{}({col})", aggregate_function(h.aggregate));
                if let Some(cast) = &h.cast {
                    expr = cast_to(&expr, cast)?;
                }
                level.cols.push(format!("{expr} AS {}", ident(c)));
            }
            None => {
                level.cols.push(format!("{col} AS {}", ident(c)));
                level.group_exprs.push(col);
            }
        }
    }
    level.aggregating |= aggregate_here;
    Ok(())
}

/// A to-many embed: its rows aggregated into a JSON array, or each spread column into an
/// array of its values.
fn to_many_join(level: &mut Level, shape: &Shape, e: &Embed, inner: &str, lat: &str) {
    let kind = if e.inner { "INNER" } else { "LEFT" };
    let on = if e.inner { format!("{lat}.pgrst_agg IS NOT NULL") } else { "TRUE".into() };
    if e.hidden {
        level.joins.push_str(&format!(
            " {kind} JOIN LATERAL (SELECT json_agg(1) AS pgrst_agg FROM ({inner}) AS {lat}_t) AS {lat} ON {on}"
        ));
    } else if e.spread {
        let aggs: Vec<String> = e
            .spread_columns
            .iter()
            .map(|c| format!("json_agg({lat}_t.{c}) AS {c}", c = ident(c)))
            .chain(std::iter::once("json_agg(1) AS pgrst_agg".to_string()))
            .collect();
        level.joins.push_str(&format!(
            " {kind} JOIN LATERAL (SELECT {} FROM ({inner}) AS {lat}_t) AS {lat} ON {on}",
            aggs.join(", ")
        ));
        level.cols.extend(e.spread_columns.iter().map(|c| format!("coalesce({lat}.{c}, '[]') AS {c}", c = ident(c))));
    } else {
        level.joins.push_str(&format!(
            " {kind} JOIN LATERAL (SELECT json_agg({lat}_t) AS pgrst_agg FROM ({inner}) AS {lat}_t) AS {lat} ON {on}"
        ));
        let expr = format!("coalesce({lat}.pgrst_agg{}, '[]')", embed_type(shape));
        level.cols.push(format!("{expr} AS {}", ident(&e.alias)));
        level.group_exprs.push(expr);
    }
}

pub(super) fn has_aggregates(items: &[Select]) -> bool {
    items.iter().any(|i| matches!(i, Select::Count { .. } | Select::Field { aggregate: Some(_), .. }))
}

/// The select list of `shape` read as `alias`. When the shape is hoisting, aggregated columns
/// are selected raw under their output name, for the parent to aggregate (a to-one spread's
/// aggregates).
pub(super) fn select_list(sql: &mut Sql, alias: &str, shape: &Shape) -> Result<String, Error> {
    let hoisting = shape.hoisting;
    if shape.select.is_empty() {
        return Ok(star(alias, shape));
    }
    let mut out = Vec::new();
    for item in &shape.select {
        match item {
            Select::Star => out.push(star(alias, shape)),
            Select::Field { column, alias: as_, cast, aggregate, aggregate_cast } => {
                let field = &column.field;
                let mut expr = field_expr(sql, alias, column);
                if field.json_path.is_empty() && aggregate.is_none() {
                    // A domain representation formats the value (before any cast of the request).
                    if let Some(f) = column.output_function(shape.output) {
                        expr = format!("{}({expr})", function_name(f));
                    }
                }
                if let Some(c) = cast {
                    expr = cast_to(&expr, c)?;
                }
                if let (Some(agg), true) = (aggregate, hoisting) {
                    let name = as_.clone().unwrap_or_else(|| agg.name().to_string());
                    out.push(format!("{expr} AS {}", ident(&name)));
                    continue;
                }
                if let Some(agg) = aggregate {
                    expr = format!("{}({expr})", aggregate_function(*agg));
                    if let Some(c) = aggregate_cast {
                        expr = cast_to(&expr, c)?;
                    }
                    let name = as_.clone().unwrap_or_else(|| agg.name().to_string());
                    out.push(format!("{expr} AS {}", ident(&name)));
                    continue;
                }
                let name = as_.clone().unwrap_or_else(|| field.output_name());
                out.push(format!("{expr} AS {}", ident(&name)));
            }
            Select::Count { alias: as_, cast: _ } if hoisting => {
                out.push(format!("1 AS {}", ident(as_.as_deref().unwrap_or("count"))));
            }
            Select::Count { alias: as_, cast } => {
                let mut expr = "pg_catalog.count(*)".to_string();
                if let Some(c) = cast {
                    expr = cast_to(&expr, c)?;
                }
                out.push(format!("{expr} AS {}", ident(as_.as_deref().unwrap_or("count"))));
            }
        }
    }
    Ok(out.join(", "))
}

/// `*`: every column, each formatted by its domain representation when it has one.
pub(super) fn star(alias: &str, shape: &Shape) -> String {
    if shape.star.is_empty() || shape.output == RepOutput::None {
        return format!("{alias}.*");
    }
    let cols: Vec<String> = shape
        .star
        .iter()
        .map(|c| match c.output_function(shape.output) {
            Some(f) => format!("{}({alias}.{col}) AS {col}", function_name(f), col = ident(&c.field.name)),
            None => format!("{alias}.{}", ident(&c.field.name)),
        })
        .collect();
    cols.join(", ")
}

/// With aggregates, the plain columns (and the other columns of spreads and embeds) form
/// the GROUP BY.
pub(super) fn group_by(alias: &str, items: &[Select], extra: &[String]) -> String {
    let mut cols: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            Select::Field { column, aggregate: None, .. } if column.field.json_path.is_empty() => {
                Some(format!("{alias}.{}", ident(&column.field.name)))
            }
            _ => None,
        })
        .collect();
    cols.extend(extra.iter().cloned());
    if cols.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", cols.join(", "))
    }
}

pub(super) fn where_clause(sql: &mut Sql, alias: &str, shape: &Shape) -> Result<String, Error> {
    let mut conds = Vec::new();
    for f in &shape.filters {
        conds.push(filter_expr(sql, alias, f));
    }
    for tree in &shape.logic {
        conds.push(logic_expr(sql, alias, tree, EmbedTests::NONE));
    }
    Ok(where_text(&conds))
}

/// ` WHERE a AND b`, or nothing without conditions.
fn where_text(conds: &[String]) -> String {
    let mut out = String::new();
    for (i, c) in conds.iter().enumerate() {
        out.push_str(if i == 0 { " WHERE " } else { " AND " });
        out.push_str(c);
    }
    out
}

/// The embeds of a level that `embed=is.null` / `embed=not.is.null` can test for rows: joined
/// laterals (alias, lateral alias, to-one), or (counting) EXISTS tests.
#[derive(Clone, Copy)]
pub(super) struct EmbedTests<'a> {
    laterals: &'a [(String, String, bool)],
    exists: &'a [(String, String)],
}

impl EmbedTests<'_> {
    const NONE: EmbedTests<'static> = EmbedTests { laterals: &[], exists: &[] };

    /// Whether `embed` found rows (`not_null`) or none.
    pub(super) fn test(&self, embed: &str, not_null: bool) -> Option<String> {
        if let Some((_, test)) = self.exists.iter().find(|(a, _)| a == embed) {
            return Some(if not_null { test.clone() } else { format!("NOT {test}") });
        }
        let (_, lat, to_one) = self.laterals.iter().find(|(a, _, _)| a == embed)?;
        let expr = if *to_one { format!("row_to_json({lat}.*)") } else { format!("{lat}.pgrst_agg") };
        Some(format!("{expr} IS {}NULL", if not_null { "NOT " } else { "" }))
    }
}

/// The embed a logic-tree condition tests for rows (`or=(embed.not.is.null,…)`), if any.
pub(super) fn embed_test(f: &Condition) -> Option<&str> {
    let is_null = matches!(f.operation, Operation::Is(IsValue::Null)) && f.column.field.json_path.is_empty();
    is_null.then_some(f.column.field.name.as_str())
}

/// Whether a logic tree tests embed `alias` for rows.
pub(super) fn tests_embed(tree: &Logic, alias: &str) -> bool {
    match tree {
        Logic::Stmt(f) => embed_test(f) == Some(alias),
        Logic::Expr { children, .. } => children.iter().any(|c| tests_embed(c, alias)),
    }
}

/// `or=(…)`/`and=(…)`; `tests`: the embeds of this level, which `embed.is.null` tests.
pub(super) fn logic_expr(sql: &mut Sql, alias: &str, tree: &Logic, tests: EmbedTests) -> String {
    match tree {
        Logic::Stmt(f) => match embed_test(f).and_then(|e| tests.test(e, f.negated)) {
            Some(expr) => expr,
            None => filter_expr(sql, alias, f),
        },
        Logic::Expr { negated, or, children } => {
            let parts: Vec<String> = children.iter().map(|c| logic_expr(sql, alias, c, tests)).collect();
            let joined = format!("({})", parts.join(if *or { " OR " } else { " AND " }));
            if *negated {
                format!("NOT {joined}")
            } else {
                joined
            }
        }
    }
}

pub(super) fn filter_expr(sql: &mut Sql, alias: &str, f: &Condition) -> String {
    use crate::api_request::CmpOp;
    let col = field_expr(sql, alias, &f.column);
    // A domain representation parses the query string's values (text) of comparisons.
    let parser = Some(&f.column)
        .filter(|column| column.field.json_path.is_empty())
        .and_then(|column| column.text_parser().map(function_name));
    // The parsed elements of a bound array literal.
    let parsed_array =
        |p: &Placeholder, parser: &str| format!("ARRAY(SELECT {parser}(pgrst_v) FROM unnest({p}::text[]) pgrst_v)");
    let expr = match &f.operation {
        Operation::Compare { op, quantifier, value } => {
            let value = match op {
                CmpOp::Like | CmpOp::Ilike => value.replace('*', "%"),
                _ => value.clone(),
            };
            let comparison = matches!(
                op,
                CmpOp::Eq | CmpOp::Neq | CmpOp::Gt | CmpOp::Gte | CmpOp::Lt | CmpOp::Lte | CmpOp::IsDistinct
            );
            let parser = parser.filter(|_| comparison);
            match (quantifier, parser) {
                (None, None) => format!("{col} {} {}", cmp_operator(*op), sql.bind(value)),
                (None, Some(parser)) => format!("{col} {} {parser}({}::text)", cmp_operator(*op), sql.bind(value)),
                (Some(q), parser) => {
                    let q = quantifier_keyword(*q);
                    let p = sql.bind(value);
                    match parser {
                        Some(parser) => format!("{col} {} {q}({})", cmp_operator(*op), parsed_array(&p, &parser)),
                        None => format!("{col} {} {q}({p})", cmp_operator(*op)),
                    }
                }
            }
        }
        Operation::In(values) => {
            let literal = array_literal(values);
            let p = sql.bind(literal);
            match parser {
                Some(parser) => format!("{col} = ANY({})", parsed_array(&p, &parser)),
                None => format!("{col} = ANY({p})"),
            }
        }
        Operation::Is(v) => {
            format!("{col} IS {}", is_value(*v))
        }
        Operation::Fts { op, language, value } => {
            // Text and JSON columns are searched through to_tsvector, in the query's language.
            let wrap = f.column.facts.tsvector_wrap;
            match language {
                Some(lang) => {
                    let l = sql.bind(lang.clone());
                    let v = sql.bind(value.clone());
                    let col = if wrap { format!("to_tsvector({l}::regconfig, {col})") } else { col };
                    format!("{col} @@ {}({l}::regconfig, {v})", fts_function(*op))
                }
                None => {
                    let col = if wrap { format!("to_tsvector({col})") } else { col };
                    format!("{col} @@ {}({})", fts_function(*op), sql.bind(value.clone()))
                }
            }
        }
    };
    if f.negated {
        format!("NOT {expr}")
    } else {
        expr
    }
}

pub(super) fn order_clause(
    sql: &mut Sql,
    alias: &str,
    shape: &Shape,
    laterals: &[(String, String, bool)],
) -> Result<String, Error> {
    if shape.order.is_empty() {
        return Ok(String::new());
    }
    let mut terms = Vec::new();
    for t in &shape.order {
        let mut term = match &t.target {
            OrderBy::Column(c) => field_expr(sql, alias, c),
            OrderBy::Related { relation, column } => match laterals.iter().find(|(a, _, _)| a == relation) {
                Some((_, lat, true)) => field_expr(sql, lat, column),
                Some((_, _, false)) => {
                    return Err(Error::RelatedOrder {
                        relation: relation.clone(),
                        details: format!(
                            "'{}' and '{relation}' do not form a many-to-one or one-to-one relationship",
                            alias.trim_matches('"')
                        ),
                    })
                }
                None => return Err(Error::NotEmbedded { name: relation.clone(), alias: None }),
            },
        };
        match t.descending {
            Some(true) => term.push_str(" DESC"),
            Some(false) => term.push_str(" ASC"),
            None => {}
        }
        match t.nulls_first {
            Some(true) => term.push_str(" NULLS FIRST"),
            Some(false) => term.push_str(" NULLS LAST"),
            None => {}
        }
        terms.push(term);
    }
    Ok(format!(" ORDER BY {}", terms.join(", ")))
}

/// LIMIT is an integer we parsed ourselves, written inline: a bound limit leaves the planner
/// guessing in a generic plan (and picking a scan for 10% of the table where an index serves
/// 20 rows). OFFSET stays bound, so paging through a table reuses one prepared statement.
pub(super) fn limit_clause(sql: &mut Sql, shape: &Shape) -> String {
    let mut out = String::new();
    if let Some(l) = shape.limit {
        out.push_str(&format!(" LIMIT {l}"));
    }
    if let Some(o) = shape.offset {
        out.push_str(&format!(" OFFSET {}::bigint", sql.bind(o.to_string())));
    }
    out
}
