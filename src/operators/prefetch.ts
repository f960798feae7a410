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
    const idle = this.#idle.get(byteLength)?.pop();
    if (idle) {
      this.#idleBytes -= byteLength;
      return idle;
    }
    return new Uint8Array(new SharedArrayBuffer(byteLength));
  }

  /** Gives a buffer back once nothing reads or writes it any more. */
  give(buffer: Uint8Array): void {
    if (this.#idleBytes + buffer.byteLength > this.maxIdleBytes) return;
    const list = this.#idle.get(buffer.byteLength) ?? [];
    list.push(buffer);
    this.#idle.set(buffer.byteLength, list);
    this.#idleBytes += buffer.byteLength;
  }

  /** Bytes held idle now. */
  get idleBytes(): number {
    return this.#idleBytes;
  }
}

/** The pool gates use unless given their own: shared by every run of the process. */
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
  /** A slot, undefined when the frame is to be dropped (drop-newest); may wait (block). */
  acquire(): PrefetchSlot | undefined | Promise<PrefetchSlot>;
  /** The frames' run has started: their slots can no longer be evicted. */
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

export interface PrefetchGateOptions {
  /** Where slots' pixel buffers come from and go back to; default {@link sharedPixelBuffers}. */
  pixelBuffers?: PixelBufferPool;
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

  const take = (): PrefetchSlot => {
    const slot: PrefetchSlot = { id: (nextId += 1), dropped: false };
    held.add(slot.id);
    waiting.push(slot);
    return slot;
  };
  /** Frees the slot's place in the window; its pixel buffer stays with the slot (see `detach`). */
  const vacate = (slot: PrefetchSlot) => {
    if (!held.delete(slot.id)) return;
    const index = waiting.indexOf(slot);
    if (index >= 0) waiting.splice(index, 1);
    // A readmitted slot may have taken the window past its limit: a waiter gets a place once it is under.
    if (held.size >= limit) return;
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(take());
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
    },
    started(slots) {
      for (const slot of slots) {
        const index = waiting.indexOf(slot);
        if (index >= 0) waiting.splice(index, 1);
      }
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
    close() {
      closed = true;
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
