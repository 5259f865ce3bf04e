import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/lib/errors';
import { checkBinaries, findBinDir } from '../../../src/postgres/bin';
import { firstSocketDirectory, localSuperuserConnection, localTarget, loopbackFor } from '../../../src/postgres/local-connection';
import { basebackupArgsProblems, defaultAuthArgs, initdbArgsProblems, sourceDsn } from '../../../src/postgres/pgctl';
import { parsePostmasterPid } from '../../../src/postgres/postmaster';
import { parseConninfo } from '../../../src/postgres/conninfo';
import { tail } from '../../../src/postgres/tool';

describe('tool arguments', () => {
  it('refuses initdb options pgha sets or Patroni refuses', () => {
    assert.deepEqual(initdbArgsProblems(['--encoding=UTF8', '--data-checksums']), []);
    assert.equal(initdbArgsProblems(['--pgdata=/x', '-D', '--nosync', '--pwfile=/p', '--username=x', '--version']).length, 6);
  });

  it('passes initdb auth options on as Patroni does, and fills in only the methods not given', () => {
    assert.deepEqual(initdbArgsProblems(['--auth=trust', '--auth-host=scram-sha-256', '--auth-local=peer']), []);
    assert.deepEqual(defaultAuthArgs(['--encoding=UTF8'], true), ['--auth-local=md5', '--auth-host=md5']);
    assert.deepEqual(defaultAuthArgs([], false), ['--auth-local=peer', '--auth-host=md5']);
    assert.deepEqual(defaultAuthArgs(['--auth-host=scram-sha-256'], true), ['--auth-local=md5']);
    assert.deepEqual(defaultAuthArgs(['--auth-local=trust'], true), ['--auth-host=md5']);
    assert.deepEqual(defaultAuthArgs(['--auth=scram-sha-256'], true), []);
  });

  it('refuses basebackup options that would break the clone', () => {
    assert.deepEqual(basebackupArgsProblems(['--max-rate=100M', '--slot=n2', '--compress=server-gzip']), []);
    assert.equal(basebackupArgsProblems(['--format=tar', '--wal-method=fetch', '--compress=gzip', '--host=x']).length, 4);
  });

  it('builds a source DSN without a password', () => {
    const dsn = sourceDsn({ host: '127.0.0.1', port: 5432, user: 'rep', sslmode: 'require' });
    assert.deepEqual(parseConninfo(dsn), { dbname: 'postgres', user: 'rep', host: '127.0.0.1', port: '5432', sslmode: 'require' });
  });

  it('keeps the last lines of tool output for errors', () => {
    assert.equal(tail('a\n\nb\r\nc\n', 2), 'b\nc');
  });

  it('quotes only the last progress line of a failed tool', () => {
    const out = '10/100 kB (10%) copied\n50/100 kB (50%) copied\npg_rewind: error: could not fetch\n60/100 kB (60%) copied\n';
    assert.equal(tail(out, 15, (l) => l.includes('copied')), 'pg_rewind: error: could not fetch\n60/100 kB (60%) copied');
  });
});

describe('postmaster.pid', () => {
  it('parses the lines postgres writes', () => {
    const text = '4242\n/var/lib/pg/data\n1724874000\n5432\n/var/run/postgresql\n127.0.0.1\n  1234567     98304\nready   \n';
    assert.deepEqual(parsePostmasterPid(text), {
      pid: 4242, dataDir: '/var/lib/pg/data', startTime: 1724874000, port: 5432, socketDir: '/var/run/postgresql', listenAddress: '127.0.0.1', status: 'ready',
    });
    assert.equal(parsePostmasterPid(''), undefined);
  });
});

describe('local connection', () => {
  it("resolves the seed's relative socket dir '.' to the data dir", () => {
    assert.equal(firstSocketDirectory('.', '/var/lib/pgsql/data'), '/var/lib/pgsql/data');
    assert.equal(firstSocketDirectory('"sock", /tmp', '/d'), '/d/sock');
    assert.equal(firstSocketDirectory('@abstract, /run/pg', '/d'), '/run/pg');
    assert.equal(firstSocketDirectory('', '/d'), undefined);
    assert.equal(firstSocketDirectory(undefined, '/d'), undefined);
  });

  it('falls back to TCP on the first listen address, wildcards mapped to loopback', () => {
    assert.equal(loopbackFor('0.0.0.0'), '127.0.0.1');
    assert.equal(loopbackFor('*'), '127.0.0.1');
    assert.equal(loopbackFor('::'), '::1');
    assert.equal(loopbackFor('10.0.0.5'), '10.0.0.5');
    assert.deepEqual(localTarget({ dataDir: '/d', listenHosts: ['0.0.0.0'], port: 5432 }), { host: '127.0.0.1', port: 5432, via: 'tcp' });
    assert.deepEqual(localTarget({ dataDir: '/d', listenHosts: ['0.0.0.0'], port: 5432, unixSocketDirectories: '.', preferSocket: false }).via, 'tcp');
  });

  it('builds the superuser connection with its password', () => {
    const conn = localSuperuserConnection(
      { dataDir: '/d', listen: { hosts: ['0.0.0.0'], port: 5433 }, database: 'postgres', authentication: { superuser: { username: 'admin', password: 'test%123' }, replication: { username: 'rep' } } },
      { unix_socket_directories: '.' },
    );
    assert.deepEqual(conn, { host: '/d', port: 5433, user: 'admin', password: 'test%123', database: 'postgres' });
  });
});

describe('bin dir', () => {
  it('finds the newest installed PostgreSQL when not configured', () => {
    const dir = findBinDir();
    assert.deepEqual(checkBinaries(dir), []);
  });

  it('names postgresql.bin_dir when the configured dir has no pg_ctl', () => {
    assert.throws(() => findBinDir('/nonexistent/bin'), (err: unknown) => err instanceof ConfigError && err.field === 'postgresql.bin_dir');
  });

  it('lists missing tools', () => {
    assert.deepEqual(checkBinaries('/nonexistent', ['pg_ctl', 'initdb']), ['pg_ctl', 'initdb']);
  });
});
