/**
 * `pgha ctl remove CLUSTER` (patronictl): shows the cluster, asks for its name, for the phrase `Yes I am aware`,
 * and, when it has a leader, for the leader's name; then deletes every key under `<namespace>/<scope>/`.
 * These typed confirmations may come from a pipe (there is no --force).
 */
import { renderList } from './list';
import { CtlError, readExistingView, type CtlSession } from './session';
import type { TableFormat } from './history';

export const REMOVE_PHRASE = 'Yes I am aware';

export async function runRemove(s: CtlSession, format: TableFormat): Promise<number> {
  const { io, scope } = s;
  const view = await readExistingView(s);
  io.write(renderList(view, scope, { format: format === 'yaml' ? 'json' : format }));
  const ask = (q: string) => io.prompter.ask(q, { piped: true });
  if ((await ask('Please confirm the cluster name to remove')) !== scope) throw new CtlError('Cluster names specified do not match');
  if ((await ask(`You are about to remove all information in DCS for ${scope}, please type: "${REMOVE_PHRASE}"`)) !== REMOVE_PHRASE) {
    throw new CtlError(`You did not exactly type "${REMOVE_PHRASE}"`);
  }
  if (view.leader) {
    if ((await ask('This cluster currently is healthy. Please specify the leader name to continue')) !== view.leader.name) {
      throw new CtlError('You did not specify the current leader of the cluster');
    }
  }
  await s.store.deletePrefix(s.keys.prefix);
  return 0;
}
