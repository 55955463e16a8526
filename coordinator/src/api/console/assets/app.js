// Outpost console: one page, hash routes, the coordinator's API as its
// only source. Everything shown is built with textContent (no HTML from
// data); requests that change something carry x-outpost-console, which
// the API requires of a browser signed in by cookie.
'use strict';

const main = document.getElementById('main');
const statusBox = document.getElementById('status');
const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
const PAGE = 25;
const EVENTS_KEPT = 500;
let stops = [];
let session = { token_required: false, signed_in: false };

// ---- small helpers -------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function say(text, bad) {
  statusBox.textContent = text;
  statusBox.className = bad ? 'toast bad' : 'toast';
  statusBox.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { statusBox.hidden = true; }, bad ? 8000 : 3000);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { 'x-outpost-console': '1' };
  if (method === 'POST' || method === 'PUT') headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (r.status === 401 && path !== '/api/v1/session') {
    session.signed_in = false;
    showSignIn('Your session ended: sign in again.');
    throw new ApiError(401, 'not signed in');
  }
  if (!r.ok) {
    const msg = (data && data.error) || (typeof data === 'string' && data) || r.statusText;
    throw new ApiError(r.status, msg);
  }
  return data;
}

function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}

function traceId(job) {
  const parts = (job.traceparent || '').split('-');
  return parts.length === 4 ? parts[1] : '';
}

function badge(status) {
  return el('span', { class: 'badge s-' + status, text: status.replace('_', ' ') });
}

function jobPercent(job, tasks) {
  const c = job.counts || {};
  const total = STATUSES.reduce((n, s) => n + (c[s] || 0), 0);
  if (!total) return TERMINAL.includes(job.status) ? 100 : 0;
  let done = (c.succeeded || 0) + (c.failed || 0) + (c.cancelled || 0);
  for (const t of tasks || []) {
    if (t.status === 'running' && t.progress) done += t.progress.percent / 100;
  }
  return Math.min(100, Math.floor((done * 100) / total));
}

function bar(percent, label) {
  const node = el('div', {
    class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': label || 'progress',
  }, el('div', { class: 'fill' }), el('span', {}));
  setBar(node, percent);
  return node;
}

function setBar(node, percent) {
  const p = Math.max(0, Math.min(100, percent | 0));
  node.setAttribute('aria-valuenow', String(p));
  node.firstChild.style.width = p + '%';
  node.lastChild.textContent = p + ' %';
}

function table(head, rows, caption) {
  return el('table', {},
    caption ? el('caption', { text: caption }) : null,
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows));
}

function every(ms, fn) {
  let alive = true;
  const tick = async () => {
    if (!alive) return;
    if (!document.hidden) { try { await fn(); } catch (e) { if (e.status !== 401) say(e.message, true); } }
    if (alive) t = setTimeout(tick, ms);
  };
  let t = setTimeout(tick, ms);
  stops.push(() => { alive = false; clearTimeout(t); });
}

function view(title, ...kids) {
  main.replaceChildren(el('h1', { text: title }), ...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  document.title = title + ' · Outpost';
}

function query(hash) {
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}

// ---- sign-in -------------------------------------------------------------

function showSignIn(message) {
  for (const s of stops.splice(0)) s();
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  const input = el('input', {
    id: 'token', type: 'password', name: 'token', autocomplete: 'current-password', required: true,
  });
  const err = el('p', { class: 'error', role: 'alert' });
  const form = el('form', {
    class: 'card narrow', onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      try {
        await api('POST', '/api/v1/session', { token: input.value });
        input.value = '';
        session.signed_in = true;
        start();
      } catch (e) {
        err.textContent = e.status === 401 ? 'That token is not the API token.' : e.message;
      }
    },
  },
  el('label', { for: 'token', text: 'API token' }), input,
  el('button', { type: 'submit', id: 'sign-in', text: 'Sign in' }), err);
  view('Sign in', message ? el('p', { text: message }) : null, form);
  input.focus();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try { await api('DELETE', '/api/v1/session'); } catch (_) { /* signed out anyway */ }
  session.signed_in = false;
  showSignIn('Signed out.');
});

// ---- jobs ----------------------------------------------------------------

async function jobsPage(q) {
  const status = q.get('status') || '';
  const type = q.get('type') || '';
  const zone = q.get('zone') || '';
  const page = Math.max(0, parseInt(q.get('page') || '0', 10) || 0);
  const select = el('select', { id: 'f-status', name: 'status' },
    el('option', { value: '', text: 'any' }),
    STATUSES.map((s) => el('option', { value: s, text: s, selected: s === status })));
  const typeIn = el('input', { id: 'f-type', name: 'type', value: type, list: 'job-types', placeholder: 'any' });
  const zoneIn = el('input', { id: 'f-zone', name: 'zone', value: zone, placeholder: 'any' });
  const form = el('form', {
    class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (select.value) p.set('status', select.value);
      if (typeIn.value.trim()) p.set('type', typeIn.value.trim());
      if (zoneIn.value.trim()) p.set('zone', zoneIn.value.trim());
      location.hash = '#/jobs?' + p.toString();
    },
  },
  el('label', { for: 'f-status', text: 'Status' }), select,
  el('label', { for: 'f-type', text: 'Type' }), typeIn,
  el('label', { for: 'f-zone', text: 'Zone' }), zoneIn,
  el('button', { type: 'submit', text: 'Filter' }), jobTypes());
  const body = el('div', {});
  view('Jobs', form, body);
  const load = async () => {
    const p = new URLSearchParams({ limit: String(PAGE + 1), offset: String(page * PAGE) });
    if (status) p.set('status', status);
    if (type) p.set('type', type);
    if (zone) p.set('zone', zone);
    const jobs = await api('GET', '/api/v1/jobs?' + p.toString());
    const more = jobs.length > PAGE;
    const rows = jobs.slice(0, PAGE).map((j) => el('tr', { 'data-job': j.id },
      el('td', {}, el('a', { href: '#/job/' + encodeURIComponent(j.id), text: j.id })),
      el('td', { text: j.type }), el('td', {}, badge(j.status)),
      el('td', { text: (j.zones || []).join(', ') }),
      el('td', {}, bar(jobPercent(j), 'job ' + j.id)),
      el('td', { text: when(j.created_at) })));
    const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 0 ? el('a', { href: pageLink(q, page - 1), text: '← Newer' }) : null,
      el('span', { text: 'Page ' + (page + 1) }),
      more ? el('a', { href: pageLink(q, page + 1), text: 'Older →' }) : null);
    body.replaceChildren(jobs.length
      ? table(['Job', 'Type', 'Status', 'Zones', 'Progress', 'Created'], rows)
      : el('p', { class: 'muted', text: 'No jobs match.' }), pager);
  };
  await load();
  every(3000, load);
}

function pageLink(q, n) {
  const p = new URLSearchParams(q);
  p.set('page', String(n));
  return '#/jobs?' + p.toString();
}

const TEMPLATES = {
  'diag.sleep': { type: 'diag.sleep', zone: 'alpha', params: { count: 10, ms: 500 } },
  'net.reach': { type: 'net.reach', targets: ['10.20.0.5:22'], params: { port: 443, timeout_ms: 2000 } },
  'redfish.discover': { type: 'redfish.discover', targets: ['10.20.0.0/28'], params: { credentials: ['idrac'] } },
  'redfish.inventory': { type: 'redfish.inventory', targets: ['10.20.0.15'], params: { credential: 'idrac' } },
  'redfish.power': { type: 'redfish.power', targets: ['10.20.0.15'], params: { reset_type: 'GracefulRestart' } },
  'redfish.firmware': { type: 'redfish.firmware', targets: ['10.20.0.15'], params: { firmware_uri: 'http://repo/BIOS.exe' } },
  'vcenter.inventory': { type: 'vcenter.inventory', targets: ['10.0.0.5'], params: {} },
  'rolling_update': { type: 'rolling_update', params: {} },
};

function jobTypes() {
  return el('datalist', { id: 'job-types' }, Object.keys(TEMPLATES).map((t) => el('option', { value: t })));
}

// ---- one job -------------------------------------------------------------

async function jobPage(id) {
  const doc = await api('GET', '/api/v1/jobs/' + encodeURIComponent(id));
  const tasks = doc.tasks || [];
  const rows = new Map();
  const head = el('dl', { class: 'facts' });
  const overall = bar(jobPercent(doc, tasks), 'job progress');
  overall.id = 'job-progress';
  const cancel = el('button', {
    type: 'button', id: 'cancel', class: 'danger', onclick: async () => {
      if (!confirm('Cancel job ' + id + '?')) return;
      try {
        const j = await api('POST', '/api/v1/jobs/' + encodeURIComponent(id) + '/cancel');
        say('Cancel requested.');
        showJob(j);
      } catch (e) { say(e.message, true); }
    },
  }, 'Cancel job');
  const showJob = (job) => {
    Object.assign(doc, job);
    const trace = traceId(doc);
    head.replaceChildren(...[
      el('dt', { text: 'Status' }), el('dd', { id: 'job-status' }, badge(doc.status)),
      el('dt', { text: 'Type' }), el('dd', { text: doc.type }),
      el('dt', { text: 'Zones' }), el('dd', { text: (doc.zones || []).join(', ') }),
      el('dt', { text: 'Tasks' }), el('dd', { id: 'job-counts', text: counts(doc.counts) }),
      el('dt', { text: 'Created' }), el('dd', { text: when(doc.created_at) }),
      doc.started_at ? [el('dt', { text: 'Started' }), el('dd', { text: when(doc.started_at) })] : null,
      doc.finished_at ? [el('dt', { text: 'Finished' }), el('dd', { text: when(doc.finished_at) })] : null,
      el('dt', { text: 'Trace id' }), el('dd', {}, el('code', { id: 'trace-id', text: trace || '(none)' })),
    ].flat().filter(Boolean));
    setBar(overall, jobPercent(doc, tasks));
    cancel.hidden = TERMINAL.includes(doc.status) || doc.cancel_requested;
    if (doc.rollout) rollout.replaceChildren(rolloutGrid([doc]));
  };
  const taskRow = (t) => {
    const pb = bar(t.progress ? t.progress.percent : (t.status === 'succeeded' ? 100 : 0), 'task ' + t.target);
    const step = el('td', { class: 'step', text: t.progress ? t.progress.step : '' });
    const st = el('td', {}, badge(t.status));
    const err = el('td', { class: 'error', text: t.error ? (t.error_kind ? t.error_kind + ': ' : '') + t.error : '' });
    const row = el('tr', { 'data-task': t.id },
      el('td', { text: t.target || t.id }), el('td', { text: t.zone }), el('td', { text: t.kind }),
      st, el('td', {}, pb), step, err);
    rows.set(t.id, { t, row, pb, step, st, err });
    return row;
  };
  const tbody = table(['Target', 'Zone', 'Kind', 'Status', 'Progress', 'Step', 'Error'],
    tasks.map(taskRow), 'Tasks');
  let next = doc.tasks_next;
  const more = el('button', {
    type: 'button', class: 'link', hidden: !next, onclick: async () => {
      const page = await api('GET', '/api/v1/jobs/' + encodeURIComponent(id) + '/tasks?limit=100&after=' + encodeURIComponent(next));
      for (const t of page.tasks) { tasks.push(t); tbody.tBodies[0].append(taskRow(t)); }
      next = page.next;
      more.hidden = !next;
    },
  }, 'More tasks');
  const rollout = el('section', { 'aria-label': 'Rollout' });
  const log = el('ol', { class: 'log', id: 'events', 'aria-live': 'off' });
  view('Job ' + id, head, overall, el('p', {}, cancel), rollout, tbody, more,
    el('h2', { text: 'Events' }), log);
  showJob(doc);
  follow(id, {
    job: (j) => showJob(j),
    task: (ev) => {
      const r = rows.get(ev.task_id);
      if (r) {
        if (ev.type === 'started') { r.t.status = 'running'; r.st.replaceChildren(badge('running')); }
        if (ev.type === 'progress') {
          r.t.progress = { percent: ev.percent, step: ev.step };
          setBar(r.pb, ev.percent); r.step.textContent = ev.step;
        }
        if (ev.type === 'result') {
          r.t.status = ev.outcome; r.t.progress = null;
          r.st.replaceChildren(badge(ev.outcome));
          if (ev.outcome === 'succeeded') setBar(r.pb, 100);
          r.err.textContent = ev.error ? (ev.error_kind ? ev.error_kind + ': ' : '') + ev.error : '';
        }
        setBar(overall, jobPercent(doc, tasks));
      }
      const target = r ? (r.t.target || r.t.id) : ev.task_id;
      log.append(el('li', {}, el('time', { datetime: ev.at, text: when(ev.at) }), ' ',
        el('span', { class: 'who', text: target }), ' ', describe(ev)));
      while (log.childElementCount > EVENTS_KEPT) log.firstElementChild.remove();
    },
    end: async () => {
      try { showJob(await api('GET', '/api/v1/jobs/' + encodeURIComponent(id))); } catch (_) { /* shown */ }
    },
    lagged: (d) => log.append(el('li', { class: 'muted', text: d.skipped + ' events skipped (too far behind)' })),
  });
}

function counts(c) {
  return STATUSES.filter((s) => c && c[s]).map((s) => c[s] + ' ' + s).join(', ') || 'none';
}

function describe(ev) {
  switch (ev.type) {
    case 'started': return 'started on ' + ev.worker_id + ' (attempt ' + ev.attempt + ')';
    case 'progress': return ev.percent + ' % ' + (ev.step || '');
    case 'log': return '[' + ev.level + '] ' + ev.line;
    case 'retrying': return 'retrying in ' + ev.delay_ms + ' ms: ' + ev.error_kind + ': ' + ev.error;
    case 'result': return ev.outcome + (ev.error ? ': ' + ev.error_kind + ': ' + ev.error : '');
    default: return ev.type;
  }
}

// Follows a job's events over SSE until its end; the browser reconnects
// by itself after a drop, and the stream starts again from the first
// event, so the log is cleared on each (re)open.
function follow(id, on) {
  const es = new EventSource('/api/v1/jobs/' + encodeURIComponent(id) + '/events');
  let ended = false;
  stops.push(() => es.close());
  es.addEventListener('open', () => { const l = document.getElementById('events'); if (l) l.replaceChildren(); });
  es.addEventListener('task', (m) => on.task(JSON.parse(m.data)));
  es.addEventListener('job', (m) => on.job(JSON.parse(m.data)));
  es.addEventListener('lagged', (m) => on.lagged(JSON.parse(m.data)));
  es.addEventListener('end', () => { ended = true; es.close(); on.end(); });
  es.addEventListener('error', (m) => {
    if (m.data) { say(m.data, true); es.close(); }
    else if (!ended && es.readyState === EventSource.CLOSED) say('Live updates stopped.', true);
  });
}

// ---- submit --------------------------------------------------------------

function submitPage() {
  const area = el('textarea', { id: 'job-doc', rows: '14', spellcheck: 'false', 'aria-describedby': 'doc-help' });
  area.value = JSON.stringify(TEMPLATES['diag.sleep'], null, 2);
  const pick = el('select', {
    id: 'template', onchange: () => { area.value = JSON.stringify(TEMPLATES[pick.value], null, 2); },
  }, Object.keys(TEMPLATES).map((t) => el('option', { value: t, text: t })));
  const out = el('pre', { id: 'submit-result', class: 'result', 'aria-live': 'polite' });
  const send = async (dry) => {
    out.textContent = '';
    let doc;
    try { doc = JSON.parse(area.value); } catch (e) { out.textContent = 'Not JSON: ' + e.message; return; }
    try {
      const r = await api('POST', '/api/v1/jobs' + (dry ? '?dry_run=true' : ''), doc);
      if (dry) { out.textContent = JSON.stringify(r, null, 2); return; }
      say('Job ' + r.id + ' submitted.');
      location.hash = '#/job/' + encodeURIComponent(r.id);
    } catch (e) { out.textContent = e.message; }
  };
  view('Submit a job',
    el('p', { id: 'doc-help', class: 'muted', text: 'A job document, as for POST /api/v1/jobs or outpost submit. Start from a template.' }),
    el('label', { for: 'template', text: 'Template' }), pick,
    el('label', { for: 'job-doc', text: 'Job document (JSON)' }), area,
    el('p', {},
      el('button', { type: 'button', id: 'dry-run', onclick: () => send(true) }, 'Dry run'), ' ',
      el('button', { type: 'button', id: 'submit', class: 'primary', onclick: () => send(false) }, 'Submit')),
    out);
}

// ---- workers -------------------------------------------------------------

async function workersPage() {
  const body = el('div', {});
  view('Workers', body);
  const load = async () => {
    const [workers, sites] = await Promise.all([
      api('GET', '/api/v1/workers'), api('GET', '/api/v1/sites'),
    ]);
    const siteOf = new Map();
    for (const s of (sites && sites.sites) || []) for (const z of s.zones || []) siteOf.set(z, s);
    const zones = new Map();
    for (const w of workers) { if (!zones.has(w.zone)) zones.set(w.zone, []); zones.get(w.zone).push(w); }
    const parts = [];
    const siteRows = ((sites && sites.sites) || []).map((s) => el('tr', {},
      el('td', { text: s.name }), el('td', {}, badge(s.up ? 'up' : 'down')),
      el('td', { text: (s.zones || []).join(', ') }), el('td', { text: when(s.since) }),
      el('td', { text: s.events_behind ?? '' }), el('td', { text: s.tasks_behind ?? '' })));
    if (siteRows.length) parts.push(table(['Site', 'Link', 'Zones', 'Since', 'Events behind', 'Tasks behind'], siteRows, 'Sites'));
    for (const [zone, ws] of [...zones].sort()) {
      const cap = ws.reduce((n, w) => n + w.capacity, 0);
      const busy = ws.reduce((n, w) => n + w.in_flight, 0);
      const site = siteOf.get(zone);
      parts.push(table(['Worker', 'Host', 'Kinds', 'In flight', 'Capacity', 'Version', 'Heartbeat'],
        ws.map((w) => el('tr', { 'data-worker': w.worker_id },
          el('td', {}, w.worker_id, w.draining ? [' ', badge('draining')] : null),
          el('td', { text: w.hostname }), el('td', { text: w.kinds.join(', ') }),
          el('td', { text: String(w.in_flight) }), el('td', { text: String(w.capacity) }),
          el('td', { text: w.version }), el('td', { text: when(w.heartbeat_at) }))),
        'Zone ' + zone + (site ? ' (site ' + site.name + ')' : '') + ': ' + busy + ' of ' + cap + ' slots busy'));
    }
    body.replaceChildren(...(parts.length ? parts : [el('p', { class: 'muted', text: 'No live worker.' })]));
  };
  await load();
  every(5000, load);
}

// ---- Redfish inventory ---------------------------------------------------

async function inventoryPage() {
  const body = el('div', {});
  view('Redfish inventory', body);
  const load = async () => {
    const devices = await api('GET', '/api/v1/inventory/redfish');
    const rows = devices.map((d) => {
      const fp = el('input', {
        'aria-label': 'new certificate SHA-256 for ' + d.address, placeholder: 'SHA-256 (empty: pin on next connection)',
        size: '30', class: 'fp',
      });
      const accept = el('button', {
        type: 'button', class: 'accept', onclick: async () => {
          const path = '/api/v1/inventory/redfish/' + encodeURIComponent(d.address) + '/pin?port=' + (d.port || 443);
          const sha = fp.value.trim();
          if (!confirm('Accept a new certificate for ' + d.address + '?')) return;
          try {
            await (sha ? api('PUT', path, { sha256: sha }) : api('DELETE', path));
            say(sha ? 'Pinned.' : 'Pin forgotten: the next connection pins what it sees.');
            await load();
          } catch (e) { say(e.message, true); }
        },
      }, 'Accept new certificate');
      return el('tr', { 'data-address': d.address },
        el('td', { text: d.address + (d.port && d.port !== 443 ? ':' + d.port : '') }),
        el('td', { text: d.zone || '' }), el('td', { text: d.model || '' }),
        el('td', { text: d.service_tag || '' }), el('td', { text: d.host_name || '' }),
        el('td', { text: d.power_state || '' }), el('td', { text: d.health || '' }),
        el('td', {}, el('code', { class: 'pin', text: d.cert_sha256 || '(none)' })),
        el('td', { class: 'actions' }, fp, accept));
    });
    body.replaceChildren(devices.length
      ? table(['Address', 'Zone', 'Model', 'Service tag', 'Host name', 'Power', 'Health', 'Pinned certificate', ''], rows)
      : el('p', { class: 'muted', text: 'No iDRAC found yet: run a redfish.discover job.' }));
  };
  await load();
}

// ---- rollouts --------------------------------------------------------------

function rolloutGrid(jobs) {
  const parts = [];
  for (const job of jobs) {
    const hosts = (job.rollout && job.rollout.hosts) || [];
    const clusters = new Map();
    for (const h of hosts) { if (!clusters.has(h.cluster)) clusters.set(h.cluster, []); clusters.get(h.cluster).push(h); }
    parts.push(el('h2', {}, el('a', { href: '#/job/' + encodeURIComponent(job.id), text: 'Rollout ' + job.id }), ' ', badge(job.status)));
    for (const [cluster, hs] of clusters) {
      parts.push(el('div', { class: 'grid-row' }, el('div', { class: 'cluster', text: cluster || '(no cluster)' }),
        el('ul', { class: 'hosts' }, hs.map((h) => el('li', {
          class: 'host s-' + h.state, title: h.note || '',
        }, el('strong', { text: h.name }), el('span', { text: h.state.replace('_', ' ') }),
        el('span', { class: 'step', text: h.step || '' }),
        h.left_in_maintenance ? el('span', { class: 'warn', text: 'left in maintenance' }) : null)))));
    }
  }
  return parts;
}

async function rolloutsPage() {
  const body = el('div', {});
  view('Rollouts', body);
  const load = async () => {
    const jobs = await api('GET', '/api/v1/jobs?type=rolling_update&limit=10');
    body.replaceChildren(...(jobs.length ? rolloutGrid(jobs) : [el('p', { class: 'muted', text: 'No rolling update yet.' })]));
  };
  await load();
  every(2000, load);
}

// ---- notifications ---------------------------------------------------------

async function notificationsPage() {
  const body = el('div', {});
  view('Notifications', body);
  const load = async () => {
    const list = await api('GET', '/api/v1/notifications?limit=100');
    const rows = list.map((d) => {
      const last = (d.attempts || [])[d.attempts.length - 1];
      return el('tr', { 'data-key': d.key },
        el('td', { text: when(d.created_at) }),
        el('td', { text: d.channel + ' (' + d.kind + ')' }),
        el('td', { text: d.event }),
        el('td', {}, d.job_id ? el('a', { href: '#/job/' + encodeURIComponent(d.job_id), text: d.job_id }) : (d.zone || '')),
        el('td', {}, badge(d.state === 'delivered' ? 'succeeded' : d.state === 'queued' ? 'pending' : d.state === 'retrying' || d.state === 'sending' ? 'running' : 'failed'),
          ' ', el('span', { class: 'state', text: d.state })),
        el('td', { class: 'attempts', text: String((d.attempts || []).length) }),
        el('td', { class: 'error', text: last ? (last.code ? last.code + ': ' : '') + last.answer : '' }));
    });
    body.replaceChildren(list.length
      ? table(['When', 'Channel', 'Event', 'Job or zone', 'State', 'Tries', 'Last answer'], rows)
      : el('p', { class: 'muted', text: 'No notification yet ([[notify]] channels in the coordinator\'s configuration).' }));
  };
  await load();
  every(5000, load);
}

// ---- routing -------------------------------------------------------------

async function route() {
  for (const s of stops.splice(0)) s();
  const hash = location.hash || '#/jobs';
  const path = hash.split('?')[0];
  const section = path.split('/')[1] || 'jobs';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === section || (section === 'job' && a.dataset.section === 'jobs')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    if (section === 'job') await jobPage(decodeURIComponent(path.slice('#/job/'.length)));
    else if (section === 'submit') submitPage();
    else if (section === 'workers') await workersPage();
    else if (section === 'inventory') await inventoryPage();
    else if (section === 'rollouts') await rolloutsPage();
    else if (section === 'notifications') await notificationsPage();
    else await jobsPage(query(hash));
  } catch (e) {
    if (e.status !== 401) view('Error', el('p', { class: 'error', role: 'alert', text: e.message }));
  }
  main.focus({ preventScroll: true });
}

function start() {
  document.getElementById('nav').hidden = false;
  document.getElementById('sign-out').hidden = !session.token_required;
  route();
}

window.addEventListener('hashchange', () => { if (session.signed_in) route(); });

(async () => {
  try { session = await api('GET', '/api/v1/session'); } catch (e) {
    view('Error', el('p', { class: 'error', text: 'The API does not answer: ' + e.message }));
    return;
  }
  if (session.signed_in) start(); else showSignIn();
})();
