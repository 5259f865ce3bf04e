/**
 * One lease keepalive round trip on a fresh LeaseKeepAlive stream: write one request, read one answer, half-close.
 * etcd3's Lease objects keep leases alive on their own timer and report loss late; the agent times keepalives
 * itself and fences on its own clock (design §3), so it needs exactly one round trip under its control.
 */
import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import type { AttemptOptions } from './endpoints';

/** Resolves with the TTL etcd reports (seconds); 0 when the lease is not found or expired. */
export async function keepAliveOnce(client: Etcd3, lease: string, options: AttemptOptions): Promise<number> {
  // The deadline bounds the whole stream, so a silent etcd ends it with DEADLINE_EXCEEDED.
  const stream = await client.leaseClient.leaseKeepAlive(options);
  return new Promise<number>((resolve, reject) => {
    stream.on('data', (res: ILeaseKeepAliveResponse) => {
      resolve(Math.max(0, Number(res.TTL)));
      // Half-close: etcd then ends the call with OK. (cancel() would be reported as a failure of the host.)
      stream.end();
    });
    stream.on('error', reject);
    stream.on('end', () => reject(new Error('keepalive stream ended without an answer')));
    stream.write({ ID: lease });
  });
}
