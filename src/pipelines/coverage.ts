import type { RunDocument } from './runner.js';

/** How much of the clip a run answered, from its document's timings (what the summaries print). */
export interface Coverage {
  /** Frames in the clip when its index says, else null. */
  readonly framesInClip: number | null;
  readonly framesAnswered: number;
  readonly framesInferred: number;
  readonly framesFilled: number;
  /** Answered frames over the clip's frames, 0..1; null when the clip's frame count is unknown. */
  readonly coverage: number | null;
  readonly objectsBySource: { inferred: number; interpolated: number; extrapolated: number };
  /** What the last answered frame is (see RunDocument's timings), null without the fill stage. */
  readonly lastFrameFrom: 'clip' | 'decoded' | 'inferred' | null;
}

/** The coverage of a run document; documents without the coverage fields count their frames as inferred. */
export function coverageOf(document: RunDocument): Coverage {
  const t = document.timings;
  const framesAnswered = t.framesAnswered ?? document.frames.length;
  const framesInClip = t.framesInClip ?? null;
  const objects = document.frames.reduce((sum, frame) => sum + frame.objects.length, 0);
  return {
    framesInClip,
    framesAnswered,
    framesInferred: t.framesInferred,
    framesFilled: t.framesFilled ?? 0,
    coverage: framesInClip ? Math.min(1, framesAnswered / framesInClip) : null,
    objectsBySource: t.objectsBySource ?? { inferred: objects, interpolated: 0, extrapolated: 0 },
    lastFrameFrom: t.lastFrameFrom ?? null,
  };
}

const percent = (share: number) => `${(share * 100).toFixed(share === 1 || share === 0 ? 0 : 1)}%`;

/**
 * One line: `100 of 100 frames answered (100% of the clip): 20 inferred, 80 filled; objects 340 inferred,
 * 1292 interpolated, 68 extrapolated`. Without a frame count it says so and where the answer stops.
 */
export function coverageLine(coverage: Coverage): string {
  const c = coverage;
  const clip =
    c.framesInClip !== null
      ? `${c.framesAnswered} of ${c.framesInClip} frames answered (${percent(c.coverage!)} of the clip)`
      : `${c.framesAnswered} frames answered (the clip's frame count is unknown${c.lastFrameFrom === 'decoded' ? ': filled to the last decoded frame' : ''})`;
  const o = c.objectsBySource;
  return (
    `${clip}: ${c.framesInferred} inferred, ${c.framesFilled} filled; ` +
    `objects ${o.inferred} inferred, ${o.interpolated} interpolated, ${o.extrapolated} extrapolated`
  );
}
