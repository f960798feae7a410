import type { MonoTypeOperatorFunction } from 'rxjs';
import type { DecodedFrame } from './decode.js';
import { stride, strideKeeps } from './stride.js';
import { runStride, type RunStride, type StrideRunContext, type StrideSettings } from './stride-budget.js';

/**
 * A stride stage whose decision is made per run: the runner calls `forRun` with what the run knows (the
 * model's per-frame time, the deadline, the clip's facts as they arrive). `keeps` and `operator` are the
 * same decision made without a run (the fixed stride, or fit-budget's `max`), for callers that have none.
 */
export interface PlannedStrideStage {
  readonly settings: StrideSettings;
  readonly keeps: (frameNumber: number) => boolean;
  readonly operator: () => MonoTypeOperatorFunction<DecodedFrame>;
  forRun(run: StrideRunContext): RunStride;
}

/** The stage for a stride operator's settings (every-nth: fixed; fit-budget: planned per run). */
export function plannedStride(settings: StrideSettings): PlannedStrideStage {
  const fallback = settings.every ?? settings.max;
  return {
    settings,
    keeps: strideKeeps(fallback),
    operator: () => stride<DecodedFrame>(fallback),
    forRun: (run) => runStride(settings, run),
  };
}

/** True for a stride stage that plans per run (the shipped ones); a custom stage may not. */
export function isPlannedStride(stage: unknown): stage is PlannedStrideStage {
  return typeof (stage as Partial<PlannedStrideStage> | undefined)?.forRun === 'function';
}
