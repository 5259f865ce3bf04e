/**
 * A pooled client's authentication at the router, driven over lane auth's ClientAuthExchange (pure, over 'p'
 * message bodies): the exchange's messages are written, the client's answers framed (bounded by the exchange's
 * MAX_AUTH_MESSAGE_BYTES, and in time by startup_timeout), until it says ok or fail. Nothing the client sends
 * here reaches a server.
 */
import type { Socket } from 'node:net';
import type { Scheduler } from '../../lib/clock';
import { ClientAuthExchange, MAX_AUTH_MESSAGE_BYTES, type AuthFailureReason, type AuthStep, type AuthType } from '../auth/client-auth';
import type { Secret } from '../auth/secrets';
import { MSG, MessageFramer } from './messages';

export type LoginResult =
  /** `final`: the exchange's last messages (SASLFinal), written before the greeting's AuthenticationOk. */
  | { ok: true; clientKey?: Buffer; leftover?: Buffer; final?: Buffer }
  | { ok: false; sqlstate: string; message: string; reason: AuthFailureReason | 'timeout' | 'closed' };

export function clientLogin(o: { client: Socket; leftover: Buffer | undefined; user: string; secret: Secret | undefined; type: AuthType; scheduler: Scheduler; timeoutMs: number }): Promise<LoginResult> {
  const exchange = new ClientAuthExchange({ user: o.user, secret: o.secret, type: o.type });
  const first = exchange.start();
  if (first.kind !== 'send') return Promise.resolve(finish(first, undefined));
  const framer = new MessageFramer('frontend', MAX_AUTH_MESSAGE_BYTES);
  return new Promise<LoginResult>((resolve) => {
    const done = (r: LoginResult): void => {
      o.scheduler.clearTimer(timer);
      o.client.removeListener('data', onData);
      o.client.removeListener('close', onClose);
      o.client.pause();
      resolve(r);
    };
    const timer = o.scheduler.setTimer(() => done({ ok: false, sqlstate: '08P01', message: 'authentication timed out', reason: 'timeout' }), o.timeoutMs);
    const onClose = (): void => done({ ok: false, sqlstate: '08006', message: 'client closed the connection during authentication', reason: 'closed' });
    const onData = (chunk: Buffer): void => {
      framer.push(chunk);
      const m = framer.next();
      if (!m) return;
      if ('kind' in m) return done({ ok: false, sqlstate: m.sqlstate, message: m.message, reason: 'protocol' });
      if (m.type !== MSG.password) return done({ ok: false, sqlstate: '08P01', message: `expected an authentication answer ('p'), got message type "${String.fromCharCode(m.type)}"`, reason: 'protocol' });
      const step = exchange.receive(m.body);
      if (step.kind === 'send') {
        o.client.write(Buffer.concat(step.messages));
        if (framer.buffered > 0) onData(Buffer.alloc(0));
        return;
      }
      done(finish(step, framer.drainBuffered()));
    };
    o.client.on('data', onData);
    o.client.once('close', onClose);
    o.client.write(Buffer.concat(first.messages));
    if (o.leftover) onData(o.leftover);
    o.client.resume();
  });
}

function finish(step: Exclude<AuthStep, { kind: 'send' }>, leftover: Buffer | undefined): LoginResult {
  if (step.kind === 'fail') return { ok: false, sqlstate: step.sqlstate, message: step.message, reason: step.reason };
  return {
    ok: true,
    ...(step.clientKey ? { clientKey: step.clientKey } : {}),
    ...(leftover?.length ? { leftover } : {}),
    ...(step.messages.length ? { final: Buffer.concat(step.messages) } : {}),
  };
}
