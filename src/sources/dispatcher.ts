import { AsyncLocalStorage } from 'node:async_hooks';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type Socket } from 'node:net';
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

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * The questions a guarded dispatcher asks on the way from a request to a socket; the policy that answers
 * them lives in src/server/url-guard.ts. Each answer is an Error to refuse (the request ends with it, and no
 * socket is opened for it) or undefined to go on.
 *
 * Where they are asked, and why there: the request (each redirect hop too) before it is resolved; every
 * address a name resolves to, in the resolver whose answer is then pinned as the connection's address (the
 * DNS interceptor, or net.connect's own lookup when the DNS cache is off), so no second lookup can return
 * another address; and the IP literal the connector is about to connect to.
 */
export interface DispatchGuard {
  /** A request or redirect hop, before anything is resolved or connected. */
  checkRequest(url: URL): Error | undefined;
  /**
   * An address about to be used. `host` is the URL's host name it was reached through (the literal itself
   * when the URL names an IP, or when the request is not known); `url` is the request's URL where known.
   */
  checkAddress(address: string, reached: { host: string; url: string | undefined }): Error | undefined;
  /** Resolves a name to all its addresses instead of dns.lookup (a test's fake DNS, a custom resolver). */
  lookup?(hostname: string): Promise<readonly ResolvedAddress[]>;
}

/** The request being dispatched, for the guard's resolver and connector (which undici calls in its context). */
const guardedRequest = new AsyncLocalStorage<{ url: URL }>();

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
  /** Asked before every request, resolution and connection; see {@link DispatchGuard}. Default: none. */
  guard?: DispatchGuard;
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
  const guard = options.guard;
  if (
    guard !== undefined &&
    (typeof guard?.checkRequest !== 'function' ||
      typeof guard.checkAddress !== 'function' ||
      (guard.lookup !== undefined && typeof guard.lookup !== 'function'))
  ) {
    problems.push('dispatcher.guard: expected { checkRequest, checkAddress, lookup? } functions');
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems);
}

/** A host name as a URL spells it, without the brackets around an IPv6 literal. */
function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** 4, 6, or 0 for either, from the forms Node's lookup options take (4, 'IPv4', undefined). */
function familyNumber(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/** An error that sourceErrorFrom reports as a DNS failure (FF_ERR_DNS). */
function notFound(hostname: string): Error {
  return Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND', hostname });
}

/**
 * Resolves `hostname` with the guard's resolver (or dns.lookup) and asks the guard about every address: one
 * refused address refuses the name, so which address a later pick lands on cannot matter.
 */
async function resolveGuarded(
  guard: DispatchGuard,
  hostname: string,
  family: number,
  request: { url: URL } | undefined,
): Promise<ResolvedAddress[]> {
  // undici's DNS interceptor asks for a bracketed IPv6 literal ('[::1]'): it tests isIP on URL.hostname.
  const literal = hostname.replace(/^\[(.*)\]$/, '$1');
  const literalFamily = isIP(literal);
  const resolved: readonly { address: string; family: number }[] =
    literalFamily !== 0
      ? [{ address: literal, family: literalFamily }]
      : guard.lookup
        ? await guard.lookup(hostname)
        : await new Promise<LookupAddress[]>((resolve, reject) =>
            dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
          );
  const addresses = resolved
    .map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }) as const)
    .filter((entry) => family === 0 || entry.family === family);
  if (addresses.length === 0) throw notFound(hostname);
  const host = literalFamily !== 0 ? literal : hostname;
  for (const entry of addresses) {
    const refusal = guard.checkAddress(entry.address, { host, url: request?.url.href });
    if (refusal) throw refusal;
  }
  return addresses;
}

/** net.connect's `lookup` option over {@link resolveGuarded}: the address net connects to is one checked here. */
function guardedNetLookup(guard: DispatchGuard) {
  return (
    hostname: string,
    lookupOptions: { family?: number | string; all?: boolean },
    callback: (err: Error | null, address: string | ResolvedAddress[], family?: number) => void,
  ): void => {
    resolveGuarded(guard, hostname, familyNumber(lookupOptions.family), guardedRequest.getStore()).then(
      (addresses) =>
        lookupOptions.all
          ? callback(null, addresses)
          : callback(null, addresses[0]!.address, addresses[0]!.family),
      (error: Error) => callback(error, ''),
    );
  };
}

/** Wraps undici's connector so that TCP connect and TLS handshake times reach the request's recorder. */
function timedConnector(options: DispatcherOptions): buildConnector.connector {
  const guard = options.guard;
  const base = buildConnector({
    timeout: options.connectTimeoutMs ?? 2000,
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.http2 ? { allowH2: true } : {}),
    // Spread into net.connect / tls.connect: a host name that reaches the connector (DNS cache off) is
    // resolved, checked and connected to by net itself, in one step.
    ...(guard ? { lookup: guardedNetLookup(guard) } : {}),
  } as buildConnector.BuildOptions);
  return (connectOptions, callback) => {
    if (guard && isIP(connectOptions.hostname) !== 0) {
      // An IP literal is connected to as is (no lookup): this is the last look at the address before the
      // socket. The request's URL says which host name led here (the DNS interceptor pinned it to this address).
      const request = guardedRequest.getStore();
      const refusal = guard.checkAddress(connectOptions.hostname, {
        host: request ? bareHostname(request.url) : connectOptions.hostname,
        url: request?.url.href,
      });
      if (refusal) {
        // Asynchronously, as a failed connect would: undici's client is mid-way through connect() here.
        queueMicrotask(() => (callback as (e: Error | null, s: Socket | null) => void)(refusal, null));
        return undefined as never;
      }
    }
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
 * The URL a dispatch is for. The policy must look at the origin's host: the path only completes the URL for
 * messages, and a path that would move the host when joined (`@elsewhere/`) is dropped instead.
 */
function requestUrl(opts: Dispatcher.DispatchOptions): URL {
  const origin = new URL(String(opts.origin));
  try {
    const joined = new URL(`${origin.origin}${opts.path}`);
    if (joined.protocol === origin.protocol && joined.host === origin.host) return joined;
  } catch {
    // An origin without a usable origin string (data:, file:) or an odd path: the origin alone will do.
  }
  return origin;
}

/**
 * Asks the guard about each request and redirect hop (redirect sits outside this interceptor, so every hop
 * dispatches through it) and runs the rest of the dispatch in the request's context for the resolver and the
 * connector. A URL naming an IP literal is checked here, before the pool: a kept-alive socket to that
 * address (opened for a host name pinned to it) would otherwise be reused without a connect.
 */
function guardInterceptor(guard: DispatchGuard): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    let url: URL;
    let refusal: Error | undefined;
    try {
      url = requestUrl(opts);
    } catch (error) {
      refusal = error as Error;
      url = new URL('about:blank');
    }
    refusal ??= guard.checkRequest(url);
    const hostname = bareHostname(url);
    if (!refusal && isIP(hostname) !== 0) {
      refusal = guard.checkAddress(hostname, { host: hostname, url: url.href });
    }
    if (refusal) {
      const error = refusal;
      queueMicrotask(() =>
        handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, error),
      );
      return true;
    }
    return guardedRequest.run({ url }, () => dispatch(opts, handler));
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
  const guard = options.guard;
  if (dnsCacheMs > 0) {
    chain.push(
      interceptors.dns({
        maxTTL: dnsCacheMs,
        lookup(origin, lookupOptions, callback) {
          const recorder = connectionTiming.getStore();
          const startedAt = performance.now();
          if (guard) {
            // The interceptor pins the request to one of these addresses (and caches them for later
            // requests), so each was checked before any of them can be connected to.
            resolveGuarded(
              guard,
              origin.hostname,
              familyNumber(lookupOptions.family),
              guardedRequest.getStore(),
            ).then(
              (addresses) => {
                recorder?.dns?.(performance.now() - startedAt, addresses[0]?.address);
                callback(
                  null,
                  addresses.map((entry) => ({ ...entry, ttl: dnsCacheMs })),
                );
              },
              (error: Error) => callback(error, []),
            );
            return;
          }
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
  if (guard) chain.push(guardInterceptor(guard));
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
