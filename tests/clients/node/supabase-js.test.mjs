// @supabase/supabase-js against tusk. supabase-js talks to `<project url>/rest/v1/…` and sends
// the project key both as `apikey` and as `Authorization: Bearer`; on Supabase a gateway strips
// the prefix before PostgREST. Here the recording fetch does that, and the key is an anon JWT
// from `tusk token`. Rows this file writes have client = 'sjs'.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { startServer, token, recordingFetch, rawQuery, checkPreflights } from './server.mjs';

const C = 'sjs';
let server, f, anonKey, supabase;

const gateway = () => recordingFetch((url) => url.replace('/rest/v1/', '/').replace(/\/rest\/v1$/, '/'));
// Realtime is not part of PostgREST; Node 20 has no WebSocket, and nothing here may connect.
class NoWebSocket {
  constructor() {
    throw new Error('realtime is not used by these tests');
  }
}
const options = (fetch, extra = {}) => ({
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  global: { fetch },
  realtime: { transport: NoWebSocket },
  ...extra,
});

before(async () => {
  server = await startServer();
  anonKey = token(server, 'clients_anon');
  f = gateway();
  supabase = createClient(server.url, anonKey, options(f));
});
after(async () => server && server.stop());

const ok = (res) => {
  assert.equal(res.error, null, `unexpected error: ${JSON.stringify(res.error)}`);
  return res;
};
const sent = () => f.last();

describe('supabase-js', () => {
  it('sends the key as apikey and bearer token, under /rest/v1', async () => {
    const { data } = ok(await supabase.from('authors').select('name').eq('id', 2).single());
    assert.deepEqual(data, { name: 'Octavia E. Butler' });
    const req = sent();
    assert.equal(req.headers.apikey, anonKey);
    assert.equal(req.headers.authorization, `Bearer ${anonKey}`);
    assert.match(req.url, /\/rest\/v1\/authors\?/);
  });

  it('filters with spaces, order, range with count', async () => {
    const res = ok(
      await supabase.from('books').select('title, authors(name)', { count: 'exact' })
        .ilike('authors.name', '%le guin%').not('authors', 'is', null).order('year').range(0, 1),
    );
    assert.deepEqual(res.data.map((r) => r.title), ['A Wizard of Earthsea', 'The Left Hand of Darkness']);
    assert.equal(res.count, 3);
    assert.match(rawQuery(sent().url), /le\+guin/);
  });

  it('planned and estimated counts', async () => {
    for (const count of ['planned', 'estimated']) {
      const res = ok(await supabase.from('books').select('*', { count, head: true }));
      assert.equal(typeof res.count, 'number', `${count}: ${res.count}`);
      assert.match(sent().headers.prefer, new RegExp(`count=${count}`));
    }
  });

  it('insert, upsert (ignoreDuplicates, onConflict), update, delete', async () => {
    let { data } = ok(await supabase.from('items').insert({ id: 201, client: C, name: 'bolt' }).select().single());
    assert.deepEqual(data, { id: 201, client: C, name: 'bolt', qty: 1, note: null });

    ({ data } = ok(
      await supabase.from('items').upsert([{ id: 201, client: C, name: 'bolt', qty: 50 }, { id: 202, client: C, name: 'nut', qty: 2 }],
        { onConflict: 'id', ignoreDuplicates: true }).select('id, qty'),
    ));
    assert.deepEqual(data, [{ id: 202, qty: 2 }]);

    ({ data } = ok(
      await supabase.from('items').upsert({ client: C, name: 'nut', qty: 4, id: 202 }, { onConflict: 'client,name' }).select('id, qty'),
    ));
    assert.deepEqual(data, [{ id: 202, qty: 4 }]);

    ({ data } = ok(await supabase.from('items').update({ note: 'fastened & tight' }).eq('id', 201).select('note').single()));
    assert.deepEqual(data, { note: 'fastened & tight' });

    const del = ok(await supabase.from('items').delete().eq('client', C).eq('name', 'nut'));
    assert.equal(del.status, 204);
    assert.equal(sent().method, 'DELETE');
    const { count } = ok(await supabase.from('items').select('*', { count: 'exact', head: true }).eq('client', C));
    assert.equal(count, 1);
  });

  it('rpc over POST and GET', async () => {
    let { data } = ok(await supabase.rpc('add', { a: 1, b: 1 }));
    assert.equal(data, 2);
    ({ data } = ok(await supabase.rpc('books_by', { author: 'Octavia E. Butler' }, { get: true }).select('id').order('id')));
    assert.deepEqual(data, [{ id: 3 }, { id: 4 }]);
    ({ data } = ok(await supabase.rpc('ping')));
    assert.equal(data, 'pong');
  });

  it('schema switching: db.schema option and .schema()', async () => {
    const other = createClient(server.url, anonKey, options(gateway(), { db: { schema: 'other' } }));
    let { data } = ok(await other.from('things').select('id').order('id'));
    assert.deepEqual(data, [{ id: 1 }, { id: 2 }]);
    ({ data } = ok(await other.rpc('whereami')));
    assert.equal(data, 'other');
    ({ data } = ok(await supabase.schema('other').from('things').update({ label: 'renamed' }).eq('id', 2).select('label')));
    assert.deepEqual(data, [{ label: 'renamed' }]);
    assert.equal(sent().headers['content-profile'], 'other');
    ({ data } = ok(await supabase.from('things').select('label')));
    assert.deepEqual(data, [{ label: 'public thing' }]);
  });

  it('a user token through the accessToken option', async () => {
    const jwt = token(server, 'clients_user', { claims: { sub: 'bob' } });
    const ff = gateway();
    const bob = createClient(server.url, anonKey, options(ff, { accessToken: async () => jwt }));
    const { data } = ok(await bob.from('notes').select('owner, body'));
    assert.deepEqual(data, [{ owner: 'bob', body: "bob's note" }]);
    assert.equal(ff.last().headers.authorization, `Bearer ${jwt}`);
    const anon = await supabase.from('notes').select();
    assert.equal(anon.status, 401);
    assert.equal(anon.error.code, '42501');
  });

  it('error objects', async () => {
    let res = await supabase.from('authors').insert({ id: 3, name: 'again' });
    assert.equal(res.status, 409);
    assert.equal(res.error.code, '23505');
    assert.equal(res.error.details, 'Key (id)=(3) already exists.');
    res = await supabase.rpc('fail');
    assert.deepEqual(
      { code: res.error.code, message: res.error.message, details: res.error.details, hint: res.error.hint },
      { code: 'P0001', message: 'it failed', details: 'some detail', hint: 'some hint' },
    );
    res = await supabase.from('books').select('id').eq('id', 'not-a-number');
    assert.equal(res.status, 400);
    assert.equal(res.error.code, '22P02');
  });
});

describe('from a browser', () => {
  it('every kind of request sent above passes a CORS preflight', async () => {
    const { checked, problems } = await checkPreflights(server.url, f.log);
    assert.ok(checked > 3, `only ${checked} request kinds recorded`);
    assert.deepEqual(problems, []);
  });
});
