/**
 * PROXY protocol v1/v2 headers (haproxy's doc/proxy-protocol.txt), fed split at every byte boundary as they may
 * arrive from a balancer: incomplete until whole, then the header with its length (the client's bytes follow), or
 * a refusal by reason as soon as the bytes so far can no longer be a header.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { V1_MAX_LENGTH, V2_SIGNATURE, encodeProxyV1, encodeProxyV2, parseProxyHeader, type ProxyHeader } from '../../../src/router/proxy-protocol';
import { inNetworks, parseCidr } from '../../../src/router/cidr';

function atEveryBoundary(header: Buffer): { cut: number; r: ProxyHeader } {
  for (let cut = 0; cut < header.length; cut++) {
    const r = parseProxyHeader(header.subarray(0, cut));
    if (r.kind !== 'incomplete') return { cut, r };
  }
  return { cut: header.length, r: parseProxyHeader(header) };
}

const startup = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]);

describe('PROXY v1 (text)', () => {
  test('TCP4: incomplete at every cut, then the source address; the client bytes after it are not consumed', () => {
    const h = encodeProxyV1({ address: '192.0.2.10', port: 51234 }, { address: '10.0.0.5', port: 5000 });
    const { cut, r } = atEveryBoundary(h);
    assert.equal(cut, h.length);
    assert.deepEqual(parseProxyHeader(Buffer.concat([h, startup])), r);
    assert.deepEqual(r, { kind: 'proxy', version: 1, length: h.length, command: 'proxy', source: { address: '192.0.2.10', port: 51234 }, destination: { address: '10.0.0.5', port: 5000 } });
  });

  test('TCP6 and UNKNOWN (keep the socket address: no source)', () => {
    const h6 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 40000 5432\r\n');
    const r6 = atEveryBoundary(h6).r;
    assert.equal(r6.kind === 'proxy' && r6.source?.address, '2001:db8::1');
    const unknown = Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n');
    assert.deepEqual(atEveryBoundary(unknown).r, { kind: 'proxy', version: 1, length: unknown.length, command: 'proxy' });
  });

  test('the longest legal line (107 bytes) parses; no CRLF within 107 bytes is oversized', () => {
    const longest = Buffer.from(`PROXY UNKNOWN ${'f'.repeat(V1_MAX_LENGTH - 16)}\r\n`);
    assert.equal(longest.length, V1_MAX_LENGTH);
    assert.equal(parseProxyHeader(longest).kind, 'proxy');
    const r = atEveryBoundary(Buffer.from(`PROXY UNKNOWN ${'f'.repeat(200)}\r\n`));
    assert.equal(r.cut, V1_MAX_LENGTH);
    assert.equal(r.r.kind === 'invalid' && r.r.reason, 'proxy_header_oversized');
  });

  test('malformed lines: refused with a reason sentence', () => {
    for (const [line, why] of [
      ['PROXY TCP4 192.0.2.1 10.0.0.1 1 2\n', /LF without CR/],
      ['PROXY UDP4 192.0.2.1 10.0.0.1 1 2\r\n', /UDP4/],
      ['PROXY TCP4 192.0.2.1  10.0.0.1 1 2\r\n', /fields/],
      ['PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n', /not IPv4/],
      ['PROXY TCP6 192.0.2.1 10.0.0.1 1 2\r\n', /not IPv6/],
      ['PROXY TCP4 192.0.2.1 10.0.0.1 65536 2\r\n', /ports/],
      ['PROXY TCP4 192.0.2.1 10.0.0.1 01 2\r\n', /ports/],
    ] as const) {
      const r = parseProxyHeader(Buffer.from(line));
      assert.equal(r.kind, 'invalid', line);
      if (r.kind === 'invalid') {
        assert.equal(r.reason, 'proxy_header_malformed', line);
        assert.match(r.message, why, line);
      }
    }
  });

  test('garbage is refused at the first byte that cannot start a header: a plain startup packet, an HTTP request', () => {
    assert.equal(atEveryBoundary(startup).cut, 1);
    const http = atEveryBoundary(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    assert.deepEqual([http.cut, http.r.kind === 'invalid' && http.r.reason], [1, 'proxy_header_malformed']);
    assert.equal(atEveryBoundary(Buffer.from('PROXYTCP4\r\n')).cut, 6, 'refused at the byte where "PROXY " differs');
  });
});

describe('PROXY v2 (binary)', () => {
  test('PROXY over TCP/IPv4: incomplete at every cut (need known after 16 bytes), then the source address', () => {
    const h = encodeProxyV2({ address: '198.51.100.7', port: 40001 }, { address: '10.1.2.3', port: 5000 });
    assert.equal(h.length, 28);
    assert.deepEqual(parseProxyHeader(h.subarray(0, 16)), { kind: 'incomplete', need: 28 });
    const { cut, r } = atEveryBoundary(h);
    assert.equal(cut, 28);
    assert.deepEqual(r, { kind: 'proxy', version: 2, length: 28, command: 'proxy', source: { address: '198.51.100.7', port: 40001 }, destination: { address: '10.1.2.3', port: 5000 } });
    assert.deepEqual(parseProxyHeader(Buffer.concat([h, startup])), r);
  });

  test('PROXY over TCP/IPv6, with TLVs skipped (they count in the length)', () => {
    const tlvs = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63, 0x01, 0x00, 0x02, 0x68, 0x32]); // NOOP "abc", ALPN "h2"
    const h = encodeProxyV2({ address: '2001:db8:0:0:1::7', port: 1 }, { address: '::1', port: 2 }, tlvs);
    const { cut, r } = atEveryBoundary(h);
    assert.equal(cut, 16 + 36 + tlvs.length);
    assert.equal(r.kind === 'proxy' && r.source?.address, '2001:db8::1:0:0:7');
    assert.equal(r.kind === 'proxy' && r.destination?.address, '::1');
    const mapped = parseProxyHeader(encodeProxyV2({ address: '::ffff:c000:0201', port: 3 }, { address: '::1', port: 4 }));
    assert.equal(mapped.kind === 'proxy' && mapped.source?.address, '::ffff:c000:201');
  });

  test('LOCAL (a balancer health check), UNSPEC and UNIX: no source, the socket address is kept', () => {
    const local = encodeProxyV2();
    assert.deepEqual(atEveryBoundary(local).r, { kind: 'proxy', version: 2, length: 16, command: 'local' });
    const unix = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x31, 0x00, 216]), Buffer.alloc(216)]);
    assert.deepEqual(parseProxyHeader(unix), { kind: 'proxy', version: 2, length: 232, command: 'proxy' });
    const unspec = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x00, 0x00, 0x00])]);
    assert.deepEqual(parseProxyHeader(unspec), { kind: 'proxy', version: 2, length: 16, command: 'proxy' });
  });

  test('a length past the limit is oversized as soon as the 16-byte header is in (no waiting for 64 kB)', () => {
    const h = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    const r = parseProxyHeader(h);
    assert.equal(r.kind === 'invalid' && r.reason, 'proxy_header_oversized');
  });

  test('malformed: a broken signature, version 1, command 2, UDP, or a length shorter than the addresses', () => {
    const base = encodeProxyV2({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.2', port: 2 });
    const broken = (at: number, value: number): Buffer => {
      const b = Buffer.from(base);
      b[at] = value;
      return b;
    };
    const sig = atEveryBoundary(broken(7, 0x00));
    assert.deepEqual([sig.cut, sig.r.kind === 'invalid' && sig.r.reason], [8, 'proxy_header_malformed']);
    assert.match((parseProxyHeader(broken(12, 0x11)) as { message: string }).message, /version nibble is 1/);
    assert.match((parseProxyHeader(broken(12, 0x22)) as { message: string }).message, /command 2/);
    assert.match((parseProxyHeader(broken(13, 0x12)) as { message: string }).message, /not for a stream/);
    assert.match((parseProxyHeader(Buffer.concat([base.subarray(0, 14), Buffer.from([0, 4]), Buffer.alloc(4)])) as { message: string }).message, /shorter than its addresses/);
  });
});

describe('trusted networks', () => {
  test('IPv4 and IPv6 CIDRs; an IPv4-mapped IPv6 socket address matches an IPv4 network', () => {
    const nets = ['10.0.0.0/8', '192.168.1.10', 'fd00::/8'];
    assert.equal(inNetworks(nets, '10.200.3.4'), true);
    assert.equal(inNetworks(nets, '::ffff:10.200.3.4'), true);
    assert.equal(inNetworks(nets, '192.168.1.10'), true);
    assert.equal(inNetworks(nets, '192.168.1.11'), false);
    assert.equal(inNetworks(nets, 'fd12::1'), true);
    assert.equal(inNetworks(nets, '127.0.0.1'), false);
    assert.equal(inNetworks(nets, undefined), false);
    assert.equal(inNetworks([], '10.0.0.1'), false);
  });

  test('parseCidr refuses what is not a network', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0/8', '']) assert.equal(parseCidr(bad), undefined, bad);
    assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  });
});
