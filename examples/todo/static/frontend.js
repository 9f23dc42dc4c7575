// frontend.js — the entire frontend of the "todo" example app.
//
// One ES module, no build step, no dependencies, no third-party requests.
// It is loaded by the page that the database itself serves (todo.homepage()
// in backend.sql) and talks to the PostgREST-compatible REST API on the same
// origin:
//
//   GET    /tasks?select=id,name,done,owner&order=id   list tasks
//   POST   /tasks             {"name": ...}              add a task
//   PATCH  /tasks?id=eq.N     {"name": ...}/{"done": …}  rename / toggle
//   DELETE /tasks?id=eq.N                                delete
//
// Writes send "Prefer: return=representation", so the server answers with the
// affected rows. Row-level security in the database decides what a user may
// change: for somebody else's task the server answers 200 with [] (no row
// matched), which this UI reports as "you can't change this task".
//
// Signing in (backend.sql, section 7): a name and a password go to
// POST /rpc/login (or /rpc/signup, when the server allows sign-up), which
// answers who you are and sets the JWT in an HttpOnly cookie. Page scripts,
// this one included, never see the token: the browser sends the cookie with
// every same-origin request, and tusk reads the JWT from it (jwt-cookie).
// GET /rpc/session says who is signed in and until when; while the user is
// active, POST /rpc/renew_session extends the session before it ends; past
// its end the app asks to sign in again and keeps what was being typed.
// The seed's manual way still works: a pasted JWT (e.g. from `tusk token`)
// goes once to POST /rpc/use_token, which moves it into the same cookie.
//
// The list is live (backend.sql, section 8): an EventSource on the same URL
// the list is read with (Accept: text/event-stream) receives the whole list
// as a "snapshot" event whenever it changes, as this user may see it. No
// polling.

const LEGACY_STORAGE_KEY = 'tusk-todo.jwt'; // where the seed's app kept the token
const LIST_PATH = 'tasks?select=id,name,done,owner&order=id';
const MAX_ERRORS = 5;
const SESSION_ENDED_TEXT =
  'Your session token has expired or was rejected — you are now viewing as a guest.';
const REAUTH_TEXT = 'Your session has ended. Sign in again to continue — what you typed is kept.';
const LIVE_RETRY_MS = 5000;

// ---------------------------------------------------------------------------
// API location: the page is served at <base>/rpc/homepage, so the API root is
// <base>/. This also works behind a reverse proxy that mounts the API on a
// sub-path. <div id="app" data-api="https://..."> overrides it.
// ---------------------------------------------------------------------------

function apiBase() {
  const root = document.getElementById('app');
  if (root && root.dataset.api) return root.dataset.api.replace(/\/*$/, '/');
  const path = location.pathname;
  const i = path.lastIndexOf('/rpc/');
  return i >= 0 ? path.slice(0, i + 1) : '/';
}
const API = apiBase();

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

const state = {
  // Who is signed in: {name, role, exp, kind: 'password' | 'token', startedAt}, or null
  // for guests. Never the token itself: that lives in the HttpOnly cookie only.
  session: null,
  reauth: null,         // {name, role} of a password session that ended: sign in again
  signupAllowed: false, // the server's todo_private.settings 'signup'
  signinMode: 'signin', // or 'signup'
  signinError: null,
  signingIn: false,
  live: 'connecting',   // 'connecting' | 'live' | 'offline'
  tasks: [],
  loaded: false,
  loading: false,
  errors: [],           // [{id, title, message, code, details, hint, status}]
  notice: null,         // {kind: 'warning' | 'info', text, detail}
  editingId: null,      // task being renamed
  editDraft: '',        // text typed into the rename box
  focusEdit: false,     // move focus to the rename box on next render
  confirmDeleteId: null,
  pending: new Set(),   // task ids with a request in flight
  adding: false,
};

let errorSeq = 0;
let expiryTimer = null;
let renewTimer = null;
let clockTimer = null;
let renewDue = false;
let renewing = false;
let lastActivity = 0;   // Date.now() of the user's last key press, tap or click

const role = () => (state.session ? state.session.role : null);
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('tusk-todo.session') : null;

// ---------------------------------------------------------------------------
// Pasted JWTs (client side only decodes, to explain mistakes; the server
// verifies the signature)
// ---------------------------------------------------------------------------

function base64UrlDecode(part) {
  let s = part.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  const binary = atob(s);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[1]) {
    throw new Error('That does not look like a JWT (expected three base64url parts separated by dots).');
  }
  let payload;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new Error('The token payload is not valid JSON.');
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new Error('The token payload is not a JSON object.');
  }
  if (typeof payload.role !== 'string' || payload.role === '') {
    throw new Error('The token has no "role" claim, so the server would treat you as a guest.');
  }
  if ('exp' in payload && typeof payload.exp !== 'number') {
    throw new Error('The token\'s "exp" claim is not a number.');
  }
  return payload;
}

const isExpired = (s) => !!s && typeof s.exp === 'number' && s.exp * 1000 <= Date.now();

// ---------------------------------------------------------------------------
// The session (what the server said about the cookie), expiry and renewal
// ---------------------------------------------------------------------------

// `info` is what /rpc/login, /rpc/signup, /rpc/renew_session, /rpc/use_token or
// /rpc/session answered: {name, role, exp}.
function setSession(info, kind) {
  state.session = {
    name: info.name || null,
    role: info.role,
    exp: typeof info.exp === 'number' ? info.exp : null,
    kind,
    startedAt: Date.now(),
  };
  state.reauth = null;
  renewDue = false;
  scheduleExpiry();
}

function clearSession() {
  state.session = null;
  state.editingId = null;
  state.confirmDeleteId = null;
  clearTimers();
}

function clearTimers() {
  clearTimeout(expiryTimer);
  clearTimeout(renewTimer);
  clearInterval(clockTimer);
  renewDue = false;
}

// A pasted token expired (client-side clock) or the server rejected it (HTTP 401).
function endSession(detail) {
  clearSession();
  state.notice = { kind: 'warning', text: SESSION_ENDED_TEXT, detail: detail || '' };
  render();
  connectLive();
}

// The session ended on its own. A password session asks to sign in again and
// keeps the page as it is (the new task's text, a rename in progress); a
// pasted token returns to the guest view as in the seed.
function sessionLost(detail) {
  const s = state.session;
  if (!s) return;
  if (s.kind !== 'password') { endSession(detail); return; }
  state.session = null;
  state.confirmDeleteId = null;
  clearTimers();
  state.reauth = { name: s.name, role: s.role };
  state.signinMode = 'signin';
  state.signinError = null;
  state.notice = { kind: 'warning', text: REAUTH_TEXT, detail: detail || '' };
  ui.signinName.value = s.name || '';
  render();
  connectLive();
  if (!ui.newInput.value && document.activeElement !== ui.newInput) ui.signinPassword.focus();
}

function scheduleExpiry() {
  clearTimers();
  const s = state.session;
  if (!s || typeof s.exp !== 'number') return;
  const ms = s.exp * 1000 - Date.now();
  // setTimeout overflows above ~24.8 days; re-check later in that case.
  expiryTimer = setTimeout(() => {
    if (state.session !== s) return;
    if (isExpired(s)) sessionLost(s.kind === 'password' ? 'Your session ran out while you were away.' : 'The token\'s expiry time ("exp") has passed.');
    else scheduleExpiry();
  }, Math.max(0, Math.min(ms + 250, 2 ** 31 - 1)));
  clockTimer = setInterval(updateExpiryLabel, ms < 120000 ? 1000 : 15000);
  if (s.kind === 'password') {
    // Renew when a third of the session (at most 5 minutes) is left, if the
    // user did anything since it started; otherwise as soon as they do.
    const lifetime = Math.max(0, s.exp * 1000 - s.startedAt);
    const at = s.exp * 1000 - Math.min(300000, lifetime / 3);
    renewTimer = setTimeout(() => {
      if (state.session !== s) return;
      if (lastActivity > s.startedAt) renew(); else renewDue = true;
    }, Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
  }
}

function noteActivity() {
  lastActivity = Date.now();
  if (renewDue && state.session && !isExpired(state.session)) renew();
}

async function renew() {
  if (renewing || !state.session) return;
  renewing = true;
  renewDue = false;
  try {
    const info = await api('POST', 'rpc/renew_session', { body: {} });
    if (info && typeof info.role === 'string') {
      setSession(info, 'password');
      renderSession();
      connectLive(); // the stream is signed in with the token it started with
      tabs && tabs.postMessage('session');
    }
  } catch (e) {
    // Not fatal: the expiry timer asks to sign in again if it never succeeds.
    if (!(e instanceof SessionEnded)) console.warn('[todo] could not renew the session:', e.message);
  } finally {
    renewing = false;
  }
}

// Asks the server who the cookie says we are (the page cannot read it).
async function fetchSession() {
  const info = await api('GET', 'rpc/session', { anonymous: true });
  state.signupAllowed = !!(info && info.signup);
  if (info && info.signed_in && typeof info.role === 'string' && info.role) {
    const kind = info.name ? 'password' : 'token';
    if (!state.session || state.session.role !== info.role || state.session.exp !== info.exp) setSession(info, kind);
  } else if (state.session) {
    clearSession();
  }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

// The server's messages that a person cannot act on, in words they can. A token signed with
// another secret is answered "No suitable key or wrong key type" (PGRST301).
function friendlyMessage(body) {
  if (body && body.code === 'PGRST301' && /no suitable key|signature/i.test(String(body.message))) {
    return 'This token was not signed for this server: its signature does not match the server\'s JWT secret. '
      + 'Ask whoever runs this server for a token it issued.';
  }
  return body && body.message;
}

class ApiError extends Error {
  constructor(status, body, fallback) {
    super(friendlyMessage(body) || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code != null ? String(body.code) : '';
    this.details = body && body.details != null ? String(body.details) : '';
    this.hint = body && body.hint != null ? String(body.hint) : '';
  }
}

// Thrown after the session was ended because of a 401; already shown to the user.
class SessionEnded extends Error {}

// `bearer`: a pasted token, sent once in the Authorization header (to /rpc/use_token).
// Otherwise the browser sends the sign-in cookie, if any; a 401 then means the
// session ended. `anonymous`: a 401 is just an error (/rpc/session).
async function api(method, path, { body, prefer, bearer, anonymous } = {}) {
  const s = state.session;
  if (!bearer && !anonymous && s && isExpired(s)) {
    sessionLost(s.kind === 'password' ? '' : 'The token\'s expiry time ("exp") has passed.');
    throw new SessionEnded();
  }
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (prefer) headers.Prefer = prefer;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;

  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, null, `Could not reach the server (${e.message || e}).`);
  }

  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }

  if (!res.ok) {
    const err = new ApiError(res.status, data && typeof data === 'object' ? data : null,
      text && !data ? `HTTP ${res.status}: ${text.slice(0, 300)}` : `HTTP ${res.status} ${res.statusText}`);
    const challenged = res.headers.get('WWW-Authenticate');
    if (!bearer && !anonymous && s && (res.status === 401 || challenged) && state.session === s) {
      const why = [err.message, err.code && `(${err.code})`].filter(Boolean).join(' ');
      sessionLost(`The server said: ${why}`);
      throw new SessionEnded();
    }
    throw err;
  }
  return data;
}

// ---------------------------------------------------------------------------
// The live list: an EventSource on the list's URL (the cookie goes with it)
// ---------------------------------------------------------------------------

let source = null;
let liveRetry = null;

function connectLive() {
  if (source) source.close();
  source = null;
  clearTimeout(liveRetry);
  if (typeof EventSource !== 'function') { loadTasks(); return; }
  state.live = 'connecting';
  renderLive();
  const es = new EventSource(API + LIST_PATH, { withCredentials: true });
  source = es;
  es.addEventListener('open', () => {
    if (source !== es) return;
    state.live = 'live';
    renderLive();
  });
  es.addEventListener('snapshot', (ev) => {
    if (source !== es) return;
    let rows;
    try { rows = JSON.parse(ev.data); } catch { return; }
    if (!Array.isArray(rows)) return;
    loadSeq++; // a fetch still in flight is older than this
    state.tasks = rows;
    state.loaded = true;
    state.loading = false;
    state.live = 'live';
    renderLive();
    renderList();
  });
  es.addEventListener('expired', () => {
    if (source !== es) return;
    es.close();
    source = null;
    const s = state.session;
    // Renewed meanwhile (in this tab or another): the cookie is fresh, subscribe again.
    if (s && typeof s.exp === 'number' && s.exp * 1000 > Date.now() + 1000) connectLive();
    else if (s) sessionLost(s.kind === 'password' ? '' : 'The token\'s expiry time ("exp") has passed.');
    else connectLive();
  });
  es.addEventListener('error', (ev) => {
    if (source !== es) return;
    if (typeof ev.data === 'string' && ev.data) {
      // The server's "event: error": the read fails now; the stream stays open.
      let body = null;
      try { body = JSON.parse(ev.data); } catch { /* not JSON */ }
      reportError('The live list could not be updated', new ApiError(0, body, ev.data.slice(0, 300)));
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      // Refused (e.g. 503: too many subscribers): read once, try again later.
      state.live = 'offline';
      renderLive();
      loadTasks();
      liveRetry = setTimeout(() => { if (source === es) connectLive(); }, LIVE_RETRY_MS);
    } else {
      state.live = 'connecting'; // EventSource reconnects by itself and gets a fresh snapshot
      renderLive();
    }
  });
}

// ---------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------

function reportError(title, e) {
  if (e instanceof SessionEnded) return;
  const err = e instanceof ApiError ? e : new ApiError(0, null, String((e && e.message) || e));
  state.errors.unshift({
    id: ++errorSeq,
    title,
    message: err.message,
    code: err.code,
    details: err.details,
    hint: err.hint,
    status: err.status,
  });
  state.errors.length = Math.min(state.errors.length, MAX_ERRORS);
  console.error(`[todo] ${title}:`, err.status, err.code, err.message, err.details, err.hint);
  renderErrors();
}

let loadSeq = 0;

// A plain read of the list (the refresh button, and when the live stream is refused).
async function loadTasks() {
  const seq = ++loadSeq;
  state.loading = true;
  renderList();
  try {
    const rows = await api('GET', LIST_PATH);
    if (seq !== loadSeq) return; // a newer load or snapshot came meanwhile; it wins
    state.tasks = Array.isArray(rows) ? rows : [];
    state.loaded = true;
  } catch (e) {
    reportError('Could not load tasks', e);
  } finally {
    if (seq === loadSeq) {
      state.loading = false;
      renderList();
    }
  }
}

// The server answered 200 with no rows: row-level security (or a concurrent
// delete) made the statement match nothing. Reload first, then explain with
// the fresh owner.
async function cantChange(task, action) {
  await loadTasks();
  const fresh = state.tasks.find((t) => t.id === task.id);
  let why;
  if (!fresh) why = 'it no longer exists';
  else if (fresh.owner !== role()) why = `it belongs to ${fresh.owner}`;
  else why = 'it belongs to someone else, or it no longer exists';
  reportError(`You can't ${action} this task`, new ApiError(200, {
    message: `The server changed nothing: ${why}.`,
    code: 'no rows matched',
    details: 'Row-level security only lets you change tasks you own.',
  }));
}

function replaceTask(row) {
  const i = state.tasks.findIndex((t) => t.id === row.id);
  if (i >= 0) state.tasks[i] = row; else state.tasks.push(row);
}

async function addTask(name) {
  state.adding = true;
  renderComposer();
  try {
    const rows = await api('POST', 'tasks', { body: { name }, prefer: 'return=representation' });
    if (Array.isArray(rows) && rows.length) {
      rows.forEach(replaceTask);
      renderList();
    } else {
      await loadTasks();
    }
    return true;
  } catch (e) {
    reportError('Could not add the task', e);
    return false;
  } finally {
    state.adding = false;
    renderComposer();
  }
}

async function updateTask(task, patch, action) {
  state.pending.add(task.id);
  renderList();
  try {
    const rows = await api('PATCH', `tasks?id=eq.${encodeURIComponent(task.id)}`,
      { body: patch, prefer: 'return=representation' });
    if (Array.isArray(rows) && rows.length) {
      rows.forEach(replaceTask);
      return true;
    }
    if (rows === null) { // server ignored Prefer: refetch to be sure
      await loadTasks();
      return true;
    }
    await cantChange(task, action);
    return false;
  } catch (e) {
    reportError(`Could not ${action} the task`, e);
    return false;
  } finally {
    state.pending.delete(task.id);
    renderList();
  }
}

async function deleteTask(task) {
  state.pending.add(task.id);
  renderList();
  try {
    const rows = await api('DELETE', `tasks?id=eq.${encodeURIComponent(task.id)}`,
      { prefer: 'return=representation' });
    if (Array.isArray(rows) && rows.length === 0) {
      await cantChange(task, 'delete');
      return;
    }
    state.tasks = state.tasks.filter((t) => t.id !== task.id);
    announce(`Deleted “${task.name}”.`);
  } catch (e) {
    reportError('Could not delete the task', e);
  } finally {
    state.pending.delete(task.id);
    if (state.confirmDeleteId === task.id) state.confirmDeleteId = null;
    renderList();
  }
}

// Signed in (or out): show it, subscribe again with the new cookie, tell other tabs.
function sessionChanged() {
  render();
  connectLive();
  tabs && tabs.postMessage('session');
}

async function signIn(mode) {
  const name = ui.signinName.value.trim().toLowerCase();
  const password = ui.signinPassword.value;
  if (!name || !password) {
    state.signinError = 'Enter your name and your password.';
    renderSignin();
    (name ? ui.signinPassword : ui.signinName).focus();
    return;
  }
  state.signingIn = true;
  state.signinError = null;
  renderSignin();
  try {
    const info = await api('POST', mode === 'signup' ? 'rpc/signup' : 'rpc/login',
      { body: { name, password }, anonymous: true });
    const wasReauth = !!state.reauth;
    setSession(info, 'password');
    ui.signinPassword.value = '';
    state.notice = null;
    state.signinMode = 'signin';
    sessionChanged();
    announce(mode === 'signup' ? `Welcome, ${info.name}. Your account is ready.` : `Signed in as ${info.name}.`);
    if (!wasReauth || !state.editingId) {
      ui.newInput.focus();
      ui.newInput.setSelectionRange(ui.newInput.value.length, ui.newInput.value.length);
    }
  } catch (e) {
    state.signinError = e.message;
    ui.signinPassword.select();
  } finally {
    state.signingIn = false;
    renderSignin();
  }
}

// The seed's manual way: a pasted JWT, moved into the HttpOnly cookie by /rpc/use_token.
async function login(raw) {
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  if (!token) {
    reportError('Cannot log in', new Error('Paste a token first.'));
    return;
  }
  let claims;
  try {
    claims = decodeJwt(token);
  } catch (e) {
    reportError('Cannot log in', e);
    return;
  }
  ui.loginInput.value = '';
  if (isExpired(claims)) {
    clearSession();
    state.notice = {
      kind: 'warning',
      text: SESSION_ENDED_TEXT,
      detail: `This token expired ${formatWhen(claims.exp)}. Ask for a new one.`,
    };
    render();
    return;
  }
  let info;
  try {
    info = await api('POST', 'rpc/use_token', { body: {}, bearer: token });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      const why = [e.message, e.code && `(${e.code})`].filter(Boolean).join(' ');
      clearSession();
      endSession(`The server said: ${why}`);
    } else {
      reportError('Cannot log in', e);
    }
    return;
  }
  setSession({ role: info.role, exp: info.exp, name: null }, 'token');
  state.notice = null;
  sessionChanged();
  announce(`Logged in as ${info.role}.`);
  ui.newInput.focus();
}

async function logout() {
  const kind = state.session && state.session.kind;
  try {
    await api('POST', 'rpc/logout', { body: {}, anonymous: true });
  } catch (e) {
    reportError('Could not sign out', e);
    return;
  }
  clearSession();
  state.reauth = null;
  state.notice = {
    kind: 'info',
    text: kind === 'password' ? 'You have signed out. You are viewing as a guest.'
      : 'You have logged out. You are viewing as a guest.',
    detail: '',
  };
  sessionChanged();
}

// ---------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'checked' || k === 'disabled' || k === 'value') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  check: 'M5 12.5l4.5 4.5L19 7.5',
  pencil: 'M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4',
  trash: 'M5 7h14M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  lock: 'M7 11V8a5 5 0 0 1 10 0v3M5 11h14v10H5z',
  refresh: 'M20 11a8 8 0 1 0-2.3 5.7M20 5v6h-6',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h11',
  key: 'M14.5 9.5a4 4 0 1 0-3.9 3.1L4 19v2h3v-2h2v-2h2l1.6-1.6A4 4 0 0 0 14.5 9.5zM16 8h.01',
  x: 'M6 6l12 12M18 6L6 18',
  plus: 'M12 5v14M5 12h14',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4.5 20a7.5 7.5 0 0 1 15 0',
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

function avatar(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const hue = hash % 360;
  return h('span', { class: 'avatar', 'aria-hidden': 'true', style: `--hue:${hue}` },
    (name.replace(/[^A-Za-z0-9]/g, '')[0] || '?').toUpperCase());
}

function relativeTime(exp) {
  const secs = Math.round((exp * 1000 - Date.now()) / 1000);
  const abs = Math.abs(secs);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (abs < 60) return rtf.format(secs, 'second');
  if (abs < 3600) return rtf.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), 'hour');
  return rtf.format(Math.round(secs / 86400), 'day');
}

const absoluteTime = (exp) =>
  new Date(exp * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const timeOfDay = (exp) =>
  new Date(exp * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

function formatWhen(exp) {
  return `${relativeTime(exp)} (${absoluteTime(exp)})`;
}

function announce(text) {
  ui.live.textContent = '';
  // a fresh text node so screen readers repeat identical messages
  setTimeout(() => { ui.live.textContent = text; }, 30);
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

const ui = {};

function buildShell(root) {
  ui.session = h('div', { class: 'session', testid: 'session' });
  ui.notice = h('div', { class: 'notice-slot' });
  ui.errors = h('div', { class: 'errors', testid: 'error-banner', role: 'alert', 'aria-live': 'assertive', hidden: true });

  // Sign in with a name and a password (or create an account, when allowed).
  ui.signinTitle = h('h2', { id: 'login-title' }, 'You are browsing as a guest');
  ui.signinHint = h('p', { class: 'muted', testid: 'guest-hint' },
    'Everyone can read the list. Sign in to add and manage your own tasks.');
  ui.signinName = h('input', {
    id: 'signin-name', name: 'username', type: 'text', testid: 'signin-name',
    autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', maxlength: '64',
  });
  ui.signinPassword = h('input', {
    id: 'signin-password', name: 'password', type: 'password', testid: 'signin-password',
    autocomplete: 'current-password', maxlength: '200',
  });
  ui.signinError = h('p', { class: 'form-error', testid: 'signin-error', role: 'alert', hidden: true });
  ui.signinButton = h('button', { type: 'submit', class: 'btn primary', testid: 'signin-button' });
  ui.signupToggle = h('button', {
    type: 'button', class: 'btn link', testid: 'signup-toggle',
    onclick: () => {
      state.signinMode = state.signinMode === 'signup' ? 'signin' : 'signup';
      state.signinError = null;
      renderSignin();
      ui.signinName.focus();
    },
  });
  ui.signupHint = h('p', { class: 'help', testid: 'signup-hint' },
    'A name is 3 to 32 lowercase letters, digits or _; a password at least 8 characters.');
  ui.signinForm = h('form', {
    class: 'signin', testid: 'signin-form', 'aria-labelledby': 'login-title',
    onsubmit: (ev) => { ev.preventDefault(); if (!state.signingIn) signIn(state.signinMode); },
  },
  h('div', { class: 'fields' },
    h('div', { class: 'field' }, h('label', { for: 'signin-name', class: 'label' }, 'Name'), ui.signinName),
    h('div', { class: 'field' }, h('label', { for: 'signin-password', class: 'label' }, 'Password'), ui.signinPassword)),
  ui.signupHint,
  ui.signinError,
  h('div', { class: 'signin-actions' }, ui.signinButton, ui.signupToggle));

  // The seed's manual way: paste a token.
  ui.loginInput = h('input', {
    id: 'token-input', name: 'token', type: 'password', testid: 'login-input',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
    placeholder: 'eyJhbGciOiJIUzI1NiIs…', 'aria-describedby': 'token-help',
  });
  ui.loginButton = h('button', { type: 'submit', class: 'btn ghost', testid: 'login-button' },
    icon('key'), h('span', {}, 'Use token'));
  ui.tokenForm = h('form', {
    class: 'token-login', testid: 'token-form',
    onsubmit: (ev) => { ev.preventDefault(); login(ui.loginInput.value); },
  },
  h('label', { for: 'token-input', class: 'label' }, 'Or use an access token (JWT)'),
  h('div', { class: 'row' }, ui.loginInput, ui.loginButton),
  h('p', { id: 'token-help', class: 'help' },
    'Your administrator can make one with ', h('code', {}, 'tusk token'), '. Its ',
    h('code', {}, 'role'), ' claim is your user name. It is kept in a cookie that scripts cannot read, until it expires or you log out.'));

  ui.loginForm = h('section', { class: 'card login', testid: 'login-form', 'aria-labelledby': 'login-title' },
    h('div', { class: 'card-head' }, ui.signinTitle, ui.signinHint),
    ui.signinForm, ui.tokenForm);

  ui.newInput = h('input', {
    id: 'new-task', name: 'name', type: 'text', testid: 'new-task-input',
    autocomplete: 'off', maxlength: '500', placeholder: 'What needs to be done?', required: true,
  });
  ui.addButton = h('button', { type: 'submit', class: 'btn primary', testid: 'add-button' },
    icon('plus'), h('span', {}, 'Add'));
  ui.composer = h('form', {
    class: 'card composer', testid: 'add-form', 'aria-label': 'Add a task',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const name = ui.newInput.value.trim();
      if (!name) { ui.newInput.focus(); return; }
      if (await addTask(name)) {
        ui.newInput.value = '';
        announce(`Added “${name}”.`);
      }
      ui.newInput.focus();
    },
  },
  h('label', { for: 'new-task', class: 'label' }, 'New task'),
  h('div', { class: 'row' }, ui.newInput, ui.addButton));

  ui.count = h('p', { class: 'muted count', testid: 'task-count' });
  ui.liveStatus = h('span', { class: 'live-status', testid: 'live-status', role: 'status' });
  ui.refresh = h('button', {
    type: 'button', class: 'btn ghost icon-only', testid: 'refresh-button',
    'aria-label': 'Refresh the list', title: 'Refresh', onclick: () => loadTasks(),
  }, icon('refresh'));
  ui.list = h('ul', { class: 'tasks', testid: 'task-list', 'aria-labelledby': 'tasks-title' });
  ui.listCard = h('section', { class: 'card list', 'aria-labelledby': 'tasks-title' },
    h('div', { class: 'list-head' },
      h('div', {}, h('h2', { id: 'tasks-title' }, 'Tasks'), ui.count),
      h('div', { class: 'list-tools' }, ui.liveStatus, ui.refresh)),
    ui.list);

  ui.live = h('div', { class: 'sr-only', 'aria-live': 'polite', testid: 'live-region' });

  root.replaceChildren(h('div', { class: 'shell' },
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' },
        h('span', { class: 'logo', 'aria-hidden': 'true' }, icon('check')),
        h('div', {}, h('h1', {}, 'Todo'), h('p', { class: 'tagline' }, 'backend.sql + frontend.js'))),
      ui.session),
    h('main', { id: 'main' }, ui.notice, ui.errors, ui.loginForm, ui.composer, ui.listCard),
    h('footer', { class: 'footer' },
      'Your data lives in PostgreSQL; permissions are enforced by the database with row-level security.'),
    ui.live));
}

function render() {
  renderSession();
  renderSignin();
  renderLive();
  renderNotice();
  renderErrors();
  renderComposer();
  renderList();
}

function expiryText(sess) {
  if (typeof sess.exp !== 'number') return 'Token does not expire';
  return sess.kind === 'password'
    ? `Session ends ${relativeTime(sess.exp)} (${timeOfDay(sess.exp)})`
    : `Expires ${relativeTime(sess.exp)}`;
}

function renderSession() {
  const sess = state.session;
  ui.loginForm.hidden = !!sess;
  if (!sess) {
    ui.session.replaceChildren(h('span', { class: 'chip guest', testid: 'whoami' },
      h('span', { class: 'avatar neutral', 'aria-hidden': 'true' }, icon('user')), 'Guest'));
    return;
  }
  const password = sess.kind === 'password';
  const shown = sess.name || sess.role;
  const exp = h('span', {
    class: 'expiry', testid: 'token-expiry',
    title: typeof sess.exp === 'number' ? `${password ? 'Session ends' : 'Token expires'} ${absoluteTime(sess.exp)}` : null,
  }, expiryText(sess));
  ui.session.replaceChildren(
    h('div', { class: 'chip user', title: password ? `Database role: ${sess.role}` : null }, avatar(shown),
      h('div', { class: 'who' },
        h('span', { class: 'who-line' }, password ? 'Signed in as ' : 'Logged in as ', h('strong', { testid: 'whoami' }, shown)), exp)),
    h('button', { type: 'button', class: 'btn ghost', testid: 'logout-button', onclick: logout },
      icon('logout'), h('span', {}, password ? 'Sign out' : 'Log out')));
}

// Only touch the label, so keyboard focus on the log-out button is kept.
function updateExpiryLabel() {
  const label = ui.session.querySelector('[data-testid="token-expiry"]');
  if (label && state.session) label.textContent = expiryText(state.session);
}

function renderSignin() {
  const signup = state.signinMode === 'signup' && state.signupAllowed;
  if (state.reauth) {
    ui.signinTitle.textContent = 'Sign in again';
    ui.signinHint.textContent = `Your session as ${state.reauth.name} has ended. Sign in to carry on where you were.`;
  } else {
    ui.signinTitle.textContent = signup ? 'Create an account' : 'You are browsing as a guest';
    ui.signinHint.textContent = signup
      ? 'Choose a name and a password. Your tasks are yours: others can read them, only you can change them.'
      : 'Everyone can read the list. Sign in to add and manage your own tasks.';
  }
  ui.signinPassword.autocomplete = signup ? 'new-password' : 'current-password';
  ui.signinPassword.minLength = signup ? 8 : 0;
  ui.signinForm.dataset.mode = signup ? 'signup' : 'signin';
  ui.signupHint.hidden = !signup;
  ui.signinButton.replaceChildren(icon(signup ? 'plus' : 'key'),
    h('span', {}, signup ? 'Create account' : (state.signingIn ? 'Signing in…' : 'Sign in')));
  ui.signinButton.disabled = state.signingIn;
  ui.signupToggle.hidden = !state.signupAllowed || !!state.reauth;
  ui.signupToggle.textContent = signup ? 'I have an account: sign in' : 'New here? Create an account';
  ui.signinError.hidden = !state.signinError;
  ui.signinError.textContent = state.signinError || '';
  ui.tokenForm.hidden = !!state.reauth;
}

function renderLive() {
  const text = { live: 'Live', connecting: 'Connecting…', offline: 'Not live' }[state.live];
  ui.liveStatus.textContent = text;
  ui.liveStatus.dataset.state = state.live;
  ui.liveStatus.title = state.live === 'live'
    ? 'Changes made by anyone show up here at once'
    : 'Changes by others show up when the connection is back';
}

function renderNotice() {
  const n = state.notice;
  if (!n) { ui.notice.replaceChildren(); return; }
  ui.notice.replaceChildren(h('div', {
    class: `notice ${n.kind}`, testid: 'session-message', role: n.kind === 'warning' ? 'alert' : 'status',
  },
  h('div', { class: 'notice-body' },
    h('strong', {}, n.text),
    n.detail ? h('span', { class: 'detail', testid: 'session-detail' }, n.detail) : null),
  h('button', {
    type: 'button', class: 'btn ghost icon-only small', 'aria-label': 'Dismiss message',
    onclick: () => { state.notice = null; renderNotice(); },
  }, icon('x'))));
}

function renderErrors() {
  ui.errors.hidden = state.errors.length === 0;
  ui.errors.replaceChildren(...state.errors.map((e) => h('div', { class: 'error', testid: 'error', 'data-code': e.code },
    h('div', { class: 'error-body' },
      h('strong', { class: 'error-title' }, e.title),
      h('span', { class: 'error-message', testid: 'error-message' }, e.message),
      h('span', { class: 'error-meta' },
        e.code ? h('code', { testid: 'error-code' }, e.code) : null,
        e.status ? h('span', {}, `HTTP ${e.status}`) : null),
      e.details ? h('span', { class: 'error-extra' }, e.details) : null,
      e.hint ? h('span', { class: 'error-extra' }, `Hint: ${e.hint}`) : null),
    h('button', {
      type: 'button', class: 'btn ghost icon-only small', 'aria-label': 'Dismiss error', testid: 'error-dismiss',
      onclick: () => { state.errors = state.errors.filter((x) => x.id !== e.id); renderErrors(); },
    }, icon('x')))));
}

function renderComposer() {
  // Kept on screen while signing in again, so that what was typed stays.
  ui.composer.hidden = !role() && !state.reauth;
  ui.newInput.disabled = state.adding;
  ui.addButton.disabled = state.adding || !role();
  ui.composer.setAttribute('aria-busy', String(state.adding));
}

function renderList() {
  const me = role();
  const tasks = state.tasks;
  const done = tasks.filter((t) => t.done).length;
  const mine = me ? tasks.filter((t) => t.owner === me).length : 0;
  ui.count.textContent = state.loaded
    ? `${tasks.length} ${tasks.length === 1 ? 'task' : 'tasks'} · ${done} done${me ? ` · ${mine} yours` : ''}`
    : (state.loading ? 'Loading…' : '');
  ui.listCard.setAttribute('aria-busy', String(state.loading));
  ui.refresh.disabled = state.loading;

  if (state.loaded && tasks.length === 0) {
    ui.list.replaceChildren(h('li', { class: 'empty', testid: 'empty' },
      me ? 'Nothing to do yet. Add your first task above.' : 'No tasks yet.'));
    return;
  }
  // A snapshot may re-render the list at any time: keep keyboard focus (and the
  // caret of the rename box) where it was.
  const active = document.activeElement;
  let keep = null;
  if (active && ui.list.contains(active) && active.dataset.testid) {
    const li = active.closest('[data-testid="task"]');
    keep = li && {
      id: li.dataset.id, testid: active.dataset.testid,
      start: typeof active.selectionStart === 'number' ? active.selectionStart : null,
      end: typeof active.selectionEnd === 'number' ? active.selectionEnd : null,
    };
  }
  let focusTarget = null;
  ui.list.replaceChildren(...tasks.map((task) => {
    const own = !!me && task.owner === me;
    const busy = state.pending.has(task.id);
    const li = h('li', {
      class: `task${task.done ? ' done' : ''}${own ? ' own' : ''}${busy ? ' busy' : ''}`,
      testid: 'task', 'data-id': task.id, 'data-owner': task.owner, 'data-done': String(!!task.done),
      'aria-busy': busy ? 'true' : null,
    });

    const status = own
      ? h('label', { class: 'check', title: task.done ? 'Mark as not done' : 'Mark as done' },
        h('input', {
          type: 'checkbox', testid: 'task-done', checked: !!task.done, disabled: busy,
          'aria-label': `Done: ${task.name}`,
          onchange: (ev) => updateTask(task, { done: ev.target.checked }, 'update'),
        }),
        h('span', { class: 'box', 'aria-hidden': 'true' }, icon('check')))
      : h('span', {
        class: `status-dot${task.done ? ' on' : ''}`, testid: 'task-status',
        role: 'img', 'aria-label': task.done ? 'Done' : 'Not done',
      }, task.done ? icon('check') : null);

    const ownerLabel = own ? 'you' : task.owner;
    const meta = h('span', { class: 'meta' },
      h('span', { class: 'owner', title: `Owner: ${task.owner}` },
        avatar(task.owner || '?'), h('span', { testid: 'task-owner' }, ownerLabel)),
      task.done ? h('span', { class: 'pill' }, 'Done') : null,
      !own ? h('span', { class: 'locked', title: me ? 'Only its owner can change this task' : 'Log in to manage your tasks' },
        icon('lock'), h('span', { class: 'sr-only' }, 'Read-only')) : null);

    let body;
    let actions = null;
    if (own && state.editingId === task.id) {
      const input = h('input', {
        type: 'text', class: 'edit-input', testid: 'task-edit-input', value: state.editDraft,
        'aria-label': `New name for “${task.name}”`, maxlength: '500', required: true, disabled: busy,
        oninput: (ev) => { state.editDraft = ev.target.value; },
        onkeydown: (ev) => { if (ev.key === 'Escape') { state.editingId = null; renderList(); } },
      });
      if (state.focusEdit) focusTarget = input;
      body = h('form', {
        class: 'edit', testid: 'task-edit-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const name = input.value.trim();
          if (!name) return;
          if (name === task.name) { state.editingId = null; renderList(); return; }
          if (await updateTask(task, { name }, 'rename')) {
            state.editingId = null;
            renderList();
            announce(`Renamed to “${name}”.`);
          }
        },
      },
      input,
      h('div', { class: 'edit-actions' },
        h('button', { type: 'submit', class: 'btn primary small', testid: 'task-save', disabled: busy }, 'Save'),
        h('button', {
          type: 'button', class: 'btn ghost small', testid: 'task-cancel',
          onclick: () => { state.editingId = null; renderList(); },
        }, 'Cancel')));
    } else {
      body = h('div', { class: 'body' }, h('span', { class: 'name', testid: 'task-name' }, task.name), meta);
      if (own && state.confirmDeleteId === task.id) {
        actions = h('div', { class: 'actions confirm', role: 'group', 'aria-label': 'Confirm deletion' },
          h('span', { class: 'confirm-text' }, 'Delete?'),
          h('button', {
            type: 'button', class: 'btn danger small', testid: 'task-confirm-delete', disabled: busy,
            onclick: () => deleteTask(task),
          }, 'Delete'),
          h('button', {
            type: 'button', class: 'btn ghost small', testid: 'task-cancel-delete',
            onclick: () => { state.confirmDeleteId = null; renderList(); },
          }, 'Keep'));
      } else if (own) {
        actions = h('div', { class: 'actions' },
          h('button', {
            type: 'button', class: 'btn ghost icon-only', testid: 'task-rename', disabled: busy,
            'aria-label': `Rename “${task.name}”`, title: 'Rename',
            onclick: () => {
              state.editingId = task.id;
              state.editDraft = task.name;
              state.focusEdit = true;
              state.confirmDeleteId = null;
              renderList();
            },
          }, icon('pencil')),
          h('button', {
            type: 'button', class: 'btn ghost icon-only danger-text', testid: 'task-delete', disabled: busy,
            'aria-label': `Delete “${task.name}”`, title: 'Delete',
            onclick: () => { state.confirmDeleteId = task.id; state.editingId = null; renderList(); },
          }, icon('trash')));
      }
    }
    li.append(status, body);
    if (actions) li.append(actions);
    return li;
  }));
  if (focusTarget) {
    state.focusEdit = false;
    focusTarget.focus();
    focusTarget.select();
  } else if (keep) {
    const again = ui.list.querySelector(`[data-testid="task"][data-id="${CSS.escape(keep.id)}"] [data-testid="${CSS.escape(keep.testid)}"]`);
    if (again) {
      again.focus();
      if (keep.start !== null && typeof again.setSelectionRange === 'function') {
        try { again.setSelectionRange(keep.start, keep.end); } catch { /* not a text field */ }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Styles (injected so design updates ship with frontend.js alone)
// ---------------------------------------------------------------------------

const STYLES = `
:root {
  --bg: #f4f5fb; --surface: #ffffff; --fg: #1b1d2a; --muted: #6b7085; --line: #e3e5ef;
  --accent: #4f46e5; --accent-fg: #ffffff; --accent-soft: #eef0ff;
  --danger: #d92d20; --danger-soft: #fef3f2; --warn: #b54708; --warn-soft: #fffaeb; --ok: #067647;
  --info-soft: #eff8ff; --info: #175cd3;
  --radius: 14px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 4px 16px rgba(16,24,40,.06);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  line-height: 1.5; color: var(--fg); background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #11121a; --surface: #1b1c27; --fg: #e8e9f1; --muted: #9a9eb4; --line: #2c2e3d;
    --accent: #8b85ff; --accent-fg: #11121a; --accent-soft: #25244a;
    --danger: #ff6b5e; --danger-soft: #3a1d1d; --warn: #fdb022; --warn-soft: #362a12; --ok: #47cd89;
    --info-soft: #182a45; --info: #84caff; --shadow: 0 1px 2px rgba(0,0,0,.4);
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); }
[hidden] { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0,0,0,0); white-space: nowrap; border: 0; }
.shell { max-width: 44rem; margin: 0 auto; padding: max(1rem, env(safe-area-inset-top)) 1rem 2.5rem; }
.topbar { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; padding: .5rem 0 1.25rem; }
.brand { display: flex; align-items: center; gap: .75rem; }
.brand h1 { margin: 0; font-size: 1.5rem; line-height: 1.1; letter-spacing: -.01em; }
.tagline { margin: 0; color: var(--muted); font-size: .85rem; }
.logo { display: grid; place-items: center; width: 2.5rem; height: 2.5rem; border-radius: 11px; background: var(--accent); color: #fff; box-shadow: 0 4px 12px rgba(79,70,229,.35); }
.logo .icon { width: 1.4rem; height: 1.4rem; stroke-width: 3; }
.icon { width: 1.15rem; height: 1.15rem; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; flex: none; }
.session { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; }
.chip { display: inline-flex; align-items: center; gap: .6rem; padding: .35rem .8rem .35rem .35rem; border-radius: 999px; background: var(--surface); border: 1px solid var(--line); font-size: .9rem; }
.chip.guest { color: var(--muted); }
.avatar.neutral { color: var(--muted); background: var(--bg); }
.avatar.neutral .icon { width: 1rem; height: 1rem; }
.who { display: flex; flex-direction: column; line-height: 1.25; }
.expiry { color: var(--muted); font-size: .78rem; }
.avatar { --hue: 240; display: inline-grid; place-items: center; width: 1.9rem; height: 1.9rem; border-radius: 50%; font-size: .8rem; font-weight: 700; color: hsl(var(--hue) 60% 30%); background: hsl(var(--hue) 80% 90%); flex: none; }
@media (prefers-color-scheme: dark) { .avatar { color: hsl(var(--hue) 80% 88%); background: hsl(var(--hue) 35% 28%); } }
main { display: grid; gap: 1rem; }
.card { background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 1.25rem; }
.card-head h2, .list-head h2 { margin: 0; font-size: 1.1rem; }
.card-head p { margin: .25rem 0 1rem; }
.muted { color: var(--muted); }
.label { display: block; font-weight: 600; font-size: .9rem; margin-bottom: .4rem; }
.help { margin: .6rem 0 0; color: var(--muted); font-size: .85rem; }
.row { display: flex; gap: .5rem; }
.row input { flex: 1; min-width: 0; }
input[type=text], input[type=password] {
  font: inherit; font-size: 1rem; color: var(--fg); background: var(--bg); min-height: 2.9rem;
  padding: .6rem .85rem; border: 1px solid var(--line); border-radius: 10px; width: 100%;
  transition: border-color .15s, box-shadow .15s;
}
input:focus-visible { outline: none; border-color: var(--accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 25%, transparent); }
.btn {
  font: inherit; font-weight: 600; font-size: .95rem; display: inline-flex; align-items: center; justify-content: center; gap: .4rem;
  min-height: 2.9rem; min-width: 2.9rem; padding: .55rem 1rem; border-radius: 10px; border: 1px solid transparent;
  cursor: pointer; color: var(--fg); background: transparent; transition: background .15s, color .15s, opacity .15s; white-space: nowrap;
}
.btn:focus-visible { outline: 3px solid color-mix(in srgb, var(--accent) 45%, transparent); outline-offset: 2px; }
.btn:disabled { opacity: .55; cursor: not-allowed; }
.btn.primary { background: var(--accent); color: var(--accent-fg); }
.btn.primary:hover:not(:disabled) { filter: brightness(1.08); }
.btn.danger { background: var(--danger); color: #fff; }
.btn.ghost { border-color: var(--line); background: var(--surface); }
.btn.ghost:hover:not(:disabled) { background: var(--accent-soft); }
.btn.icon-only { padding: .5rem; }
.btn.small { min-height: 2.5rem; min-width: 2.5rem; padding: .35rem .75rem; font-size: .88rem; }
.btn.icon-only.small { padding: .35rem; }
.danger-text { color: var(--danger); }
.btn.danger-text:hover:not(:disabled) { background: var(--danger-soft); }
.list { padding: 0; overflow: hidden; }
.list-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: 1rem 1.25rem; border-bottom: 1px solid var(--line); }
.count { margin: .1rem 0 0; font-size: .85rem; }
.list[aria-busy=true] .list-head .btn .icon { animation: spin .8s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
.tasks { list-style: none; margin: 0; padding: 0; }
.task { display: flex; align-items: center; gap: .85rem; padding: .8rem 1.25rem; border-bottom: 1px solid var(--line); min-height: 4rem; transition: background .15s, opacity .15s; }
.task:last-child { border-bottom: 0; }
.task.own:hover { background: color-mix(in srgb, var(--accent-soft) 50%, transparent); }
.task.busy { opacity: .6; }
.task .body { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: .15rem; }
.task .name { font-size: 1.02rem; overflow-wrap: anywhere; }
.task.done .name { color: var(--muted); text-decoration: line-through; text-decoration-thickness: 1.5px; }
.meta { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; font-size: .8rem; color: var(--muted); }
.owner { display: inline-flex; align-items: center; gap: .35rem; }
.owner .avatar { width: 1.3rem; height: 1.3rem; font-size: .65rem; }
.pill { padding: 0 .5rem; border-radius: 999px; background: color-mix(in srgb, var(--ok) 14%, transparent); color: var(--ok); font-weight: 600; }
.locked { display: inline-flex; }
.locked .icon { width: .9rem; height: .9rem; }
.actions { display: flex; gap: .35rem; align-items: center; }
.confirm-text { font-size: .88rem; font-weight: 600; color: var(--danger); margin-right: .15rem; }
.check { position: relative; display: grid; place-items: center; width: 2.75rem; height: 2.75rem; margin: -.4rem; cursor: pointer; flex: none; }
.check input { position: absolute; inset: 0; opacity: 0; margin: 0; cursor: pointer; width: 100%; height: 100%; }
.check .box { display: grid; place-items: center; width: 1.6rem; height: 1.6rem; border-radius: 8px; border: 2px solid color-mix(in srgb, var(--muted) 60%, transparent); color: transparent; transition: all .15s; }
.check .box .icon { width: 1.05rem; height: 1.05rem; stroke-width: 3; }
.check input:checked + .box { background: var(--accent); border-color: var(--accent); color: #fff; }
.check input:focus-visible + .box { box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 35%, transparent); }
.status-dot { display: grid; place-items: center; width: 1.6rem; height: 1.6rem; border-radius: 50%; border: 2px dashed color-mix(in srgb, var(--muted) 50%, transparent); color: var(--ok); flex: none; margin: 0 .15rem; }
.status-dot.on { border-style: solid; border-color: color-mix(in srgb, var(--ok) 40%, transparent); background: color-mix(in srgb, var(--ok) 12%, transparent); }
.status-dot .icon { width: .95rem; height: .95rem; stroke-width: 3; }
.edit { flex: 1; min-width: 0; display: flex; gap: .5rem; flex-wrap: wrap; }
.edit .edit-input { flex: 1 1 12rem; min-height: 2.5rem; }
.edit-actions { display: flex; gap: .35rem; }
.empty { padding: 2rem 1.25rem; text-align: center; color: var(--muted); }
.notice, .error { display: flex; gap: .75rem; align-items: flex-start; justify-content: space-between; padding: .85rem 1rem; border-radius: 12px; border: 1px solid; }
.notice.warning { background: var(--warn-soft); border-color: color-mix(in srgb, var(--warn) 35%, transparent); color: var(--warn); }
.notice.info { background: var(--info-soft); border-color: color-mix(in srgb, var(--info) 30%, transparent); color: var(--info); }
.notice-body, .error-body { display: flex; flex-direction: column; gap: .15rem; min-width: 0; overflow-wrap: anywhere; }
.notice .detail { font-size: .88rem; opacity: .9; }
.errors { display: grid; gap: .5rem; }
.error { background: var(--danger-soft); border-color: color-mix(in srgb, var(--danger) 35%, transparent); color: var(--danger); }
.error-message { color: var(--fg); }
.error-meta { display: flex; gap: .6rem; font-size: .8rem; }
.error-meta code { font-weight: 700; }
.error-extra { font-size: .85rem; color: var(--muted); }
.notice .btn, .error .btn { background: transparent; border-color: transparent; color: inherit; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.footer { margin-top: 1.5rem; text-align: center; color: var(--muted); font-size: .8rem; }
.signin .fields { display: grid; grid-template-columns: 1fr 1fr; gap: .75rem; }
.signin .field { min-width: 0; }
.signin-actions { display: flex; align-items: center; gap: .75rem; flex-wrap: wrap; margin-top: .85rem; }
.form-error { margin: .75rem 0 0; padding: .6rem .8rem; border-radius: 10px; background: var(--danger-soft); color: var(--danger); font-weight: 600; font-size: .92rem; }
.btn.link { min-height: 2.5rem; padding: .35rem .25rem; color: var(--accent); font-weight: 600; text-decoration: underline; text-underline-offset: 3px; }
.token-login { margin-top: 1.25rem; padding-top: 1rem; border-top: 1px solid var(--line); }
.token-login .label { font-weight: 500; color: var(--muted); }
.list-tools { display: flex; align-items: center; gap: .5rem; }
.live-status { display: inline-flex; align-items: center; gap: .35rem; font-size: .8rem; font-weight: 600; color: var(--muted); }
.live-status::before { content: ""; width: .55rem; height: .55rem; border-radius: 50%; background: var(--muted); }
.live-status[data-state=live] { color: var(--ok); }
.live-status[data-state=live]::before { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 20%, transparent); }
.live-status[data-state=offline] { color: var(--warn); }
.live-status[data-state=offline]::before { background: var(--warn); }
.who-line { overflow: hidden; text-overflow: ellipsis; }
@media (max-width: 30rem) {
  .signin .fields { grid-template-columns: 1fr; }
  .signin-actions .btn.primary { width: 100%; }
  .signin-actions { justify-content: center; }
  .shell { padding-left: .75rem; padding-right: .75rem; }
  .card { padding: 1rem; }
  .list { padding: 0; }
  .list-head, .task { padding-left: 1rem; padding-right: 1rem; }
  .task { flex-wrap: wrap; }
  .task .actions.confirm { width: 100%; justify-content: flex-end; }
  .row { flex-direction: column; }
  .row .btn { width: 100%; }
  .session { width: 100%; flex-wrap: nowrap; justify-content: space-between; }
  .session .chip.user { flex: 1; min-width: 0; }
  .session .who { min-width: 0; }
  .session .who-line { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .session .expiry { white-space: normal; }
  .session .btn { padding-left: .75rem; padding-right: .75rem; }
}
@media (prefers-reduced-motion: reduce) { * { transition: none !important; animation: none !important; } }
`;

// ---------------------------------------------------------------------------
// Boot
// ---------------------------------------------------------------------------

function boot() {
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app' }));
  const style = document.createElement('style');
  style.dataset.todo = '';
  style.textContent = STYLES;
  document.head.append(style);
  buildShell(root);

  // The user is active: renew the session before it ends (see scheduleExpiry).
  for (const type of ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart']) {
    window.addEventListener(type, noteActivity, { capture: true, passive: true });
  }
  // Other tabs of this app signed in, out, or renewed: ask the server again.
  if (tabs) {
    tabs.onmessage = async () => {
      try { await fetchSession(); } catch { return; }
      if (!state.session && !state.reauth) state.notice = null;
      render();
      connectLive();
    };
  }
  // Back to the tab after a sleep: timers may have been held back.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    const s = state.session;
    if (s && isExpired(s)) sessionLost(s.kind === 'password' ? '' : 'The token\'s expiry time ("exp") has passed.');
  });

  render();
  start();
}

async function start() {
  // The seed's app kept a pasted token in localStorage: move it into the cookie.
  let saved = null;
  try {
    saved = localStorage.getItem(LEGACY_STORAGE_KEY);
    localStorage.removeItem(LEGACY_STORAGE_KEY);
  } catch { /* storage disabled */ }
  try {
    await fetchSession();
  } catch (e) {
    reportError('Could not ask the server who you are', e);
  }
  render();
  if (saved && !state.session) {
    await login(saved);
    return;
  }
  connectLive();
}

boot();
