import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadRouterConfig } from '../../../src/config/router';
import { formatHostPort } from '../../../src/config/address';
import { ConfigError } from '../../../src/lib/errors';
import { parseEdited } from './helpers';

type Doc = Record<string, unknown>;

/** The agent reads `sections` as its DCS configuration (the rest of its file minimal). */
const agentEtcd = (sections: Doc) =>
  parseEdited((d) => {
    delete d.etcd3;
    Object.assign(d, sections);
  }).etcd;

/** The router reads the same `sections` in router.yml. */
const routerEtcd = (sections: Doc) => loadRouterConfig({ scope: 'pgcluster', ...sections }, 'router.yml').etcd;

/** What both must agree on: the endpoints, the credentials, TLS files and whether TLS is on. */
function agentView(sections: Doc) {
  const e = agentEtcd(sections);
  return { hosts: e.hosts.map(formatHostPort), username: e.username, password: e.password, cacert: e.cacert, cert: e.cert, key: e.key, tls: e.protocol === 'https' };
}
function routerView(sections: Doc) {
  const e = routerEtcd(sections);
  return { hosts: e.hosts, username: e.username, password: e.password, cacert: e.cacert, cert: e.cert, key: e.key, tls: e.protocol === 'https' };
}

/** The refusal's field (both wrap or word it their own way; the field is what an operator looks for). */
function refusedField(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.field;
  }
  assert.fail('accepted');
}

describe('the router reads every etcd section the agent reads, the same way', () => {
  const accepted: Array<[string, Doc]> = [
    ['etcd3: hosts as a list', { etcd3: { hosts: ['10.0.0.1:2379', '10.0.0.2:2380'] } }],
    ['etcd: (v2 in Patroni, v3 here) hosts as a string with spaces and a default port', { etcd: { hosts: 'ty-db1:2379, ty-db2:2379, ty-db3' } }],
    ['hosts with a trailing comma', { etcd3: { hosts: 'h1:2379,h2:2379,' } }],
    ['host with port: the default port for hosts without one', { etcd3: { hosts: ['a:1', 'b'], port: 2479 } }],
    ['a single host', { etcd3: { host: '10.0.0.1' } }],
    ['IPv6 hosts', { etcd3: { hosts: '[::1]:2379,[fe80::1]' } }],
    ['url with credentials and https', { etcd3: { url: 'https://user:p%40ss@etcd.local:2381' } }],
    ['proxy over url over hosts (Patroni precedence)', { etcd3: { proxy: 'http://proxy:2379', url: 'http://u:2379', hosts: 'h:2379' } }],
    ['hosts given as URLs', { etcd3: { hosts: ['http://10.0.0.1:2379', 'https://10.0.0.2:2379'] } }],
    ['username and password (numbers as YAML reads them)', { etcd3: { hosts: 'h:2379', username: 'root', password: 123456 } }],
    ['TLS: protocol https with CA, client certificate and key', { etcd3: { hosts: 'h:2379', protocol: 'https', cacert: '/ca.pem', cert: '/c.pem', key: '/c.key' } }],
    ['protocol in capitals', { etcd3: { hosts: 'h:2379', protocol: 'HTTPS' } }],
  ];
  for (const [name, sections] of accepted) {
    test(`${name}: same endpoints, credentials and TLS`, () => {
      assert.deepEqual(routerView(sections), agentView(sections));
    });
  }

  const refused: Array<[string, Doc, string]> = [
    ['both etcd: and etcd3:', { etcd: { hosts: 'a:1' }, etcd3: { hosts: 'b:1' } }, 'etcd3'],
    ['DNS SRV discovery', { etcd3: { srv: 'etcd.example' } }, 'etcd3.srv'],
    ['no endpoint', { etcd3: { protocol: 'http' } }, 'etcd3'],
    ['a username without its password', { etcd3: { hosts: 'h:1', username: 'u' } }, 'etcd3.password'],
    ['a certificate without its key', { etcd3: { hosts: 'h:1', cert: '/c.pem' } }, 'etcd3.key'],
    ['a protocol that is not http(s)', { etcd3: { hosts: 'h:1', protocol: 'grpc' } }, 'etcd3.protocol'],
    ['an endpoint with no host', { etcd3: { hosts: 'h1:2379,,h2:2379' } }, 'etcd3.hosts[1]'],
    ['a port that is not a number', { etcd3: { hosts: 'h1:x' } }, 'etcd3.hosts'],
    ['an unknown key', { etcd3: { hosts: 'h:1', hsots: 'x' } }, 'etcd3.hsots'],
  ];
  for (const [name, sections, field] of refused) {
    test(`${name}: both refuse, naming ${field}`, () => {
      assert.equal(refusedField(() => agentEtcd(sections)), field, 'agent');
      assert.equal(refusedField(() => routerEtcd(sections)), field, 'router');
    });
  }

  test('the router keeps its own rules: cacert alone turns TLS on, and its per-call deadline', () => {
    assert.equal(routerEtcd({ etcd3: { hosts: 'h:1', cacert: '/ca.pem' } }).protocol, 'https');
    assert.equal(agentEtcd({ etcd3: { hosts: 'h:1', cacert: '/ca.pem' } }).protocol, 'http', 'the agent: protocol alone decides (with a warning)');
    assert.equal(routerEtcd({ etcd3: { hosts: 'h:1', deadline: '2s' } }).deadlineMs, 2000);
    assert.equal(refusedField(() => routerEtcd({ etcd3: { hosts: 'h:1', deadline: '10ms' } })), 'etcd3.deadline');
  });

  test('settings accepted but unused are warnings the router logs', () => {
    const c = loadRouterConfig({ scope: 's', etcd3: { url: 'http://u:2379', hosts: 'h:2379' } }, 'router.yml');
    assert.deepEqual(c.etcd.hosts, ['u:2379']);
    assert.match(c.warnings?.join('\n') ?? '', /url and hosts are all set; etcd3\.url is used/);
    assert.equal(loadRouterConfig({ scope: 's', etcd3: { hosts: 'h:2379' } }, 'router.yml').warnings, undefined);
  });
});
