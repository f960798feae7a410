import { ModelError } from '../../core/errors.js';
import { modelCodes } from '../codes.js';
import {
  defineHead,
  type DecodeTarget,
  type Detection,
  type HeadCheckContext,
  type HeadLayout,
  type HeadOutput,
  type OutputSpec,
} from './types.js';

/**
 * A centre-heatmap player/ball detector (CenterNet's decoding), on one grid of cells `stride` input pixels
 * wide (h = w = input / stride):
 *
 * - `player_conf` [N, 1, h, w] and `ball_conf` [N, 1, h, w]: per cell, the score (0..1, after the sigmoid)
 *   that an object's centre lies in it;
 * - `player_bbox` [N, 4, h, w]: per cell, the distances from the cell's centre ((x + 0.5)·stride,
 *   (y + 0.5)·stride) to the box's left, top, right and bottom edges, in input pixels. One map for both
 *   classes (as CenterNet's size and offset maps are class-agnostic): a ball's box is read from it at the
 *   ball's peak. Distances to the edges carry the centre's offset within the cell too, so boxes are not
 *   quantised to the grid.
 *
 * Detections are the peaks of each score map: cells strictly above the threshold that no neighbour of
 * their 3 × 3 block exceeds (CenterNet's 3 × 3 max-pool test, which keeps equal neighbours), at most
 * `maxDetections` per class, best first. No NMS: a peak is one object. `iouThreshold` is not read.
 *
 * The stride is the grid's: input size / h when the outputs' shape is fixed, else the `stride` metadata;
 * when both are there they must agree.
 */

/** Class ids: 0 from `player_conf`, 1 from `ball_conf`. */
export const CENTRE_HEATMAP_CLASSES = ['player', 'ball'] as const;

/** Output names, in the order `decode` takes them. */
export const CENTRE_HEATMAP_OUTPUTS = ['player_conf', 'player_bbox', 'ball_conf'] as const;
const CHANNELS = [1, 4, 1] as const;

export interface CentreHeatmapLayout extends HeadLayout {
  /** Input pixels per cell. */
  readonly stride: number;
}

function checkCentreHeatmap({ path, imgSize, metadata, outputs }: HeadCheckContext) {
  const fail = (message: string, code: string = modelCodes.output): never => {
    throw new ModelError(code, `${path}: ${message}`, { path, head: 'centre-heatmap' });
  };
  const wanted = CENTRE_HEATMAP_OUTPUTS.map((name, i) => `${name} [N, ${CHANNELS[i]}, h, w]`).join(', ');
  const found = CENTRE_HEATMAP_OUTPUTS.map((name) => outputs.find((output) => output.name === name));
  const missing = CENTRE_HEATMAP_OUTPUTS.filter((_, i) => !found[i]);
  if (missing.length > 0) {
    return fail(
      `a centre-heatmap model has outputs ${wanted}; missing ${missing.join(', ')} (the model has ${
        outputs.map((output) => output.name).join(', ') || 'none'
      })`,
    );
  }
  const specs = found as OutputSpec[];
  const shapeOf = (spec: OutputSpec) => `${spec.name} [${spec.shape.join(', ')}]`;
  specs.forEach((spec, i) => {
    if (spec.shape.length !== 4 || spec.shape[1] !== CHANNELS[i]) {
      fail(`expected ${spec.name} of shape [N, ${CHANNELS[i]}, h, w], got [${spec.shape.join(', ')}]`);
    }
  });
  const grids = specs.map((spec) => spec.shape.slice(2));
  const fixed = grids.every((grid) => grid.every((dim) => typeof dim === 'number'));
  if (fixed && !grids.every((grid) => grid[0] === grids[0]![0] && grid[1] === grids[0]![1])) {
    return fail(`the three maps must share one grid, got ${specs.map(shapeOf).join(', ')}`);
  }
  let declared: number | undefined;
  if (metadata.stride !== undefined) {
    declared = Number(metadata.stride);
    if (!(Number.isInteger(declared) && declared > 0)) {
      return fail(
        `metadata "stride" must be a positive integer, got ${JSON.stringify(metadata.stride)}`,
        modelCodes.invalid,
      );
    }
  }
  let stride = declared;
  if (fixed) {
    const [h, w] = grids[0] as [number, number];
    const shapeStride = imgSize / h;
    if (h !== w || !Number.isInteger(shapeStride) || shapeStride * w !== imgSize) {
      return fail(`a ${imgSize}×${imgSize} input cannot make the ${h}×${w} grid of ${shapeOf(specs[0]!)}`);
    }
    if (declared !== undefined && declared !== shapeStride) {
      return fail(
        `metadata says stride ${declared}, but ${shapeOf(specs[0]!)} on a ${imgSize}×${imgSize} input is stride ${shapeStride}`,
      );
    }
    stride = shapeStride;
  }
  if (stride === undefined) {
    return fail('the maps have no fixed size and the metadata no "stride": the grid is unknown');
  }
  if (imgSize % stride !== 0) return fail(`stride ${stride} does not divide the ${imgSize}-pixel input`);
  const layout: CentreHeatmapLayout = { task: 'detect', classNames: [...CENTRE_HEATMAP_CLASSES], stride };
  return { layout, outputs: [...CENTRE_HEATMAP_OUTPUTS] };
}

interface Peak {
  readonly classId: number;
  readonly cell: number;
  readonly score: number;
}

/** The peaks of one score map (one image's h × w plane at `base`), best first. */
function peaksOf(map: Float32Array, base: number, h: number, w: number, classId: number, threshold: number) {
  const peaks: Peak[] = [];
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const score = map[base + y * w + x]!;
      // Strictly above; NaN compares false and never passes; scores above 1 are refused.
      if (!(score > threshold) || score > 1) continue;
      let peak = true;
      for (let dy = -1; dy <= 1 && peak; dy += 1) {
        const row = y + dy;
        if (row < 0 || row >= h) continue;
        for (let dx = -1; dx <= 1; dx += 1) {
          const column = x + dx;
          if (column < 0 || column >= w || (dx === 0 && dy === 0)) continue;
          // A neighbour equal to the cell leaves both peaks, as max-pool == value does.
          if (map[base + row * w + column]! > score) {
            peak = false;
            break;
          }
        }
      }
      if (peak) peaks.push({ classId, cell: y * w + x, score });
    }
  }
  return peaks.sort((p, q) => q.score - p.score || p.cell - q.cell);
}

function decodeCentreHeatmap(
  outputs: readonly HeadOutput[],
  layout: CentreHeatmapLayout,
  { index, geometry, source }: DecodeTarget,
  options: { confThreshold?: number; maxDetections?: number },
): Detection[] {
  const [playerConf, bbox, ballConf] = outputs as [HeadOutput, HeadOutput, HeadOutput];
  const [, , h, w] = playerConf.dims as [number, number, number, number];
  const sameGrid = (output: HeadOutput, channels: number) =>
    output.dims.length === 4 && output.dims[1] === channels && output.dims[2] === h && output.dims[3] === w;
  if (!sameGrid(playerConf, 1) || !sameGrid(bbox, 4) || !sameGrid(ballConf, 1)) {
    throw new ModelError(
      modelCodes.output,
      `centre-heatmap: a run's maps do not share one grid: ${outputs.map((o) => `${o.name} [${o.dims.join(', ')}]`).join(', ')}`,
      { head: 'centre-heatmap' },
    );
  }
  const threshold = options.confThreshold ?? 0.25;
  const limit = options.maxDetections ?? 300;
  const plane = h * w;
  const { stride } = layout;
  const { scale, padX, padY } = geometry;
  const clampX = (x: number) => Math.min(Math.max(x, 0), source.width);
  const clampY = (y: number) => Math.min(Math.max(y, 0), source.height);
  const detections: Detection[] = [];
  [playerConf, ballConf].forEach((map, classId) => {
    let kept = 0;
    for (const peak of peaksOf(map.data, index * plane, h, w, classId, threshold)) {
      if (kept >= limit) break;
      const at = (channel: number) => bbox.data[(index * 4 + channel) * plane + peak.cell]!;
      const [left, top, right, bottom] = [at(0), at(1), at(2), at(3)];
      if (!Number.isFinite(left + top + right + bottom) || left + right <= 0 || top + bottom <= 0) continue;
      const cx = ((peak.cell % w) + 0.5) * stride;
      const cy = (Math.floor(peak.cell / w) + 0.5) * stride;
      const box = [
        clampX((cx - left - padX) / scale),
        clampY((cy - top - padY) / scale),
        clampX((cx + right - padX) / scale),
        clampY((cy + bottom - padY) / scale),
      ] as const;
      // A box wholly in the letterbox's padding has no area left: no tracker or scorer can use it.
      if (!(box[2] > box[0] && box[3] > box[1])) continue;
      kept += 1;
      detections.push({ bbox: [...box], classId, className: layout.classNames[classId]!, score: peak.score });
    }
  });
  // Best first, players before the ball on equal scores (sort is stable).
  return detections.sort((p, q) => q.score - p.score);
}

/** The centre-heatmap player/ball head: see this file's first comment. */
export const centreHeatmapHead = defineHead<CentreHeatmapLayout>({
  name: 'centre-heatmap',
  summary:
    'centre heatmaps: player_conf [N,1,h,w], player_bbox [N,4,h,w] (ltrb distances in input pixels), ball_conf [N,1,h,w]; 3×3 peaks',
  check: checkCentreHeatmap,
  decode: decodeCentreHeatmap,
});
