/** The synthetic clips' ground truth, and the box overlap the tests match detections with. */

import { readFileSync } from 'node:fs';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';

/** The `*.truth.json` of one of the fixture set's clips. */
export function readTruth(fixtures: FixtureSet, clip: string): GroundTruth {
  return JSON.parse(readFileSync(fixtures.clips[clip]!.truth, 'utf8')) as GroundTruth;
}

/** Intersection over union of two [x1, y1, x2, y2] boxes. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter);
}
