//! The user story of `/work/shared/seed` ("backend.sql + frontend.js"), sentence by sentence,
//! with tusk in place of PostgREST, plus the PostgREST behaviour that the example app and its
//! users rely on (filters, Prefer, RPC, errors, request GUCs, pre-request, max rows, CORS).
//!
//! Every test gets its own database (a copy of a template with `examples/todo/backend.sql`
//! loaded) in the cluster shared by this test binary, and its own tusk process.

mod support;

use support::*;

/// A fresh todo database and a tusk started with the seed's settings.
async fn seed_app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    let tusk = Tusk::start(&db.seed_env()).await;
    (db, tusk)
}

/// Extra objects in the exposed schema for the generic API tests.
const EXTRAS_SQL: &str = r#"
create table todo.items (
  id    int primary key,
  name  text not null,
  price numeric,
  tag   text
);
insert into todo.items values
  (1, 'apple',    1.5,  'fruit'),
  (2, 'banana',   0.25, 'fruit'),
  (3, 'carrot',   0.1,  'veg'),
  (4, 'Durian',   9,    null),
  (5, 'eggplant', 2,    'veg');
grant select, insert, update, delete on todo.items to web_anon, todo_user;

create function todo.add(a int, b int) returns int
  language sql immutable as $$ select a + b $$;

create function todo.item(item_id int) returns todo.items
  language sql stable as $$ select * from todo.items where id = item_id $$;

create function todo.items_with_tag(t text) returns setof todo.items
  language sql stable as $$ select * from todo.items where tag = t order by id $$;

create function todo.noop() returns void
  language plpgsql as $$ begin end $$;

create function todo.teapot() returns text
  language plpgsql as $$
begin
  perform set_config('response.status', '418', true);
  perform set_config('response.headers', '[{"X-Custom": "yes"}, {"Cache-Control": "no-store"}]', true);
  return 'short and stout';
end $$;

create function todo.fail() returns int
  language plpgsql as $$
begin
  raise exception 'boom' using detail = 'the details', hint = 'the hint';
end $$;

create function todo.whoami() returns json
  language sql stable as $$
  select json_build_object(
    'role',   current_user,
    'claims', current_setting('request.jwt.claims', true)::json,
    'method', current_setting('request.method', true),
    'path',   current_setting('request.path', true),
    'x_test', current_setting('request.headers', true)::json->>'x-test'
  )
$$;

create function todo.pre_request() returns void
  language plpgsql as $$
begin
  if current_setting('request.headers', true)::json->>'x-block' = 'yes' then
    raise exception 'blocked by pre-request';
  end if;
  perform set_config('response.headers', '[{"X-Pre-Request": "ran"}]', true);
end $$;
"#;

/// The seed app plus [`EXTRAS_SQL`], started with the seed's settings plus `extra_env`.
async fn extras_app(extra_env: &[(&str, &str)]) -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(EXTRAS_SQL);
    let mut env = db.seed_env();
    for (k, v) in extra_env {
        set_env(&mut env, k, v);
    }
    let tusk = Tusk::start(&env).await;
    (db, tusk)
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or_else(|| panic!("no id in {r}")))
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// "Anonymous users will be able to see two existing tasks, but they won't be able to
//  create/update/delete"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn anonymous_users_can_read_the_two_tasks() {
    let (db, t) = seed_app().await;
    let r = t.get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.media_type().as_deref(), Some("application/json"), "{r:#?}");
    let body = r.json();
    let rows = body.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 2, "{body}");
    let mut got = names(&body);
    got.sort();
    assert_eq!(got, ["finish tutorial 0", "pat self on back"]);
    for row in rows {
        for key in ["id", "name", "done", "owner"] {
            assert!(row.get(key).is_some(), "row lacks {key}: {row}");
        }
        assert_eq!(row["done"], json!(false));
    }
    assert_eq!(db.tasks().len(), 2);
}

#[tokio::test]
async fn anonymous_users_cannot_insert() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let r = t.post("/tasks").json(&json!({"name": "do bad thing"})).send().await;
    let body = r.expect_error(401, "42501");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"), "{r:#?}");
    assert!(body["message"].as_str().unwrap_or_default().contains("permission denied"), "{body}");
    assert_eq!(db.tasks(), before);
}

#[tokio::test]
async fn anonymous_users_cannot_update_or_delete() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let r = t.patch("/tasks").json(&json!({"done": true})).send().await;
    r.expect_error(401, "42501");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    let r = t.delete("/tasks?id=eq.1").send().await;
    r.expect_error(401, "42501");
    assert_eq!(db.tasks(), before);
}

// ---------------------------------------------------------------------------------------------
// "you can use this token to login as a user" / "With the JWT, inserts should work"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_seed_token_can_insert() {
    let (db, t) = seed_app().await;
    let r = t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "learn how to auth"})).send().await;
    r.expect_status(201);
    assert!(r.text.is_empty(), "default is return=minimal: {r:#?}");
    let tasks = db.tasks();
    assert_eq!(tasks.len(), 3);
    let new = tasks.last().expect("a task");
    assert_eq!(new.1, "learn how to auth");
    assert!(!new.2);
    assert_eq!(new.3, "todo_user", "owner defaults to current_user");
}

#[tokio::test]
async fn a_token_with_a_future_exp_works() {
    let (db, t) = seed_app().await;
    // "first decide the expiry duration and get the timestamp" — exactly as the seed does.
    let exp: i64 = db
        .psql("select extract(epoch from now() + '5 minutes'::interval) :: integer")
        .trim()
        .parse()
        .expect("an epoch");
    assert!((now() + 290..=now() + 310).contains(&exp), "{exp}");
    let token = jwt(&json!({"role": "todo_user", "exp": exp}));
    let r = t.post("/tasks").bearer(&token).json(&json!({"name": "learn how to auth"})).send().await;
    r.expect_status(201);
    assert_eq!(db.tasks().len(), 3);
}

#[tokio::test]
async fn an_expired_token_is_rejected() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let token = jwt(&json!({"role": "todo_user", "exp": now() - 3600}));
    let r = t.post("/tasks").bearer(&token).json(&json!({"name": "too late"})).send().await;
    let body = r.expect_error(401, "PGRST303");
    assert_eq!(body["message"], json!("JWT expired"));
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(www.starts_with("Bearer"), "{r:#?}");
    // Reads with an expired token are refused too (no silent fallback to anonymous).
    t.get("/tasks").bearer(&token).send().await.expect_error(401, "PGRST303");
    assert_eq!(db.tasks(), before);
}

// ---------------------------------------------------------------------------------------------
// "Or updates" / "user can create/update/delete their own tasks, but not anybody else's –
//  even if they attempt direct API calls"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patch_without_a_filter_changes_only_the_users_own_tasks() {
    let (db, t) = seed_app().await;
    for name in ["mine 1", "mine 2"] {
        t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": name})).send().await.expect_status(201);
    }
    let r = t.patch("/tasks").bearer(SEED_TOKEN).json(&json!({"done": true})).send().await;
    assert!(matches!(r.status, 200 | 204), "{r:#?}");
    for (_, name, done, owner) in db.tasks() {
        if owner == "todo_user" {
            assert!(done, "{name} (own task) should be done");
        } else {
            assert_eq!(owner, "postgres");
            assert!(!done, "{name} (admin's task) must not change");
        }
    }
}

#[tokio::test]
async fn users_cannot_touch_other_peoples_tasks() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let admin_task = before[0].0;

    // Update by id: matches no row the user may see for update → nothing changes.
    let r = t
        .patch(&format!("/tasks?id=eq.{admin_task}"))
        .bearer(SEED_TOKEN)
        .prefer("return=representation")
        .json(&json!({"done": true, "name": "hijacked"}))
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([]), "{r:#?}");

    // Delete by id: same.
    let r = t.delete(&format!("/tasks?id=eq.{admin_task}")).bearer(SEED_TOKEN).send().await;
    assert!(matches!(r.status, 200 | 204), "{r:#?}");

    // Insert on someone else's behalf: RLS check fails → 403 for an authenticated role.
    let r = t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "forged", "owner": "postgres"})).send().await;
    r.expect_error(403, "42501");

    // Give a task away: the update's WITH CHECK fails.
    t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "mine"})).send().await.expect_status(201);
    let mine = db.tasks().last().expect("a task").0;
    let r =
        t.patch(&format!("/tasks?id=eq.{mine}")).bearer(SEED_TOKEN).json(&json!({"owner": "postgres"})).send().await;
    r.expect_error(403, "42501");

    let after = db.tasks();
    assert_eq!(&after[..2], &before[..], "the admin's tasks are unchanged");
    assert_eq!(after.len(), 3);
    assert_eq!(after[2].3, "todo_user");
}

#[tokio::test]
async fn users_can_delete_their_own_tasks() {
    let (db, t) = seed_app().await;
    t.post("/tasks").bearer(SEED_TOKEN).json(&json!({"name": "short-lived"})).send().await.expect_status(201);
    let id = db.tasks().last().expect("a task").0;
    let r = t.delete(&format!("/tasks?id=eq.{id}")).bearer(SEED_TOKEN).prefer("return=representation").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [id]);
    // DELETE without a filter deletes only the user's own rows (none left) → admin rows stay.
    let r = t.delete("/tasks").bearer(SEED_TOKEN).send().await;
    r.expect_status(204);
    assert_eq!(db.tasks().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// "To allow a new user to manage their own todos, just run the following on your postgres"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_second_user_manages_only_their_own_tasks() {
    let (db, t) = seed_app().await;
    // The recipe from the seed, verbatim.
    db.psql(
        "create role second_user nologin;
         grant usage on schema todo to second_user;
         grant second_user to postgrest;
         grant all on todo.tasks to second_user;
         grant usage, select on sequence todo.tasks_id_seq to second_user;",
    );
    let second = role_token("second_user");
    let first = role_token("todo_user");

    for (token, name) in [(&first, "first's task"), (&second, "second's task")] {
        t.post("/tasks").bearer(token).json(&json!({"name": name})).send().await.expect_status(201);
    }
    let tasks = db.tasks();
    assert_eq!(tasks.len(), 4);
    let first_id = tasks[2].0;
    let second_id = tasks[3].0;
    assert_eq!(tasks[2].3, "todo_user");
    assert_eq!(tasks[3].3, "second_user");

    // second_user marks everything done: only their own task changes.
    let r = t.patch("/tasks").bearer(&second).prefer("return=representation").json(&json!({"done": true})).send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [second_id]);

    // second_user cannot delete todo_user's task, even by id.
    t.delete(&format!("/tasks?id=eq.{first_id}")).bearer(&second).send().await;
    // second_user sees everything (select policy is for everyone).
    let r = t.get("/tasks").bearer(&second).send().await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(4));

    let tasks = db.tasks();
    assert_eq!(tasks.len(), 4);
    for (id, _, done, owner) in &tasks {
        assert_eq!(*done, *id == second_id, "task {id} of {owner}");
    }

    // And second_user can delete their own.
    let r = t.delete(&format!("/tasks?id=eq.{second_id}")).bearer(&second).send().await;
    r.expect_status(204);
    assert_eq!(db.tasks().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Tokens that must not work — and change nothing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_with_a_bad_signature_is_rejected() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let forged = jwt_with("not-the-secret-not-the-secret-not-the-secret", &json!({"role": "todo_user"}));
    let r = t.post("/tasks").bearer(&forged).json(&json!({"name": "forged"})).send().await;
    r.expect_error(401, "PGRST301");
    assert!(r.header("www-authenticate").unwrap_or_default().starts_with("Bearer"), "{r:#?}");
    // A tampered payload with the seed token's signature.
    let mut parts: Vec<&str> = SEED_TOKEN.split('.').collect();
    let payload = base64_url(br#"{"role":"postgres"}"#);
    parts[1] = &payload;
    let tampered = parts.join(".");
    let r = t.post("/tasks").bearer(&tampered).json(&json!({"name": "tampered"})).send().await;
    r.expect_error(401, "PGRST301");
    // Garbage.
    let r = t.get("/tasks").bearer("not-a-jwt").send().await;
    r.expect_error(401, "PGRST301");
    assert_eq!(db.tasks(), before);
}

fn base64_url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[tokio::test]
async fn a_token_for_an_unknown_role_fails() {
    let (db, t) = seed_app().await;
    let before = db.tasks();
    let token = role_token("no_such_role_anywhere");
    let r = t.post("/tasks").bearer(&token).json(&json!({"name": "ghost"})).send().await;
    assert!((400..500).contains(&r.status), "{r:#?}");
    let body = r.json();
    assert_error_shape(&body, &r);
    // PostgREST: 401 {"code":"22023","message":"role \"…\" does not exist"}.
    assert_eq!(body["code"], json!("22023"), "{r:#?}");
    let r = t.get("/tasks").bearer(&token).send().await;
    assert!((400..500).contains(&r.status), "{r:#?}");
    assert_eq!(db.tasks(), before);
}

#[tokio::test]
async fn a_token_for_a_role_not_granted_to_the_authenticator_fails() {
    let (db, t) = seed_app().await;
    let role = format!("ungranted_{}", db.name);
    // A role with every privilege on the table — but the authenticator may not become it.
    db.psql(&format!(
        "create role {role} nologin;
         grant usage on schema todo to {role};
         grant all on todo.tasks to {role};
         grant usage, select on sequence todo.tasks_id_seq to {role};"
    ));
    let before = db.tasks();
    let token = role_token(&role);
    let r = t.post("/tasks").bearer(&token).json(&json!({"name": "sneaky"})).send().await;
    assert!((400..500).contains(&r.status), "{r:#?}");
    assert_error_shape(&r.json(), &r);
    let r = t.patch("/tasks").bearer(&token).json(&json!({"done": true})).send().await;
    assert!((400..500).contains(&r.status), "{r:#?}");
    assert_eq!(db.tasks(), before);
}

// ---------------------------------------------------------------------------------------------
// "Your ToDo app is now ready at http://localhost:3000/rpc/homepage"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_homepage_is_served_as_html_to_a_browser() {
    let (_db, t) = seed_app().await;
    let r = t
        .get("/rpc/homepage")
        .header("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.media_type().as_deref(), Some("text/html"), "{r:#?}");
    assert!(
        r.text.trim_start().to_ascii_lowercase().starts_with("<!doctype html>"),
        "raw HTML expected, got: {}",
        &r.text[..r.text.len().min(200)]
    );
    assert!(r.text.contains("frontend.js"), "the page loads frontend.js");
    assert!(r.text.contains("</html>"));
}

// ---------------------------------------------------------------------------------------------
// Prefer, Location, Content-Range
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn prefer_return_representation_minimal_and_headers_only() {
    let (db, t) = seed_app().await;

    let r = t
        .post("/tasks")
        .bearer(SEED_TOKEN)
        .prefer("return=representation")
        .json(&json!({"name": "represented"}))
        .send()
        .await;
    r.expect_status(201);
    let body = r.json();
    let row = &body[0];
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(row["name"], json!("represented"));
    assert_eq!(row["owner"], json!("todo_user"));
    assert_eq!(row["done"], json!(false));
    assert!(row["id"].is_i64());
    assert!(r.header("location").is_none(), "{r:#?}");

    let r = t.post("/tasks").bearer(SEED_TOKEN).prefer("return=minimal").json(&json!({"name": "minimal"})).send().await;
    r.expect_status(201);
    assert!(r.text.is_empty(), "{r:#?}");
    assert!(r.header("location").is_none(), "{r:#?}");

    let r = t
        .post("/tasks")
        .bearer(SEED_TOKEN)
        .prefer("return=headers-only")
        .json(&json!({"name": "headers only"}))
        .send()
        .await;
    r.expect_status(201);
    assert!(r.text.is_empty(), "{r:#?}");
    let id = db.tasks().last().expect("a task").0;
    assert_eq!(r.header("location").as_deref(), Some(format!("/tasks?id=eq.{id}").as_str()), "{r:#?}");

    // Bulk insert with representation.
    let r = t
        .post("/tasks")
        .bearer(SEED_TOKEN)
        .prefer("return=representation")
        .json(&json!([{"name": "bulk 1"}, {"name": "bulk 2"}]))
        .send()
        .await;
    r.expect_status(201);
    assert_eq!(names(&r.json()), ["bulk 1", "bulk 2"]);
    assert_eq!(db.tasks().len(), 7);

    // PATCH with representation returns the changed rows.
    let r = t
        .patch("/tasks?name=eq.minimal")
        .bearer(SEED_TOKEN)
        .prefer("return=representation")
        .json(&json!({"done": true}))
        .send()
        .await;
    r.expect_status(200);
    let body = r.json();
    assert_eq!(names(&body), ["minimal"]);
    assert_eq!(body[0]["done"], json!(true));
}

#[tokio::test]
async fn reads_carry_a_content_range() {
    let (_db, t) = seed_app().await;
    let r = t.get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-range").as_deref(), Some("0-1/*"), "{r:#?}");
    let r = t.get("/tasks").prefer("count=exact").send().await;
    assert!(matches!(r.status, 200 | 206), "{r:#?}");
    assert_eq!(r.header("content-range").as_deref(), Some("0-1/2"), "{r:#?}");
    let r = t.get("/tasks?id=eq.-1").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([]));
    assert_eq!(r.header("content-range").as_deref(), Some("*/*"), "{r:#?}");
}

// ---------------------------------------------------------------------------------------------
// Filters, order, limit/offset, select, HEAD
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn horizontal_filters() {
    let (_db, t) = extras_app(&[]).await;
    let cases: &[(&str, &[i64])] = &[
        ("id=eq.2", &[2]),
        ("tag=neq.fruit", &[3, 5]),
        ("price=gt.1.5", &[4, 5]),
        ("price=gte.1.5", &[1, 4, 5]),
        ("price=lt.0.25", &[3]),
        ("price=lte.0.25", &[2, 3]),
        ("name=like.*an*", &[2, 4, 5]),
        ("name=like.d*", &[]),
        ("name=ilike.d*", &[4]),
        ("id=in.(1,3)", &[1, 3]),
        ("tag=is.null", &[4]),
        ("tag=not.is.null", &[1, 2, 3, 5]),
        ("id=not.in.(1,2)", &[3, 4, 5]),
        ("name=not.eq.apple", &[2, 3, 4, 5]),
        ("tag=eq.fruit&price=lt.1", &[2]),
        ("or=(id.eq.1,tag.eq.veg)", &[1, 3, 5]),
    ];
    for (query, expected) in cases {
        let r = t.get(&format!("/items?{query}&order=id")).send().await;
        assert_eq!(r.status, 200, "{query}: {r:#?}");
        assert_eq!(ids(&r.json()), *expected, "filter {query}");
    }
}

#[tokio::test]
async fn order_limit_offset_and_select() {
    let (_db, t) = extras_app(&[]).await;

    let r = t.get("/items?order=price.desc").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [4, 5, 1, 2, 3]);

    let r = t.get("/items?order=tag.asc.nullsfirst,id.desc").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [4, 2, 1, 5, 3]);

    let r = t.get("/items?order=id&limit=2&offset=1").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [2, 3]);
    assert_eq!(r.header("content-range").as_deref(), Some("1-2/*"), "{r:#?}");

    let r = t.get("/items?select=id,name&id=eq.1").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 1, "name": "apple"}]));

    let r = t.get("/items?select=label:name,id::text&id=eq.2").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"label": "banana", "id": "2"}]));

    let r = t.get("/tasks?select=name&order=id").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"name": "finish tutorial 0"}, {"name": "pat self on back"}]));
}

#[tokio::test]
async fn head_returns_headers_without_a_body() {
    let (_db, t) = extras_app(&[]).await;
    let r = t.head("/items?order=id").send().await;
    r.expect_status(200);
    assert!(r.text.is_empty(), "{r:#?}");
    assert_eq!(r.media_type().as_deref(), Some("application/json"), "{r:#?}");
    assert_eq!(r.header("content-range").as_deref(), Some("0-4/*"), "{r:#?}");
    let r = t.head("/items").prefer("count=exact").send().await;
    assert!(matches!(r.status, 200 | 206), "{r:#?}");
    assert_eq!(r.header("content-range").as_deref(), Some("0-4/5"), "{r:#?}");
}

// ---------------------------------------------------------------------------------------------
// RPC
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rpc_returning_a_scalar() {
    let (_db, t) = extras_app(&[]).await;
    let r = t.get("/rpc/add?a=1&b=2").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!(3));
    let r = t.post("/rpc/add").json(&json!({"a": 40, "b": 2})).send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!(42));
}

#[tokio::test]
async fn rpc_returning_a_row_and_a_set() {
    let (_db, t) = extras_app(&[]).await;
    let r = t.get("/rpc/item?item_id=2").send().await;
    r.expect_status(200);
    let row = r.json();
    assert_eq!(row["id"], json!(2), "a single composite is an object: {row}");
    assert_eq!(row["name"], json!("banana"));

    let r = t.post("/rpc/item").json(&json!({"item_id": 3})).send().await;
    r.expect_status(200);
    assert_eq!(r.json()["name"], json!("carrot"));

    let r = t.post("/rpc/items_with_tag").json(&json!({"t": "veg"})).send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [3, 5]);

    let r = t.get("/rpc/items_with_tag?t=fruit&select=id,name&order=id.desc").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 2, "name": "banana"}, {"id": 1, "name": "apple"}]));

    let r = t.get("/rpc/items_with_tag?t=veg&id=gt.3").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [5]);
}

#[tokio::test]
async fn rpc_returning_void() {
    let (_db, t) = extras_app(&[]).await;
    let r = t.post("/rpc/noop").json(&json!({})).send().await;
    r.expect_status(204);
    assert!(r.text.is_empty(), "{r:#?}");
    let r = t.get("/rpc/noop").send().await;
    r.expect_status(204);
    assert!(r.text.is_empty(), "{r:#?}");
}

#[tokio::test]
async fn a_function_sets_response_status_and_headers() {
    let (_db, t) = extras_app(&[]).await;
    for req in [t.get("/rpc/teapot"), t.post("/rpc/teapot").json(&json!({}))] {
        let r = req.send().await;
        r.expect_status(418);
        assert_eq!(r.header("x-custom").as_deref(), Some("yes"), "{r:#?}");
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "{r:#?}");
        assert_eq!(r.json(), json!("short and stout"));
    }
}

#[tokio::test]
async fn unknown_function_is_404() {
    let (_db, t) = extras_app(&[]).await;
    let r = t.get("/rpc/no_such_function").send().await;
    r.expect_error(404, "PGRST202");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn database_errors_map_to_http_statuses() {
    let (db, t) = extras_app(&[]).await;

    // 23505 unique_violation → 409
    let r = t.post("/items").json(&json!({"id": 1, "name": "duplicate"})).send().await;
    let body = r.expect_error(409, "23505");
    assert!(body["details"].as_str().unwrap_or_default().contains("(id)=(1)"), "{body}");

    // 23502 not_null_violation → 400
    let r = t.post("/items").json(&json!({"id": 9})).send().await;
    r.expect_error(400, "23502");

    // P0001 raise_exception → 400, with the function's message/detail/hint
    let r = t.get("/rpc/fail").send().await;
    let body = r.expect_error(400, "P0001");
    assert_eq!(body["message"], json!("boom"));
    assert_eq!(body["details"], json!("the details"));
    assert_eq!(body["hint"], json!("the hint"));

    assert_eq!(db.query_lines("select count(*) from todo.items"), ["5"]);
}

#[tokio::test]
async fn request_errors_have_postgrest_codes() {
    let (_db, t) = seed_app().await;

    let r = t.get("/no_such_table").send().await;
    let body = r.expect_error(404, "PGRST205");
    assert!(body["message"].as_str().unwrap_or_default().contains("no_such_table"), "{body}");

    let r = t.get("/tasks?select=nope").send().await;
    r.expect_error(400, "42703");

    let r = t.get("/tasks?id=foo.1").send().await;
    r.expect_error(400, "PGRST100");

    let r = t.get("/tasks?id=0").send().await;
    r.expect_error(400, "PGRST100");

    let r = t.get("/tasks?order=id.sideways").send().await;
    r.expect_error(400, "PGRST100");

    let r = t.post("/tasks").bearer(SEED_TOKEN).body("application/json", "{not json").send().await;
    let body = r.expect_error(400, "PGRST102");
    assert!(body["message"].is_string());

    for r in [t.get("/tasks?id=eq.notanumber").send().await, t.get("/no_such_table").send().await] {
        assert_eq!(r.media_type().as_deref(), Some("application/json"), "{r:#?}");
    }
}

#[tokio::test]
async fn without_an_anon_role_requests_need_a_token() {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    unset_env(&mut env, "PGRST_DB_ANON_ROLE");
    let t = Tusk::start_authenticated(&env, Some(SEED_TOKEN)).await;
    let r = t.get("/tasks").send().await;
    r.expect_error(401, "PGRST302");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"), "{r:#?}");
    let r = t.get("/tasks").bearer(SEED_TOKEN).send().await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Request context visible to SQL
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn functions_see_the_request_context() {
    let (_db, t) = extras_app(&[]).await;
    let token = jwt(&json!({"role": "todo_user", "email": "a@b.c", "exp": now() + 300}));
    let r = t.get("/rpc/whoami").bearer(&token).header("X-Test", "hello").send().await;
    r.expect_status(200);
    let body = r.json();
    assert_eq!(body["role"], json!("todo_user"), "{body}");
    assert_eq!(body["claims"]["email"], json!("a@b.c"), "{body}");
    assert_eq!(body["claims"]["role"], json!("todo_user"), "{body}");
    assert_eq!(body["method"], json!("GET"), "{body}");
    assert_eq!(body["path"], json!("/rpc/whoami"), "{body}");
    assert_eq!(body["x_test"], json!("hello"), "{body}");

    let r = t.post("/rpc/whoami").json(&json!({})).send().await;
    r.expect_status(200);
    let body = r.json();
    assert_eq!(body["role"], json!("web_anon"), "{body}");
    assert_eq!(body["method"], json!("POST"), "{body}");
    // Anonymous: claims hold the anon role (PostgREST sets {"role": <anon role>}).
    assert_eq!(body["claims"]["role"], json!("web_anon"), "{body}");
}

#[tokio::test]
async fn the_pre_request_function_runs() {
    let (db, t) = extras_app(&[("PGRST_DB_PRE_REQUEST", "todo.pre_request")]).await;
    let r = t.get("/tasks").send().await;
    r.expect_status(200);
    assert_eq!(r.header("x-pre-request").as_deref(), Some("ran"), "{r:#?}");

    let r = t.get("/rpc/add?a=1&b=1").send().await;
    r.expect_status(200);
    assert_eq!(r.header("x-pre-request").as_deref(), Some("ran"), "{r:#?}");

    let before = db.tasks();
    let r = t.post("/tasks").bearer(SEED_TOKEN).header("X-Block", "yes").json(&json!({"name": "blocked"})).send().await;
    let body = r.expect_error(400, "P0001");
    assert_eq!(body["message"], json!("blocked by pre-request"));
    assert_eq!(db.tasks(), before);
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn db_max_rows_caps_responses() {
    let (_db, t) = extras_app(&[("PGRST_DB_MAX_ROWS", "2")]).await;
    let r = t.get("/items?order=id").send().await;
    r.expect_status(200);
    assert_eq!(ids(&r.json()), [1, 2]);
    assert_eq!(r.header("content-range").as_deref(), Some("0-1/*"), "{r:#?}");
    let r = t.get("/items?order=id&limit=1").send().await;
    assert_eq!(ids(&r.json()), [1]);
    let r = t.get("/tasks").send().await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn cors_allowed_origins() {
    let (_db, t) =
        extras_app(&[("PGRST_SERVER_CORS_ALLOWED_ORIGINS", "http://example.com, http://other.example")]).await;
    let r = t.get("/tasks").header("Origin", "http://example.com").send().await;
    r.expect_status(200);
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("http://example.com"), "{r:#?}");

    let r = t.get("/tasks").header("Origin", "http://evil.example").send().await;
    r.expect_status(200);
    assert!(r.header("access-control-allow-origin").is_none(), "{r:#?}");

    let r = t
        .options("/tasks")
        .header("Origin", "http://other.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "Content-Type, Authorization")
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("http://other.example"), "{r:#?}");
    let methods = r.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{r:#?}");
}

#[tokio::test]
async fn cors_defaults_to_any_origin() {
    let (_db, t) = seed_app().await;
    let r = t
        .options("/tasks")
        .header("Origin", "http://anywhere.example")
        .header("Access-Control-Request-Method", "PATCH")
        .header("Access-Control-Request-Headers", "Content-Type")
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:#?}");
    let methods = r.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("PATCH"), "{r:#?}");
}

/// The API's root describes what the requesting role may use, and no more (openapi-mode
/// follow-privileges, PostgreSQL deciding).
#[tokio::test]
async fn the_openapi_root_follows_the_roles_privileges() {
    let db = TestDb::todo();
    db.psql("create table todo.secrets (id int primary key, note text); grant select on todo.secrets to todo_user;");
    let t = Tusk::start(&db.seed_env()).await;

    let anon = t.get("/").send().await;
    anon.expect_status(200);
    assert_eq!(anon.media_type().as_deref(), Some("application/openapi+json"), "{anon:#?}");
    let doc = anon.json();
    assert_eq!(doc["swagger"], json!("2.0"));
    assert!(doc["paths"].get("/tasks").is_some(), "{doc}");
    assert!(doc["paths"].get("/rpc/homepage").is_some(), "{doc}");
    assert!(doc["paths"].get("/secrets").is_none(), "anon must not see todo.secrets: {doc}");

    let user = t.get("/").bearer(SEED_TOKEN).send().await;
    user.expect_status(200);
    assert!(user.json()["paths"].get("/secrets").is_some(), "todo_user may read todo.secrets");
}

/// Prefer: count=planned answers with the planner's estimate, also for a page with a JSON-free
/// select list and an offset (every bound parameter of the read is reused by the EXPLAIN).
#[tokio::test]
async fn planned_counts_are_estimates() {
    let (_db, t) = seed_app().await;
    let r = t.get("/tasks?select=name&order=id&limit=1&offset=1").prefer("count=planned").send().await;
    assert!(matches!(r.status, 200 | 206), "{r:#?}");
    let range = r.header("content-range").unwrap_or_default();
    let total = range.strip_prefix("1-1/").and_then(|n| n.parse::<i64>().ok());
    assert!(total.is_some_and(|n| n >= 0), "Content-Range {range:?}: {r:#?}");
}
