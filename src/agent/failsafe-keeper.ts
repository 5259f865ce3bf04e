/**
 * Failsafe mode's effects (decisions in failsafe.ts): the leader's rounds of `POST /failsafe` on their own timer,
 * apart from the HA loop (whose etcd read can take retry_timeout to fail), so a good round renews the validity and
 * the fence grant before the fencing point; and, on every member, the last leader that POSTed here.
 */
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import { isPrimaryRole } from '../model/member';
import type { AgentStatus } from './status';
import {
  answerFailsafePost, failsafeActive, judgeRound, planRound, type FailsafeState, type RoundFacts,
} from './failsafe';
import type { FailsafePost } from './failsafe-post';

/** What the keeper needs of the lease keeper. */
export interface FailsafeLease {
  readonly intervalMs: number;
  readonly lastKeepaliveMs: number;
  readonly leaseId: unknown;
  renewByFailsafe(sentAtMs: number): void;
}

export interface FailsafeKeeperDeps {
  scheduler: Scheduler;
  lease: FailsafeLease;
  /** The last tick's published status (role, view, dynamic config). */
  status: () => AgentStatus;
  post: FailsafePost;
  logger: Logger;
  /** A round failed: the HA loop should look again now (it demotes). */
  onRoundFailed: () => void;
}

/** Patroni's per-member deadline for the POST. */
const POST_TIMEOUT_MS = 2000;

export class FailsafeKeeper {
  private round: FailsafeState['round'];
  private leader: FailsafeState['leader'];
  private timer: unknown;
  private stopped = true;
  private lastReason = '';

  constructor(private readonly d: FailsafeKeeperDeps) {}

  /**
   * Checks twice per keepalive interval: a round is due once a keepalive is overdue by half an interval, so the
   * first starts within two intervals of the last keepalive, well before ttl − margin; then one per check while
   * keepalives fail, each renewing the validity.
   */
  private get periodMs(): number {
    return Math.max(100, this.d.lease.intervalMs / 2);
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void this.checkOnce().finally(() => {
        if (!this.stopped) this.timer = this.d.scheduler.setTimer(loop, this.periodMs);
      });
    };
    this.timer = this.d.scheduler.setTimer(loop, this.periodMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.d.scheduler.clearTimer(this.timer);
  }

  /** What the HA loop observes. */
  state(): FailsafeState {
    return { ...(this.round ? { round: this.round } : {}), ...(this.leader ? { leader: this.leader } : {}) };
  }

  /** `failsafe_mode_is_active` for /patroni and the metric. */
  active(): boolean {
    const s = this.d.status();
    return s.dynamic.failsafeMode === true && failsafeActive(this.state(), this.d.scheduler.now(), s.dynamic.ttlSeconds * 1000);
  }

  /** `POST /failsafe` from a leader (failsafe.ts answerFailsafePost). */
  accept(body: Record<string, unknown>): { code: number; message: string } {
    const s = this.d.status();
    const answer = answerFailsafePost({
      failsafeMode: s.dynamic.failsafeMode === true,
      runningPrimary: s.state === 'running' && isPrimaryRole(s.role),
      body,
    });
    if (answer.leader) this.leader = { name: answer.leader, receivedMs: this.d.scheduler.now() };
    else this.d.logger.info({ code: answer.code, reason: answer.message }, 'failsafe POST refused');
    return { code: answer.code, message: answer.message };
  }

  /** One check: run a round when planRound says so, and renew the lease keeper's validity on a good one. */
  async checkOnce(): Promise<void> {
    const s = this.d.status();
    const facts: RoundFacts = {
      failsafeMode: s.dynamic.failsafeMode === true,
      paused: s.pause,
      me: s.name,
      leader: s.view?.leader?.name === s.name && this.d.lease.leaseId !== undefined && s.view.leader.lease === String(this.d.lease.leaseId),
      primary: isPrimaryRole(s.role),
      topology: s.view?.failsafe,
      nowMs: this.d.scheduler.now(),
      lastKeepaliveMs: this.d.lease.lastKeepaliveMs,
      keepaliveIntervalMs: this.d.lease.intervalMs,
    };
    const plan = planRound(facts);
    if (plan.step === 'idle') {
      this.round = undefined;
      return;
    }
    const sentAt = this.d.scheduler.now();
    const body = { name: s.name, conn_url: s.connUrl, api_url: s.apiUrl };
    const timeoutMs = Math.min(POST_TIMEOUT_MS, this.periodMs);
    const answers = await Promise.all(plan.members.map((m) => this.d.post(m.name, m.apiUrl, body, timeoutMs)));
    const verdict = judgeRound(answers);
    this.round = { ...verdict, atMs: sentAt };
    if (verdict.reason !== this.lastReason) {
      this.lastReason = verdict.reason;
      this.d.logger.warn({ ok: verdict.ok, reason: verdict.reason, members: answers.length }, 'failsafe round');
    }
    if (verdict.ok) this.d.lease.renewByFailsafe(sentAt);
    else this.d.onRoundFailed();
  }
}
