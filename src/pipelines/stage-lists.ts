import {
  catchError,
  defer,
  filter,
  pipe,
  tap,
  throwError,
  type MonoTypeOperatorFunction,
  type UnaryFunction,
} from 'rxjs';
import { ConfigError, FirstframeError, isFirstframeError } from '../core/errors.js';
import type { DecodedFrame } from '../operators/decode.js';
import type { FrameResult } from '../operators/infer.js';
import type { RunStride } from '../operators/stride-budget.js';
import { isPlannedStride, type PlannedStrideStage } from '../operators/stride-stage.js';
import type { ResolvedStage } from './document.js';
import { pipelineCodes, type RunContext, type SetupContext, type StageImplementations } from './registry.js';

/**
 * The stages that may hold a list of operators, applied in order: the decode-side filters and the
 * result-side transforms, whose input and output are of one type (MonoTypeOperatorFunction).
 *
 * - `stride`: each member filters frames; a frame goes on only if every member keeps it (their `keeps`
 *   are ANDed for the decoder, so a frame none of them wants is not even converted).
 * - `track`: each member transforms the results in turn (a tracker, then a smoother, …).
 *
 * The others take one operator: `source` is where the bytes come from, `decode` turns bytes into frames
 * (one decoder per stream), `batch` turns frames into arrays (a second one would batch batches), `infer`
 * owns the model (set-up, warm-up, release) and turns batches into results, and `sink` ends the run (one
 * deadline, one answer). Their input and output types differ, so a list of them does not compose.
 */
export const LIST_STAGE_KINDS = ['stride', 'track'] as const;
export type ListStageKind = (typeof LIST_STAGE_KINDS)[number];

export const isListStageKind = (kind: string): kind is ListStageKind =>
  (LIST_STAGE_KINDS as readonly string[]).includes(kind);

/**
 * The shipped stride operators that plan per run (their stage has `forRun`). A stride list holds at most
 * one planned member: the run has one plan (one `strideRun`), so a second would be silently lost.
 */
export const PLANNED_STRIDE_OPERATORS: readonly string[] = ['every-nth', 'fit-budget'];

type StrideStage = StageImplementations['stride'];
type TrackStage = StageImplementations['track'];

/** A stride stage made of several: the runner asks it for a run's keeps and operator (see strideForRun). */
export interface StrideList {
  readonly keeps: (frameNumber: number) => boolean;
  readonly operator: (context: RunContext) => MonoTypeOperatorFunction<DecodedFrame>;
  readonly members: readonly StrideStage[];
}

/**
 * An operator's errors as FF_ERR_OPERATOR_FAILED naming the stage, the operator and the last frame it was
 * given (a FirstframeError passes as it is): a user's filter that throws ends the run with a typed error.
 */
export function namedFailures<T extends { frameNumber: number }>(
  kind: string,
  name: string,
  operator: MonoTypeOperatorFunction<T>,
): MonoTypeOperatorFunction<T> {
  return (source) =>
    defer(() => {
      let last: number | undefined;
      /** An error from the stages before this one passes as it is: it is not this operator's. */
      let upstream: { readonly error: unknown } | undefined;
      return source.pipe(
        catchError((error: unknown) => {
          upstream = { error };
          return throwError(() => error);
        }),
        tap((item) => (last = item.frameNumber)),
        operator,
        catchError((error: unknown) => {
          if (isFirstframeError(error) || (upstream && upstream.error === error)) throw error;
          const message = error instanceof Error ? error.message : String(error);
          const where = last === undefined ? 'before its first frame' : `at frame ${last}`;
          throw new FirstframeError(
            pipelineCodes.operatorFailed,
            `${kind} operator ${name} failed ${where}: ${message}`,
            { stage: kind, operator: name, ...(last !== undefined ? { frameNumber: last } : {}) },
            { cause: error },
          );
        }),
      );
    });
}

const composed = <T>(operators: ReadonlyArray<MonoTypeOperatorFunction<T>>): MonoTypeOperatorFunction<T> =>
  (pipe as (...fns: Array<UnaryFunction<unknown, unknown>>) => MonoTypeOperatorFunction<T>)(
    ...(operators as Array<UnaryFunction<unknown, unknown>>),
  );

/** A stride member whose operator's errors are named (keeps, forRun and settings kept as they are). */
function namedStride(stage: StrideStage, name: string): StrideStage {
  const named = {
    ...stage,
    operator: (context: RunContext) => namedFailures('stride', name, stage.operator(context)),
  };
  if (!isPlannedStride(stage)) return named;
  return {
    ...named,
    forRun: (run) => {
      const planned = stage.forRun(run);
      return {
        ...planned,
        keeps: (frameNumber: number) => planned.keeps(frameNumber),
        operator: () => namedFailures('stride', name, planned.operator()),
        observe: (event) => planned.observe(event),
        replan: () => planned.replan(),
        report: (startedAt) => planned.report(startedAt),
      } as RunStride;
    },
  } as PlannedStrideStage;
}

/**
 * Builds a stride or track stage from its resolved form: each member's `create`, then one stage that
 * applies them in order. A stride list with a planned member (every-nth, fit-budget) is planned too: its
 * `forRun` is that member's (the runner plans with it), and {@link strideForRun} puts the rest around it.
 */
export async function createListStage(
  kind: ListStageKind,
  stage: ResolvedStage,
  setup: SetupContext,
): Promise<StrideStage | TrackStage> {
  const members = stage.members ?? [stage];
  const built: unknown[] = [];
  for (const member of members) built.push(await member.definition.create(member.options, setup));
  if (kind === 'track') {
    const tracks = (built as TrackStage[]).map(
      (make, index) => (context: RunContext) =>
        namedFailures<FrameResult>('track', members[index]!.operator, make(context)),
    );
    return tracks.length === 1 ? tracks[0]! : (context) => composed(tracks.map((make) => make(context)));
  }
  const strides = (built as StrideStage[]).map((member, index) =>
    namedStride(member, members[index]!.operator),
  );
  if (strides.length === 1) return strides[0]!;
  // resolvePipeline rejects two shipped planned operators; a plugin's planned stride is seen only here.
  const plannedAt = strides.flatMap((member, index) => (isPlannedStride(member) ? [index] : []));
  if (plannedAt.length > 1) {
    throw new ConfigError(pipelineCodes.invalid, [
      `stride: at most one planned operator per list (a run has one plan), got ${plannedAt
        .map((index) => `stride[${index}] ${members[index]!.operator}`)
        .join(' and ')}`,
    ]);
  }
  const keeps = (frameNumber: number) => strides.every((member) => member.keeps(frameNumber));
  const list: StrideList = {
    keeps,
    operator: (context) => composed([keptOnly(keeps), ...strides.map((member) => member.operator(context))]),
    members: strides,
  };
  const planned = strides[plannedAt[0] ?? -1];
  return planned && isPlannedStride(planned)
    ? ({ ...list, settings: planned.settings, forRun: planned.forRun } as StrideList & PlannedStrideStage)
    : list;
}

/**
 * Drops the frames the list's ANDed keeps refuse before any member sees them: the decoder converted
 * none of them (`image` undefined), and a member listed before the one that refuses them would otherwise
 * be handed frames without pixels.
 */
const keptOnly = (keeps: (frameNumber: number) => boolean): MonoTypeOperatorFunction<DecodedFrame> =>
  filter((frame: DecodedFrame) => keeps(frame.frameNumber));

const isStrideList = (stage: StrideStage): stage is StrideStage & StrideList =>
  Array.isArray((stage as Partial<StrideList>).members);

/**
 * A run's stride decision and operator: a planned stage's run (`strideRun`, from its `forRun`) stands in
 * for the planned member, the other members as they are; every member's keeps ANDed, operators in order,
 * after the frames the ANDed keeps refuse are dropped (every member sees only frames with pixels).
 */
export function strideForRun(
  stage: StrideStage,
  strideRun: RunStride | undefined,
  context: RunContext,
): MonoTypeOperatorFunction<DecodedFrame> {
  if (!isStrideList(stage)) return strideRun ? strideRun.operator<DecodedFrame>() : stage.operator(context);
  const planned = strideRun ? stage.members.find(isPlannedStride) : undefined;
  return composed([
    keptOnly(strideKeepsForRun(stage, strideRun)),
    ...stage.members.map((member) =>
      member === planned ? strideRun!.operator<DecodedFrame>() : member.operator(context),
    ),
  ]);
}

/** The decoder's keep decision for a run (see {@link strideForRun}). */
export function strideKeepsForRun(
  stage: StrideStage,
  strideRun: RunStride | undefined,
): (frameNumber: number) => boolean {
  if (!isStrideList(stage)) return strideRun?.keeps ?? stage.keeps;
  const planned = strideRun ? stage.members.find(isPlannedStride) : undefined;
  const keeps = stage.members.map((member) => (member === planned ? strideRun!.keeps : member.keeps));
  return (frameNumber) => keeps.every((keep) => keep(frameNumber));
}
