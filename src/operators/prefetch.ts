import {
  Observable,
  asapScheduler,
  asyncScheduler,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { ConfigError, codes } from '../core/errors.js';

/** What happens to a new frame when `limit` frames are already waiting for inference. */
export type PrefetchPolicy = 'block' | 'drop-newest' | 'drop-oldest';

/** A frame's place in the prefetch window; `dropped` turns true if drop-oldest evicted it before its run. */
export interface PrefetchSlot {
  readonly id: number;
  dropped: boolean;
}

/**
 * Idle pixel buffers (shared memory) kept for reuse by later slots, of any gate: memory touched for the
 * first time costs a page fault per 4 KiB (about 300 per 640 × 640 letterbox), and a fresh 1.2 MB buffer per
 * frame was most of the garbage a run made. At most `maxIdleBytes` are kept idle; the rest is let go.
 */
export class PixelBufferPool {
  readonly #idle = new Map<number, Uint8Array[]>();
  #idleBytes = 0;

  constructor(readonly maxIdleBytes = 64 * 1024 * 1024) {}

  /** A buffer of `byteLength` bytes in shared memory; its contents are stale. */
  take(byteLength: number): Uint8Array {
    return this.takeIdle(byteLength) ?? new Uint8Array(new SharedArrayBuffer(byteLength));
  }

  /** An idle buffer of `byteLength` bytes (shared memory, stale contents), undefined when none is. */
  takeIdle(byteLength: number): Uint8Array | undefined {
    const idle = this.#idle.get(byteLength)?.pop();
    if (idle) this.#idleBytes -= byteLength;
    return idle;
  }

  /** Gives a buffer back once nothing reads or writes it any more. */
  give(buffer: Uint8Array): void {
    if (this.#idleBytes + buffer.byteLength > this.maxIdleBytes) return;
    const list = this.#idle.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#idle.set(buffer.byteLength, list);
    this.#idleBytes += buffer.byteLength;
  }

  /**
   * Keeps at least `count` idle buffers of `byteLength` bytes, each page touched: made at prepare time, the
   * first frames' buffers cost no page faults on a run's clock (a fresh 640 × 640 letterbox measured 5 ms
   * to allocate and touch on the 2-core machine under load, against 1 ms for the resize into it).
   */
  keepIdle(byteLength: number, count: number): void {
    const idle = this.#idle.get(byteLength)?.length ?? 0;
    for (let i = idle; i < count && this.#idleBytes + byteLength <= this.maxIdleBytes; i += 1) {
      const buffer = new Uint8Array(new SharedArrayBuffer(byteLength));
      for (let at = 0; at < byteLength; at += 4096) buffer[at] = 0;
      this.give(buffer);
    }
  }

  /** Bytes held idle now. */
  get idleBytes(): number {
    return this.#idleBytes;
  }
}

/**
 * The pool gates use unless given their own, shared by every run of the process; a frame converted without
 * a slot takes an idle buffer from it when there is one (see PictureConverter.convert).
 */
export const sharedPixelBuffers = new PixelBufferPool();

/**
 * Bounds how far decoding runs ahead of inference (PREFETCH_FRAMES). The decode stage takes a slot before
 * converting a frame for the model; the inference stage gives it back when the run that used it is done.
 *
 * - `block` (default): decoding waits for a slot, so it (and, through the decoder's byte bound, the
 *   download) pauses while inference is behind: demand-driven, memory flat whatever the video's length.
 * - `drop-newest`: a frame that finds no slot is not converted (it goes on without pixels), counted.
 * - `drop-oldest`: the oldest frame still waiting for its run is dropped to make room, counted.
 */
export interface PrefetchGate {
  readonly limit: number;
  readonly policy: PrefetchPolicy;
  /** Frames holding a slot now. */
  readonly inFlight: number;
  readonly dropped: number;
  /**
   * A slot, undefined when the frame is to be dropped (drop-newest); may wait (block, or while the first
   * run holds decoding back: `holdDuringFirstRun`).
   */
  acquire(): PrefetchSlot | undefined | Promise<PrefetchSlot | undefined>;
  /**
   * The frames' run has started: their slots can no longer be evicted. The first call with slots starts
   * the hold of `holdDuringFirstRun`.
   */
  started(slots: readonly PrefetchSlot[]): void;
  /** Gives slots back (a run finished, or the frames left the pipeline), pixel buffers included. Idempotent per slot. */
  release(slots: readonly PrefetchSlot[]): void;
  /**
   * Frees the slots' places without their pixel buffers: the frames may still be read (held by an
   * operator that has not decided on them yet), so the buffers stay theirs until `release`. A detached
   * slot is no longer counted in `inFlight`, cannot be evicted, and gets no pixels. Idempotent per slot.
   */
  detach(slots: readonly PrefetchSlot[]): void;
  /**
   * Counts detached slots in `inFlight` again (their frames came out of the operator that held them and go
   * on to inference): `inFlight` may pass `limit` for a while, and `acquire` waits (block) until it is back
   * under it, so a stage that holds frames and lets them go later keeps the window's bound. A slot that is
   * not detached (held, released, abandoned) is left as it is.
   */
  readmit(slots: readonly PrefetchSlot[]): void;
  /**
   * Frees the slots' places and forgets their pixel buffers without giving them back to the pool: an
   * operator may still read the frames (passed over while it holds them), so no later slot may get their
   * buffers; the garbage collector takes them once nothing holds the frames. Idempotent per slot.
   */
  abandon(slots: readonly PrefetchSlot[]): void;
  /** Whether the first run holds decoding back now (`holdDuringFirstRun`). */
  readonly holding: boolean;
  /**
   * Calls `listener` once the first run's hold is over, synchronously as it ends (at once when it is not
   * on); the function returned forgets the listener.
   */
  afterHold(listener: () => void): () => void;
  /** Wakes every waiter with an error: the pipeline is ending. */
  close(): void;
  /**
   * The pixel buffer of a slot held now (`byteLength` bytes, shared memory, stale contents): the decode
   * stage letterboxes the slot's frame into it. It belongs to the slot: once the slot is released (or
   * evicted by drop-oldest) a later slot reuses it, so a frame's `image.data` is valid only while the frame
   * holds its slot. Undefined for a slot not held.
   */
  pixels(slot: PrefetchSlot, byteLength: number): Uint8Array | undefined;
}

/** How the hold of {@link PrefetchGateOptions.holdDuringFirstRun} ended. */
export interface FirstRunHold {
  /** How long it lasted, from the first run's start. */
  readonly ms: number;
  /** `run-ended`: the first run's slots came back; `max-wait`: `maxMs` passed first; `closed`: the gate closed. */
  readonly reason: 'run-ended' | 'max-wait' | 'closed';
  /** Acquisitions that waited for it. */
  readonly waited: number;
}

export interface PrefetchGateOptions {
  /** Where slots' pixel buffers come from and go back to; default {@link sharedPixelBuffers}. */
  pixelBuffers?: PixelBufferPool;
  /**
   * Decoding waits while the first model run is in flight: from the first {@link PrefetchGate.started}
   * until those slots are released (the run is over), or `maxMs` later, whichever comes first, `acquire`
   * waits, whatever the policy. On a machine with few cores the decoder's threads (and the conversion)
   * otherwise compete with the first inference, which then takes 2–3 × its steady time (issue 15). The
   * decoder stops at the next kept frame (frames the stride drops still go by). The download goes on: what
   * it brings meanwhile is held ahead of the decoder by {@link heldDuringFirstRun}, at most `maxMs` of the
   * link's rate (0.8 MB at the seeds' 1.66 MB/s and 500 ms), every byte counted by the run's byte budget.
   * `onEnd` is told once, when the hold ends.
   */
  holdDuringFirstRun?: {
    readonly maxMs: number;
    readonly scheduler?: SchedulerLike;
    readonly onEnd?: (hold: FirstRunHold) => void;
  };
}

export function prefetchGate(
  limit: number,
  policy: PrefetchPolicy = 'block',
  options: PrefetchGateOptions = {},
): PrefetchGate {
  const problems: string[] = [];
  if (!Number.isInteger(limit) || limit <= 0)
    problems.push(`prefetch.limit: expected a positive integer, got ${JSON.stringify(limit)}`);
  if (!['block', 'drop-newest', 'drop-oldest'].includes(policy)) {
    problems.push(
      `prefetch.policy: expected block, drop-newest or drop-oldest, got ${JSON.stringify(policy)}`,
    );
  }
  const hold = options.holdDuringFirstRun;
  if (hold && !(hold.maxMs >= 0 && Number.isFinite(hold.maxMs))) {
    problems.push(
      `prefetch.holdDuringFirstRun.maxMs: expected a number of ms >= 0, got ${JSON.stringify(hold.maxMs)}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'prefetch' });

  let nextId = 0;
  let dropped = 0;
  let closed = false;
  const held = new Set<number>();
  /** Slots detached (see `detach`) and not released, abandoned or readmitted since. */
  const detached = new Set<number>();
  const pool = options.pixelBuffers ?? sharedPixelBuffers;
  /** The pixel buffer of each held slot that asked for one. */
  const buffers = new Map<number, Uint8Array>();
  const letGo = (slot: PrefetchSlot) => {
    const buffer = buffers.get(slot.id);
    if (!buffer) return;
    buffers.delete(slot.id);
    pool.give(buffer);
  };
  /** Slots taken but whose run has not started: the ones drop-oldest may evict, oldest first. */
  const waiting: PrefetchSlot[] = [];
  const waiters: Array<{ resolve: (slot: PrefetchSlot) => void; reject: (error: Error) => void }> = [];
  /** The first run's hold: not started yet, on (its slots' ids), or over. */
  let holdState: 'before' | 'on' | 'over' = hold ? 'before' : 'over';
  const firstRun = new Set<number>();
  let holdStartedAt = 0;
  let holdTimer: Subscription | undefined;
  const heldBack: Array<{
    resolve: (slot: PrefetchSlot | undefined | Promise<PrefetchSlot | undefined>) => void;
    reject: (error: Error) => void;
  }> = [];
  const scheduler = hold?.scheduler ?? asyncScheduler;
  const holdListeners = new Set<() => void>();

  const take = (): PrefetchSlot => {
    const slot: PrefetchSlot = { id: (nextId += 1), dropped: false };
    held.add(slot.id);
    waiting.push(slot);
    return slot;
  };
  /** A slot now, none (drop-newest), or a wait for one: the policy's answer, the hold aside. */
  const acquireNow = (): PrefetchSlot | undefined | Promise<PrefetchSlot> => {
    if (held.size < limit) return take();
    if (policy === 'drop-newest') {
      dropped += 1;
      return undefined;
    }
    if (policy === 'drop-oldest') {
      const oldest = waiting.shift();
      if (oldest) {
        oldest.dropped = true;
        held.delete(oldest.id);
        // Its frame is passed over by every stage (slot.dropped): nothing reads its pixels any more.
        letGo(oldest);
        dropped += 1;
        return take();
      }
      // Every slot is in a running batch: nothing can be evicted, so wait like `block`.
    }
    return new Promise<PrefetchSlot>((resolve, reject) => waiters.push({ resolve, reject }));
  };
  const endHold = (reason: FirstRunHold['reason']) => {
    if (holdState !== 'on') return;
    holdState = 'over';
    holdTimer?.unsubscribe();
    const listeners = [...holdListeners];
    holdListeners.clear();
    for (const listener of listeners) listener();
    const waited = heldBack.splice(0);
    try {
      hold?.onEnd?.({ ms: scheduler.now() - holdStartedAt, reason, waited: waited.length });
    } catch {
      // A listener's failure is not the gate's: the waiters go on.
    }
    for (const waiter of waited) {
      if (reason === 'closed') waiter.reject(new Error('prefetch gate closed'));
      else waiter.resolve(acquireNow());
    }
  };
  /** The first run's slot is back (or gone): the hold ends with the last of them. */
  const firstRunLeft = (slot: PrefetchSlot) => {
    if (firstRun.delete(slot.id) && firstRun.size === 0) endHold('run-ended');
  };
  /** Frees the slot's place in the window; its pixel buffer stays with the slot (see `detach`). */
  const vacate = (slot: PrefetchSlot) => {
    if (held.delete(slot.id)) {
      const index = waiting.indexOf(slot);
      if (index >= 0) waiting.splice(index, 1);
      // A readmitted slot may have taken the window past its limit: a waiter gets a place once it is under.
      const waiter = held.size < limit ? waiters.shift() : undefined;
      if (waiter) waiter.resolve(take());
    }
    // After the place is free: the frames held back take theirs.
    firstRunLeft(slot);
  };

  return {
    limit,
    policy,
    get inFlight() {
      return held.size;
    },
    get dropped() {
      return dropped;
    },
    acquire() {
      if (closed) return Promise.reject(new Error('prefetch gate closed'));
      if (holdState === 'on') {
        return new Promise<PrefetchSlot | undefined>((resolve, reject) => heldBack.push({ resolve, reject }));
      }
      return acquireNow();
    },
    started(slots) {
      for (const slot of slots) {
        const index = waiting.indexOf(slot);
        if (index >= 0) waiting.splice(index, 1);
      }
      const running = slots.filter((slot) => held.has(slot.id));
      if (holdState !== 'before' || running.length === 0) return;
      holdState = 'on';
      holdStartedAt = scheduler.now();
      for (const slot of running) firstRun.add(slot.id);
      holdTimer = scheduler.schedule(() => endHold('max-wait'), hold!.maxMs);
    },
    release(slots) {
      for (const slot of slots) {
        vacate(slot);
        detached.delete(slot.id);
        letGo(slot);
      }
    },
    detach(slots) {
      for (const slot of slots) {
        if (!held.has(slot.id)) continue;
        vacate(slot);
        detached.add(slot.id);
      }
    },
    readmit(slots) {
      for (const slot of slots) {
        if (!detached.delete(slot.id)) continue;
        held.add(slot.id);
        // As any slot whose run has not started: drop-oldest may evict it.
        waiting.push(slot);
      }
    },
    abandon(slots) {
      for (const slot of slots) {
        vacate(slot);
        detached.delete(slot.id);
        buffers.delete(slot.id);
      }
    },
    get holding() {
      return holdState === 'on';
    },
    afterHold(listener) {
      if (holdState !== 'on') {
        listener();
        return () => undefined;
      }
      holdListeners.add(listener);
      return () => holdListeners.delete(listener);
    },
    close() {
      closed = true;
      endHold('closed');
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('prefetch gate closed'));
    },
    pixels(slot, byteLength) {
      if (!held.has(slot.id)) return undefined;
      let buffer = buffers.get(slot.id);
      if (buffer && buffer.byteLength !== byteLength) {
        letGo(slot);
        buffer = undefined;
      }
      if (!buffer) {
        buffer = pool.take(byteLength);
        buffers.set(slot.id, buffer);
      }
      return buffer;
    },
  };
}

/**
 * Holds the values (the download's chunks, on their way to the decoder) back while `gate`'s first run holds
 * decoding back, and lets them through in order once the hold is over: the decoder then has nothing new to
 * demux or decode while the first inference runs, which the acquire-side hold alone does not stop (the
 * decoder opens FFmpeg's demuxer and decodes the frames the stride drops meanwhile). Completion and errors
 * wait for the held values. Outside the hold it changes nothing. The held values go on in a task of
 * `scheduler` (default asap: right after the code that ended the hold, such as the first run's results).
 *
 * ```text
 * chunks:   -a-b--c-d---e-|
 * hold:     ---[=====]            from the first run's start to its end (or maxMs)
 * result:   -a-------(bcd)-e-|    b, c, d held, out in order at the hold's end
 * ```
 *
 * @example source$.pipe(heldDuringFirstRun(gate), decode({ gate, … }))
 * @returns an operator that delays, never drops, reorders or adds a value.
 */
export function heldDuringFirstRun<T>(
  gate: PrefetchGate,
  scheduler: SchedulerLike = asapScheduler,
): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      /** Values held, and how the source ended meanwhile; undefined while nothing is held. */
      let held: { values: T[]; ended?: { error: unknown } | 'complete' } | undefined;
      let forget: (() => void) | undefined;
      let flushing: Subscription | undefined;
      const release = () => {
        const out = held;
        held = undefined;
        if (!out) return;
        for (const value of out.values) {
          if (subscriber.closed) return;
          subscriber.next(value);
        }
        if (out.ended === 'complete') subscriber.complete();
        else if (out.ended) subscriber.error(out.ended.error);
      };
      const upstream = source.subscribe({
        next: (value) => {
          if (held) held.values.push(value);
          else if (gate.holding) {
            held = { values: [value] };
            forget = gate.afterHold(() => {
              flushing = scheduler.schedule(release);
            });
          } else subscriber.next(value);
        },
        error: (error: unknown) => {
          if (held) held.ended = { error };
          else subscriber.error(error);
        },
        complete: () => {
          if (held) held.ended = 'complete';
          else subscriber.complete();
        },
      });
      return () => {
        held = undefined;
        forget?.();
        flushing?.unsubscribe();
        upstream.unsubscribe();
      };
    });
}
