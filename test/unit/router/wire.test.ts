import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  StartupReplyScanner,
  decodeErrorResponse,
  encodeCancelRequest,
  encodeErrorResponse,
  encodeSslRequest,
  encodeStartup,
  parseFrontendPacket,
  GSSENC_REQUEST_CODE,
} from '../../../src/router/wire';

/** Feeds every prefix of `packet` (a split at every byte boundary): incomplete until whole, then the result. */
function atEveryBoundary(packet: Buffer, max = 10_000) {
  for (let cut = 0; cut < packet.length; cut++) {
    const r = parseFrontendPacket(packet.subarray(0, cut), max);
    if (r.kind !== 'incomplete') return { cut, r };
  }
  return { cut: packet.length, r: parseFrontendPacket(packet, max) };
}

describe('first packet parsing, split at every byte boundary', () => {
  test('StartupMessage: incomplete at every cut, then startup with its parameters', () => {
    const pkt = encodeStartup({ user: 'admin', database: 'postgres', application_name: 'x' });
    const { cut, r } = atEveryBoundary(pkt);
    assert.equal(cut, pkt.length);
    assert.equal(r.kind, 'startup');
    if (r.kind === 'startup') {
      assert.equal(r.length, pkt.length);
      assert.deepEqual(r.params, { user: 'admin', database: 'postgres', application_name: 'x' });
    }
  });

  test('StartupMessage followed by more bytes: only the packet is consumed', () => {
    const pkt = encodeStartup({ user: 'a' });
    const r = parseFrontendPacket(Buffer.concat([pkt, Buffer.from('extra')]));
    assert.equal(r.kind, 'startup');
    assert.equal(r.kind === 'startup' && r.length, pkt.length);
  });

  test('SSLRequest and GSSENCRequest', () => {
    const ssl = atEveryBoundary(encodeSslRequest());
    assert.deepEqual([ssl.cut, ssl.r.kind], [8, 'ssl']);
    const gss = atEveryBoundary(encodeSslRequest(GSSENC_REQUEST_CODE));
    assert.deepEqual([gss.cut, gss.r.kind], [8, 'gssenc']);
  });

  test('CancelRequest: key from pid and secret', () => {
    const { cut, r } = atEveryBoundary(encodeCancelRequest(4242, -17));
    assert.equal(cut, 16);
    assert.equal(r.kind, 'cancel');
    if (r.kind === 'cancel') {
      assert.equal(r.processId, 4242);
      assert.equal(r.secretKey, -17);
      assert.equal(r.key, `4242:${-17 >>> 0}`);
    }
  });

  test('oversized: refused as soon as the length is readable', () => {
    const big = encodeStartup({ user: 'a', options: 'x'.repeat(20_000) });
    const { cut, r } = atEveryBoundary(big);
    assert.equal(cut, 4);
    assert.equal(r.kind, 'invalid');
    if (r.kind === 'invalid') {
      assert.equal(r.reason, 'oversized');
      assert.equal(r.sqlstate, '08P01');
    }
  });

  test('a length below 8 is malformed', () => {
    const b = Buffer.alloc(8);
    b.writeInt32BE(4, 0);
    const { cut, r } = atEveryBoundary(b);
    assert.equal(cut, 4);
    assert.equal(r.kind === 'invalid' && r.reason, 'malformed');
  });

  test('SSLRequest and CancelRequest with the wrong length are malformed', () => {
    const ssl = Buffer.alloc(12);
    ssl.writeInt32BE(12, 0);
    ssl.writeInt32BE(80877103, 4);
    assert.equal(atEveryBoundary(ssl).r.kind, 'invalid');
    const cancel = Buffer.alloc(12);
    cancel.writeInt32BE(12, 0);
    cancel.writeInt32BE(80877102, 4);
    const c = atEveryBoundary(cancel);
    assert.equal(c.r.kind === 'invalid' && c.r.reason, 'malformed');
  });

  test('parameters without their final NUL are malformed', () => {
    const good = encodeStartup({ user: 'a' });
    const bad = Buffer.from(good);
    bad[bad.length - 1] = 0x41; // the terminator becomes a byte of a new name
    const { r } = atEveryBoundary(bad);
    assert.equal(r.kind === 'invalid' && r.reason, 'malformed');
    const unterminated = Buffer.concat([Buffer.alloc(8), Buffer.from('user\0a')]);
    unterminated.writeInt32BE(unterminated.length, 0);
    unterminated.writeInt32BE(196608, 4);
    assert.equal(parseFrontendPacket(unterminated).kind, 'invalid');
  });

  test('protocol 2 is unsupported, with SQLSTATE 0A000', () => {
    const v2 = encodeStartup({ user: 'a' }, 2 << 16);
    const { r } = atEveryBoundary(v2);
    assert.equal(r.kind, 'invalid');
    if (r.kind === 'invalid') {
      assert.equal(r.reason, 'unsupported_protocol');
      assert.equal(r.sqlstate, '0A000');
    }
  });

  test('a TLS ClientHello first byte is direct TLS (PostgreSQL 17 sslnegotiation=direct)', () => {
    assert.equal(parseFrontendPacket(Buffer.from([0x16, 0x03, 0x01])).kind, 'direct-tls');
  });
});

describe('ErrorResponse', () => {
  test('encodes severity, SQLSTATE, message, detail and hint, and decodes back', () => {
    const msg = encodeErrorResponse({ sqlstate: '57P03', message: 'no writable primary: ünïcode', detail: 'd', hint: 'h' });
    assert.equal(msg[0], 0x45);
    assert.equal(msg.readInt32BE(1), msg.length - 1);
    assert.equal(msg[msg.length - 1], 0);
    assert.deepEqual(decodeErrorResponse(msg), { S: 'FATAL', V: 'FATAL', C: '57P03', M: 'no writable primary: ünïcode', D: 'd', H: 'h' });
  });
});

describe('backend startup reply scanner, split at every byte boundary', () => {
  function msg(type: string, body: Buffer): Buffer {
    const b = Buffer.alloc(5 + body.length);
    b.write(type, 0, 'latin1');
    b.writeInt32BE(4 + body.length, 1);
    body.copy(b, 5);
    return b;
  }
  const authOk = msg('R', Buffer.from([0, 0, 0, 0]));
  const param = msg('S', Buffer.from('server_version\x0015.4\x00'));
  const keyBody = Buffer.alloc(8);
  keyBody.writeInt32BE(31337, 0);
  keyBody.writeInt32BE(-123456, 4);
  const key = msg('K', keyBody);
  const ready = msg('Z', Buffer.from('I'));
  const reply = Buffer.concat([authOk, param, key, ready]);

  test('finds BackendKeyData and stops at ReadyForQuery for every two-way split', () => {
    for (let cut = 0; cut <= reply.length; cut++) {
      const s = new StartupReplyScanner();
      const a = s.feed(reply.subarray(0, cut));
      const b = cut < reply.length ? s.feed(reply.subarray(cut)) : a;
      assert.equal(b, 'done', `cut ${cut}`);
      assert.equal(a === 'done', cut === reply.length, `cut ${cut}`);
      assert.equal(s.processId, 31337);
      assert.equal(s.secretKey, -123456);
      assert.equal(s.finalType, 0x5a);
    }
  });

  test('one byte at a time', () => {
    const s = new StartupReplyScanner();
    let last = 'more';
    for (let i = 0; i < reply.length; i++) last = s.feed(reply.subarray(i, i + 1));
    assert.equal(last, 'done');
    assert.equal(s.processId, 31337);
  });

  test('an ErrorResponse ends the startup reply without a key', () => {
    const s = new StartupReplyScanner();
    assert.equal(s.feed(encodeErrorResponse({ sqlstate: '28P01', message: 'password authentication failed' })), 'done');
    assert.equal(s.finalType, 0x45);
    assert.equal(s.processId, undefined);
  });

  test('garbage is invalid', () => {
    const s = new StartupReplyScanner();
    assert.equal(s.feed(Buffer.from([0x52, 0, 0, 0, 1])), 'invalid');
    const k = new StartupReplyScanner();
    assert.equal(k.feed(msg('K', Buffer.alloc(4))), 'invalid');
  });
});
