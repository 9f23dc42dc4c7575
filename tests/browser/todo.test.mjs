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
let app, token, secret, psqlUri, origin, demoUser, demoPassword;
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
    user: /^\s*user:\s+(\S+) \(password: \S+\)\s*$/m,
    password: /^\s*user:\s+\S+ \(password: (\S+)\)\s*$/m,
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
  demoUser = found.user;
  demoPassword = found.password;
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


// People with browsers of their own: contexts of a second Chromium, each with its own cookies.
let browser2;
const personContexts = [];
async function personPage(viewport = { width: 1100, height: 800 }) {
  if (!browser2) browser2 = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const ctx = await browser2.newContext({ viewport, serviceWorkers: 'block', hasTouch: viewport.width < 500 });
  personContexts.push(ctx);
  await ctx.route('**/*', (route) => {
    let host = '';
    try { host = new URL(route.request().url()).hostname; } catch { /* weird url */ }
    if (host === '127.0.0.1') return route.continue();
    external.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const p = await ctx.newPage();
  p.setDefaultTimeout(UI_TIMEOUT_MS);
  p.listReads = 0;
  p.streams = 0;
  p.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  p.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname !== '/tasks' || r.method() !== 'GET') return;
    if (r.resourceType() === 'eventsource') p.streams += 1;
    else p.listReads += 1;
  });
  await p.goto(app, { waitUntil: 'load' });
  await p.getByTestId('task-list').waitFor();
  return p;
}

async function signIn(p, name, password) {
  await p.getByTestId('signin-name').fill(name);
  await p.getByTestId('signin-password').fill(password);
  await p.getByTestId('signin-button').click();
}

async function addOn(p, name) {
  await p.getByTestId('new-task-input').fill(name);
  await p.getByTestId('add-button').click();
}

const taskByNameOn = (p, name) =>
  p.getByTestId('task').filter({ has: p.getByTestId('task-name').getByText(name, { exact: true }) });

// Does `action` in `writer`; once the write is answered, `seen()` must show up in `reader`
// within a second. The milliseconds it took.
async function liveWithin(writer, action, reader, seen) {
  const written = writer.waitForResponse((r) => new URL(r.url()).pathname === '/tasks' && r.request().method() !== 'GET');
  await action();
  assert.ok((await written).ok(), 'the write succeeded');
  const t = Date.now();
  await seen().first().waitFor({ timeout: 1000 });
  return Date.now() - t;
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
    for (const ctx of personContexts) { try { await ctx.close(); } catch (e) { problems.push(e); } }
    try { if (browser2) await browser2.close(); } catch (e) { problems.push(e); }
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
    // Issue 11: the pasted token is moved into the HttpOnly cookie; no page script can read it.
    assert.equal(await page.evaluate(() => localStorage.getItem('tusk-todo.jwt')), null, 'token not in localStorage');
    assert.equal(await page.evaluate((t) => document.cookie.includes(t), token), false, 'token not in document.cookie');
    const jar = (await context.cookies(origin)).find((c) => c.name === 'todo_jwt');
    assert.equal(jar?.value, token, 'the token is in the todo_jwt cookie');
    assert.equal(jar.httpOnly, true, 'HttpOnly');
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
    // Triggers off for this change, so that the live list does not show it before the click.
    psql(`set session_replication_role = replica; update todo.tasks set owner = 'second_user' where id = ${id}`);

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

  // -------------------------------------------------------------------------
  // Issue 11: people signing in with a password, in browsers of their own
  // (separate cookie jars), and the live list.
  // -------------------------------------------------------------------------

  let alice, bob;           // the demo account, and a person who signs up
  const carol = { name: `carol_${randomBytes(2).toString('hex')}`, password: 'carol has a long password' };

  it('signs in with a name and a password; the token stays in an HttpOnly cookie no script can read', async () => {
    requireApp();
    assert.ok(demoUser && demoPassword, `the demo banner names an account:\n${demoLog}`);
    alice = await personPage();
    assert.ok(await alice.getByTestId('signin-form').isVisible(), 'guests see the sign-in form');
    assert.equal(await alice.getByTestId('signup-toggle').isVisible(), false, 'no sign-up while it is switched off');
    const answered = alice.waitForResponse((r) => r.url().endsWith('/rpc/login'));
    await signIn(alice, demoUser, demoPassword);
    const login = await answered;
    assert.equal(login.status(), 200);
    assert.ok(!(await login.text()).includes('eyJ'), 'the login answer carries no token');
    await alice.getByTestId('logout-button').waitFor();
    assert.equal(await alice.getByTestId('whoami').innerText(), demoUser);
    assert.match(await alice.getByTestId('token-expiry').innerText(), /session ends in (59|60) minutes|in 1 hour/i);
    assert.ok(await alice.getByTestId('add-form').isVisible());
    // Nothing a page script can reach holds the token.
    const seen = await alice.evaluate(() => ({
      cookie: document.cookie,
      storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    }));
    assert.ok(!seen.cookie.includes('todo_jwt') && !seen.cookie.includes('eyJ'), `document.cookie: ${seen.cookie}`);
    assert.ok(!seen.storage.includes('eyJ'), `web storage: ${seen.storage}`);
    const jar = (await alice.context().cookies(origin)).find((c) => c.name === 'todo_jwt');
    assert.ok(jar && jar.value.startsWith('eyJ'), 'the browser holds the token in the todo_jwt cookie');
    assert.equal(jar.httpOnly, true, 'HttpOnly');
    assert.equal(jar.sameSite, 'Strict', 'SameSite=Strict');
    await alice.screenshot({ path: path.join(OUT, 'signed-in.png'), fullPage: true });
  });

  it('says "wrong name or password" for a wrong password and for an unknown name alike', async () => {
    requireApp();
    bob = await personPage();
    const messages = [];
    for (const [name, password] of [[demoUser, 'not the password'], ['nobody_here', 'not the password']]) {
      const answered = bob.waitForResponse((r) => r.url().endsWith('/rpc/login'));
      await signIn(bob, name, password);
      assert.equal((await answered).status(), 401);
      const error = bob.getByTestId('signin-error');
      await error.waitFor({ state: 'visible' });
      messages.push(await error.innerText());
      assert.equal(await bob.getByTestId('logout-button').count(), 0, 'not signed in');
      if (messages.length === 1) await bob.screenshot({ path: path.join(OUT, 'wrong-password.png'), fullPage: true });
    }
    assert.match(messages[0], /wrong name or password/i);
    assert.equal(messages[1], messages[0], 'the same answer for an unknown name');
    assert.equal((await bob.context().cookies(origin)).filter((c) => c.name === 'todo_jwt').length, 0, 'no cookie');
  });

  it('offers sign-up only when the administrator switched it on, and signs the new person in', async () => {
    requireApp();
    psql("update todo_private.settings set value = 'on' where key = 'signup'");
    await bob.reload();
    await bob.getByTestId('signup-toggle').waitFor({ state: 'visible' });
    await bob.getByTestId('signup-toggle').click();
    await eventually('the form in sign-up mode', async () =>
      (await bob.getByTestId('signin-form').getAttribute('data-mode')) === 'signup');
    await bob.getByTestId('signin-name').fill(carol.name);
    await bob.getByTestId('signin-password').fill(carol.password);
    await bob.screenshot({ path: path.join(OUT, 'signup.png'), fullPage: true });
    await bob.getByTestId('signin-button').click();
    await bob.getByTestId('logout-button').waitFor();
    assert.equal(await bob.getByTestId('whoami').innerText(), carol.name);
    assert.equal(psql(`select role from todo_private.accounts where name = '${carol.name}'`), `u_${carol.name}`);
    assert.ok(!(await bob.evaluate(() => document.cookie)).includes('eyJ'));
    psql("update todo_private.settings set value = 'off' where key = 'signup'");
  });

  let aliceTask, carolTask;
  it('two browsers see each other\'s changes live within a second, without polling', async () => {
    requireApp();
    for (const p of [alice, bob]) {
      await eventually('the list is live', async () => (await p.getByTestId('live-status').getAttribute('data-state')) === 'live');
    }
    const took = [];
    aliceTask = `from alice ${randomBytes(2).toString('hex')}`;
    took.push(await liveWithin(alice, () => addOn(alice, aliceTask), bob,
      () => taskByNameOn(bob, aliceTask)));
    carolTask = `from carol ${randomBytes(2).toString('hex')}`;
    took.push(await liveWithin(bob, () => addOn(bob, carolTask), alice,
      () => taskByNameOn(alice, carolTask)));
    const carolId = await taskByNameOn(alice, carolTask).getAttribute('data-id');
    took.push(await liveWithin(bob, () => taskByNameOn(bob, carolTask).getByTestId('task-done').check(), alice,
      () => alice.locator(`[data-testid="task"][data-id="${carolId}"][data-done="true"]`)));
    const aliceId = await taskByNameOn(bob, aliceTask).getAttribute('data-id');
    took.push(await liveWithin(alice, async () => {
      await taskByNameOn(alice, aliceTask).getByTestId('task-rename').click();
      await alice.getByTestId('task-edit-input').fill(`${aliceTask} (renamed)`);
      await alice.getByTestId('task-save').click();
    }, bob, () => bob.locator(`[data-testid="task"][data-id="${aliceId}"]`).getByText(`${aliceTask} (renamed)`)));
    aliceTask = `${aliceTask} (renamed)`;
    console.log(`change to other browser: ${took.join(', ')} ms`);
    // No polling: neither page read the list with a plain GET; all came over the event stream.
    assert.deepEqual([alice.listReads, bob.listReads], [0, 0], 'GET /tasks fetches (polling)');
    assert.ok(alice.streams >= 1 && bob.streams >= 1, 'each page subscribed with EventSource');
    await alice.screenshot({ path: path.join(OUT, 'live-alice.png'), fullPage: true });
    await bob.screenshot({ path: path.join(OUT, 'live-bob.png'), fullPage: true });
  });

  it('another user\'s rows stay unchangeable, in the UI and through the API with the cookie', async () => {
    requireApp();
    const carolRow = taskByNameOn(alice, carolTask);
    const id = Number(await carolRow.getAttribute('data-id'));
    assert.equal(await carolRow.locator('[data-testid="task-rename"],[data-testid="task-delete"],[data-testid="task-done"]').count(), 0,
      'no controls on another user\'s task');
    const before = dbTask(id);
    const tries = await alice.evaluate(async (id) => {
      const out = [];
      for (const [method, body] of [['PATCH', { name: 'hacked' }], ['PATCH', { done: false }], ['DELETE', undefined]]) {
        const res = await fetch(`/tasks?id=eq.${id}`, {
          method,
          headers: { 'Content-Type': 'application/json', Prefer: 'return=representation' },
          body: body && JSON.stringify(body),
        });
        out.push(`${method} ${res.status} ${await res.text()}`);
      }
      return out;
    }, id);
    for (const t of tries) assert.match(t, /^(PATCH|DELETE) 200 \[\]$/, t);
    assert.equal(dbTask(id), before, 'unchanged');
  });

  it('renews the session while the user is active; past its end asks to sign in again, keeping the typed text', async () => {
    requireApp();
    psql("update todo_private.settings set value = '0.1' where key = 'session_minutes'"); // 6 seconds
    await alice.getByTestId('logout-button').click();
    await alice.getByTestId('signin-form').waitFor({ state: 'visible' });
    await signIn(alice, demoUser, demoPassword);
    await alice.getByTestId('logout-button').waitFor();
    assert.match(await alice.getByTestId('token-expiry').innerText(), /session ends in \d+ seconds?/i);
    let renewals = 0;
    alice.on('response', (r) => { if (r.url().endsWith('/rpc/renew_session') && r.status() === 200) renewals += 1; });
    // Active for 14 s (more than two sessions' worth): a key press every second.
    const input = alice.getByTestId('new-task-input');
    await input.focus();
    for (let i = 0; i < 14; i++) {
      await alice.keyboard.press('Shift');
      await alice.waitForTimeout(1000);
    }
    assert.ok(renewals >= 2, `renewed while active (${renewals} times)`);
    assert.ok(await alice.getByTestId('logout-button').isVisible(), 'still signed in after 14 s of a 6 s session');
    // Then the user types and walks away.
    const draft = 'half-typed task, do not lose me';
    await input.fill(draft);
    await alice.getByTestId('session-message').getByText(/sign in again/i).waitFor({ timeout: 20_000 });
    psql("update todo_private.settings set value = '60' where key = 'session_minutes'");
    assert.equal(await input.inputValue(), draft, 'the typed text is kept');
    assert.ok(await input.isVisible(), 'the composer stays on screen');
    assert.equal(await alice.getByTestId('add-button').isDisabled(), true, 'but cannot send until signed in');
    assert.equal(await alice.getByTestId('signin-name').inputValue(), demoUser, 'the name is filled in');
    await alice.screenshot({ path: path.join(OUT, 'session-ended.png'), fullPage: true });
    await alice.getByTestId('signin-password').fill(demoPassword);
    await alice.getByTestId('signin-button').click();
    await alice.getByTestId('logout-button').waitFor();
    assert.equal(await input.inputValue(), draft, 'still there after signing in again');
    await alice.getByTestId('add-button').click();
    await taskByNameOn(alice, draft).waitFor();
    assert.equal(psql(`select owner from todo.tasks where name = '${draft.replace(/'/g, "''")}'`), 'todo_user');
    assert.equal(await input.inputValue(), '', 'sent and cleared');
  });

  it('is usable on a phone (390×844): sign in, add, sign out', async () => {
    requireApp();
    const phone = await personPage({ width: 390, height: 844 });
    const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(await overflow() <= 0, `no horizontal scrolling for guests (${await overflow()}px)`);
    for (const id of ['signin-name', 'signin-password', 'signin-button']) {
      const box = await phone.getByTestId(id).boundingBox();
      assert.ok(box && box.height >= 40 && box.x >= 0 && box.x + box.width <= 390, `${id} fits and is tappable: ${JSON.stringify(box)}`);
    }
    await phone.screenshot({ path: path.join(OUT, 'phone-signin.png'), fullPage: true });
    await signIn(phone, carol.name, carol.password);
    await phone.getByTestId('logout-button').waitFor();
    await addOn(phone, 'added on a phone');
    await taskByNameOn(phone, 'added on a phone').waitFor();
    assert.ok(await overflow() <= 0, `no horizontal scrolling signed in (${await overflow()}px)`);
    const logout = await phone.getByTestId('logout-button').boundingBox();
    assert.ok(logout.x + logout.width <= 390 && logout.height >= 40, `sign-out button fits: ${JSON.stringify(logout)}`);
    await phone.screenshot({ path: path.join(OUT, 'phone-signed-in.png'), fullPage: true });
    await phone.getByTestId('logout-button').click();
    await phone.getByTestId('signin-form').waitFor({ state: 'visible' });
    assert.equal((await phone.context().cookies(origin)).filter((c) => c.name === 'todo_jwt' && c.value).length, 0, 'cookie cleared');
  });

  it('made no request outside 127.0.0.1 and had no page errors', () => {
    assert.deepEqual(external, [], `requests that tried to leave 127.0.0.1: ${external.join(', ')}`);
    assert.deepEqual(pageErrors, [], `uncaught errors in the page: ${pageErrors.join('\n')}`);
  });
});
