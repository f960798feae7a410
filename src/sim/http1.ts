import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { FlushTracker, type Exchange, type HeaderList } from './exchange.js';
import type { BodySink } from './pacing.js';
import { now, type TimerSet } from './timers.js';

/*
 * A small HTTP/1.1 server side written on the socket itself rather than on node:http, because the faults
 * need the bytes under control: a head trickled line by line, a Content-Length that lies, a reset after
 * exactly N body bytes, a count of the body bytes handed to the socket. Requests are read one at a time
 * (pipelined requests wait in the buffer); request bodies are never read, so a request that has one ends
 * its connection after the response.
 */

const maxHeadBytes = 64 * 1024;
const resetGapMs = 10;
const tokenChars = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface RequestHead {
  method: string;
  target: string;
  httpVersion: string;
  headers: Map<string, string>;
}

function parseHead(text: string): RequestHead | undefined {
  const [requestLine = '', ...fieldLines] = text.split('\r\n');
  const match = /^(\S+) (\S+) HTTP\/(1\.[01])$/.exec(requestLine);
  if (match === null) return undefined;
  const [, method = '', target = '', httpVersion = ''] = match;
  if (!tokenChars.test(method)) return undefined;
  const headers = new Map<string, string>();
  for (const line of fieldLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    if (!tokenChars.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { method, target, httpVersion, headers };
}

function connectionTokens(head: RequestHead): string[] {
  return (head.headers.get('connection') ?? '')
    .toLowerCase()
    .split(',')
    .map((token) => token.trim());
}

/** `content-type` → `Content-Type`: the spelling a CDN sends (clients compare names case-insensitively). */
function canonicalName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());
}

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

class Http1Exchange implements Exchange {
  readonly httpVersion: string;
  readonly method: string;
  readonly target: string;
  readonly body: BodySink;
  private settled = false;
  private goneListener: (() => void) | undefined;
  private readonly flushes = new FlushTracker();

  constructor(
    private readonly connection: Http1Connection,
    private readonly socket: Socket,
    private readonly head: RequestHead,
    private readonly keepAlive: boolean,
  ) {
    this.httpVersion = head.httpVersion;
    this.method = head.method;
    this.target = head.target;
    this.body = {
      write: (chunk) => this.write(chunk),
      onceDrain: (listener) => {
        socket.once('drain', listener);
        return () => socket.off('drain', listener);
      },
    };
  }

  header(name: string): string | undefined {
    return this.head.headers.get(name);
  }

  sendHead(
    status: number,
    headers: HeaderList,
    trickleMs: number,
    timers: TimerSet,
    onSent: () => void,
  ): void {
    const pieces = [
      statusLine(status),
      ...headers.map(([name, value]) => `${canonicalName(name)}: ${value}\r\n`),
      `Connection: ${this.keepAlive ? 'keep-alive' : 'close'}\r\n`,
      '\r\n',
    ];
    if (trickleMs <= 0) {
      this.write(pieces.join(''));
      onSent();
      return;
    }
    // Piece i is due at i/(n-1) of the way through, so the blank line ending the head lands at trickleMs.
    const startedAt = now();
    const step = trickleMs / (pieces.length - 1);
    const writePiece = (index: number): void => {
      if (this.settled) return;
      this.write(pieces[index] ?? '');
      if (index === pieces.length - 1) onSent();
      else timers.at(startedAt + (index + 1) * step, () => writePiece(index + 1));
    };
    writePiece(0);
  }

  end(): void {
    if (this.settle()) this.connection.exchangeDone(this, this.keepAlive);
  }

  endConnection(): void {
    if (this.settle()) this.connection.retire('end');
  }

  reset(): void {
    if (!this.settle()) return;
    this.connection.retire('keep');
    // Wait until the kernel has the body bytes (an RST discards whatever is still queued), then a little
    // longer: when the last bytes and the RST reach a client in the same wake-up, libuv reports a plain EOF
    // instead of ECONNRESET. The gap lets a client that keeps up read the bytes, then see the reset.
    this.whenFlushed(() => {
      if (this.socket.destroyed) return;
      const timer = setTimeout(() => this.connection.resetSocket(), resetGapMs);
      this.socket.once('close', () => clearTimeout(timer));
    });
  }

  destroy(): void {
    this.settle();
    this.socket.destroy();
  }

  onClientGone(listener: () => void): void {
    this.goneListener = listener;
  }

  /** The connection saw the client go away. */
  clientGone(): void {
    if (this.settle()) this.goneListener?.();
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }

  private write(data: string | Uint8Array): boolean {
    return this.flushes.write(this.socket, data);
  }

  private whenFlushed(callback: () => void): void {
    this.flushes.whenFlushed(callback);
  }
}

class Http1Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private current: Http1Exchange | undefined;
  /** False once the connection will carry no further request. */
  private reusable = true;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly onExchange: (exchange: Exchange) => void,
    readonly resetSocket: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (!this.reusable) return;
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.readNext();
    });
    // A FIN from an HTTP client means it has given up on the response: no client half-closes and waits.
    socket.on('end', () => {
      this.lost();
      socket.destroy();
    });
    socket.on('error', () => this.lost());
    socket.on('close', () => this.lost());
  }

  exchangeDone(exchange: Http1Exchange, keepAlive: boolean): void {
    if (this.current !== exchange) return;
    this.current = undefined;
    if (!keepAlive || !this.reusable) {
      this.retire('end');
      return;
    }
    // A microtask, so that the finished response's 'request-end' goes out before the next 'request'.
    queueMicrotask(() => this.readNext());
  }

  /** No further request on this connection; `end` also ends it once the written bytes are out. */
  retire(how: 'end' | 'keep'): void {
    this.reusable = false;
    this.buffered = Buffer.alloc(0);
    if (how === 'end' && !this.socket.destroyed) this.socket.end();
  }

  private lost(): void {
    this.closed = true;
    const exchange = this.current;
    this.current = undefined;
    exchange?.clientGone();
  }

  private readNext(): void {
    if (this.current !== undefined || this.closed || !this.reusable) return;
    // RFC 9112 §2.2: a server should ignore empty lines received before a request line.
    let start = 0;
    while (this.buffered[start] === 0x0d || this.buffered[start] === 0x0a) start += 1;
    if (start > 0) this.buffered = this.buffered.subarray(start);
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (this.buffered.length > maxHeadBytes) this.refuse(431, 'request head too large');
      return;
    }
    const head = parseHead(this.buffered.subarray(0, headEnd).toString('latin1'));
    this.buffered = this.buffered.subarray(headEnd + 4);
    if (head === undefined) {
      this.refuse(400, 'malformed request head');
      return;
    }
    const contentLength = head.headers.get('content-length');
    if (contentLength !== undefined && !/^\d+$/.test(contentLength)) {
      this.refuse(400, 'bad Content-Length');
      return;
    }
    const hasBody = head.headers.has('transfer-encoding') || Number(contentLength ?? '0') > 0;
    const tokens = connectionTokens(head);
    const keepAlive =
      !hasBody && (head.httpVersion === '1.1' ? !tokens.includes('close') : tokens.includes('keep-alive'));
    if (hasBody) this.reusable = false;
    const exchange = new Http1Exchange(this, this.socket, head, keepAlive);
    this.current = exchange;
    this.onExchange(exchange);
  }

  /** Answers a request that could not be read, then ends the connection. Such requests are not recorded. */
  private refuse(status: number, reason: string): void {
    const body = `${status} ${STATUS_CODES[status] ?? ''}: ${reason}\n`;
    this.socket.write(
      `${statusLine(status)}Content-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    this.retire('end');
  }
}

/**
 * Serves HTTP/1.x requests arriving on `socket` (plain TCP, or TLS after ALPN chose http/1.1).
 * `resetSocket` aborts the TCP connection with an RST; a TLS socket cannot do that itself
 * (ERR_INVALID_HANDLE_TYPE), so the caller passes one that resets the TCP socket underneath.
 */
export function serveHttp1Connection(
  socket: Socket,
  onExchange: (exchange: Exchange) => void,
  resetSocket: () => void = () => socket.resetAndDestroy(),
): void {
  new Http1Connection(socket, onExchange, resetSocket);
}
