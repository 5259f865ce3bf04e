/**
 * Operator requests (REST restart, reinitialize, reload) as pure helpers of decide(): the action that carries one
 * out, or a refusal with Patroni's wording.
 */
import type { ClusterView } from '../model/cluster';
import type { Action } from './actions';
import type { Observation } from './observation';

export function requestStep(obs: Observation, view: ClusterView): { reason: string; actions: Action[] } {
  const request = obs.request!;
  const refuse = (message: string) => ({ reason: `refusing ${request.type}: ${message}`, actions: [{ type: 'refuse_request', message } as Action] });
  const leader = view.leader?.name;
  switch (request.type) {
    case 'reload':
      return { reason: 'reloading the configuration on request', actions: [{ type: 'reload' }] };
    case 'restart':
      if (obs.postgres.dataDir !== 'initialized') return refuse('postgres has no data directory yet');
      return {
        reason: 'restarting postgres on request',
        actions: [{ type: 'restart', ...(leader && leader !== obs.name ? { leader } : {}) }],
      };
    case 'reinitialize': {
      if (!leader) return refuse('Cluster has no leader, can not reinitialize');
      if (leader === obs.name) return refuse('I am the leader, can not reinitialize');
      const leaderDoc = view.members.get(leader)?.doc;
      if (leaderDoc?.state !== 'running') return refuse(`leader ${leader} is not running, can not reinitialize`);
      return { reason: `reinitializing from ${leader} on request`, actions: [{ type: 'reinitialize', source: leader }] };
    }
  }
}
