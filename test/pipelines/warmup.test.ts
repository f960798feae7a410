/** With warmBatchSizes (serve), a pipeline warms its model up at the batch sizes its batch stage gives it. */
import { allocatorTuning } from '../../src/core/allocator.cjs';
import { WARM_HEAP_BYTES } from '../../src/operators/decode/warm.js';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline } from '../../src/pipelines/runner.js';

async function warmupOf(document: Record<string, unknown>, warmBatchSizes = true): Promise<unknown> {
  const events: StageEvent[] = [];
  const prepared = await preparePipeline(loadPipeline({ document }), {
    onEvent: (event) => events.push(event),
    warmBatchSizes,
  });
  await prepared.release();
  return events.find((event) => event.name === 'model-loaded')?.data?.['warmup'];
}

describe('model warm-up at prepare', () => {
  it('the batch size first (ONNX Runtime grows its memory for it), then a single frame, twice each', async () => {
    expect(await warmupOf({ extends: 'default', batch: { size: 4 } })).toEqual({ runs: 2, batches: [4, 1] });
  }, 60_000);

  it('by default (a one-off run): batch 1 only', async () => {
    expect(await warmupOf({ extends: 'default', batch: { size: 4 } }, false)).toEqual({
      runs: 2,
      batches: [1],
    });
  }, 60_000);

  it('batches of one: only batch 1', async () => {
    expect(await warmupOf({ extends: 'default', batch: { size: 1, rampUp: false } })).toEqual({
      runs: 2,
      batches: [1],
    });
  }, 60_000);
});

describe('decode warm-up at prepare', () => {
  async function decodeWarmUps(options: { warmDecode?: boolean }, document: Record<string, unknown> = {}) {
    const events: StageEvent[] = [];
    const prepared = await preparePipeline(loadPipeline({ document: { extends: 'default', ...document } }), {
      onEvent: (event) => events.push(event),
      ...options,
    });
    await prepared.release();
    return events.filter((event) => event.stage === 'decode' && event.name === 'warm-up');
  }

  it("firstframe's decoder decodes the bundled clip's first two frames once, at the pipeline's size", async () => {
    const warmUps = await decodeWarmUps({});
    expect(warmUps).toHaveLength(1);
    // Heap touched only where the allocator is tuned (src/core/allocator.cts; test/core/allocator.test.ts):
    // not in a test process, unless it was started with GLIBC_TUNABLES.
    expect(warmUps[0]!.data).toEqual({
      ms: expect.any(Number),
      frames: 2,
      heapBytes: allocatorTuning().tuned ? WARM_HEAP_BYTES : 0,
    });
    // The stream-colour path is warmed too (its own filter graph), with the same two frames.
    const streamColour = await decodeWarmUps({}, { imgSize: 320, decode: { preprocess: 'stream-colour' } });
    expect(streamColour.map((event) => event.data?.['frames'])).toEqual([2]);
  }, 60_000);

  it('warmDecode: false skips it', async () => {
    expect(await decodeWarmUps({ warmDecode: false })).toEqual([]);
  }, 60_000);
});
