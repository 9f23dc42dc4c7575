//! SQL snapshots: each request of `cases.txt` goes through parse → plan → render against a
//! fixed schema, and the generated statements are compared with one snapshot. No database.

use crate::api_request;
use crate::config::Config;
use crate::http::RawRequest;
use crate::plan;
use crate::schema_cache::SchemaCache;
use std::collections::BTreeMap;

const SCHEMA: &str = r#"{
  "tables": [{"schema":"todo","name":"tasks","kind":"r","description":null,"pk":["id"],"columns":[
    {"name":"id","type":"integer","nullable":false,"default":"nextval('todo.tasks_id_seq'::regclass)","generated":false},
    {"name":"name","type":"text","nullable":false,"default":null,"generated":false},
    {"name":"done","type":"boolean","nullable":false,"default":"false","generated":false},
    {"name":"owner","type":"name","nullable":false,"default":"CURRENT_USER","generated":false},
    {"name":"data","type":"jsonb","nullable":true,"default":null,"generated":false},
    {"name":"list_id","type":"integer","nullable":true,"default":null,"generated":false}]},
   {"schema":"todo","name":"lists","kind":"r","description":null,"pk":["id"],"uniques":[["id"]],"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"title","type":"text","nullable":false,"default":null,"generated":false}]},
   {"schema":"todo","name":"costs","kind":"r","description":null,"pk":["task_id"],"uniques":[["task_id"]],"columns":[
    {"name":"task_id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"amount","type":"numeric","nullable":false,"default":null,"generated":false}]},
   {"schema":"todo","name":"labels","kind":"r","description":null,"pk":["id"],"uniques":[["id"]],"columns":[
    {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
    {"name":"name","type":"text","nullable":true,"default":null,"generated":false},
    {"name":"color","type":"todo.color","nullable":true,"default":null,"generated":false,"base_type":"integer",
     "reps":{"to_json":["todo","json"],"from_json":["todo","color"],"from_text":["todo","color"]}},
    {"name":"seen","type":"todo.isodate","nullable":true,"default":null,"generated":false,
     "base_type":"timestamp with time zone","reps":{"to_json":["todo","json"],"to_text":["todo","text"]}},
    {"name":"words","type":"todo.words","nullable":true,"default":null,"generated":false,"base_type":"tsvector"}]}],
  "foreign_keys": [
    {"name":"tasks_list_id_fkey","schema":"todo","table":"tasks","columns":["list_id"],
     "foreign_schema":"todo","foreign_table":"lists","foreign_columns":["id"]},
    {"name":"costs_task_id_fkey","schema":"todo","table":"costs","columns":["task_id"],
     "foreign_schema":"todo","foreign_table":"tasks","foreign_columns":["id"]}],
  "routines": [
    {"schema":"todo","name":"add","description":null,"arg_names":["a","b"],"arg_modes":[],"arg_types":["integer","integer"],
     "n_defaults":0,"returns_set":false,"return_type":"integer","return_typtype":"b","return_schema":null,"return_relation":null,
     "return_domain":null,"return_domain_base":null,"volatility":"i","variadic":false},
    {"schema":"todo","name":"stats","description":null,"arg_names":["id","val"],"arg_modes":["t","t"],"arg_types":["integer","todo.complex"],
     "n_defaults":0,"returns_set":true,"return_type":"record","return_typtype":"p","return_schema":null,"return_relation":null,
     "return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"todo","name":"list_tasks","description":null,"arg_names":[],"arg_modes":[],"arg_types":[],
     "n_defaults":0,"returns_set":true,"return_type":"todo.tasks","return_typtype":"c","return_schema":"todo","return_relation":"tasks",
     "return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"todo","name":"homepage","description":null,"arg_names":[],"arg_modes":[],"arg_types":[],
     "n_defaults":0,"returns_set":false,"return_type":"text","return_typtype":"b","return_schema":null,"return_relation":null,
     "return_domain":null,"return_domain_base":null,"volatility":"s","variadic":false},
    {"schema":"todo","name":"echo","description":null,"arg_names":[],"arg_modes":[],"arg_types":["json"],
     "n_defaults":0,"returns_set":false,"return_type":"json","return_typtype":"b","return_schema":null,"return_relation":null,
     "return_domain":null,"return_domain_base":null,"volatility":"v","variadic":false},
    {"schema":"todo","name":"nothing","description":null,"arg_names":[],"arg_modes":[],"arg_types":[],
     "n_defaults":0,"returns_set":false,"return_type":"void","return_typtype":"p","return_schema":null,"return_relation":null,
     "return_domain":null,"return_domain_base":null,"volatility":"v","variadic":false}]
}"#;

#[test]
fn sql_cases() {
    let env: BTreeMap<String, String> = [
        ("PGRST_DB_SCHEMAS", "todo"),
        ("PGRST_DB_ANON_ROLE", "web_anon"),
        ("PGRST_RAW_MEDIA_TYPES", "text/html"),
        ("PGRST_DB_AGGREGATES_ENABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_sources(None, &env).expect("config");
    let cache = SchemaCache::from_json(SCHEMA).expect("schema");
    let mut out = String::new();
    for line in include_str!("cases.txt").lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let rendered = api_request::parse(&config, &RawRequest::from_line(line))
            .and_then(|api| plan::plan(&config, &cache, &api))
            .and_then(|p| Ok((super::main_statement(&p)?, super::count_estimate(&p))));
        match rendered {
            Ok((s, estimate)) => {
                out.push_str(&format!("{line}\n  {}\n  params: {:?}\n", s.sql, s.params));
                // count=planned|estimated: the EXPLAIN whose estimate is the total.
                if let Some(e) = estimate {
                    out.push_str(&format!("  estimate: {}\n  params: {:?}\n", e.statement.sql, e.statement.params));
                }
                out.push('\n');
            }
            Err(e) => out.push_str(&format!("{line}\n  error: {}\n\n", e.body(false))),
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn identifiers_are_quoted() {
    assert_eq!(super::ident("tasks"), "\"tasks\"");
    assert_eq!(super::ident("a\"b; drop table x"), "\"a\"\"b; drop table x\"");
}
