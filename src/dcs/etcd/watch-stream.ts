/**
 * A prefix watch on its own raw Watch stream (etcd3's `watchClient.watch()`), one stream per watch.
 *
 * Why not etcd3's WatchBuilder: on a reconnect it resumes from the revision of the last *header* it saw, and the
 * "created" header already carries the current revision, so a stream that drops while catching up from an old
 * revision resumes past events it never delivered. It also throws (uncaught, from a stream handler) on the
 * progress answers `requestProgress()` relies on (watch_id -1). So here a stream that fails or ends is simply
 * lost: the caller re-lists and watches again, which is always correct.
 */
import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { describe } from '../../lib/errors';
import type { Logger } from '../../log/logger';
import type { Watch, WatchEvent, WatchHandlers } from '../store';
import { bytes, prefixEnd, toKeyValue } from './convert';
import type { Endpoint } from './endpoints';

export interface PrefixWatchOptions {
  endpoint: Endpoint;
  prefix: string;
  /** First revision to deliver (inclusive). */
  fromRevision: number;
  handlers: WatchHandlers;
  /** How long etcd may take to confirm the watch; past that the watch counts as lost. */
  createTimeoutMs: number;
  /** Told when the stream failed for transport reasons (the store then prefers another endpoint). */
  onTransportFailure(ep: Endpoint): void;
  logger?: Logger;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export function openPrefixWatch(o: PrefixWatchOptions): Watch {
  let stream: WatchStream | undefined;
  let finished = false;
  let created = false;
  // A watch is confirmed by a `created` answer; a silent endpoint must not leave us waiting forever.
  const createTimer = setTimeout(
    () => lose(`etcd ${o.endpoint.address} did not confirm the watch within ${o.createTimeoutMs} ms`, false, true),
    o.createTimeoutMs,
  );

  const shutdown = () => {
    clearTimeout(createTimer);
    if (!stream) return;
    // Half-close first: etcd3 reports errors of still-writable streams as host failures (and resets channels).
    stream.end();
    // A half-closed watch stream stays open on etcd's side: cancel it, or the process never exits.
    stream.cancel();
  };
  const lose = (reason: string, compacted: boolean, transport: boolean) => {
    if (finished) return;
    finished = true;
    shutdown();
    if (transport) o.onTransportFailure(o.endpoint);
    guard(o.logger, 'onLost', () => o.handlers.onLost(reason, compacted));
  };

  const onData = (res: IWatchResponse) => {
    if (finished) return;
    const compactRevision = Number(res.compact_revision);
    if (res.canceled || compactRevision > 0) {
      const compacted = compactRevision > 0;
      const reason = compacted
        ? `revision ${o.fromRevision} is compacted (oldest available: ${compactRevision})`
        : `etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`;
      return lose(reason, compacted, false);
    }
    if (res.created) {
      created = true;
      clearTimeout(createTimer);
      return;
    }
    const revision = Number(res.header.revision);
    if (res.events.length > 0) {
      const events: WatchEvent[] = res.events.map((e) => ({ type: e.type === 'Delete' ? 'delete' : 'put', kv: toKeyValue(e.kv) }));
      guard(o.logger, 'onEvents', () => o.handlers.onEvents(events, revision));
    } else if (created) {
      // A progress answer (watch_id -1) or notification: every event up to `revision` was sent before it.
      guard(o.logger, 'onProgress', () => o.handlers.onProgress?.(revision));
    }
  };

  o.endpoint.client.watchClient
    .watch()
    .then((s) => {
      stream = s;
      s.on('error', (err) => lose(`watch stream on ${o.endpoint.address} failed: ${describe(err)}`, false, true));
      s.on('end', () => lose(`watch stream on ${o.endpoint.address} ended`, false, true));
      if (finished) return shutdown();
      s.on('data', onData);
      s.write({
        create_request: { key: bytes(o.prefix), range_end: prefixEnd(o.prefix), start_revision: o.fromRevision },
      });
    })
    .catch((err: unknown) => lose(`opening a watch on ${o.endpoint.address}: ${describe(err)}`, false, true));

  return {
    requestProgress: () => {
      if (!finished && created && stream) stream.write({ progress_request: {} });
    },
    close: () => {
      if (finished) return;
      finished = true;
      shutdown();
    },
  };
}

/** Runs a caller's handler; an exception there must not be mistaken for a stream failure. */
function guard(logger: Logger | undefined, handler: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger?.error({ handler, err }, 'watch handler threw');
  }
}
