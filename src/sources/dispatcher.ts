import { AsyncLocalStorage } from 'node:async_hooks';
import { lookup as dnsLookup } from 'node:dns';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, interceptors, type Dispatcher } from 'undici';
import { ConfigError, codes } from '../core/errors.js';

/**
 * Connection-level timings of one request. The dispatcher's DNS lookup and connector run in the async
 * context of the request that made them necessary, so an AsyncLocalStorage carries the request's recorder
 * to them; a request that reuses a kept-alive connection sees no calls at all.
 */
export interface ConnectionRecorder {
  dns?(ms: number, address: string | undefined): void;
  connect?(ms: number, remoteAddress: string | undefined): void;
  tls?(ms: number, alpnProtocol: string | false | null | undefined): void;
}

export const connectionTiming = new AsyncLocalStorage<ConnectionRecorder>();

export interface DispatcherOptions {
  /** TCP (and TLS) connect timeout; default 2000 ms. */
  connectTimeoutMs?: number;
  /** How long an idle kept-alive connection is kept; default 60 s. */
  keepAliveMs?: number;
  /** Negotiate HTTP/2 over TLS (ALPN) when the server offers it; default false. */
  http2?: boolean;
  /** Cache DNS answers for at most this long; 0 disables the cache; default 60 s. */
  dnsCacheMs?: number;
  /** Extra CA certificates to trust (PEM), e.g. a test server's self-signed one. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Redirects followed; default 5. */
  maxRedirections?: number;
}

function validate(options: DispatcherOptions): void {
  const problems: string[] = [];
  const check = (name: keyof DispatcherOptions, min: number) => {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < min)) {
      problems.push(`dispatcher.${name}: expected a number >= ${min}, got ${JSON.stringify(value)}`);
    }
  };
  check('connectTimeoutMs', 1);
  check('keepAliveMs', 1);
  check('dnsCacheMs', 0);
  check('maxRedirections', 0);
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems);
}

/** Wraps undici's connector so that TCP connect and TLS handshake times reach the request's recorder. */
function timedConnector(options: DispatcherOptions): buildConnector.connector {
  const base = buildConnector({
    timeout: options.connectTimeoutMs ?? 2000,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.http2 ? { allowH2: true } : {}),
  } as buildConnector.BuildOptions);
  return (connectOptions, callback) => {
    const recorder = connectionTiming.getStore();
    const startedAt = performance.now();
    const secure = connectOptions.protocol === 'https:';
    const socket = base(connectOptions, (err, connected) => {
      // The callback runs on 'connect' (plain) or 'secureConnect' (TLS), before undici writes the request.
      if (!err && recorder) {
        if (!secure) recorder.connect?.(performance.now() - startedAt, (connected as Socket).remoteAddress);
        else recorder.tls?.(performance.now() - startedAt, (connected as TLSSocket).alpnProtocol);
      }
      (callback as (e: Error | null, s: Socket | null) => void)(err, connected as Socket);
    }) as unknown as Socket | undefined;
    if (secure && recorder?.connect && socket && typeof socket.once === 'function') {
      socket.once('connect', () => recorder.connect?.(performance.now() - startedAt, socket.remoteAddress));
    }
    return socket as never;
  };
}

/**
 * A dispatcher for video sources: keep-alive, connect timeout, optional HTTP/2, cached DNS, redirects.
 * One is shared by default ({@link sharedDispatcher}) so that `warm(url)` and later requests share sockets.
 */
export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  validate(options);
  const keepAlive = options.keepAliveMs ?? 60_000;
  const agent = new Agent({
    connect: timedConnector(options),
    keepAliveTimeout: keepAlive,
    keepAliveMaxTimeout: Math.max(keepAlive, 1),
    allowH2: options.http2 ?? false,
    // Our sources keep their own stall and headers timers (they know when they paused the body on
    // purpose); undici's would fire during deliberate backpressure.
    bodyTimeout: 0,
    headersTimeout: 0,
  });
  const chain: Dispatcher.DispatcherComposeInterceptor[] = [];
  const dnsCacheMs = options.dnsCacheMs ?? 60_000;
  if (dnsCacheMs > 0) {
    chain.push(
      interceptors.dns({
        maxTTL: dnsCacheMs,
        lookup(origin, lookupOptions, callback) {
          const recorder = connectionTiming.getStore();
          const startedAt = performance.now();
          dnsLookup(origin.hostname, { all: true, family: lookupOptions.family ?? 0 }, (err, addresses) => {
            const records = (addresses ?? []).map((entry) => ({
              address: entry.address,
              family: entry.family as 4 | 6,
              ttl: dnsCacheMs,
            }));
            recorder?.dns?.(performance.now() - startedAt, records[0]?.address);
            callback(err, records);
          });
        },
      }),
    );
  }
  const redirections = options.maxRedirections ?? 5;
  if (redirections > 0) chain.push(interceptors.redirect({ maxRedirections: redirections }));
  return chain.length > 0 ? agent.compose(...chain) : agent;
}

let shared: Dispatcher | undefined;
let sharedOptions: DispatcherOptions = {};

/** The process-wide dispatcher, created on first use with the options of {@link configureSharedDispatcher}. */
export function sharedDispatcher(): Dispatcher {
  shared ??= createDispatcher(sharedOptions);
  return shared;
}

/** Replaces the shared dispatcher's options; the old one is closed gracefully. */
export function configureSharedDispatcher(options: DispatcherOptions): void {
  validate(options);
  const old = shared;
  sharedOptions = { ...options };
  shared = undefined;
  void old?.close().catch(() => undefined);
}

/** Closes the shared dispatcher's sockets (tests and graceful shutdown). */
export async function closeSharedDispatcher(): Promise<void> {
  const old = shared;
  shared = undefined;
  await old?.destroy().catch(() => undefined);
}
