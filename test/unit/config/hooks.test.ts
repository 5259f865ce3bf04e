import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertConfigError, parseEdited, section } from './helpers';

type Doc = Record<string, unknown>;
const pg = (doc: Doc): Doc => section(doc, 'postgresql');

test('postgresql.callbacks, pre_promote and before_stop are read as Patroni writes them', () => {
  const config = parseEdited((d) => {
    pg(d).callbacks = { on_role_change: '/usr/local/bin/vip.sh --dev eth0', on_start: '/bin/cb', on_stop: '' };
    pg(d).pre_promote = '/bin/fence "my cluster"';
    pg(d).before_stop = '/bin/drain';
  });
  assert.deepEqual(config.postgresql.hooks, {
    callbacks: { on_role_change: '/usr/local/bin/vip.sh --dev eth0', on_start: '/bin/cb' },
    prePromote: '/bin/fence "my cluster"',
    beforeStop: '/bin/drain',
  });
});

test('no hooks: none in the config', () => {
  assert.equal(parseEdited(() => undefined).postgresql.hooks, undefined);
});

test('a callback name Patroni does not know is ignored with a warning', () => {
  const config = parseEdited((d) => { pg(d).callbacks = { on_promote: '/bin/cb' }; });
  assert.equal(config.postgresql.hooks, undefined);
  assert.ok(config.warnings?.some((w) => w.includes('postgresql.callbacks.on_promote is not a Patroni callback')));
});

test('a command that cannot be split (an open quote) is refused at start', () => {
  assertConfigError(() => parseEdited((d) => { pg(d).pre_promote = '/bin/fence "open'; }), 'postgresql.pre_promote', ['No closing quotation']);
  assertConfigError(() => parseEdited((d) => { pg(d).callbacks = { on_start: "/bin/cb 'x" }; }), 'postgresql.callbacks.on_start', ['No closing quotation']);
});
