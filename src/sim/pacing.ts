import { now, type TimerSet } from './timers.js';

/** Where a response body goes: a socket (HTTP/1.1) or a stream (HTTP/2). */
export interface BodySink {
  /** Hands bytes over; false means "buffer full, wait for drain" (Writable semantics). */
  write(chunk: Uint8Array): boolean;
  /** Calls `listener` once on the next 'drain'; returns a function that removes it. */
  onceDrain(listener: () => void): () => void;
}

export interface PacedBodyOptions {
  /** Bytes per second; undefined sends as fast as the sink takes them. */
  rateBytesPerSec: number | undefined;
  /** Called after each slice is handed over, with the running total. */
  onProgress(sentBytes: number, at: number): void;
  /** Called once every byte has been handed over. */
  onDone(): void;
  /** Called if handing bytes over throws (a destroyed sink). */
  onError(error: unknown): void;
}

export interface PacedBody {
  /** Stops at once: no further write, no timer, no drain listener. */
  cancel(): void;
}

/** Unpaced bodies go out in socket-sized slices so that backpressure, not one huge write, limits them. */
const unpacedSliceBytes = 64 * 1024;
/** Paced slices last about this long on the wire: small enough that the client sees a steady trickle. */
const sliceDurationMs = 5;
const maxPacedSliceBytes = 16 * 1024;
const minPacedSliceBytes = 64;

/** How many bytes one write carries at a given rate. */
export function sliceBytesFor(rateBytesPerSec: number | undefined): number {
  if (rateBytesPerSec === undefined) return unpacedSliceBytes;
  const bytes = Math.floor((rateBytesPerSec * sliceDurationMs) / 1000);
  return Math.min(maxPacedSliceBytes, Math.max(minPacedSliceBytes, bytes));
}

/**
 * Writes `body` into `sink` at `rateBytesPerSec`, by an absolute schedule.
 *
 * The allowance at time t after the first body byte is `max(slice, floor(t × rate))` bytes: the first slice
 * goes out at once (the body starts right after the head), and the last byte is due at exactly
 * `body.length / rate`. Each wake-up computes the allowance from the elapsed time, so a late timer is made
 * up by the next write instead of adding up into drift. A `false` from `write` waits for 'drain'.
 *
 *     rate ──▶ allowance(t)
 *     writes   s───s───s───s───s─|   (s = one slice, about 5 ms apart; | = last byte at length / rate)
 *
 * @example
 *   const paced = paceBody(socketSink, body, timers, { rateBytesPerSec: 1_660_000, onProgress, onDone, onError });
 *   // later, when the client goes away:
 *   paced.cancel();
 */
export function paceBody(
  sink: BodySink,
  body: Uint8Array,
  timers: TimerSet,
  options: PacedBodyOptions,
): PacedBody {
  const { rateBytesPerSec } = options;
  const slice = sliceBytesFor(rateBytesPerSec);
  let sent = 0;
  let startedAt: number | undefined;
  let cancelled = false;
  let removeDrainListener: (() => void) | undefined;

  const allowance = (at: number, start: number): number =>
    rateBytesPerSec === undefined
      ? body.length
      : Math.max(slice, Math.floor(((at - start) * rateBytesPerSec) / 1000));

  const pump = (): void => {
    removeDrainListener = undefined;
    try {
      while (!cancelled && sent < body.length) {
        const at = now();
        const start = (startedAt ??= at);
        const target = Math.min(body.length, sent + slice);
        if (allowance(at, start) < target) {
          // rateBytesPerSec is defined here: without a rate the allowance is the whole body.
          timers.at(start + (target * 1000) / (rateBytesPerSec ?? Number.POSITIVE_INFINITY), pump);
          return;
        }
        const writable = sink.write(body.subarray(sent, target));
        sent = target;
        options.onProgress(sent, at);
        if (!writable && sent < body.length) {
          removeDrainListener = sink.onceDrain(pump);
          return;
        }
      }
    } catch (error) {
      cancelled = true;
      options.onError(error);
      return;
    }
    if (!cancelled) options.onDone();
  };

  pump();
  return {
    cancel() {
      cancelled = true;
      removeDrainListener?.();
      removeDrainListener = undefined;
    },
  };
}
