/**
 * One node's agent in the simulator: the REAL AgentRunner (with its real LeaseKeeper, Executor and TaskSlot) on the
 * node process's slice of the simulated scheduler, talking to the DCS through the simulated network (NetStore), to
 * its postgres through SimPostgresOps, and to its peers' /patroni through the world. Nothing here decides anything.
 */
import { AgentRunner } from '../../../src/agent/runner';
import type { RunnerSeams } from '../../../src/agent/runner-seams';
import { patroniDocument } from '../../../src/model/patroni-format';
import type { PeerFetch } from '../../../src/agent/peers';
import { parseAgentConfig } from '../../../src/config/load';
import type { AgentConfig } from '../../../src/config/types';
import { createLogger, silentLogger, type Logger } from '../../../src/log/logger';
import type { PostgresProbe } from '../../../src/model/postgres-state';
import { TEST_OPTIONS } from '../../unit/config/helpers';
import type { SimContext } from './context';
import type { DcsNet, Link } from './net';
import { NetStore } from './net-store';
import type { SimPostgres } from './postgres-model';
import type { Proc } from './scheduler';
import { SimPostgresOps } from './sim-postgres-ops';
import { FenceKeeper } from '../../../src/fence/keeper';
import { simMonoNs, type SimFenceHost } from './fence';

/** Planted defects in the shell (shell-bugs.ts), to show the simulator finds them. */
export type ShellBug = 'no-margin' | 'no-fence-timer' | 'skip-fence-renewal' | 'stale-rewind';

export interface ShellWorld {
  readonly ctx: SimContext;
  readonly net: DcsNet;
  readonly rawDcs: Record<string, unknown>;
  /** Trace the agents' log lines (slow: only to replay a seed). */
  readonly verbose: boolean;
  /** The runner's seams: no dynamic-config file, and a planted bug if asked (shell-bugs.ts). */
  readonly seams: RunnerSeams;
  probe(name: string): PostgresProbe;
  reachablePostgres(from: string, name: string): SimPostgres | undefined;
  /** The /patroni document of `name` as `from` gets it now; undefined: no answer (the call times out). */
  peerDocument(from: string, name: string): Record<string, unknown> | undefined;
  /** The agent exited (decide's `exit` action). */
  exited(name: string, message: string): void;
  /** Agents arm the fence process (watchdog.mode automatic, the default); false: watchdog.mode off. */
  readonly fence: boolean;
}

const configs = new Map<string, AgentConfig>();

/** The node's configuration, as the YAML of a real node would give it (parsed once per node and bootstrap.dcs). */
function nodeConfig(name: string, rawDcs: Record<string, unknown>): AgentConfig {
  const key = `${name} ${JSON.stringify(rawDcs)}`;
  let config = configs.get(key);
  if (!config) {
    config = parseAgentConfig({
      scope: 'sim', namespace: '/service', name,
      restapi: { listen: `${name}:8008` },
      etcd3: { hosts: 'etcd:2379' },
      bootstrap: { dcs: rawDcs },
      postgresql: {
        listen: `${name}:5432`, data_dir: `/sim/${name}`,
        authentication: { superuser: { username: 'postgres', password: 'x' }, replication: { username: 'replicator', password: 'x' } },
      },
    }, {}, `${name}.yml`, TEST_OPTIONS);
    configs.set(key, config);
  }
  return config;
}

/** A field as a trace shows it; an error by its message only (its stack names the caller, so it differs per call site). */
function traceValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'stack' in v && 'message' in v) return String((v as { message: unknown }).message);
  return JSON.stringify(v);
}

/** The agent's log lines as trace lines: message, then the fields (no time, level or component). */
export function traceLogger(trace: (msg: string) => void): Logger {
  return createLogger({
    level: 'debug',
    destination: {
      write: (line: string) => {
        const { msg, time: _t, level, component: _c, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const rest = Object.entries(fields).map(([k, v]) => `${k}=${traceValue(v)}`).join(' ');
        trace(`${level === 'info' ? '' : `${String(level)}: `}${String(msg)}${rest ? ` (${rest})` : ''}`);
      },
    },
  });
}

const PEER_ANSWER_MS = [1, 20] as const;

export class ShellAgent {
  readonly runner: AgentRunner;
  readonly ops: SimPostgresOps;

  constructor(private readonly w: ShellWorld, readonly name: string, proc: Proc, pg: SimPostgres, link: Link, fence: SimFenceHost | undefined) {
    const { ctx } = w;
    const trace = (msg: string) => ctx.trace(name, msg);
    const logger = w.verbose ? traceLogger(trace) : silentLogger();
    const scheduler = ctx.sched.forProc(proc);
    this.ops = new SimPostgresOps({ ctx, caller: proc, pg, trace, probe: () => w.probe(name), reachablePostgres: (n) => w.reachablePostgres(name, n) });
    const peerFetch: PeerFetch = (url, timeoutMs) => new Promise((resolve) => {
      const doc = w.peerDocument(name, new URL(url).hostname);
      ctx.sched.after(doc ? ctx.rng.range(...PEER_ANSWER_MS) : timeoutMs, () => resolve(doc), proc);
    });
    this.runner = new AgentRunner({
      config: nodeConfig(name, w.rawDcs),
      store: new NetStore(ctx, w.net, link, proc),
      ops: this.ops,
      logger,
      pghaVersion: '0.1.0',
      scheduler,
      // The shipping keeper, on this node's simulated fence files and processes (fence.ts).
      ...(fence ? { fence: new FenceKeeper({
        dir: `/sim/${name}.pgha-fence`, dataDir: `/sim/${name}`, command: [], logger: logger.child({ component: 'fence' }), scheduler,
        monoNs: () => simMonoNs(ctx), host: fence.keeperHost(),
      }) } : {}),
      peerFetch,
      exit: (_code, message) => w.exited(name, message),
      seams: w.seams,
    });
  }

  start(): void {
    this.runner.start();
  }

  /** The reason of the last tick (what the REST API shows). */
  get lastReason(): string {
    return this.runner.status().reason;
  }

  restDoc(): Record<string, unknown> {
    return patroniDocument(this.runner.status(), this.w.ctx.sched.now) as unknown as Record<string, unknown>;
  }
}
