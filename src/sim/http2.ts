import { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { FlushTracker, type Exchange, type HeaderList } from './exchange.js';
import type { BodySink } from './pacing.js';
import { now, type TimerSet } from './timers.js';

/*
 * One HTTP/2 stream as an Exchange. The differences from HTTP/1.1 that the simulator documents:
 * - a head cannot be trickled (it is one HEADERS frame), so slowHeadersMs holds the whole frame back;
 * - the declared-too-long fault ends the stream (END_STREAM) short of its content-length, which an HTTP/2
 *   client reports as a protocol error on that stream; the connection carries on;
 * - a reset is an RST_STREAM (INTERNAL_ERROR) on that stream, not a TCP RST of the shared connection.
 */

class Http2Exchange implements Exchange {
  readonly httpVersion = '2.0';
  readonly method: string;
  readonly target: string;
  readonly body: BodySink;
  private settled = false;
  private goneListener: (() => void) | undefined;
  private readonly flushes = new FlushTracker();

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
  ) {
    this.method = String(headers[':method'] ?? '');
    this.target = String(headers[':path'] ?? '');
    this.body = {
      write: (chunk) => this.write(chunk),
      onceDrain: (listener) => {
        stream.once('drain', listener);
        return () => stream.off('drain', listener);
      },
    };
    // 'aborted' covers a client RST_STREAM while the request is open; 'close' covers every other way the
    // stream can end before the response did (session destroyed, GOAWAY, socket lost).
    const lost = (): void => this.clientGone();
    stream.on('aborted', lost);
    stream.on('close', lost);
    stream.on('error', lost);
  }

  header(name: string): string | undefined {
    const value = this.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  sendHead(
    status: number,
    headers: HeaderList,
    trickleMs: number,
    timers: TimerSet,
    onSent: () => void,
  ): void {
    const respond = (): void => {
      if (this.settled) return;
      if (this.stream.destroyed || this.stream.closed) {
        this.clientGone();
        return;
      }
      const fields: OutgoingHttpHeaders = { ':status': status };
      for (const [name, value] of headers) fields[name] = value;
      this.stream.respond(fields);
      onSent();
    };
    if (trickleMs > 0) timers.at(now() + trickleMs, respond);
    else respond();
  }

  end(): void {
    if (this.settle()) this.stream.end();
  }

  endConnection(): void {
    if (this.settle()) this.stream.end();
  }

  reset(): void {
    if (!this.settle()) return;
    // Not stream.close(code): it ends the writable side first, so the client would see END_STREAM short of
    // the content-length and answer with its own PROTOCOL_ERROR. Destroying with an error sends only the
    // RST_STREAM, with INTERNAL_ERROR.
    this.whenFlushed(() => this.stream.destroy(new Error('netsim reset fault')));
  }

  destroy(): void {
    this.settle();
    this.stream.destroy();
  }

  onClientGone(listener: () => void): void {
    this.goneListener = listener;
  }

  private clientGone(): void {
    if (this.settle()) this.goneListener?.();
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }

  private write(chunk: Uint8Array): boolean {
    return this.flushes.write(this.stream, chunk);
  }

  private whenFlushed(callback: () => void): void {
    this.flushes.whenFlushed(callback);
  }
}

/** The exchange for one incoming HTTP/2 stream. */
export function http2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Exchange {
  return new Http2Exchange(stream, headers);
}
