/**
 * The prefetch bound in virtual time: a producer that decodes a frame every millisecond and takes a slot
 * for each one as the decode stage does (waiting on the gate's promise under `block`), batches of 2, and
 * infer with a model double whose runs take 10 ms. Inference is 5× slower than decoding, so the gate is
 * what holds decoding back.
 *
 * The gate's wait is a real Promise (decode awaits it), so virtual time here is vitest's fake timers,
 * advanced one millisecond at a time with pending promise callbacks run in between, and the counts are
 * taken after every step.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Observable, lastValueFrom, tap } from 'rxjs';
import { planeOf } from '../../src/inference/input-tensor.js';
import { anchorsFor, type LoadedModel, type ModelOutput } from '../../src/inference/model.js';
import { letterboxGeometry } from '../../src/media/letterbox.js';
import { batch } from '../../src/operators/batch.js';
import type { DecodedFrame, VideoStreamInfo } from '../../src/operators/decode.js';
import { infer } from '../../src/operators/infer.js';
import {
  prefetchGate,
  type PrefetchGate,
  type PrefetchPolicy,
  type PrefetchSlot,
} from '../../src/operators/prefetch.js';

const S = 32;
const PLANE = planeOf(S);
const ANCHORS = anchorsFor(S);
const FRAMES = 24;
const LIMIT = 4;
const RUN_MS = 10;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const stream: VideoStreamInfo = {
  layout: 'faststart',
  container: 'mov',
  codec: 'h264',
  decoder: 'h264',
  width: S,
  height: S,
  fps: 25,
  timeBase: [1, 12800],
};

function model(): LoadedModel {
  return {
    path: 'fake.onnx',
    inputName: 'images',
    outputName: 'output0',
    inputType: 'float32',
    imgSize: S,
    batch: 'dynamic',
    layout: { task: 'detect', classNames: ['thing'] },
    device: 'cpu',
    metadata: {},
    setupMs: 0,
    run: (_input, count) =>
      new Promise<ModelOutput>((resolve) =>
        setTimeout(() => resolve({ data: new Float32Array(count * 5 * ANCHORS), anchors: ANCHORS }), RUN_MS),
      ),
    inputBuffer: (count) => new Float32Array(count * PLANE),
    recycleInput: () => {},
    release: () => Promise.resolve(),
  };
}

interface Counts {
  /** Frames that got a slot (decoded and converted). */
  converted: number[];
  /** Frames that went on without pixels (drop-newest). */
  withoutPixels: number[];
}

/** A decoder emitting frame n at n ms, taking a slot first; frames without a slot go on without pixels. */
function producer(gate: PrefetchGate, counts: Counts): Observable<DecodedFrame> {
  return new Observable<DecodedFrame>((subscriber) => {
    let active = true;
    void (async () => {
      for (let n = 1; n <= FRAMES && active; n += 1) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const taken = gate.acquire();
        const slot: PrefetchSlot | undefined = taken instanceof Promise ? await taken : taken;
        if (!active) return;
        (slot ? counts.converted : counts.withoutPixels).push(n);
        subscriber.next({
          frameNumber: n,
          pts: n / 25,
          width: S,
          height: S,
          keyFrame: n === 1,
          decodedAt: Date.now(),
          image: slot ? { ...letterboxGeometry(S, S, S), data: new Uint8Array(PLANE) } : undefined,
          stream,
          ...(slot ? { slot } : {}),
        });
      }
      subscriber.complete();
    })();
    return () => {
      active = false;
    };
  });
}

interface Outcome {
  results: number[];
  counts: Counts;
  /** The most slots held at any step. */
  maxInFlight: number;
  /** The most frames converted but not yet through inference (nor evicted) at any step. */
  maxAhead: number;
  dropped: number;
  inFlightAtEnd: number;
  evicted: number[];
}

async function runPipeline(policy: PrefetchPolicy): Promise<Outcome> {
  const gate = prefetchGate(LIMIT, policy);
  const counts: Counts = { converted: [], withoutPixels: [] };
  const results: number[] = [];
  const frames: DecodedFrame[] = [];
  let done = false;
  const finished = lastValueFrom(
    producer(gate, counts).pipe(
      tap((frame) => frames.push(frame)),
      batch({ size: 2 }),
      infer(model(), { gate }),
      tap((result) => results.push(result.frameNumber)),
    ),
    { defaultValue: undefined },
  ).finally(() => {
    done = true;
  });
  let maxInFlight = 0;
  let maxAhead = 0;
  for (let step = 0; step < 1000 && !done; step += 1) {
    await vi.advanceTimersByTimeAsync(1);
    maxInFlight = Math.max(maxInFlight, gate.inFlight);
    const converted = frames.filter((f) => f.slot && !f.slot.dropped).length;
    maxAhead = Math.max(maxAhead, converted - results.length);
  }
  await finished;
  return {
    results,
    counts,
    maxInFlight,
    maxAhead,
    dropped: gate.dropped,
    inFlightAtEnd: gate.inFlight,
    evicted: frames.filter((f) => f.slot?.dropped).map((f) => f.frameNumber),
  };
}

describe('prefetch bound in virtual time (decoding 5× faster than inference)', () => {
  it('block: decoding never gets more than the limit ahead of inference, and every frame gets through', async () => {
    const outcome = await runPipeline('block');
    expect(outcome.maxInFlight).toBe(LIMIT);
    expect(outcome.maxAhead).toBe(LIMIT);
    expect(outcome.results).toEqual(Array.from({ length: FRAMES }, (_, i) => i + 1));
    expect(outcome.dropped).toBe(0);
    expect(outcome.inFlightAtEnd).toBe(0);
  });

  it('drop-newest: frames that find the gate full go on without pixels, counted', async () => {
    const outcome = await runPipeline('drop-newest');
    expect(outcome.maxInFlight).toBe(LIMIT);
    expect(outcome.counts.withoutPixels).toHaveLength(outcome.dropped);
    // 1–4 fill the gate; 5–11 find it full until run [1, 2] ends at 12; [3, 4] runs 12–22 while 12 and 13
    // take the free slots and 14–21 find it full; then 22, 23 (and 24 does not fit).
    expect({ results: outcome.results, withoutPixels: outcome.counts.withoutPixels }).toEqual({
      results: [1, 2, 3, 4, 12, 13, 22, 23],
      withoutPixels: [5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 24],
    });
    expect(outcome.dropped).toBe(16);
    expect(outcome.maxAhead).toBeLessThanOrEqual(LIMIT);
    expect(outcome.inFlightAtEnd).toBe(0);
  });

  it('drop-oldest: the oldest frame waiting for its run is evicted, counted; running ones never are', async () => {
    const outcome = await runPipeline('drop-oldest');
    expect(outcome.maxInFlight).toBe(LIMIT);
    expect(outcome.evicted).toHaveLength(outcome.dropped);
    // Run [1, 2] (2–12) cannot lose its frames; each new frame evicts the oldest waiting one, so what runs
    // next at 12 is the newest waiting then (10), and at 22 (19, 20); 23 and 24 are the last two in.
    expect({ results: outcome.results, evicted: outcome.evicted }).toEqual({
      results: [1, 2, 10, 19, 20, 23, 24],
      evicted: [3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22],
    });
    expect(outcome.dropped).toBe(17);
    expect(outcome.maxAhead).toBeLessThanOrEqual(LIMIT);
    expect(outcome.inFlightAtEnd).toBe(0);
  });
});
