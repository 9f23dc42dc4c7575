//! The schema cache: what the exposed schemas contain (tables, views, columns, keys, foreign
//! keys, functions), loaded once at start-up and on reload, never per request.
//!
//! [`CATALOG_QUERY`] is one SQL statement that builds the whole description as one JSON
//! document inside PostgreSQL; [`SchemaCache::from_json`] decodes it. `db` runs the query;
//! this module does no I/O. The plan stage resolves names against the cache.

use serde::Deserialize;
use std::collections::HashMap;

/// `$1`: the exposed schemas, `$2`: the extra search path (text[]). Returns one row with one json
/// column.
pub const CATALOG_QUERY: &str = r#"
SELECT json_build_object(
  'schemas', (
    SELECT coalesce(json_agg(json_build_object('name', n.nspname, 'description', obj_description(n.oid, 'pg_namespace'))), '[]')
    FROM pg_namespace n WHERE n.nspname = ANY ($1::text[])
  ),
  'tables', (
    SELECT coalesce(json_agg(t), '[]') FROM (
      SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
        c.oid::int8 AS oid,
        obj_description(c.oid, 'pg_class') AS description,
        c.relispartition AS is_partition,
        c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8)
          OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 69) = 69) AS insertable,
        c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4)
          OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 81) = 81) AS updatable,
        c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16)
          OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND (t.tgtype::int & 73) = 73) AS deletable,
        coalesce(cols.columns, '[]') AS columns,
        coalesce((
          SELECT json_agg(a.attname ORDER BY array_position(con.conkey, a.attnum))
          FROM pg_constraint con
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
          WHERE con.conrelid = c.oid AND con.contype = 'p'), '[]') AS pk,
        coalesce((
          SELECT json_agg((SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a
                           WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)))
          FROM pg_constraint con
          WHERE con.conrelid = c.oid AND con.contype IN ('p', 'u')), '[]') AS uniques
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      -- Every column of the exposed relations in one pass (not a subquery per relation).
      LEFT JOIN (
        SELECT a.attrelid,
          json_agg(json_build_object(
              'name', a.attname,
              'num', a.attnum,
              'type', format_type(a.atttypid, a.atttypmod),
              'nullable', NOT a.attnotnull,
              -- What a missing value becomes: the column's default, else its domain's; an
              -- identity column's next value; none for a generated column.
              'default', CASE
                  WHEN a.attgenerated <> '' THEN NULL
                  WHEN a.attidentity = 'd' THEN (
                    SELECT format('nextval(%L::regclass)', quote_ident(sn.nspname) || '.' || quote_ident(sc.relname))
                    FROM pg_depend dep
                    JOIN pg_class sc ON sc.oid = dep.objid AND sc.relkind = 'S'
                    JOIN pg_namespace sn ON sn.oid = sc.relnamespace
                    WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
                      AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
                    LIMIT 1)
                  WHEN d.adbin IS NULL AND ty.typtype = 'd' THEN pg_get_expr(ty.typdefaultbin, 0)
                  ELSE pg_get_expr(d.adbin, d.adrelid)
                END,
              'generated', a.attgenerated <> '' OR a.attidentity = 'a',
              'description', ds.description,
              'enum', en.labels,
              -- A domain's base type, through domains over domains.
              'base_type', CASE WHEN ty.typtype = 'd' THEN (
                WITH RECURSIVE b AS (
                  SELECT bt.oid, bt.typtype, bt.typbasetype, 1 AS depth FROM pg_type bt WHERE bt.oid = ty.typbasetype
                  UNION ALL
                  SELECT bt.oid, bt.typtype, bt.typbasetype, b.depth + 1 FROM pg_type bt
                  JOIN b ON bt.oid = b.typbasetype WHERE b.typtype = 'd' AND b.depth < 32)
                SELECT format_type(b.oid, NULL) FROM b WHERE b.typtype <> 'd' LIMIT 1) END,
              -- Domain representations: the implicit function casts between the column's domain
              -- and json/text (PostgreSQL ignores casts on domains; PostgREST applies them).
              'reps', CASE WHEN ty.typtype = 'd' THEN (
                SELECT json_object_agg(x.k, json_build_array(pn.nspname, pp.proname))
                FROM (SELECT CASE
                         WHEN ca.castsource = ty.oid AND ca.casttarget = 'json'::regtype THEN 'to_json'
                         WHEN ca.castsource = ty.oid AND ca.casttarget = 'text'::regtype THEN 'to_text'
                         WHEN ca.casttarget = ty.oid AND ca.castsource = 'json'::regtype THEN 'from_json'
                         WHEN ca.casttarget = ty.oid AND ca.castsource = 'text'::regtype THEN 'from_text'
                       END AS k, ca.castfunc
                      FROM pg_cast ca
                      WHERE ca.castmethod = 'f' AND ca.castcontext = 'i'
                        AND (ca.castsource = ty.oid OR ca.casttarget = ty.oid)) x
                JOIN pg_proc pp ON pp.oid = x.castfunc
                JOIN pg_namespace pn ON pn.oid = pp.pronamespace
                WHERE x.k IS NOT NULL) END
              ) ORDER BY a.attnum) AS columns
          FROM pg_attribute a
          JOIN pg_type ty ON ty.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_description ds
            ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum
          LEFT JOIN (SELECT e.enumtypid, json_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
                     FROM pg_enum e GROUP BY e.enumtypid) en
            ON en.enumtypid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
          WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (
            SELECT c2.oid FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
            WHERE n2.nspname = ANY ($1::text[]) AND c2.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c2.relispartition)
          GROUP BY a.attrelid
      ) cols ON cols.attrelid = c.oid
      -- Partitions are reached through their partitioned table only.
      WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition
    ) t
  ),
  'views', (
    -- The query trees of the exposed views and of the views they may be built on in the
    -- extra search path, to trace view columns to table columns.
    SELECT coalesce(json_agg(json_build_object('oid', c.oid::int8, 'def', r.ev_action::text)), '[]')
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
    WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY ($1::text[] || $2::text[])
  ),
  'primary_keys', (
    -- Of every table, exposed or not: a view gets the primary key of the tables it shows.
    SELECT coalesce(json_agg(json_build_object('oid', con.conrelid::int8, 'nums', to_json(con.conkey))), '[]')
    FROM pg_constraint con
    JOIN pg_namespace n ON n.oid = con.connamespace
    WHERE con.contype = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  ),
  'foreign_keys', (
    SELECT coalesce(json_agg(f), '[]') FROM (
      SELECT con.conname AS name,
        n1.nspname AS schema, c1.relname AS table,
        (SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns,
        n2.nspname AS foreign_schema, c2.relname AS foreign_table,
        (SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n) AS foreign_columns,
        con.conrelid::int8 AS table_oid, to_json(con.conkey) AS column_nums,
        con.confrelid::int8 AS foreign_table_oid, to_json(con.confkey) AS foreign_column_nums,
        -- Its columns are a primary key or unique constraint of its table: one-to-one.
        EXISTS (SELECT 1 FROM pg_constraint u WHERE u.conrelid = con.conrelid AND u.contype IN ('p', 'u')
                AND u.conkey @> con.conkey AND u.conkey <@ con.conkey) AS one_to_one
      FROM pg_constraint con
      JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace
      JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
      -- All user foreign keys: views in the exposed schemas may sit on tables elsewhere.
      -- Not the copies of a partitioned table's key on its partitions (conparentid).
      WHERE con.contype = 'f' AND n1.nspname NOT IN ('pg_catalog', 'information_schema') AND con.conparentid = 0
      ORDER BY n1.nspname, c1.relname, con.conname
    ) f
  ),
  'media_handlers', (
    SELECT coalesce(json_agg(h), '[]') FROM (
      SELECT n.nspname AS schema, p.proname AS name,
        (SELECT json_build_array(tn.nspname, tc.relname) FROM pg_type it
           JOIN pg_class tc ON tc.oid = it.typrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
           WHERE it.oid = p.proargtypes[0]) AS input,
        rt.typname AS media,
        format_type(CASE WHEN rt.typtype = 'd' THEN rt.typbasetype ELSE rt.oid END, NULL) AS base
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_type rt ON rt.oid = p.prorettype
      WHERE p.prokind = 'a' AND p.pronargs = 1 AND rt.typname LIKE '%/%' AND n.nspname = ANY ($1::text[])
        AND (p.proargtypes[0] = 'anyelement'::regtype
             OR EXISTS (SELECT 1 FROM pg_type it WHERE it.oid = p.proargtypes[0] AND it.typrelid <> 0))
      ORDER BY n.nspname, p.proname
    ) h
  ),
  'routines', (
    SELECT coalesce(json_agg(r), '[]') FROM (
      SELECT n.nspname AS schema, p.proname AS name,
        obj_description(p.oid, 'pg_proc') AS description,
        coalesce(to_json(p.proargnames), '[]') AS arg_names,
        coalesce(to_json(p.proargmodes::text[]), '[]') AS arg_modes,
        (SELECT coalesce(json_agg(format_type(u.t, NULL) ORDER BY u.o), '[]')
           FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(t, o)) AS arg_types,
        p.pronargdefaults AS n_defaults,
        p.proretset AS returns_set,
        format_type(p.prorettype, NULL) AS return_type,
        -- A domain over a row type returns rows of that type.
        CASE WHEN rt.typtype = 'd' AND bt.typtype = 'c' THEN 'c' ELSE rt.typtype::text END AS return_typtype,
        CASE WHEN bt.typrelid <> 0 THEN rn.nspname END AS return_schema,
        CASE WHEN bt.typrelid <> 0 THEN rc.relname END AS return_relation,
        CASE WHEN rt.typtype = 'd' THEN rt.typname END AS return_domain,
        CASE WHEN rt.typtype = 'd' THEN format_type(rt.typbasetype, NULL) END AS return_domain_base,
        p.provolatile::text AS volatility,
        p.provariadic <> 0 AS variadic,
        p.prorows::float8 AS rows,
        coalesce(to_json(p.proconfig), '[]') AS settings,
        -- The relation whose row is the only argument (a computed relationship's source).
        (SELECT json_build_array(an.nspname, ac.relname) FROM pg_type at
           JOIN pg_class ac ON ac.oid = at.typrelid JOIN pg_namespace an ON an.oid = ac.relnamespace
           WHERE p.pronargs = 1 AND at.oid = p.proargtypes[0] AND ac.relkind IN ('r', 'v', 'm', 'f', 'p')) AS arg_relation
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_type rt ON rt.oid = p.prorettype
      -- The return type with its domains (if any) peeled off.
      JOIN pg_type bt ON bt.oid = (
        WITH RECURSIVE d(oid, base) AS (
          SELECT rt.oid, rt.typbasetype
          UNION ALL
          SELECT t.oid, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.base WHERE d.base <> 0
        ) SELECT d.oid FROM d WHERE d.base = 0 LIMIT 1)
      LEFT JOIN pg_class rc ON rc.oid = bt.typrelid
      LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE n.nspname = ANY ($1::text[]) AND p.prokind = 'f'
    ) r
  )
)::text
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    /// pg_attribute.attnum.
    #[serde(default)]
    pub num: i64,
    #[serde(rename = "type")]
    pub type_: String,
    pub nullable: bool,
    /// The value a missing column gets: its default expression, else its domain's default, or
    /// `nextval(…)` of a `GENERATED BY DEFAULT AS IDENTITY` column.
    pub default: Option<String>,
    pub generated: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// The labels of the column's enum type (or of the enum its domain is based on).
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// For a domain: its base type (through domains over domains), e.g. `tsvector`.
    #[serde(default)]
    pub base_type: Option<String>,
    /// For a domain: its representations (casts to and from json and text).
    #[serde(default)]
    pub reps: Option<DataRep>,
}

impl Column {
    /// The type that decides which operators apply: a domain's base type, else the type.
    pub fn base_type(&self) -> &str {
        self.base_type.as_deref().unwrap_or(&self.type_)
    }
}

/// A function (schema, name) of a domain representation.
pub type RepFunction = (String, String);

/// PostgREST's domain representations: the functions of the implicit casts a domain has to
/// `json` (formatting it in JSON responses) and `text` (in CSV), and from `json` (parsing it
/// in request bodies) and `text` (parsing filter values of the query string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DataRep {
    #[serde(default)]
    pub to_json: Option<RepFunction>,
    #[serde(default)]
    pub to_text: Option<RepFunction>,
    #[serde(default)]
    pub from_json: Option<RepFunction>,
    #[serde(default)]
    pub from_text: Option<RepFunction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// pg_class.relkind: r table, v view, m materialized view, f foreign, p partitioned.
    pub kind: String,
    #[serde(default)]
    pub oid: i64,
    pub description: Option<String>,
    #[serde(default)]
    pub is_partition: bool,
    #[serde(default)]
    pub insertable: bool,
    #[serde(default)]
    pub updatable: bool,
    #[serde(default)]
    pub deletable: bool,
    pub columns: Vec<Column>,
    pub pk: Vec<String>,
    /// Column sets of the primary key and unique constraints.
    #[serde(default)]
    pub uniques: Vec<Vec<String>>,
}

impl Table {
    /// Whether `cols` (in any order) is covered by a unique constraint: a foreign key on them
    /// makes a one-to-one relationship.
    pub fn is_unique(&self, cols: &[String]) -> bool {
        self.uniques.iter().any(|u| u.len() == cols.len() && u.iter().all(|c| cols.contains(c)))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub foreign_schema: String,
    pub foreign_table: String,
    pub foreign_columns: Vec<String>,
    #[serde(default)]
    pub table_oid: i64,
    #[serde(default)]
    pub column_nums: Vec<i64>,
    #[serde(default)]
    pub foreign_table_oid: i64,
    #[serde(default)]
    pub foreign_column_nums: Vec<i64>,
    /// Its columns are unique in its table (known from the catalog; else from `uniques`).
    #[serde(default)]
    pub one_to_one: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawRoutine {
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
    volatility: String,
    variadic: bool,
    #[serde(default)]
    rows: f64,
    #[serde(default)]
    arg_relation: Option<(String, String)>,
    /// `ALTER FUNCTION … SET name = value`, as `name=value`.
    #[serde(default)]
    settings: Vec<String>,
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
        relation: Option<(String, String)>,
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
    /// 'i' immutable, 's' stable, 'v' volatile.
    pub volatility: char,
    /// `ROWS n` of a set-returning function (1 makes a computed relationship to-one).
    pub rows: f64,
    pub variadic: bool,
    /// OUT, INOUT and TABLE parameters: (name, type), the columns of the rows it returns.
    pub out_columns: Vec<(String, String)>,
    /// The relation whose row is the only argument, if it is one.
    pub arg_relation: Option<(String, String)>,
    /// Its `SET name = value` clauses (`db-hoisted-tx-settings` names those applied to the
    /// whole transaction).
    pub settings: Vec<(String, String)>,
}

impl Routine {
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

    fn from_raw(r: RawRoutine) -> Routine {
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
            ReturnShape::Composite { relation: r.return_schema.clone().zip(r.return_relation.clone()) }
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
            volatility: r.volatility.chars().next().unwrap_or('v'),
            rows: r.rows,
            variadic: r.variadic,
            out_columns,
            arg_relation: r.arg_relation,
            settings: r
                .settings
                .iter()
                .filter_map(|s| s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct SchemaInfo {
    name: String,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawCache {
    #[serde(default)]
    schemas: Vec<SchemaInfo>,
    tables: Vec<Table>,
    foreign_keys: Vec<ForeignKey>,
    routines: Vec<RawRoutine>,
    #[serde(default)]
    media_handlers: Vec<MediaHandler>,
    #[serde(default)]
    views: Vec<RawView>,
    #[serde(default)]
    primary_keys: Vec<RawKey>,
}

/// A view's `_RETURN` rule query tree (`pg_rewrite.ev_action`).
#[derive(Debug, Deserialize)]
struct RawView {
    oid: i64,
    def: String,
}

/// A primary key: its table and column numbers, in key order.
#[derive(Debug, Deserialize)]
struct RawKey {
    oid: i64,
    nums: Vec<i64>,
}

/// An aggregate returning a domain named after a media type (PostgREST v12+): it renders a
/// relation's rows (or any rows, for `anyelement`) in that media type.
#[derive(Debug, Clone, Deserialize)]
pub struct MediaHandler {
    pub schema: String,
    pub name: String,
    /// The relation whose rows it takes; `None` for `anyelement`.
    pub input: Option<(String, String)>,
    pub media: String,
    /// The domain's base type (`bytea` results are sent as bytes).
    pub base: String,
}

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
    pub source: (String, String),
    pub target: (String, String),
    pub cardinality: Cardinality,
    /// The foreign key's name (for many-to-many: the junction table's).
    pub constraint: String,
    /// (source column, target column) pairs; empty for many-to-many.
    pub columns: Vec<(String, String)>,
    pub junction: Option<Junction>,
    /// A computed relationship: the function (schema, name) taking the source row and
    /// returning the target's rows (SETOF: to-many) or one row (to-one).
    pub function: Option<(String, String)>,
}

impl Relationship {
    /// The order PostgREST keeps relationships in (and lists them in PGRST201): by target,
    /// self-relationships after the others, one-to-many, many-to-one, one-to-one, then
    /// many-to-many, each by constraint (junction) and columns; computed relationships last.
    fn sort_key(&self) -> impl Ord + '_ {
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
            None => self.columns.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
        };
        (self.function.is_some(), &self.target, is_self, rank, names, columns)
    }
}

/// Everything the plan stage needs to know about the exposed schemas.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub tables: HashMap<(String, String), Table>,
    pub foreign_keys: Vec<ForeignKey>,
    pub routines: HashMap<(String, String), Vec<Routine>>,
    /// Relationships by source table.
    pub relationships: HashMap<(String, String), Vec<Relationship>>,
    /// COMMENT ON SCHEMA of the exposed schemas that have one.
    pub schema_descriptions: HashMap<String, String>,
    pub media_handlers: Vec<MediaHandler>,
}

impl SchemaCache {
    /// Decodes the JSON document [`CATALOG_QUERY`] returns.
    pub fn from_json(text: &str) -> Result<SchemaCache, serde_json::Error> {
        let raw: RawCache = serde_json::from_str(text)?;
        let tables = raw.tables.into_iter().map(|t| ((t.schema.clone(), t.name.clone()), t)).collect();
        let mut routines: HashMap<(String, String), Vec<Routine>> = HashMap::new();
        for r in raw.routines {
            let r = Routine::from_raw(r);
            routines.entry((r.schema.clone(), r.name.clone())).or_default().push(r);
        }
        let mut tables = tables;
        let views: HashMap<i64, Vec<ViewColumn>> = raw.views.iter().map(|v| (v.oid, view_columns(&v.def))).collect();
        let pks: HashMap<i64, Vec<i64>> = raw.primary_keys.into_iter().map(|k| (k.oid, k.nums)).collect();
        let fks = through_views(&mut tables, &raw.foreign_keys, &views, &pks);
        let mut relationships = relationships(&tables, &fks);
        computed_relationships(&tables, &routines, &mut relationships);
        for rels in relationships.values_mut() {
            rels.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        }
        let schema_descriptions = raw.schemas.into_iter().filter_map(|s| s.description.map(|d| (s.name, d))).collect();
        Ok(SchemaCache {
            tables,
            foreign_keys: raw.foreign_keys,
            routines,
            relationships,
            schema_descriptions,
            media_handlers: raw.media_handlers,
        })
    }

    pub fn relationships_from(&self, schema: &str, name: &str) -> &[Relationship] {
        self.relationships.get(&(schema.to_string(), name.to_string())).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.get(&(schema.to_string(), name.to_string()))
    }

    /// The handler rendering `relation`'s rows as `media`: one for that relation, else one for
    /// any rows.
    pub fn media_handler(&self, media: &str, relation: Option<(&str, &str)>) -> Option<&MediaHandler> {
        let candidates = || self.media_handlers.iter().filter(move |h| h.media == media);
        candidates()
            .find(|h| h.input.as_ref().map(|(s, t)| (s.as_str(), t.as_str())) == relation && relation.is_some())
            .or_else(|| candidates().find(|h| h.input.is_none()))
    }

    pub fn routines(&self, schema: &str, name: &str) -> &[Routine] {
        self.routines.get(&(schema.to_string(), name.to_string())).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A table of `schema` whose name is close to `name` (for PostgREST's "Perhaps you meant").
    pub fn similar_table(&self, schema: &str, name: &str) -> Option<String> {
        // At least 75% alike.
        closest_name(self.tables.keys().filter(|(s, _)| s == schema).map(|(_, n)| n), name, 4).cloned()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} Relations, {} Relationships, {} Functions",
            self.tables.len(),
            self.foreign_keys.len(),
            self.routines.values().map(Vec::len).sum::<usize>()
        )
    }
}

/// Every relationship the foreign keys give: each key read both ways (many-to-one /
/// one-to-many, or one-to-one when its columns are unique), and each pair of keys of a
/// junction table whose key columns are part of the junction's primary key (many-to-many).
fn relationships(
    tables: &HashMap<(String, String), Table>,
    fks: &[ForeignKey],
) -> HashMap<(String, String), Vec<Relationship>> {
    let mut out: HashMap<(String, String), Vec<Relationship>> = HashMap::new();
    for fk in fks {
        let source = (fk.schema.clone(), fk.table.clone());
        let target = (fk.foreign_schema.clone(), fk.foreign_table.clone());
        let unique = fk.one_to_one.unwrap_or_else(|| tables.get(&source).is_some_and(|t| t.is_unique(&fk.columns)));
        let pairs: Vec<(String, String)> = fk.columns.iter().cloned().zip(fk.foreign_columns.iter().cloned()).collect();
        out.entry(source.clone()).or_default().push(Relationship {
            source: source.clone(),
            target: target.clone(),
            cardinality: if unique { Cardinality::OneToOne } else { Cardinality::ManyToOne },
            constraint: fk.name.clone(),
            columns: pairs.clone(),
            junction: None,
            function: None,
        });
        out.entry(target.clone()).or_default().push(Relationship {
            source: target,
            target: source,
            cardinality: if unique { Cardinality::OneToOne } else { Cardinality::OneToMany },
            constraint: fk.name.clone(),
            columns: pairs.into_iter().map(|(a, b)| (b, a)).collect(),
            junction: None,
            function: None,
        });
    }
    // Many-to-many through junction tables.
    // Sorted, so relationships (and PGRST201's list of them) come out in a stable order.
    let mut junctions: Vec<(&(String, String), &Table)> = tables.iter().collect();
    junctions.sort_by(|a, b| a.0.cmp(b.0));
    let mut fks_of: HashMap<(&str, &str), Vec<&ForeignKey>> = HashMap::new();
    for f in fks {
        fks_of.entry((f.schema.as_str(), f.table.as_str())).or_default().push(f);
    }
    for (jkey, junction) in junctions {
        let Some(jfks) = fks_of.get(&(jkey.0.as_str(), jkey.1.as_str())) else { continue };
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
                let source = (a.foreign_schema.clone(), a.foreign_table.clone());
                let target = (b.foreign_schema.clone(), b.foreign_table.clone());
                out.entry(source.clone()).or_default().push(Relationship {
                    source,
                    target,
                    cardinality: Cardinality::ManyToMany,
                    constraint: junction.name.clone(),
                    columns: vec![],
                    function: None,
                    junction: Some(Junction {
                        schema: junction.schema.clone(),
                        name: junction.name.clone(),
                        source_constraint: a.name.clone(),
                        source_columns: a.columns.iter().cloned().zip(a.foreign_columns.iter().cloned()).collect(),
                        target_constraint: b.name.clone(),
                        target_columns: b.columns.iter().cloned().zip(b.foreign_columns.iter().cloned()).collect(),
                    }),
                });
            }
        }
    }
    out
}

/// A view column that is a plain reference to a column of another relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    /// Its position in the view (the view's attnum) and its name in the query tree.
    pub num: i64,
    pub name: String,
    /// The relation (oid) and column (attnum) it shows.
    pub table: i64,
    pub column: i64,
}

/// The top-level output columns of a view's query tree (`pg_rewrite.ev_action`) that are
/// plain references to a column of a table or view.
pub fn view_columns(def: &str) -> Vec<ViewColumn> {
    let b = def.as_bytes();
    // The outermost query's target list: `:targetList (` inside the top-level `{QUERY …}`.
    let mut depth = 0i32;
    let mut start = None;
    for (i, c) in structure(b, 0) {
        match c {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b':' if depth == 1 && def[i..].starts_with(":targetList (") => {
                start = Some(i + ":targetList (".len());
                break;
            }
            _ => {}
        }
    }
    let Some(start) = start else { return vec![] };
    // Its entries: the `{TARGETENTRY …}` nodes at the list's own level, up to its `)`.
    let mut out = Vec::new();
    let (mut depth, mut entry_start) = (0i32, 0usize);
    for (i, c) in structure(b, start) {
        match c {
            b'{' => {
                if depth == 0 {
                    entry_start = i;
                }
                depth += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    if let Some(col) = target_entry(&def[entry_start..=i]) {
                        out.push(col);
                    }
                }
            }
            b')' if depth == 0 => break,
            _ => {}
        }
    }
    out
}

/// The structural bytes of a node tree from `from` on, with their positions: everything
/// outside double-quoted strings, backslash-escaped characters skipped.
fn structure(s: &[u8], from: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut i, mut in_str) = (from, false);
    std::iter::from_fn(move || {
        while i < s.len() {
            let (at, c) = (i, s[i]);
            i += 1;
            match c {
                b'\\' => i += 1,
                b'"' => in_str = !in_str,
                _ if !in_str => return Some((at, c)),
                _ => {}
            }
        }
        None
    })
}

/// The own fields of a `{TARGETENTRY …}` come after its expression: take their last
/// occurrences.
fn target_entry(entry: &str) -> Option<ViewColumn> {
    let field = |key: &str| -> Option<String> {
        let at = entry.rfind(key)? + key.len();
        let mut out = String::new();
        let mut chars = entry[at..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                ' ' | '}' => break,
                c => out.push(c),
            }
        }
        Some(out)
    };
    if field(":resjunk ")? == "true" {
        return None;
    }
    let table: i64 = field(":resorigtbl ")?.parse().ok()?;
    let column: i64 = field(":resorigcol ")?.parse().ok()?;
    if table == 0 {
        return None;
    }
    Some(ViewColumn { num: field(":resno ")?.parse().ok()?, name: field(":resname ")?, table, column })
}

/// Foreign keys as seen through views, as PostgREST sees them: every view column that is a
/// plain reference to a table column (through views of views, also views of the extra search
/// path) stands for that column, so each foreign key is repeated with a view in the table's
/// place, on either side, once for every way the view names the key's columns (it may show a
/// column several times). A view also gets the primary keys of the tables it shows whole.
fn through_views(
    tables: &mut HashMap<(String, String), Table>,
    fks: &[ForeignKey],
    views: &HashMap<i64, Vec<ViewColumn>>,
    pks: &HashMap<i64, Vec<i64>>,
) -> Vec<ForeignKey> {
    // The column of a relation that is not a known view, a view column stands for.
    let origin = |mut table: i64, mut column: i64| -> Option<(i64, i64)> {
        for _ in 0..64 {
            let Some(cols) = views.get(&table) else { return Some((table, column)) };
            let c = cols.iter().find(|c| c.num == column)?;
            (table, column) = (c.table, c.column);
        }
        None
    };
    // Per exposed view: (view column, table oid, table column), in the view's column order.
    type Shown = Vec<(String, i64, i64)>;
    let mut shown: std::collections::BTreeMap<(String, String), Shown> = Default::default();
    for (key, t) in tables.iter() {
        let Some(cols) = views.get(&t.oid) else { continue };
        let mapped = cols.iter().filter_map(|c| {
            let (table, column) = origin(c.table, c.column)?;
            let name = t.columns.iter().find(|x| x.num == c.num).map_or_else(|| c.name.clone(), |x| x.name.clone());
            Some((name, table, column))
        });
        shown.insert(key.clone(), mapped.collect());
    }
    for (view, cols) in &shown {
        // The primary keys it shows whole (the first view column for a column shown twice),
        // tables in the order the view first shows them.
        let mut shown_tables: Vec<i64> = Vec::new();
        for (_, table, _) in cols {
            if !shown_tables.contains(table) {
                shown_tables.push(*table);
            }
        }
        let mut pk = Vec::new();
        for table in shown_tables {
            let Some(nums) = pks.get(&table) else { continue };
            let names: Option<Vec<String>> = nums
                .iter()
                .map(|n| cols.iter().find(|(_, t, c)| *t == table && c == n).map(|(v, _, _)| v.clone()))
                .collect();
            pk.extend(names.unwrap_or_default());
        }
        if let Some(t) = tables.get_mut(view) {
            if !pk.is_empty() && t.pk.is_empty() {
                t.uniques.push(pk.clone());
                t.pk = pk;
            }
        }
    }
    let tables = &*tables;
    // Per table oid, the views showing any of its columns (in the views' order): a foreign
    // key looks only at those, not at every view.
    type Showing<'a> = Vec<(&'a (String, String), &'a Shown)>;
    let mut showing: HashMap<i64, Showing> = HashMap::new();
    for (view, cols) in &shown {
        let mut seen: Vec<i64> = Vec::new();
        for (_, table, _) in cols {
            if !seen.contains(table) {
                seen.push(*table);
                showing.entry(*table).or_default().push((view, cols));
            }
        }
    }
    // Each exposed relation showing columns `nums` of table `oid`, with the names it gives
    // them (empty: the table itself).
    let exposing = |own: (String, String), oid: i64, nums: &[i64]| -> Vec<((String, String), Vec<String>)> {
        let mut out = Vec::new();
        if tables.contains_key(&own) {
            out.push((own, vec![]));
        }
        let views = showing.get(&oid).map(Vec::as_slice).unwrap_or(&[]);
        for &(view, cols) in views.iter().filter(|_| !nums.is_empty()) {
            let mut combos: Vec<Vec<String>> = vec![vec![]];
            for n in nums {
                let names: Vec<&String> =
                    cols.iter().filter(|(_, t, c)| *t == oid && c == n).map(|(v, _, _)| v).collect();
                combos = combos
                    .iter()
                    .flat_map(|prefix| {
                        names.iter().map(move |name| {
                            let mut p = prefix.clone();
                            p.push((*name).clone());
                            p
                        })
                    })
                    .collect();
            }
            out.extend(combos.into_iter().map(|c| (view.clone(), c)));
        }
        out
    };
    let mut out = Vec::new();
    for fk in fks {
        let source = (fk.schema.clone(), fk.table.clone());
        let target = (fk.foreign_schema.clone(), fk.foreign_table.clone());
        let targets = exposing(target, fk.foreign_table_oid, &fk.foreign_column_nums);
        for (src, src_cols) in exposing(source, fk.table_oid, &fk.column_nums) {
            for (dst, dst_cols) in &targets {
                let mut f = fk.clone();
                f.schema = src.0.clone();
                f.table = src.1.clone();
                if !src_cols.is_empty() {
                    f.columns = src_cols.clone();
                }
                f.foreign_schema = dst.0.clone();
                f.foreign_table = dst.1.clone();
                if !dst_cols.is_empty() {
                    f.foreign_columns = dst_cols.clone();
                }
                out.push(f);
            }
        }
    }
    out
}

/// Functions taking one table's row and returning another table's rows are relationships
/// too (PostgREST's computed relationships), embedded under the function's name.
fn computed_relationships(
    tables: &HashMap<(String, String), Table>,
    routines: &HashMap<(String, String), Vec<Routine>>,
    out: &mut HashMap<(String, String), Vec<Relationship>>,
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
            constraint: r.name.clone(),
            columns: vec![],
            junction: None,
            function: Some((r.schema.clone(), r.name.clone())),
        });
    }
}

/// The name among `names` closest to `name` (by [`distance`]), other than `name` itself, of
/// which at most 1/`part` differs.
pub fn closest_name<'a>(names: impl Iterator<Item = &'a String>, name: &str, part: usize) -> Option<&'a String> {
    names
        .map(|n| (distance(n, name), n))
        .filter(|(d, n)| *d > 0 && *d * part <= n.chars().count().max(name.chars().count()))
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_routines() {
        let json = r#"{"tables":[{"schema":"todo","name":"tasks","kind":"r","description":null,
            "columns":[{"name":"id","type":"integer","nullable":false,"default":"nextval('todo.tasks_id_seq'::regclass)","generated":false}],
            "pk":["id"],"uniques":[["id"]]}],
          "foreign_keys":[],
          "routines":[{"schema":"todo","name":"add","description":null,"arg_names":["a","b","s"],"arg_modes":["i","i","o"],
            "arg_types":["integer","integer","integer"],"n_defaults":1,"returns_set":false,"return_type":"integer",
            "return_typtype":"b","return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
            "volatility":"i","variadic":false}]}"#;
        let cache = SchemaCache::from_json(json).expect("decode");
        let r = &cache.routines("todo", "add")[0];
        assert_eq!(r.params.len(), 2);
        assert!(!r.params[0].has_default && r.params[1].has_default);
        // A single OUT parameter still makes a row ({"s": …}), as in PostgREST.
        assert_eq!(r.shape, ReturnShape::Composite { relation: None });
        assert_eq!(cache.table("todo", "tasks").map(|t| t.pk.clone()), Some(vec!["id".to_string()]));
        assert_eq!(cache.similar_table("todo", "taks"), Some("tasks".into()));
    }
}

#[cfg(test)]
mod view_tests {
    use super::{view_columns, ViewColumn};

    #[test]
    fn traces_view_columns_to_base_columns() {
        // Abridged pg_rewrite.ev_action of `create view v1 as select id as vid, name, (select 1) as x from t1`.
        let def = r#"({QUERY :commandType 1 :rtable ({RANGETBLENTRY :eref {ALIAS :aliasname t1 :colnames ("id" "na}me")} :relid 16384}) :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 1} :resno 1 :resname vid :ressortgroupref 0 :resorigtbl 16384 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 2} :resno 2 :resname my\ name :ressortgroupref 0 :resorigtbl 16384 :resorigcol 2 :resjunk false} {TARGETENTRY :expr {SUBLINK :subselect {QUERY :targetList ({TARGETENTRY :expr {CONST} :resno 1 :resname ?column? :resorigtbl 0 :resorigcol 0 :resjunk false})}} :resno 3 :resname x :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0})"#;
        let col = |num, name: &str, column| ViewColumn { num, name: name.into(), table: 16384, column };
        assert_eq!(view_columns(def), vec![col(1, "vid", 1), col(2, "my name", 2)]);
    }
}

#[cfg(test)]
mod relationship_tests {
    use super::*;

    /// A view's query tree showing `cols` (resno, name, table oid, attnum).
    fn view_def(cols: &[(i64, &str, i64, i64)]) -> String {
        let entries: Vec<String> = cols
            .iter()
            .map(|(n, name, t, c)| {
                format!("{{TARGETENTRY :expr {{VAR}} :resno {n} :resname {name} :resorigtbl {t} :resorigcol {c} :resjunk false}}")
            })
            .collect();
        format!("({{QUERY :commandType 1 :targetList ({}) :override 0}})", entries.join(" "))
    }

    #[test]
    fn views_repeat_keys_for_each_column_name_in_postgrest_order() {
        // t1(id) ← t2(t1_id), in a schema that is not exposed; v1 shows t1, v2 shows t2.t1_id twice.
        let json = serde_json::json!({
            "tables": [
                {"schema": "api", "name": "v1", "kind": "v", "oid": 10, "description": null, "pk": [],
                 "columns": [{"name": "id", "num": 1, "type": "integer", "nullable": true, "default": null, "generated": false}]},
                {"schema": "api", "name": "v2", "kind": "v", "oid": 11, "description": null, "pk": [],
                 "columns": [{"name": "a1", "num": 1, "type": "integer", "nullable": true, "default": null, "generated": false},
                             {"name": "a2", "num": 2, "type": "integer", "nullable": true, "default": null, "generated": false}]}],
            "views": [{"oid": 10, "def": view_def(&[(1, "id", 1, 1)])},
                      {"oid": 11, "def": view_def(&[(1, "a1", 2, 1), (2, "a2", 2, 1)])}],
            "primary_keys": [{"oid": 1, "nums": [1]}],
            "foreign_keys": [{"name": "t2_t1_id_fkey", "schema": "internal", "table": "t2", "columns": ["t1_id"],
                              "foreign_schema": "internal", "foreign_table": "t1", "foreign_columns": ["id"],
                              "table_oid": 2, "column_nums": [1], "foreign_table_oid": 1, "foreign_column_nums": [1],
                              "one_to_one": false}],
            "routines": []
        });
        let cache = SchemaCache::from_json(&json.to_string()).expect("decode");
        // v1 shows t1's whole primary key.
        assert_eq!(cache.table("api", "v1").map(|t| t.pk.clone()), Some(vec!["id".to_string()]));
        let rels: Vec<(Cardinality, Vec<(String, String)>)> =
            cache.relationships_from("api", "v2").iter().map(|r| (r.cardinality, r.columns.clone())).collect();
        let pair = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
        assert_eq!(rels, [(Cardinality::ManyToOne, pair("a1", "id")), (Cardinality::ManyToOne, pair("a2", "id"))]);
        // From v1: the two one-to-many relationships, ordered by their columns.
        let rels: Vec<Vec<(String, String)>> =
            cache.relationships_from("api", "v1").iter().map(|r| r.columns.clone()).collect();
        assert_eq!(rels, [pair("id", "a1"), pair("id", "a2")]);
    }
}
