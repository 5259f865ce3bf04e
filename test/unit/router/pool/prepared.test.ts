import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSession } from './fake-session';
import { Pooled, bind, closeS, describeS, direct, execute, parse, query, sync, describeP, flush } from './txn-harness';

const twoServers = () => [new FakeSession(), new FakeSession()];
const useQ1 = () => [bind('q1', ['7']), execute(), sync()];

describe('transaction pooling: named prepared statements follow the client across server connections', () => {
  it('prepares on the first server, and injects the Parse on the second before the Bind that needs it', () => {
    const servers = twoServers();
    const c = new Pooled(servers);
    c.lineup = [0, 1];
    const prepare = [parse('q1', 'SELECT $1'), describeS('q1'), sync()];
    assert.deepEqual(c.run(prepare), direct([prepare]));
    assert.equal(c.current, undefined, 'released after ReadyForQuery I');
    assert.deepEqual(c.run(useQ1()), ['2', 'D', 'C SELECT 1', 'Z I']);
    assert.deepEqual(servers[0]!.received, ['P pgha_s1 SELECT $1', 'DS pgha_s1', 'S']);
    assert.deepEqual(servers[1]!.received, ['P pgha_s1 SELECT $1', 'B pgha_s1', 'E', 'S'], 'the injected Parse, its ParseComplete swallowed');
  });

  it('shares one server statement between clients preparing the same text, answering ParseComplete itself', () => {
    const servers = [new FakeSession()];
    const a = new Pooled(servers);
    const b = new Pooled(servers);
    b.sides.splice(0, 1, a.sides[0]!); // the same server connection, as the pool hands it over
    a.run([parse('mine', 'SELECT 1'), sync()]);
    assert.deepEqual(b.run([parse('theirs', 'SELECT 1'), bind('theirs'), execute(), sync()]), ['1', '2', 'D', 'C SELECT 1', 'Z I']);
    assert.deepEqual(servers[0]!.received, ['P pgha_s1 SELECT 1', 'S', 'B pgha_s1', 'E', 'S'], 'no second Parse reached the server');
  });

  it('tells statements with the same text and other parameter types apart', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    c.run([parse('a', 'SELECT $1', [23]), parse('b', 'SELECT $1', [25]), sync()]);
    assert.deepEqual(servers[0]!.received, ['P pgha_s1 SELECT $1', 'P pgha_s2 SELECT $1', 'S']);
  });

  it('answers Close of a statement itself and keeps it on the server; the name can be prepared again', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    c.run([parse('q1', 'SELECT 1'), sync()]);
    const batch = [closeS('q1'), parse('q1', 'SELECT 1'), bind('q1'), execute(), sync()];
    assert.deepEqual(c.run(batch), ['3', '1', '2', 'D', 'C SELECT 1', 'Z I']);
    assert.deepEqual(servers[0]!.received, ['P pgha_s1 SELECT 1', 'S', 'B pgha_s1', 'E', 'S']);
  });

  it('needs no server connection for a Close and a Sync between transactions', () => {
    const c = new Pooled([new FakeSession()]);
    c.run([parse('q1', 'SELECT 1'), sync()]);
    assert.deepEqual(c.run([closeS('q1'), sync()]), ['3', 'Z I']);
    assert.equal(c.acquisitions, 1);
  });

  it('refuses a Bind to a statement the client never prepared (26000), skipping to its Sync', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    const batch = [parse('', 'SELECT 1'), bind('nope'), execute(), sync()];
    assert.deepEqual(c.run(batch), direct([batch]));
    assert.deepEqual(c.run(batch), ['1', 'E 26000', 'Z I']);
    assert.ok(!servers[0]!.received.some((m) => m.startsWith('B')), 'the Bind never reached the server');
  });

  it('refuses a second Parse of the same name (42P05), as PostgreSQL does', () => {
    const c = new Pooled([new FakeSession()]);
    const batches = [[parse('q1', 'SELECT 1'), sync()], [parse('q1', 'SELECT 2'), bind('q1'), execute(), sync()]];
    assert.deepEqual(batches.flatMap((b) => c.run(b)), direct(batches));
  });

  it('gives the error of an injected Parse to the client as its Bind\'s, and forgets it on that server', () => {
    const broken = new Set(['SELECT * FROM gone']);
    const servers = [new FakeSession(), new FakeSession(broken)];
    const c = new Pooled(servers);
    c.lineup = [0, 1, 1];
    c.run([parse('q1', 'SELECT * FROM gone'), sync()]);
    assert.deepEqual(c.run([bind('q1'), execute(), sync()]), ['E 42601', 'Z I']);
    assert.deepEqual(c.run([bind('q1'), execute(), sync()]), ['E 42601', 'Z I'], 'tried again: it was not recorded as prepared');
    assert.deepEqual(servers[1]!.received.filter((m) => m.startsWith('P')), ['P pgha_s1 SELECT * FROM gone', 'P pgha_s2 SELECT * FROM gone']);
  });

  it('forgets a statement whose own Parse failed: a later Bind is 26000 and the name is free', () => {
    const batches = [
      [parse('q1', 'SELECT syntax'), bind('q1'), execute(), sync()],
      [bind('q1'), sync()],
      [parse('q1', 'SELECT 1'), bind('q1'), execute(), sync()],
    ];
    const c = new Pooled([new FakeSession()]);
    assert.deepEqual(batches.flatMap((b) => c.run(b)), direct(batches));
  });

  it('undoes what the server skipped after an error in the same pipeline', () => {
    // The Execute fails; the server skips the following Parse (q2 never exists) and the Close (q1 stays).
    const batches = [
      [parse('q1', 'SELECT 1'), sync()],
      [parse('', 'SELECT fail'), bind(''), execute(), parse('q2', 'SELECT 2'), closeS('q1'), sync()],
      [bind('q2'), sync()],
      [bind('q1'), execute(), sync()],
    ];
    const c = new Pooled([new FakeSession()]);
    assert.deepEqual(batches.flatMap((b) => c.run(b)), direct(batches));
  });

  it('reaches the same replies as one session for a pipelined driver, server by server', () => {
    const batch = [
      parse('s1', 'SELECT 1'), describeS('s1'), bind('s1'), describeP(), execute(), flush(),
      parse('s2', 'SELECT 2'), bind('s2'), execute(), sync(),
      bind('s1'), execute(), bind('s2'), execute(), sync(),
    ];
    const c = new Pooled(twoServers());
    c.lineup = [0, 1];
    assert.deepEqual(c.run(batch), direct([batch]));
    assert.deepEqual(c.run([bind('s1'), execute(), bind('s2'), execute(), sync()]), ['2', 'D', 'C SELECT 1', '2', 'D', 'C SELECT 1', 'Z I']);
    assert.deepEqual(c.sides[1]!.statements.size, 2, 'both injected on the second server');
  });

  it('keeps a transaction on one server connection across Syncs (released only at ReadyForQuery I)', () => {
    const servers = twoServers();
    const c = new Pooled(servers);
    c.lineup = [0, 1];
    const tx = [[query('BEGIN')], [parse('q', 'SELECT 1'), bind('q'), execute(), sync()], [bind('q'), execute(), sync()], [query('COMMIT')]];
    assert.deepEqual(tx.flatMap((b) => c.lockstep(b)), direct(tx));
    assert.equal(c.acquisitions, 1);
    assert.deepEqual(servers[1]!.received, []);
  });

  it('bounds the statements on a server connection, closing the least recently used (replies swallowed)', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers, {}, 2);
    c.run([parse('a', 'SELECT 1'), sync()]);
    c.run([parse('b', 'SELECT 2'), sync()]);
    c.run([bind('a'), execute(), sync()]); // a is now more recent than b
    assert.deepEqual(c.run([parse('c', 'SELECT 3'), sync()]), ['1', 'Z I']);
    assert.ok(servers[0]!.received.includes('CS pgha_s2'), 'b closed on the server');
    assert.deepEqual(c.run([bind('b'), execute(), sync()]), ['2', 'D', 'C SELECT 1', 'Z I'], 'b comes back, prepared again');
    assert.equal(c.sides[0]!.statements.size, 2);
  });

  it('never evicts a statement the current batch uses', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers, {}, 1);
    const batch = [parse('a', 'SELECT 1'), bind('a', [], 'p'), parse('b', 'SELECT 2'), execute('p'), sync()];
    assert.deepEqual(c.run(batch), direct([batch]));
  });

  it('forgets every statement after DISCARD ALL (client and server alike)', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    const batches = [[parse('q1', 'SELECT 1'), sync()], [query('DISCARD ALL')], [bind('q1'), sync()], [parse('q1', 'SELECT 1'), sync()]];
    assert.deepEqual(batches.flatMap((b) => c.run(b)), direct(batches));
    assert.equal(servers[0]!.received.at(-2), 'P pgha_s2 SELECT 1', 'prepared afresh under a new name');
  });

  it('passes unnamed statements and portals untouched', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    const batch = [parse('', 'SELECT 1'), bind('', [], 'p1'), describeP('p1'), execute('p1'), sync()];
    assert.deepEqual(c.run(batch), direct([batch]));
    assert.deepEqual(servers[0]!.received, ['P  SELECT 1', 'B ', 'DP p1', 'E', 'S']);
  });

  it('holds the server connection while an extended batch waits for its Sync, replies all read', () => {
    const c = new Pooled([new FakeSession(), new FakeSession()]);
    c.lineup = [0, 1];
    assert.deepEqual(c.run([parse('', 'SELECT 1'), bind(''), execute(), flush()]), ['1', '2', 'D', 'C SELECT 1']);
    assert.equal(c.rewriter.idle, false);
    assert.equal(c.current, 0);
    assert.deepEqual(c.run([sync()]), ['Z I']);
    assert.equal(c.rewriter.idle, true);
    assert.equal(c.acquisitions, 1);
  });

  it('drops what the server connection had in flight when it is lost', () => {
    const c = new Pooled([new FakeSession(), new FakeSession()]);
    c.lineup = [0, 1];
    // The Parse is sent, then the server is gone before it answers.
    const step = c.rewriter.fromClient(parse('q1', 'SELECT 1'), c.sides[0]);
    assert.equal(step.kind, 'ok');
    c.rewriter.serverLost();
    c.current = undefined;
    assert.ok(c.rewriter.idle);
    assert.deepEqual(c.run([parse('q1', 'SELECT 1'), sync()]), ['1', 'Z I'], 'the name is free again');
  });
});
