import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hbaRole, quoteConfValue, renderPgHba, renderPostgresqlConf, renderRecoverySettings } from '../../../src/postgres/config-files';
import { parseConninfo, primaryConninfo } from '../../../src/postgres/conninfo';

/** Reads a postgresql.conf string literal back as PostgreSQL's DeescapeQuotedString would. */
function unquoteConf(literal: string): string {
  assert.match(literal, /^'.*'$/s);
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === "'" && body[i + 1] === "'") {
      out += "'";
      i++;
    } else if (ch === '\\') {
      const next = body[++i]!;
      out += { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' }[next] ?? next;
    } else {
      out += ch;
    }
  }
  return out;
}

function confValue(conf: string, name: string): string | undefined {
  const line = conf.split('\n').find((l) => l.startsWith(`${name} = `));
  return line === undefined ? undefined : unquoteConf(line.slice(name.length + 3));
}

describe('postgresql.conf values', () => {
  it('quotes every value, doubling quotes and escaping backslashes and line breaks', () => {
    assert.equal(quoteConfValue('test%123'), "'test%123'");
    assert.equal(quoteConfValue("it's"), "'it''s'");
    assert.equal(quoteConfValue('C:\\dir'), "'C:\\\\dir'");
    assert.equal(quoteConfValue('a\nb'), "'a\\nb'");
    assert.equal(quoteConfValue(true), "'on'");
    assert.equal(quoteConfValue(100), "'100'");
  });

  it('round-trips awkward values', () => {
    for (const v of ["it's", 'back\\slash', 'with space', "'\\'", '', 'multi\nline']) assert.equal(unquoteConf(quoteConfValue(v)), v);
  });
});

describe('renderPostgresqlConf', () => {
  it('includes postgresql.base.conf first, then parameters sorted, hba_file/ident_file last', () => {
    const conf = renderPostgresqlConf({ work_mem: '4MB', hba_file: '/etc/hba', archive_mode: 'on', max_connections: '100', ident_file: '/etc/ident' });
    const lines = conf.split('\n');
    assert.equal(lines[0], "include 'postgresql.base.conf'");
    const params = lines.filter((l) => / = /.test(l)).map((l) => l.split(' = ')[0]);
    assert.deepEqual(params, ['archive_mode', 'max_connections', 'work_mem', 'hba_file', 'ident_file']);
  });

  it('can include another file or none, and appends the recovery section', () => {
    assert.match(renderPostgresqlConf({}, { include: '/etc/custom.conf' }), /^include '\/etc\/custom.conf'\n/);
    assert.doesNotMatch(renderPostgresqlConf({}, { include: null }), /include/);
    const conf = renderPostgresqlConf({ port: '5432' }, { recovery: renderRecoverySettings({ primarySlotName: 'ty_db2' }) });
    assert.match(conf, /port = '5432'\n\n# recovery.conf\n/);
  });

  it('refuses a parameter name that is not an identifier', () => {
    assert.throws(() => renderPostgresqlConf({ 'a b': '1' }), /not a parameter name/);
  });
});

describe('renderRecoverySettings', () => {
  const conninfo = primaryConninfo({ host: '10.0.0.1', port: 5432, user: 'rep', password: "it's \\ test%123", applicationName: 'ty-db2' });

  it('writes PG12+ recovery settings with empty targets and the latest timeline', () => {
    const text = renderRecoverySettings({ primaryConninfo: conninfo, primarySlotName: 'ty_db2' });
    assert.equal(text.split('\n')[0], '# recovery.conf');
    for (const t of ['recovery_target', 'recovery_target_lsn', 'recovery_target_name', 'recovery_target_time', 'recovery_target_xid']) {
      assert.equal(confValue(text, t), '', t);
    }
    assert.equal(confValue(text, 'recovery_target_timeline'), 'latest');
    assert.equal(confValue(text, 'primary_slot_name'), 'ty_db2');
  });

  it('keeps a password with quotes and backslashes intact through conf and conninfo quoting', () => {
    const text = renderRecoverySettings({ primaryConninfo: conninfo });
    assert.equal(parseConninfo(confValue(text, 'primary_conninfo')!).password, "it's \\ test%123");
  });

  it('takes extras but never their recovery targets, conninfo or slot', () => {
    const text = renderRecoverySettings({
      extra: { restore_command: 'cp /arch/%f %p', recovery_target_time: '2020-01-01', primary_slot_name: 'x', Recovery_Min_Apply_Delay: '5s' },
    });
    assert.equal(confValue(text, 'restore_command'), 'cp /arch/%f %p');
    assert.equal(confValue(text, 'recovery_min_apply_delay'), '5s');
    assert.equal(confValue(text, 'recovery_target_time'), '');
    assert.equal(confValue(text, 'primary_slot_name'), undefined);
  });

  it('drops standby_mode (standby.signal says it on PG12+) and writes trigger_file as promote_trigger_file', () => {
    const text = renderRecoverySettings({ extra: { standby_mode: 'off', trigger_file: '/tmp/promote-me' } });
    assert.equal(confValue(text, 'standby_mode'), undefined);
    assert.equal(confValue(text, 'trigger_file'), undefined);
    assert.equal(confValue(text, 'promote_trigger_file'), '/tmp/promote-me');
    const both = renderRecoverySettings({ extra: { trigger_file: '/old', promote_trigger_file: '/new' } });
    assert.equal(confValue(both, 'promote_trigger_file'), '/new');
  });

  it('refuses an invalid slot name', () => {
    assert.throws(() => renderRecoverySettings({ primarySlotName: 'Bad-Name' }), /not a valid slot name/);
  });
});

describe('renderPgHba', () => {
  const seedLines = ['host replication rep 127.0.0.1/32 md5', 'host all all 0.0.0.0/0 md5'];
  const base = { userLines: seedLines, superuser: { username: 'admin', password: 'test%123' }, replication: { username: 'rep' } };

  it("puts the agent's and replication's access before the user's lines, never trust", () => {
    const lines = renderPgHba(base).split('\n').filter((l) => l && !l.startsWith('#'));
    const rows = lines.map((l) => l.split(/\s+/));
    assert.deepEqual(rows.slice(0, 6), [
      ['local', 'all', 'admin', 'md5'],
      ['host', 'all', 'admin', '127.0.0.1/32', 'md5'],
      ['host', 'all', 'admin', '::1/128', 'md5'],
      ['local', 'replication', 'rep', 'md5'],
      ['host', 'replication', 'rep', '127.0.0.1/32', 'md5'],
      ['host', 'replication', 'rep', '::1/128', 'md5'],
    ]);
    assert.deepEqual(lines.slice(-2), seedLines);
    assert.ok(!lines.some((l) => /\btrust\b/.test(l)));
  });

  it('uses peer on the socket when the superuser has no password', () => {
    const text = renderPgHba({ ...base, superuser: { username: 'postgres' } });
    assert.match(text, /^local +all +postgres +peer$/m);
  });

  it('adds member networks for replication and rewind, and a separate rewind user', () => {
    const text = renderPgHba({ ...base, rewind: { username: 'rewind_user' }, memberNetworks: ['10.0.0.0/24'] });
    assert.match(text, /^host +replication +rep +10\.0\.0\.0\/24 +md5$/m);
    assert.match(text, /^host +all +rewind_user +10\.0\.0\.0\/24 +md5$/m);
    assert.match(text, /^host +all +rewind_user +127\.0\.0\.1\/32 +md5$/m);
  });

  it('quotes role names that are keywords or not plain identifiers', () => {
    assert.equal(hbaRole('rep'), 'rep');
    assert.equal(hbaRole('all'), '"all"');
    assert.equal(hbaRole('Admin User'), '"Admin User"');
    assert.throws(() => hbaRole('a"b'), /cannot be written/);
  });

  it('refuses user lines with line breaks', () => {
    assert.throws(() => renderPgHba({ ...base, userLines: ['host all all 0.0.0.0/0 md5\nlocal all all trust'] }), /line break/);
  });
});
