/**
 * The harness's generated node YAML: the `dcsPostgresql` option (tests that need a protected GUC such as
 * wal_level: logical) changes only bootstrap.dcs.postgresql, and leaving it out writes exactly what it always did.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { nodeYaml } from '../../../src/demo/local-cluster';

const base = {
  scope: 'pgcluster', name: 'ty-db1', etcd: '127.0.0.1:2379', apiPort: 8008, pgPort: 5432, dataDir: '/d/data', pgpass: '/d/pgpass',
  dcs: { ttl: 15, loop_wait: 2, retry_timeout: 5 }, tags: { nofailover: false }, password: 'pw', extra: '',
};

describe('nodeYaml (the local cluster harness)', () => {
  it('keeps bootstrap.dcs.postgresql as before when a test asks for nothing', () => {
    const text = nodeYaml(base);
    assert.ok(text.includes(
      '  dcs: {"maximum_lag_on_failover":1048576,"ttl":15,"loop_wait":2,"retry_timeout":5,"postgresql":{"use_pg_rewind":true,"parameters":null}}\n',
    ), text);
  });

  it('merges a test\'s dcsPostgresql over the defaults, so wal_level: logical reaches the dynamic config', () => {
    const doc = parseYaml(nodeYaml({ ...base, dcsPostgresql: { parameters: { wal_level: 'logical' } } })) as {
      bootstrap: { dcs: Record<string, unknown> };
    };
    assert.deepEqual(doc.bootstrap.dcs, {
      maximum_lag_on_failover: 1048576, ttl: 15, loop_wait: 2, retry_timeout: 5,
      postgresql: { use_pg_rewind: true, parameters: { wal_level: 'logical' } },
    });
  });
});
