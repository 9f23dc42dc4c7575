// Starts ../serve (throwaway PostgreSQL + fixture.sql + tusk) for one test file, mints tokens
// with `tusk token`, and records the requests a client library sends (so that tests can check
// what went over the wire, not only what came back).

import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVE = path.resolve(HERE, '..', 'serve');
const STARTUP_TIMEOUT_MS = 150_000;

/** Starts the server; resolves to { url, secret, bin, stop() } once it answers. */
export function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(SERVE, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const vars = {};
    let stderr = '';
    let done = false;
    const fail = (err) => {
      if (done) return;
      done = true;
      child.kill('SIGTERM');
      reject(new Error(`${err}\n--- serve stderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail('serve did not become ready in time'), STARTUP_TIMEOUT_MS);
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (e) => fail(`cannot run ${SERVE}: ${e.message}`));
    child.on('exit', (code, signal) => fail(`serve exited early (${signal ?? code})`));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'READY') {
        clearTimeout(timer);
        done = true;
        child.removeAllListeners('exit');
        resolve({
          url: vars.TUSK_URL,
          secret: vars.TUSK_JWT_SECRET,
          bin: vars.TUSK_BIN,
          stderr: () => stderr,
          stop: () => new Promise((res) => {
            child.once('exit', () => res());
            child.stdin.end();
          }),
        });
        return;
      }
      const eq = line.indexOf('=');
      if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
    });
  });
}

/** A JWT from `tusk token` (the CLI is part of what is tested). */
export function token(server, role, { exp = '10m', claims = {} } = {}) {
  const args = ['token', '--role', role];
  if (exp !== null) args.push('--exp', exp);
  for (const [k, v] of Object.entries(claims)) args.push('--claim', `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGRST_')));
  env.PGRST_JWT_SECRET = server.secret;
  return execFileSync(server.bin, args, { env, encoding: 'utf8' }).trim();
}

/** Throws unless `url` is on this machine: nothing a test loads may come from elsewhere. */
export function assertLocal(url) {
  const { hostname } = new URL(url);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost' && hostname !== '[::1]') {
    throw new Error(`refusing a request off this machine: ${url}`);
  }
}

/**
 * A fetch that records every request: `{ method, url, headers (lower-case keys), body }`.
 * `rewrite(url)` may change the URL before it is fetched (supabase-js's /rest/v1 prefix).
 */
export function recordingFetch(rewrite = (u) => u) {
  const log = [];
  const f = async (input, init = {}) => {
    const req = new Request(input, init);
    const body = init.body === undefined || init.body === null ? null : String(init.body);
    const headers = Object.fromEntries(req.headers.entries());
    log.push({ method: req.method, url: String(req.url), headers, body });
    assertLocal(rewrite(String(req.url)));
    return fetch(rewrite(String(req.url)), { method: req.method, headers: req.headers, body: init.body ?? undefined });
  };
  f.log = log;
  f.last = () => log[log.length - 1];
  return f;
}

/** The query string of a recorded URL, exactly as sent (not decoded). */
export const rawQuery = (url) => url.slice(url.indexOf('?') + 1);

// Headers a browser sends without asking (CORS-safelisted, or set by the browser itself).
const SAFE_HEADERS = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range', 'user-agent', 'host', 'content-length', 'connection', 'accept-encoding']);

/**
 * The browser's view of the recorded requests: for each distinct method + header set, the CORS
 * preflight a page on another origin would send first, and whether tusk's answer lets the real
 * request (and the headers the libraries read from the response) through.
 */
export async function checkPreflights(baseUrl, log) {
  const origin = 'http://localhost:5173';
  const seen = new Set();
  const problems = [];
  for (const { method, url, headers } of log) {
    const asked = Object.keys(headers).filter((h) => !SAFE_HEADERS.has(h)).sort();
    const key = `${method} ${asked.join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const target = new URL(url);
    const res = await fetch(new URL(target.pathname, baseUrl), {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': asked.join(', ') },
    });
    const allowOrigin = res.headers.get('access-control-allow-origin');
    const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase().split(/\s*,\s*/);
    const allowed = new Set((res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/));
    if (!res.ok) problems.push(`${key}: preflight status ${res.status}`);
    if (allowOrigin !== '*' && allowOrigin !== origin) problems.push(`${key}: Access-Control-Allow-Origin ${allowOrigin}`);
    if (!methods.includes(method)) problems.push(`${key}: method not allowed (${methods})`);
    for (const h of asked) if (!allowed.has(h)) problems.push(`${key}: header ${h} not allowed`);
  }
  const res = await fetch(new URL('/books?limit=1', baseUrl), { headers: { Origin: origin, Prefer: 'count=exact' } });
  const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
  if (!exposed.includes('content-range')) problems.push(`Content-Range is not exposed: ${exposed}`);
  return { checked: seen.size, problems };
}
