import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Negotiation } from '../../../src/router/negotiation';
import type { RoomContext } from '../../../src/router/context';
import type { Session } from '../../../src/router/session';
import type { Socket } from 'node:net';
import { ManualClock } from '../../support/manual-clock';

function directTlsSession(opaque: Map<string, { backend: unknown; count: number }>): Session {
  const backend = { member: 'n1', host: '127.0.0.1', port: 5432 };
  return {
    state: 'negotiating',
    first: { packet: { kind: 'direct-tls' }, raw: Buffer.from([0x16, 0x03, 0x01]) },
    backend,
    rt: { opaque },
    link: { startOpaque: () => undefined },
    opaque: false,
  } as unknown as Session;
}

test('a direct-TLS session counts its backend as an opaque cancel target once, so its close takes the member off the broadcast list', async () => {
  const ctx = { config: () => ({ connectTimeoutMs: 1000, startup: { maxPacketBytes: 10_000, timeoutMs: 1000 } }), deps: { scheduler: new ManualClock() } } as unknown as RoomContext;
  const opaque = new Map<string, { backend: unknown; count: number }>();
  const written: Buffer[] = [];
  const server = { write: (b: Buffer) => written.push(b) } as unknown as Socket;
  await new Negotiation(ctx, () => undefined).negotiate(directTlsSession(opaque), server);
  assert.equal(written.length, 1, 'the ClientHello is forwarded');
  assert.equal(opaque.get('n1')?.count, 1);
});
