import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planServerEnd, serverUnavailable } from '../../../../src/router/pool/server-end';

const none = new Set<string>();

describe('server end: a dead server connection and the client transaction meant for it', () => {
  it('fails a transaction whose bytes were already sent: it may have run, so it is never sent again', () => {
    const p = planServerEnd({ member: 'db1', how: 'closed', sent: true }, ['db1', 'db2'], none);
    assert.equal(p.action, 'fail');
    assert.equal(p.reason, "the server connection to db1 ended after the transaction's first bytes were sent to it: it may have run, so it is not sent again");
  });

  it('retries on another connection to the same member when an idle one was found dead before anything was sent', () => {
    const p = planServerEnd({ member: 'db1', how: 'closed', sent: false }, ['db1'], none);
    assert.deepEqual(p, { action: 'retry', exclude: false, reason: 'a server connection to db1 was found dead before anything of the transaction was sent: the transaction takes another connection to db1' });
  });

  it('holds when the dead connection’s member has left the table and nothing else qualifies (an election)', () => {
    const p = planServerEnd({ member: 'db1', how: 'closed', sent: false }, [], none);
    assert.deepEqual(p, { action: 'hold', exclude: false, reason: 'a server connection to db1 was found dead before anything of the transaction was sent: the transaction waits for a new routing table to name a backend' });
  });

  it('holds after a refused connect to the only backend (the killed leader, still named until its lease ends), excluding it', () => {
    const p = planServerEnd({ member: 'db1', how: 'open_failed', sent: false }, ['db1'], none);
    assert.deepEqual(p, { action: 'hold', exclude: true, reason: 'a server connection to db1 could not be opened: the transaction waits for a new routing table to name a backend' });
  });

  it('retries on another replica after a connect failure on a read listener', () => {
    const p = planServerEnd({ member: 'db2', how: 'open_failed', sent: false }, ['db2', 'db3'], none);
    assert.deepEqual(p, { action: 'retry', exclude: true, reason: 'a server connection to db2 could not be opened: the transaction takes a connection to db3' });
  });

  it('holds when every other backend already failed in this table', () => {
    const p = planServerEnd({ member: 'db2', how: 'open_failed', sent: false }, ['db2', 'db3'], new Set(['db3']));
    assert.equal(p.action, 'hold');
  });

  it('holds when the server refuses logins because it is shutting down or starting up (57P03), naming the SQLSTATE', () => {
    const p = planServerEnd({ member: 'db1', how: 'open_failed', sent: false, sqlstate: '57P03' }, ['db1'], none);
    assert.deepEqual(p, { action: 'hold', exclude: true, reason: 'a server connection to db1 could not be opened (SQLSTATE 57P03): the transaction waits for a new routing table to name a backend' });
  });

  it('fails with the server’s own error when it refused the login for the client’s reasons (no such database)', () => {
    const p = planServerEnd({ member: 'db1', how: 'open_failed', sent: false, sqlstate: '3D000' }, ['db1', 'db2'], none);
    assert.deepEqual(p, { action: 'fail', reason: "db1 refused the login (SQLSTATE 3D000): the client gets the server's error" });
  });

  it('counts shutdown, crash, cannot-connect-now and connection-class SQLSTATEs as the server being unavailable, not wrong passwords or limits', () => {
    for (const s of ['57P01', '57P02', '57P03', '08006', '08001', undefined]) assert.equal(serverUnavailable(s), true, String(s));
    for (const s of ['28P01', '3D000', '53300', '28000', '']) assert.equal(serverUnavailable(s), false, s);
  });
});
