-- =============================================================================
--  backend.sql — the whole backend of the "todo" example app
-- =============================================================================
--
--  The idea ("backend.sql + frontend.js"): an open-source app ships as exactly
--  two files.
--
--    * backend.sql (this file) is run once by the self-hoster on their own
--      PostgreSQL database:  psql "postgres://admin@host/dbname" < backend.sql
--    * frontend.js is a single ES module (static/frontend.js beside this
--      file). The HTML page served by the database (todo.homepage() below)
--      loads it, and it talks to the REST API. tusk serves it itself
--      (server-static-dir); the developers may also publish it on a CDN.
--
--  Between the two sits a PostgREST-compatible server (PostgREST itself, or
--  tusk). It turns the database schema into an HTTP API:
--
--    GET    /tasks                 ->  select ... from todo.tasks
--    POST   /tasks                 ->  insert into todo.tasks ...
--    PATCH  /tasks?id=eq.3         ->  update todo.tasks ... where id = 3
--    DELETE /tasks?id=eq.3         ->  delete from todo.tasks where id = 3
--    GET    /rpc/homepage          ->  select todo.homepage()
--
--  Start the server with, for example:
--
--    PGRST_DB_URI=postgres://postgrest:mysecretpassword@localhost:5432/dbname \
--    PGRST_DB_SCHEMAS=todo PGRST_DB_ANON_ROLE=web_anon \
--    PGRST_JWT_SECRET=your-256-bit-secret-your-256-bit-secret \
--    PGRST_RAW_MEDIA_TYPES=text/html  postgrest        (or: tusk)
--
--  With tusk, add PGRST_SERVER_STATIC_DIR=examples/todo/static so that it
--  serves frontend.js at /static/frontend.js, where the page loads it from.
--  (PostgREST serves no files: point todo.frontend_url at a CDN, see 6.)
--
--  and open http://localhost:3000/rpc/homepage.
--
--  There is no application server with its own permission checks: ALL the
--  security lives in this file, enforced by PostgreSQL itself through roles,
--  GRANTs and row-level security. That is why it is commented so carefully.
--
--  HOW A REQUEST BECOMES A DATABASE ROLE
--  -------------------------------------
--  The API server connects to PostgreSQL as one single login role, the
--  "authenticator" (here: `postgrest`). For every HTTP request it opens a
--  transaction and switches to another role with SET LOCAL ROLE:
--
--    * no Authorization header         -> the anonymous role  `web_anon`
--    * Authorization: Bearer <JWT>     -> the role named in the token's
--                                         "role" claim, e.g. `todo_user`
--
--  The JWT (JSON Web Token) is signed with the server's secret
--  (PGRST_JWT_SECRET, HS256). Whoever holds that secret can mint tokens; the
--  server rejects tokens with a bad signature or whose "exp" claim (expiry,
--  in seconds since 1970) lies in the past, answering HTTP 401. A token
--  payload looks like {"role": "todo_user", "exp": 1735689600}.
--
--  So "logging in" is simply presenting a token for a database role, and
--  what that person may do is exactly what that role may do in PostgreSQL.
--  Section 7 lets people sign in with a name and a password instead: a
--  login function checks the password and hands out such a token, in a
--  cookie that page scripts cannot read.
--
--  Re-runnable: running this file a second time is harmless (roles are only
--  created if missing, tables only if missing, policies are replaced, sample
--  rows are only inserted into an empty table). The whole script runs in one
--  transaction: if anything fails, nothing is changed.
-- =============================================================================

begin;

-- -----------------------------------------------------------------------------
--  1. Roles
-- -----------------------------------------------------------------------------
--
--  `postgrest` — the AUTHENTICATOR. It is the only role that can log in (the
--  API server's connection string uses it). It is created NOINHERIT: although
--  it is a member of web_anon and todo_user (see the GRANT below), it does
--  NOT automatically get their privileges. Membership only lets it switch
--  into them with SET ROLE. On its own, the authenticator can do nothing, so
--  a request can never accidentally run with "the union of all users'
--  rights"; it always runs as exactly one role.
--
--  CHANGE THE PASSWORD for any real deployment:
--      alter role postgrest password '...';
--  (Re-running this script does not reset the password of an existing role.)
--
--  `web_anon` — the role used for requests WITHOUT a token (visitors). NOLOGIN:
--  nobody can connect as it directly; only the authenticator can become it.
--
--  `todo_user` — a regular user of the app. Requests carrying a valid JWT
--  whose payload is {"role": "todo_user"} run as this role.
--
--  The DO blocks make role creation re-runnable: CREATE ROLE has no
--  "IF NOT EXISTS", so we catch the duplicate_object error instead.

do $$
begin
  create role postgrest login noinherit password 'mysecretpassword';
exception when duplicate_object then
  raise notice 'role "postgrest" already exists, leaving it unchanged';
end
$$;

do $$
begin
  create role web_anon nologin;
exception when duplicate_object then
  raise notice 'role "web_anon" already exists, leaving it unchanged';
end
$$;

do $$
begin
  create role todo_user nologin;
exception when duplicate_object then
  raise notice 'role "todo_user" already exists, leaving it unchanged';
end
$$;

-- Allow the authenticator to switch into these roles (SET ROLE). Granting a
-- membership that already exists only prints a notice.
grant web_anon, todo_user to postgrest;

--  A request may not run for ever: every statement of a request is cancelled
--  past its role's statement_timeout (the API answers 500 with SQLSTATE
--  57014), so a slow query cannot hold a database connection for minutes.
--  Visitors get little time, users a bit more. The API server applies these
--  role settings inside each request's transaction (PostgREST v11.1+, tusk);
--  after changing them run:  NOTIFY pgrst, 'reload config';

alter role web_anon set statement_timeout = '3s';
alter role todo_user set statement_timeout = '10s';


-- -----------------------------------------------------------------------------
--  2. Schema and table
-- -----------------------------------------------------------------------------
--
--  Everything the API exposes lives in the schema `todo` (PGRST_DB_SCHEMAS=todo).
--  Tables and functions in other schemas are invisible to HTTP clients.

create schema if not exists todo;

--  `owner` records which database role created the task. Its default is
--  current_user, and during an API request current_user is the role taken
--  from the JWT — so the client never has to (and cannot falsely) send it.
--
--  `serial` creates the sequence todo.tasks_id_seq, which roles that insert
--  need USAGE on (see the grants and the "second user" recipe below).

create table if not exists todo.tasks (
  id    serial  primary key,
  name  text    not null,
  done  boolean not null default false,
  owner text    not null default current_user
);

comment on table todo.tasks is 'Tasks of the todo example app. Readable by everyone; each role may only change its own tasks.';


-- -----------------------------------------------------------------------------
--  3. Row-level security (RLS)
-- -----------------------------------------------------------------------------
--
--  GRANTs (section 4) say which *operations* a role may perform on the table
--  at all. Row-level security then decides *which rows* each operation can
--  see or touch. Once RLS is enabled, a row is only visible/changeable if some
--  policy allows it; with no matching policy, nothing is allowed.
--
--  The policies below are written "to public" (that is, for every role) and
--  compare the row's owner with current_user. They do not mention todo_user
--  by name, so ANY role that is granted table privileges automatically gets
--  the same rules: read everything, change only its own rows. That is what
--  makes "adding a second user" a matter of a few GRANTs (see the end).
--
--    select : every row, for everyone who may SELECT (web_anon included).
--    insert : only rows whose owner is yourself (WITH CHECK). Sending
--             {"owner": "someone_else"} fails with "new row violates
--             row-level security policy".
--    update : only your own rows (USING) and the result must still be yours
--             (WITH CHECK), so you cannot give a task away either.
--             Updating someone else's task matches zero rows: the API answers
--             200 with an empty list, and nothing changes.
--    delete : only your own rows; same "zero rows" behaviour otherwise.
--
--  The table's owner (the admin who runs this script) is not subject to RLS
--  (we do not use FORCE ROW LEVEL SECURITY), so admins can still manage all
--  data from psql.

alter table todo.tasks enable row level security;

drop policy if exists tasks_select_all on todo.tasks;
create policy tasks_select_all on todo.tasks
  for select to public
  using (true);

drop policy if exists tasks_insert_own on todo.tasks;
create policy tasks_insert_own on todo.tasks
  for insert to public
  with check (owner = current_user);

drop policy if exists tasks_update_own on todo.tasks;
create policy tasks_update_own on todo.tasks
  for update to public
  using (owner = current_user)
  with check (owner = current_user);

drop policy if exists tasks_delete_own on todo.tasks;
create policy tasks_delete_own on todo.tasks
  for delete to public
  using (owner = current_user);


-- -----------------------------------------------------------------------------
--  4. Privileges
-- -----------------------------------------------------------------------------
--
--  Anonymous visitors may look at the schema, read tasks and load the page.
--  They get no INSERT/UPDATE/DELETE privilege, so such requests are refused
--  (the API answers 401: "log in first").

grant usage on schema todo to web_anon;
grant select on todo.tasks to web_anon;

--  Logged-in users may use every operation on the table — RLS above narrows
--  that down to their own rows — and need the sequence to get new ids.

grant usage on schema todo to todo_user;
grant all on todo.tasks to todo_user;
grant usage, select on sequence todo.tasks_id_seq to todo_user;


-- -----------------------------------------------------------------------------
--  5. Sample data
-- -----------------------------------------------------------------------------
--
--  Two tasks so visitors see something. They are inserted by whoever runs
--  this script, so their owner is that admin role — not todo_user — and app
--  users can see them but not change them. Only inserted into an empty table.

insert into todo.tasks (name, done)
select v.name, v.done
from (values ('finish tutorial 0', false),
             ('pat self on back',  false)) as v(name, done)
where not exists (select 1 from todo.tasks);


-- -----------------------------------------------------------------------------
--  6. The HTML page: GET /rpc/homepage
-- -----------------------------------------------------------------------------
--
--  A function in the exposed schema is callable as /rpc/<name>. This one
--  returns a complete HTML document as the domain "text/html" (a `text` named
--  after its media type): a browser asking for text/html receives the text
--  as-is with Content-Type: text/html, i.e. a web page (PostgREST v12+). Only
--  this function is served as HTML; older setups that pass
--  PGRST_RAW_MEDIA_TYPES=text/html keep working, but that setting serves EVERY
--  text function as HTML, which is unsafe with one that echoes its input.
--
--  The page is a small shell: it styles the body, shows a "Loading…" state,
--  and loads frontend.js (a single ES module) which renders the actual app
--  and calls the REST API on the same origin. If the script cannot be loaded
--  (no network, a wrong URL) or has not started after 20 seconds, a small
--  inline script (allowed by its hash in the Content-Security-Policy) says
--  so on the page instead of spinning forever.
--
--  WHERE frontend.js COMES FROM is configurable, with the custom setting
--  `todo.frontend_url`. By default it is /static/frontend.js on this same
--  server (tusk's server-static-dir; works offline). To load it from a CDN
--  or another server instead:
--
--      ALTER DATABASE <dbname> SET todo.frontend_url = 'https://cdn.jsdelivr.net/gh/tusk-dev/tusk@main/examples/todo/static/frontend.js';
--
--  Database-level settings apply to NEW connections, so restart the API
--  server (or wait for its pool to reconnect) afterwards. To go back to the
--  default:  ALTER DATABASE <dbname> RESET todo.frontend_url;
--
--  The URL is HTML-escaped before it is put into the src attribute, and a
--  Content-Security-Policy limits the page to: scripts from that URL's origin
--  (or this server), API calls to this server only, no third-party requests.
--
--  Functions are executable by PUBLIC by default in PostgreSQL, so every role
--  (including any role added later) can load the page; the explicit grant to
--  web_anon documents the intent.

do $$
begin
  create domain todo."text/html" as text;
exception when duplicate_object then
  raise notice 'domain todo."text/html" already exists, leaving it unchanged';
end
$$;

-- Earlier versions of this file returned plain text: a return type cannot be
-- changed in place (the comment and grant below are set again).
drop function if exists todo.homepage();

create function todo.homepage()
returns todo."text/html"
language sql
stable
as $function$
  with setting as (
    select coalesce(
             nullif(current_setting('todo.frontend_url', true), ''),
             '/static/frontend.js'
           ) as url
  ),
  boot as (
    -- Runs before the module: tells the user when frontend.js does not load.
    -- Fixed text, allowed by its SHA-256 in the Content-Security-Policy.
    select script, encode(sha256(convert_to(script, 'UTF8')), 'base64') as hash
    from (select $js$
(function () {
  var el = document.getElementById('frontend-script');
  function fail(why) {
    var boot = document.querySelector('#app .boot');
    if (!boot) return;
    boot.setAttribute('data-testid', 'boot-failed');
    boot.replaceChildren();
    var h = document.createElement('h1');
    h.textContent = 'The app could not be loaded';
    var p = document.createElement('p');
    p.textContent = why + ' (' + el.src + '). Check the network connection, or the todo.frontend_url setting; the data is also available as JSON at /tasks.';
    boot.append(h, p);
  }
  function later(f) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', f); else f();
  }
  el.addEventListener('error', function () { later(function () { fail('Its script did not load'); }); });
  setTimeout(function () { fail('Its script has not started after 20 seconds'); }, 20000);
})();
$js$::text as script) s
  ),
  parts as (
    select url,
           -- scheme://host[:port] of an absolute URL; null for a relative URL
           substring(url from '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]+') as origin
    from setting
  ),
  escaped as (
    -- HTML attribute escaping: & first, then the characters that could end
    -- the attribute or open a tag.
    select replace(replace(replace(replace(replace(url,
             '&', '&amp;'), '"', '&quot;'), '''', '&#39;'), '<', '&lt;'), '>', '&gt;') as src,
           replace(replace(replace(replace(replace(replace(
             coalesce(origin, ''),
             ';', ''), '&', '&amp;'), '"', '&quot;'), '''', '&#39;'), '<', '&lt;'), '>', '&gt;') as script_origin,
           boot.script as boot_script,
           boot.hash as boot_hash
    from parts, boot
  )
  select replace(replace(replace(replace($html$<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self' {{SCRIPT_ORIGIN}} 'sha256-{{BOOT_HASH}}'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<meta name="theme-color" content="#4f46e5">
<title>Todo · backend.sql + frontend.js</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234f46e5'/%3E%3Cpath d='M9 16.5l4.5 4.5L23 11.5' stroke='white' stroke-width='3.2' fill='none' stroke-linecap='round' stroke-linejoin='round'/%3E%3C/svg%3E">
<style>
  :root {
    color-scheme: light dark;
    --bg: #f4f5fb; --fg: #1b1d2a; --muted: #6b7085; --accent: #4f46e5;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    line-height: 1.5;
  }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #11121a; --fg: #e8e9f1; --muted: #9a9eb4; }
  }
  * { box-sizing: border-box; }
  html, body { margin: 0; min-height: 100%; background: var(--bg); color: var(--fg); }
  body { -webkit-text-size-adjust: 100%; }
  .boot { max-width: 40rem; margin: 0 auto; padding: 4rem 1.25rem; text-align: center; color: var(--muted); }
  .boot h1 { color: var(--fg); font-size: 1.6rem; margin: 0 0 .5rem; }
  .boot .spinner { width: 2rem; height: 2rem; margin: 1.5rem auto; border-radius: 50%;
    border: 3px solid color-mix(in srgb, var(--accent) 25%, transparent); border-top-color: var(--accent);
    animation: spin .8s linear infinite; }
  @keyframes spin { to { transform: rotate(360deg); } }
  @media (prefers-reduced-motion: reduce) { .boot .spinner { animation: none; } }
</style>
<script type="module" src="{{FRONTEND_URL}}" id="frontend-script"></script>
<script>{{BOOT_SCRIPT}}</script>
</head>
<body>
<div id="app" data-testid="app-root">
  <div class="boot" role="status">
    <h1>Todo</h1>
    <div class="spinner" aria-hidden="true"></div>
    <p>Loading the app…</p>
    <noscript><p>This app needs JavaScript. The data itself is also available as JSON at <a href="../tasks">/tasks</a>.</p></noscript>
  </div>
</div>
</body>
</html>
$html$, '{{BOOT_SCRIPT}}', boot_script), '{{BOOT_HASH}}', boot_hash),
     '{{FRONTEND_URL}}', src), '{{SCRIPT_ORIGIN}}', script_origin)::todo."text/html"
  from escaped;
$function$;

comment on function todo.homepage() is 'The app''s HTML page (GET /rpc/homepage). Loads frontend.js from the URL in the todo.frontend_url setting, or /static/frontend.js by default.';

grant execute on function todo.homepage() to web_anon;


-- -----------------------------------------------------------------------------
--  7. Accounts: sign-in with a name and a password
-- -----------------------------------------------------------------------------
--
--  Nobody has to make a JWT by hand. A person signs in with a name and a
--  password (POST /rpc/login); the function below checks the password and
--  answers with a short-lived JWT for the account's database role, signed
--  right here in SQL, and put in an HttpOnly cookie, so that no script on the
--  page can ever read it. The API server reads the JWT from that cookie
--  (tusk: PGRST_JWT_COOKIE=todo_jwt), and it must hand its JWT secret to SQL:
--
--    PGRST_APP_SETTINGS_JWT_SECRET=<the same value as PGRST_JWT_SECRET>
--
--  (the secret must not be base64-encoded here). The seed's way keeps
--  working: tokens made with `tusk token` and pasted in, or sent by API
--  clients in the Authorization header.
--
--  Passwords are stored only as bcrypt hashes (pgcrypto), in the schema
--  todo_private, which is not exposed over HTTP and which no API role may
--  use: the functions that read it are SECURITY DEFINER (they run with the
--  rights of whoever runs this file) and each one checks its own input.
--
--  An administrator creates an account from psql:
--
--    select todo_private.create_account('alice', 'a long password');            -- role todo_user
--    select todo_private.create_account('bob', 'another password', 'second_user');
--
--  Sign-up by the visitors themselves is OFF by default. To switch it on:
--
--    update todo_private.settings set value = 'on' where key = 'signup';
--
--  Each sign-up creates a database role of its own (u_<name>), with exactly
--  the grants of "Adding another user" at the end of this file. This needs
--  the right to create roles: run this file as a superuser or a role with
--  CREATEROLE.

create schema if not exists todo_private;
revoke all on schema todo_private from public;

--  pgcrypto gives crypt()/gen_salt() (bcrypt) and hmac() (to sign the JWT).
--  It is a trusted extension: a database owner may create it. Where it is
--  already installed (often in public) that copy is used: the functions that
--  call it look in todo_private, then public.
create extension if not exists pgcrypto with schema todo_private;

create or replace function todo_private.hash_password(password text) returns text
language sql volatile
set search_path = pg_catalog, todo_private, public, pg_temp
as $$ select crypt(password, gen_salt('bf', 10)) $$;

create table if not exists todo_private.settings (
  key   text primary key,
  value text not null
);
insert into todo_private.settings (key, value) values
  ('signup', 'off'),            -- 'on': visitors may create accounts
  ('session_minutes', '60'),    -- lifetime of a sign-in; the app renews it while in use
  ('cookie', 'todo_jwt'),       -- must equal the server's jwt-cookie setting
  ('max_accounts', '1000')      -- sign-up stops past this many accounts
on conflict (key) do nothing;
--  A bcrypt hash of nothing in particular, of the same cost as real ones: a
--  sign-in with an unknown name checks the password against it, so that it
--  takes as long as one with a known name and a wrong password.
insert into todo_private.settings (key, value)
select 'dummy_hash', todo_private.hash_password(gen_random_uuid()::text)
on conflict (key) do nothing;

create table if not exists todo_private.accounts (
  name          text primary key check (name ~ '^[a-z][a-z0-9_]{2,31}$'),
  role          name not null,
  password_hash text not null,
  created_at    timestamptz not null default now()
);

--  Failed sign-ins per name (also for names that do not exist, so that the
--  answer does not tell them apart). After 5 failures in a row, each further
--  attempt must wait 1, 2, 4, ... seconds (at most 15 minutes) after the last
--  failure, and is refused with 429 until then. Rows older than a day go.
create table if not exists todo_private.login_failures (
  name         text primary key,
  failures     int not null,
  last_failure timestamptz not null
);
create index if not exists login_failures_last on todo_private.login_failures (last_failure);

create or replace function todo_private.setting(k text) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select value from todo_private.settings where key = k $$;

create or replace function todo_private.base64url(data bytea) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select translate(rtrim(encode(data, 'base64'), '='), E'+/\n', '-_') $$;

--  A JWT (HS256) with the secret the API server hands in.
create or replace function todo_private.sign_jwt(payload json) returns text
language plpgsql stable
set search_path = pg_catalog, todo_private, public, pg_temp
as $$
declare
  secret text := nullif(current_setting('app.settings.jwt_secret', true), '');
  signed text;
begin
  if secret is null then
    raise sqlstate 'PT503' using
      message = 'Sign-in is not set up on this server',
      detail = 'The API server must hand in its JWT secret as app.settings.jwt_secret',
      hint = 'Start it with PGRST_APP_SETTINGS_JWT_SECRET set to its jwt-secret';
  end if;
  signed := todo_private.base64url(convert_to('{"alg":"HS256","typ":"JWT"}', 'utf8'))
            || '.' || todo_private.base64url(convert_to(payload::text, 'utf8'));
  return signed || '.' || todo_private.base64url(hmac(convert_to(signed, 'utf8'), convert_to(secret, 'utf8'), 'sha256'));
end
$$;

--  Sets (or, with a null token, clears) the sign-in cookie on the response:
--  HttpOnly (no script can read it), SameSite=Strict (never sent along with a
--  request from another site), Secure when the page was loaded over HTTPS.
create or replace function todo_private.set_session_cookie(token text, max_age int) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  headers json := coalesce(nullif(current_setting('request.headers', true), ''), '{}')::json;
  https boolean := coalesce(headers->>'origin', '') like 'https://%'
                   or coalesce(headers->>'x-forwarded-proto', '') = 'https';
begin
  perform set_config('response.headers', json_build_array(json_build_object('Set-Cookie',
    format('%s=%s; Path=/; Max-Age=%s; HttpOnly; SameSite=Strict%s',
           todo_private.setting('cookie'), coalesce(token, ''), max_age,
           case when https then '; Secure' else '' end)))::text, true);
end
$$;

--  The body of a refused request, in the API's error shape, with its status.
create or replace function todo_private.refuse(status int, code text, message text, retry_after int default null)
returns json
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform set_config('response.status', status::text, true);
  if retry_after is not null then
    perform set_config('response.headers',
      json_build_array(json_build_object('Retry-After', retry_after::text))::text, true);
  end if;
  return json_build_object('code', code, 'message', message, 'details', null, 'hint', null);
end
$$;

--  Signs the account in: a new JWT in the cookie, and who it is in the body.
create or replace function todo_private.start_session(acct todo_private.accounts) returns json
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  -- A number of minutes; fractions allowed (tests use '0.1': 6 seconds).
  lifetime int := greatest(round(todo_private.setting('session_minutes')::numeric * 60), 1)::int;
  now_s bigint := extract(epoch from now())::bigint;
  exp bigint := now_s + lifetime;
begin
  perform todo_private.set_session_cookie(
    todo_private.sign_jwt(json_build_object('role', acct.role, 'name', acct.name, 'iat', now_s, 'exp', exp)),
    lifetime);
  return json_build_object('name', acct.name, 'role', acct.role, 'exp', exp);
end
$$;

--  POST /rpc/login {"name": "alice", "password": "..."}
--  200 {"name", "role", "exp"} and the cookie; 401 for a wrong name or a wrong
--  password alike (same answer, same time); 429 after repeated failures.
create or replace function todo.login(name text, password text) returns json
language plpgsql volatile security definer
set search_path = pg_catalog, todo_private, public, pg_temp
as $$
#variable_conflict use_column
declare
  who text := left(coalesce(login.name, ''), 64);
  acct todo_private.accounts;
  fail todo_private.login_failures;
  wait_s int;
  hashed text;
begin
  delete from todo_private.login_failures f where f.last_failure < now() - interval '1 day';
  select * into fail from todo_private.login_failures f where f.name = who;
  if fail.failures >= 5 then
    wait_s := least(power(2, least(fail.failures - 5, 10))::int, 900);
    if fail.last_failure + make_interval(secs => wait_s) > now() then
      return todo_private.refuse(429, 'TODO429', 'Too many failed sign-ins: wait a moment and try again',
        ceil(extract(epoch from fail.last_failure + make_interval(secs => wait_s) - now()))::int);
    end if;
  end if;
  select * into acct from todo_private.accounts a where a.name = who;
  hashed := crypt(coalesce(password, ''), coalesce(acct.password_hash, todo_private.setting('dummy_hash')));
  if acct.name is null or hashed is distinct from acct.password_hash then
    insert into todo_private.login_failures as f (name, failures, last_failure) values (who, 1, now())
      on conflict (name) do update set failures = f.failures + 1, last_failure = now();
    return todo_private.refuse(401, 'TODO401', 'Wrong name or password');
  end if;
  delete from todo_private.login_failures f where f.name = who;
  return todo_private.start_session(acct);
end
$$;

--  POST /rpc/logout: clears the cookie.
create or replace function todo.logout() returns json
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform todo_private.set_session_cookie(null, 0);
  return json_build_object('name', null);
end
$$;
alter function todo.logout() security definer;

--  POST /rpc/renew_session: a new cookie with a new expiry for the account
--  signed in (the app calls it while the user is active). 401 without one.
create or replace function todo.renew_session() returns json
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  claims json := coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::json;
  acct todo_private.accounts;
begin
  select * into acct from todo_private.accounts a
   where a.name = claims->>'name' and a.role = claims->>'role';
  if acct.name is null then
    return todo_private.refuse(401, 'TODO401', 'Not signed in');
  end if;
  return todo_private.start_session(acct);
end
$$;

--  POST /rpc/use_token with "Authorization: Bearer <JWT>": the seed's manual
--  way (a token made with `tusk token`, pasted into the app) moved into the
--  cookie, so that the page need not keep it where its scripts can read it.
--  The server has checked the token before this runs; this only copies it
--  into the cookie, for as long as it is valid. 401 without a token.
create or replace function todo.use_token() returns json
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  claims json := coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::json;
  headers json := coalesce(nullif(current_setting('request.headers', true), ''), '{}')::json;
  token text := substring(coalesce(headers->>'authorization', '') from '^\s*[Bb][Ee][Aa][Rr][Ee][Rr]\s+(\S+)\s*$');
  exp bigint := case when json_typeof(claims->'exp') = 'number' then (claims->>'exp')::numeric::bigint end;
begin
  if token is null or coalesce(claims->>'role', '') = '' then
    return todo_private.refuse(401, 'TODO401', 'Send the token as "Authorization: Bearer <token>"');
  end if;
  -- Without "exp" the token never expires: the cookie lasts as long as browsers let it (400 days).
  perform todo_private.set_session_cookie(token,
    least(greatest(coalesce(exp - extract(epoch from now())::bigint, 34560000), 0), 34560000)::int);
  return json_build_object('name', claims->>'name', 'role', claims->>'role', 'exp', exp);
end
$$;
alter function todo.use_token() security definer;

--  GET /rpc/session: who is signed in, and until when ({"name": null} for
--  visitors). The page cannot read the cookie, so it asks. "signed_in": the
--  request carried a token (the cookie, or a header): a visitor's claims
--  name the anonymous role too.
create or replace function todo.session() returns json
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select json_build_object('name', c->>'name', 'role', c->>'role', 'exp', (c->>'exp')::bigint,
                           'signup', todo_private.setting('signup') = 'on',
                           'signed_in', coalesce(h->>'authorization', k->>todo_private.setting('cookie'), '') <> '')
  from (select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::json as c,
               coalesce(nullif(current_setting('request.headers', true), ''), '{}')::json as h,
               coalesce(nullif(current_setting('request.cookies', true), ''), '{}')::json as k) s
$$;
alter function todo.session() security definer;

--  For administrators (psql): an account for an existing role.
create or replace function todo_private.create_account(name text, password text, role name default 'todo_user')
returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if length(coalesce(password, '')) < 8 then
    raise exception 'a password needs at least 8 characters';
  end if;
  insert into todo_private.accounts (name, role, password_hash)
  values (create_account.name, create_account.role, todo_private.hash_password(password));
end
$$;

--  POST /rpc/signup {"name": "carol", "password": "..."}: only when switched
--  on. Creates the role u_<name> with the grants of "Adding another user",
--  the account, and signs it in.
create or replace function todo.signup(name text, password text) returns json
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  role_name text := 'u_' || coalesce(signup.name, '');
  acct todo_private.accounts;
begin
  if todo_private.setting('signup') is distinct from 'on' then
    return todo_private.refuse(403, 'TODO403', 'Sign-up is switched off on this server');
  end if;
  if coalesce(signup.name, '') !~ '^[a-z][a-z0-9_]{2,31}$' then
    return todo_private.refuse(400, 'TODO400',
      'A name is 3 to 32 lowercase letters, digits or _, starting with a letter');
  end if;
  if length(coalesce(password, '')) < 8 then
    return todo_private.refuse(400, 'TODO400', 'A password needs at least 8 characters');
  end if;
  if (select count(*) from todo_private.accounts) >= todo_private.setting('max_accounts')::int then
    return todo_private.refuse(403, 'TODO403', 'This server takes no more accounts');
  end if;
  if exists (select 1 from todo_private.accounts a where a.name = signup.name)
     or exists (select 1 from pg_roles where rolname = role_name) then
    return todo_private.refuse(409, 'TODO409', 'This name is taken');
  end if;
  execute format('create role %I nologin', role_name);
  execute format('alter role %I set statement_timeout = %L', role_name, '10s');
  execute format('grant usage on schema todo to %I', role_name);
  execute format('grant %I to postgrest', role_name);
  execute format('grant all on todo.tasks to %I', role_name);
  execute format('grant usage, select on sequence todo.tasks_id_seq to %I', role_name);
  insert into todo_private.accounts (name, role, password_hash)
  values (signup.name, role_name, todo_private.hash_password(password))
  returning * into acct;
  return todo_private.start_session(acct);
end
$$;

--  Every role may call these six (functions are executable by PUBLIC unless
--  revoked), since visitors sign in and every signed-up role has its own
--  name; each checks its own input. Nothing else of todo_private is
--  reachable: its schema is closed to the API roles.


-- -----------------------------------------------------------------------------
--  8. Live updates
-- -----------------------------------------------------------------------------
--
--  The app subscribes to its list with the same URL it reads it with, asking
--  for Server-Sent Events (tusk only; PostgREST answers 406):
--
--      GET /tasks?select=*&order=id        Accept: text/event-stream
--
--  tusk sends the list as that request would return it, and again whenever it
--  changes. It learns of changes from these triggers: after each statement
--  that writes todo.tasks, they NOTIFY the "tusk_changes" channel (tusk's
--  db-changes-channel setting) with the table's name. A notification is sent
--  only when the transaction commits, once per table however many rows
--  changed, and carries no row data: tusk re-runs each subscriber's read AS
--  THAT SUBSCRIBER (its role, its JWT claims, the policies above), so nobody
--  learns anything about rows they cannot SELECT.
--
--  To make another table live, add the same trigger to it:
--
--      create trigger live_changes
--        after insert or update or delete or truncate on my_schema.my_table
--        for each statement execute function tusk.notify_change();
--
--  The function lives in its own schema, "tusk", which is not exposed by the
--  API (it is not in db-schemas) and to which no API role needs any grant.

create schema if not exists tusk;

comment on schema tusk is 'Helpers of the tusk API server (not exposed by the API).';

create or replace function tusk.notify_change()
returns trigger
language plpgsql
as $function$
begin
  -- The channel is the trigger's argument, else tusk's default db-changes-channel.
  perform pg_notify(coalesce(tg_argv[0], 'tusk_changes'), tg_table_schema || '.' || tg_table_name);
  return null;
end
$function$;

comment on function tusk.notify_change() is 'Statement-level trigger: NOTIFY tusk_changes (or the channel given as argument) with ''schema.table'', for tusk''s live subscriptions.';

drop trigger if exists live_changes on todo.tasks;

create trigger live_changes
  after insert or update or delete or truncate on todo.tasks
  for each statement execute function tusk.notify_change();


-- -----------------------------------------------------------------------------
--  9. Done
-- -----------------------------------------------------------------------------
--
--  Ask a running API server to reload its schema cache (PostgREST listens on
--  the "pgrst" channel). Harmless if nobody is listening.

notify pgrst, 'reload schema';

commit;

-- =============================================================================
--  Adding another user
-- =============================================================================
--
--  Every app user is a database role. To let a second person manage their own
--  todos, an admin runs:
--
--    create role second_user nologin;
--    grant usage on schema todo to second_user;
--    grant second_user to postgrest;           -- the authenticator may become it
--    grant all on todo.tasks to second_user;   -- RLS still limits it to its own rows
--    grant usage, select on sequence todo.tasks_id_seq to second_user;
--
--  and gives them a JWT signed with the server's secret whose payload is
--  {"role": "second_user", "exp": <unix time>}. The expiry can be computed with
--      select extract(epoch from now() + interval '5 minutes')::integer;
--  No policy needs to change: the policies above apply to every role.
