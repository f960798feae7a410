/**
 * Stage lists without a video: members built and applied in order, the stride's keeps ANDed, and the
 * errors of a stage's operator named (while errors from before it pass as they are).
 */

import { Subject, filter, lastValueFrom, map, of, throwError, toArray, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FirstframeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { DecodedFrame } from '../../src/operators/decode.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { defineOperator, type RunContext } from '../../src/pipelines/registry.js';
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
const registry = () =>
  defaultRegistry().register(multiplesOf3).register(suffix('first')).register(suffix('second'));

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
