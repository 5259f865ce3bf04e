/**
 * The leader's and replicas' publish_status action (Executor.runShort): the `status` key's optime, the `history` key
 * kept in step with the leader's timeline, and the replication slots of the members (plan-slots.ts decides).
 * Moved out of execute.ts so that file stays under its size limit.
 */
import type { ClusterView } from '../model/cluster';
import { realScheduler } from '../lib/clock';
import type { ExecContext, ExecutorDeps } from './execute';
import { syncHistory } from './execute-promote';
import { planSlots } from './plan-slots';
import type { ExecutorMemory } from './shell-state';

export async function publishStatus(d: ExecutorDeps, mem: ExecutorMemory, ctx: ExecContext): Promise<void> {
  const probe = await d.ops.probe();
  if (probe.flushLsn !== undefined) {
    const status = JSON.stringify({ optime: probe.flushLsn });
    if (status !== mem.lastStatus) {
      await d.store.put(d.keys.status, status);
      mem.lastStatus = status;
    }
  }
  if (probe.reachable && probe.inRecovery === false && probe.timeline && ctx.view) {
    await syncHistory(d, mem, ctx.view, probe.timeline).catch((err: unknown) => d.logger.warn({ err }, 'updating the history key failed'));
  }
  if (ctx.dynamic.postgresql.useSlots && ctx.view) await syncSlots(d, mem, ctx.view);
}

/** Creates and drops replication slots as planSlots says (retention: plan-slots.ts). */
async function syncSlots(d: ExecutorDeps, mem: ExecutorMemory, view: ClusterView): Promise<void> {
  const wallNow = (d.scheduler ?? realScheduler).wallNow();
  const plan = planSlots(mem.slotsSeen, [...view.members.values()].map((m) => m.name), d.config.name, wallNow);
  mem.slotsSeen = plan.seen;
  await d.ops.ensureSlots(plan.ensure);
  if (plan.drop.length) {
    await d.ops.dropSlots(plan.drop);
    for (const slot of plan.drop) mem.slotsSeen.delete(slot);
  }
}
