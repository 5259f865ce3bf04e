/**
 * A new leader is admitted the moment its agent reports role master: the promoted agent writes its member key at
 * once, and the router's watch sees that write and asks the agent then, rather than at its next fast-interval poll.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Topology, type TopologyConfig } from '../../../src/router/topology';
import { realScheduler } from '../../../src/lib/clock';
import { silentLogger } from '../../../src/log/logger';
import { aMember, aView } from '../../support/builders';
import { waitFor } from '../../support/wait';
import { FakeAgents, FakeSource } from './fakes';
import { aListener, aRouterConfig } from './builders';

const api = (name: string) => `http://${name}.example:8008/patroni`;

/** Both members, ty-db2 holding the leader key; `revision` is ty-db2's member key revision. */
function viewWith(revision: number) {
  return aView({ leader: 'ty-db2', members: [aMember('ty-db1'), aMember('ty-db2', { role: revision > 1 ? 'master' : 'replica' }, { modRevision: revision })] });
}

describe('Topology: confirming a promoted leader', () => {
  it('asks the leader\'s agent as soon as its member key changes, not at the next fast-interval poll', async () => {
    const agents = new FakeAgents();
    agents.replica(api('ty-db1'));
    agents.replica(api('ty-db2'));
    const source = new FakeSource();
    // A fast interval no test waits for: only the member key's change can bring the second answer.
    const c = aRouterConfig({ listeners: [aListener('rw', 'primary')] });
    const config: TopologyConfig = { listeners: c.listeners, health: { ...c.health, fastIntervalMs: 60_000, intervalMs: 60_000 }, lease: c.lease, weightTag: c.weightTag, switchoverHoldMs: c.switchoverHoldMs, lag: c.lag };
    const topology = new Topology({ source, config, scheduler: realScheduler, logger: silentLogger(), fetch: agents.fetch, onTable: () => undefined });
    await topology.start();
    try {
      source.set(viewWith(1));
      await waitFor('the leader asked once (it still says replica)', () => topology.health.snapshot().get('ty-db2')?.status?.role === 'replica', { timeoutMs: 5000, intervalMs: 5 });
      assert.equal(topology.table().leader, undefined, 'a leader whose agent says replica is not confirmed');
      agents.primary(api('ty-db2'));
      source.set(viewWith(2));
      await waitFor('the promoted leader confirmed', () => topology.table().leader?.member === 'ty-db2', { timeoutMs: 5000, intervalMs: 5 });
    } finally {
      await topology.stop();
    }
  });
});
