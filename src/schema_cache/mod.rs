//! The schema cache: what the exposed schemas contain (tables, views, columns, keys, foreign
//! keys, functions), loaded once at start-up and on reload, never per request.
//!
//! In charge of: [`CATALOG_QUERIES`] (`catalog/*.sql`), two SQL statements that return the
//! whole description as rows of JSON, one per object, tagged with their section; [`CacheBuilder`],
//! which decodes them as they stream in (and [`SchemaCache::from_json`], the same from one
//! document holding every section); and the lookups the plan stage resolves names with. `db` runs the query; this module does
//! no I/O. The parts live beside it: [`table`] (relations and their columns), [`routine`]
//! (functions), [`relationship`] (what can be embedded in what) and [`view`] (view columns
//! traced to the table columns they show).

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod relationship;
pub mod routine;
pub mod table;
pub mod view;

pub use relationship::{Cardinality, Junction, Relationship};
pub use routine::{Param, ReturnShape, Routine, Volatility};
pub use table::{Column, DataRep, ForeignKey, MediaHandler, QualifiedName, RelKind, RepFunction, Table};
pub use view::{view_columns, ViewColumn};

use relationship::{computed_relationships, relationships};
use routine::RawRoutine;
use table::intern;
use view::{through_views, RawKey, RawView};

/// The catalog, in two statements meant to run in one snapshot: the relations with their
/// columns and keys (`$1`: the exposed schemas), and the rest (`$1`, and `$2`: the extra
/// search path; both text[]). Each returns rows of (section, JSON text of one object): the
/// sections are the fields of [`SECTIONS`], in any order.
pub const CATALOG_QUERIES: [&str; 2] = [include_str!("catalog/relations.sql"), include_str!("catalog/objects.sql")];

#[derive(Debug, Deserialize)]
struct SchemaInfo {
    name: String,
    description: Option<String>,
}

/// The sections of the catalog, as [`CATALOG_QUERIES`] tags its rows and as the document of
/// [`SchemaCache::from_json`] names its fields.
pub const SECTIONS: [&str; 7] =
    ["schemas", "tables", "views", "primary_keys", "foreign_keys", "media_handlers", "routines"];

#[derive(Debug, Default, Deserialize)]
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

/// How long each phase of a load took, in order (logged at debug level by whoever loads the
/// cache: operators see where a slow load goes).
#[derive(Debug, Default)]
pub struct LoadPhases(pub Vec<(&'static str, Duration)>);

impl std::fmt::Display for LoadPhases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, took)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {:.1} ms", took.as_secs_f64() * 1000.0)?;
        }
        Ok(())
    }
}

/// Builds a [`SchemaCache`] from the rows of [`CATALOG_QUERIES`], decoding each as it comes.
/// What can be done with one object alone is done as it arrives, while the query still runs
/// (relations into their map with their columns in order, view definitions traced, functions
/// grouped by name); what needs them all waits for [`CacheBuilder::finish`].
#[derive(Debug, Default)]
pub struct CacheBuilder {
    schemas: Vec<SchemaInfo>,
    tables: HashMap<QualifiedName, Table>,
    routines: HashMap<QualifiedName, Vec<Routine>>,
    views: HashMap<i64, Vec<ViewColumn>>,
    primary_keys: HashMap<i64, Vec<i64>>,
    foreign_keys: Vec<ForeignKey>,
    media_handlers: Vec<MediaHandler>,
    /// The lists of roles that may use a relation or function, one of each (most are alike).
    roles: HashSet<Arc<[String]>>,
    phases: LoadPhases,
}

impl CacheBuilder {
    /// Decodes one row: the JSON text of one object of `section`.
    pub fn add(&mut self, section: &str, json: &str) -> Result<(), serde_json::Error> {
        match section {
            "schemas" => self.schemas.push(serde_json::from_str(json)?),
            "tables" => self.add_table(serde_json::from_str(json)?),
            "views" => self.add_view(serde_json::from_str(json)?),
            "primary_keys" => self.add_key(serde_json::from_str(json)?),
            "foreign_keys" => self.foreign_keys.push(serde_json::from_str(json)?),
            "media_handlers" => self.media_handlers.push(serde_json::from_str(json)?),
            "routines" => self.add_routine(serde_json::from_str(json)?),
            _ => {}
        }
        Ok(())
    }

    fn add_table(&mut self, mut t: Table) {
        // The catalog lists them in any order (a stable sort: decoded documents without
        // `num` keep theirs).
        t.columns.sort_by_key(|c| c.num);
        t.columns.shrink_to_fit();
        t.usable_by = t.usable_by.map(|roles| intern(&mut self.roles, &roles, || roles.clone()));
        self.tables.insert(QualifiedName { schema: t.schema.clone(), name: t.name.clone() }, t);
    }

    fn add_view(&mut self, v: RawView) {
        self.views.insert(v.oid, view_columns(&v.def));
    }

    fn add_key(&mut self, k: RawKey) {
        self.primary_keys.insert(k.oid, k.nums);
    }

    fn add_routine(&mut self, r: RawRoutine) {
        let mut r = Routine::from_raw(r);
        r.usable_by = r.usable_by.map(|roles| intern(&mut self.roles, &roles, || roles.clone()));
        self.routines.entry(QualifiedName::new(&r.schema, &r.name)).or_default().push(r);
    }

    /// Notes how long the rows took to come (the first phase of [`LoadPhases`]).
    pub fn rows_took(&mut self, took: Duration) {
        self.phases.0.push(("rows (query and decode)", took));
    }

    /// The cache, with how long each phase of its making took.
    pub fn finish(self) -> (SchemaCache, LoadPhases) {
        let CacheBuilder {
            schemas,
            mut tables,
            mut routines,
            views,
            primary_keys,
            mut foreign_keys,
            mut media_handlers,
            roles: _,
            mut phases,
        } = self;
        let mut clock = Instant::now();
        let mut lap = |phases: &mut LoadPhases, name: &'static str| {
            let now = Instant::now();
            phases.0.push((name, now - clock));
            clock = now;
        };
        // Rows come in any order: foreign keys and media handlers in the order PostgreSQL
        // sorts their names (byte order: `name` is in the C collation), as they were listed.
        foreign_keys.sort_by(|a, b| (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name)));
        media_handlers.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        let fks = through_views(&mut tables, &foreign_keys, &views, &primary_keys);
        drop((views, primary_keys));
        lap(&mut phases, "keys through views");
        let mut relationships = relationships(&tables, &fks);
        drop(fks);
        computed_relationships(&tables, &routines, &mut relationships);
        // Lists built by pushing keep room for more (at least four entries: most relations
        // have one or two relationships, most names one function), and decoded lists grow by
        // doubling: a third of the cache at 10,000 tables was spare room.
        for rels in relationships.values_mut() {
            rels.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            rels.shrink_to_fit();
        }
        relationships.shrink_to_fit();
        let foreign_key_count = foreign_keys.len();
        drop(foreign_keys);
        lap(&mut phases, "relationships");
        for overloads in routines.values_mut() {
            overloads.shrink_to_fit();
        }
        routines.shrink_to_fit();
        tables.shrink_to_fit();
        let schema_descriptions = schemas.into_iter().filter_map(|s| s.description.map(|d| (s.name, d))).collect();
        let cache =
            SchemaCache { tables, foreign_key_count, routines, relationships, schema_descriptions, media_handlers };
        (cache, phases)
    }
}

/// Everything the plan stage needs to know about the exposed schemas.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub tables: HashMap<QualifiedName, Table>,
    /// The tables' foreign keys, counted (they live on as [`Relationship`]s).
    pub foreign_key_count: usize,
    pub routines: HashMap<QualifiedName, Vec<Routine>>,
    /// Relationships by source table.
    pub relationships: HashMap<QualifiedName, Vec<Relationship>>,
    /// COMMENT ON SCHEMA of the exposed schemas that have one.
    pub schema_descriptions: HashMap<String, String>,
    pub media_handlers: Vec<MediaHandler>,
}

impl SchemaCache {
    /// Decodes a document holding every section of the catalog as an array (the rows of
    /// [`CATALOG_QUERIES`] gathered by section: what the admin server's `/schema_cache` shows).
    pub fn from_json(text: &str) -> Result<SchemaCache, serde_json::Error> {
        let raw: RawCache = serde_json::from_str(text)?;
        let mut builder = CacheBuilder { schemas: raw.schemas, ..CacheBuilder::default() };
        raw.tables.into_iter().for_each(|t| builder.add_table(t));
        raw.views.into_iter().for_each(|v| builder.add_view(v));
        raw.primary_keys.into_iter().for_each(|k| builder.add_key(k));
        raw.routines.into_iter().for_each(|r| builder.add_routine(r));
        builder.foreign_keys = raw.foreign_keys;
        builder.media_handlers = raw.media_handlers;
        Ok(builder.finish().0)
    }

    pub fn relationships_from(&self, schema: &str, name: &str) -> &[Relationship] {
        self.relationships.get(&QualifiedName::new(schema, name)).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.get(&QualifiedName::new(schema, name))
    }

    /// The handler rendering `relation`'s rows as `media`: one for that relation, else one for
    /// any rows.
    pub fn media_handler(&self, media: &str, relation: Option<&QualifiedName>) -> Option<&MediaHandler> {
        let candidates = || self.media_handlers.iter().filter(move |h| h.media == media);
        candidates()
            .find(|h| h.input.as_ref() == relation && relation.is_some())
            .or_else(|| candidates().find(|h| h.input.is_none()))
    }

    pub fn routines(&self, schema: &str, name: &str) -> &[Routine] {
        self.routines.get(&QualifiedName::new(schema, name)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A table of `schema` whose name is close to `name` (for PostgREST's "Perhaps you meant"),
    /// among those `role` may use.
    pub fn similar_table(&self, schema: &str, name: &str, role: &str) -> Option<String> {
        let mut names: Vec<&str> = self
            .tables
            .iter()
            .filter(|(k, t)| *k.schema == *schema && t.usable_by(role))
            .map(|(k, _)| &*k.name)
            .collect();
        // A fixed order, so that equally close names always give the same hint.
        names.sort_unstable();
        crate::fuzzy::closest_scoring(&names, name, crate::fuzzy::NAME_SCORE).map(str::to_string)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} Relations, {} Relationships, {} Functions",
            self.tables.len(),
            self.foreign_key_count,
            self.routines.values().map(Vec::len).sum::<usize>()
        )
    }
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
        assert_eq!(cache.similar_table("todo", "taks", "anon"), Some("tasks".into()));
    }

    /// The records stay small at 10,000 tables because names are shared, not copied: a
    /// relation's name with its key and its relationships, a key's name and columns by its two
    /// relationships, a list of roles by every relation that has the same.
    #[test]
    fn relationships_and_relations_share_their_names() {
        let column = |name: &str| format!(r#"["{name}", 1, "integer", false, null, false, null, null, null, null]"#);
        let table = |name: &str| {
            format!(
                r#"{{"schema":"api","name":"{name}","kind":"r","description":null,"columns":[{}],"pk_nums":[1],"unique_nums":[[1]],"usable_by":["anon"]}}"#,
                column("id")
            )
        };
        let mut builder = CacheBuilder::default();
        for name in ["a", "b"] {
            builder.add("tables", &table(name)).expect("table");
        }
        let fk = r#"{"name":"b_id_fkey","schema":"api","table":"b","columns":["id"],"foreign_schema":"api",
            "foreign_table":"a","foreign_columns":["id"],"one_to_one":false}"#;
        builder.add("foreign_keys", fk).expect("foreign key");
        let (cache, _) = builder.finish();
        let (key, a) = cache.tables.get_key_value(&QualifiedName::new("api", "a")).expect("a");
        assert!(Arc::ptr_eq(&key.name, &a.name) && Arc::ptr_eq(&key.schema, &a.schema));
        let b = cache.table("api", "b").expect("b");
        assert!(Arc::ptr_eq(a.usable_by.as_ref().expect("roles"), b.usable_by.as_ref().expect("roles")));
        let [from_a] = cache.relationships_from("api", "a") else { panic!("one relationship from a") };
        let [from_b] = cache.relationships_from("api", "b") else { panic!("one relationship from b") };
        assert!(Arc::ptr_eq(&from_a.source.name, &a.name) && Arc::ptr_eq(&from_b.target.name, &a.name));
        assert!(Arc::ptr_eq(&from_a.constraint, &from_b.constraint));
        assert!(Arc::ptr_eq(&from_a.columns[0].0, &from_b.columns[0].1));
    }
}
