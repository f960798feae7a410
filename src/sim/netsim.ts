import { EventEmitter } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import { createServer as createHttp2Server, type Http2Session } from 'node:http2';
import { createServer as createNetServer, Socket as NetSocket, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ConfigError, FirstframeError, codes } from '../core/errors.js';
import { createFileCatalog } from './catalog.js';
import type { Exchange } from './exchange.js';
import { serveHttp1Connection } from './http1.js';
import { http2Exchange } from './http2.js';
import {
  baseSettings,
  netSimOptionProblems,
  overridesToQuery,
  requestOverrideProblems,
  type RequestOverrides,
} from './options.js';
import { serveExchange, type ServerState } from './respond.js';
import { selfSignedCertificate } from './tls.js';

/**
 * A fault the simulator applies to a response. The body faults (stall, reset, declared-too-long) apply to a
 * file's 200/206 body and only when their byte count falls inside it; a cut at or past the end leaves the
 * response complete. When both a stall and a reset are asked for, the earlier cut wins (a tie resets).
 */
export interface NetSimFault {
  /** Answer with this status code (body: a short text), e.g. 404, 500, 503, 416. */
  status?: number;
  /** Send this many body bytes, then send nothing more but keep the socket open (until the client closes or close()). */
  stallAfterBytes?: number;
  /** Send this many body bytes, then destroy the socket abruptly (TCP RST; RST_STREAM on HTTP/2). */
  resetAfterBytes?: number;
  /** Declare Content-Length larger than the bytes by this many, send the real bytes, then end the connection. */
  contentLengthExcess?: number;
  /** Trickle the response head over this many ms (line by line on HTTP/1.1) before any body byte. */
  slowHeadersMs?: number;
}

export interface NetSimOptions {
  /** Directory served (GET/HEAD /<relative path>); path traversal is refused (403). */
  root?: string;
  /** In-memory files by URL path ('/clip.mp4'); looked up before `root`. Both may be given. */
  files?: Record<string, Uint8Array>;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Bandwidth cap per response; undefined = unlimited. */
  rateBytesPerSec?: number;
  /** Delay between the request being received and the response head being written; default 0. */
  ttfbMs?: number;
  /** Honour Range (206, suffix and open ranges, 416); false = always 200 with the full body. Default true. */
  range?: boolean;
  /** Serve over TLS with ALPN h2 + http/1.1 on the same port. Default false = plain HTTP/1.1. */
  http2?: boolean;
  /** Certificate for TLS (HTTPS/1.1 when http2 is false); generated with openssl when http2 is on and absent. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Applied to every request unless a request's query overrides it. */
  fault?: NetSimFault;
}

export interface NetSimRequestRecord {
  /** 1, 2, 3… in arrival order. */
  id: number;
  method: string;
  /** The decoded URL path, without the query. */
  path: string;
  query: Record<string, string>;
  rangeHeader: string | undefined;
  /** 0 until the response is planned (the file looked up), then the status sent. */
  status: number;
  /** '1.0', '1.1' or '2.0'. */
  httpVersion: string;
  /** Bytes the response body was supposed to carry (0 for HEAD). */
  bodyBytesPlanned: number;
  /** Body bytes handed to the socket (HTTP/2: to the stream); backpressure keeps this within a slice of the kernel. */
  bodyBytesSent: number;
  /** performance.now() milliseconds. */
  receivedAt: number;
  headersSentAt?: number;
  firstBodyByteAt?: number;
  endedAt?: number;
  /**
   * 'complete': every planned byte handed over (also with the declared-too-long fault); 'client-closed': the
   * client went away first; 'reset': the reset fault fired; 'stalled-closed': a stalled response was ended by
   * the client or by close(); 'error': the simulator failed or was closed mid-response.
   */
  outcome: 'pending' | 'complete' | 'client-closed' | 'reset' | 'stalled-closed' | 'error';
}

export interface NetSim {
  /** Base URL, e.g. 'http://127.0.0.1:41234' ('https://…' with TLS). */
  url: string;
  port: number;
  /** Same as url. */
  origin: string;
  /**
   * A URL for `path` whose query carries per-request overrides (`ff-status`, `ff-stall-after`,
   * `ff-reset-after`, `ff-cl-excess`, `ff-slow-headers-ms`, `ff-rate`, `ff-ttfb-ms`, `ff-range`).
   * @throws ConfigError (FF_ERR_INVALID_OPTION) listing every bad override.
   */
  urlFor(
    path: string,
    fault?: NetSimFault & { rateBytesPerSec?: number; ttfbMs?: number; range?: boolean },
  ): string;
  /** Every request received, in order; records are updated in place until their outcome is final. */
  requests: readonly NetSimRequestRecord[];
  /** Emits 'request' (record) when one is received and 'request-end' (record) when its outcome is final. */
  events: EventEmitter;
  /**
   * Resolves with the record once its outcome is final.
   * @throws FirstframeError (FF_ERR_NETSIM_WAIT_TIMEOUT) after `timeoutMs` (default 5000), or when the
   * simulator closes without that request having been received.
   */
  waitForRequestEnd(id: number, timeoutMs?: number): Promise<NetSimRequestRecord>;
  /** TCP connections currently open on the server side. */
  openConnections(): number;
  /** TCP connections accepted since start (keep-alive reuse shows as fewer connections than requests). */
  connectionsAccepted(): number;
  /** The certificate PEM when TLS is on, for clients to trust. */
  tlsOptions?: { ca: string };
  /** Destroys every connection, closes the server, clears every timer; resolves when all are gone. */
  close(): Promise<void>;
}

function formatHostForUrl(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

async function resolveRoot(root: string): Promise<{ realRoot?: string; problem?: string }> {
  try {
    const info = await stat(root);
    if (!info.isDirectory())
      return { problem: `root: expected a directory, got ${JSON.stringify(root)} (a file)` };
    return { realRoot: await realpath(root) };
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? (error as Error).message);
    return { problem: `root: expected a directory, got ${JSON.stringify(root)} (${code})` };
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new ConfigError(
          codes.config.invalidOption,
          [`port: cannot listen on ${host}:${port} (${error.code ?? error.message})`],
          { host, port },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/**
 * Starts a loopback HTTP server that behaves like a slow, unreliable CDN: bandwidth cap, time to first
 * byte, Range support that can be turned off, and faults (error status, stall, reset, short body, slow
 * head), for the whole server or per request through the query string (see `urlFor`).
 *
 *     request ──ttfbMs──▶ head (over slowHeadersMs) ─▶ body at rateBytesPerSec ─▶ end | stall | reset
 *
 * @example
 *   const sim = await startNetSim({ files: { '/clip.mp4': bytes }, rateBytesPerSec: 1_660_000, ttfbMs: 100 });
 *   const response = await fetch(sim.urlFor('/clip.mp4', { stallAfterBytes: 65_536 }));
 *   await sim.close();
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) listing every bad option, a root that is not a directory,
 * a port that cannot be listened on, or a missing openssl when a certificate must be generated.
 */
export async function startNetSim(options: NetSimOptions): Promise<NetSim> {
  const problems = netSimOptionProblems(options);
  let realRoot: string | undefined;
  if (problems.length === 0 && options.root !== undefined) {
    const resolved = await resolveRoot(options.root);
    if (resolved.problem !== undefined) problems.push(resolved.problem);
    realRoot = resolved.realRoot;
  }
  if (problems.length > 0)
    throw new ConfigError(codes.config.invalidOption, problems, { component: 'netsim' });

  const host = options.host ?? '127.0.0.1';
  const http2 = options.http2 ?? false;
  const tlsMaterial = options.tls ?? (http2 ? await selfSignedCertificate() : undefined);

  const records: ServerState['records'] = [];
  const events = new EventEmitter();
  const state: ServerState = {
    records,
    events,
    catalog: createFileCatalog(realRoot, options.files),
    base: baseSettings(options),
    inFlight: new Set(),
  };
  const onExchange = (exchange: Exchange): void => serveExchange(exchange, state);

  /** The TCP sockets, and over them the TLS sockets and HTTP/2 sessions, that close() must destroy. */
  const sockets = new Set<Socket>();
  const tlsSockets = new Set<TLSSocket>();
  const sessions = new Set<Http2Session>();
  let accepted = 0;
  let closing: Promise<void> | undefined;

  const track = (socket: Socket): void => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    // Accepted between server.close() and the last socket closing: refuse it.
    if (closing !== undefined) socket.destroy();
  };

  let server: Server;
  if (tlsMaterial === undefined) {
    server = createNetServer((socket) => {
      track(socket);
      if (!socket.destroyed) serveHttp1Connection(socket, onExchange);
    });
  } else {
    const h2 = createHttp2Server();
    h2.on('stream', (stream, headers) => onExchange(http2Exchange(stream, headers)));
    h2.on('session', (session) => {
      sessions.add(session);
      session.on('error', () => {});
      session.on('close', () => sessions.delete(session));
    });
    h2.on('sessionError', () => {});
    const tlsServer = createTlsServer({
      key: tlsMaterial.key,
      cert: tlsMaterial.cert,
      ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    });
    tlsServer.on('connection', track);
    tlsServer.on('tlsClientError', () => {});
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      tlsSockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => tlsSockets.delete(socket));
      if (socket.alpnProtocol === 'h2') {
        // Not http2.createSecureServer({ allowHTTP1 }): its HTTP/1.1 fallback is node:http, where the faults
        // cannot reach the bytes. ALPN is decided here instead; h2 connections go to an HTTP/2 server that
        // never listens, HTTP/1.1 ones to the same byte-level server as plain HTTP.
        h2.emit('connection', socket);
        return;
      }
      // A TLS socket cannot send an RST itself (ERR_INVALID_HANDLE_TYPE); the TCP socket under it can. Node
      // keeps that one as `_parent`, which has no public accessor; without it the reset degrades to a close.
      const tcp = (socket as TLSSocket & { _parent?: unknown })._parent;
      const resetSocket =
        tcp instanceof NetSocket ? () => void tcp.resetAndDestroy() : () => void socket.destroy();
      serveHttp1Connection(socket, onExchange, resetSocket);
    });
    server = tlsServer;
  }

  const port = await listen(server, options.port ?? 0, host);
  const scheme = tlsMaterial === undefined ? 'http' : 'https';
  const url = `${scheme}://${formatHostForUrl(host)}:${port}`;

  const waiters = new Set<{ reject(error: Error): void }>();

  const waitForRequestEnd = (id: number, timeoutMs = 5000): Promise<NetSimRequestRecord> => {
    const known = records[id - 1];
    if (known !== undefined && known.outcome !== 'pending') return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const waiter = {
        reject(error: Error) {
          cleanup();
          reject(error);
        },
      };
      const onEnd = (record: NetSimRequestRecord): void => {
        if (record.id !== id) return;
        cleanup();
        resolve(record);
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new FirstframeError(
              codes.sim.netsimWaitTimeout,
              `netsim request ${id} did not end within ${timeoutMs} ms`,
              { id, timeoutMs, url },
            ),
          ),
        timeoutMs,
      );
      const cleanup = (): void => {
        clearTimeout(timer);
        events.off('request-end', onEnd);
        waiters.delete(waiter);
      };
      events.on('request-end', onEnd);
      waiters.add(waiter);
      if (closing !== undefined) {
        waiter.reject(
          new FirstframeError(codes.sim.netsimWaitTimeout, `netsim closed before request ${id} ended`, {
            id,
            url,
          }),
        );
      }
    });
  };

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const run of [...state.inFlight]) run.shutdown();
      for (const session of sessions) session.destroy();
      for (const socket of tlsSockets) socket.destroy();
      for (const socket of sockets) socket.destroy();
      for (const waiter of [...waiters]) {
        waiter.reject(
          new FirstframeError(codes.sim.netsimWaitTimeout, 'netsim closed before the request ended', { url }),
        );
      }
    });
    return closing;
  };

  const urlFor = (path: string, overrides?: RequestOverrides): string => {
    const overrideProblems = requestOverrideProblems(overrides);
    if (overrideProblems.length > 0) {
      throw new ConfigError(codes.config.invalidOption, overrideProblems, { component: 'netsim', path });
    }
    const [pathPart = '', queryPart] = path.split(/\?(.*)/s, 2);
    const encodedPath = (pathPart.startsWith('/') ? pathPart : `/${pathPart}`)
      .split('/')
      .map((segment) => encodeURIComponent(segment))
      .join('/');
    const query = new URLSearchParams(queryPart ?? '');
    for (const [name, value] of overridesToQuery(overrides ?? {})) query.set(name, value);
    const search = query.toString();
    return `${url}${encodedPath}${search === '' ? '' : `?${search}`}`;
  };

  return {
    url,
    port,
    origin: url,
    urlFor,
    requests: records,
    events,
    waitForRequestEnd,
    openConnections: () => sockets.size,
    connectionsAccepted: () => accepted,
    ...(tlsMaterial === undefined ? {} : { tlsOptions: { ca: String(tlsMaterial.cert) } }),
    close,
  };
}
