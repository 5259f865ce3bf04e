/**
 * Replication slot retention (pure): the leader keeps a physical slot per other member so a slow replica never loses
 * WAL. A member whose key vanished (stopped, restarting, cut off) keeps its slot for MEMBER_SLOT_RETENTION_MS, so it
 * resumes without a new basebackup; after that the slot is dropped, so a member gone for good does not make the
 * leader keep WAL until its disk fills.
 */
import { slotNameFromMemberName } from '../model/keys';

/** Patroni 4's member_slots_ttl default (30 min). */
export const MEMBER_SLOT_RETENTION_MS = 30 * 60 * 1000;

/** Slot name → when (wall ms) its member was last seen in the cluster. */
export type SlotsSeen = ReadonlyMap<string, number>;

export interface SlotPlan {
  /** Last-seen times including this cycle's members (expired ones are removed once dropped). */
  seen: Map<string, number>;
  ensure: string[];
  drop: string[];
}

/**
 * The slots to keep and to drop now. `wallNowMs` is the wall clock: the retention spans half an hour, where a clock
 * step only shifts when a long-gone member's slot goes, and a slot is never dropped while its member's key exists.
 */
export function planSlots(seen: SlotsSeen, members: Iterable<string>, me: string, wallNowMs: number): SlotPlan {
  const next = new Map(seen);
  for (const name of members) if (name !== me) next.set(slotNameFromMemberName(name), wallNowMs);
  const ensure: string[] = [];
  const drop: string[] = [];
  for (const [slot, at] of next) (wallNowMs - at < MEMBER_SLOT_RETENTION_MS ? ensure : drop).push(slot);
  return { seen: next, ensure, drop };
}
