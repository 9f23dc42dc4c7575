-- The database the client-compatibility tests run against (loaded by ./serve into a
-- throwaway cluster). Two exposed schemas, `public` (the default, as on Supabase) and `other`, so that schema
-- switching through Accept-Profile / Content-Profile is visible in the results.
--
-- Roles: `clients_auth` is the authenticator tusk logs in as; requests without a JWT run as
-- `clients_anon`, requests with a token for `clients_user` as that role.

create role clients_auth login password 'clients' noinherit;
create role clients_anon nologin;
create role clients_user nologin;
grant clients_anon, clients_user to clients_auth;

create schema other;
grant usage on schema public, other to clients_anon, clients_user;

-- Embedding in both directions: books → authors (many-to-one), authors → books (one-to-many).
create table public.authors (
  id   int primary key,
  name text not null
);

create table public.books (
  id        int primary key,
  title     text not null,
  year      int,
  author_id int references public.authors,
  tags      text[] not null default '{}',
  meta      jsonb,
  written   int4range
);

insert into public.authors values
  (1, 'Ursula K. Le Guin'),
  (2, 'Octavia E. Butler'),
  (3, 'Frank Herbert');

insert into public.books values
  (1, 'The Left Hand of Darkness', 1969, 1, '{classic,hainish}', '{"pages": 286, "lang": "en"}', '[1967,1969)'),
  (2, 'The Dispossessed', 1974, 1, '{classic,hainish}', '{"pages": 387, "lang": "en"}', '[1971,1974)'),
  (3, 'Kindred', 1979, 2, '{classic}', '{"pages": 264, "lang": "en"}', '[1976,1979)'),
  (4, 'Parable of the Sower', 1993, 2, '{}', null, '[1989,1993)'),
  (5, 'Dune', 1965, 3, '{classic,desert}', '{"pages": 412, "lang": "en"}', '[1959,1965)'),
  (6, 'A Wizard of Earthsea', 1968, 1, '{earthsea}', '{"pages": 183, "lang": "en"}', null);

-- A compound primary key (react-admin's data provider encodes it as a JSON array id).
create table public.editions (
  book_id int references public.books,
  edition int,
  format  text not null,
  primary key (book_id, edition)
);
insert into public.editions values (1, 1, 'hardcover'), (1, 2, 'paperback'), (5, 1, 'hardcover');

grant select on public.authors, public.books to clients_anon, clients_user;
grant select, insert, update, delete on public.editions to clients_anon, clients_user;
grant insert on public.authors to clients_anon; -- only to provoke unique violations

-- Writable by anyone; one table per client library so the files can run in any order.
-- `name` is unique (upsert on_conflict); `qty` has a default (missing=default).
create table public.items (
  id     int primary key,
  client text not null,
  name   text not null,
  qty    int not null default 1,
  note   text,
  unique (client, name)
);
grant select, insert, update, delete on public.items to clients_anon, clients_user;

-- Only for signed-in users, and each sees only their own rows (the token's `sub` claim).
create table public.notes (
  id    int generated always as identity primary key,
  owner text not null default (current_setting('request.jwt.claims', true)::json ->> 'sub'),
  body  text not null
);
alter table public.notes enable row level security;
create policy own_notes on public.notes
  using (owner = current_setting('request.jwt.claims', true)::json ->> 'sub');
grant select, insert, update, delete on public.notes to clients_user;
insert into public.notes (owner, body) values ('alice', 'alice''s note'), ('bob', 'bob''s note');

-- Same table name in both schemas, different rows.
create table public.things (id int primary key, label text not null);
create table other.things (id int primary key, label text not null);
insert into public.things values (1, 'public thing');
insert into other.things values (1, 'other thing'), (2, 'second other thing');
grant select, insert, update, delete on public.things, other.things to clients_anon, clients_user;

-- RPC.
create function public.add(a int, b int) returns int
  language sql immutable as $$ select a + b $$;

create function public.books_by(author text) returns setof public.books
  language sql stable as $$
    select b.* from public.books b join public.authors a on a.id = b.author_id where a.name = author
  $$;

create function public.books_with_ids(ids int[]) returns setof public.books
  language sql stable as $$ select * from public.books where id = any(ids) $$;

create function public.ping() returns text
  language sql stable as $$ select 'pong' $$;

create function public.whoami() returns json
  language sql stable as $$
    select json_build_object('role', current_user,
                             'sub', current_setting('request.jwt.claims', true)::json ->> 'sub')
  $$;

-- A volatile function with side effects (POST only).
create function public.bump(item_id int, by int default 1) returns public.items
  language sql volatile as $$
    update public.items set qty = qty + by where id = item_id returning *
  $$;

-- Raises an error with every field PostgREST reports.
create function public.fail() returns void
  language plpgsql as $$
  begin
    raise exception 'it failed' using detail = 'some detail', hint = 'some hint', errcode = 'P0001';
  end
  $$;

create function other.whereami() returns text
  language sql stable as $$ select 'other' $$;

grant execute on all functions in schema public, other to clients_anon, clients_user;
