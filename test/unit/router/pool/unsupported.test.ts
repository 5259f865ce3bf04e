import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findUnsupported, statementWords } from '../../../../src/router/pool/unsupported';
import { decodeErrorResponse } from '../../../../src/router/wire';
import { FakeSession } from './fake-session';
import { Pooled, bind, execute, parse, query, sync } from './txn-harness';

const refused = (sql: string) => findUnsupported(sql)?.statement;

describe('transaction pooling: what cannot work is refused, named, with the fix', () => {
  it('refuses LISTEN, naming the pool mode and pointing to session mode', () => {
    const u = findUnsupported('LISTEN orders');
    assert.equal(u?.sqlstate, '0A000');
    assert.match(u!.message, /^LISTEN is not supported with pool_mode transaction: /);
    assert.match(u!.hint, /pool_mode session or passthrough/);
    assert.equal(refused('unlisten *'), undefined);
    assert.equal(refused("NOTIFY orders, 'x'"), undefined);
  });

  it('refuses session-level advisory locks, and lets the transaction-level ones through', () => {
    assert.equal(refused('SELECT pg_advisory_lock(42)'), 'pg_advisory_lock');
    assert.equal(refused('select pg_catalog.pg_try_advisory_lock_shared(1, 2)'), 'pg_try_advisory_lock_shared');
    assert.match(findUnsupported('SELECT pg_advisory_lock(1)')!.hint, /pg_advisory_xact_lock/);
    assert.equal(refused('SELECT pg_advisory_xact_lock(42)'), undefined);
    assert.equal(refused('SELECT pg_try_advisory_xact_lock(42)'), undefined);
    assert.equal(refused('SELECT pg_advisory_unlock_all()'), undefined);
  });

  it('refuses SQL PREPARE/EXECUTE/DEALLOCATE, pointing to protocol-level statements; DEALLOCATE ALL is fine', () => {
    assert.equal(refused('PREPARE q AS SELECT 1'), 'PREPARE');
    assert.equal(refused('execute q'), 'EXECUTE');
    assert.equal(refused('DEALLOCATE q'), 'DEALLOCATE');
    assert.match(findUnsupported('PREPARE q AS SELECT 1')!.hint, /protocol-level prepared statements/);
    assert.equal(refused('DEALLOCATE ALL'), undefined);
    assert.equal(refused('DEALLOCATE PREPARE ALL'), undefined);
  });

  it('refuses temporary tables unless they end with the transaction', () => {
    assert.equal(refused('CREATE TEMP TABLE t (a int)'), 'CREATE TEMP TABLE');
    assert.equal(refused('create global temporary table t as select 1'), 'CREATE TEMP TABLE');
    assert.equal(refused('CREATE TEMPORARY VIEW v AS SELECT 1'), 'CREATE TEMP VIEW');
    assert.equal(refused('CREATE TEMP TABLE t (a int) ON COMMIT DROP'), undefined);
    assert.equal(refused('CREATE TEMP TABLE t ON COMMIT DROP AS SELECT 1'), undefined);
    assert.match(findUnsupported('CREATE TEMP TABLE t (a int)')!.hint, /ON COMMIT DROP/);
    assert.equal(refused('CREATE TABLE temp (a int)'), undefined);
  });

  it('refuses holdable cursors only', () => {
    assert.equal(refused('DECLARE c CURSOR WITH HOLD FOR SELECT 1'), 'DECLARE … WITH HOLD');
    assert.equal(refused('DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1'), undefined);
    assert.equal(refused('DECLARE c CURSOR FOR SELECT 1'), undefined);
  });

  it('looks past comments, strings, quoted names and function bodies', () => {
    assert.equal(refused("SELECT 'LISTEN x'"), undefined);
    assert.equal(refused("SELECT E'it\\'s; LISTEN x'"), undefined);
    assert.equal(refused('-- LISTEN x\nSELECT 1'), undefined);
    assert.equal(refused('/* outer /* LISTEN */ still comment */ SELECT 1'), undefined);
    assert.equal(refused('SELECT "pg_advisory_lock" FROM t'), undefined);
    assert.equal(refused("DO $body$ BEGIN EXECUTE 'LISTEN x'; PERFORM pg_advisory_lock(1); END $body$"), undefined);
    assert.equal(refused('SELECT $1::int; LISTEN x'), 'LISTEN', 'a parameter is not a dollar quote');
    assert.equal(refused('SELECT 1; /* c */ listen x'), 'LISTEN', 'the second statement counts');
  });

  it('splits statements into words', () => {
    assert.deepEqual(statementWords("select 'a;b'; LISTEN \"X\"; "), [['SELECT'], ['LISTEN']]);
  });

  it('answers a simple Query with 0A000 and ReadyForQuery, forwards nothing, and the session goes on', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    assert.deepEqual(c.run([query('LISTEN orders')]), ['E 0A000', 'Z I']);
    assert.equal(c.acquisitions, 0, 'no server connection taken');
    assert.deepEqual(c.run([query('SELECT 1')]), ['T', 'D', 'C SELECT 1', 'Z I']);
    assert.deepEqual(servers[0]!.received, ['Q SELECT 1']);
  });

  it('refuses a Parse of such a query, skipping the client\'s messages to its Sync', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    const out = c.run([parse('lock', 'SELECT pg_advisory_lock($1)'), bind('lock', ['1']), execute(), sync()]);
    assert.deepEqual(out, ['E 0A000', 'Z I']);
    assert.match(decodeErrorResponse(c.received[0]!)!.M!, /^pg_advisory_lock is not supported with pool_mode transaction/);
    assert.deepEqual(servers[0]!.received, []);
    assert.deepEqual(c.run([parse('', 'SELECT 1'), bind(''), execute(), sync()]), ['1', '2', 'D', 'C SELECT 1', 'Z I']);
  });

  it('refuses on a server connection that first needs the client\'s parameters back, replies in order', () => {
    const servers = [new FakeSession()];
    const other = new Pooled(servers);
    other.run([query("SET TimeZone TO 'Asia/Tokyo'")]);
    const c = new Pooled(servers);
    c.sides.splice(0, 1, other.sides[0]!);
    c.eager = true;
    assert.deepEqual(c.run([query('LISTEN x')]), ['E 0A000', 'Z I']);
    assert.deepEqual(c.run([parse('', 'SELECT pg_advisory_lock(1)'), bind(''), execute(), sync()]), ['E 0A000', 'Z I']);
    assert.deepEqual(c.run([query('SELECT 1')]), ['T', 'D', 'C SELECT 1', 'Z I']);
    assert.equal(servers[0]!.params.get('TimeZone'), 'UTC');
  });

  it('keeps the order of replies when the refusal follows work already sent to the server', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    c.run([query('BEGIN')]);
    assert.deepEqual(c.run([query('SELECT 1'), query('LISTEN x'), query('COMMIT')]),
      ['T', 'D', 'C SELECT 1', 'Z T', 'E 0A000', 'Z T', 'C COMMIT', 'Z I']);
  });
});
