//! Views: which view columns show which table columns, read from the view's `_RETURN` rule
//! query tree (`pg_rewrite.ev_action`, PostgreSQL's node-tree text), and the foreign and primary
//! keys that makes a view take part in, as PostgREST sees them.

use super::table::{ForeignKey, QualifiedName, Table};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// A view's `_RETURN` rule query tree (`pg_rewrite.ev_action`).
#[derive(Debug, Deserialize)]
pub(super) struct RawView {
    pub(super) oid: i64,
    pub(super) def: String,
}

/// A primary key: its table and column numbers, in key order.
#[derive(Debug, Deserialize)]
pub(super) struct RawKey {
    pub(super) oid: i64,
    pub(super) nums: Vec<i64>,
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

/// Per exposed view: (view column, table oid, table column), in the view's column order.
type Shown = Vec<(String, i64, i64)>;

/// Per table oid, the views showing any of its columns (in the views' order).
type Showing<'a> = HashMap<i64, Vec<(&'a QualifiedName, &'a Shown)>>;

/// Foreign keys as seen through views, as PostgREST sees them: every view column that is a
/// plain reference to a table column (through views of views, also views of the extra search
/// path) stands for that column, so each foreign key is repeated with a view in the table's
/// place, on either side, once for every way the view names the key's columns (it may show a
/// column several times). A view also gets the primary keys of the tables it shows whole.
pub(super) fn through_views(
    tables: &mut HashMap<QualifiedName, Table>,
    fks: &[ForeignKey],
    views: &HashMap<i64, Vec<ViewColumn>>,
    pks: &HashMap<i64, Vec<i64>>,
) -> Vec<ForeignKey> {
    let shown = shown_columns(tables, views);
    for (view, cols) in &shown {
        let pk = shown_primary_key(cols, pks);
        if let Some(t) = tables.get_mut(view) {
            if !pk.is_empty() && t.pk.is_empty() {
                t.uniques.push(pk.clone());
                t.pk = pk;
            }
        }
    }
    let tables = &*tables;
    // A foreign key looks only at the views showing its tables, not at every view.
    let mut showing: Showing = HashMap::new();
    for (view, cols) in &shown {
        for table in tables_shown(cols) {
            showing.entry(table).or_default().push((view, cols));
        }
    }
    let mut out = Vec::new();
    for fk in fks {
        let source = QualifiedName::new(&fk.schema, &fk.table);
        let target = QualifiedName::new(&fk.foreign_schema, &fk.foreign_table);
        let targets = exposing(tables, &showing, target, fk.foreign_table_oid, &fk.foreign_column_nums);
        for (src, src_cols) in exposing(tables, &showing, source, fk.table_oid, &fk.column_nums) {
            for (dst, dst_cols) in &targets {
                let mut f = fk.clone();
                // The table itself comes with no column names of its own (a view, with those
                // it shows the key's columns under).
                f.source_holds_key = src_cols.is_empty();
                f.schema = src.schema.to_string();
                f.table = src.name.to_string();
                if !src_cols.is_empty() {
                    f.columns = src_cols.clone();
                }
                f.foreign_schema = dst.schema.to_string();
                f.foreign_table = dst.name.to_string();
                if !dst_cols.is_empty() {
                    f.foreign_columns = dst_cols.clone();
                }
                out.push(f);
            }
        }
    }
    out
}

/// Each exposed view's columns traced to the table columns they stand for (through views of
/// views), by the names the view gives them.
fn shown_columns(
    tables: &HashMap<QualifiedName, Table>,
    views: &HashMap<i64, Vec<ViewColumn>>,
) -> BTreeMap<QualifiedName, Shown> {
    // The column of a relation that is not a known view, a view column stands for.
    let origin = |mut table: i64, mut column: i64| -> Option<(i64, i64)> {
        for _ in 0..64 {
            let Some(cols) = views.get(&table) else { return Some((table, column)) };
            let c = cols.iter().find(|c| c.num == column)?;
            (table, column) = (c.table, c.column);
        }
        None
    };
    let mut shown = BTreeMap::new();
    for (key, t) in tables {
        let Some(cols) = views.get(&t.oid) else { continue };
        let mapped = cols.iter().filter_map(|c| {
            let (table, column) = origin(c.table, c.column)?;
            let name = t
                .columns
                .iter()
                .find(|x| i64::from(x.num) == c.num)
                .map_or_else(|| c.name.clone(), |x| x.name.to_string());
            Some((name, table, column))
        });
        shown.insert(key.clone(), mapped.collect());
    }
    shown
}

/// The tables a view shows columns of, in the order it first shows them.
fn tables_shown(cols: &Shown) -> Vec<i64> {
    let mut tables: Vec<i64> = Vec::new();
    for (_, table, _) in cols {
        if !tables.contains(table) {
            tables.push(*table);
        }
    }
    tables
}

/// The primary keys a view shows whole (the first view column for a column shown twice), in
/// the order of [`tables_shown`].
fn shown_primary_key(cols: &Shown, pks: &HashMap<i64, Vec<i64>>) -> Vec<String> {
    let mut pk = Vec::new();
    for table in tables_shown(cols) {
        let Some(nums) = pks.get(&table) else { continue };
        let names: Option<Vec<String>> = nums
            .iter()
            .map(|n| cols.iter().find(|(_, t, c)| *t == table && c == n).map(|(v, _, _)| v.clone()))
            .collect();
        pk.extend(names.unwrap_or_default());
    }
    pk
}

/// Each exposed relation showing columns `nums` of table `oid` (`own` is that table's name),
/// with the names it gives them (empty: the table itself), once per way of naming them.
fn exposing(
    tables: &HashMap<QualifiedName, Table>,
    showing: &Showing,
    own: QualifiedName,
    oid: i64,
    nums: &[i64],
) -> Vec<(QualifiedName, Vec<String>)> {
    let mut out = Vec::new();
    if tables.contains_key(&own) {
        out.push((own, vec![]));
    }
    let views = showing.get(&oid).map(Vec::as_slice).unwrap_or(&[]);
    for &(view, cols) in views.iter().filter(|_| !nums.is_empty()) {
        let mut combos: Vec<Vec<String>> = vec![vec![]];
        for n in nums {
            let names: Vec<&String> = cols.iter().filter(|(_, t, c)| *t == oid && c == n).map(|(v, _, _)| v).collect();
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
}

#[cfg(test)]
mod tests {
    use super::{view_columns, ViewColumn};
    use crate::schema_cache::{CacheBuilder, Cardinality, SchemaCache, SECTIONS};
    use std::sync::Arc;

    #[test]
    fn traces_view_columns_to_base_columns() {
        // Abridged pg_rewrite.ev_action of `create view v1 as select id as vid, name, (select 1) as x from t1`.
        let def = r#"({QUERY :commandType 1 :rtable ({RANGETBLENTRY :eref {ALIAS :aliasname t1 :colnames ("id" "na}me")} :relid 16384}) :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 1} :resno 1 :resname vid :ressortgroupref 0 :resorigtbl 16384 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 2} :resno 2 :resname my\ name :ressortgroupref 0 :resorigtbl 16384 :resorigcol 2 :resjunk false} {TARGETENTRY :expr {SUBLINK :subselect {QUERY :targetList ({TARGETENTRY :expr {CONST} :resno 1 :resname ?column? :resorigtbl 0 :resorigcol 0 :resjunk false})}} :resno 3 :resname x :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0})"#;
        let col = |num, name: &str, column| ViewColumn { num, name: name.into(), table: 16384, column };
        assert_eq!(view_columns(def), vec![col(1, "vid", 1), col(2, "my name", 2)]);
    }

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
        // The same, row by row as the catalog query streams them, in another order.
        let mut builder = CacheBuilder::default();
        for section in SECTIONS.iter().rev() {
            for row in json[*section].as_array().into_iter().flatten().rev() {
                builder.add(section, &row.to_string()).expect("row");
            }
        }
        let (streamed, _) = builder.finish();
        let rels = |c: &SchemaCache, name: &str| -> Vec<String> {
            c.relationships_from("api", name).iter().map(|r| format!("{:?} {:?}", r.cardinality, r.columns)).collect()
        };
        for name in ["v1", "v2"] {
            assert_eq!(rels(&streamed, name), rels(&cache, name));
        }
        // v1 shows t1's whole primary key.
        assert_eq!(cache.table("api", "v1").map(|t| t.pk.clone()), Some(vec!["id".to_string()]));
        let owned = |cols: &[(Arc<str>, Arc<str>)]| -> Vec<(String, String)> {
            cols.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
        };
        let rels: Vec<(Cardinality, Vec<(String, String)>)> =
            cache.relationships_from("api", "v2").iter().map(|r| (r.cardinality, owned(&r.columns))).collect();
        let pair = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
        assert_eq!(rels, [(Cardinality::ManyToOne, pair("a1", "id")), (Cardinality::ManyToOne, pair("a2", "id"))]);
        // From v1: the two one-to-many relationships, ordered by their columns.
        let rels: Vec<Vec<(String, String)>> =
            cache.relationships_from("api", "v1").iter().map(|r| owned(&r.columns)).collect();
        assert_eq!(rels, [pair("id", "a1"), pair("id", "a2")]);
    }
}
