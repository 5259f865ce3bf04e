import { freePort } from '../../src/demo/free-port';

/** A free TCP port on loopback (src/demo/free-port.ts: below the ephemeral range, never twice). Never a fixed well-known port. */
export { freePort };

export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort(host));
  return [...out];
}
