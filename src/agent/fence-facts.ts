/** The shell half of plan-fence.ts: reads the facts planFence asks for, one at a time, at the fencing point. */
import type { Logger } from '../log/logger';
import type { PostgresOps } from './postgres-ops';
import { planFence, type FenceFacts, type FencePlan } from './plan-fence';

/** A fact that cannot be read is logged and left to the plan (which then leans to fencing). */
export async function planFenceOnLiveState(ops: PostgresOps, publishedRole: string, log: Logger): Promise<Exclude<FencePlan, { step: 'ask' }>> {
  const facts: FenceFacts = { publishedRole };
  const unreadable = (fact: string) => (err: unknown) => {
    log.warn({ err, fact }, 'reading postgres state at the fencing point failed');
    return undefined;
  };
  for (;;) {
    const plan = planFence(facts);
    if (plan.step !== 'ask') return plan;
    if (plan.fact === 'running') facts.running = (await ops.isRunning().catch(unreadable('running'))) ?? true;
    else if (plan.fact === 'standby_signal') facts.standbySignal = (await ops.hasStandbySignal().catch(unreadable('standby_signal'))) ?? false;
    else facts.probe = (await ops.probe().catch(unreadable('probe'))) ?? null;
  }
}
