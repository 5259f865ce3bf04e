/** The ClusterStore contract against a real etcd, then what only a real etcd can show: endpoints, deadlines, auth. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { DcsUnavailableError } from '../../../src/lib/errors';
import { startEtcd, type EtcdServer } from '../../support/etcd';
import { makeTestCerts, type TestCerts } from '../../support/etcd-tls';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';
import { record, runStoreContract } from './store-contract';

const run = promisify(execFile);

runStoreContract('EtcdStore', async () => {
  const etcd = await startEtcd();
  const store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
  const admin = new Etcd3({ hosts: `http://${etcd.endpoint}` });
  return {
    store,
    // etcd checks expiry every 500 ms and may raise the TTL: wait generously, in real time.
    letLeaseExpire: async (ttlSeconds, gone) => {
      await waitFor('the lease to expire', gone, { timeoutMs: ttlSeconds * 1000 + 30_000, intervalMs: 100 });
    },
    compact: async (revision) => {
      await admin.kv.compact({ revision: String(revision), physical: true });
    },
    watchTimeoutMs: 10_000,
    teardown: async () => {
      await store.close();
      admin.close();
      await etcd.destroy();
    },
  };
});

/** Runs `fn` and returns how long it took to settle (ms), with its error if any. */
async function timed(fn: () => Promise<unknown>): Promise<{ ms: number; err?: unknown }> {
  const t0 = performance.now();
  try {
    await fn();
    return { ms: performance.now() - t0 };
  } catch (err) {
    return { ms: performance.now() - t0, err };
  }
}

describe('EtcdStore: endpoints and deadlines', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let n = 0;
  const key = () => `/pgha-endpoints-${process.pid}/k${++n}`;

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.destroy();
  });

  it('an unreachable etcd fails every kind of call with DcsUnavailableError, quickly and within the deadline', async () => {
    const deadlineMs = 1500;
    const dead = new EtcdStore({ hosts: [`127.0.0.1:${await freePort()}`], deadlineMs });
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => dead.get('/x')],
        ['put', () => dead.put('/x', 'v')],
        ['createIfAbsent', () => dead.createIfAbsent('/x', 'v')],
        ['reattachOrCreate', () => dead.reattachOrCreate('/x', 'v', '1')],
        ['grantLease', () => dead.grantLease(5)],
        ['keepAlive', () => dead.keepAlive('1')],
        ['revokeLease', () => dead.revokeLease('1')],
      ];
      for (const [name, call] of calls) {
        const { ms, err } = await timed(call);
        assert.ok(err instanceof DcsUnavailableError, `${name}: ${String(err)}`);
        assert.equal(err.retryable, true);
        assert.ok(ms < deadlineMs + 1000, `${name} took ${ms} ms`);
      }
      let lost: { compacted: boolean } | undefined;
      const w = dead.watchPrefix('/x/', 1, { onEvents: () => undefined, onLost: (_r, compacted) => (lost = { compacted }) });
      await waitFor('the watch to be reported lost', () => lost, { timeoutMs: deadlineMs + 2000, intervalMs: 20 });
      assert.equal(lost?.compacted, false);
      w.close();
    } finally {
      await dead.close();
    }
  });

  it('a frozen etcd (SIGSTOP) fails calls with DcsUnavailableError at the deadline, never hangs', async () => {
    const deadlineMs = 1500;
    const store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs });
    try {
      await store.put(key(), 'warm'); // an established connection, as in production
      await etcd.freeze();
      try {
        for (const call of [() => store.get('/x'), () => store.createIfAbsent(key(), 'v'), () => store.keepAlive('1')]) {
          const { ms, err } = await timed(call);
          assert.ok(err instanceof DcsUnavailableError, String(err));
          assert.ok(ms >= deadlineMs - 100 && ms < deadlineMs + 1000, `took ${ms} ms`);
        }
      } finally {
        etcd.thaw();
      }
      await waitFor('etcd to answer again', () => store.get('/x').then(() => true), { timeoutMs: 20_000 });
    } finally {
      await store.close();
    }
  });

  it('with the first endpoint down, every call (CAS, lease, watch) goes to the next one within the deadline', async () => {
    const two = new EtcdStore({ hosts: [`127.0.0.1:${await freePort()}`, etcd.endpoint], deadlineMs: 5000 });
    try {
      for (let i = 0; i < 3; i++) {
        const k = key();
        const { ms, err } = await timed(async () => {
          assert.equal(await two.createIfAbsent(k, 'v'), true);
          assert.equal((await two.get(k))?.value, 'v');
        });
        assert.equal(err, undefined);
        assert.ok(ms < 2000, `took ${ms} ms`);
      }
      const lease = await two.grantLease(10);
      assert.ok((await two.keepAlive(lease)) > 0);
      const prefix = `${key()}/`;
      const rec = record(two, prefix, (await two.readPrefix(prefix)).revision + 1);
      await two.put(`${prefix}a`, '1', lease);
      await waitFor('the event through the second endpoint', () => rec.events.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
      rec.watch.close();
      await two.revokeLease(lease);
    } finally {
      await two.close();
    }
  });

  it('closing the store ends its watches without onLost, and later calls fail with DcsUnavailableError', async () => {
    const store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    const rec = record(store, '/pgha-close/', 0);
    await store.put('/pgha-close/a', '1');
    await waitFor('the watch to work', () => rec.events.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
    await store.close();
    await assert.rejects(store.get('/x'), DcsUnavailableError);
    assert.equal(rec.lost, undefined);
  });
});

describe('EtcdStore: username/password authentication', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  const ctl = (...args: string[]) => run('etcdctl', ['--endpoints', etcd.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });

  before(async () => {
    etcd = await startEtcd();
    await ctl('user', 'add', 'root:s3cret');
    await ctl('auth', 'enable');
  });
  after(async () => {
    await etcd?.destroy();
  });

  it('works with the right password, and refuses without or with a wrong one', async () => {
    const good = new EtcdStore({ hosts: [etcd.endpoint], username: 'root', password: 's3cret', deadlineMs: 5000 });
    const wrong = new EtcdStore({ hosts: [etcd.endpoint], username: 'root', password: 'nope', deadlineMs: 5000 });
    const anonymous = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    try {
      const lease = await good.grantLease(10);
      assert.equal(await good.createIfAbsent('/auth/leader', 'me', lease), true);
      assert.ok((await good.keepAlive(lease)) > 0);
      const rec = record(good, '/auth/', 1);
      await waitFor('the watch to replay the key', () => rec.events.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
      rec.watch.close();
      await assert.rejects(wrong.get('/auth/leader'), (err: unknown) => err instanceof DcsUnavailableError && /authentication failed/i.test(err.message));
      await assert.rejects(anonymous.get('/auth/leader'), DcsUnavailableError);
    } finally {
      await Promise.all([good.close(), wrong.close(), anonymous.close()]);
    }
  });
});

describe('EtcdStore: TLS with client certificates', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let certs: TestCerts;

  before(async () => {
    certs = makeTestCerts();
    etcd = await startEtcd({ tls: { ...certs, clientCertAuth: true } });
  });
  after(async () => {
    await etcd?.destroy();
    certs?.remove();
  });

  it('works with the CA and a client certificate; fails cleanly without the certificate or without TLS', async () => {
    const good = new EtcdStore({ hosts: [etcd.endpoint], cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey, deadlineMs: 5000 });
    const noClientCert = new EtcdStore({ hosts: [etcd.endpoint], cacert: certs.ca, deadlineMs: 2000 });
    const plain = new EtcdStore({ hosts: [etcd.endpoint], protocol: 'http', deadlineMs: 2000 });
    try {
      const lease = await good.grantLease(10);
      assert.equal(await good.createIfAbsent('/tls/leader', 'me', lease), true);
      assert.ok((await good.keepAlive(lease)) > 0);
      const rec = record(good, '/tls/', 1);
      await waitFor('the watch to replay the key', () => rec.events.length === 1, { timeoutMs: 10_000, intervalMs: 20 });
      rec.watch.close();
      for (const bad of [noClientCert, plain]) {
        const { ms, err } = await timed(() => bad.get('/tls/leader'));
        assert.ok(err instanceof DcsUnavailableError, String(err));
        assert.ok(ms < 2000 + 1000, `took ${ms} ms`);
      }
    } finally {
      await Promise.all([good.close(), noClientCert.close(), plain.close()]);
    }
  });
});
