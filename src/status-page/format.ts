/**
 * The status page's pure logic: turning the router's `/status` document, or an agent's `/cluster` and `/history`,
 * into one view model, and formatting bytes, seconds and bar widths. No I/O, no clock, no DOM.
 *
 * These functions run in the browser too: page.ts embeds their source (`fn.toString()`), so the page needs no
 * bundler and no second copy. Hence the rules for this file: plain functions only, each self-contained or calling
 * only other functions listed in PAGE_FUNCTIONS; no imports, no module-level values; syntax every current browser
 * runs (the build targets ES2022).
 */

/** One member as the page shows it. Undefined numbers are unknown. */
export interface PageMember {
  name: string;
  /** `leader`, `replica`, `sync_standby`, … (the leader key holder is `leader`). */
  role: string;
  state: string;
  timeline?: number;
  lagBytes?: number;
  lagSeconds?: number;
  /** Router only: whether its agent answers. */
  up?: boolean;
  /** Router only: per listener, in or out of its pool and why. */
  pools: { listener: string; in: boolean; reason: string }[];
  /** Router only: open connections through this router to the member, over all listeners. */
  connections?: number;
}

export interface PageListener {
  name: string;
  role: string;
  port?: number;
  backends: string[];
  reason: string;
  active: number;
  pending: number;
  held: number;
  /** Open connections per backend member. */
  byBackend: Record<string, number>;
}

export interface PageLeaderChange {
  /** ISO time, when known. */
  at?: string;
  from?: string;
  to?: string;
  /** One line: planned switchover, failover, timeline, how long there was no leader… */
  detail: string;
}

/** Router with `workers: N`: one worker process. */
export interface PageWorker {
  index: number;
  pid?: number;
  ready: boolean;
  restarts: number;
  uptimeSeconds: number;
  /** Open sessions over all listeners. */
  active: number;
  /** `write: 3, read: 1`. */
  perListener: string;
}

/** Router with pooled listeners: one server pool (PgBouncer's SHOW POOLS row), summed over workers. */
export interface PagePool {
  listener: string;
  user: string;
  database: string;
  backend: string;
  clActive: number;
  clWaiting: number;
  svActive: number;
  svIdle: number;
  svLogin: number;
  /** Seconds the oldest waiting client has waited. */
  maxwait: number;
  prepared: number;
  paused: boolean;
}

/** Router with pooled listeners: its clients per (listener, user, database) by state (SHOW CLIENTS, summed). */
export interface PageClients {
  listener: string;
  user: string;
  database: string;
  clients: number;
  active: number;
  idle: number;
  waiting: number;
  held: number;
}

export interface PageModel {
  source: 'router' | 'agent';
  scope: string;
  /** The leader key holder. */
  leader?: string;
  /** One line about writes (router: where they go and why; agent: paused, scheduled switchover). */
  summary: string;
  writable?: boolean;
  /** Router only: etcd watch state and routing generation. */
  etcd?: string;
  generation?: number;
  members: PageMember[];
  listeners: PageListener[];
  /** Router with workers only. */
  workers?: PageWorker[];
  /** Router with pooled listeners only (a pool or a client seen). */
  pools?: PagePool[];
  clients?: PageClients[];
  /** Router: the pauses in force (`every member (operator)`, `n1 (drain)`); empty when none. */
  paused?: string;
  /** Newest first. */
  leaderChanges: PageLeaderChange[];
  /** Full scale of the lag bars: the strictest listener limit, else the largest lag seen (≥ 1). */
  lagBytesScale: number;
  lagSecondsScale: number;
}

/** `1.5 MiB`; `—` when unknown. */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return `${n < 0 ? '-' : ''}${text} ${units[i]}`;
}

/** `0.25 s`, `12 s`, `3 min 5 s`, `2 h 10 min`; `—` when unknown. */
export function formatSeconds(s: number | null | undefined): string {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '—';
  if (s < 0) return `-${formatSeconds(-s)}`;
  if (s < 1) return `${s === 0 ? '0' : s.toFixed(2)} s`;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Width of a bar in percent of `scale`: 0 when unknown, at least 1 for any lag above 0, at most 100. */
export function barPercent(value: number | null | undefined, scale: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return 0;
  if (!(scale > 0)) return 100;
  return Math.max(1, Math.min(100, Math.round((value / scale) * 100)));
}

/** The bars' full scale: the smallest limit set, else the largest value seen, never below `floor`. */
export function lagScale(limits: (number | null | undefined)[], values: (number | null | undefined)[], floor: number): number {
  const set = limits.filter((v): v is number => typeof v === 'number' && v > 0);
  if (set.length > 0) return Math.min(...set);
  const seen = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return Math.max(floor, ...seen);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The router's `GET /status` document → the page model. Tolerates missing fields (an older router). */
function pageWorker(v: unknown): PageWorker {
  const w = obj(v);
  const conns = Object.entries(obj(w.connections)).map(([name, c]) => [name, num(obj(c).active) ?? 0] as const);
  const pid = num(w.pid);
  return {
    index: num(w.index) ?? 0,
    ...(pid !== undefined ? { pid } : {}),
    ready: w.ready === true,
    restarts: num(w.restarts) ?? 0,
    uptimeSeconds: num(w.uptimeSeconds) ?? 0,
    active: conns.reduce((a, [, n]) => a + n, 0),
    perListener: conns.map(([name, n]) => `${name}: ${n}`).join(', '),
  };
}

/** The router's `pools`, `clients` and `paused` (pooled listeners) → the page's tables; unknown numbers read 0. */
function routerPools(d: Record<string, unknown>): { pools: PagePool[]; clients: PageClients[]; paused: string } {
  const n = (v: unknown): number => num(v) ?? 0;
  const pools = (Array.isArray(d.pools) ? d.pools : []).map((raw) => {
    const p = obj(raw);
    return {
      listener: str(p.listener) ?? '?', user: str(p.user) ?? '?', database: str(p.database) ?? '?', backend: str(p.member) ?? '?',
      clActive: n(p.cl_active), clWaiting: n(p.cl_waiting), svActive: n(p.sv_active), svIdle: n(p.sv_idle), svLogin: n(p.sv_login),
      maxwait: n(p.maxwait), prepared: n(p.prepared), paused: p.paused === true,
    };
  });
  const clients = (Array.isArray(d.clients) ? d.clients : []).map((raw) => {
    const c = obj(raw);
    return {
      listener: str(c.listener) ?? '?', user: str(c.user) ?? '?', database: str(c.database) ?? '?',
      clients: n(c.clients), active: n(c.active), idle: n(c.idle), waiting: n(c.waiting), held: n(c.held),
    };
  });
  const paused = Object.entries(obj(d.paused))
    .map(([member, by]) => `${member === '*' ? 'every member' : member} (${(Array.isArray(by) ? by : []).join(', ')})`)
    .join('; ');
  return { pools, clients, paused };
}

export function fromRouterStatus(doc: unknown): PageModel {
  const d = obj(doc);
  const listenersDoc = obj(d.listeners);
  const listeners: PageListener[] = [];
  const limitsBytes: (number | undefined)[] = [];
  const limitsSeconds: (number | undefined)[] = [];
  const perMember: Record<string, number> = {};
  for (const name of Object.keys(listenersDoc)) {
    const l = obj(listenersDoc[name]);
    const conns = obj(l.connections);
    const byBackend: Record<string, number> = {};
    for (const [m, n] of Object.entries(obj(conns.byBackend))) {
      const count = num(n) ?? 0;
      byBackend[m] = count;
      perMember[m] = (perMember[m] ?? 0) + count;
    }
    limitsBytes.push(num(l.maxLagBytes));
    limitsSeconds.push(num(l.maxLagSeconds));
    const port = num(l.port);
    listeners.push({
      name,
      role: str(l.role) ?? '?',
      ...(port !== undefined ? { port } : {}),
      backends: (Array.isArray(l.backends) ? l.backends : []).map((b) => str(obj(b).member) ?? '?'),
      reason: str(l.reason) ?? '',
      active: num(conns.active) ?? 0,
      pending: num(conns.pending) ?? 0,
      held: num(conns.held) ?? 0,
      byBackend,
    });
  }
  const members: PageMember[] = (Array.isArray(d.members) ? d.members : []).map((raw) => {
    const m = obj(raw);
    const name = str(m.member) ?? '?';
    const isLeader = m.isLeaderKey === true;
    const restRole = str(m.restRole);
    const keyRole = str(m.keyRole);
    const pools = Object.entries(obj(m.pools)).map(([listener, v]) => ({ listener, in: obj(v).in === true, reason: str(obj(v).reason) ?? '' }));
    const timeline = num(m.timeline);
    const lagBytes = isLeader ? undefined : num(m.lagBytes);
    const lagSeconds = isLeader ? undefined : num(m.lagSeconds);
    return {
      name,
      role: isLeader ? 'leader' : restRole === 'master' || restRole === 'primary' ? `${restRole} (no leader key)` : restRole ?? keyRole ?? 'unknown',
      state: str(m.state) ?? (m.up === false ? 'agent down' : 'unknown'),
      ...(timeline !== undefined ? { timeline } : {}),
      ...(lagBytes !== undefined ? { lagBytes } : {}),
      ...(lagSeconds !== undefined ? { lagSeconds } : {}),
      up: m.up === true,
      pools,
      connections: perMember[name] ?? 0,
    };
  });
  const changes: PageLeaderChange[] = (Array.isArray(d.leaderChanges) ? d.leaderChanges : []).map((raw) => {
    const c = obj(raw);
    const from = str(c.from);
    const to = str(c.to);
    const at = str(c.at);
    const parts: string[] = [];
    if (c.cause === 'start') parts.push('seen at router start');
    else if (c.cause === 'switchover') parts.push('planned switchover');
    else if (from && to) parts.push('leader changed');
    else if (from) parts.push('leader key released or expired');
    else parts.push('leader key taken');
    const gap = num(c.leaderlessSeconds);
    if (gap !== undefined) parts.push(`no leader key for ${formatSeconds(gap)}`);
    const generation = num(c.generation);
    if (generation !== undefined) parts.push(`generation ${generation}`);
    return { ...(at ? { at } : {}), ...(from ? { from } : {}), ...(to ? { to } : {}), detail: parts.join('; ') };
  });
  const etcd = obj(d.etcd);
  const leader = str(d.leaderKey);
  const generation = num(d.generation);
  const watch = str(etcd.watchState);
  const contact = num(etcd.lastContactAgeSeconds);
  const pooled = routerPools(d);
  return {
    source: 'router',
    scope: str(d.scope) ?? '?',
    ...(leader ? { leader } : {}),
    summary: str(d.writeReason) ?? '',
    writable: d.writable === true,
    ...(watch ? { etcd: `${watch}${contact !== undefined ? `, last contact ${formatSeconds(contact)} ago` : ''}` } : {}),
    ...(generation !== undefined ? { generation } : {}),
    members,
    listeners,
    ...(Array.isArray(d.workers) ? { workers: d.workers.map(pageWorker) } : {}),
    ...(pooled.pools.length + pooled.clients.length > 0 || pooled.paused ? pooled : {}),
    leaderChanges: changes,
    lagBytesScale: lagScale(limitsBytes, members.map((m) => m.lagBytes), 1),
    lagSecondsScale: lagScale(limitsSeconds, members.map((m) => m.lagSeconds), 1),
  };
}

/**
 * An agent's `GET /cluster` (Patroni's document) and `GET /history` (`[timeline, lsn, reason, time, new leader]`
 * lines) → the page model. The agent knows lag in bytes only, and nothing of pools or connections.
 */
export function fromAgentCluster(cluster: unknown, history: unknown): PageModel {
  const c = obj(cluster);
  const members: PageMember[] = (Array.isArray(c.members) ? c.members : []).map((raw) => {
    const m = obj(raw);
    const timeline = num(m.timeline);
    const lagBytes = num(m.lag);
    return {
      name: str(m.name) ?? '?',
      role: str(m.role) ?? 'unknown',
      state: str(m.state) ?? 'unknown',
      ...(timeline !== undefined ? { timeline } : {}),
      ...(lagBytes !== undefined ? { lagBytes } : {}),
      pools: [],
    };
  });
  const leader = members.find((m) => m.role === 'leader' || m.role === 'standby_leader')?.name;
  const lines = Array.isArray(history) ? history : [];
  const changes: PageLeaderChange[] = [];
  for (let i = lines.length - 1; i >= 0 && changes.length < 20; i--) {
    const line = lines[i];
    if (!Array.isArray(line)) continue;
    const tl = num(line[0]);
    const at = str(line[3]);
    const to = str(line[4]);
    const prevTo = i > 0 && Array.isArray(lines[i - 1]) ? str((lines[i - 1] as unknown[])[4]) : undefined;
    const reason = str(line[2]);
    const detail = `timeline ${tl !== undefined ? `${tl} → ${tl + 1}` : '?'}${reason ? `: ${reason}` : ''}`;
    changes.push({ ...(at ? { at } : {}), ...(prevTo ? { from: prevTo } : {}), ...(to ? { to } : {}), detail });
  }
  const sw = obj(c.scheduled_switchover);
  const summary = [
    c.pause === true ? 'maintenance mode (paused)' : '',
    str(sw.at) ? `switchover scheduled at ${String(sw.at)}${str(sw.to) ? ` to ${String(sw.to)}` : ''}` : '',
  ].filter(Boolean).join('; ');
  return {
    source: 'agent',
    scope: str(c.scope) ?? '?',
    ...(leader ? { leader } : {}),
    summary: summary || (leader ? `${leader} holds the leader key` : 'no leader'),
    members,
    listeners: [],
    leaderChanges: changes,
    lagBytesScale: lagScale([], members.map((m) => m.lagBytes), 1),
    lagSecondsScale: 1,
  };
}

/** Everything above, in dependency order, for page.ts to embed. */
export const PAGE_FUNCTIONS: readonly ((...args: never[]) => unknown)[] = [
  formatBytes, formatSeconds, barPercent, lagScale, str, num, obj, pageWorker, routerPools, fromRouterStatus, fromAgentCluster,
];
