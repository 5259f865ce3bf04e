/**
 * The live status page: one dependency-free HTML document with inline CSS and script, served at `/` to browsers
 * by the router (its metrics address) and by the agent (its REST API, see api/server.ts for the rule). It polls
 * its own server: the router's `status` (docs/router.md), or the agent's `cluster` and `history`, and redraws in
 * place, so it never needs a reload. `?interval=<ms>` changes the poll period (at least 250 ms).
 *
 * The data logic is format.ts, embedded here by source text so the browser and the unit tests run the same code.
 * Data from etcd (member names, reasons) reaches the DOM only through textContent, never as markup.
 */
import { PAGE_FUNCTIONS } from './format';

export type PageSource = 'router' | 'agent';

/** Default poll periods: the router answers from memory; the agent's `/cluster` reads etcd each time. */
const INTERVAL_MS: Record<PageSource, number> = { router: 1000, agent: 2000 };

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1b1f24;background:#fafbfc}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #d8dee4;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 .45em;border-radius:.6em;font-size:.85em;background:#e6e9ed}
.ok{background:#d3f3dc;color:#14532d}.bad{background:#fde2e1;color:#7f1d1d}.leader{background:#dbe7ff;color:#1e3a8a}
.bar{display:inline-block;width:8em;height:.7em;background:#eef1f4;border-radius:.3em;vertical-align:middle;margin-right:.4em;overflow:hidden}
.bar>span{display:block;height:100%;background:#4c8bf5}.bar.over>span{background:#dc2626}
.pool,.nowrap{white-space:nowrap}.pool.out{color:#6b7280}.muted{color:#6b7280}#error{color:#b91c1c;font-weight:600}
ol{margin:.2em 0;padding-left:1.6em}[hidden]{display:none!important}
`;

const SCRIPT = `
'use strict';
const params = new URLSearchParams(location.search);
const INTERVAL = Math.max(250, Number(params.get('interval')) || CONFIG.intervalMs);
window.pghaPageLoad = Math.random().toString(36).slice(2);
window.pghaRenders = 0;
const $ = (id) => document.getElementById(id);
function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) if (c !== undefined && c !== null) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}
function bar(value, scale, label) {
  const b = el('span', 'bar' + (typeof value === 'number' && value > scale ? ' over' : ''));
  const fill = el('span');
  fill.style.width = barPercent(value, scale) + '%';
  b.append(fill);
  return el('span', 'nowrap', b, label);
}
function cell(content, cls) { return el('td', cls, content); }
async function get(path) {
  const res = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}
async function load() {
  if (CONFIG.source === 'router') return fromRouterStatus(await get('status'));
  const [cluster, history] = await Promise.all([get('cluster'), get('history').catch(() => [])]);
  return fromAgentCluster(cluster, history);
}
function render(m) {
  document.title = 'pgha ' + m.source + ' · ' + m.scope + (m.leader ? ' · ' + m.leader : '');
  $('scope').textContent = m.scope;
  $('leader').textContent = m.leader || '(none)';
  $('leader').className = 'badge ' + (m.leader ? 'leader' : 'bad');
  const w = $('writable');
  w.hidden = m.writable === undefined;
  w.textContent = m.writable ? 'writable' : 'writes held or refused';
  w.className = 'badge ' + (m.writable ? 'ok' : 'bad');
  $('summary').textContent = m.summary;
  $('meta').textContent = [m.etcd ? 'etcd: ' + m.etcd : '', m.generation !== undefined ? 'routing generation ' + m.generation : ''].filter(Boolean).join(' · ');
  const router = m.source === 'router';
  for (const e of document.querySelectorAll('.router-only')) e.hidden = !router;
  const rows = m.members.map((x) => {
    const tr = el('tr');
    tr.dataset.member = x.name;
    tr.dataset.role = x.role;
    if (router) tr.dataset.connections = String(x.connections ?? 0);
    tr.append(cell(x.name), cell(el('span', 'badge nowrap' + (x.role === 'leader' ? ' leader' : ''), x.role)),
      cell(el('span', x.up === false && router ? 'badge bad' : null, x.state)), cell(x.timeline === undefined ? '—' : String(x.timeline), 'num'),
      cell(x.role === 'leader' ? el('span', 'muted', '—') : bar(x.lagBytes, m.lagBytesScale, formatBytes(x.lagBytes))));
    if (router) {
      tr.append(cell(x.role === 'leader' ? el('span', 'muted', '—') : bar(x.lagSeconds, m.lagSecondsScale, formatSeconds(x.lagSeconds))));
      const pools = el('td');
      for (const p of x.pools) {
        const line = el('div', 'pool ' + (p.in ? 'in' : 'out'), (p.in ? '✓ ' : '✗ ') + p.listener + (p.in ? '' : ': ' + p.reason));
        line.title = p.reason;
        pools.append(line);
      }
      tr.append(pools, cell(String(x.connections ?? 0), 'num'));
    }
    return tr;
  });
  $('members').replaceChildren(...rows);
  $('listeners').replaceChildren(...m.listeners.map((l) => {
    const tr = el('tr');
    tr.dataset.listener = l.name;
    tr.dataset.backends = l.backends.join(',');
    const per = Object.entries(l.byBackend).filter(([, n]) => n > 0).map(([b, n]) => b + ': ' + n).join(', ');
    tr.append(cell(l.name), cell(l.role), cell(l.port === undefined ? '—' : String(l.port), 'num'),
      cell(l.backends.length ? l.backends.join(', ') : el('span', 'badge bad', 'none')),
      cell(l.active + ' open, ' + l.pending + ' starting, ' + l.held + ' held'), cell(per || '—'), cell(l.reason));
    return tr;
  }));
  const workers = m.workers || [];
  $('workers-section').hidden = workers.length === 0;
  $('workers').replaceChildren(...workers.map((x) => {
    const tr = el('tr');
    tr.dataset.worker = String(x.index);
    tr.append(cell(String(x.index), 'num'), cell(x.pid === undefined ? '—' : String(x.pid), 'num'),
      cell(x.ready ? el('span', 'badge ok', 'serving') : el('span', 'badge bad', 'starting')),
      cell(String(x.active), 'num'), cell(x.perListener || '—'), cell(formatSeconds(x.uptimeSeconds)), cell(String(x.restarts), 'num'));
    return tr;
  }));
  const pools = m.pools || [];
  const clients = m.clients || [];
  $('pools-section').hidden = pools.length + clients.length === 0 && !m.paused;
  $('paused').hidden = !m.paused;
  $('paused').textContent = m.paused ? 'paused: ' + m.paused : '';
  $('pools').replaceChildren(...pools.map((p) => {
    const tr = el('tr');
    tr.dataset.pool = [p.listener, p.user, p.database, p.backend].join('/');
    tr.dataset.paused = String(p.paused);
    tr.append(cell(p.listener), cell(p.user), cell(p.database), cell(p.backend),
      cell(String(p.clActive), 'num'), cell(String(p.clWaiting), 'num'), cell(String(p.svActive), 'num'), cell(String(p.svIdle), 'num'),
      cell(String(p.svLogin), 'num'), cell(formatSeconds(p.maxwait)), cell(String(p.prepared), 'num'),
      cell(p.paused ? el('span', 'badge bad', 'paused') : el('span', 'badge ok', 'serving')));
    return tr;
  }));
  $('clients').replaceChildren(...clients.map((c) => {
    const tr = el('tr');
    tr.dataset.clients = [c.listener, c.user, c.database].join('/');
    tr.append(cell(c.listener), cell(c.user), cell(c.database), cell(String(c.clients), 'num'), cell(String(c.active), 'num'),
      cell(String(c.idle), 'num'), cell(String(c.waiting), 'num'), cell(String(c.held), 'num'));
    return tr;
  }));
  const changes = m.leaderChanges.map((c) => {
    const li = el('li');
    li.dataset.from = c.from || '';
    li.dataset.to = c.to || '';
    li.append(el('span', 'muted', c.at ? new Date(c.at).toLocaleString() + '  ' : ''), el('b', null, (c.from || (router ? '(none)' : '?')) + ' → ' + (c.to || '(none)')), ' ' + c.detail);
    return li;
  });
  $('changes').replaceChildren(...(changes.length ? changes : [el('li', 'muted', 'none seen')]));
  window.pghaRenders++;
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString() + ' (every ' + INTERVAL / 1000 + ' s)';
}
async function tick() {
  try {
    render(await load());
    $('error').textContent = '';
  } catch (err) {
    $('error').textContent = 'cannot refresh: ' + (err && err.message ? err.message : String(err)) + ' (retrying; the data shown is older)';
  }
  setTimeout(tick, INTERVAL);
}
tick();
`;

/**
 * A browser asking for a page: its Accept header names `text/html`. Health checkers (HAProxy, Kubernetes, Consul,
 * curl) send no Accept header or one without `text/html`, so they keep getting what they got before the page.
 */
export function wantsHtml(accept: string | string[] | undefined): boolean {
  const value = Array.isArray(accept) ? accept.join(',') : accept ?? '';
  return value.toLowerCase().includes('text/html');
}

const cache = new Map<PageSource, string>();

/** The page for a router or an agent (built once per source). */
export function statusPage(source: PageSource): string {
  let html = cache.get(source);
  if (html) return html;
  const config = JSON.stringify({ source, intervalMs: INTERVAL_MS[source] });
  const functions = PAGE_FUNCTIONS.map((fn) => fn.toString()).join('\n');
  html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>pgha ${source}</title><style>${STYLE}</style></head>
<body>
<h1>pgha ${source} · <span id="scope">…</span></h1>
<p>leader: <span id="leader" class="badge">…</span> <span id="writable" class="badge" hidden></span>
<span id="summary"></span></p>
<p class="muted"><span id="meta"></span> <span id="updated">loading…</span> <span id="error"></span></p>
<h2>Members</h2>
<table><thead><tr><th>member</th><th>role</th><th>state</th><th>timeline</th><th>lag (bytes)</th>
<th class="router-only">lag (seconds)</th><th class="router-only">pools</th><th class="router-only">connections</th></tr></thead>
<tbody id="members"></tbody></table>
<h2 class="router-only">Listeners</h2>
<table class="router-only"><thead><tr><th>listener</th><th>role</th><th>port</th><th>backends</th><th>connections</th>
<th>per backend</th><th>why</th></tr></thead><tbody id="listeners"></tbody></table>
<div id="workers-section" hidden><h2>Workers</h2>
<table><thead><tr><th>worker</th><th>pid</th><th>state</th><th>open sessions</th><th>per listener</th><th>up</th>
<th>restarts</th></tr></thead><tbody id="workers"></tbody></table></div>
<div id="pools-section" hidden><h2>Pools <span id="paused" class="badge bad" hidden></span></h2>
<table><thead><tr><th>listener</th><th>user</th><th>database</th><th>backend</th><th>clients active</th>
<th>clients waiting</th><th>server active</th><th>server idle</th><th>server login</th><th>max wait</th>
<th>prepared</th><th>state</th></tr></thead><tbody id="pools"></tbody></table>
<h2>Pooled clients</h2>
<table><thead><tr><th>listener</th><th>user</th><th>database</th><th>clients</th><th>active</th><th>idle</th>
<th>waiting</th><th>held</th></tr></thead><tbody id="clients"></tbody></table></div>
<h2>Leader changes <span class="muted">(newest first${source === 'router' ? ', seen by this router' : ', from the cluster history'})</span></h2>
<ol id="changes"></ol>
<script>
const CONFIG = ${config};
${functions}
${SCRIPT}
</script>
</body></html>
`;
  cache.set(source, html);
  return html;
}
