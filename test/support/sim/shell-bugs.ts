/**
 * Planted defects in the real shell, through the runner's seams (RunnerDeps.leaseKeeper, RunnerDeps.executor), so
 * tests can show that the simulator catches what would go wrong if the shipped code had them.
 */
import { Executor, type ExecContext } from '../../../src/agent/execute';
import { LeaseKeeper } from '../../../src/agent/lease-keeper';
import type { Action } from '../../../src/agent/actions';
import type { RunnerSeams } from '../../../src/agent/runner-seams';
import { DynamicConfigSource } from '../../../src/agent/dynamic-source';
import type { ClusterView } from '../../../src/model/cluster';
import type { ShellBug } from './shell';

/** Self-fencing without its margin: validity runs to the very end of the etcd lease, with no time to stop postgres. */
class NoMargin extends LeaseKeeper {
  override get fenceMarginMs(): number {
    return 0;
  }
}

/** The leader demotes only from its HA loop: no fence timer at all. */
class NoFenceTimer extends LeaseKeeper {
  protected override armFence(): void {}
}

/** The fence deadline is set when the lease is granted and never moved after a keepalive. */
class SkipFenceRenewal extends LeaseKeeper {
  protected override armFence(after: 'grant' | 'keepalive'): void {
    if (after === 'grant') super.armFence(after);
  }
}

/** Rewinds (and follows) the leader of the first view that named one, not the leader decide chose from this tick's view. */
class StaleRewind extends Executor {
  private firstLeaderView: ClusterView | undefined;

  override runShort(action: Action, ctx: ExecContext): Promise<boolean> {
    if (ctx.view?.leader) this.firstLeaderView ??= ctx.view;
    return super.runShort(action, ctx);
  }

  override runLong(action: Action, ctx: ExecContext): Promise<void> {
    const old = this.firstLeaderView;
    if (ctx.view?.leader) this.firstLeaderView ??= ctx.view;
    if (action.type === 'rewind' && old?.leader && old.members.has(old.leader.name)) {
      return super.runLong({ ...action, leader: old.leader.name }, { ...ctx, view: old });
    }
    return super.runLong(action, ctx);
  }
}

/** Simulated nodes have no data directory: the dynamic configuration is never cached in a file (real I/O). */
class NoCache extends DynamicConfigSource {
  override async saveCache(): Promise<void> {}
}

/** The runner's seams for a simulated node: no file cache, and the planted defect if any. */
export function simSeams(bug: ShellBug | undefined): RunnerSeams {
  const seams: RunnerSeams = { dynamicSource: (bootstrap, dataDir, log) => new NoCache(bootstrap, dataDir, log) };
  switch (bug) {
    case 'no-margin':
      return { ...seams, leaseKeeper: (store, opts) => new NoMargin(store, opts) };
    case 'no-fence-timer':
      return { ...seams, leaseKeeper: (store, opts) => new NoFenceTimer(store, opts) };
    case 'skip-fence-renewal':
      return { ...seams, leaseKeeper: (store, opts) => new SkipFenceRenewal(store, opts) };
    case 'stale-rewind':
      return { ...seams, executor: (deps, memory) => new StaleRewind(deps, memory) };
    default:
      return seams;
  }
}
