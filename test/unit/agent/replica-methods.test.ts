import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import {
  customBootstrapArgv, patroniDsn, postBootstrapArgv, replicaMethodArgv, replicaMethodChain, restoreRecoveryPlan,
} from '../../../src/agent/replica-methods';
import type { ReplicaMethodConfig } from '../../../src/config/methods';
import { shlexSplit } from '../../../src/lib/shlex';
import { aCluster, anObservation, emptyDataDir } from '../../support/agent-builders';
import { assertConfigError, parseEdited, section } from '../config/helpers';

type Doc = Record<string, unknown>;
const pg = (d: Doc): Doc => section(d, 'postgresql');
const CTX = { scope: 'batman', dataDir: '/data/pg', connstring: 'dbname=postgres user=rep host=10.0.0.1 port=5432' };

function methodsOf(edit: (pgSection: Doc) => void): ReplicaMethodConfig[] {
  return parseEdited((d) => edit(pg(d))).postgresql.replicaMethods ?? [];
}

function commandMethod(methods: ReplicaMethodConfig[], name: string): Extract<ReplicaMethodConfig, { builtin: false }> {
  const m = methods.find((x) => x.name === name);
  assert.ok(m && !m.builtin, `${name} is a command method`);
  return m;
}

describe('replica methods: configuration', () => {
  it('defaults to basebackup, also for an empty list', () => {
    assert.deepEqual(methodsOf(() => undefined), [{ name: 'basebackup', builtin: true }]);
    assert.deepEqual(methodsOf((p) => { p.create_replica_methods = []; }), [{ name: 'basebackup', builtin: true }]);
  });

  it('reads a pgBackRest method as Patroni users write it, and the legacy singular key', () => {
    const methods = methodsOf((p) => {
      p.create_replica_methods = ['pgbackrest', 'basebackup'];
      p.pgbackrest = { command: '/usr/bin/pgbackrest --stanza=main --delta restore', keep_data: true, no_params: true };
    });
    assert.deepEqual(methods.map((m) => m.name), ['pgbackrest', 'basebackup']);
    const br = commandMethod(methods, 'pgbackrest');
    assert.equal(br.keepData, true);
    assert.equal(br.noParams, true);
    assert.equal(br.noLeader, false);
    const legacy = methodsOf((p) => { p.create_replica_method = ['wal_e']; p.wal_e = { command: 'restore.sh', no_master: 1 }; });
    assert.equal(commandMethod(legacy, 'wal_e').noLeader, true);
  });

  it('a method without a section runs its own name as the command', () => {
    assert.equal(commandMethod(methodsOf((p) => { p.create_replica_methods = ['my_clone']; }), 'my_clone').command, 'my_clone');
  });

  it('refuses a command that cannot be split and values that are lists', () => {
    assertConfigError(() => parseEdited((d) => { pg(d).create_replica_methods = ['x']; pg(d).x = { command: 'restore "--to' }; }), 'postgresql.x.command', ['No closing quotation']);
    assertConfigError(() => parseEdited((d) => { pg(d).create_replica_methods = ['x']; pg(d).x = { command: 'r', targets: ['a'] }; }), 'postgresql.x.targets', ['got a list']);
  });

  it('custom bootstrap: needs a command; its section is not an unknown key', () => {
    const config = parseEdited((d) => {
      d.bootstrap = { method: 'pitr', pitr: { command: 'pgbackrest --stanza=main restore', no_params: true, recovery_conf: { recovery_target_action: 'promote', recovery_target_time: '2026-12-07 09:00:00+00', restore_command: 'pgbackrest --stanza=main archive-get %f "%p"' } } };
    });
    assert.equal(config.bootstrap.custom?.name, 'pitr');
    assert.equal(config.bootstrap.custom?.noParams, true);
    assert.equal(config.bootstrap.custom?.recoveryConf?.recovery_target_action, 'promote');
    assert.ok(!(config.warnings ?? []).some((w) => w.includes('bootstrap.pitr')), 'no unknown-key warning');
    assertConfigError(() => parseEdited((d) => { d.bootstrap = { method: 'restore' }; }), 'bootstrap.restore.command', ['is missing']);
    assert.equal(parseEdited((d) => { d.bootstrap = { method: 'initdb' }; }).bootstrap.custom, undefined);
  });
});

describe('replica methods: command lines (Patroni 3.0.2 create_replica)', () => {
  it('passes scope, role, datadir and connstring after the section keys, which keep their order', () => {
    const m = commandMethod(methodsOf((p) => {
      p.create_replica_methods = ['wal_e', 'basebackup'];
      p.wal_e = { command: 'patroni_wale_restore --envdir "/etc/env dir"', threshold_megabytes: 10240, no_master: true, keep_data: false };
    }), 'wal_e');
    assert.deepEqual(replicaMethodArgv(m, CTX), [
      'patroni_wale_restore', '--envdir', '/etc/env dir', '--threshold_megabytes=10240', '--no_master=True', '--keep_data=False',
      '--scope=batman', '--role=replica', '--datadir=/data/pg', `--connstring=${CTX.connstring}`,
    ]);
  });

  it('no_params: only the section keys, without no_params, no_leader, no_master and keep_data', () => {
    const m = commandMethod(methodsOf((p) => {
      p.create_replica_methods = ['pgbackrest'];
      p.pgbackrest = { command: 'pgbackrest --stanza=main --delta restore', keep_data: true, no_params: true, no_leader: true, type: 'standby' };
    }), 'pgbackrest');
    assert.deepEqual(replicaMethodArgv(m, CTX), ['pgbackrest', '--stanza=main', '--delta', 'restore', '--type=standby']);
  });

  it('a section key named like one of pgha\'s takes pgha\'s value in its own place', () => {
    const m = commandMethod(methodsOf((p) => { p.create_replica_methods = ['x']; p.x = { command: 'x', datadir: '/elsewhere', a: 1 }; }), 'x');
    assert.deepEqual(replicaMethodArgv(m, CTX).slice(1, 3), ['--datadir=/data/pg', '--a=1']);
  });

  it('without a leader only no_leader methods remain; basebackup needs one', () => {
    const methods = methodsOf((p) => {
      p.create_replica_methods = ['pgbackrest', 'archive', 'basebackup'];
      p.pgbackrest = { command: 'pgbackrest restore' };
      p.archive = { command: 'restore-from-archive', no_leader: true };
    });
    assert.deepEqual(replicaMethodChain(methods, true).map((m) => m.name), ['pgbackrest', 'archive', 'basebackup']);
    assert.deepEqual(replicaMethodChain(methods, false).map((m) => m.name), ['archive']);
    assert.deepEqual(replicaMethodChain(undefined, false), []);
  });

  it('custom bootstrap and post_bootstrap arguments', () => {
    const custom = { name: 'clone', command: "/usr/local/bin/clone.sh --from 'db 1'", noParams: false, keepExistingRecoveryConf: false };
    assert.deepEqual(customBootstrapArgv(custom, CTX), ['/usr/local/bin/clone.sh', '--from', 'db 1', '--scope=batman', '--datadir=/data/pg']);
    assert.deepEqual(customBootstrapArgv({ ...custom, noParams: true }, CTX), ['/usr/local/bin/clone.sh', '--from', 'db 1']);
    assert.deepEqual(postBootstrapArgv('/bin/setup.sh -v', 'dbname=postgres user=postgres host=/run/pg port=5432'),
      ['/bin/setup.sh', '-v', 'dbname=postgres user=postgres host=/run/pg port=5432']);
  });

  it('DSNs in format_dsn order with Patroni\'s escaping', () => {
    assert.equal(patroniDsn({ port: 5433, host: '10.0.0.2', user: "o'neil", dbname: 'my db', sslmode: 'require' }),
      "dbname=my\\ db user=o\\'neil host=10.0.0.2 port=5433 sslmode=require");
  });

  it('shlex: quotes join words, backslashes escape, double quotes keep other backslashes', () => {
    assert.deepEqual(shlexSplit(`a "b c"d 'e \\f' g\\ h "i\\"j\\k"`), ['a', 'b cd', 'e \\f', 'g h', 'i"j\\k']);
    assert.deepEqual(shlexSplit(`x ''`), ['x', '']);
    assert.throws(() => shlexSplit('a "b'), /No closing quotation/);
  });
});

describe('custom bootstrap: recovery settings (Patroni write_recovery_conf, PG12+)', () => {
  const base = { name: 'pitr', command: 'restore', noParams: true, keepExistingRecoveryConf: false };

  it('recovery_conf goes to the recovery section with recovery.signal; promote at the target turns hot_standby off', () => {
    const plan = restoreRecoveryPlan({ ...base, recoveryConf: { recovery_target_action: 'promote', recovery_target_time: 'T', restore_command: 'get %f %p' } });
    assert.deepEqual(plan, { settings: { recovery_target_action: 'promote', recovery_target_time: 'T', restore_command: 'get %f %p' }, signal: 'recovery', hotStandbyOff: true, keepExisting: false });
  });

  it('standby_mode asks for standby.signal; pause_at_recovery_target false means promote', () => {
    const plan = restoreRecoveryPlan({ ...base, recoveryConf: { standby_mode: 'on', pause_at_recovery_target: 'false' } });
    assert.deepEqual(plan, { settings: { recovery_target_action: 'promote' }, signal: 'standby', hotStandbyOff: true, keepExisting: false });
  });

  it('without recovery_conf the signals go, unless the tool\'s own recovery configuration is kept', () => {
    assert.deepEqual(restoreRecoveryPlan(base), { settings: {}, signal: 'none', hotStandbyOff: false, keepExisting: false });
    assert.deepEqual(restoreRecoveryPlan({ ...base, keepExistingRecoveryConf: true }), { settings: {}, signal: 'none', hotStandbyOff: true, keepExisting: true });
  });
});

describe('decide: replicas without a leader (Patroni: no_leader methods)', () => {
  it('builds a replica with a no_leader method when the cluster has no leader', () => {
    const d = decide({ ...anObservation({ name: 'ty-db2', view: aCluster().initialized().build(), postgres: emptyDataDir() }), replicaWithoutLeader: true }, {});
    assert.deepEqual(d.actions, [{ type: 'create_replica' }]);
    assert.equal(d.reason, 'bootstrap (without leader): creating a replica with a method that needs no leader');
  });

  it('waits while another member bootstraps (initialize is empty)', () => {
    const d = decide({ ...anObservation({ name: 'ty-db2', view: aCluster().raw('initialize', '').build(), postgres: emptyDataDir() }), replicaWithoutLeader: true }, {});
    assert.deepEqual(d.actions, []);
  });

  it('without such a method it waits for a leader', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: aCluster().initialized().build(), postgres: emptyDataDir() }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'waiting for a leader to bootstrap or to clone from');
  });
});
