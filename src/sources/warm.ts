import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { SourceError } from '../core/errors.js';
import { connectionTiming, sharedDispatcher } from './dispatcher.js';
import { parseHttpUrl, sourceErrorFrom } from './http-errors.js';

export interface WarmResult {
  readonly url: string;
  /** Wall time of the whole warm-up (DNS + connect + TLS + one HEAD round trip). */
  readonly ms: number;
  readonly dnsMs?: number;
  readonly connectMs?: number;
  readonly tlsMs?: number;
  /** True when a kept-alive connection already existed: the warm-up paid no DNS/TCP/TLS. */
  readonly reused: boolean;
  readonly status: number;
  readonly totalBytes?: number;
  readonly acceptRanges: boolean;
}

/**
 * Pre-connects to a video's host so that the first real request pays no DNS, TCP or TLS: one HEAD request
 * through the dispatcher leaves a kept-alive socket (and a cached DNS answer) behind. The HEAD answer also
 * tells the size and whether Range is advertised, which later choices may use.
 *
 * Rejects with a {@link SourceError} (same codes as the sources) when the host cannot be reached.
 */
export async function warm(
  url: string | URL,
  options: { dispatcher?: Dispatcher } = {},
): Promise<WarmResult> {
  const parsed = parseHttpUrl(url);
  if (parsed instanceof SourceError) throw parsed;
  const dispatcher = options.dispatcher ?? sharedDispatcher();
  const timings: { dnsMs?: number; connectMs?: number; tlsMs?: number } = {};
  const startedAt = performance.now();
  try {
    const response = await connectionTiming.run(
      {
        dns: (ms) => (timings.dnsMs = ms),
        connect: (ms) => (timings.connectMs = ms),
        tls: (ms) => (timings.tlsMs = ms),
      },
      () =>
        dispatcher.request({
          origin: parsed.origin,
          path: `${parsed.pathname}${parsed.search}`,
          method: 'HEAD',
          headersTimeout: 10_000,
          // undici closes the socket after a HEAD by default (for servers that wrongly send a body); the
          // whole point here is to keep it.
          reset: false,
        }),
    );
    await response.body.dump();
    // undici hands the connection back to its pool only on a later turn of the event loop (measured: a
    // request dispatched in the same turn, or after setImmediate, opens a second socket). Return after
    // that, so that the caller's first request finds the warm socket idle.
    await sleep(1);
    const length = response.headers['content-length'];
    const ranges = response.headers['accept-ranges'];
    return {
      url: parsed.href,
      ms: performance.now() - startedAt,
      ...timings,
      reused: timings.connectMs === undefined,
      status: response.statusCode,
      ...(typeof length === 'string' && /^\d+$/.test(length) ? { totalBytes: Number(length) } : {}),
      acceptRanges: typeof ranges === 'string' && ranges.toLowerCase().includes('bytes'),
    };
  } catch (error) {
    throw sourceErrorFrom(error, parsed.href, { url: parsed.href, method: 'HEAD' });
  }
}
