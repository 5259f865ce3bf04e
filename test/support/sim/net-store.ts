/**
 * The ClusterStore the real agent gets in the simulator: every call goes through the simulated network (net.ts
 * dcsCall) to the shared MemoryStore, so a cut-off agent's calls fail at once or at the deadline, an answer can be
 * lost after the store applied the request, and a killed agent never hears back (its promise never settles).
 */
import type { ClusterStore, LeaseId, Watch, WatchHandlers } from '../../../src/dcs/store';
import type { KeyValue } from '../../../src/model/cluster';
import type { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { SimContext } from './context';
import { dcsCall, type DcsNet, type Link } from './net';
import type { Proc } from './scheduler';

export class NetStore implements ClusterStore {
  constructor(private readonly ctx: SimContext, private readonly net: DcsNet, private readonly link: Link, private readonly caller: Proc) {}

  private call<T>(what: string, fn: (s: MemoryStore) => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => dcsCall(this.ctx, this.net, this.link, this.caller, what, fn, (r) => (r.ok ? resolve(r.value) : reject(r.error))));
  }

  readPrefix(prefix: string, opts?: { serializable?: boolean }): Promise<{ revision: number; kvs: KeyValue[] }> {
    return this.call('reading cluster', (s) => s.readPrefix(prefix, opts));
  }
  get(key: string): Promise<KeyValue | undefined> {
    return this.call(`reading ${key}`, (s) => s.get(key));
  }
  put(key: string, value: string, lease?: LeaseId): Promise<void> {
    return this.call(`writing ${key}`, (s) => s.put(key, value, lease));
  }
  createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean> {
    return this.call(`creating ${key}`, (s) => s.createIfAbsent(key, value, lease));
  }
  putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean> {
    return this.call(`writing ${key}`, (s) => s.putIfModRevision(key, value, modRevision));
  }
  putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean> {
    return this.call(`writing ${key}`, (s) => s.putIfValue(key, value, expected, lease));
  }
  deleteIfValue(key: string, expected: string): Promise<boolean> {
    return this.call(`deleting ${key}`, (s) => s.deleteIfValue(key, expected));
  }
  deleteIfModRevision(key: string, modRevision: number): Promise<boolean> {
    return this.call(`deleting ${key}`, (s) => s.deleteIfModRevision(key, modRevision));
  }
  reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean> {
    return this.call(`re-attaching ${key}`, (s) => s.reattachOrCreate(key, value, lease));
  }
  delete(key: string): Promise<void> {
    return this.call(`deleting ${key}`, (s) => s.delete(key));
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.call(`deleting ${prefix}`, (s) => s.deletePrefix(prefix));
  }
  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.call('granting a lease', (s) => s.grantLease(ttlSeconds));
  }
  keepAlive(lease: LeaseId): Promise<number> {
    return this.call(`renewing lease ${lease}`, (s) => s.keepAlive(lease));
  }
  revokeLease(lease: LeaseId): Promise<void> {
    return this.call(`revoking lease ${lease}`, (s) => s.revokeLease(lease));
  }
  /** The agent's loop reads; only the CLI's cluster cache watches (not simulated). */
  watchPrefix(_prefix: string, _fromRevision: number, _handlers: WatchHandlers): Watch {
    throw new Error('watches are not simulated');
  }
  async close(): Promise<void> {}
}
