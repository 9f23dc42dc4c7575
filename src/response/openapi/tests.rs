//! Unit tests of the OpenAPI document: its top level, paths, definitions, parameters and the
//! type helpers, rendered from schema caches built in the tests.

use super::*;

const SCHEMA: &str = r#"{
  "tables": [
    {"schema":"test","name":"entities","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"]],
     "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
    {"schema":"test","name":"child_entities","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":"child_entities comment",
     "pk":["id"],"uniques":[["id"]],"columns":[
      {"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
      {"name":"name","type":"text","nullable":true,"default":null,"generated":false},
      {"name":"parent_id","type":"integer","nullable":true,"default":null,"generated":false}]},
    {"schema":"test","name":"grandchild_entities","kind":"r","insertable":true,"updatable":true,"deletable":true,
     "description":"grandchild_entities summary\n\ngrandchild_entities description\nthat spans\nmultiple lines",
     "pk":["id"],"uniques":[["id"]],"columns":[
      {"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
    {"schema":"test","name":"first","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"],["second_id_1"]],
     "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false},
                {"name":"second_id_1","type":"integer","nullable":true,"default":null,"generated":false}]},
    {"schema":"test","name":"second","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":["id"],"uniques":[["id"]],
     "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]},
    {"schema":"test","name":"materialized_projects","kind":"m","description":"A materialized view for projects\nJust a test for materialized views","pk":[],
     "columns":[{"name":"id","type":"integer","nullable":true,"default":null,"generated":false}]},
    {"schema":"test","name":"openapi_types","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],"columns":[
      {"name":"a_character_varying","type":"character varying","nullable":true,"default":null,"generated":false},
      {"name":"a_character","type":"character(1)","nullable":true,"default":null,"generated":false},
      {"name":"a_varchar20","type":"character varying(20)","nullable":true,"default":null,"generated":false},
      {"name":"a_smallint","type":"smallint","nullable":true,"default":null,"generated":false},
      {"name":"a_bigint","type":"bigint","nullable":true,"default":null,"generated":false},
      {"name":"a_double_precision","type":"double precision","nullable":true,"default":null,"generated":false},
      {"name":"a_numeric","type":"numeric(10,2)","nullable":true,"default":null,"generated":false},
      {"name":"a_json","type":"json","nullable":true,"default":null,"generated":false},
      {"name":"a_text_arr","type":"text[]","nullable":true,"default":null,"generated":false},
      {"name":"a_int_arr","type":"integer[]","nullable":true,"default":null,"generated":false},
      {"name":"a_jsonb_arr","type":"jsonb[]","nullable":true,"default":null,"generated":false}]},
    {"schema":"test","name":"openapi_defaults","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],"columns":[
      {"name":"text","type":"text","nullable":true,"default":"'default'::text","generated":false},
      {"name":"boolean","type":"boolean","nullable":true,"default":"false","generated":false},
      {"name":"integer","type":"integer","nullable":true,"default":"42","generated":false},
      {"name":"numeric","type":"numeric","nullable":true,"default":"42.2","generated":false},
      {"name":"date","type":"date","nullable":true,"default":"'1900-01-01'::date","generated":false},
      {"name":"time","type":"time without time zone","nullable":true,"default":"'13:00:00'::time without time zone","generated":false},
      {"name":"serial","type":"integer","nullable":false,"default":"nextval('s'::regclass)","generated":false}]},
    {"schema":"v1","name":"children","kind":"r","insertable":true,"updatable":true,"deletable":true,"description":null,"pk":[],
     "columns":[{"name":"id","type":"integer","nullable":false,"default":null,"generated":false}]}
  ],
  "foreign_keys": [
    {"name":"child_entities_parent_id_fkey","schema":"test","table":"child_entities","columns":["parent_id"],
     "foreign_schema":"test","foreign_table":"entities","foreign_columns":["id"]},
    {"name":"first_second_id_1_fkey","schema":"test","table":"first","columns":["second_id_1"],
     "foreign_schema":"test","foreign_table":"second","foreign_columns":["id"]}
  ],
  "routines": [
    {"schema":"test","name":"varied","description":"An RPC function\n\nJust a test for RPC function arguments",
     "arg_names":["double","enum","int_arr","json","integer"],"arg_modes":[],
     "arg_types":["double precision","test.enum_menagerie_type","integer[]","json","integer"],
     "n_defaults":2,"returns_set":false,"return_type":"text","return_typtype":"b","return_schema":null,
     "return_relation":null,"return_domain":null,"return_domain_base":null,"volatility":"i","variadic":false},
    {"schema":"test","name":"variadic_param","description":null,"arg_names":["v"],"arg_modes":["v"],
     "arg_types":["text[]"],"n_defaults":1,"returns_set":false,"return_type":"text[]","return_typtype":"b",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"i","variadic":true},
    {"schema":"test","name":"many_out_params","description":null,"arg_names":["my_json","num"],"arg_modes":["o","o"],
     "arg_types":["json","integer"],"n_defaults":0,"returns_set":false,"return_type":"record","return_typtype":"p",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"v","variadic":false},
    {"schema":"test","name":"many_inout_params","description":null,"arg_names":["num","str","b"],"arg_modes":["b","b","b"],
     "arg_types":["integer","text","boolean"],"n_defaults":1,"returns_set":false,"return_type":"record","return_typtype":"p",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"v","variadic":false},
    {"schema":"test","name":"privileged_hello","description":null,"arg_names":["name"],"arg_modes":[],
     "arg_types":["text"],"n_defaults":0,"returns_set":false,"return_type":"text","return_typtype":"b",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"v","variadic":false},
    {"schema":"test","name":"a_trigger","description":null,"arg_names":[],"arg_modes":[],
     "arg_types":[],"n_defaults":0,"returns_set":false,"return_type":"trigger","return_typtype":"p",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"v","variadic":false},
    {"schema":"v1","name":"get_parents_below","description":null,"arg_names":[],"arg_modes":[],
     "arg_types":[],"n_defaults":0,"returns_set":true,"return_type":"integer","return_typtype":"b",
     "return_schema":null,"return_relation":null,"return_domain":null,"return_domain_base":null,
     "volatility":"s","variadic":false}
  ]
}"#;

fn cache() -> SchemaCache {
    SchemaCache::from_json(SCHEMA).expect("schema")
}

fn opts<'a>(schema: &'a str) -> OpenApiOptions<'a> {
    OpenApiOptions {
        schema,
        proxy_uri: None,
        security_active: false,
        server_host: "!4",
        server_port: 3000,
        visible: None,
    }
}

fn at<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[*k],
    })
}

#[test]
fn top_level() {
    let doc = document(&cache(), &opts("test"));
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["info"]["title"], "PostgREST API");
    assert_eq!(doc["info"]["description"], "This is a dynamic API generated by PostgREST");
    assert_eq!(doc["host"], "0.0.0.0:3000");
    assert_eq!(doc["basePath"], "/");
    assert_eq!(doc["schemes"], json!(["http"]));
    assert_eq!(
        doc["produces"],
        json!([
            "application/json",
            "application/vnd.pgrst.object+json;nulls=stripped",
            "application/vnd.pgrst.object+json",
            "text/csv"
        ])
    );
    assert!(doc.get("security").is_none());
    assert!(doc.get("securityDefinitions").is_none());
    assert_eq!(at(&doc, &["paths", "/", "get", "produces"]), &json!(["application/openapi+json", "application/json"]));
    // Only the requested schema.
    assert!(doc["paths"].get("/children").is_none());
    assert!(doc["paths"].get("/rpc/get_parents_below").is_none());
    let v1 = document(&cache(), &opts("v1"));
    assert!(v1["paths"].get("/children").is_some());
    assert!(v1["paths"].get("/rpc/get_parents_below").is_some());
    assert!(v1["paths"].get("/child_entities").is_none());
}

#[test]
fn table_paths() {
    let doc = document(&cache(), &opts("test"));
    let get = at(&doc, &["paths", "/child_entities", "get"]);
    assert_eq!(get["summary"], "child_entities comment");
    assert!(get.get("description").is_none());
    assert_eq!(get["tags"], json!(["child_entities"]));
    let refs = |names: &[&str]| -> Value { names.iter().map(|n| reference(n)).collect() };
    assert_eq!(
        get["parameters"],
        refs(&[
            "rowFilter.child_entities.id",
            "rowFilter.child_entities.name",
            "rowFilter.child_entities.parent_id",
            "select",
            "order",
            "range",
            "rangeUnit",
            "offset",
            "limit",
            "preferCount"
        ])
    );
    assert_eq!(
        get["responses"]["200"]["schema"],
        json!({"items": {"$ref": "#/definitions/child_entities"}, "type": "array"})
    );
    assert_eq!(get["responses"]["206"]["description"], json!("Partial Content"));
    let post = at(&doc, &["paths", "/child_entities", "post"]);
    assert_eq!(post["parameters"], refs(&["body.child_entities", "select", "preferPost"]));
    assert_eq!(post["responses"]["201"]["description"], "Created");
    let patch = at(&doc, &["paths", "/child_entities", "patch"]);
    assert_eq!(patch["responses"]["204"]["description"], "No Content");
    assert_eq!(
        patch["parameters"],
        refs(&[
            "rowFilter.child_entities.id",
            "rowFilter.child_entities.name",
            "rowFilter.child_entities.parent_id",
            "body.child_entities",
            "preferReturn"
        ])
    );
    let delete = at(&doc, &["paths", "/child_entities", "delete"]);
    assert_eq!(delete["responses"]["204"]["description"], "No Content");

    let g = at(&doc, &["paths", "/grandchild_entities", "get"]);
    assert_eq!(g["summary"], "grandchild_entities summary");
    assert_eq!(g["description"], "grandchild_entities description\nthat spans\nmultiple lines");

    // Materialized views are read-only.
    let m = at(&doc, &["paths", "/materialized_projects"]);
    assert_eq!(m["get"]["summary"], "A materialized view for projects");
    assert_eq!(m["get"]["description"], "Just a test for materialized views");
    assert!(m.get("post").is_none() && m.get("patch").is_none() && m.get("delete").is_none());
}

#[test]
fn definitions() {
    let doc = document(&cache(), &opts("test"));
    assert_eq!(
        doc["definitions"]["child_entities"],
        json!({
            "type": "object",
            "description": "child_entities comment",
            "properties": {
                "id": {"description": "Note:\nThis is a Primary Key.<pk/>", "format": "int32", "type": "integer"},
                "name": {"format": "text", "type": "string"},
                "parent_id": {
                    "description": "Note:\nThis is a Foreign Key to `entities.id`.<fk table='entities' column='id'/>",
                    "format": "int32", "type": "integer"
                }
            },
            "required": ["id"]
        })
    );
    // One-to-one: the note is on the side holding the key only.
    assert_eq!(
        at(&doc, &["definitions", "first", "properties", "second_id_1"]),
        &json!({"format": "int32", "type": "integer",
                "description": "Note:\nThis is a Foreign Key to `second.id`.<fk table='second' column='id'/>"})
    );
    assert_eq!(
        at(&doc, &["definitions", "second", "properties", "id", "description"]),
        &json!("Note:\nThis is a Primary Key.<pk/>")
    );
    let types = &doc["definitions"]["openapi_types"]["properties"];
    assert_eq!(types["a_character_varying"], json!({"format": "character varying", "type": "string"}));
    assert_eq!(types["a_character"], json!({"maxLength": 1, "format": "character", "type": "string"}));
    assert_eq!(types["a_varchar20"], json!({"maxLength": 20, "format": "character varying", "type": "string"}));
    assert_eq!(types["a_smallint"], json!({"format": "int32", "type": "integer"}));
    assert_eq!(types["a_bigint"], json!({"format": "int64", "type": "integer"}));
    assert_eq!(types["a_double_precision"], json!({"format": "double precision", "type": "number"}));
    assert_eq!(types["a_numeric"], json!({"format": "numeric", "type": "number"}));
    assert_eq!(types["a_json"], json!({"format": "json"}));
    assert_eq!(types["a_text_arr"], json!({"format": "text[]", "type": "array", "items": {"type": "string"}}));
    assert_eq!(types["a_int_arr"], json!({"format": "integer[]", "type": "array", "items": {"type": "integer"}}));
    assert_eq!(types["a_jsonb_arr"], json!({"format": "jsonb[]", "type": "array", "items": {}}));
    let defaults = &doc["definitions"]["openapi_defaults"];
    let d = |c: &str| defaults["properties"][c].get("default").cloned();
    assert_eq!(d("text"), Some(json!("default")));
    assert_eq!(d("boolean"), Some(json!(false)));
    assert_eq!(d("integer"), Some(json!(42)));
    assert_eq!(d("numeric"), Some(json!(42.2)));
    assert_eq!(d("date"), Some(json!("1900-01-01")));
    assert_eq!(d("time"), Some(json!("13:00:00")));
    assert_eq!(d("serial"), None);
    assert_eq!(defaults["required"], json!(["serial"]));
    // Views report nullable columns: no `required`.
    assert!(doc["definitions"]["materialized_projects"].get("required").is_none());
}

#[test]
fn parameters() {
    let doc = document(&cache(), &opts("test"));
    let p = &doc["parameters"];
    assert!(p["preferParams"].get("enum").is_none());
    assert_eq!(p["preferCount"]["enum"], json!(["count=none"]));
    assert_eq!(
        p["preferPost"]["enum"],
        json!([
            "return=representation",
            "return=minimal",
            "return=none",
            "resolution=ignore-duplicates",
            "resolution=merge-duplicates"
        ])
    );
    assert_eq!(
        p["rangeUnit"],
        json!({"name": "Range-Unit", "description": "Limiting and Pagination",
               "required": false, "in": "header", "type": "string", "default": "items"})
    );
    assert_eq!(
        p["select"],
        json!({"name": "select", "description": "Filtering Columns",
               "required": false, "in": "query", "type": "string"})
    );
    assert_eq!(
        p["body.child_entities"],
        json!({"name": "child_entities", "description": "child_entities", "required": false,
               "in": "body", "schema": {"$ref": "#/definitions/child_entities"}})
    );
    assert_eq!(
        p["rowFilter.child_entities.parent_id"],
        json!({"name": "parent_id", "required": false, "in": "query", "type": "string"})
    );
    assert!(p.get("on_conflict").is_some() && p.get("limit").is_some());
}

#[test]
fn rpc_paths() {
    let doc = document(&cache(), &opts("test"));
    let get = at(&doc, &["paths", "/rpc/varied", "get"]);
    assert_eq!(get["summary"], "An RPC function");
    assert_eq!(get["description"], "Just a test for RPC function arguments");
    assert_eq!(get["tags"], json!(["(rpc) varied"]));
    assert_eq!(
        get["parameters"],
        json!([
            {"format": "double precision", "in": "query", "name": "double", "required": true, "type": "number"},
            {"format": "enum_menagerie_type", "in": "query", "name": "enum", "required": true, "type": "string"},
            {"format": "integer[]", "in": "query", "name": "int_arr", "required": true, "type": "string"},
            {"format": "json", "in": "query", "name": "json", "required": false, "type": "string"},
            {"format": "int32", "in": "query", "name": "integer", "required": false, "type": "integer"}
        ])
    );
    let post = at(&doc, &["paths", "/rpc/varied", "post"]);
    assert_eq!(post["summary"], "An RPC function");
    assert_eq!(
        post["parameters"][0]["schema"],
        json!({
            "required": ["double", "enum", "int_arr"],
            "properties": {
                "double": {"format": "double precision", "type": "number"},
                "enum": {"format": "enum_menagerie_type", "type": "string"},
                "int_arr": {"format": "integer[]", "type": "array", "items": {"type": "integer"}},
                "json": {"format": "json"},
                "integer": {"format": "int32", "type": "integer"}
            },
            "type": "object",
            "description": "An RPC function\n\nJust a test for RPC function arguments"
        })
    );
    assert_eq!(post["parameters"][1], reference("preferParams"));
    assert_eq!(
        at(&doc, &["paths", "/rpc/variadic_param", "get", "parameters", "0"]),
        &json!({"collectionFormat": "multi", "in": "query", "items": {"format": "text", "type": "string"},
                "name": "v", "required": false, "type": "array"})
    );
    // Volatile: POST only. OUT parameters are not arguments; INOUT ones are.
    let out = at(&doc, &["paths", "/rpc/many_out_params"]);
    assert!(out.get("get").is_none());
    assert!(out["post"]["parameters"][0]["schema"].get("required").is_none());
    assert_eq!(
        at(&doc, &["paths", "/rpc/many_inout_params", "post", "parameters", "0", "schema", "required"]),
        &json!(["num", "str"])
    );
    assert!(doc["paths"].get("/rpc/a_trigger").is_none());
}

#[test]
fn privileges() {
    let only_public = |kind: &str, name: &str| match kind {
        "table" => name != "child_entities",
        _ => name != "privileged_hello",
    };
    let mut o = opts("test");
    o.visible = Some(&only_public);
    let doc = document(&cache(), &o);
    assert!(doc["paths"].get("/child_entities").is_none());
    assert!(doc["definitions"].get("child_entities").is_none());
    assert!(doc["parameters"].get("body.child_entities").is_none());
    assert!(doc["paths"].get("/rpc/privileged_hello").is_none());
    assert!(doc["paths"].get("/grandchild_entities").is_some());
    let all = document(&cache(), &opts("test"));
    assert_eq!(at(&all, &["paths", "/rpc/privileged_hello", "post", "tags", "0"]), &json!("(rpc) privileged_hello"));
}

#[test]
fn proxy_and_security() {
    let mut o = opts("test");
    o.proxy_uri = Some("https://postgrest.com/openapi.json");
    o.security_active = true;
    let doc = document(&cache(), &o);
    assert_eq!(doc["host"], "postgrest.com:443");
    assert_eq!(doc["basePath"], "/openapi.json");
    assert_eq!(doc["schemes"], json!(["https"]));
    assert_eq!(doc["security"], json!([{"JWT": []}]));
    assert_eq!(
        doc["securityDefinitions"],
        json!({"JWT": {"description": "Add the token prepending \"Bearer \" (without quotes) to it",
                       "in": "header", "name": "Authorization", "type": "apiKey"}})
    );
    assert_eq!(
        parse_proxy_uri("HTTP://example.org:8080"),
        Some(("http".into(), "example.org".into(), 8080, "/".into()))
    );
    assert_eq!(parse_proxy_uri("http://u:p@[::1]/api?x=1"), Some(("http".into(), "[::1]".into(), 80, "/api".into())));
    assert_eq!(parse_proxy_uri("ftp://example.org"), None);
    let mut o = opts("test");
    o.proxy_uri = Some("not a uri");
    o.server_host = "localhost";
    o.server_port = 3001;
    let doc = document(&cache(), &o);
    assert_eq!(doc["host"], "localhost:3001");
}

#[test]
fn type_helpers() {
    assert_eq!(column_type("numeric(10,2)[]"), "numeric[]");
    assert_eq!(column_type("timestamp(3) with time zone"), "timestamp with time zone");
    assert_eq!(column_type("test.\"odd(1)\""), "test.\"odd(1)\"");
    assert_eq!(parse_default("text", "'a'::text"), Some(json!("a")));
    assert_eq!(parse_default("timestamp with time zone", "now()"), Some(json!("now()")));
    assert_eq!(parse_default("jsonb", "'{}'::jsonb"), None);
    assert_eq!(split_description("a\n\n\nb"), ("a", "b"));
    assert_eq!(split_description("a"), ("a", ""));
}
