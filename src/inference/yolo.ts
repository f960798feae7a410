import type { LetterboxGeometry } from '../media/letterbox.js';
import type { DecodeOptions, Detection, HeadLayout } from './heads/types.js';

/**
 * Decoding of Ultralytics YOLO outputs (`output0`, channel-major [N, 4 + nc (+ K·3), anchors]): rows 0..3 are
 * cx, cy, w, h in model-input pixels, then one row of class scores per class (already sigmoid), then for pose
 * models K keypoints as x, y, visibility rows.
 */

/** The layout of a YOLO head: what every head's layout says (see heads/types.ts), read from its metadata. */
export type YoloLayout = HeadLayout;

export type { Detection };

/** Ultralytics' predict settings: a strict score threshold, class-wise NMS, a cap on detections. */
export type YoloDecodeOptions = DecodeOptions;

/** Rows per anchor the layout implies. */
export function channelsOf(layout: YoloLayout): number {
  return (
    4 + layout.classNames.length + (layout.keypoints ? layout.keypoints.count * layout.keypoints.dims : 0)
  );
}

interface Candidate {
  anchor: number;
  classId: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

function iou(a: Candidate, b: Candidate): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * The detections of one image of a batch output, as Ultralytics' predict path makes them: scores strictly
 * above `confThreshold`, per-class NMS (IoU strictly above `iouThreshold` suppresses), boxes mapped back to
 * source pixels through the letterbox and clipped to the source frame after NMS. Scores that are NaN, infinite or outside 0..1 never reach the results.
 *
 * @param output the whole `output0` data ([N, channels, anchors], float32)
 * @param anchors the output's last dimension
 * @param index which image of the batch
 */
export function decodeYolo(
  output: Float32Array,
  anchors: number,
  index: number,
  layout: YoloLayout,
  geometry: LetterboxGeometry,
  source: { readonly width: number; readonly height: number },
  options: YoloDecodeOptions = {},
): Detection[] {
  const confThreshold = options.confThreshold ?? 0.25;
  const iouThreshold = options.iouThreshold ?? 0.7;
  const maxDetections = options.maxDetections ?? 300;
  const classes = layout.classNames.length;
  const channels = channelsOf(layout);
  const base = index * channels * anchors;
  const row = (channel: number) => base + channel * anchors;

  // Best class per anchor, walking each class row contiguously (the output is channel-major).
  const bestScore = new Float32Array(anchors);
  const bestClass = new Int32Array(anchors);
  for (let c = 0; c < classes; c += 1) {
    const start = row(4 + c);
    for (let a = 0; a < anchors; a += 1) {
      const score = output[start + a]!;
      if (score > bestScore[a]! && score <= 1) {
        bestScore[a] = score;
        bestClass[a] = c;
      }
    }
  }

  const { scale, padX, padY } = geometry;
  const clampX = (x: number) => Math.min(Math.max(x, 0), source.width);
  const clampY = (y: number) => Math.min(Math.max(y, 0), source.height);
  const candidates: Candidate[] = [];
  for (let a = 0; a < anchors; a += 1) {
    const score = bestScore[a]!;
    // Strictly above, as Ultralytics' NMS filters. NaN compares false and so never passes; scores above 1
    // were refused above.
    if (!(score > confThreshold)) continue;
    const cx = output[row(0) + a]!;
    const cy = output[row(1) + a]!;
    const w = output[row(2) + a]!;
    const h = output[row(3) + a]!;
    if (!Number.isFinite(cx + cy + w + h) || w <= 0 || h <= 0) continue;
    candidates.push({
      anchor: a,
      classId: bestClass[a]!,
      score,
      x1: (cx - w / 2 - padX) / scale,
      y1: (cy - h / 2 - padY) / scale,
      x2: (cx + w / 2 - padX) / scale,
      y2: (cy + h / 2 - padY) / scale,
    });
  }
  candidates.sort((p, q) => q.score - p.score);

  // Suppression on the unclipped boxes, clipping after it, as Ultralytics does (its NMS runs in the model's
  // input space; the letterbox's mapping is a uniform scale and a shift, which leave IoU unchanged). One
  // difference, on purpose: a box that clipping leaves without area (it lay wholly in the letterbox's
  // padding) is dropped after NMS, where Ultralytics returns it; no tracker or scorer can use it.
  const kept: Candidate[] = [];
  for (const candidate of candidates) {
    if (kept.length >= maxDetections) break;
    const suppressed = kept.some(
      (other) => other.classId === candidate.classId && iou(other, candidate) > iouThreshold,
    );
    if (!suppressed) kept.push(candidate);
  }

  const clipped = kept
    .map((candidate) => ({
      candidate,
      bbox: [clampX(candidate.x1), clampY(candidate.y1), clampX(candidate.x2), clampY(candidate.y2)] as const,
    }))
    .filter(({ bbox }) => bbox[2] > bbox[0] && bbox[3] > bbox[1]);
  return clipped.map(({ candidate, bbox }) => {
    const detection: Detection = {
      bbox: [...bbox],
      classId: candidate.classId,
      className: layout.classNames[candidate.classId] ?? String(candidate.classId),
      score: candidate.score,
    };
    if (!layout.keypoints) return detection;
    const { count, dims } = layout.keypoints;
    const first = 4 + classes;
    const keypoints: Array<readonly [number, number, number]> = [];
    for (let k = 0; k < count; k += 1) {
      const x = output[row(first + k * dims) + candidate.anchor]!;
      const y = output[row(first + k * dims + 1) + candidate.anchor]!;
      const visibility = dims === 3 ? output[row(first + k * dims + 2) + candidate.anchor]! : 1;
      const confidence = Number.isFinite(visibility) ? Math.min(Math.max(visibility, 0), 1) : 0;
      keypoints.push([(x - padX) / scale, (y - padY) / scale, confidence]);
    }
    return { ...detection, keypoints };
  });
}

/**
 * Class names from Ultralytics' `names` metadata, a Python dict literal such as
 * `{0: 'person', 1: "bicycle"}`. Returns undefined when the text is not such a dict.
 */
export function parseClassNames(text: string): string[] | undefined {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) return undefined;
  const names: string[] = [];
  const entry = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(?:,|$)/gy;
  const inner = body.slice(1, -1).trim();
  entry.lastIndex = 0;
  let consumed = 0;
  for (let match = entry.exec(inner); match; match = entry.exec(inner)) {
    const value = (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1');
    names[Number(match[1])] = value;
    consumed = entry.lastIndex;
    while (inner[entry.lastIndex] === ' ') entry.lastIndex += 1;
  }
  if (consumed < inner.replace(/\s+$/, '').length) return undefined;
  for (let i = 0; i < names.length; i += 1) if (names[i] === undefined) return undefined;
  return names;
}
