import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { afterLoss, onLoss, type Loss } from '../../../../src/router/pool/loss';
import { MSG, MessageFramer, encodeMessage, type Message } from '../../../../src/router/pool/messages';
import { decodeErrorResponse } from '../../../../src/router/wire';

const msg = (type: number, body = ''): Message => {
  const raw = encodeMessage(type, Buffer.from(body, 'utf8'));
  return { type, raw, body: raw.subarray(5) };
};
const q = (sql: string) => msg(MSG.query, `${sql}\0`);
const parse = (sql: string) => msg(MSG.parse, `\0${sql}\0\0\0`);

/** What the client reads: 'E:<sqlstate>', 'Z:<status>', 'C:<tag>', or the type letter. */
function read(answers: Buffer[]): string[] {
  const f = new MessageFramer('backend');
  f.push(Buffer.concat(answers));
  const out: string[] = [];
  for (let m = f.next(); m; m = f.next()) {
    if ('kind' in m) throw new Error(m.message);
    const t = String.fromCharCode(m.type);
    if (t === 'E') out.push(`E:${decodeErrorResponse(m.raw)!.C}`);
    else if (t === 'Z') out.push(`Z:${String.fromCharCode(m.body[0]!)}`);
    else if (t === 'C') out.push(`C:${m.body.toString('utf8', 0, m.body.length - 1)}`);
    else out.push(t);
  }
  return out;
}

describe('a pooled client after its server connection was lost', () => {
  test('a single statement in flight, outside a block: one 08006 error, ReadyForQuery I, nothing left to tell', () => {
    const r = onLoss(1, 0, 'I');
    assert.deepEqual(read(r.answers), ['E:08006', 'Z:I']);
    assert.equal(r.loss, undefined, 'the next statement takes a new server connection');
  });

  test('a statement in flight inside BEGIN: 08006 then E; the router answers ROLLBACK itself, 25P02 before it', () => {
    const r = onLoss(1, 0, 'T');
    assert.deepEqual(read(r.answers), ['E:08006', 'Z:E']);
    let loss: Loss | undefined = r.loss;
    const next = afterLoss(loss!, q('insert into t values (1)'));
    assert.deepEqual(read(next.answers), ['E:25P02', 'Z:E']);
    loss = next.loss;
    const rb = afterLoss(loss!, q('ROLLBACK'));
    assert.deepEqual(read(rb.answers), ['C:ROLLBACK', 'Z:I']);
    assert.equal(rb.loss, undefined);
  });

  test('COMMIT of the failed block is answered ROLLBACK, as PostgreSQL does; ROLLBACK TO SAVEPOINT is not an end', () => {
    const { loss } = onLoss(1, 0, 'T');
    assert.deepEqual(read(afterLoss(loss!, q('rollback to savepoint a')).answers), ['E:25P02', 'Z:E']);
    assert.deepEqual(read(afterLoss(loss!, q('commit;')).answers), ['C:ROLLBACK', 'Z:I']);
  });

  test('idle in a transaction block when lost: the client hears 08006 at its next statement, then the block is failed', () => {
    const r = onLoss(0, 0, 'T');
    assert.deepEqual(r.answers, [], 'nothing unasked');
    const first = afterLoss(r.loss!, q('select 1'));
    assert.deepEqual(read(first.answers), ['E:08006', 'Z:E']);
    assert.deepEqual(read(afterLoss(first.loss!, q('rollback')).answers), ['C:ROLLBACK', 'Z:I']);
  });

  test('extended protocol cut before its Sync: the rest is skipped up to the Sync, answered there', () => {
    const r = onLoss(0, 2, 'I');
    assert.deepEqual(r.answers, []);
    const loss = r.loss!;
    assert.deepEqual(afterLoss(loss, msg(MSG.execute, '\0\0\0\0\0')).answers, []);
    const atSync = afterLoss(loss, msg(MSG.sync));
    assert.deepEqual(read(atSync.answers), ['E:08006', 'Z:I']);
    assert.equal(atSync.loss, undefined);
  });

  test('a failed block left by an extended-protocol ROLLBACK: each message answered, then ReadyForQuery I', () => {
    const { loss } = onLoss(1, 0, 'T');
    for (const m of [parse('ROLLBACK'), msg(MSG.bind, '\0\0\0\0\0\0\0\0'), msg(MSG.describe, 'P\0'), msg(MSG.execute, '\0\0\0\0\0')]) assert.deepEqual(afterLoss(loss!, m).answers, []);
    const r = afterLoss(loss!, msg(MSG.sync));
    assert.deepEqual(read(r.answers), ['1', '2', 'n', 'C:ROLLBACK', 'Z:I']);
    assert.equal(r.loss, undefined);
  });

  test('two pipelined statements in flight: each gets its error and ReadyForQuery; COPY data after the loss is dropped', () => {
    const r = onLoss(2, 0, 'I');
    assert.deepEqual(read(r.answers), ['E:08006', 'Z:I', 'E:08006', 'Z:I']);
    const { loss } = onLoss(1, 0, 'T');
    assert.deepEqual(afterLoss(loss!, msg(MSG.copyData, 'x')).answers, []);
  });
});
