import type { ResizePlan } from './resize-linear.js';

/**
 * OpenCV's walk down the destination rows of a 'linear' plan: each row mixes the horizontal resizes of two
 * source rows (clamped to the picture), each computed once and kept while the next rows need it (swapped
 * when the lower one becomes the upper, copied when both are the same). `rows`: the two buffers a
 * horizontal resize goes into: typed arrays (resize-linear.ts), offsets into its memory (the WebAssembly
 * kernel's, resize-linear-simd.ts).
 */
export function walkDestinationRows<Row>(
  plan: ResizePlan,
  rows: readonly [Row, Row],
  resize: (sourceRow: number, into: Row) => void,
  copy: (from: Row, to: Row) => void,
  mix: (destinationRow: number, upper: Row, lower: Row) => void,
): void {
  const { height, sourceHeight, yofs } = plan;
  let [upper, lower] = rows;
  let upperRow = -1;
  let lowerRow = -1;
  for (let dy = 0; dy < height; dy += 1) {
    const top = Math.min(Math.max(yofs[dy]!, 0), sourceHeight - 1);
    const bottom = Math.min(Math.max(yofs[dy]! + 1, 0), sourceHeight - 1);
    if (top !== upperRow) {
      if (top === lowerRow) {
        [upper, lower] = [lower, upper];
        upperRow = top;
        lowerRow = -1;
      } else {
        resize(top, upper);
        upperRow = top;
      }
    }
    if (bottom !== lowerRow) {
      if (bottom === upperRow) copy(upper, lower);
      else resize(bottom, lower);
      lowerRow = bottom;
    }
    mix(dy, upper, lower);
  }
}
