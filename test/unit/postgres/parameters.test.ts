import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveParameters, parseSizeMb, socketDirInsideDataDir, type ServerContext } from '../../../src/postgres/parameters';

const ctx: ServerContext = { listenAddresses: '0.0.0.0', port: 5432, scope: 'pgcluster' };

describe('effectiveParameters: merge', () => {
  it('merges dynamic and local, local winning key by key', () => {
    const { parameters } = effectiveParameters(
      { work_mem: '8MB', unix_socket_directories: '.' },
      { work_mem: '4MB', shared_buffers: '128MB' },
      ctx,
    );
    assert.equal(parameters.work_mem, '8MB');
    assert.equal(parameters.shared_buffers, '128MB');
    assert.equal(parameters.unix_socket_directories, '.');
  });

  it('lower-cases names and renders booleans as on/off, numbers as text', () => {
    const { parameters } = effectiveParameters({ Log_Connections: true, jit: false }, { work_mem: 4096 }, ctx);
    assert.equal(parameters.log_connections, 'on');
    assert.equal(parameters.jit, 'off');
    assert.equal(parameters.work_mem, '4096');
  });

  it('refuses a name that could inject lines into postgresql.conf', () => {
    assert.throws(() => effectiveParameters({ "x = 'y'\nfsync": 'off' }, {}, ctx), /not a parameter name/);
  });

  it('keeps extension placeholders and drops names the server does not know', () => {
    const known = new Set(['work_mem', 'shared_buffers']);
    const result = effectiveParameters({ work_mem: '1MB', checkpoint_segments: 3, 'pg_stat_statements.max': 100 }, {}, { ...ctx, knownParameters: known });
    assert.equal(result.parameters.checkpoint_segments, undefined);
    assert.equal(result.parameters['pg_stat_statements.max'], '100');
    assert.deepEqual(result.notes.filter((n) => n.kind === 'unknown-dropped').map((n) => n.name), ['checkpoint_segments']);
  });
});

describe('effectiveParameters: protected command-line GUCs', () => {
  it("applies Patroni's defaults when nothing is set", () => {
    const { commandLine, notes } = effectiveParameters({}, {}, ctx);
    assert.deepEqual(commandLine, {
      max_connections: '100', max_wal_senders: '10', max_replication_slots: '10', max_worker_processes: '8',
      max_locks_per_transaction: '64', max_prepared_transactions: '0', hot_standby: 'on', wal_log_hints: 'on',
      track_commit_timestamp: 'off', wal_level: 'replica', wal_keep_size: '128MB', listen_addresses: '0.0.0.0',
      port: '5432', cluster_name: 'pgcluster',
    });
    assert.deepEqual(notes, []);
  });

  it('takes them from the dynamic config and ignores local values, with a note', () => {
    const result = effectiveParameters({ max_connections: 500, wal_level: 'logical' }, { max_connections: '200' }, ctx);
    assert.equal(result.parameters.max_connections, '200');
    assert.equal(result.parameters.wal_level, 'replica');
    assert.deepEqual(result.notes.map((n) => [n.name, n.kind]), [
      ['max_connections', 'ignored-local-protected'], ['wal_level', 'ignored-local-protected'],
    ]);
  });

  it('replaces values below the minimum by the default', () => {
    const result = effectiveParameters({}, { max_connections: 10, max_wal_senders: 2, max_replication_slots: 'lots', max_prepared_transactions: 5 }, ctx);
    assert.equal(result.commandLine.max_connections, '100');
    assert.equal(result.commandLine.max_wal_senders, '10');
    assert.equal(result.commandLine.max_replication_slots, '10');
    assert.equal(result.commandLine.max_prepared_transactions, '5');
    assert.deepEqual(result.notes.map((n) => `${n.name}:${n.given}->${n.used}`), [
      'max_connections:10->100', 'max_wal_senders:2->10', 'max_replication_slots:lots->10',
    ]);
  });

  it('maps wal_level hot_standby to replica, keeps logical, and forces hot_standby on', () => {
    assert.equal(effectiveParameters({}, { wal_level: 'hot_standby' }, ctx).commandLine.wal_level, 'replica');
    assert.equal(effectiveParameters({}, { wal_level: 'logical' }, ctx).commandLine.wal_level, 'logical');
    assert.equal(effectiveParameters({}, { wal_level: 'minimal' }, ctx).commandLine.wal_level, 'replica');
    assert.equal(effectiveParameters({}, { hot_standby: 'off' }, ctx).commandLine.hot_standby, 'on');
  });

  it('lets the dynamic config turn wal_log_hints off and track_commit_timestamp on', () => {
    const { commandLine } = effectiveParameters({}, { wal_log_hints: false, track_commit_timestamp: 'true' }, ctx);
    assert.equal(commandLine.wal_log_hints, 'off');
    assert.equal(commandLine.track_commit_timestamp, 'on');
  });

  it('always takes listen_addresses, port and cluster_name from the context', () => {
    const { commandLine } = effectiveParameters({ port: 1 }, { port: 2, listen_addresses: '*', cluster_name: 'x' }, ctx);
    assert.equal(commandLine.port, '5432');
    assert.equal(commandLine.listen_addresses, '0.0.0.0');
    assert.equal(commandLine.cluster_name, 'pgcluster');
  });
});

describe('effectiveParameters: wal_keep_segments / wal_keep_size', () => {
  it('converts a dynamic wal_keep_segments to wal_keep_size and never passes the old name to PG15', () => {
    const result = effectiveParameters({}, { wal_keep_segments: 4 }, ctx);
    assert.equal(result.parameters.wal_keep_size, '64MB');
    assert.equal(result.parameters.wal_keep_segments, undefined);
    assert.deepEqual(result.notes, [{ name: 'wal_keep_segments', kind: 'converted', given: '4', used: 'wal_keep_size=64MB' }]);
  });

  it('treats "0" segments as invalid (minimum 1) and uses the default 128MB', () => {
    const result = effectiveParameters({}, { wal_keep_segments: '0' }, ctx);
    assert.equal(result.parameters.wal_keep_size, '128MB');
    assert.equal(result.notes[0]?.kind, 'invalid-using-default');
  });

  it('prefers wal_keep_size, keeping units, and enforces its 16MB minimum', () => {
    assert.equal(effectiveParameters({}, { wal_keep_size: '1GB', wal_keep_segments: 4 }, ctx).parameters.wal_keep_size, '1GB');
    assert.equal(effectiveParameters({}, { wal_keep_size: 512 }, ctx).parameters.wal_keep_size, '512MB');
    assert.equal(effectiveParameters({}, { wal_keep_size: '8MB' }, ctx).parameters.wal_keep_size, '128MB');
  });

  it('parses sizes in MB', () => {
    assert.equal(parseSizeMb('128'), 128);
    assert.equal(parseSizeMb('2GB'), 2048);
    assert.equal(parseSizeMb('1024kB'), 1);
    assert.equal(parseSizeMb('lots'), undefined);
  });
});

describe('effectiveParameters: the seed configuration', () => {
  it('ignores its local protected values (wal_keep_segments "0" included) and keeps the rest', () => {
    const local = {
      unix_socket_directories: '.', synchronous_commit: 'remote_write', synchronous_standby_names: '',
      max_wal_senders: '100', wal_keep_segments: '0', wal_level: 'logical', wal_log_hints: 'off',
    };
    const result = effectiveParameters(local, {}, { listenAddresses: '0.0.0.0', port: 5432, scope: 'pgcluster' });
    assert.equal(result.parameters.unix_socket_directories, '.');
    assert.equal(result.parameters.synchronous_commit, 'remote_write');
    assert.equal(result.parameters.synchronous_standby_names, '');
    assert.equal(result.parameters.max_wal_senders, '10');
    assert.equal(result.parameters.wal_level, 'replica');
    assert.equal(result.parameters.wal_log_hints, 'on');
    assert.equal(result.parameters.wal_keep_size, '128MB');
    assert.equal(result.parameters.wal_keep_segments, undefined);
    assert.deepEqual(result.notes.map((n) => n.name).sort(), ['max_wal_senders', 'unix_socket_directories', 'wal_keep_segments', 'wal_level', 'wal_log_hints']);
  });

  it("warns that its socket dir '.' breaks pg_rewind from this server", () => {
    const result = effectiveParameters({ unix_socket_directories: '.' }, {}, ctx);
    assert.deepEqual(result.notes, [{ name: 'unix_socket_directories', kind: 'breaks-pg-rewind', given: '.' }]);
  });
});

describe('socket directories inside the data dir', () => {
  it('counts relative entries and absolute ones under the data dir', () => {
    assert.ok(socketDirInsideDataDir('.'));
    assert.ok(socketDirInsideDataDir('/run/pg, sock'));
    assert.ok(socketDirInsideDataDir('/d/data/', '/d/data'));
    assert.ok(socketDirInsideDataDir('/d/data/run', '/d/data/'));
    assert.ok(!socketDirInsideDataDir('/d/data2', '/d/data'));
    assert.ok(!socketDirInsideDataDir('/var/run/postgresql', '/d/data'));
    assert.ok(!socketDirInsideDataDir('', '/d/data'));
  });
});
