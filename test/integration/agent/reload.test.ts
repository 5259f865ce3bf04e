/**
 * Reloading the YAML on a running agent (one node: real etcd, real postgres): SIGHUP applies a new pg_hba line (a
 * new user gets in), a tag (visible in the member key) and a reloadable parameter without restarting postgres; a
 * postmaster-only parameter shows pending_restart; a broken file is refused and the running configuration stays;
 * `POST /reload` answers the refusal; restapi.allowlist (with allowlist_include_members) and http_extra_headers
 * reloaded from the file guard the write endpoints of the live REST API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

const postmasterPid = (dataDir: string) => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

async function canConnect(port: number, user: string): Promise<boolean | string> {
  const client = new Client({ host: '127.0.0.1', port, user, password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (err) {
    return String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('reloading the YAML of a running agent', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let original = '';
  let pid = 0;
  const node = () => c.nodes[0]!;
  const api = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${node().apiPort}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
  const sighup = () => process.kill(c.agents[0]!.child.pid!, 'SIGHUP');
  const tags = async () => (await c.view()).members.get(node().name)?.doc.tags;
  /** The generated YAML with lines added under postgresql: and restapi:, and the tags line replaced. */
  const writeYaml = (o: { postgresql?: string; parameters?: string; restapi?: string; tags?: string; tail?: string; raw?: string }) => {
    let text = original;
    if (o.parameters) text = text.replace(/^  parameters:\n/m, `  parameters:\n${o.parameters}`);
    if (o.postgresql) text = text.replace(/^postgresql:\n/m, `postgresql:\n${o.postgresql}`);
    if (o.restapi) text = text.replace(/^restapi:\n/m, `restapi:\n${o.restapi}`);
    if (o.tags) text = text.replace(/^tags: .*$/m, `tags: ${o.tags}`);
    if (o.tail) text = `${text}\n${o.tail}`;
    writeFileSync(node().configFile, o.raw ?? text);
  };
  const logText = () => readFileSync(node().logFile, 'utf8');

  before(async () => {
    c = await startTestCluster({ nodes: 1, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 } });
    await c.waitHealthy(180_000);
    original = readFileSync(node().configFile, 'utf8');
    await sql(node().pgPort, `create role newcomer login password '${PASSWORD.replace(/'/g, "''")}'`);
    pid = postmasterPid(node().dataDir);
  });
  after(async () => {
    if (c) await c.close();
  });

  it('SIGHUP: a narrower pg_hba shuts the new user out, a new line lets it in, a tag shows; postgres is not restarted', async () => {
    assert.equal(await canConnect(node().pgPort, 'newcomer'), true, 'the bootstrap pg_hba lets every user in');
    const hba = (extra: string) => `  pg_hba:\n  - host replication rep 127.0.0.1/32 md5\n  - host all admin 127.0.0.1/32 md5\n${extra}`;
    writeYaml({ postgresql: hba('') });
    sighup();
    await waitFor('the new user is refused', async () => {
      const r = await canConnect(node().pgPort, 'newcomer');
      return r !== true && /no pg_hba.conf entry/.test(String(r));
    }, { timeoutMs: 60_000, intervalMs: 300 });

    writeYaml({ postgresql: hba('  - host all newcomer 127.0.0.1/32 md5\n'), parameters: '    work_mem: 7MB\n', tags: '{"nofailover": true}' });
    sighup();
    await waitFor('the new user gets in', async () => (await canConnect(node().pgPort, 'newcomer')) === true, { timeoutMs: 60_000, intervalMs: 300 });
    await waitFor('nofailover in the member key', async () => (await tags())?.nofailover === true, { timeoutMs: 60_000, intervalMs: 300 });
    const [row] = await sql<{ work_mem: string }>(node().pgPort, 'show work_mem');
    assert.equal(row!.work_mem, '7MB');
    const patroni = (await (await api('/patroni')).json()) as { tags?: Record<string, unknown>; pending_restart?: boolean };
    assert.equal(patroni.tags?.nofailover, true);
    assert.equal(patroni.pending_restart, undefined);
    assert.equal(postmasterPid(node().dataDir), pid, 'postgres kept running');
    assert.match(logText(), /"msg":"configuration reloaded"/);
  });

  it('two SIGHUPs in a row: the second file reaches postgres too; log.level is applied', async () => {
    const before = logText().length;
    writeYaml({ parameters: '    work_mem: 9MB\n', tags: '{"nofailover": true}' });
    sighup();
    writeYaml({ parameters: '    work_mem: 10MB\n', tags: '{"nofailover": true}', tail: 'log:\n  level: DEBUG\n' });
    sighup();
    await waitFor('work_mem 10MB', async () => (await sql<{ work_mem: string }>(node().pgPort, 'show work_mem'))[0]?.work_mem === '10MB', { timeoutMs: 60_000, intervalMs: 300 });
    // Writing postgresql.conf notes the adjusted wal_keep_segments of the generated YAML at debug level.
    await waitFor('a debug line', () => logText().slice(before).includes('"level":"debug"'), { timeoutMs: 60_000, intervalMs: 300 });
    assert.equal(postmasterPid(node().dataDir), pid);
  });

  // max_connections would not do: like Patroni, pgha takes it (and the other command-line parameters) from etcd only.
  it('a parameter only a restart applies is written and shows pending_restart', async () => {
    writeYaml({ parameters: '    shared_buffers: 24MB\n', tags: '{"nofailover": true}' });
    const res = await api('/reload', { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    await waitFor('pending_restart in the member key', async () => (await c.view()).members.get(node().name)?.doc.pending_restart === true, { timeoutMs: 60_000, intervalMs: 300 });
    assert.equal(postmasterPid(node().dataDir), pid, 'postgres kept running');
  });

  it('a broken file is refused with the field and the fix; the running configuration stays', async () => {
    const before = logText().length;
    writeYaml({ raw: `${original}\ntags: {nofailover: [\n` });
    sighup();
    await waitFor('the refusal in the log', () => /"msg":"configuration reload refused"/.test(logText().slice(before)), { timeoutMs: 60_000, intervalMs: 300 });

    writeYaml({ raw: original.replace(/^tags: .*$/m, 'tags: {"nofailover": false}\nlog:\n  level: LOUD') });
    const res = await api('/reload', { method: 'POST' });
    const body = await res.text();
    assert.equal(res.status, 400, body);
    assert.match(body, /reload refused, the running configuration is kept: .*log\.level: got "LOUD".*set log\.level: INFO/);

    assert.equal((await api('/patroni')).status, 200, 'the agent still serves');
    assert.equal((await tags())?.nofailover, true, 'the tag of the last good file stays');
    assert.equal(postmasterPid(node().dataDir), pid);
  });

  it('restapi.allowlist and http_extra_headers, reloaded: writes from outside the list get 403, reads and headers go on', async () => {
    writeYaml({ restapi: '  allowlist: [10.9.9.9]\n  http_extra_headers: {X-Frame-Options: SAMEORIGIN}\n' });
    sighup();
    await waitFor('the extra header on a GET', async () => (await api('/patroni')).headers.get('x-frame-options') === 'SAMEORIGIN', { timeoutMs: 60_000, intervalMs: 300 });
    const refused = await api('/reload', { method: 'POST' });
    assert.equal(refused.status, 403);
    assert.equal(await refused.text(), 'Access is denied');
    assert.equal(refused.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal((await api('/health')).status, 200, 'reads are never filtered');

    // allowlist_include_members: this member's REST address (127.0.0.1) comes from etcd and is let in.
    writeYaml({ restapi: '  allowlist: [10.9.9.9]\n  allowlist_include_members: true\n' });
    sighup();
    await waitFor('writes from a member address are allowed', async () => (await api('/reload', { method: 'POST' })).status === 202, { timeoutMs: 60_000, intervalMs: 500 });
    assert.equal((await api('/patroni')).headers.get('x-frame-options'), null, 'the header is gone with the setting');

    writeYaml({ restapi: '  allowlist: [10.9.9.9]\n' });
    sighup();
    await waitFor('writes refused again', async () => (await api('/reload', { method: 'POST' })).status === 403, { timeoutMs: 60_000, intervalMs: 500 });
    writeYaml({ restapi: '  allowlist: [localhost]\n' });
    sighup();
    await waitFor('a host name in the list is resolved', async () => {
      const r = await api('/reload', { method: 'POST' });
      return r.status === 202;
    }, { timeoutMs: 60_000, intervalMs: 500 });
  });
});
