/**
 * releasingSkipped: a stride stage's passed-over frames give their prefetch slots back, whatever the
 * operator (synchronous filters, operators that decide later, ones that reorder).
 */

import {
  Subject,
  concatMap,
  filter,
  firstValueFrom,
  lastValueFrom,
  map,
  delay,
  mergeMap,
  of,
  take,
  timer,
  toArray,
  type Observable,
} from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import {
  prefetchGate,
  PixelBufferPool,
  type PrefetchGate,
  type PrefetchSlot,
} from '../../src/operators/prefetch.js';
import { releasingSkipped } from '../../src/operators/stride-release.js';

interface Frame {
  readonly frameNumber: number;
  readonly slot?: PrefetchSlot;
}

/**
 * Decoding as the decode stage does it: a slot taken for each frame before it is handed on, waiting
 * while none is free. Resolves with the frames handed on (it stops at the first wait that lasts).
 */
async function decodeInto(
  gate: PrefetchGate,
  input: Subject<Frame>,
  frames: number,
  buffers = new Map<number, Uint8Array>(),
  paceMs = 0,
): Promise<number> {
  for (let frameNumber = 0; frameNumber < frames; frameNumber += 1) {
    if (paceMs > 0) await firstValueFrom(timer(paceMs));
    const taken = gate.acquire();
    const slot =
      taken instanceof Promise
        ? await Promise.race([taken, firstValueFrom(timer(200).pipe(map(() => undefined)))])
        : taken;
    if (!slot) return frameNumber;
    buffers.set(frameNumber, gate.pixels(slot, 16)!);
    input.next({ frameNumber, slot });
  }
  input.complete();
  return frames;
}

const numbers = (frames: readonly Frame[]) => frames.map((frame) => frame.frameNumber);

describe('releasingSkipped', () => {
  it('a synchronous filter that drops every frame: decoding never waits, every slot comes back', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(
          gate,
          filter(() => false),
        ),
        toArray(),
      ),
    );
    expect(await decodeInto(gate, input, 100)).toBe(100);
    expect(await out).toEqual([]);
    expect(gate.inFlight).toBe(0);
  });

  it('without it the same filter holds the slots: decoding stops after `limit` frames', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    input.pipe(filter(() => false)).subscribe();
    expect(await decodeInto(gate, input, 100)).toBe(4);
    gate.close();
  });

  it('keeps the frames the filter keeps, with their slots held for inference', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    const kept: Frame[] = [];
    input
      .pipe(
        releasingSkipped(
          gate,
          filter((frame: Frame) => frame.frameNumber % 3 === 0),
        ),
      )
      .subscribe((frame) => {
        kept.push(frame);
        // Inference is done with it at once.
        gate.release([frame.slot!]);
      });
    expect(await decodeInto(gate, input, 10)).toBe(10);
    expect(numbers(kept)).toEqual([0, 3, 6, 9]);
    expect(gate.inFlight).toBe(0);
  });

  it('an operator that decides later (in order): its frames come out with their pixels; the dropped ones are released', async () => {
    const gate = prefetchGate(16, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    const buffers = new Map<number, Uint8Array>();
    const later = (frame: Frame): Observable<Frame> =>
      timer(1).pipe(concatMap(() => (frame.frameNumber % 2 === 0 ? of(frame) : of())));
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(gate, concatMap(later)),
        map((frame) => {
          // Its place was freed (decoding went on) but its pixel buffer is still its own: no frame
          // decoded after it got the same buffer.
          const own = buffers.get(frame.frameNumber);
          const reused = [...buffers].filter(([n, buffer]) => n > frame.frameNumber && buffer === own);
          expect(reused).toEqual([]);
          gate.release([frame.slot!]);
          return frame;
        }),
        toArray(),
      ),
    );
    expect(await decodeInto(gate, input, 12, buffers)).toBe(12);
    expect(numbers(await out)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(gate.inFlight).toBe(0);
  });

  it('an operator holding more than `limit` undecided frames: the oldest are passed over, and dropped when they come out', async () => {
    const gate = prefetchGate(2, 'block', { pixelBuffers: new PixelBufferPool() });
    const events: StageEvent[] = [];
    const input = new Subject<Frame>();
    const later = concatMap((frame: Frame) => timer(1).pipe(map(() => frame)));
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(gate, later, { onEvent: (event) => events.push(event) }),
        map((frame) => {
          gate.release([frame.slot!]);
          return frame;
        }),
        toArray(),
      ),
    );
    // Decoding hands in 6 frames at once: 4 of them are more than 2 behind the newest.
    expect(await decodeInto(gate, input, 6)).toBe(6);
    expect(numbers(await out)).toEqual([4, 5]);
    expect(events.map((event) => event.data)).toEqual(
      [0, 1, 2, 3].map((n, i) => ({ frameNumber: n, late: i + 1 })),
    );
    expect(gate.inFlight).toBe(0);
  });

  it('a frame that comes out after a later one was passed on is dropped, with a frame-late event', async () => {
    const gate = prefetchGate(8, 'block', { pixelBuffers: new PixelBufferPool() });
    const events: StageEvent[] = [];
    const input = new Subject<Frame>();
    // Frame 1 waits 30 ms, the others 1 ms: 2 comes out before 1.
    const reorder = mergeMap((frame: Frame) =>
      timer(frame.frameNumber === 1 ? 30 : 1).pipe(map(() => frame)),
    );
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(gate, reorder, { onEvent: (event) => events.push(event) }),
        map((frame) => {
          gate.release([frame.slot!]);
          return frame;
        }),
        toArray(),
      ),
    );
    expect(await decodeInto(gate, input, 3)).toBe(3);
    expect(numbers(await out)).toEqual([0, 2]);
    expect(events.map((event) => [event.stage, event.name, event.data])).toEqual([
      ['stride', 'frame-late', { frameNumber: 1, late: 1 }],
    ]);
    expect(gate.inFlight).toBe(0);
  });

  it('an error in the operator releases the frames it held', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    let failed: unknown;
    input
      .pipe(
        releasingSkipped(
          gate,
          map((frame: Frame) => {
            if (frame.frameNumber === 2) throw new Error('boom');
            return frame;
          }),
        ),
      )
      .subscribe({
        next: (frame) => gate.release([frame.slot!]),
        error: (error: unknown) => (failed = error),
      });
    for (let frameNumber = 0; frameNumber < 3; frameNumber += 1) {
      input.next({ frameNumber, slot: gate.acquire() as PrefetchSlot });
    }
    expect((failed as Error).message).toBe('boom');
    expect(gate.inFlight).toBe(0);
  });

  it('an operator that lets frames out later keeps the window bound: with inference never done, decoding stops at `limit`', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    const out: Frame[] = [];
    // Inference never gives a slot back.
    input
      .pipe(
        releasingSkipped(
          gate,
          concatMap((frame: Frame) => of(frame).pipe(delay(1))),
        ),
      )
      .subscribe((frame) => out.push(frame));
    // Decoding paced at 5 ms a frame: each frame comes out of the operator before the next is decoded.
    expect(await decodeInto(gate, input, 200, new Map(), 5)).toBe(4);
    expect(numbers(out)).toEqual([0, 1, 2, 3]);
    expect(gate.inFlight).toBe(4);
    gate.close();
  });

  it('a frame let out later takes its place again, past the limit for a while, and decoding waits', () => {
    const gate = prefetchGate(2, 'block', { pixelBuffers: new PixelBufferPool() });
    const input = new Subject<Frame>();
    const letOut = new Subject<void>();
    const out: Frame[] = [];
    input
      .pipe(
        releasingSkipped(
          gate,
          concatMap((frame: Frame) =>
            letOut.pipe(
              take(1),
              map(() => frame),
            ),
          ),
        ),
      )
      .subscribe((frame) => out.push(frame));
    // Two frames go in and wait in the operator: their places are free, decoding goes on.
    for (let frameNumber = 0; frameNumber < 2; frameNumber += 1)
      input.next({ frameNumber, slot: gate.acquire() as PrefetchSlot });
    expect(gate.inFlight).toBe(0);
    const third = gate.acquire() as PrefetchSlot;
    const fourth = gate.acquire() as PrefetchSlot;
    letOut.next();
    letOut.next();
    expect(numbers(out)).toEqual([0, 1]);
    expect(gate.inFlight).toBe(4);
    expect(gate.acquire()).toBeInstanceOf(Promise);
    gate.release([third, fourth, ...out.map((frame) => frame.slot!)]);
    expect(gate.inFlight).toBe(1); // the waiter's slot
    gate.close();
  });

  it('a frame passed over while the operator still holds it: its pixel buffer goes to no later frame', () => {
    const pool = new PixelBufferPool();
    const gate = prefetchGate(2, 'block', { pixelBuffers: pool });
    const input = new Subject<Frame>();
    const letOut = new Map<number, Subject<void>>();
    const buffers = new Map<number, Uint8Array>();
    const read: Array<[number, boolean]> = [];
    // A scorer that reads each frame's pixels when it is done with it, in any order.
    const scorer = mergeMap((frame: Frame) => {
      const done = new Subject<void>();
      letOut.set(frame.frameNumber, done);
      return done.pipe(
        take(1),
        map(() => {
          read.push([frame.frameNumber, buffers.get(frame.frameNumber)![0] === frame.frameNumber]);
          return frame;
        }),
      );
    });
    const out: Frame[] = [];
    input.pipe(releasingSkipped(gate, scorer)).subscribe((frame) => {
      out.push(frame);
      gate.release([frame.slot!]); // inference done at once
    });
    const decodeOne = (frameNumber: number) => {
      const slot = gate.acquire() as PrefetchSlot;
      const pixels = gate.pixels(slot, 16)!;
      pixels.fill(frameNumber);
      buffers.set(frameNumber, pixels);
      input.next({ frameNumber, slot });
    };
    decodeOne(0);
    decodeOne(1);
    letOut.get(1)!.next(); // 1 comes out first: 0 is passed over
    decodeOne(2);
    decodeOne(3);
    expect(buffers.get(2)).not.toBe(buffers.get(0));
    expect(buffers.get(3)).not.toBe(buffers.get(0));
    letOut.get(0)!.next(); // the scorer reads 0's pixels now: still its own
    expect(read).toEqual([
      [1, true],
      [0, true],
    ]);
    expect(numbers(out)).toEqual([1]);
    gate.close();
  });

  it('a frame whose slot was evicted before the stage goes through, not taken for a late frame', async () => {
    const gate = prefetchGate(1, 'drop-oldest', { pixelBuffers: new PixelBufferPool() });
    const events: StageEvent[] = [];
    const input = new Subject<Frame>();
    const evicted = gate.acquire() as PrefetchSlot;
    const kept = gate.acquire() as PrefetchSlot;
    expect(evicted.dropped).toBe(true);
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(
          gate,
          concatMap((frame: Frame) => timer(1).pipe(map(() => frame))),
          {
            onEvent: (event) => events.push(event),
          },
        ),
        toArray(),
      ),
    );
    input.next({ frameNumber: 0, slot: evicted });
    input.next({ frameNumber: 1, slot: kept });
    input.complete();
    expect(numbers(await out)).toEqual([0, 1]);
    expect(events).toEqual([]);
  });

  it('an operator that emits a frame twice: the second is dropped with a frame-repeated event', async () => {
    const gate = prefetchGate(4, 'block', { pixelBuffers: new PixelBufferPool() });
    const events: StageEvent[] = [];
    const input = new Subject<Frame>();
    const twice = concatMap((frame: Frame) => of(frame, frame));
    const out = lastValueFrom(
      input.pipe(
        releasingSkipped(gate, twice, { onEvent: (event) => events.push(event) }),
        map((frame) => {
          gate.release([frame.slot!]);
          return frame;
        }),
        toArray(),
      ),
    );
    expect(await decodeInto(gate, input, 2)).toBe(2);
    expect(numbers(await out)).toEqual([0, 1]);
    expect(events.map((event) => [event.stage, event.name, event.data])).toEqual([
      ['stride', 'frame-repeated', { frameNumber: 0, repeated: 1 }],
      ['stride', 'frame-repeated', { frameNumber: 1, repeated: 2 }],
    ]);
    expect(gate.inFlight).toBe(0);
  });
});
