import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { freePort } from '../../../src/demo/free-port';

describe('free ports for servers', () => {
  it('come from below the ephemeral range (no outgoing connection can hold one) and never repeat in a process', async () => {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = new Set<number>();
    for (let i = 0; i < 60; i++) ports.add(await freePort());
    assert.equal(ports.size, 60);
    for (const p of ports) assert.ok(p >= 10_000 && p < start, `port ${p} is below ${start}`);
  });
});
