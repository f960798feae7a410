/**
 * Whole pipelines in virtual time (runInVirtualTime): the sink's budget counted from the first frame, drain,
 * one prepared pipeline run twice, the fill stage and the tracker after the flush, a user's operator, and
 * the ways a virtual run refuses or fails. The README's example is in readme-example.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { NEVER, filter, map, take, timer } from 'rxjs';
import { ConfigError, FirstframeError } from '../../src/core/errors.js';
import type { Detection } from '../../src/inference/heads/types.js';
import { resolvePipeline } from '../../src/pipelines/document.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { defineOperator } from '../../src/pipelines/registry.js';
import { preparePipeline } from '../../src/pipelines/runner.js';
import {
  fakeModel,
  frames,
  prepareVirtual,
  runInVirtualTime,
  testingCodes,
  type VirtualRun,
} from '../../src/testing/index.js';

const ball = (x: number): Detection => ({
  bbox: [x, 9, x + 8, 17],
  classId: 0,
  className: 'ball',
  score: 0.9,
});

const timeline = (run: VirtualRun) => ({
  batches: run.batches,
  runs: run.runs,
  results: run.results.map(({ at, frameNumber }) => [at, frameNumber]),
  deadlineAt: run.deadlineAt,
  endedAt: run.endedAt,
  endedBy: run.document.timings.endedBy,
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('runInVirtualTime', () => {
  // Frames every 30 ms from 300 ms; a 100 ms budget from the first frame: the deadline at 400 ms, while
  // the second run (390 to 435 ms) is in progress.
  const clip = frames(12, { fps: 25 });
  const lateFrames = () =>
    timer(300, 30).pipe(
      take(clip.length),
      map((index) => clip[index]!),
    );

  it('a budget counted from the first frame, cut at the deadline: the run in progress is not waited for', async () => {
    const run = await runInVirtualTime(
      { batch: { size: 2 }, sink: { budgetS: 0.1, startAfterFirstFrame: true } },
      { model: fakeModel({ latencyMs: 45 }), frames: lateFrames },
    );
    expect(timeline(run)).toEqual({
      batches: [
        { at: 330, size: 2, reason: 'full' },
        { at: 390, size: 2, reason: 'full' },
      ],
      runs: [
        { startedAt: 330, endedAt: 375, frameNumbers: [0, 1] },
        // The model finishes after the answer; its frames are not answered.
        { startedAt: 390, endedAt: 435, frameNumbers: [] },
      ],
      results: [
        [375, 0],
        [375, 1],
      ],
      deadlineAt: 400,
      endedAt: 400,
      endedBy: 'budget',
    });
    expect(run.events.find((event) => event.name === 'budget-start')).toEqual({
      stage: 'sink',
      name: 'budget-start',
      at: 300,
      data: { budgetMs: 100 },
    });
  });

  it('with drain: inference stops taking batches at the deadline, the run in progress is answered', async () => {
    const run = await runInVirtualTime(
      { batch: { size: 2 }, sink: { budgetS: 0.1, startAfterFirstFrame: true, drainS: 0.05 } },
      { model: fakeModel({ latencyMs: 45 }), frames: lateFrames },
    );
    expect(timeline(run)).toEqual({
      batches: [
        { at: 330, size: 2, reason: 'full' },
        { at: 390, size: 2, reason: 'full' },
      ],
      runs: [
        { startedAt: 330, endedAt: 375, frameNumbers: [0, 1] },
        { startedAt: 390, endedAt: 435, frameNumbers: [2, 3] },
      ],
      results: [
        [375, 0],
        [375, 1],
        [435, 2],
        [435, 3],
      ],
      deadlineAt: 400,
      endedAt: 435,
      endedBy: 'budget',
    });
    expect(run.events.find((event) => event.stage === 'infer' && event.name === 'stop')).toEqual({
      stage: 'infer',
      name: 'stop',
      at: 400,
      data: { droppedBatches: 0, droppedFrames: 0, runInProgress: true },
    });
  });

  it('a prepared pipeline runs many times, each the same in virtual time; the model records every run', async () => {
    const model = fakeModel({
      latencyMs: 10,
      classes: ['ball'],
      detect: (frame) => [ball(frame.frameNumber)],
    });
    const prepared = await prepareVirtual({ batch: { size: 3, maxWaitMs: 20 } }, { model });
    try {
      const first = await runInVirtualTime(prepared, { frames: frames(5), frameIntervalMs: 5 });
      const second = await runInVirtualTime(prepared, { frames: frames(5), frameIntervalMs: 5 });
      expect(timeline(first)).toEqual({
        batches: [
          { at: 10, size: 3, reason: 'full' },
          { at: 20, size: 2, reason: 'end' },
        ],
        runs: [
          { startedAt: 10, endedAt: 20, frameNumbers: [0, 1, 2] },
          { startedAt: 20, endedAt: 30, frameNumbers: [3, 4] },
        ],
        results: [
          [20, 0],
          [20, 1],
          [20, 2],
          [30, 3],
          [30, 4],
        ],
        deadlineAt: undefined,
        endedAt: 30,
        endedBy: 'end',
      });
      expect(timeline(second)).toEqual(timeline(first));
      expect(second.document.frames).toEqual(first.document.frames);
      expect(model.runs.map((run) => [run.index, run.startedAt, run.frameNumbers])).toEqual([
        [1, 10, [0, 1, 2]],
        [2, 20, [3, 4]],
        [3, 10, [0, 1, 2]],
        [4, 20, [3, 4]],
      ]);
    } finally {
      await prepared.release();
    }
  });

  it('the tracker and the fill stage as in production: every frame answered, ids along the track', async () => {
    const run = await runInVirtualTime(
      { stride: { every: 5 }, batch: { size: 1 }, track: { operator: 'bytetrack' }, fill: {} },
      {
        model: fakeModel({ latencyMs: 10, classes: ['ball'], detect: (frame) => [ball(frame.frameNumber)] }),
        frames: frames(20, { fps: 25 }),
      },
    );
    expect(timeline(run)).toMatchObject({
      results: [
        [10, 0],
        [210, 5],
        [410, 10],
        [610, 15],
      ],
      endedAt: 760,
      endedBy: 'end',
    });
    const answered = run.document.frames.map((frame) => [
      frame.frameNumber,
      frame.source,
      frame.objects.map((object) => [object.bbox[0], object.trackId, object.source]),
    ]);
    expect(answered).toEqual(
      Array.from({ length: 20 }, (_, n) => [
        n,
        n % 5 === 0 && n <= 15 ? 'inferred' : 'filled',
        [[n, 1, n % 5 === 0 && n <= 15 ? 'inferred' : n < 15 ? 'interpolated' : 'extrapolated']],
      ]),
    );
    expect(run.document.timings).toMatchObject({ framesInferred: 4, framesAnswered: 20, framesFilled: 16 });
  });

  it('a shipped profile (extends: default): its stride, ramped batches and budget, with the fake model', async () => {
    const run = await runInVirtualTime(
      { extends: 'default' },
      { model: fakeModel({ latencyMs: 20 }), frames: frames(100, { fps: 25 }) },
    );
    // Every 5th frame (200 ms apart); the first alone at once, each later one after the 50 ms wait.
    expect(run.batches.slice(0, 3)).toEqual([
      { at: 0, size: 1, reason: 'first-frame' },
      { at: 250, size: 1, reason: 'timeout' },
      { at: 450, size: 1, reason: 'timeout' },
    ]);
    expect(run.results.map(({ at, frameNumber }) => [at, frameNumber])).toEqual(
      Array.from({ length: 20 }, (_, index) => [index === 0 ? 20 : index * 200 + 70, index * 5]),
    );
    expect(run.endedAt).toBe(3960);
    expect(run.document.timings.endedBy).toBe('end');
  });

  it("a user's operator from the registry runs too (here a track stage that drops empty frames)", async () => {
    const registry = defaultRegistry().register(
      defineOperator({
        kind: 'track',
        name: 'non-empty',
        summary: 'drops results without objects',
        options: {},
        create: () => () => filter((result: FrameResult) => result.objects.length > 0),
      }),
    );
    const run = await runInVirtualTime(
      { batch: { size: 2 }, track: { operator: 'non-empty' } },
      {
        registry,
        model: fakeModel({
          detect: (frame) => (frame.frameNumber % 3 === 0 ? [ball(frame.frameNumber)] : []),
        }),
        frames: frames(8),
        frameIntervalMs: 1,
      },
    );
    expect(run.results.map(({ at, frameNumber }) => [at, frameNumber])).toEqual([
      [1, 0],
      [3, 3],
      [7, 6],
    ]);
    expect(registry.names('decode')).toEqual(['beamcoder', 'beamcoder-nvdec']);
  });

  it("a model that fails: the run ends with endedBy 'error' and the results before it", async () => {
    const run = await runInVirtualTime(
      { batch: { size: 2 } },
      {
        model: fakeModel({
          latencyMs: 5,
          detect: (frame) => {
            if (frame.frameNumber === 4) throw new Error('no ball in frame 4');
            return [ball(frame.frameNumber)];
          },
        }),
        frames: frames(6),
        frameIntervalMs: 10,
      },
    );
    expect(timeline(run)).toMatchObject({
      results: [
        [15, 0],
        [15, 1],
        [35, 2],
        [35, 3],
      ],
      endedAt: 55,
      endedBy: 'error',
    });
    expect(run.document.error).toEqual({
      code: 'FF_ERR_FAKE_DETECT',
      message: 'fake model fake: detect threw at frame 4: no ball in frame 4',
    });
    expect(run.document.frames.map((frame) => frame.frameNumber)).toEqual([0, 1, 2, 3]);
  });

  it('frames that never end and no budget: FF_ERR_VIRTUAL_RUN_OPEN, saying when time ran out', async () => {
    const error = await rejection(
      runInVirtualTime({ batch: { size: 1 } }, { frames: frames(2), marble: 'a 99ms b' }),
    );
    expect(error).toBeInstanceOf(FirstframeError);
    expect(error).toMatchObject({
      code: testingCodes.runOpen,
      message:
        'runInVirtualTime: virtual time ran out at 100 ms with the run still open (2 results): frames that never end, and no budget?',
    });
  });

  it('a pipeline whose decode stage is not the virtual one: FF_ERR_VIRTUAL_NOT_VIRTUAL', async () => {
    const model = fakeModel();
    const registry = defaultRegistry()
      .register(model.operator)
      .register(
        defineOperator({
          kind: 'decode',
          name: 'from-nowhere',
          summary: 'never a frame',
          options: {},
          create: () => () => () => NEVER,
        }),
      );
    const prepared = await preparePipeline(
      resolvePipeline({ decode: { operator: 'from-nowhere' }, infer: { operator: 'fake' } }, { registry }),
    );
    const error = await rejection(runInVirtualTime(prepared, { frames: frames(1) }));
    expect(error).toMatchObject({
      code: testingCodes.notVirtual,
      message:
        'runInVirtualTime: the pipeline never read the virtual frames; its decode stage must be the virtual one (prepare it with prepareVirtual)',
    });
  });

  it('bad options: a ConfigError listing every problem, before anything runs', async () => {
    const error = await rejection(
      runInVirtualTime({}, { frames: NEVER, frameIntervalMs: -1, marble: 'a|' } as unknown as Parameters<
        typeof runInVirtualTime
      >[1]),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'frameIntervalMs: expected a number >= 0, got -1',
      'marble: gives the times of an array of frames; got no array in frames',
      'marble and frameIntervalMs: give one or the other',
    ]);
  });
});
