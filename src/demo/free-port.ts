import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for servers (postgres, etcd, agents, routers) come from below the kernel's ephemeral range: a port in that
 * range that was free when checked can be taken as the source port of any outgoing connection before the server
 * binds it (a busy test makes thousands), and the server's bind then fails. The kernel never picks a port below
 * the range, for an outgoing connection or for bind(0).
 */
const LOWEST = 10_000;

/** Ports this process has handed out: never twice, though a server may have closed one again. */
const handedOut = new Set<number>();

function ephemeralStart(): number {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(start) && start > 0 ? start : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(addr && typeof addr === 'object' ? addr.port : undefined));
    });
  });
}

/** A free TCP port on `host`, below the ephemeral range when there is room, never the same twice in a process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const top = ephemeralStart();
  for (let attempt = 0; top - LOWEST > 1000 && attempt < 200; attempt++) {
    const p = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (handedOut.has(p)) continue;
    if ((await canListen(p, host)) === p) {
      handedOut.add(p);
      return p;
    }
  }
  // No room below the range (an unusual ip_local_port_range): the kernel's choice.
  for (;;) {
    const p = await canListen(0, host);
    if (p === undefined) throw new Error(`no free port on ${host}`);
    if (!handedOut.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
}
