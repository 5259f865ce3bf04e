import type { ActionType } from './actions';

/**
 * What the agent's shell counts, declared on the agent's side of the seam: metrics/agent-metrics.ts AgentMetrics
 * implements it, and agent/ never imports metrics/ (the metrics read agent types, not the other way round), so
 * tests and the simulator can pass a recorder or nothing.
 */
export interface AgentMetricsPort {
  countCycle(): void;
  countAction(action: ActionType): void;
  countScript(action: string, result: string): void;
  setLeader(isLeader: boolean, remainingSeconds: number): void;
  observeKeepalive(seconds: number, ok: boolean): void;
  countDcsError(operation: string): void;
}
