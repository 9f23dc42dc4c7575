// @supabase/postgrest-js against tusk: what the library sends, unchanged, and what it makes of
// tusk's answers. The fixture is ../fixture.sql; rows this file writes have client = 'pjs'.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PostgrestClient } from '@supabase/postgrest-js';
import { startServer, token, recordingFetch, rawQuery, checkPreflights } from './server.mjs';

const C = 'pjs';
let server, db, f;

before(async () => {
  server = await startServer();
  f = recordingFetch();
  db = new PostgrestClient(server.url, { fetch: f });
});
after(async () => server && server.stop());

const ok = (res) => {
  assert.equal(res.error, null, `unexpected error: ${JSON.stringify(res.error)}`);
  return res;
};
const sent = () => f.last();

describe('select', () => {
  it('ilike with spaces goes as + and matches', async () => {
    const { data } = ok(await db.from('books').select('title, year').ilike('title', '%left hand%'));
    assert.deepEqual(data, [{ title: 'The Left Hand of Darkness', year: 1969 }]);
    assert.match(rawQuery(sent().url), /title=ilike\.%25left\+hand%25/);
  });

  it('in() with spaces, order desc', async () => {
    const { data } = ok(
      await db.from('books').select('id').in('title', ['Dune', 'The Dispossessed', 'Parable of the Sower'])
        .order('year', { ascending: false }),
    );
    assert.deepEqual(data.map((r) => r.id), [4, 2, 5]);
    assert.match(rawQuery(sent().url), /title=in\.%28Dune%2CThe\+Dispossessed%2CParable\+of\+the\+Sower%29|title=in\.\(Dune,The\+Dispossessed,Parable\+of\+the\+Sower\)/);
  });

  it('in() with a value that needs quotes', async () => {
    const { data } = ok(await db.from('authors').select('id').in('name', ['Frank Herbert', 'a,b', 'x(y)']));
    assert.deepEqual(data, [{ id: 3 }]);
  });

  it('eq, gte/lt, neq, is null, not, or, match, order by two columns', async () => {
    let { data } = ok(await db.from('books').select('id').eq('author_id', 1).gte('year', 1969).lt('year', 2000).order('year'));
    assert.deepEqual(data.map((r) => r.id), [1, 2]);
    ({ data } = ok(await db.from('books').select('id').is('meta', null)));
    assert.deepEqual(data, [{ id: 4 }]);
    ({ data } = ok(await db.from('books').select('id').not('meta', 'is', null).neq('author_id', 1).order('id')));
    assert.deepEqual(data.map((r) => r.id), [3, 5]);
    ({ data } = ok(await db.from('books').select('id').or('year.lt.1966,title.eq.Kindred').order('id')));
    assert.deepEqual(data.map((r) => r.id), [3, 5]);
    ({ data } = ok(await db.from('books').select('id').match({ author_id: 2, year: 1993 })));
    assert.deepEqual(data, [{ id: 4 }]);
    ({ data } = ok(await db.from('books').select('id').order('author_id', { ascending: false }).order('year', { ascending: true })));
    assert.deepEqual(data.map((r) => r.id), [5, 3, 4, 6, 1, 2]);
  });

  it('arrays, JSON paths, like, filter()', async () => {
    let { data } = ok(await db.from('books').select('id').contains('tags', ['classic', 'hainish']).order('id'));
    assert.deepEqual(data.map((r) => r.id), [1, 2]);
    ({ data } = ok(await db.from('books').select('id').overlaps('tags', ['desert', 'earthsea']).order('id')));
    assert.deepEqual(data.map((r) => r.id), [5, 6]);
    ({ data } = ok(await db.from('books').select('title, pages:meta->pages').gt('meta->pages', 400)));
    assert.deepEqual(data, [{ title: 'Dune', pages: 412 }]);
    ({ data } = ok(await db.from('books').select('id').eq('meta->>lang', 'en').like('title', 'The *').order('id')));
    assert.deepEqual(data.map((r) => r.id), [1, 2]);
    ({ data } = ok(await db.from('books').select('id').filter('title', 'not.ilike', '%the%').order('id')));
    assert.deepEqual(data.map((r) => r.id), [3, 5, 6]);
  });

  it('range() with count=exact gives the total and the page', async () => {
    const res = ok(await db.from('books').select('id', { count: 'exact' }).order('id').range(1, 3));
    assert.deepEqual(res.data.map((r) => r.id), [2, 3, 4]);
    assert.equal(res.count, 6);
    assert.equal(res.status, 206);
    assert.match(sent().headers.prefer, /count=exact/);
  });

  it('limit() with count=exact, and head: true', async () => {
    let res = ok(await db.from('books').select('*', { count: 'exact' }).eq('author_id', 1).limit(1));
    assert.equal(res.data.length, 1);
    assert.equal(res.count, 3);
    res = ok(await db.from('books').select('*', { count: 'exact', head: true }).eq('author_id', 2));
    assert.equal(sent().method, 'HEAD');
    assert.equal(res.data, null);
    assert.equal(res.count, 2);
  });

  it('pages past the end: empty without a count, PGRST103 / 416 with one', async () => {
    let res = ok(await db.from('books').select('id').order('id').range(10, 19));
    assert.deepEqual(res.data, []);
    res = ok(await db.from('books').select('id', { count: 'exact' }).order('id').range(6, 7));
    assert.deepEqual(res.data, []);
    assert.equal(res.count, 6);
    res = await db.from('books').select('id', { count: 'exact' }).order('id').range(7, 8);
    assert.equal(res.status, 416);
    assert.equal(res.error.code, 'PGRST103');
  });

  it('csv()', async () => {
    const { data } = ok(await db.from('books').select('id,title').eq('id', 5).csv());
    assert.equal(data, 'id,title\n5,Dune');
  });
});

describe('embedding', () => {
  it('many-to-one with an alias, single()', async () => {
    const { data } = ok(await db.from('books').select('title, author:authors(name)').eq('id', 5).single());
    assert.deepEqual(data, { title: 'Dune', author: { name: 'Frank Herbert' } });
    assert.equal(sent().headers.accept, 'application/vnd.pgrst.object+json');
  });

  it('one-to-many with filters, order and limit on the embedded table', async () => {
    const { data } = ok(
      await db.from('authors').select('name, books(title)').eq('id', 1).gt('books.year', 1968)
        .order('year', { referencedTable: 'books', ascending: false }).limit(1, { referencedTable: 'books' }),
    );
    assert.deepEqual(data, [{ name: 'Ursula K. Le Guin', books: [{ title: 'The Dispossessed' }] }]);
  });

  it('!inner filtered by an embedded column with spaces', async () => {
    const { data } = ok(
      await db.from('books').select('title, authors!inner(name)').eq('authors.name', 'Octavia E. Butler').order('id'),
    );
    assert.deepEqual(data.map((r) => r.title), ['Kindred', 'Parable of the Sower']);
    assert.match(rawQuery(sent().url), /authors\.name=eq\.Octavia\+E\.\+Butler/);
  });
});

describe('single and maybeSingle', () => {
  it('single() with no row is PGRST116 / 406', async () => {
    const res = await db.from('books').select().eq('id', 999).single();
    assert.equal(res.status, 406);
    assert.equal(res.error.code, 'PGRST116');
    assert.equal(res.data, null);
  });

  it('maybeSingle() with zero, one and two rows', async () => {
    let res = ok(await db.from('books').select('id').eq('id', 999).maybeSingle());
    assert.equal(res.data, null);
    res = ok(await db.from('books').select('id').eq('id', 3).maybeSingle());
    assert.deepEqual(res.data, { id: 3 });
    res = await db.from('books').select('id').eq('author_id', 2).maybeSingle();
    assert.equal(res.error.code, 'PGRST116');
  });
});

describe('insert, upsert, update, delete', () => {
  it('insert one row and read it back', async () => {
    const { data, status } = ok(await db.from('items').insert({ id: 101, client: C, name: 'pen' }).select().single());
    assert.equal(status, 201);
    assert.deepEqual(data, { id: 101, client: C, name: 'pen', qty: 1, note: null });
  });

  it('insert rows with different keys: columns=, missing=default, count in one Prefer header', async () => {
    const { data, count } = ok(
      await db.from('items').insert(
        [{ id: 102, client: C, name: 'ink', qty: 5 }, { id: 103, client: C, name: 'nib' }],
        { defaultToNull: false, count: 'exact' },
      ).select('id, qty'),
    );
    assert.deepEqual(data, [{ id: 102, qty: 5 }, { id: 103, qty: 1 }]);
    assert.equal(count, 2);
    const req = sent();
    assert.match(rawQuery(req.url), /columns=/);
    assert.match(req.headers.prefer, /missing=default/);
    assert.match(req.headers.prefer, /count=exact/);
    assert.match(req.headers.prefer, /return=representation/);
  });

  it('defaultToNull: false fills identity and domain defaults', async () => {
    const { data } = ok(
      await db.from('labels').insert([{ id: 100, name: 'given', colour: 'red' }, { name: 'defaulted' }], { defaultToNull: false })
        .select('id, name, colour').order('id'),
    );
    // As PostgREST: every row evaluates the identity's default, so the row giving id 100 used up 1.
    assert.deepEqual(data, [{ id: 2, name: 'defaulted', colour: 'blue' }, { id: 100, name: 'given', colour: 'red' }]);
  });

  it('insert with a missing NOT NULL value (defaultToNull) fails with 23502', async () => {
    const res = await db.from('items').insert([{ id: 104, client: C, name: 'a', qty: 2 }, { id: 105, client: C, name: 'b' }]);
    assert.equal(res.error.code, '23502');
    assert.equal(res.status, 400);
  });

  it('insert without select() returns nothing (201)', async () => {
    const res = ok(await db.from('items').insert({ id: 106, client: C, name: 'cap' }));
    assert.equal(res.status, 201);
    assert.equal(res.data, null);
  });

  it('upsert merges on the primary key', async () => {
    const { data } = ok(await db.from('items').upsert({ id: 101, client: C, name: 'pen', qty: 7 }).select('id, qty'));
    assert.deepEqual(data, [{ id: 101, qty: 7 }]);
    assert.match(sent().headers.prefer, /resolution=merge-duplicates/);
  });

  it('upsert with onConflict on a unique key', async () => {
    const { data } = ok(
      await db.from('items').upsert([{ id: 101, client: C, name: 'pen', qty: 9 }, { id: 107, client: C, name: 'pad' }],
        { onConflict: 'client,name', defaultToNull: false }).select('id, qty').order('id'),
    );
    assert.deepEqual(data, [{ id: 101, qty: 9 }, { id: 107, qty: 1 }]);
    assert.match(rawQuery(sent().url), /on_conflict=client%2Cname|on_conflict=client,name/);
  });

  it('upsert with ignoreDuplicates leaves existing rows alone', async () => {
    const { data } = ok(
      await db.from('items').upsert({ id: 101, client: C, name: 'pen', qty: 100 }, { ignoreDuplicates: true }).select(),
    );
    assert.deepEqual(data, []);
    assert.match(sent().headers.prefer, /resolution=ignore-duplicates/);
    const { data: row } = ok(await db.from('items').select('qty').eq('id', 101).single());
    assert.equal(row.qty, 9);
  });

  it('upsert without select(): 200 when it only updated, 201 when it ignored every row', async () => {
    let res = ok(await db.from('items').upsert({ id: 101, client: C, name: 'pen', qty: 9 }));
    assert.equal(res.status, 200);
    assert.equal(res.data, null);
    res = ok(await db.from('items').upsert({ id: 101, client: C, name: 'pen', qty: 1 }, { ignoreDuplicates: true }));
    assert.equal(res.status, 201);
  });

  it('update with filters, returning the rows', async () => {
    const { data } = ok(await db.from('items').update({ note: 'hello world' }).eq('client', C).in('id', [101, 102]).select('id, note').order('id'));
    assert.deepEqual(data, [{ id: 101, note: 'hello world' }, { id: 102, note: 'hello world' }]);
    assert.equal(sent().method, 'PATCH');
  });

  it('update without select() is 204', async () => {
    const res = ok(await db.from('items').update({ qty: 3 }).eq('id', 103));
    assert.equal(res.status, 204);
  });

  it('delete with select() and count returns the deleted rows', async () => {
    const { data, count, status } = ok(await db.from('items').delete({ count: 'exact' }).eq('id', 103).select('id, qty'));
    assert.equal(status, 200);
    assert.deepEqual(data, [{ id: 103, qty: 3 }]);
    assert.equal(count, 1);
    assert.equal(sent().method, 'DELETE');
  });

  it('delete without select() is 204', async () => {
    const res = ok(await db.from('items').delete().eq('client', C).eq('name', 'cap'));
    assert.equal(res.status, 204);
    const { count } = ok(await db.from('items').select('*', { count: 'exact', head: true }).eq('client', C));
    assert.equal(count, 3);
  });

  it('rollback() sends tx=rollback and nothing is kept', async () => {
    const { data } = ok(await db.from('items').update({ qty: 0 }).eq('id', 101).select('qty').rollback());
    assert.deepEqual(data, [{ qty: 0 }]);
    const { data: row } = ok(await db.from('items').select('qty').eq('id', 101).single());
    assert.equal(row.qty, 9);
  });
});

describe('rpc', () => {
  it('POST with arguments', async () => {
    const { data } = ok(await db.rpc('add', { a: 2, b: 3 }));
    assert.equal(data, 5);
    assert.equal(sent().method, 'POST');
  });

  it('POST without arguments sends {}', async () => {
    const { data } = ok(await db.rpc('ping'));
    assert.equal(data, 'pong');
    assert.equal(sent().body, '{}');
  });

  it('GET with arguments in the query string', async () => {
    const { data } = ok(await db.rpc('add', { a: 20, b: 22 }, { get: true }));
    assert.equal(data, 42);
    assert.equal(sent().method, 'GET');
  });

  it('set-returning, GET, argument with spaces, then filters, order and count', async () => {
    const res = ok(
      await db.rpc('books_by', { author: 'Ursula K. Le Guin' }, { get: true, count: 'exact' }).select('title')
        .gte('year', 1969).order('year').limit(1),
    );
    assert.deepEqual(res.data, [{ title: 'The Left Hand of Darkness' }]);
    assert.equal(res.count, 2);
    assert.match(rawQuery(sent().url), /author=Ursula\+K\.\+Le\+Guin/);
  });

  it('set-returning over POST, single()', async () => {
    const { data } = ok(await db.rpc('books_by', { author: 'Frank Herbert' }).select('title').single());
    assert.deepEqual(data, { title: 'Dune' });
  });

  it('head: true', async () => {
    const res = ok(await db.rpc('books_by', { author: 'Octavia E. Butler' }, { head: true, count: 'exact' }));
    assert.equal(sent().method, 'HEAD');
    assert.equal(res.count, 2);
  });

  it('a volatile function with a default argument', async () => {
    const { data } = ok(await db.rpc('bump', { item_id: 102 }));
    assert.equal(data.qty, 6);
  });
});

describe('schemas', () => {
  it('schema() switches reads with Accept-Profile', async () => {
    const { data } = ok(await db.schema('other').from('things').select('label').order('id'));
    assert.deepEqual(data.map((r) => r.label), ['other thing', 'second other thing']);
    assert.equal(sent().headers['accept-profile'], 'other');
    const { data: api } = ok(await db.from('things').select('label'));
    assert.deepEqual(api, [{ label: 'public thing' }]);
  });

  it('schema() switches writes with Content-Profile', async () => {
    const { data } = ok(await db.schema('other').from('things').insert({ id: 3, label: 'third' }).select());
    assert.deepEqual(data, [{ id: 3, label: 'third' }]);
    assert.equal(sent().headers['content-profile'], 'other');
    ok(await db.schema('other').from('things').delete().eq('id', 3));
  });

  it('a client made for one schema, and rpc in it', async () => {
    const other = new PostgrestClient(server.url, { schema: 'other', fetch: f });
    const { data } = ok(await other.rpc('whereami'));
    assert.equal(data, 'other');
  });

  it('an unknown schema is PGRST106', async () => {
    const res = await db.schema('nope').from('things').select();
    assert.equal(res.status, 406);
    assert.equal(res.error.code, 'PGRST106');
  });
});

describe('auth', () => {
  it('anonymous is refused with 401 / 42501', async () => {
    const res = await db.from('notes').select();
    assert.equal(res.status, 401);
    assert.equal(res.error.code, '42501');
  });

  it('a token from `tusk token` with a sub claim sees and writes only its own rows', async () => {
    const jwt = token(server, 'clients_user', { claims: { sub: 'alice' } });
    const alice = new PostgrestClient(server.url, { fetch: f, headers: { Authorization: `Bearer ${jwt}` } });
    let { data } = ok(await alice.from('notes').select('owner, body'));
    assert.deepEqual(data, [{ owner: 'alice', body: "alice's note" }]);
    ({ data } = ok(await alice.from('notes').insert({ body: 'second' }).select('owner, body').single()));
    assert.deepEqual(data, { owner: 'alice', body: 'second' });
    ({ data } = ok(await alice.rpc('whoami')));
    assert.deepEqual(data, { role: 'clients_user', sub: 'alice' });
    assert.equal(sent().headers.authorization, `Bearer ${jwt}`);
  });

  it('an expired token is PGRST303 / 401', async () => {
    const jwt = token(server, 'clients_user', { exp: '-1h' });
    const res = await new PostgrestClient(server.url, { headers: { Authorization: `Bearer ${jwt}` } }).from('books').select();
    assert.equal(res.status, 401);
    assert.equal(res.error.code, 'PGRST303');
    assert.match(res.error.message, /expired/i);
  });
});

describe('errors', () => {
  it('a unique violation: 409 with code, message, details, hint', async () => {
    const res = await db.from('authors').insert({ id: 1, name: 'again' });
    assert.equal(res.status, 409);
    assert.equal(res.error.code, '23505');
    assert.match(res.error.message, /duplicate key value violates unique constraint "authors_pkey"/);
    assert.equal(res.error.details, 'Key (id)=(1) already exists.');
    assert.equal(res.error.hint, null);
  });

  it('RAISE with detail and hint: P0001 / 400', async () => {
    const res = await db.rpc('fail');
    assert.equal(res.status, 400);
    assert.deepEqual(
      { code: res.error.code, message: res.error.message, details: res.error.details, hint: res.error.hint },
      { code: 'P0001', message: 'it failed', details: 'some detail', hint: 'some hint' },
    );
  });

  it('an unknown table: PGRST205 / 404 with a hint', async () => {
    const res = await db.from('bookz').select();
    assert.equal(res.status, 404);
    assert.equal(res.error.code, 'PGRST205');
    assert.match(res.error.hint, /books/);
  });

  it('an unknown column: 42703 / 400', async () => {
    const res = await db.from('books').select('nope');
    assert.equal(res.status, 400);
    assert.equal(res.error.code, '42703');
  });

  it('throwOnError() throws a PostgrestError carrying the fields', async () => {
    await assert.rejects(async () => db.from('authors').insert({ id: 2, name: 'again' }).throwOnError(), (e) => {
      assert.equal(e.code, '23505');
      assert.equal(e.details, 'Key (id)=(2) already exists.');
      return true;
    });
  });
});

describe('less common builders', () => {
  const ids = (res) => ok(res).data.map((r) => r.id);

  it('likeAnyOf, ilikeAllOf, regexMatch, regexIMatch', async () => {
    assert.deepEqual(ids(await db.from('books').select('id').likeAnyOf('title', ['Dune', '%Sower']).order('id')), [4, 5]);
    assert.deepEqual(ids(await db.from('books').select('id').ilikeAllOf('title', ['the %', '%SS%']).order('id')), [1, 2]);
    assert.deepEqual(ids(await db.from('books').select('id').regexMatch('title', '^[KD]').order('id')), [3, 5]);
    assert.deepEqual(ids(await db.from('books').select('id').regexIMatch('title', 'dark|sower').order('id')), [1, 4]);
  });

  it('notIn, isDistinct, not contains, containedBy', async () => {
    assert.deepEqual(ids(await db.from('books').select('id').notIn('author_id', [1, 2])), [5]);
    assert.deepEqual(ids(await db.from('books').select('id').isDistinct('meta->>lang', 'en')), [4]);
    assert.deepEqual(ids(await db.from('books').select('id').not('tags', 'cs', '{classic}').order('id')), [4, 6]);
    assert.deepEqual(ids(await db.from('books').select('id').containedBy('tags', ['classic', 'desert', 'earthsea']).order('id')), [3, 4, 5, 6]);
  });

  it('range operators', async () => {
    assert.deepEqual(ids(await db.from('books').select('id').rangeGt('written', '[1975,1976)').order('id')), [3, 4]);
    assert.deepEqual(ids(await db.from('books').select('id').rangeLt('written', '[1966,1967)')), [5]);
    assert.deepEqual(ids(await db.from('books').select('id').rangeAdjacent('written', '[1969,1971)')), [1, 2]);
    assert.deepEqual(ids(await db.from('books').select('id').overlaps('written', '[1968,1972)').order('id')), [1, 2]);
  });

  it('textSearch: plain, phrase, websearch, with a config', async () => {
    assert.deepEqual(ids(await db.from('books').select('id').textSearch('title', 'left & darkness')), [1]);
    assert.deepEqual(ids(await db.from('books').select('id').textSearch('title', 'wizard earthsea', { type: 'plain', config: 'english' })), [6]);
    assert.deepEqual(ids(await db.from('books').select('id').textSearch('title', 'of the sower', { type: 'phrase', config: 'english' })), [4]);
    assert.deepEqual(ids(await db.from('books').select('id').textSearch('title', '"left hand" or dune', { type: 'websearch' }).order('id')), [1, 5]);
  });

  it('order with nulls first, or() on an embedded table', async () => {
    assert.deepEqual(ids(await db.from('books').select('id').order('written', { nullsFirst: true }).limit(2)), [6, 5]);
    assert.deepEqual(ids(await db.from('books').select('id').order('meta->pages', { ascending: false, nullsFirst: false }).limit(2)), [5, 2]);
    const { data } = ok(
      await db.from('authors').select('id, books(id)').or('year.lt.1966,year.gt.1990', { referencedTable: 'books' }).order('id'),
    );
    assert.deepEqual(data.map((a) => [a.id, a.books.map((b) => b.id)]), [[1, []], [2, [4]], [3, [5]]]);
  });

  it('stripNulls()', async () => {
    const { data } = ok(await db.from('books').select('id, meta, written').eq('id', 4).stripNulls());
    assert.deepEqual(data, [{ id: 4, written: '[1989,1993)' }]);
  });

  it('explain()', async () => {
    const { data } = ok(await db.from('books').select('id').eq('id', 1).explain());
    assert.equal(typeof data, 'string');
    assert.match(data, /Aggregate|Scan|Result/);
    const { data: json } = ok(await db.from('books').select('id').explain({ format: 'json', analyze: true }));
    assert.ok(Array.isArray(json) && json[0].Plan, JSON.stringify(json));
  });

  it('rpc with an array argument over GET and HEAD', async () => {
    const { data } = ok(await db.rpc('books_with_ids', { ids: [2, 5] }, { get: true }).select('id').order('id'));
    assert.deepEqual(data, [{ id: 2 }, { id: 5 }]);
    assert.match(rawQuery(sent().url), /ids=%7B2%2C5%7D/);
    const res = ok(await db.rpc('books_with_ids', { ids: [1, 3, 99] }, { head: true, count: 'exact' }));
    assert.equal(sent().method, 'HEAD');
    assert.equal(res.count, 2);
  });

  it('maxAffected() on update and delete', async () => {
    ok(await db.from('items').insert([{ id: 110, client: C, name: 'm1' }, { id: 111, client: C, name: 'm2' }]));
    let res = await db.from('items').update({ qty: 2 }).in('id', [110, 111]).maxAffected(1);
    assert.equal(res.error?.code, 'PGRST124', JSON.stringify(res.error));
    res = ok(await db.from('items').delete().in('id', [110, 111]).maxAffected(2).select('id'));
    assert.equal(res.data.length, 2);
  });

  it('insert … select().maybeSingle() and update … select().single()', async () => {
    let { data } = ok(await db.from('items').insert({ id: 120, client: C, name: 'ms' }).select('id, name').maybeSingle());
    assert.deepEqual(data, { id: 120, name: 'ms' });
    ({ data } = ok(await db.from('items').update({ qty: 12 }).eq('id', 120).select('qty').single()));
    assert.deepEqual(data, { qty: 12 });
    ok(await db.from('items').delete().eq('id', 120));
  });
});

describe('harder selects and values', () => {
  it('values with + & = , " and non-ASCII survive the round trip', async () => {
    const names = ['a+b c', 'x&y=z', 'say "hi"', 'comma, (paren)', 'ünï cödé', '50% off', 'semi;colon'];
    ok(await db.from('items').insert(names.map((name, i) => ({ id: 130 + i, client: C, name }))));
    for (const name of names) {
      const { data } = ok(await db.from('items').select('name').eq('client', C).eq('name', name));
      assert.deepEqual(data, [{ name }], name);
    }
    // postgrest-js quotes in() values that hold , ( or ) but does not escape double quotes.
    const inNames = names.filter((n) => !n.includes('"'));
    const { data } = ok(await db.from('items').select('name').in('name', inNames).order('id'));
    assert.deepEqual(data.map((r) => r.name), inNames);
    ok(await db.from('items').delete().gte('id', 130).lt('id', 140));
  });

  it('embedding with a foreign-key hint, spread, and ordering by an embedded column', async () => {
    let { data } = ok(await db.from('authors').select('name, books!books_author_id_fkey(id)').eq('id', 3));
    assert.deepEqual(data, [{ name: 'Frank Herbert', books: [{ id: 5 }] }]);
    ({ data } = ok(await db.from('books').select('title, ...authors(author:name)').eq('id', 3)));
    assert.deepEqual(data, [{ title: 'Kindred', author: 'Octavia E. Butler' }]);
    ({ data } = ok(await db.from('books').select('id, authors(name)').order('authors(name)').order('id').limit(3)));
    assert.deepEqual(data.map((b) => b.id), [5, 3, 4]);
  });

  it('aggregates: count() of an embedded table, grouped max()', async () => {
    let { data } = ok(await db.from('authors').select('name, books(count)').order('id'));
    assert.deepEqual(data.map((a) => a.books[0].count), [3, 2, 1]);
    ({ data } = ok(await db.from('books').select('author_id, latest:year.max()').order('author_id')));
    assert.deepEqual(data, [{ author_id: 1, latest: 1974 }, { author_id: 2, latest: 1993 }, { author_id: 3, latest: 1965 }]);
  });

  it('casts and JSON paths in select', async () => {
    const { data } = ok(await db.from('books').select('id, pages:meta->>pages::int, year::text').eq('id', 5).single());
    assert.deepEqual(data, { id: 5, pages: 412, year: '1965' });
  });
});

describe('from a browser', () => {
  it('every kind of request sent above passes a CORS preflight', async () => {
    const { checked, problems } = await checkPreflights(server.url, f.log);
    assert.ok(checked > 3, `only ${checked} request kinds recorded`);
    assert.deepEqual(problems, []);
  });
});
