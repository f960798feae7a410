/**
 * The budget-aware stride's arithmetic: which stride lets the rest of a clip be inferred before the
 * deadline, with a margin. Pure, so that every decision can be checked with exact numbers.
 */

/** What a plan is made from, at one moment of a run. */
export interface StridePlanInput {
  /** Frames of the clip not yet decided (none of them asked about yet); 0 when the end is reached. */
  readonly framesLeft: number;
  /** Frames already kept that the model has not finished yet (they cost their time whatever the stride). */
  readonly pendingFrames: number;
  /** The model stage's wall-clock milliseconds per frame on this device (both models, for soccer). */
  readonly perFrameMs: number;
  /** Milliseconds until the deadline; Infinity without one. */
  readonly leftMs: number;
  /**
   * Milliseconds until the last byte is in, at the rate seen so far; 0 when it is in or unknown. The last
   * frames cannot be inferred before they arrive, however large the stride.
   */
  readonly downloadLeftMs: number;
  /** Share of `leftMs` kept free (0.15: the work must fit in 85 % of what is left). */
  readonly margin: number;
  /** The smallest and largest stride allowed. */
  readonly min: number;
  readonly max: number;
}

export interface StridePlan {
  /** Keep every `stride`-th frame from here on. */
  readonly stride: number;
  /** Milliseconds the rest of the work is expected to take at this stride. */
  readonly needMs: number;
  /** `leftMs − needMs`: the time expected to be left at the deadline (negative when it will not fit). */
  readonly marginMs: number;
  /** Whether `needMs` fits in `(1 − margin) × leftMs`; false: even `max` does not, and `max` is used. */
  readonly fits: boolean;
}

/**
 * Milliseconds the rest of the work takes at stride `s`: the kept frames still to infer, each at
 * `perFrameMs`, and never less than the download left plus one frame (the last frames are inferred after
 * they arrive).
 *
 * ```text
 * need(s) = max(pending + ceil(framesLeft / s), 1 if framesLeft > 0) × perFrameMs  ∨  downloadLeft + perFrameMs
 * ```
 */
export function strideNeedMs(input: StridePlanInput, stride: number): number {
  const frames = input.pendingFrames + Math.ceil(input.framesLeft / stride);
  const infer = frames * input.perFrameMs;
  const download = input.downloadLeftMs > 0 ? input.downloadLeftMs + input.perFrameMs : 0;
  return Math.max(infer, download);
}

/**
 * The smallest stride in `[min, max]` whose work fits in `(1 − margin) × leftMs`; `max` when none does
 * (the answer is then as dense as the time allows, and `fits` says it will be late or cut).
 *
 * @example
 * // 750 frames, 150 ms per frame, 12 s left, 15 % margin: 10.2 s of work allowed, 68 frames → stride 12
 * planStride({ framesLeft: 750, pendingFrames: 0, perFrameMs: 150, leftMs: 12_000, downloadLeftMs: 0,
 *   margin: 0.15, min: 1, max: 30 }); // { stride: 12, needMs: 9450, marginMs: 2550, fits: true }
 */
export function planStride(input: StridePlanInput): StridePlan {
  const allowed = (1 - input.margin) * input.leftMs;
  const plan = (stride: number, fits: boolean): StridePlan => {
    const needMs = strideNeedMs(input, stride);
    return { stride, needMs, marginMs: input.leftMs - needMs, fits };
  };
  for (let stride = input.min; stride <= input.max; stride += 1) {
    if (strideNeedMs(input, stride) <= allowed) return plan(stride, true);
  }
  return plan(input.max, false);
}
