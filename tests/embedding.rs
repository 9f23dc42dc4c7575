//! Resource embedding against a real database: relationships found through views (also views
//! of the extra search path, and views that show a column twice), many-to-many through a
//! junction view, partitioned tables, the ambiguity error, empty embeds used as filters and a
//! function returning a domain over a table type.

mod support;

use support::*;

/// Tables in a schema that is not exposed, shown by views in `todo`; a middle view in `ext`
/// (the extra search path); partitioned tables; relationships that need disambiguation.
const EMBED_SQL: &str = r#"
create schema internal;
create schema ext;

create table internal.actors (id int primary key, name text);
create table internal.films (id int primary key, title text);
create table internal.roles (
  actor_id int references internal.actors,
  film_id  int references internal.films,
  primary key (actor_id, film_id)
);
insert into internal.actors values (1, 'john'), (2, 'mary');
insert into internal.films values (12, 'douze commandements'), (2001, 'odyssey');
insert into internal.roles values (1, 12), (2, 2001);
create view todo.actors as select * from internal.actors;
create view todo.films as select * from internal.films;
create view todo.roles as select * from internal.roles;

create table internal.people (id int primary key, name text);
create table internal.messages (id int primary key, sender int references internal.people, body text);
insert into internal.people values (1, 'ann'), (2, 'bob');
insert into internal.messages values (1, 1, 'hi'), (2, 2, 'hello'), (3, 1, 'bye');
create view todo.people as select * from internal.people;
-- One table column shown under two names.
create view todo.messages as select id, sender as author, sender as sent_by, body from internal.messages;
-- A view of a view that is in the extra search path only.
create view ext.people_mid as select * from internal.people;
create view todo.people_top as select * from ext.people_mid;

create table todo.models (name text, year int, primary key (name, year)) partition by list (year);
create table todo.models_old partition of todo.models for values in (1990);
create table todo.models_new partition of todo.models default;
create table todo.sales (
  id int, model_name text, model_year int,
  primary key (id, model_year),
  foreign key (model_name, model_year) references todo.models
) partition by list (model_year);
create table todo.sales_1990 partition of todo.sales for values in (1990);
create table todo.sales_other partition of todo.sales default;
insert into todo.models values ('a', 1990), ('b', 2020);
insert into todo.sales values (1, 'a', 1990), (2, 'b', 2020), (3, 'b', 2020);

create table todo.agents (id int primary key, name text, department_id int);
create table todo.departments (id int primary key, name text, head_id int references todo.agents);
alter table todo.agents
  add constraint agents_department_id_fkey foreign key (department_id) references todo.departments;
create table todo.agentz (id int primary key);

create table todo.clients (id int primary key, name text);
create table todo.client_notes (id int primary key, client_id int references todo.clients, note text);
create table todo.client_contacts (id int primary key, client_id int references todo.clients, name text);
insert into todo.clients values (1, 'acme'), (2, 'globex'), (3, 'initech');
insert into todo.client_notes values (1, 1, 'vip'), (2, 2, 'late payer'), (3, 3, 'vip too');
insert into todo.client_contacts values (1, 1, 'ann'), (2, 2, 'bob'), (3, 3, 'cid');

create domain todo.client_d as todo.clients;
create function todo.get_client(client_id int) returns setof todo.client_d
  language sql stable as $$ select c::todo.client_d from todo.clients c where c.id = client_id $$;

grant usage on schema internal, ext to web_anon;
grant select on all tables in schema todo, internal, ext to web_anon;
"#;

async fn embed_app(extra_search_path: &str) -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql(EMBED_SQL);
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_DB_EXTRA_SEARCH_PATH", extra_search_path);
    let tusk = Tusk::start(&env).await;
    (db, tusk)
}

#[tokio::test]
async fn many_to_many_through_a_junction_view() {
    let (_db, t) = embed_app("ext").await;
    let r = t.get("/actors?select=name,films(title)&order=id").send().await;
    r.expect_status(200);
    assert_eq!(
        r.json(),
        json!([{"name": "john", "films": [{"title": "douze commandements"}]},
               {"name": "mary", "films": [{"title": "odyssey"}]}])
    );
    let r = t.get("/films?select=title,actors!inner(name)&actors.name=eq.mary").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"title": "odyssey", "actors": [{"name": "mary"}]}]));
    // An empty spread selects nothing of the embed.
    let r = t.get("/actors?select=name,...films()&order=id").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"name": "john"}, {"name": "mary"}]));
}

#[tokio::test]
async fn each_name_of_a_column_a_view_shows_twice_is_a_relationship() {
    let (_db, t) = embed_app("ext").await;
    // Two relationships with the same foreign key: ambiguous, in PostgREST's order.
    let r = t.get("/messages?select=id,people(name)").send().await;
    let body = r.expect_error(300, "PGRST201");
    let rels: Vec<&str> = body["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["relationship"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        rels,
        [
            "messages_sender_fkey using messages(author) and people(id)",
            "messages_sender_fkey using messages(sent_by) and people(id)"
        ],
        "{body}"
    );
    // Either view column disambiguates.
    for hint in ["author", "sent_by"] {
        let r = t.get(&format!("/messages?select=id,people!{hint}(name)&order=id")).send().await;
        r.expect_status(200);
        assert_eq!(r.json()[1], json!({"id": 2, "people": {"name": "bob"}}), "hint {hint}");
    }
}

#[tokio::test]
async fn two_embeds_under_one_name_are_refused_and_aliases_resolve_it() {
    let (_db, t) = embed_app("ext").await;
    // The JSON object would have the key "people" twice: 400 42712, as PostgREST answers.
    let r = t.get("/messages?select=id,people!author(name),people!sent_by(name)").send().await;
    let body = r.expect_error(400, "42712");
    assert_eq!(body["message"], json!("table name \"people\" specified more than once"), "{body}");
    assert!(body["hint"].as_str().is_some_and(|h| h.contains("alias")), "{body}");
    // The same with aliases, also for spreads and empty embeds.
    for select in ["id,a:people!author(name),a:people!sent_by(name)", "id,...people!author(name),...people!sent_by(id)"]
    {
        t.get(&format!("/messages?select={select}")).send().await.expect_error(400, "42712");
    }
    // Aliased, each under its own key.
    let r = t.get("/messages?select=id,a:people!author(name),b:people!sent_by(name)&id=eq.2").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"id": 2, "a": {"name": "bob"}, "b": {"name": "bob"}}]));
    // A column selected twice stays allowed, as in PostgREST.
    let r = t.get("/messages?select=id,id&id=eq.2").send().await;
    r.expect_status(200);
}

#[tokio::test]
async fn views_of_the_extra_search_path_are_followed() {
    let (_db, t) = embed_app("ext").await;
    let r = t.get("/people_top?select=name,messages!author(body)&id=eq.1&messages.order=id").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"name": "ann", "messages": [{"body": "hi"}, {"body": "bye"}]}]));

    // Without `ext` on the extra search path the middle view is not traced.
    let (_db, t) = embed_app("").await;
    let r = t.get("/people_top?select=name,messages!author(body)").send().await;
    r.expect_error(400, "PGRST200");
}

#[tokio::test]
async fn partitions_are_hidden_behind_their_partitioned_table() {
    let (_db, t) = embed_app("ext").await;
    let r = t.get("/models?select=name,sales(id)&order=name&sales.order=id").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"name": "a", "sales": [{"id": 1}]}, {"name": "b", "sales": [{"id": 2}, {"id": 3}]}]));
    let body = t.get("/sales_1990").send().await.expect_error(404, "PGRST205");
    assert_eq!(body["message"], "Could not find the table 'todo.sales_1990' in the schema cache");
    let body = t.get("/models?select=name,sales_1990(id)").send().await.expect_error(400, "PGRST200");
    assert_eq!(body["hint"], "Perhaps you meant 'sales' instead of 'sales_1990'.");
}

#[tokio::test]
async fn an_ambiguous_embed_lists_the_relationships() {
    let (_db, t) = embed_app("ext").await;
    let r = t.get("/agents?select=*,departments(*)").send().await;
    let body = r.expect_error(300, "PGRST201");
    assert_eq!(
        body,
        json!({
            "code": "PGRST201",
            "message": "Could not embed because more than one relationship was found for 'agents' and 'departments'",
            "details": [
                {"cardinality": "one-to-many", "embedding": "agents with departments",
                 "relationship": "departments_head_id_fkey using agents(id) and departments(head_id)"},
                {"cardinality": "many-to-one", "embedding": "agents with departments",
                 "relationship": "agents_department_id_fkey using agents(department_id) and departments(id)"}
            ],
            "hint": "Try changing 'departments' to one of the following: 'departments!departments_head_id_fkey', \
                     'departments!agents_department_id_fkey'. Find the desired relationship in the 'details' key."
        })
    );
    // A hint that matches nothing: no suggestion of the same name.
    let body = t.get("/agents?select=*,departments!nope(*)").send().await.expect_error(400, "PGRST200");
    assert_eq!(body["hint"], Value::Null, "{body}");
    // A table without relationships: the closest one that has some is suggested.
    let body = t.get("/agentz?select=*,departments(*)").send().await.expect_error(400, "PGRST200");
    assert_eq!(body["hint"], "Perhaps you meant 'agents' instead of 'agentz'.", "{body}");
}

#[tokio::test]
async fn empty_embeds_filter_in_or_conditions() {
    let (_db, t) = embed_app("ext").await;
    let path = "/clients?select=id,name,client_notes(),client_contacts()&client_notes.note=eq.vip\
                &client_contacts.name=eq.bob&or=(client_notes.not.is.null,client_contacts.not.is.null)&order=id";
    for count in ["exact", "planned", "estimated"] {
        // The planned total is an estimate (the status may then be 206), the rows are not.
        let r = t.get(path).prefer(&format!("count={count}")).send().await;
        assert!(matches!(r.status, 200 | 206), "count={count}: {r:#?}");
        assert_eq!(r.json(), json!([{"id": 1, "name": "acme"}, {"id": 2, "name": "globex"}]), "count={count}");
        let range = r.header("content-range").unwrap_or_default();
        if count == "exact" {
            assert_eq!(range, "0-1/2");
        } else {
            let total = range.strip_prefix("0-1/").and_then(|n| n.parse::<i64>().ok());
            assert!(total.is_some_and(|n| n >= 1), "count={count}: Content-Range {range:?}");
        }
    }
    let r = t.get("/clients?select=name,client_notes()&client_notes.note=like.vip*&client_notes=is.null").send().await;
    r.expect_status(200);
    assert_eq!(r.json(), json!([{"name": "globex"}]));
}

#[tokio::test]
async fn a_function_returning_a_domain_over_a_table_type_embeds() {
    let (_db, t) = embed_app("ext").await;
    let r = t.get("/rpc/get_client?client_id=1&select=name,client_notes(note),client_contacts(name)").send().await;
    r.expect_status(200);
    assert_eq!(
        r.json(),
        json!([{"name": "acme", "client_notes": [{"note": "vip"}], "client_contacts": [{"name": "ann"}]}])
    );
}
