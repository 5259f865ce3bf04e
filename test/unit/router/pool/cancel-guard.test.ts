import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CancelGuard } from '../../../../src/router/pool/cancel-guard';

describe('a server connection with a cancel on its way stays out of the pool', () => {
  it('no cancel in flight: released at once', () => {
    const g = new CancelGuard();
    const released: string[] = [];
    g.whenSettled(() => released.push('conn'));
    assert.deepEqual(released, ['conn']);
  });

  it('a cancel in flight when the transaction ends: released only once PostgreSQL closed the cancel connection', () => {
    const g = new CancelGuard();
    const released: string[] = [];
    g.begin();
    g.whenSettled(() => released.push('conn'));
    assert.deepEqual(released, [], 'the second SIGINT may still be coming');
    g.end();
    assert.deepEqual(released, ['conn']);
  });

  it('two cancels (a client pressing twice): released after the last one', () => {
    const g = new CancelGuard();
    const released: string[] = [];
    g.begin();
    g.begin();
    g.whenSettled(() => released.push('conn'));
    g.end();
    assert.deepEqual(released, []);
    g.end();
    assert.deepEqual(released, ['conn']);
    g.end(); // a late duplicate end changes nothing
    assert.deepEqual(released, ['conn']);
  });

  it('settled: true with no cancel in flight, false from begin to the last end', () => {
    const g = new CancelGuard();
    assert.equal(g.settled, true);
    g.begin();
    assert.equal(g.settled, false);
    g.end();
    assert.equal(g.settled, true);
  });
});
