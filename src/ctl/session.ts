/**
 * What every `pgha ctl` verb works with: the cluster's keys in etcd, a REST client for the members' APIs, and the
 * terminal (output, prompts, clock). Built by src/cli/ctl-command.ts, the only place that reads argv and env;
 * verbs take it as a parameter so tests can drive them with fakes.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterKeys } from '../model/keys';
import type { ClusterView } from '../model/cluster';
import { readCluster } from '../dcs/read';
import { PghaError } from '../lib/errors';
import type { Prompter } from './prompt';
import type { RestClient } from './rest-client';

/** A verb that cannot be done, with the reason in words. The CLI prints `Error: <message>` and exits 1. */
export class CtlError extends PghaError {
  constructor(message: string) {
    super('ctl_refused', message);
    this.name = 'CtlError';
  }
}

export interface CtlIo {
  /** Writes one line (a newline is added). */
  out(line: string): void;
  /** Writes text as it is. */
  write(text: string): void;
  /** A warning on stderr (one line). */
  warn(line: string): void;
  stdoutIsTty: boolean;
  /** The terminal's width, when stdout is one (in-place progress lines are cut to fit). */
  columns?: number;
  prompter: Prompter;
  now(): Date;
  sleep(ms: number): Promise<void>;
  /** `$EDITOR` (or the fallback), for edit-config; undefined when none is known. */
  editor?: string;
  /** Reads all of stdin (edit-config --apply -). */
  readStdin(): Promise<string>;
}

export interface CtlSession {
  scope: string;
  store: ClusterStore;
  keys: ClusterKeys;
  rest: RestClient;
  io: CtlIo;
}

export function readView(s: CtlSession): Promise<ClusterView> {
  return readCluster(s.store, s.keys);
}

/** A cluster exists when any of its keys does: the `initialize`, `config` or `leader` key, or a member. */
export function clusterExists(view: ClusterView): boolean {
  return view.initialize !== undefined || view.config !== undefined || view.leader !== undefined || view.members.size > 0;
}

export async function readExistingView(s: CtlSession): Promise<ClusterView> {
  const view = await readView(s);
  if (!clusterExists(view)) {
    throw new CtlError(`cluster ${s.scope} not found: etcd has no keys under ${s.keys.prefix} (check the cluster name, scope and namespace)`);
  }
  return view;
}

/** patronictl's timestamp(): local time `YYYY-MM-DD HH:MM:SS.fffff` (precision 6), or without fraction (0). */
export function timestamp(now: Date, precision = 6): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const base = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`;
  if (precision <= 0) return base;
  const micro = `${p(now.getMilliseconds(), 3)}000`;
  return `${base}.${micro.slice(0, Math.min(6, precision) - 1)}`;
}
