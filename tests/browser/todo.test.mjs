// End-to-end test of the todo example app (examples/todo/{backend.sql,frontend.js})
// served by `tusk demo`, driven through Debian's Chromium with playwright-core.
//
//   cargo build --release && (cd tests/browser && npm ci && npm test)
//
// Environment:
//   TUSK_BIN   path to the tusk binary (default: target/release/tusk, relative to the repo root)
//   CHROMIUM   path to Chromium (default: /usr/bin/chromium)
//
// The test never skips: a missing browser or binary is a failure.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, accessSync, constants } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const OUT = path.join(HERE, 'output');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TUSK_BIN = path.resolve(REPO, process.env.TUSK_BIN || 'target/release/tusk');
const STARTUP_TIMEOUT_MS = 180_000;
const UI_TIMEOUT_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-quic',
  '--no-first-run',
  '--disable-sync',
  // Belt and braces: nothing but 127.0.0.1 resolves inside this browser.
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

const SAMPLE_TASKS = ['finish tutorial 0', 'pat self on back'];
const SEED_SECOND_USER_SQL = `
create role second_user nologin;
grant usage on schema todo to second_user;
grant second_user to postgrest;
grant all on todo.tasks to second_user;
grant usage, select on sequence todo.tasks_id_seq to second_user;
`;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function findPsql() {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return 'psql';
  } catch { /* not in PATH */ }
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    const p = path.join(bindir, 'psql');
    if (existsSync(p)) return p;
  } catch { /* no pg_config */ }
  throw new Error('psql not found in PATH nor in `pg_config --bindir`');
}

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
function signJwt(payload, secret) {
  const data = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
  return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

async function eventually(what, fn, timeout = UI_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false && v !== undefined && v !== null) return v;
      last = new Error(`condition returned ${v}`);
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for: ${what}\nlast: ${last && last.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------
// shared state
// ---------------------------------------------------------------------------

let demo;            // child process
let demoLog = '';
let demoExit = null;
let app, token, secret, psqlUri, origin;
let PSQL;
let context, page, userDataDir;
const external = [];      // requests that tried to leave 127.0.0.1
const pageErrors = [];
const consoleErrors = [];
const apiLog = [];        // API responses seen by the page (for failure diagnostics)
let appLoaded = false;    // later steps fail fast if the page never rendered

function psql(sql) {
  try {
    return execFileSync(PSQL, [psqlUri, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (e) {
    throw new Error(`psql failed for: ${sql}\n${e.stderr || e.message}`);
  }
}
const dbTask = (id) => psql(`select name || '|' || done || '|' || owner from todo.tasks where id = ${Number(id)}`);
const dbCount = () => Number(psql('select count(*) from todo.tasks'));

function killDemo(signal = 'SIGTERM') {
  if (!demo || demoExit) return;
  try { process.kill(-demo.pid, signal); } catch { /* already gone */ }
}
// Whatever happens, stop the demo. SIGTERM (not SIGKILL) lets tusk stop its PostgreSQL
// cluster, which runs in a process group of its own.
process.on('exit', () => killDemo('SIGTERM'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killDemo('SIGTERM');
    process.exit(128 + os.constants.signals[sig]);
  });
}

async function stopDemo() {
  if (!demo || demoExit) return;
  killDemo('SIGTERM');
  const exited = await Promise.race([
    new Promise((r) => demo.once('exit', () => r(true))),
    new Promise((r) => setTimeout(() => r(false), 15_000)),
  ]);
  if (!exited) {
    killDemo('SIGKILL');
    throw new Error('`tusk demo` did not stop within 15s of SIGTERM (killed it with SIGKILL)');
  }
}

async function startDemo() {
  const port = await freePort();
  demo = spawn(TUSK_BIN, ['demo', '--port', String(port)], {
    cwd: REPO,
    detached: true, // own process group, so we can kill it and its PostgreSQL together
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_BACKTRACE: '1' },
  });
  demo.on('exit', (code, sig) => { demoExit = { code, sig }; });
  demo.stdout.on('data', (d) => { demoLog += d; });
  demo.stderr.on('data', (d) => { demoLog += d; });

  const need = {
    app: /^\s*app:\s+(\S+)\s*$/m,
    token: /^\s*token:\s+(\S+)\s*$/m,
    secret: /^\s*secret:\s+(\S+)\s*$/m,
    psql: /^\s*psql:\s+psql\s+'([^']+)'\s*$/m,
  };
  const found = await eventually('`tusk demo` to print its app/token/secret/psql lines', () => {
    if (demoExit) {
      throw Object.assign(new Error(`\`tusk demo\` exited early (${JSON.stringify(demoExit)}). Output:\n${demoLog}`), { fatal: true });
    }
    const m = Object.fromEntries(Object.entries(need).map(([k, re]) => [k, demoLog.match(re)?.[1]]));
    return Object.values(m).every(Boolean) ? m : null;
  }, STARTUP_TIMEOUT_MS).catch((e) => {
    throw new Error(`${e.message}\n--- tusk demo output so far ---\n${demoLog}`);
  });
  ({ app, token, secret } = found);
  psqlUri = found.psql;
  origin = new URL(app).origin;
  assert.equal(new URL(app).hostname, '127.0.0.1', `app URL should be on 127.0.0.1, got ${app}`);
  assert.equal(new URL(app).port, String(port), `app URL should use the requested port ${port}, got ${app}`);
}

// Fetch from inside the page (same origin), like a user typing into the devtools console.
function pageFetch(method, pathAndQuery, { body, auth } = {}) {
  return page.evaluate(async ({ method, pathAndQuery, body, auth }) => {
    const headers = { Accept: 'application/json', Prefer: 'return=representation' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) headers.Authorization = `Bearer ${auth}`;
    const res = await fetch(pathAndQuery, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not json */ }
    return { status: res.status, text, json };
  }, { method, pathAndQuery, body, auth });
}

function requireApp() {
  if (!appLoaded) assert.fail('the app page did not load (see the first failure); not attempting this step');
}

const tasks = () => page.getByTestId('task');
const taskRow = (id) => page.locator(`[data-testid="task"][data-id="${id}"]`);
const taskByName = (name) => tasks().filter({ has: page.getByTestId('task-name').getByText(name, { exact: true }) });

async function uiTasks() {
  return tasks().evaluateAll((els) => els.map((el) => ({
    id: Number(el.dataset.id),
    owner: el.dataset.owner,
    done: el.dataset.done === 'true',
    name: el.querySelector('[data-testid="task-name"]')?.textContent ?? null,
    controls: el.querySelectorAll('[data-testid="task-rename"],[data-testid="task-delete"],[data-testid="task-done"]').length,
  })));
}

async function screenshot(name) {
  await page.screenshot({ path: path.join(OUT, name), fullPage: true });
}

async function login(jwt) {
  await page.getByTestId('login-input').fill(jwt);
  await page.getByTestId('login-button').click();
}

async function logoutIfNeeded() {
  if (await page.getByTestId('logout-button').isVisible()) {
    await page.getByTestId('logout-button').click();
    await page.getByTestId('login-form').waitFor({ state: 'visible' });
  }
}

async function assertNoErrorBanner(context) {
  const banner = page.getByTestId('error-banner');
  if (await banner.isVisible()) {
    const text = await banner.innerText();
    assert.fail(`unexpected error banner ${context}: ${text}\nAPI log:\n${apiLog.slice(-10).join('\n')}`);
  }
}

async function dismissErrors() {
  while (await page.getByTestId('error-dismiss').count()) {
    await page.getByTestId('error-dismiss').first().click();
  }
}

// ---------------------------------------------------------------------------
// the scenario
// ---------------------------------------------------------------------------

describe('todo example app in a real browser', { timeout: 600_000 }, () => {
  before(async () => {
    mkdirSync(OUT, { recursive: true });
    try {
      accessSync(CHROMIUM, constants.X_OK);
    } catch {
      throw new Error(`Chromium not found or not executable at ${CHROMIUM}. Install it (apt-get install -y chromium) or set CHROMIUM=/path/to/chromium. This test does not skip.`);
    }
    if (!existsSync(TUSK_BIN)) {
      throw new Error(`tusk binary not found at ${TUSK_BIN}. Build it first (cargo build --release) or set TUSK_BIN=/path/to/tusk.`);
    }
    PSQL = findPsql();
    await startDemo();

    userDataDir = mkdtempSync(path.join(os.tmpdir(), 'tusk-chromium-'));
    // A fresh, throw-away profile (Playwright passes it as --user-data-dir).
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 800 },
      serviceWorkers: 'block',
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      let host = '';
      try { host = new URL(url).hostname; } catch { /* weird url */ }
      if (host === '127.0.0.1') return route.continue();
      external.push(url);
      return route.abort('blockedbyclient');
    });
    context.on('request', (req) => {
      const u = req.url();
      if (/^(data|blob|about):/.test(u)) return;
      let host = '';
      try { host = new URL(u).hostname; } catch { /* ignore */ }
      if (host !== '127.0.0.1' && !external.includes(u)) external.push(u);
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('response', async (res) => {
      const req = res.request();
      if (req.resourceType() !== 'fetch') return;
      let body = '';
      try { body = (await res.text()).slice(0, 300); } catch { /* ignore */ }
      apiLog.push(`${req.method()} ${res.url().replace(origin, '')} -> ${res.status()} ${body}`);
    });
  });

  after(async () => {
    const problems = [];
    try { if (context) await context.close(); } catch (e) { problems.push(e); }
    try { await stopDemo(); } catch (e) { problems.push(e); }
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    writeFileSync(path.join(OUT, 'demo.log'), demoLog);
    writeFileSync(path.join(OUT, 'api.log'), apiLog.join('\n') + '\n');
    writeFileSync(path.join(OUT, 'console-errors.log'), consoleErrors.join('\n') + '\n');
    if (problems.length) throw problems[0];
  });

  it('serves the homepage as HTML that loads frontend.js from tusk itself, with no network', async () => {
    const scripts = [];
    page.on('response', (r) => { if (r.request().resourceType() === 'script') scripts.push(r); });
    const res = await page.goto(app, { waitUntil: 'load' });
    assert.equal(res.status(), 200, `GET ${app} (Accept: ${(await res.request().allHeaders()).accept}) answered ${res.status()}: ${(await res.text()).slice(0, 500)}`);
    assert.match(res.headers()['content-type'] || '', /^text\/html/, 'homepage content-type');
    const html = await res.text();
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /<meta name="viewport"/);
    const src = html.match(/<script type="module" src="([^"]+)"/)?.[1];
    assert.ok(src, 'homepage has a module script');
    const scriptUrl = new URL(src.replace(/&amp;/g, '&'), app);
    assert.equal(scriptUrl.origin, origin, `frontend.js should come from the demo server itself, got ${scriptUrl}`);
    assert.equal(scriptUrl.pathname, '/static/frontend.js', 'the page loads frontend.js from server-static-dir by default');
    await page.getByTestId('task-list').waitFor({ timeout: UI_TIMEOUT_MS }).catch((e) => {
      throw new Error(`app did not render (${e.message}). external requests: ${external.join(', ')}; page errors: ${pageErrors.join('; ')}`);
    });
    const js = scripts.find((r) => r.url() === scriptUrl.href);
    assert.ok(js, `frontend.js was fetched from ${scriptUrl.href}`);
    assert.equal(js.status(), 200);
    assert.match(js.headers()['content-type'] || '', /javascript/, 'frontend.js content-type');
    assert.ok(js.headers().etag, 'frontend.js has an ETag (static files)');
    // Everything the page needed came from tusk: any other host is blocked in this browser.
    assert.deepEqual(external, [], `requests that tried to leave 127.0.0.1: ${external.join(', ')}`);
    appLoaded = true;
  });

  it('says so when frontend.js cannot be loaded, instead of spinning', async () => {
    const other = await context.newPage();
    try {
      // As if offline or the URL were wrong: the script request fails.
      await other.route('**/static/frontend.js', (route) => route.abort('internetdisconnected'));
      await other.goto(app, { waitUntil: 'load' });
      const failed = other.getByTestId('boot-failed');
      await failed.waitFor({ timeout: UI_TIMEOUT_MS });
      const text = await failed.innerText();
      assert.match(text, /could not be loaded/i, text);
      assert.match(text, /did not load/i, text);
      assert.match(text, /\/static\/frontend\.js/, `the message names the script's URL: ${text}`);
      assert.equal(await other.getByText('Loading the app…').count(), 0, 'no more "Loading the app…"');
      await other.screenshot({ path: path.join(OUT, 'script-failed.png'), fullPage: true });
    } finally {
      await other.close();
    }
  });

  it('shows the sample tasks to anonymous visitors, read-only', async () => {
    requireApp();
    const expected = psql("select id || '|' || name || '|' || owner from todo.tasks order by id").split('\n');
    assert.deepEqual(expected.map((l) => l.split('|')[1]), SAMPLE_TASKS, 'database starts with the two sample tasks');
    await eventually('two sample tasks in the list', async () => (await tasks().count()) === 2);
    const ui = await uiTasks();
    assert.deepEqual(ui.map((t) => `${t.id}|${t.name}|${t.owner}`), expected);
    assert.ok(ui.every((t) => t.controls === 0), 'no edit controls for guests');
    assert.equal(await page.getByTestId('add-form').isVisible(), false, 'no add form for guests');
    assert.equal(await page.getByTestId('new-task-input').isVisible(), false);
    assert.ok(await page.getByTestId('guest-hint').isVisible(), 'guest sees a hint to log in');
    assert.ok(await page.getByTestId('login-input').isVisible());
    // owner is displayed
    for (const t of ui) {
      assert.equal(await taskRow(t.id).getByTestId('task-owner').innerText(), t.owner);
    }

    // and the API refuses an anonymous insert
    const before = dbCount();
    const r = await pageFetch('POST', '/tasks', { body: { name: 'do bad thing' } });
    assert.ok(r.status === 401 || r.status === 403, `anonymous POST /tasks should be refused, got ${r.status} ${r.text}`);
    assert.ok(r.json && typeof r.json.message === 'string' && r.json.code, `error body has code+message: ${r.text}`);
    assert.equal(dbCount(), before, 'anonymous insert changed nothing');
    await assertNoErrorBanner('in the anonymous view');
    await screenshot('anonymous.png');
  });

  it('logs in with the printed token', async () => {
    requireApp();
    await login(token);
    await page.getByTestId('logout-button').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.getByTestId('whoami').innerText(), 'todo_user');
    await page.getByTestId('add-form').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('login-form').isVisible(), false);
    assert.equal(await page.evaluate(() => localStorage.getItem('tusk-todo.jwt')), token, 'token kept in localStorage');
    await eventually('tasks listed after login', async () => (await tasks().count()) === 2);
    assert.ok((await uiTasks()).every((t) => t.controls === 0), 'sample tasks (owned by the admin) have no controls');
    await assertNoErrorBanner('after login');
  });

  let myId;
  const firstName = `Write the browser test ${randomBytes(3).toString('hex')}`;
  const renamed = `${firstName} (renamed)`;

  it('adds a task', async () => {
    requireApp();
    await page.getByTestId('new-task-input').fill(firstName);
    await page.getByTestId('add-button').click();
    const row = taskByName(firstName);
    await row.waitFor({ timeout: UI_TIMEOUT_MS });
    myId = Number(await row.getAttribute('data-id'));
    assert.ok(myId > 0);
    assert.equal(await row.getAttribute('data-owner'), 'todo_user');
    assert.equal(await page.getByTestId('new-task-input').inputValue(), '', 'input cleared');
    assert.equal(dbTask(myId), `${firstName}|false|todo_user`);
    await row.getByTestId('task-rename').waitFor();
    await row.getByTestId('task-delete').waitFor();
    await assertNoErrorBanner('after adding');
  });

  it('renames it inline', async () => {
    requireApp();
    const row = taskRow(myId);
    await row.getByTestId('task-rename').click();
    const input = row.getByTestId('task-edit-input');
    await input.waitFor();
    assert.equal(await input.inputValue(), firstName);
    await input.fill(renamed);
    await row.getByTestId('task-save').click();
    await row.getByTestId('task-name').getByText(renamed, { exact: true }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(dbTask(myId), `${renamed}|false|todo_user`);
    await assertNoErrorBanner('after renaming');
  });

  it('marks it done', async () => {
    requireApp();
    const row = taskRow(myId);
    await row.getByTestId('task-done').check();
    await page.locator(`[data-testid="task"][data-id="${myId}"][data-done="true"]`).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await taskRow(myId).getByTestId('task-done').isChecked(), true);
    assert.equal(dbTask(myId), `${renamed}|true|todo_user`);
    await assertNoErrorBanner('after marking done');
  });

  let secondId;
  it('cannot change tasks of other users, in the UI or through the API', async () => {
    requireApp();
    psql(SEED_SECOND_USER_SQL);
    secondId = Number(psql("set role second_user; insert into todo.tasks (name) values ('second user''s task') returning id"));
    assert.equal(dbTask(secondId), "second user's task|false|second_user");

    await page.getByTestId('refresh-button').click();
    await taskRow(secondId).waitFor({ timeout: UI_TIMEOUT_MS });
    const ui = await uiTasks();
    for (const t of ui) {
      if (t.owner === 'todo_user') assert.equal(t.controls, 3, `own task ${t.id} has rename/delete/done controls`);
      else assert.equal(t.controls, 0, `task ${t.id} of ${t.owner} has no controls`);
    }
    assert.equal(await taskRow(secondId).getAttribute('data-owner'), 'second_user');
    assert.equal(await taskRow(secondId).getByTestId('task-owner').innerText(), 'second_user');

    const before = psql("select string_agg(id || '|' || name || '|' || done || '|' || owner, ',' order by id) from todo.tasks");
    const sampleId = ui.find((t) => t.name === SAMPLE_TASKS[0]).id;
    const attempts = [];
    for (const id of [secondId, sampleId]) {
      attempts.push(['PATCH name', id, await pageFetch('PATCH', `/tasks?id=eq.${id}`, { body: { name: 'hacked' }, auth: token })]);
      attempts.push(['PATCH done', id, await pageFetch('PATCH', `/tasks?id=eq.${id}`, { body: { done: true }, auth: token })]);
      attempts.push(['DELETE', id, await pageFetch('DELETE', `/tasks?id=eq.${id}`, { auth: token })]);
    }
    for (const [what, id, r] of attempts) {
      const ok = (r.status === 200 && Array.isArray(r.json) && r.json.length === 0) || (r.status >= 400 && r.status < 500);
      assert.ok(ok, `${what} on task ${id} of another user: expected 200 [] or a 4xx, got ${r.status} ${r.text}`);
    }
    // the seed's unfiltered PATCH (no ?id=) only touches the user's own rows
    const all = await pageFetch('PATCH', '/tasks', { body: { done: true }, auth: token });
    assert.equal(all.status, 200, `unfiltered PATCH: ${all.status} ${all.text}`);
    assert.deepEqual(all.json.map((r) => r.owner), ['todo_user'], 'unfiltered PATCH only returns own rows');
    // forging the owner is refused by the WITH CHECK policies
    const forgedInsert = await pageFetch('POST', '/tasks', { body: { name: 'forged', owner: 'second_user' }, auth: token });
    assert.ok(forgedInsert.status >= 400 && forgedInsert.status < 500, `insert with someone else's owner: ${forgedInsert.status} ${forgedInsert.text}`);
    assert.equal(forgedInsert.json?.code, '42501', `RLS violation code: ${forgedInsert.text}`);
    const giveAway = await pageFetch('PATCH', `/tasks?id=eq.${myId}`, { body: { owner: 'second_user' }, auth: token });
    assert.ok(giveAway.status >= 400 && giveAway.status < 500, `giving a task away: ${giveAway.status} ${giveAway.text}`);

    const afterState = psql("select string_agg(id || '|' || name || '|' || done || '|' || owner, ',' order by id) from todo.tasks");
    assert.equal(afterState, before, 'database unchanged by the forbidden requests');
    await assertNoErrorBanner('after the direct API attempts');
    await page.getByTestId('refresh-button').click();
    await eventually('list refreshed', async () => (await tasks().count()) === 4);
    await screenshot('logged-in.png');
  });

  it('reports "you can\'t change this task" when the server changes nothing', async () => {
    requireApp();
    // Add a task, then (as admin) hand it to second_user behind the UI's back.
    const name = 'about to be taken away';
    await page.getByTestId('new-task-input').fill(name);
    await page.getByTestId('add-button').click();
    await taskByName(name).waitFor({ timeout: UI_TIMEOUT_MS });
    const id = Number(await taskByName(name).getAttribute('data-id'));
    psql(`update todo.tasks set owner = 'second_user' where id = ${id}`);

    await taskRow(id).getByTestId('task-delete').click();
    await taskRow(id).getByTestId('task-confirm-delete').click();
    const banner = page.getByTestId('error-banner');
    await banner.waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
    assert.match(await banner.innerText(), /can.t delete this task/i);
    assert.match(await banner.innerText(), /belongs to second_user/);
    // the list was reloaded: the task is now shown as second_user's, without controls
    await page.locator(`[data-testid="task"][data-id="${id}"][data-owner="second_user"]`).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal((await uiTasks()).find((t) => t.id === id).controls, 0);
    assert.equal(dbTask(id), `${name}|false|second_user`, 'still there, unchanged');
    await screenshot('cant-change.png');
    await dismissErrors();
    psql(`delete from todo.tasks where id = ${id}`);
  });

  it('lets any role created with the seed\'s SQL manage only its own tasks', async () => {
    requireApp();
    const second = signJwt({ role: 'second_user', exp: now() + 600 }, secret);
    await page.getByTestId('logout-button').click();
    await page.getByTestId('session-message').getByText(/logged out/i).waitFor();
    await login(second);
    await page.getByTestId('logout-button').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.getByTestId('whoami').innerText(), 'second_user');
    assert.match(await page.getByTestId('token-expiry').innerText(), /expires/i);
    await page.locator(`[data-testid="task"][data-id="${secondId}"] [data-testid="task-done"]`).waitFor({ timeout: UI_TIMEOUT_MS });
    const ui = await uiTasks();
    for (const t of ui) assert.equal(t.controls, t.owner === 'second_user' ? 3 : 0, `controls on task ${t.id} of ${t.owner}`);
    await taskRow(secondId).getByTestId('task-done').check();
    await page.locator(`[data-testid="task"][data-id="${secondId}"][data-done="true"]`).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(dbTask(secondId), "second user's task|true|second_user");
    const r = await pageFetch('DELETE', `/tasks?id=eq.${myId}`, { auth: second });
    assert.ok((r.status === 200 && r.json?.length === 0) || (r.status >= 400 && r.status < 500), `second_user deleting todo_user's task: ${r.status} ${r.text}`);
    assert.equal(dbTask(myId), `${renamed}|true|todo_user`);
    await assertNoErrorBanner('as second_user');
    await page.getByTestId('logout-button').click();
    await login(token);
    await page.getByTestId('logout-button').waitFor({ timeout: UI_TIMEOUT_MS });
    await taskRow(myId).getByTestId('task-delete').waitFor({ timeout: UI_TIMEOUT_MS });
  });

  it('is usable on a phone-sized screen', async () => {
    requireApp();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('add-button').waitFor({ state: 'visible' });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
    const box = await page.getByTestId('add-button').boundingBox();
    assert.ok(box.height >= 40, `touch target height ${box.height}`);
    await screenshot('phone.png');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(500); // let colour transitions finish
    await screenshot('phone-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1100, height: 800 });
  });

  it('deletes the task', async () => {
    requireApp();
    const row = taskRow(myId);
    await row.getByTestId('task-delete').click();
    await row.getByTestId('task-confirm-delete').click();
    await row.waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    assert.equal(psql(`select count(*) from todo.tasks where id = ${myId}`), '0');
    await assertNoErrorBanner('after deleting');
  });

  it('an expired token shows the expiry message and returns to the guest view', async () => {
    requireApp();
    await logoutIfNeeded();
    const expired = signJwt({ role: 'todo_user', exp: now() - 60 }, secret);
    // the server itself rejects it
    const direct = await pageFetch('GET', '/tasks', { auth: expired });
    assert.equal(direct.status, 401, `server rejects an expired token: ${direct.status} ${direct.text}`);

    await login(expired);
    const msg = page.getByTestId('session-message');
    await msg.getByText(/expired or was rejected/i).waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByTestId('login-form').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('add-form').isVisible(), false);
    assert.equal(await page.getByTestId('logout-button').count(), 0);
    assert.equal(await page.evaluate(() => localStorage.getItem('tusk-todo.jwt')), null, 'token removed from localStorage');
    await eventually('guest list', async () => (await tasks().count()) >= 2);
    assert.ok((await uiTasks()).every((t) => t.controls === 0));
    await screenshot('expired.png');
  });

  it('a token rejected by the server (bad signature) ends the session', async () => {
    requireApp();
    const forged = signJwt({ role: 'todo_user', exp: now() + 600 }, 'not-the-secret-not-the-secret-not-the-secret');
    await login(forged);
    await page.getByTestId('session-message').getByText(/expired or was rejected/i).waitFor({ timeout: UI_TIMEOUT_MS });
    const said = await page.getByTestId('session-message').innerText();
    assert.match(said, /PGRST|JW|signature|invalid/i, 'server reason shown');
    assert.match(said, /not signed for this server/i, `the reason in words, not only PGRST301's: ${said}`);
    await page.getByTestId('login-form').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => localStorage.getItem('tusk-todo.jwt')), null);
  });

  it('a token that expires while logged in returns to the guest view', async () => {
    requireApp();
    const shortLived = signJwt({ role: 'todo_user', exp: now() + 3 }, secret);
    await login(shortLived);
    await page.getByTestId('logout-button').waitFor({ timeout: UI_TIMEOUT_MS });
    await page.getByTestId('session-message').getByText(/expired or was rejected/i).waitFor({ timeout: 10_000 });
    await page.getByTestId('login-form').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('add-form').isVisible(), false);
  });

  it('made no request outside 127.0.0.1 and had no page errors', () => {
    assert.deepEqual(external, [], `requests that tried to leave 127.0.0.1: ${external.join(', ')}`);
    assert.deepEqual(pageErrors, [], `uncaught errors in the page: ${pageErrors.join('\n')}`);
  });
});
