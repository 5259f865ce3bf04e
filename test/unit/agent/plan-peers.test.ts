/**
 * Whether a tick asks the other members before decide() runs (plan-peers.ts): every ask is a REST round trip inside
 * the tick, so the named candidate of a planned switchover, seeing the leader key gone, races at once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planAskPeers } from '../../../src/agent/plan-peers';
import { aCluster } from '../../support/agent-builders';

const cluster = () => aCluster().initialized().member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);

describe('asking the peers before deciding', () => {
  it('the named candidate sees the old leader release its key: it races without asking anybody (as Patroni)', () => {
    const view = cluster().noLeader().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    assert.deepEqual(planAskPeers(view, 'ty-db2', true), { ask: false, reason: 'no leader and I am the named candidate: racing at once' });
  });

  it('another replica in that moment still ranks itself against the others', () => {
    const view = cluster().noLeader().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    assert.equal(planAskPeers(view, 'ty-db3', true).ask, true);
  });

  it('a leader race without a failover key asks everybody (a failover)', () => {
    assert.equal(planAskPeers(cluster().noLeader().build(), 'ty-db2', true).ask, true);
  });

  it('the leader with a failover key set checks its candidate before it demotes', () => {
    const view = cluster().leader('ty-db1').failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    assert.equal(planAskPeers(view, 'ty-db1', true).ask, true);
    assert.equal(planAskPeers(view, 'ty-db2', true).ask, false, 'a replica with a leader asks nobody');
  });

  it('postgres down or etcd unreadable: nobody is asked', () => {
    assert.equal(planAskPeers(cluster().noLeader().build(), 'ty-db2', false).ask, false);
    assert.equal(planAskPeers(undefined, 'ty-db2', true).ask, false);
  });
});
