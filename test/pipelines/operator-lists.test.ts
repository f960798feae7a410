/**
 * Operator lists (stride and track stages holding several operators, applied in order) and the prefetch
 * slots of frames a user's stride operator passes over: real decode and the generated detector.
 */

import { pathToFileURL } from 'node:url';
import { filter, map } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { ConfigError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import type { DecodedFrame } from '../../src/operators/decode.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { defineOperator, type OperatorRegistry } from '../../src/pipelines/registry.js';
import { preparePipeline, type PipelineEvent, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { testFixtures } from '../support/fixtures.js';

/** Keeps even frame numbers; the decoder is told so too (keeps). */
const even = defineOperator({
  kind: 'stride',
  name: 'even',
  summary: 'even frame numbers',
  options: {},
  create: () => ({
    keeps: (frameNumber: number) => frameNumber % 2 === 0,
    operator: () => filter((frame: DecodedFrame) => frame.frameNumber % 2 === 0),
  }),
});

/** Decides on pixels (as a brightness filter would): keeps() says yes to all, and it drops every frame. */
const dropAll = defineOperator({
  kind: 'stride',
  name: 'drop-all',
  summary: 'drops every frame after looking at its pixels',
  options: {},
  create: () => ({
    keeps: () => true,
    operator: () => filter((frame: DecodedFrame) => frame.image === undefined),
  }),
});

const throwsAt7 = defineOperator({
  kind: 'stride',
  name: 'throws-at-7',
  summary: 'throws on frame 7',
  options: {},
  create: () => ({
    keeps: () => true,
    operator: () =>
      map((frame: DecodedFrame) => {
        if (frame.frameNumber === 7) throw new Error('too dark to tell');
        return frame;
      }),
  }),
});

/** Sets every object's trackId to the frame's number: shows it ran after the stage before it. */
const frameIds = defineOperator({
  kind: 'track',
  name: 'frame-ids',
  summary: 'track id = frame number',
  options: {},
  create: () => () =>
    map((result: FrameResult) => ({
      ...result,
      objects: result.objects.map((object) => ({ ...object, trackId: result.frameNumber })),
    })),
});

const registry = (): OperatorRegistry =>
  defaultRegistry().register(even).register(dropAll).register(throwsAt7).register(frameIds);

let fixtures: FixtureSet;
const prepared: PreparedPipeline[] = [];
const prepare = async (stride: unknown, extra: Record<string, unknown> = {}) => {
  const pipeline = await preparePipeline(
    loadPipeline({
      document: { extends: 'default', stride, sink: { budgetS: 60 }, ...extra } as never,
      registry: registry(),
    }),
  );
  prepared.push(pipeline);
  return pipeline;
};

/** One run's events and its document. */
async function run(pipeline: PreparedPipeline, target: string) {
  const events: StageEvent[] = [];
  let result: Extract<PipelineEvent, { type: 'result' }>['result'] | undefined;
  await new Promise<void>((resolve, reject) =>
    pipeline.run$(target).subscribe({
      next: (event) => {
        if (event.type === 'stage') events.push(event.event);
        if (event.type === 'result') result = event.result;
      },
      error: reject,
      complete: resolve,
    }),
  );
  const decodeEnd = events.find((event) => event.stage === 'decode' && event.name === 'end')?.data;
  return { result: result!, events, decodeEnd };
}

beforeAll(async () => {
  fixtures = await testFixtures();
}, 120_000);

afterAll(async () => {
  await Promise.all(prepared.map((pipeline) => pipeline.release()));
});

describe('operator lists in documents', () => {
  it('resolves each member of a stride or track list, the stage taking the first member’s fields', () => {
    const pipeline = loadPipeline({
      document: {
        extends: 'default',
        stride: [{ operator: 'every-nth', every: 5 }, { operator: 'even' }],
        track: [{ operator: 'bytetrack', matchBuffer: 2 }, { operator: 'frame-ids' }],
      },
      registry: registry(),
    });
    expect(pipeline.stages.stride.members?.map((member) => [member.operator, member.options])).toEqual([
      ['every-nth', { every: 5 }],
      ['even', {}],
    ]);
    expect(pipeline.stages.stride.operator).toBe('every-nth');
    expect(pipeline.stages.stride.options).toEqual({ every: 5 });
    expect(pipeline.stages.track.members?.map((member) => member.operator)).toEqual([
      'bytetrack',
      'frame-ids',
    ]);
  });

  it('reports every problem of every member with its index, and lists where a stage takes one operator', () => {
    let error: unknown;
    try {
      loadPipeline({
        document: {
          extends: 'default',
          stride: [{ every: 0 }, { operator: 'even', every: 2 }, { operator: 'brightest' }],
          track: [],
          batch: [{ size: 4 }],
        } as never,
        registry: registry(),
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_PIPELINE_INVALID');
    expect((error as ConfigError).problems).toEqual([
      'stride[0].every: expected a positive integer, got 0',
      'stride[1].every: unknown option of stride operator even; it takes none',
      'stride[2].operator: unknown stride operator "brightest"; known: every-nth, fit-budget, even, drop-all, throws-at-7',
      'batch: expected a mapping of options, got a list; only stride and track take a list of operators',
      'track: expected at least one operator in the list, got []',
    ]);
  });

  it('FRAME_STRIDE sets the first member’s stride; DISABLE_TRACKING replaces a track list', () => {
    const pipeline = loadPipeline({
      document: {
        extends: 'default',
        stride: [{ operator: 'every-nth', every: 5 }, { operator: 'even' }],
        track: [{ operator: 'bytetrack' }, { operator: 'frame-ids' }],
      },
      env: { FRAME_STRIDE: 3, DISABLE_TRACKING: true },
      registry: registry(),
    });
    expect(pipeline.stages.stride.members?.map((member) => [member.operator, member.options])).toEqual([
      ['every-nth', { every: 3 }],
      ['even', {}],
    ]);
    expect(pipeline.stages.track.operator).toBe('none');
    expect(pipeline.stages.track.members).toBeUndefined();
  });
});

describe('operator lists in runs', () => {
  it('every-nth 5 then a filter of even frame numbers: frames 0, 10, … 90, only they converted; track members in order', async () => {
    const pipeline = await prepare([{ operator: 'every-nth', every: 5 }, { operator: 'even' }], {
      track: [{ operator: 'none' }, { operator: 'frame-ids' }],
    });
    const { result, decodeEnd } = await run(pipeline, fixtures.clips['faststart']!.file);
    expect(result.error).toBeUndefined();
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    // The members' keeps are ANDed for the decoder: only the kept frames are converted for the model.
    expect(decodeEnd?.framesConverted).toBe(10);
    const ids = result.frames.flatMap((frame) =>
      frame.objects.map((object) => [frame.frameNumber, object.trackId]),
    );
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every(([frameNumber, trackId]) => frameNumber === trackId)).toBe(true);
  });

  it('a planned stride (fit-budget, pinned) in a list: the run’s plan and the filter together', async () => {
    const pipeline = await prepare([{ operator: 'fit-budget', every: 5 }, { operator: 'even' }]);
    const { result } = await run(pipeline, fixtures.clips['faststart']!.file);
    expect(result.error).toBeUndefined();
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(result.timings.stride?.stride).toBe(5);
  });

  it('a user filter dropping every frame with 4 prefetch slots: every frame decoded, the run ends with FF_ERR_NO_RESULTS', async () => {
    const pipeline = await prepare([{ operator: 'every-nth', every: 1 }, { operator: 'drop-all' }], {
      prefetch: { frames: 4 },
    });
    const file = fixtures.clips['faststart']!.file;
    const { result, decodeEnd } = await run(pipeline, file);
    expect(result.timings.endedBy).toBe('end');
    expect(result.timings.framesDecoded).toBe(100);
    expect(decodeEnd?.framesConverted).toBe(100);
    expect(result.frames).toEqual([]);
    expect(result.error).toEqual({
      code: 'FF_ERR_NO_RESULTS',
      message: `${pathToFileURL(file).href}: the video ended with 100 frames decoded and no result (a stage dropped every frame)`,
    });
  }, 60_000);

  it('a filter that throws: FF_ERR_OPERATOR_FAILED naming it and the frame; the decoder is released', async () => {
    const pipeline = await prepare([{ operator: 'every-nth', every: 1 }, { operator: 'throws-at-7' }], {
      prefetch: { frames: 4 },
    });
    const { result, decodeEnd } = await run(pipeline, fixtures.clips['faststart']!.file);
    expect(result.timings.endedBy).toBe('error');
    expect(result.error).toEqual({
      code: 'FF_ERR_OPERATOR_FAILED',
      message: 'stride operator throws-at-7 failed at frame 7: too dark to tell',
    });
    expect(decodeEnd?.reason).toBe('unsubscribed');
  }, 60_000);
});
