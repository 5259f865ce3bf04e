/**
 * The router reaches an etcd that requires TLS client certificates, with the same settings as the agent's etcd3
 * section (cacert, cert, key); without a client certificate, that etcd refuses it and the router sees nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/logger';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../../../src/model/keys';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../../src/router/index';
import { makeTestCerts, type TestCerts } from '../../support/etcd-tls';
import { startEtcd, type EtcdServer } from '../../support/etcd';
import { waitFor } from '../../support/wait';

describe('router on an etcd with TLS client certificates', { timeout: 120_000 }, () => {
  let certs: TestCerts;
  let etcd: EtcdServer;
  let store: EtcdStore;
  const routers: RunningRouter[] = [];
  const keys = clusterKeys('/service', 'tlsrouter');

  before(async () => {
    certs = makeTestCerts();
    etcd = await startEtcd({ tls: { ...certs, clientCertAuth: true } });
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000, cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    await store.put(keys.member('node1'), JSON.stringify({ conn_url: 'postgres://127.0.0.1:1/postgres', api_url: 'http://127.0.0.1:1/patroni', state: 'running', role: 'master' }));
  });
  after(async () => {
    for (const r of routers) await r.stop().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await etcd?.destroy();
    certs?.remove();
  });

  const start = async (etcdSection: Record<string, unknown>): Promise<RunningRouter> => {
    const r = await startRouter(loadRouterConfig({
      scope: 'tlsrouter', etcd: { hosts: [etcd.endpoint], deadline: '1s', ...etcdSection },
      listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0' }],
    }, 'tls test'), { logger: silentLogger() });
    routers.push(r);
    return r;
  };

  it('with cacert, cert and key it reads the members', async () => {
    const r = await start({ cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    await waitFor('the router to see node1 through TLS', () => r.table().members.some((m) => m.member === 'node1'), { timeoutMs: 30_000, intervalMs: 100 });
  });

  it('without a client certificate it sees nothing (and keeps running)', async () => {
    const r = await start({ cacert: certs.ca });
    const withCert = await start({ cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    // The router with a certificate sees the member; by then the one without has tried as long and sees none.
    await waitFor('the router with a certificate to see node1', () => withCert.table().members.some((m) => m.member === 'node1'), { timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(r.table().members.length, 0);
  });
});
