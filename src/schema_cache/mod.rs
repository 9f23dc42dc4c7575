//! The schema cache: what the exposed schemas contain (tables, views, columns, keys, foreign
//! keys, functions), loaded once at start-up and on reload, never per request.
//!
//! In charge of: [`CATALOG_QUERY`] (`catalog.sql`), one SQL statement that builds the whole
//! description as one JSON document inside PostgreSQL; [`SchemaCache::from_json`], which decodes
//! it; and the lookups the plan stage resolves names with. `db` runs the query; this module does
//! no I/O. The parts live beside it: [`table`] (relations and their columns), [`routine`]
//! (functions), [`relationship`] (what can be embedded in what) and [`view`] (view columns
//! traced to the table columns they show).

use serde::Deserialize;
use std::collections::HashMap;

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
use view::{through_views, RawKey, RawView};

/// `$1`: the exposed schemas, `$2`: the extra search path (text[]). Returns one row with one json
/// column.
pub const CATALOG_QUERY: &str = include_str!("catalog.sql");

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

/// Everything the plan stage needs to know about the exposed schemas.
#[derive(Debug, Default)]
pub struct SchemaCache {
    pub tables: HashMap<QualifiedName, Table>,
    pub foreign_keys: Vec<ForeignKey>,
    pub routines: HashMap<QualifiedName, Vec<Routine>>,
    /// Relationships by source table.
    pub relationships: HashMap<QualifiedName, Vec<Relationship>>,
    /// COMMENT ON SCHEMA of the exposed schemas that have one.
    pub schema_descriptions: HashMap<String, String>,
    pub media_handlers: Vec<MediaHandler>,
}

impl SchemaCache {
    /// Decodes the JSON document [`CATALOG_QUERY`] returns.
    pub fn from_json(text: &str) -> Result<SchemaCache, serde_json::Error> {
        let raw: RawCache = serde_json::from_str(text)?;
        let tables = raw.tables.into_iter().map(|t| (QualifiedName::new(&t.schema, &t.name), t)).collect();
        let mut routines: HashMap<QualifiedName, Vec<Routine>> = HashMap::new();
        for r in raw.routines {
            let r = Routine::from_raw(r);
            routines.entry(QualifiedName::new(&r.schema, &r.name)).or_default().push(r);
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
            .filter(|(k, t)| k.schema == schema && t.usable_by(role))
            .map(|(k, _)| k.name.as_str())
            .collect();
        // A fixed order, so that equally close names always give the same hint.
        names.sort_unstable();
        crate::fuzzy::closest_scoring(&names, name, crate::fuzzy::NAME_SCORE).map(str::to_string)
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
}
