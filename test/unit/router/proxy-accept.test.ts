/**
 * The accept step of a proxy_protocol listener over real loopback sockets: who is closed at once, what a header
 * split across packets yields (the client's address, and its startup packet still there to read), and which
 * closes are counted as refusals and which are not (a bare TCP check, the router stopping).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { silentLogger } from '../../../src/log/logger';
import { realScheduler } from '../../../src/lib/clock';
import { ProxyAccept } from '../../../src/router/proxy-accept';
import { encodeProxyV1, encodeProxyV2 } from '../../../src/router/proxy-protocol';
import type { RefusalReason } from '../../../src/router/types';
import { encodeStartup } from '../../../src/router/wire';
import { aListener } from './builders';

const startup = { timeoutMs: 1500, maxPacketBytes: 10_000 };
const LB = { address: '10.0.0.1', port: 5000 };

describe('proxy_protocol accept step', () => {
  let server: Server;
  let port = 0;
  let refused: RefusalReason[] = [];
  let gate: ProxyAccept;
  let networks: string[] = ['127.0.0.0/8'];
  let accepted: Promise<Awaited<ReturnType<ProxyAccept['accept']>>>[] = [];
  const nextAccepted = async (): Promise<Awaited<ReturnType<ProxyAccept['accept']>>> => {
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    return accepted.shift()!;
  };

  before(async () => {
    gate = new ProxyAccept({ metrics: { refused: (_l, r) => refused.push(r) }, logger: silentLogger(), scheduler: realScheduler });
    server = createServer((sock) => accepted.push(gate.accept(sock, aListener('pp', 'primary', { proxyProtocol: networks }), startup)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  const client = (): Promise<Socket> => new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => undefined);
  });
  const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

  test('a header split across packets: the header\'s address, and the startup packet after it is left to read', async () => {
    refused = [];
    const s = await client();
    const bytes = Buffer.concat([encodeProxyV2({ address: '203.0.113.9', port: 1234 }, LB), encodeStartup({ user: 'u' })]);
    for (const part of [bytes.subarray(0, 5), bytes.subarray(5, 20), bytes.subarray(20)]) {
      s.write(part);
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await nextAccepted();
    assert.equal(r?.address, '203.0.113.9');
    const first = await r!.reader.packet(10_000, 1000);
    assert.equal(first.packet.kind === 'startup' && first.packet.params.user, 'u');
    assert.deepEqual(refused, []);
    s.destroy();
  });

  test('v1 UNKNOWN and v2 LOCAL keep the socket address', async () => {
    for (const header of [Buffer.from('PROXY UNKNOWN\r\n'), encodeProxyV2()]) {
      const s = await client();
      s.write(header);
      assert.equal((await nextAccepted())?.address, '127.0.0.1');
      s.destroy();
    }
  });

  test('a source outside the networks is closed before it sends a byte, and counted', async () => {
    refused = [];
    // A new array: the matcher is compiled once per list (a reload makes a new one).
    networks = ['10.0.0.0/8'];
    try {
      const s = await client();
      await closed(s);
      assert.equal(await nextAccepted(), undefined);
      assert.deepEqual(refused, ['proxy_untrusted']);
    } finally {
      networks = ['127.0.0.0/8'];
    }
  });

  test('closed mid-header: truncated; closed before a byte (a bare TCP check): not a refusal; silent: startup_timeout', async () => {
    refused = [];
    const cut = await client();
    cut.end(encodeProxyV1({ address: '192.0.2.1', port: 1 }, LB).subarray(0, 10));
    assert.equal(await nextAccepted(), undefined);
    const bare = await client();
    bare.end();
    assert.equal(await nextAccepted(), undefined);
    const silent = await client();
    assert.equal(await nextAccepted(), undefined);
    await closed(silent);
    assert.deepEqual(refused, ['proxy_header_truncated', 'startup_timeout']);
  });

  test('garbage: closed at once and counted as malformed', async () => {
    refused = [];
    const s = await client();
    s.write(encodeStartup({ user: 'u' }));
    assert.equal(await nextAccepted(), undefined);
    await closed(s);
    assert.deepEqual(refused, ['proxy_header_malformed']);
  });

  test('closeAll (the router stopping) ends connections still in their header, without counting them', async () => {
    refused = [];
    const s = await client();
    s.write('PROXY TCP4 ');
    await new Promise((r) => setTimeout(r, 20));
    gate.closeAll();
    await closed(s);
    assert.equal(await nextAccepted(), undefined);
    assert.deepEqual(refused, []);
  });
});
