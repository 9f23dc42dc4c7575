//! Domain representations (PostgREST's "data representations"): a domain with implicit casts
//! to json (formatting JSON responses), to text (CSV), from json (request bodies) and from text
//! (query-string filter values), created in a throwaway database; read, filter, insert and
//! update round trips, and a value the domain refuses to parse.

mod support;

use support::*;

const DATAREP_SQL: &str = r##"
-- An RGB colour stored as an integer, shown as "#RRGGBB".
create domain todo.color as integer check (value >= 0 and value <= 16777215);

create function todo.color(text) returns todo.color language sql immutable as $$
  select (('x' || lpad(case when left($1, 1) = '#' then substr($1, 2) else $1 end, 8, '0'))::bit(32)::int)::todo.color
$$;
create function todo.color(json) returns todo.color language sql immutable as $$
  select todo.color($1 #>> '{}')
$$;
create function todo.json(todo.color) returns json language sql immutable as $$
  select case when $1 is null then to_json(''::text) else to_json('#' || lpad(upper(to_hex($1)), 6, '0')) end
$$;
create function todo.text(todo.color) returns text language sql immutable as $$
  select 'rgb:' || lpad(upper(to_hex($1)), 6, '0')
$$;
create cast (todo.color as json) with function todo.json(todo.color) as implicit;
create cast (todo.color as text) with function todo.text(todo.color) as implicit;
create cast (json as todo.color) with function todo.color(json) as implicit;
create cast (text as todo.color) with function todo.color(text) as implicit;

-- A domain over a domain over tsvector.
create domain todo.words as tsvector check (length(value) < 100);
create domain todo.some_words as todo.words check (value <> '');

create table todo.swatches (
  id int primary key,
  name text,
  color todo.color,
  words todo.some_words default 'x'
);
insert into todo.swatches values
  (1, 'black', 0, to_tsvector('simple', 'dark night')),
  (2, 'green', 256, to_tsvector('simple', 'grass leaf')),
  (3, 'none', null, to_tsvector('simple', 'nothing at all'));

create table todo.palettes (
  id int primary key,
  main_id int references todo.swatches(id)
);
insert into todo.palettes values (1, 2), (2, 1);

grant select, insert, update, delete on todo.swatches, todo.palettes to web_anon;
"##;

async fn app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(DATAREP_SQL);
    let tusk = Tusk::start(&db.seed_env()).await;
    (db, tusk)
}

/// The stored colours, read as the superuser: `id|color` lines.
fn stored(db: &TestDb) -> Vec<String> {
    db.query_lines("select id, coalesce(color::int::text, 'null') from todo.swatches order by id")
        .into_iter()
        .map(|l| l.trim().to_string())
        .collect()
}

#[tokio::test]
async fn formats_selected_columns_stars_renames_casts_and_embeds() {
    let (_db, tusk) = app().await;
    let r = tusk.get("/swatches?select=id,color&order=id").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 1, "color": "#000000"}, {"id": 2, "color": "#000100"}, {"id": 3, "color": ""}]));

    // A star (explicit or implicit) formats every column that has a representation.
    let star = tusk.get("/swatches?select=*&id=eq.2").send().await;
    assert_eq!(star.json()[0]["color"], json!("#000100"));
    let implicit = tusk.get("/swatches?id=eq.2").send().await;
    assert_eq!(implicit.json(), star.json());

    // Renamed, and with a cast of the request on top of the formatted value.
    let r = tusk.get("/swatches?select=c:color,t:color::text&id=eq.2").send().await;
    assert_eq!(r.json(), json!([{"c": "#000100", "t": "\"#000100\""}]));

    // Through an embed.
    let r = tusk.get("/palettes?select=id,main:swatches(name,color)&order=id").send().await;
    assert_eq!(
        r.json(),
        json!([
            {"id": 1, "main": {"name": "green", "color": "#000100"}},
            {"id": 2, "main": {"name": "black", "color": "#000000"}}
        ])
    );

    // CSV takes the cast to text.
    let r = tusk.get("/swatches?select=id,color&id=eq.2").header("Accept", "text/csv").send().await;
    r.expect_status(200);
    assert_eq!(r.text, "id,color\n2,rgb:000100");
}

#[tokio::test]
async fn filter_values_are_parsed_by_the_text_cast() {
    let (_db, tusk) = app().await;
    let ids = |r: &Resp| -> Vec<i64> {
        r.json().as_array().map(|a| a.iter().filter_map(|o| o["id"].as_i64()).collect()).unwrap_or_default()
    };
    let r = tusk.get("/swatches?select=id&color=eq.000100").send().await;
    assert_eq!(ids(r.expect_status(200)), vec![2]);
    let r = tusk.get("/swatches?select=id&color=eq.%23000100").send().await;
    assert_eq!(ids(&r), vec![2]);
    let r = tusk.get("/swatches?select=id&color=in.(000000,000100)&order=id").send().await;
    assert_eq!(ids(&r), vec![1, 2]);
    let r = tusk.get("/swatches?select=id&color=not.in.(000000)&order=id").send().await;
    assert_eq!(ids(&r), vec![2]);
    let r = tusk.get("/swatches?select=id&or=(color.gt.0000FF,id.eq.3)&order=id").send().await;
    assert_eq!(ids(&r), vec![2, 3]);
    // Across an embed.
    let r = tusk.get("/palettes?select=id,swatches(id)&swatches.color=eq.000100&order=id").send().await;
    assert_eq!(r.json(), json!([{"id": 1, "swatches": {"id": 2}}, {"id": 2, "swatches": null}]));
}

#[tokio::test]
async fn full_text_search_on_a_domain_over_tsvector() {
    let (_db, tusk) = app().await;
    let r = tusk.get("/swatches?select=id&words=fts(simple).grass").send().await;
    assert_eq!(r.expect_status(200).json(), json!([{"id": 2}]));
    let r = tusk.get("/swatches?select=id&words=plfts.dark%20night").send().await;
    assert_eq!(r.expect_status(200).json(), json!([{"id": 1}]));
}

#[tokio::test]
async fn insert_and_update_parse_body_values_by_the_json_cast() {
    let (db, tusk) = app().await;
    let r = tusk
        .post("/swatches?select=id,color")
        .prefer("return=representation")
        .json(&json!({"id": 4, "name": "red", "color": "#FF0000"}))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(r.json(), json!([{"id": 4, "color": "#FF0000"}]));
    assert_eq!(stored(&db).last().map(String::as_str), Some("4|16711680"));

    // A JSON null and a missing key are NULL for the parser; `columns` leaves other keys alone,
    // even a value the domain could not parse.
    let r = tusk
        .post("/swatches?columns=id,name")
        .json(&json!([{"id": 5, "name": "a", "color": "not a colour"}, {"id": 6, "color": null}]))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(&stored(&db)[4..], ["5|null", "6|null"]);

    let r = tusk
        .patch("/swatches?color=eq.FF0000")
        .prefer("return=representation")
        .json(&json!({"color": "#00ff00"}))
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json()[0]["color"], json!("#00FF00"));
    assert_eq!(stored(&db)[3], "4|65280");

    // No row matched: the parser never runs, so even a value it refuses is fine.
    let r = tusk.patch("/swatches?id=eq.99").json(&json!({"color": "zz"})).send().await;
    r.expect_status(204);
}

#[tokio::test]
async fn a_value_the_domain_refuses_is_a_json_error_and_nothing_is_written() {
    let (db, tusk) = app().await;
    let before = stored(&db);
    // The second row's colour is no hex number: the whole insert fails.
    let r = tusk
        .post("/swatches")
        .json(&json!([{"id": 7, "color": "#000001"}, {"id": 8, "color": "#zzzzzz"}]))
        .send()
        .await;
    let body = r.expect_error(400, "22P02");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("hexadecimal")), "{body}");
    // Out of the domain's range: its check fails.
    let r = tusk.patch("/swatches?id=eq.1").json(&json!({"color": "#1000000"})).send().await;
    r.expect_error(400, "23514");
    // A filter value the parser refuses.
    let r = tusk.get("/swatches?color=eq.zz").send().await;
    r.expect_error(400, "22P02");
    assert_eq!(stored(&db), before);
}
