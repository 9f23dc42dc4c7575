//! Media types beyond JSON: bodies go out exactly as PostgreSQL built them, in their own type
//! (text, xml, bytea, json, jsonb), and media-type handlers (PostgREST v12+ domains and
//! aggregates) choose how rows are rendered.

mod support;

use support::*;

const MEDIA_SQL: &str = r#"
create domain todo."text/plain" as text;
create domain todo."text/xml" as pg_catalog.xml;
create domain todo."application/vnd.feed+json" as jsonb;
create domain todo."*/*" as bytea;

create function todo.page_xml() returns todo."text/xml"
  language sql stable as $_$ select $$
<page><title>hi</title></page>$$::todo."text/xml" $_$;

create function todo.greeting() returns todo."text/plain"
  language sql stable as $$ select 'hello'::todo."text/plain" $$;

create function todo.greetings() returns setof todo."text/plain"
  language sql stable as $$ select 'hello'::todo."text/plain" union all select 'again' $$;

-- A jsonb-based handler for the tasks' rows.
create function todo.feed_trans(state todo."application/vnd.feed+json", next todo.tasks)
  returns todo."application/vnd.feed+json"
  language sql immutable as $$
  select (state || jsonb_build_array(next.name))::todo."application/vnd.feed+json" $$;
create aggregate todo.feed_agg(todo.tasks) (
  initcond = '[]', stype = todo."application/vnd.feed+json", sfunc = todo.feed_trans);

-- A handler for any media type on the tasks: its final function may set the Content-Type.
create function todo.any_trans(state todo."*/*", next todo.tasks) returns todo."*/*"
  language sql immutable as $$ select (state || convert_to(next.name || ';', 'UTF8'))::todo."*/*" $$;
create function todo.any_final(data todo."*/*") returns todo."*/*"
  language plpgsql as $$
declare accept text := current_setting('request.headers', true)::json->>'accept';
begin
  if accept = 'text/x-names' then
    perform set_config('response.headers', json_build_array(json_build_object('Content-Type', accept))::text, true);
  end if;
  return data;
end $$;
create aggregate todo.any_agg(todo.tasks) (
  initcond = '', stype = todo."*/*", sfunc = todo.any_trans, finalfunc = todo.any_final);
"#;

async fn media_app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(MEDIA_SQL);
    let tusk = Tusk::start(&db.seed_env()).await;
    (db, tusk)
}

#[tokio::test]
async fn xml_goes_out_as_postgresql_prints_it() {
    let (db, t) = media_app().await;
    let r = t.get("/rpc/page_xml").header("Accept", "text/xml").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("text/xml; charset=utf-8"));
    // PostgreSQL's own output of the value (xml's output function drops the first newline).
    let printed = db.query_lines("select todo.page_xml()").join("\n");
    assert_eq!(r.text, printed);
    assert_eq!(r.text, "<page><title>hi</title></page>");
}

#[tokio::test]
async fn text_plain_is_for_a_single_value_only() {
    let (_db, t) = media_app().await;
    let r = t.get("/rpc/greeting").header("Accept", "text/plain").send().await;
    r.expect_status(200);
    assert_eq!(r.text, "hello");
    let r = t.get("/rpc/greetings").header("Accept", "text/plain").send().await;
    let body = r.expect_error(406, "PGRST107");
    assert_eq!(body["message"], "None of these media types are available: text/plain");
}

#[tokio::test]
async fn a_jsonb_handler_sends_the_json_document_itself() {
    let (_db, t) = media_app().await;
    let r = t.get("/tasks?order=id").header("Accept", "application/vnd.feed+json").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/vnd.feed+json"));
    // jsonb's binary wire format starts with a version byte: it must not reach the client.
    assert!(r.text.starts_with('['), "{:?}", r.text);
    assert_eq!(r.json(), serde_json::json!(["finish tutorial 0", "pat self on back"]));
    // The same rows as JSON when JSON is asked for.
    let r = t.get("/tasks?order=id").header("Accept", "application/json").send().await;
    assert_eq!(r.media_type().as_deref(), Some("application/json"));
}

#[tokio::test]
async fn a_handler_for_any_media_type_answers_any_accept() {
    let (_db, t) = media_app().await;
    // Its function set the Content-Type.
    let r = t.get("/tasks?order=id").header("Accept", "text/x-names").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("text/x-names"));
    assert_eq!(r.text, "finish tutorial 0;pat self on back;");
    // Otherwise the bytes are sent as application/octet-stream, also for */*.
    for accept in ["*/*", "unknown/unknown"] {
        let r = t.get("/tasks?order=id").header("Accept", accept).send().await;
        r.expect_status(200);
        assert_eq!(r.header("content-type").as_deref(), Some("application/octet-stream"), "{accept}");
        assert_eq!(r.text, "finish tutorial 0;pat self on back;");
    }
    // JSON is still JSON.
    let r = t.get("/tasks?order=id").header("Accept", "application/json").send().await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn bytes_are_sent_as_they_are() {
    let (db, t) = media_app().await;
    db.psql(
        r"create function todo.blob() returns bytea language sql stable as $$ select '\x504e470001ff'::bytea $$;
          notify pgrst, 'reload schema';",
    );
    let r = poll(std::time::Duration::from_secs(10), "the new function", || async {
        let r = t.get("/rpc/blob").header("Accept", "application/octet-stream").send().await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(r.header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(r.header("content-length").as_deref(), Some("6"));
    assert!(r.text.starts_with("PNG\0\u{1}"), "{:?}", r.text);
}
