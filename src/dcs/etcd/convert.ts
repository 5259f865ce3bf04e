/** Conversions between etcd3's wire shapes and our model (numbers for revisions, decimal strings for leases). */
import type { IKeyValue } from 'etcd3';
import type { KeyValue } from '../../model/cluster';

export const bytes = (s: string): Buffer => Buffer.from(s);

/** The end of a prefix range: the prefix with its last byte below 0xff increased (etcd's `range_end`). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: String(kv.lease ?? '0'),
  };
}
