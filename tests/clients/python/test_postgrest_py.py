"""postgrest-py (PyPI `postgrest`, the Python client of supabase-py) against tusk.

postgrest-py sends both Accept-Profile and Content-Profile on every request, a `{}` JSON body
on DELETE (and on GET/HEAD rpc calls), joins preferences into one Prefer header and encodes
spaces in query strings as %20. Rows this file writes have client = 'py'.
"""

import asyncio

import httpx
import pytest
from postgrest import APIError, AsyncPostgrestClient, SyncPostgrestClient

C = "py"


@pytest.fixture(scope="module")
def wire():
    """Every request the clients send, as httpx saw it."""
    return []


@pytest.fixture(scope="module")
def http(wire):
    def record(request: httpx.Request):
        request.read()
        wire.append(request)

    with httpx.Client(event_hooks={"request": [record]}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def db(server, http):
    return SyncPostgrestClient(server.url, http_client=http)


def user(server, http, sub):
    return SyncPostgrestClient(server.url, http_client=http).auth(
        server.token("clients_user", claims={"sub": sub})
    )


def raw_query(request: httpx.Request) -> str:
    return request.url.query.decode()


# --- select ------------------------------------------------------------------------------


def test_profile_headers_on_every_request(db, wire):
    res = db.from_("authors").select("name").eq("id", 1).execute()
    assert res.data == [{"name": "Ursula K. Le Guin"}]
    req = wire[-1]
    assert req.headers["accept-profile"] == "public"
    assert req.headers["content-profile"] == "public"


def test_ilike_and_eq_with_spaces(db, wire):
    res = db.from_("books").select("title").ilike("title", "%left hand%").execute()
    assert res.data == [{"title": "The Left Hand of Darkness"}]
    res = db.from_("authors").select("id").eq("name", "Octavia E. Butler").execute()
    assert res.data == [{"id": 2}]
    assert "Octavia%20E.%20Butler" in raw_query(wire[-1]) or "Octavia+E.+Butler" in raw_query(wire[-1])


def test_in_order_or_not(db):
    res = (
        db.from_("books")
        .select("id")
        .in_("title", ["Dune", "The Dispossessed", "Parable of the Sower"])
        .order("year", desc=True)
        .execute()
    )
    assert [r["id"] for r in res.data] == [4, 2, 5]
    res = db.from_("books").select("id").or_("year.lt.1966,title.eq.Kindred").order("id").execute()
    assert [r["id"] for r in res.data] == [3, 5]
    res = db.from_("books").select("id").not_.is_("meta", "null").neq("author_id", 1).order("id").execute()
    assert [r["id"] for r in res.data] == [3, 5]
    res = db.from_("books").select("id").contains("tags", ["classic", "hainish"]).order("id").execute()
    assert [r["id"] for r in res.data] == [1, 2]


def test_range_and_limit_with_exact_count(db):
    res = db.from_("books").select("id", count="exact").order("id").range(1, 3).execute()
    assert [r["id"] for r in res.data] == [2, 3, 4]
    assert res.count == 6
    res = db.from_("books").select("id", count="exact").eq("author_id", 1).limit(1).execute()
    assert len(res.data) == 1
    assert res.count == 3
    res = db.from_("books").select("*", count="exact", head=True).eq("author_id", 2).execute()
    assert res.count == 2


def test_embedding(db):
    res = db.from_("books").select("title, author:authors(name)").eq("id", 5).single().execute()
    assert res.data == {"title": "Dune", "author": {"name": "Frank Herbert"}}
    res = (
        db.from_("authors")
        .select("name, books(title)")
        .eq("id", 1)
        .gt("books.year", 1968)
        .order("year", desc=True, foreign_table="books")
        .limit(1, foreign_table="books")
        .execute()
    )
    assert res.data == [{"name": "Ursula K. Le Guin", "books": [{"title": "The Dispossessed"}]}]
    res = (
        db.from_("books")
        .select("title, authors!inner(name)")
        .eq("authors.name", "Octavia E. Butler")
        .order("id")
        .execute()
    )
    assert [r["title"] for r in res.data] == ["Kindred", "Parable of the Sower"]


def test_single_and_maybe_single(db, wire):
    res = db.from_("books").select("id").eq("id", 3).single().execute()
    assert res.data == {"id": 3}
    assert wire[-1].headers["accept"] == "application/vnd.pgrst.object+json"
    with pytest.raises(APIError) as e:
        db.from_("books").select("id").eq("id", 999).single().execute()
    assert e.value.code == "PGRST116"
    assert db.from_("books").select("id").eq("id", 999).maybe_single().execute() is None
    assert db.from_("books").select("id").eq("id", 4).maybe_single().execute().data == {"id": 4}


def test_csv(db):
    res = db.from_("books").select("id,title").eq("id", 5).csv().execute()
    assert res.data == "id,title\n5,Dune"


# --- writes ------------------------------------------------------------------------------


def test_insert_upsert_update_delete(db, wire):
    res = db.from_("items").insert({"id": 401, "client": C, "name": "gear"}).execute()
    assert res.data == [{"id": 401, "client": C, "name": "gear", "qty": 1, "note": None}]

    res = (
        db.from_("items")
        .insert(
            [{"id": 402, "client": C, "name": "cog", "qty": 5}, {"id": 403, "client": C, "name": "axle"}],
            count="exact",
            default_to_null=False,
        )
        .execute()
    )
    assert [(r["id"], r["qty"]) for r in res.data] == [(402, 5), (403, 1)]
    assert res.count == 2
    prefer = wire[-1].headers["prefer"]
    assert "missing=default" in prefer and "count=exact" in prefer and "return=representation" in prefer
    assert "columns=" in raw_query(wire[-1])

    res = (
        db.from_("labels")
        .insert([{"id": 200, "name": "py given", "colour": "red"}, {"name": "py defaulted"}], default_to_null=False)
        .execute()
    )
    assert [(r["name"], r["colour"]) for r in res.data] == [("py given", "red"), ("py defaulted", "blue")]
    assert isinstance(res.data[1]["id"], int)

    res = db.from_("items").upsert({"id": 401, "client": C, "name": "gear", "qty": 7}).execute()
    assert [(r["id"], r["qty"]) for r in res.data] == [(401, 7)]
    res = (
        db.from_("items")
        .upsert({"id": 401, "client": C, "name": "gear", "qty": 99}, ignore_duplicates=True)
        .execute()
    )
    assert res.data == []
    assert "resolution=ignore-duplicates" in wire[-1].headers["prefer"]
    res = (
        db.from_("items")
        .upsert({"id": 401, "client": C, "name": "gear", "qty": 8}, on_conflict="client,name")
        .execute()
    )
    assert [(r["id"], r["qty"]) for r in res.data] == [(401, 8)]

    res = db.from_("items").update({"note": "two words"}).eq("client", C).in_("id", [401, 402]).execute()
    assert sorted((r["id"], r["note"]) for r in res.data) == [(401, "two words"), (402, "two words")]
    assert wire[-1].method == "PATCH"

    res = db.from_("items").delete(count="exact").eq("id", 403).execute()
    assert res.data == [{"id": 403, "client": C, "name": "axle", "qty": 1, "note": None}]
    assert res.count == 1
    req = wire[-1]
    assert req.method == "DELETE"
    assert req.content == b"{}"
    assert req.headers["content-type"] == "application/json"
    res = db.from_("items").delete(returning="minimal").eq("client", C).eq("name", "cog").execute()
    assert res.data == []
    left = db.from_("items").select("id").eq("client", C).execute()
    assert left.data == [{"id": 401}]


# --- rpc ---------------------------------------------------------------------------------


def test_rpc(db, wire):
    assert db.rpc("add", {"a": 2, "b": 3}).execute().data == 5
    assert db.rpc("add", {"a": 20, "b": 22}, get=True).execute().data == 42
    assert wire[-1].method == "GET"
    assert db.rpc("ping", {}).execute().data == "pong"
    res = (
        db.rpc("books_by", {"author": "Ursula K. Le Guin"}, get=True, count="exact")
        .select("title")
        .gte("year", 1969)
        .order("year")
        .limit(1)
        .execute()
    )
    assert res.data == [{"title": "The Left Hand of Darkness"}]
    assert res.count == 2
    res = db.rpc("books_by", {"author": "Octavia E. Butler"}, head=True, count="exact").execute()
    assert wire[-1].method == "HEAD"
    assert res.count == 2
    db.from_("items").insert({"id": 404, "client": C, "name": "spring", "qty": 2}).execute()
    assert db.rpc("bump", {"item_id": 404, "by": 3}).execute().data["qty"] == 5


# --- schemas, auth, errors ---------------------------------------------------------------


def test_schema_switching(db, wire):
    other = db.schema("other")
    res = other.from_("things").select("label").order("id").execute()
    assert [r["label"] for r in res.data] == ["other thing", "second other thing"]
    assert wire[-1].headers["accept-profile"] == "other"
    res = other.from_("things").insert({"id": 20, "label": "from python"}).execute()
    assert res.data == [{"id": 20, "label": "from python"}]
    assert wire[-1].headers["content-profile"] == "other"
    other.from_("things").delete().eq("id", 20).execute()
    assert other.rpc("whereami", {}).execute().data == "other"
    assert db.from_("things").select("label").execute().data == [{"label": "public thing"}]
    with pytest.raises(APIError) as e:
        db.schema("nope").from_("things").select("*").execute()
    assert e.value.code == "PGRST106"


def test_auth(server, db, http):
    with pytest.raises(APIError) as e:
        db.from_("notes").select("*").execute()
    assert e.value.code == "42501"
    bob = user(server, http, "bob")
    assert bob.from_("notes").select("owner, body").execute().data == [{"owner": "bob", "body": "bob's note"}]
    res = bob.from_("notes").insert({"body": "from python"}).execute()
    assert res.data[0]["owner"] == "bob"
    assert bob.rpc("whoami", {}).execute().data == {"role": "clients_user", "sub": "bob"}
    expired = SyncPostgrestClient(server.url, http_client=http).auth(server.token("clients_user", exp="-1h"))
    with pytest.raises(APIError) as e:
        expired.from_("books").select("*").execute()
    assert e.value.code == "PGRST303"


def test_errors(db):
    with pytest.raises(APIError) as e:
        db.from_("authors").insert({"id": 1, "name": "again"}).execute()
    assert e.value.code == "23505"
    assert 'violates unique constraint "authors_pkey"' in e.value.message
    assert e.value.details == "Key (id)=(1) already exists."
    assert e.value.hint is None
    with pytest.raises(APIError) as e:
        db.rpc("fail", {}).execute()
    err = e.value
    assert (err.code, err.message, err.details, err.hint) == ("P0001", "it failed", "some detail", "some hint")
    with pytest.raises(APIError) as e:
        db.from_("bookz").select("*").execute()
    assert e.value.code == "PGRST205"
    assert "books" in e.value.hint
    with pytest.raises(APIError) as e:
        db.from_("books").select("*").eq("id", "x").execute()
    assert e.value.code == "22P02"
    assert set(e.value.json()) == {"code", "details", "hint", "message"}


# --- the clients as shipped (their own HTTP session), sync and async ---------------------


def test_default_session(server):
    with SyncPostgrestClient(server.url) as client:
        assert client.from_("books").select("id").eq("title", "Dune").execute().data == [{"id": 5}]
        assert client.schema("other").rpc("whereami", {}).execute().data == "other"


def test_async_client(server):
    async def run():
        async with AsyncPostgrestClient(server.url, schema="other") as client:
            res = await client.from_("things").select("id", count="exact").order("id").limit(1).execute()
            assert res.data == [{"id": 1}]
            assert res.count == 2
            with pytest.raises(APIError) as e:
                await client.from_("nope").select("*").execute()
            assert e.value.code == "PGRST205"

    asyncio.run(run())


def test_values_that_need_encoding(db, wire):
    names = ["a+b c", "x&y=z", 'say "hi"', "comma, (paren)", "ünï cödé", "50% off", "semi;colon", "dots.and:colons"]
    db.from_("items").insert([{"id": 430 + i, "client": C, "name": n} for i, n in enumerate(names)]).execute()
    for name in names:
        assert db.from_("items").select("name").eq("client", C).eq("name", name).execute().data == [{"name": name}]
    res = db.from_("items").select("name").in_("name", names).order("id").execute()
    assert [r["name"] for r in res.data] == names
    db.from_("items").delete().gte("id", 430).lt("id", 440).execute()
