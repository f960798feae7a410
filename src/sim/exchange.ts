import type { BodySink } from './pacing.js';
import type { TimerSet } from './timers.js';

/** Response header fields, lower-case names, in the order they are sent. */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/**
 * One request and the means to answer it, independent of the protocol. The HTTP/1.1 connection and the
 * HTTP/2 stream each implement it; the simulator's behaviour (respond.ts) is written once against it.
 *
 * Exactly one of `end`, `endConnection`, `reset` or `destroy` settles an exchange. Before that, the
 * client going away is reported once to the `onClientGone` listener; after it, never.
 */
export interface Exchange {
  /** '1.0', '1.1' or '2.0'. */
  readonly httpVersion: string;
  readonly method: string;
  /** The request target as sent: path and query (`/clip.mp4?ff-rate=1000`). */
  readonly target: string;
  /** A request header by lower-case name; repeated fields joined with ', '. */
  header(name: string): string | undefined;
  /**
   * Sends the status and header fields. With `trickleMs` > 0 the head is spread over that many
   * milliseconds (HTTP/1.1 writes it line by line; HTTP/2 can only hold its HEADERS frame back). `onSent`
   * runs once the last byte of the head was handed over, or never if the client went away meanwhile.
   */
  sendHead(
    status: number,
    headers: HeaderList,
    trickleMs: number,
    timers: TimerSet,
    onSent: () => void,
  ): void;
  /** Where body bytes go. */
  readonly body: BodySink;
  /** The response is complete; the connection may carry the next one. */
  end(): void;
  /** Ends the whole connection after the bytes written so far (a body shorter than its Content-Length). */
  endConnection(): void;
  /** Flushes the bytes written so far, then aborts: TCP RST on HTTP/1.1, RST_STREAM on HTTP/2. */
  reset(): void;
  /** Drops the connection (or stream) at once: the simulator is closing. */
  destroy(): void;
  /** Registers the single listener for the client going away before the exchange was settled. */
  onClientGone(listener: () => void): void;
}

/** What a socket or HTTP/2 stream offers for writing with a flush callback. */
interface WritableSide {
  readonly destroyed: boolean;
  write(data: string | Uint8Array, flushed: () => void): boolean;
}

/**
 * Counts writes not yet handed to the kernel and runs callbacks once all have been, so that a fault
 * (reset, early end) happens after exactly the bytes written before it. Shared by both protocols.
 */
export class FlushTracker {
  private pending = 0;
  private waiters: Array<() => void> = [];

  /** Writes through `side`; returns what its write returned (false: wait for 'drain'). */
  write(side: WritableSide, data: string | Uint8Array): boolean {
    if (side.destroyed) return false;
    this.pending += 1;
    return side.write(data, () => {
      this.pending -= 1;
      if (this.pending === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const waiter of waiters) waiter();
      }
    });
  }

  whenFlushed(callback: () => void): void {
    if (this.pending === 0) callback();
    else this.waiters.push(callback);
  }
}
