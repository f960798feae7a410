import { ConfigError, codes } from '../core/errors.js';

/** What happens to a new frame when `limit` frames are already waiting for inference. */
export type PrefetchPolicy = 'block' | 'drop-newest' | 'drop-oldest';

/** A frame's place in the prefetch window; `dropped` turns true if drop-oldest evicted it before its run. */
export interface PrefetchSlot {
  readonly id: number;
  dropped: boolean;
}

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
  /** Gives slots back (a run finished, or the frames left the pipeline). Idempotent per slot. */
  release(slots: readonly PrefetchSlot[]): void;
  /** Wakes every waiter with an error: the pipeline is ending. */
  close(): void;
}

export function prefetchGate(limit: number, policy: PrefetchPolicy = 'block'): PrefetchGate {
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
  /** Slots taken but whose run has not started: the ones drop-oldest may evict, oldest first. */
  const waiting: PrefetchSlot[] = [];
  const waiters: Array<{ resolve: (slot: PrefetchSlot) => void; reject: (error: Error) => void }> = [];

  const take = (): PrefetchSlot => {
    const slot: PrefetchSlot = { id: (nextId += 1), dropped: false };
    held.add(slot.id);
    waiting.push(slot);
    return slot;
  };
  const free = (slot: PrefetchSlot) => {
    if (!held.delete(slot.id)) return;
    const index = waiting.indexOf(slot);
    if (index >= 0) waiting.splice(index, 1);
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
      for (const slot of slots) free(slot);
    },
    close() {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('prefetch gate closed'));
    },
  };
}
