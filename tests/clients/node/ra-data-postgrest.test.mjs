// @raphiniert/ra-data-postgrest (react-admin's PostgREST data provider) against tusk, headless:
// its dataProvider with react-admin's own httpClient (ra-core's fetchUtils.fetchJson), as an
// admin page would call it. ra-data-postgrest builds query strings with `qs` (spaces as %20),
// sends `Content-Type: application/json` on bodiless DELETEs and reads totals from
// Content-Range. Rows this file writes have client = 'ra'.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fetchUtils } from 'ra-core';
import raDataPostgrest from '@raphiniert/ra-data-postgrest';
import { startServer, token, rawQuery, assertLocal, checkPreflights } from './server.mjs';

// The package is CommonJS with an ES-module-style default export.
const { default: postgrestRestProvider, defaultPrimaryKeys, defaultSchema } = raDataPostgrest;
const C = 'ra';
let server, dp;
const log = [];

// react-admin's httpClient, recording what it is asked to send.
const httpClient = (url, options = {}) => {
  const headers = Object.fromEntries(new Headers(options.headers).entries());
  log.push({ method: options.method ?? 'GET', url, headers, body: options.body ?? null });
  assertLocal(url);
  return fetchUtils.fetchJson(url, options);
};
const sent = () => log[log.length - 1];

const provider = (extra = {}) => postgrestRestProvider({
  apiUrl: server.url,
  httpClient,
  defaultListOp: 'eq',
  primaryKeys: new Map([...defaultPrimaryKeys, ['editions', ['book_id', 'edition']]]),
  schema: defaultSchema,
  ...extra,
});

before(async () => {
  server = await startServer();
  dp = provider();
});
after(async () => server && server.stop());

describe('ra-data-postgrest', () => {
  it('getList: filters with spaces (%20), sort, pagination, total from Content-Range', async () => {
    const res = await dp.getList('books', {
      pagination: { page: 2, perPage: 1 },
      sort: { field: 'year', order: 'DESC' },
      filter: { 'tags@cs': '{classic}', 'title@ilike': 'the' },
    });
    assert.equal(res.total, 2);
    assert.deepEqual(res.data.map((b) => b.title), ['The Left Hand of Darkness']);
    const page1 = await dp.getList('books', {
      pagination: { page: 1, perPage: 2 },
      sort: { field: 'year', order: 'DESC' },
      filter: { 'year@gte': 1965 },
      meta: { columns: ['id', 'title'] },
    });
    assert.equal(page1.total, 6);
    assert.deepEqual(page1.data, [{ id: 4, title: 'Parable of the Sower' }, { id: 3, title: 'Kindred' }]);
    const byName = await dp.getList('authors', {
      pagination: { page: 1, perPage: 10 },
      sort: { field: 'id', order: 'ASC' },
      filter: { name: 'Frank Herbert' },
    });
    assert.deepEqual(byName.data, [{ id: 3, name: 'Frank Herbert' }]);
    assert.match(rawQuery(sent().url), /name=eq\.Frank%20Herbert/);
    assert.equal(sent().headers.prefer, 'count=exact');
  });

  it('getList on the page just past the last row (after deleting it) is empty', async () => {
    const res = await dp.getList('books', { pagination: { page: 4, perPage: 2 }, sort: { field: 'id', order: 'ASC' }, filter: {} });
    assert.deepEqual(res.data, []);
    assert.equal(res.total, 6);
  });

  it('getList with an embed and an or filter', async () => {
    const res = await dp.getList('authors', {
      pagination: { page: 1, perPage: 10 },
      sort: { field: 'name', order: 'ASC' },
      filter: { '@or': { 'id@eq': 1, 'name@ilike': 'frank' } },
      meta: { embed: ['books'] },
    });
    assert.deepEqual(res.data.map((a) => [a.name, a.books.length]), [['Frank Herbert', 1], ['Ursula K. Le Guin', 3]]);
  });

  it('getOne (vnd.pgrst.object), getMany (in), getManyReference', async () => {
    let res = await dp.getOne('books', { id: 5 });
    assert.equal(res.data.title, 'Dune');
    assert.equal(sent().headers.accept, 'application/vnd.pgrst.object+json');
    res = await dp.getMany('authors', { ids: [1, 3] });
    assert.deepEqual(res.data.map((a) => a.id).sort(), [1, 3]);
    res = await dp.getManyReference('books', {
      target: 'author_id', id: 2,
      pagination: { page: 1, perPage: 1 }, sort: { field: 'year', order: 'ASC' }, filter: {},
    });
    assert.equal(res.total, 2);
    assert.deepEqual(res.data.map((b) => b.title), ['Kindred']);
  });

  it('compound primary keys', async () => {
    let res = await dp.getOne('editions', { id: '[1,2]' });
    assert.deepEqual(res.data, { book_id: 1, edition: 2, format: 'paperback', id: '[1,2]' });
    res = await dp.getMany('editions', { ids: ['[1,1]', '[5,1]'] });
    assert.deepEqual(res.data.map((e) => e.id).sort(), ['[1,1]', '[5,1]']);
    res = await dp.update('editions', { id: '[5,1]', data: { format: 'audio book' }, previousData: { format: 'hardcover' } });
    assert.equal(res.data.format, 'audio book');
  });

  it('create, update, updateMany', async () => {
    let res = await dp.create('items', { data: { id: 301, client: C, name: 'hinge' } });
    assert.deepEqual(res.data, { id: 301, client: C, name: 'hinge', qty: 1, note: null });
    await dp.create('items', { data: { id: 302, client: C, name: 'screw', qty: 8 } });
    res = await dp.update('items', { id: 301, data: { id: 301, qty: 4, note: 'two words' }, previousData: { id: 301, qty: 1, note: null } });
    assert.deepEqual(res.data, { id: 301, client: C, name: 'hinge', qty: 4, note: 'two words' });
    assert.equal(sent().method, 'PATCH');
    res = await dp.updateMany('items', { ids: [301, 302], data: { note: 'bulk' } });
    assert.deepEqual(res.data.sort(), [301, 302]);
  });

  it('delete (Content-Type json, no body, object Accept) and deleteMany', async () => {
    await dp.create('items', { data: { id: 303, client: C, name: 'washer' } });
    let res = await dp.delete('items', { id: 303, previousData: { id: 303 } });
    assert.equal(res.data.name, 'washer');
    assert.equal(sent().method, 'DELETE');
    assert.equal(sent().headers['content-type'], 'application/json');
    res = await dp.deleteMany('items', { ids: [301, 302] });
    assert.deepEqual(res.data.sort(), [301, 302]);
    const left = await dp.getList('items', { pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: { client: C } });
    assert.equal(left.total, 0);
  });

  it('schema switching through meta.schema and the schema option', async () => {
    let res = await dp.getList('things', { pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: {}, meta: { schema: 'other' } });
    assert.equal(res.total, 2);
    assert.equal(sent().headers['accept-profile'], 'other');
    const other = provider({ schema: () => 'other' });
    res = await other.create('things', { data: { id: 10, label: 'made by react-admin' } });
    assert.equal(res.data.label, 'made by react-admin');
    assert.equal(sent().headers['content-profile'], 'other');
    res = await other.delete('things', { id: 10, previousData: { id: 10 } });
    assert.equal(res.data.id, 10);
    res = await dp.getOne('things', { id: 1 });
    assert.equal(res.data.label, 'public thing');
  });

  it('a bearer token in the headers react-admin sends', async () => {
    const jwt = token(server, 'clients_user', { claims: { sub: 'alice' } });
    const res = await dp.getList('notes', {
      pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: {},
      meta: { headers: { Authorization: `Bearer ${jwt}` } },
    });
    assert.equal(res.total, 1);
    assert.equal(res.data[0].owner, 'alice');
  });

  it('errors reach react-admin as HttpError with the PostgREST body', async () => {
    await assert.rejects(dp.create('authors', { data: { id: 1, name: 'again' } }), (e) => {
      assert.equal(e.status, 409);
      assert.equal(e.body.code, '23505');
      assert.equal(e.body.details, 'Key (id)=(1) already exists.');
      return true;
    });
    await assert.rejects(dp.getOne('books', { id: 999 }), (e) => {
      assert.equal(e.status, 406);
      assert.equal(e.body.code, 'PGRST116');
      return true;
    });
    await assert.rejects(dp.getList('notes', { pagination: { page: 1, perPage: 1 }, sort: { field: 'id', order: 'ASC' }, filter: {} }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.body.code, '42501');
      return true;
    });
  });
});

describe('from a browser', () => {
  it('every kind of request sent above passes a CORS preflight', async () => {
    const { checked, problems } = await checkPreflights(server.url, log);
    assert.ok(checked > 3, `only ${checked} request kinds recorded`);
    assert.deepEqual(problems, []);
  });
});
