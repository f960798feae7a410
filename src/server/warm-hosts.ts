import type { Dispatcher } from 'undici';
import { silentLogger, type Logger } from '../core/logger.js';
import { warm } from '../sources/warm.js';

export interface WarmHostsOptions {
  /** The dispatcher the challenges use: its kept-alive sockets and DNS cache are what is kept warm. */
  dispatcher: Dispatcher;
  /** How often each recent host gets a HEAD; default 20 s (under the dispatcher's 60 s keep-alive). */
  intervalMs?: number;
  /** A host not seen in a challenge for this long is dropped; default 5 minutes. */
  forgetAfterMs?: number;
  /** At most this many hosts are kept warm (the most recently seen); default 8. */
  maxHosts?: number;
  logger?: Logger;
}

export interface WarmHosts {
  /** A challenge for `url` starts: its origin is recent, and no HEAD is sent to it while it runs. */
  started(url: URL): void;
  /** That challenge ended. */
  ended(url: URL): void;
  /** The origins being kept warm, most recent last. */
  origins(): string[];
  /** Stops the timer; in-flight HEADs end with the dispatcher. */
  close(): void;
}

interface HostState {
  /** The last video URL seen on this origin: a HEAD on it is as cheap as anything the host serves. */
  url: string;
  lastSeenAt: number;
  running: number;
}

/**
 * Keeps connections to recently seen video hosts warm between challenges. Validators tend to send a
 * miner's challenges from the same few storage hosts; the challenge dispatcher keeps sockets alive for 60 s
 * after a download, but hosts and middleboxes often close idle connections sooner, and the next challenge
 * then pays DNS + TCP + TLS before its first byte. So every `intervalMs`, each origin seen within
 * `forgetAfterMs` that has no challenge running gets one HEAD through the same dispatcher
 * (src/sources/warm.ts), which reuses the idle socket or opens a fresh one, and refreshes the DNS cache.
 * A failed HEAD (an expired signed URL answers 403, which is fine: the socket stays) is logged at debug.
 *
 *     challenge ──▶ started(url) … ended(url) ──▶ HEAD every intervalMs ──▶ forgotten after forgetAfterMs
 */
export function keepHostsWarm(options: WarmHostsOptions): WarmHosts {
  const intervalMs = options.intervalMs ?? 20_000;
  const forgetAfterMs = options.forgetAfterMs ?? 300_000;
  const maxHosts = options.maxHosts ?? 8;
  const logger = options.logger ?? silentLogger;
  const hosts = new Map<string, HostState>();
  let closed = false;

  const touch = (url: URL, delta: number) => {
    const origin = url.origin;
    const state = hosts.get(origin) ?? { url: url.href, lastSeenAt: 0, running: 0 };
    state.url = url.href;
    state.lastSeenAt = performance.now();
    state.running = Math.max(0, state.running + delta);
    // Re-inserted last: the Map's order is recency, and the oldest are dropped first.
    hosts.delete(origin);
    hosts.set(origin, state);
    while (hosts.size > maxHosts) hosts.delete(hosts.keys().next().value as string);
  };

  const tick = () => {
    const now = performance.now();
    for (const [origin, state] of hosts) {
      if (now - state.lastSeenAt > forgetAfterMs) {
        hosts.delete(origin);
        continue;
      }
      if (state.running > 0) continue;
      warm(state.url, { dispatcher: options.dispatcher }).then(
        (result) =>
          logger.debug({
            event: 'warm',
            origin,
            ms: result.ms,
            reused: result.reused,
            status: result.status,
          }),
        (error: unknown) =>
          !closed && logger.debug({ event: 'warm-failed', origin, err: (error as Error).message }),
      );
    }
  };

  const timer = setInterval(tick, intervalMs);
  // Keeping hosts warm is no reason to keep the process alive.
  timer.unref();

  return {
    started: (url) => touch(url, 1),
    ended: (url) => touch(url, -1),
    origins: () => [...hosts.keys()],
    close() {
      closed = true;
      clearInterval(timer);
      hosts.clear();
    },
  };
}
