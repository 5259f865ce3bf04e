/**
 * What a pooled client is told after its server connection was lost under it (the backend closed or failed, or
 * the router cut it: fencing) — pool-design item 4, pure over messages so it is unit-tested without sockets:
 *  - every sync point in flight (a Query, a Sync, a FunctionCall sent and not answered) gets ErrorResponse 08006
 *    and ReadyForQuery: 'E' when the client was in a transaction block, else 'I';
 *  - extended-protocol messages sent after the last Sync: the client's next messages are skipped up to its Sync,
 *    which is answered with the error (as PostgreSQL skips to Sync after an error);
 *  - a block: the client believes it is in a (now failed) transaction; the router answers its ROLLBACK (or COMMIT:
 *    PostgreSQL answers ROLLBACK to a COMMIT of a failed block) itself and anything else with 25P02, so the client
 *    ends the block as it would after any error, and its next transaction takes a new server connection.
 */
import type { ErrorFields } from '../wire';
import { MSG, commandComplete, encodeMessage, readCString, readyForQuery, statementError, type Message, type TxStatus } from './messages';

// Not "rolled back": a COMMIT (or an autocommit statement) in flight may have committed before the server died,
// and the router cannot know; what it knows is that it sent nothing of the transaction anywhere else (server-end.ts).
export const SERVER_LOST: Omit<ErrorFields, 'severity'> = {
  sqlstate: '08006',
  message: 'server connection lost with the transaction in flight: the router did not run it again',
  hint: 'the client connection is still open: run the transaction again (if its COMMIT was in flight, check first whether it committed)',
};

const IN_FAILED_BLOCK: Omit<ErrorFields, 'severity'> = {
  sqlstate: '25P02',
  message: 'current transaction is aborted, commands ignored until end of transaction block',
};

/** ROLLBACK / ABORT / COMMIT / END of a block (not ROLLBACK TO SAVEPOINT: the savepoint went with the server). */
const ENDS_BLOCK = /^\s*(rollback|abort|commit|end)(\s+(work|transaction))?\s*;?\s*$/i;

/** The client's side of a lost server connection, until it has been told and has left its block. */
export interface Loss {
  /** The error still to give at the client's next sync point. */
  error?: Omit<ErrorFields, 'severity'>;
  /** The client is in a failed transaction block (RFQ 'E') until it sends ROLLBACK. */
  block: boolean;
  /** Extended-protocol messages since the last Sync (answered at the Sync when they end the block). */
  batch: number[];
  rollbackParsed: boolean;
}

/**
 * At the loss: the answers for the sync points in flight, and the state for what the client sends next
 * (undefined: nothing left to tell, the next message takes a new server connection).
 */
export function onLoss(inFlight: number, unsynced: number, status: TxStatus, detail?: string): { answers: Buffer[]; loss: Loss | undefined } {
  const block = status !== 'I';
  const answers: Buffer[] = [];
  const lost = detail ? { ...SERVER_LOST, detail } : SERVER_LOST;
  for (let i = 0; i < inFlight; i++) answers.push(statementError(lost), readyForQuery(block ? 'E' : 'I'));
  const told = inFlight > 0;
  if (!block && unsynced === 0) return { answers, loss: undefined };
  // Unsynced messages are answered at their Sync; an idle block hears of the loss at its next statement.
  const error = unsynced > 0 || !told ? lost : undefined;
  return { answers, loss: { ...(error ? { error } : {}), block, batch: [], rollbackParsed: false } };
}

/**
 * A client message while `loss` is set: the answers to write (none until a sync point), and the loss left
 * (undefined: over). COPY data of a lost COPY is dropped.
 */
export function afterLoss(loss: Loss, m: Message): { answers: Buffer[]; loss: Loss | undefined } {
  const t = m.type;
  if (t === MSG.copyData || t === MSG.copyDone || t === MSG.copyFail || t === MSG.flush) return { answers: [], loss };
  if (t === MSG.query || t === MSG.functionCall) {
    const sql = t === MSG.query ? readCString(m.body, 0)?.value ?? '' : '';
    return syncPoint(loss, ENDS_BLOCK.test(sql), []);
  }
  if (t === MSG.sync) return syncPoint(loss, loss.rollbackParsed, loss.batch);
  if (t === MSG.parse) {
    const name = readCString(m.body, 0);
    const sql = name ? readCString(m.body, name.next)?.value ?? '' : '';
    if (ENDS_BLOCK.test(sql)) loss.rollbackParsed = true;
  }
  loss.batch.push(t);
  return { answers: [], loss };
}

function syncPoint(loss: Loss, endsBlock: boolean, batch: number[]): { answers: Buffer[]; loss: Loss | undefined } {
  const reset = (): void => {
    loss.batch = [];
    loss.rollbackParsed = false;
  };
  if (loss.error) {
    const answers = [statementError(loss.error), readyForQuery(loss.block ? 'E' : 'I')];
    delete loss.error;
    reset();
    return { answers, loss: loss.block ? loss : undefined };
  }
  if (endsBlock) {
    const answers = batch.map(answerInBatch).filter((b): b is Buffer => b !== undefined);
    if (batch.length === 0) answers.push(commandComplete('ROLLBACK'));
    answers.push(readyForQuery('I'));
    return { answers, loss: undefined };
  }
  reset();
  return { answers: [statementError(IN_FAILED_BLOCK), readyForQuery('E')], loss };
}

/** The answer PostgreSQL gives each extended-protocol message of a batch that runs ROLLBACK. */
function answerInBatch(t: number): Buffer | undefined {
  if (t === MSG.parse) return encodeMessage(MSG.parseComplete);
  if (t === MSG.bind) return encodeMessage(MSG.bindComplete);
  if (t === MSG.describe) return encodeMessage(MSG.noData);
  if (t === MSG.execute) return commandComplete('ROLLBACK');
  if (t === MSG.close) return encodeMessage(MSG.closeComplete);
  return undefined;
}
