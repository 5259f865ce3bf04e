import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeBindNames, decodeParse, decodeTarget, encodeParse, encodeTarget, renameBind,
} from '../../../../src/router/pool/txn-codec';
import { FakeSession } from './fake-session';
import { Pooled, bind, sync } from './txn-harness';

describe('transaction pooling: the messages it rewrites', () => {
  it('round-trips a Parse with parameter types', () => {
    const p = { name: 'q1', query: 'SELECT $1, $2 -- é', paramTypes: [23, 4294967295] };
    assert.deepEqual(decodeParse(encodeParse(p)), p);
  });

  it('renames a Bind\'s statement and keeps its parameters byte for byte', () => {
    const msg = bind('client_name', ['x'.repeat(1000), 'y'], 'portal');
    const names = decodeBindNames(msg)!;
    assert.equal(names.statement, 'client_name');
    const renamed = renameBind(msg, names, 'pgha_s1');
    assert.equal(renamed.readInt32BE(1), renamed.length - 1);
    assert.deepEqual(decodeBindNames(renamed), { portal: 'portal', statement: 'pgha_s1', statementStart: 12, statementEnd: 20 });
    assert.deepEqual(renamed.subarray(20), msg.subarray(names.statementEnd));
  });

  it('reads nothing from a malformed message: a truncated body, a missing NUL, a wrong count', () => {
    const p = encodeParse({ name: 'q', query: 'SELECT 1', paramTypes: [23] });
    assert.equal(decodeParse(p.subarray(0, p.length - 1)), undefined);
    const wrongCount = Buffer.from(p);
    wrongCount.writeInt16BE(2, p.length - 6);
    assert.equal(decodeParse(wrongCount), undefined);
    const noNul = Buffer.from(encodeTarget('D', { target: 'S', name: 'abc' }));
    noNul[noNul.length - 1] = 0x41;
    assert.equal(decodeTarget(noNul), undefined);
    const badTarget = Buffer.from(encodeTarget('C', { target: 'S', name: '' }));
    badTarget[5] = 0x58;
    assert.equal(decodeTarget(badTarget), undefined);
  });

  it('answers a malformed Bind with 08P01 instead of forwarding it', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    const msg = bind('q1');
    const broken = Buffer.from(msg.subarray(0, 7)); // 'B', length, one byte of portal name, no NULs
    broken.writeInt32BE(6, 1);
    assert.deepEqual(c.run([broken, sync()]), ['E 08P01', 'Z I']);
    assert.deepEqual(servers[0]!.received, []);
  });
});
