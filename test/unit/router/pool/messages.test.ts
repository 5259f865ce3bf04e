import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  MSG,
  MessageFramer,
  SMALL_MESSAGE_LIMIT,
  decodeParameterStatus,
  encodeMessage,
  joinViews,
  parameterStatus,
  readyForQuery,
  splitMessage,
  type FrameResult,
  type Message,
} from '../../../../src/router/pool/messages';

const query = (sql: string): Buffer => encodeMessage(MSG.query, Buffer.from(`${sql}\0`));
const sync = (): Buffer => encodeMessage(MSG.sync);
const header = (type: string, length: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = type.charCodeAt(0);
  b.writeInt32BE(length, 1);
  return b;
};

function all(f: MessageFramer): FrameResult[] {
  const out: FrameResult[] = [];
  for (let m = f.next(); m; m = f.next()) {
    out.push(m);
    if ('kind' in m) break;
  }
  return out;
}

describe('splitMessage: where a message ends, split at every byte boundary', () => {
  test('a Query is incomplete at every cut (with its total size once the header is in), then whole', () => {
    const q = query('SELECT 1');
    for (let cut = 0; cut < q.length; cut++) {
      const r = splitMessage(q.subarray(0, cut), 0, 'frontend');
      assert.equal(r.kind, 'incomplete', `cut ${cut}`);
      if (cut >= 5) assert.equal(r.kind === 'incomplete' && r.need, q.length);
    }
    assert.deepEqual(splitMessage(q, 0, 'frontend'), { kind: 'message', type: MSG.query, length: q.length });
  });

  test('a message at an offset, with the next one behind it', () => {
    const two = Buffer.concat([sync(), query('SELECT 2')]);
    assert.deepEqual(splitMessage(two, 5, 'frontend'), { kind: 'message', type: MSG.query, length: two.length - 5 });
  });

  test('hostile lengths: below 4 is malformed, over the limit is oversized, before any body byte arrives', () => {
    assert.equal(splitMessage(header('Q', 3), 0, 'frontend').kind, 'invalid');
    assert.equal(splitMessage(header('Q', -1), 0, 'frontend').kind, 'invalid');
    const big = splitMessage(header('Q', 0x7fffffff), 0, 'frontend');
    assert.equal(big.kind, 'invalid');
    assert.equal(big.kind === 'invalid' && big.reason, 'oversized');
    assert.equal(big.kind === 'invalid' && big.sqlstate, '08P01');
    // A configured bound applies to the large types.
    assert.equal(splitMessage(header('d', 1001), 0, 'frontend', 1000).kind, 'invalid');
    assert.equal(splitMessage(header('d', 1000), 0, 'frontend', 1000).kind, 'incomplete');
  });

  test("the small types (Sync, Execute, Describe, Close, Terminate…) are bounded as PostgreSQL bounds them", () => {
    const r = splitMessage(header('S', SMALL_MESSAGE_LIMIT + 1), 0, 'frontend');
    assert.equal(r.kind === 'invalid' && r.reason, 'oversized');
    assert.equal(splitMessage(header('E', SMALL_MESSAGE_LIMIT), 0, 'frontend').kind, 'incomplete');
  });

  test('a type a client may not send is malformed at its first byte', () => {
    for (const t of ['Z', 'R', '\0', 'x']) {
      const r = splitMessage(Buffer.from(t, 'latin1'), 0, 'frontend');
      assert.equal(r.kind === 'invalid' && r.reason, 'malformed', t);
    }
  });

  test('backend messages: any type, PostgreSQL’s 1 GB bound', () => {
    const z = readyForQuery('T');
    assert.deepEqual(splitMessage(z, 0, 'backend'), { kind: 'message', type: MSG.readyForQuery, length: 6 });
    assert.equal(splitMessage(header('D', 50_000_000), 0, 'backend').kind, 'incomplete');
    assert.equal(splitMessage(header('D', 0x40000000), 0, 'backend').kind, 'invalid');
  });
});

describe('MessageFramer: a stream of chunks into whole messages', () => {
  test('three messages fed one byte at a time come out whole and in order', () => {
    const stream = Buffer.concat([query('BEGIN'), sync(), query('SELECT 1')]);
    const f = new MessageFramer('frontend');
    const out: Message[] = [];
    for (let i = 0; i < stream.length; i++) {
      f.push(stream.subarray(i, i + 1));
      for (const m of all(f)) out.push(m as Message);
    }
    assert.deepEqual(out.map((m) => String.fromCharCode(m.type)), ['Q', 'S', 'Q']);
    assert.equal(out[0]!.body.toString(), 'BEGIN\0');
    assert.equal(Buffer.concat(out.map((m) => m.raw)).equals(stream), true);
    assert.equal(f.buffered, 0);
  });

  test('messages inside one chunk are views of it (no copy)', () => {
    const chunk = Buffer.concat([sync(), sync()]);
    const f = new MessageFramer('frontend');
    f.push(chunk);
    const m = f.next() as Message;
    assert.equal(m.raw.buffer, chunk.buffer);
  });

  test('a large message split in many chunks is joined once it is all there', () => {
    const body = Buffer.alloc(100_000, 0x61);
    body[body.length - 1] = 0;
    const msg = encodeMessage(MSG.query, body);
    const f = new MessageFramer('frontend');
    for (let i = 0; i < msg.length; i += 1000) {
      f.push(msg.subarray(i, Math.min(msg.length, i + 1000)));
      const m = f.next();
      if (i + 1000 < msg.length) assert.equal(m, undefined);
      else assert.equal((m as Message).raw.equals(msg), true);
    }
  });

  test('an oversized header stops the framer before the body is buffered', () => {
    const f = new MessageFramer('frontend', 1024);
    f.push(Buffer.concat([sync(), header('Q', 1_000_000)]));
    assert.equal((f.next() as Message).type, MSG.sync);
    const r = f.next();
    assert.ok(r && 'kind' in r && r.reason === 'oversized');
  });

  test('drainBuffered hands over what was not returned yet', () => {
    const f = new MessageFramer('backend');
    const partial = readyForQuery('T').subarray(0, 4);
    f.push(Buffer.concat([readyForQuery('I'), partial]));
    assert.equal((f.next() as Message).type, MSG.readyForQuery);
    assert.equal(f.next(), undefined);
    assert.equal(f.drainBuffered().equals(partial), true);
  });

  test('ParameterStatus round trip', () => {
    const m = parameterStatus('TimeZone', 'UTC');
    assert.deepEqual(decodeParameterStatus(m.subarray(5)), { name: 'TimeZone', value: 'UTC' });
    assert.equal(decodeParameterStatus(Buffer.from('noterm')), undefined);
  });

  test('joinViews: messages end to end in one chunk become one view of it; others are copied together', () => {
    const chunk = Buffer.concat([readyForQuery('I'), query('SELECT 1'), sync()]);
    const framer = new MessageFramer('backend');
    framer.push(chunk);
    const [a, b, c] = [framer.next(), framer.next(), framer.next()] as Message[];
    const joined = joinViews([a!.raw, b!.raw, c!.raw]);
    assert.equal(joined.buffer, chunk.buffer, 'no copy');
    assert.equal(joined.byteOffset, chunk.byteOffset);
    assert.deepEqual(joined, chunk);
    const gap = joinViews([a!.raw, c!.raw]);
    assert.deepEqual(gap, Buffer.concat([a!.raw, c!.raw]));
    assert.deepEqual(joinViews([c!.raw, a!.raw]), Buffer.concat([c!.raw, a!.raw]), 'out of order: copied');
  });
});
