import { EMPTY, defer, map, type Observable } from 'rxjs';
import { now } from '../core/clock.js';
import { FirstframeError } from '../core/errors.js';
import type { DecodedFrame } from '../operators/decode.js';
import { defineOperator } from '../pipelines/registry.js';

/** The name of the source and decode operators that stand for a clip in a virtual run. */
export const VIRTUAL_OPERATOR = 'virtual';

/** Stable codes of `firstframe/testing`. */
export const testingCodes = {
  /** A virtual stage ran with no frames given for its run (the pipeline was not run by runInVirtualTime). */
  noFrames: 'FF_ERR_VIRTUAL_NO_FRAMES',
  /** The pipeline never read the frames: its decode stage is not the virtual one. */
  notVirtual: 'FF_ERR_VIRTUAL_NOT_VIRTUAL',
  /** Virtual time ran out with the run still open (frames that never end, and no budget). */
  runOpen: 'FF_ERR_VIRTUAL_RUN_OPEN',
} as const;

/**
 * The frames of each virtual run, by its target (`virtual:N`): the decode stage is made once per prepared
 * pipeline, so a run's frames reach it through its target. An entry lives for one run's flush.
 */
const framesByTarget = new Map<string, () => Observable<DecodedFrame>>();

/** Makes `frames` the clip of the run on `target` while `work` runs. */
export function withVirtualFrames<T>(
  target: string,
  frames: () => Observable<DecodedFrame>,
  work: () => T,
): T {
  framesByTarget.set(target, frames);
  try {
    return work();
  } finally {
    framesByTarget.delete(target);
  }
}

/** A source that sends nothing: the virtual decode stage makes the frames by itself. */
export const virtualSource = defineOperator({
  kind: 'source',
  name: VIRTUAL_OPERATOR,
  summary: 'no bytes (firstframe/testing): the virtual decode stage emits the frames of the run',
  options: {},
  create: () => () => EMPTY,
});

/**
 * The decode stage of a virtual run: the run's frames as given, each asked about by the stride (as the
 * real decoder asks before converting a frame; a frame it refuses goes on without pixels), the first one
 * announced with the `first-frame` event that starts a budget counted from the first frame. The frames
 * take no prefetch slot: they arrive when their source says, whatever inference's pace.
 */
export const virtualDecode = defineOperator({
  kind: 'decode',
  name: VIRTUAL_OPERATOR,
  summary: 'the frames given to runInVirtualTime (firstframe/testing), at their virtual times',
  options: {},
  create: () => (context) => () =>
    defer(() => {
      const frames = framesByTarget.get(context.target);
      if (!frames) {
        throw new FirstframeError(
          testingCodes.noFrames,
          `${context.target}: no frames for this run: a pipeline with the virtual decode stage runs through runInVirtualTime`,
          { url: context.target },
        );
      }
      let decoded = 0;
      return frames().pipe(
        map((frame): DecodedFrame => {
          const kept = context.keepFrame(frame.frameNumber);
          decoded += 1;
          if (decoded === 1) {
            context.onEvent({
              stage: 'decode',
              name: 'first-frame',
              at: now(),
              data: { frameNumber: frame.frameNumber },
            });
          }
          return kept ? frame : { ...frame, image: undefined };
        }),
      );
    }),
});
