/**
 * Stage lists without a video: members built and applied in order, the stride's keeps ANDed, and the
 * errors of a stage's operator named (while errors from before it pass as they are).
 */

import { Subject, filter, lastValueFrom, map, of, throwError, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ConfigError, FirstframeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { DecodedFrame } from '../../src/operators/decode.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { mergeDocuments } from '../../src/pipelines/document.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { defineOperator, type RunContext } from '../../src/pipelines/registry.js';
import { plannedStride } from '../../src/operators/stride-stage.js';
import { PositiveInt } from '../../src/core/codecs.js';
import {
  createListStage,
  namedFailures,
  strideForRun,
  strideKeepsForRun,
} from '../../src/pipelines/stage-lists.js';

const frames = (...numbers: number[]) => numbers.map((frameNumber) => ({ frameNumber }) as DecodedFrame);
const context = {} as RunContext;
const setup = { imgSize: 640, baseDir: '.', logger: silentLogger };

const multiplesOf3 = defineOperator({
  kind: 'stride',
  name: 'multiples-of-3',
  summary: '',
  options: {},
  create: () => ({
    keeps: (n: number) => n % 3 === 0,
    operator: () => filter((frame: DecodedFrame) => frame.frameNumber % 3 === 0),
  }),
});
const suffix = (name: string) =>
  defineOperator({
    kind: 'track',
    name,
    summary: '',
    options: {},
    create: () => () =>
      map((result: FrameResult) => ({
        ...result,
        objects: [...result.objects, { className: name } as FrameResult['objects'][number]],
      })),
  });
/** Reads every frame's pixels (as a brightness filter would): keeps() says yes to all; records what it saw. */
const seenByPixels: Array<[number, boolean]> = [];
const pixelReader = defineOperator({
  kind: 'stride',
  name: 'pixel-reader',
  summary: '',
  options: { threshold: PositiveInt },
  create: () => ({
    keeps: () => true,
    operator: () =>
      filter((frame: DecodedFrame) => {
        seenByPixels.push([frame.frameNumber, frame.image !== undefined]);
        return true;
      }),
  }),
});
/** A plugin's planned stride (it has forRun): a list may hold only one planned member. */
const pluginPlanned = defineOperator({
  kind: 'stride',
  name: 'plugin-planned',
  summary: '',
  options: {},
  create: () => plannedStride({ operator: 'every-nth', every: 3 } as never),
});
const registry = () =>
  defaultRegistry()
    .register(multiplesOf3)
    .register(suffix('first'))
    .register(suffix('second'))
    .register(pixelReader)
    .register(pluginPlanned);

const problemsOf = (make: () => unknown): { code: string; problems: readonly string[] } => {
  try {
    make();
  } catch (error) {
    if (error instanceof ConfigError) return { code: error.code, problems: error.problems };
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('createListStage', () => {
  it('a stride list: keeps ANDed, operators in order', async () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', stride: [{ every: 2 }, { operator: 'multiples-of-3' }] },
      registry: registry(),
    });
    const stage = (await createListStage('stride', pipeline.stages.stride, setup)) as Parameters<
      typeof strideForRun
    >[0];
    const keeps = strideKeepsForRun(stage, undefined);
    expect([0, 1, 2, 3, 4, 5, 6, 12].filter(keeps)).toEqual([0, 6, 12]);
    const out = await lastValueFrom(
      of(...frames(0, 2, 3, 6, 9, 12)).pipe(strideForRun(stage, undefined, context), toArray()),
    );
    expect(out.map((frame) => frame.frameNumber)).toEqual([0, 6, 12]);
  });

  it('a track list: each member transforms the results of the one before', async () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', track: [{ operator: 'first' }, { operator: 'second' }] },
      registry: registry(),
    });
    const track = (await createListStage('track', pipeline.stages.track, setup)) as (
      context: RunContext,
    ) => (source: Observable<FrameResult>) => Observable<FrameResult>;
    const [result] = await lastValueFrom(
      of({ frameNumber: 4, objects: [] } as unknown as FrameResult).pipe(track(context), toArray()),
    );
    expect(result!.objects.map((object) => object.className)).toEqual(['first', 'second']);
  });
});

describe('stride lists: one plan, every member sees frames with pixels', () => {
  it('two planned members (every-nth and fit-budget) are refused at resolution, naming both', () => {
    expect(
      problemsOf(() =>
        loadPipeline({
          document: {
            extends: 'default',
            stride: [{ every: 2 }, { operator: 'multiples-of-3' }, { operator: 'fit-budget', max: 10 }],
          },
          registry: registry(),
        }),
      ),
    ).toEqual({
      code: 'FF_ERR_PIPELINE_INVALID',
      problems: [
        'stride: at most one planned operator (every-nth, fit-budget) per list (a run has one plan), got stride[0] every-nth and stride[2] fit-budget',
      ],
    });
  });

  it("a plugin's planned stride beside every-nth is refused when the stage is built", async () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', stride: [{ operator: 'plugin-planned' }, { every: 2 }] },
      registry: registry(),
    });
    const error: unknown = await createListStage('stride', pipeline.stages.stride, setup).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'FF_ERR_PIPELINE_INVALID',
      problems: [
        'stride: at most one planned operator per list (a run has one plan), got stride[0] plugin-planned and stride[1] every-nth',
      ],
    });
  });

  it('a pixel-reading filter listed before every-nth is handed only the frames the decoder converted', async () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', stride: [{ operator: 'pixel-reader' }, { every: 2 }] },
      registry: registry(),
    });
    const stage = (await createListStage('stride', pipeline.stages.stride, setup)) as Parameters<
      typeof strideForRun
    >[0];
    const keeps = strideKeepsForRun(stage, undefined);
    // As the decoder hands them on: pixels only for the frames the ANDed keeps accept.
    const decoded = [0, 1, 2, 3, 4, 5].map(
      (frameNumber) =>
        ({
          frameNumber,
          image: keeps(frameNumber) ? ({} as DecodedFrame['image']) : undefined,
        }) as DecodedFrame,
    );
    seenByPixels.length = 0;
    const out = await lastValueFrom(of(...decoded).pipe(strideForRun(stage, undefined, context), toArray()));
    expect(out.map((frame) => frame.frameNumber)).toEqual([0, 2, 4]);
    expect(seenByPixels).toEqual([
      [0, true],
      [2, true],
      [4, true],
    ]);
  });
});

describe('a single stage laid over a list (FRAME_STRIDE, --stride, overrides)', () => {
  const list = [{ operator: 'pixel-reader', threshold: 3 }, { every: 5 }];

  it('FRAME_STRIDE over [a plugin filter, every-nth] sets the every-nth member, not the first', () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', stride: list },
      env: { FRAME_STRIDE: 3 },
      registry: registry(),
    });
    expect(pipeline.stages.stride.members?.map((member) => [member.operator, member.options])).toEqual([
      ['pixel-reader', { threshold: 3 }],
      ['every-nth', { every: 3 }],
    ]);
  });

  it("loadPipeline's command-line overrides reach the member whose operator takes the option", () => {
    const pipeline = loadPipeline({
      document: { extends: 'default', stride: list },
      overrides: { stride: { threshold: 9 } },
      registry: registry(),
    });
    expect(pipeline.stages.stride.members?.map((member) => [member.operator, member.options])).toEqual([
      ['pixel-reader', { threshold: 9 }],
      ['every-nth', { every: 5 }],
    ]);
  });

  it('options without an operator go to the member whose operator takes them (given the registry), else the planned one', () => {
    expect(mergeDocuments({ stride: list }, { stride: { threshold: 9 } }, { registry: registry() })).toEqual({
      stride: [{ operator: 'pixel-reader', threshold: 9 }, { every: 5 }],
    });
    expect(mergeDocuments({ stride: list }, { stride: { every: 2 } }, { registry: registry() })).toEqual({
      stride: [{ operator: 'pixel-reader', threshold: 3 }, { every: 2 }],
    });
    expect(mergeDocuments({ stride: list }, { stride: { every: 2 } })).toEqual({
      stride: [{ operator: 'pixel-reader', threshold: 3 }, { every: 2 }],
    });
  });

  it('a stage naming an operator: merged into that member, else it replaces the planned member, else the list', () => {
    expect(mergeDocuments({ stride: list }, { stride: { operator: 'pixel-reader', threshold: 7 } })).toEqual({
      stride: [{ operator: 'pixel-reader', threshold: 7 }, { every: 5 }],
    });
    expect(mergeDocuments({ stride: list }, { stride: { operator: 'fit-budget', max: 12 } })).toEqual({
      stride: [
        { operator: 'pixel-reader', threshold: 3 },
        { operator: 'fit-budget', max: 12 },
      ],
    });
    expect(
      mergeDocuments(
        { track: [{ operator: 'bytetrack' }, { operator: 'first' }] },
        { track: { operator: 'none' } },
      ),
    ).toEqual({ track: { operator: 'none' } });
  });
});

describe('namedFailures', () => {
  it("an operator's own error: FF_ERR_OPERATOR_FAILED naming the stage, the operator and the frame", async () => {
    const boom = new Error('too dark');
    const failing = map((frame: DecodedFrame) => {
      if (frame.frameNumber === 3) throw boom;
      return frame;
    });
    const error = await lastValueFrom(
      of(...frames(1, 2, 3, 4)).pipe(namedFailures('stride', 'dark', failing)),
    ).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(FirstframeError);
    expect(error).toMatchObject({
      code: 'FF_ERR_OPERATOR_FAILED',
      message: 'stride operator dark failed at frame 3: too dark',
      context: { stage: 'stride', operator: 'dark', frameNumber: 3 },
      cause: boom,
    });
  });

  it('an error from before the stage, or a FirstframeError of its own, passes as it is', async () => {
    const upstream = new Error('decoder fell over');
    const input = new Subject<DecodedFrame>();
    const seen: unknown[] = [];
    input
      .pipe(
        namedFailures(
          'stride',
          'every-nth',
          filter(() => true),
        ),
      )
      .subscribe({ error: (e) => seen.push(e) });
    input.next(frames(0)[0]!);
    input.error(upstream);
    const typed = new FirstframeError('FF_ERR_MINE', 'mine');
    await lastValueFrom(
      of(...frames(0)).pipe(
        namedFailures('stride', 'typed', () => throwError((): unknown => typed) as Observable<DecodedFrame>),
      ),
    ).catch((error: unknown) => seen.push(error));
    expect(seen).toEqual([upstream, typed]);
    expect(seen[0]).toBe(upstream);
  });
});
