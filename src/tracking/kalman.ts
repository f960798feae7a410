/**
 * The Kalman filter of SORT-family trackers (SORT, DeepSORT, ByteTrack) for one box moving at constant
 * velocity in image space.
 *
 * State (8): centre x, centre y, aspect ratio w/h, height, and their velocities per frame. Measurement (4):
 * the first four. Process and measurement noise are not fixed numbers but scale with the box's height, as in
 * the papers: a tall (near) player is allowed to move and jitter more pixels than a small far one. The aspect
 * ratio gets tiny fixed noise because a box's shape changes slowly.
 *
 * Everything here is pure: every function returns a new state and never changes its input.
 */

/** Mean (8) and row-major covariance (8 × 8) of the state [cx, cy, a, h, vcx, vcy, va, vh]. */
export interface BoxState {
  readonly mean: Float64Array;
  readonly covariance: Float64Array;
}

/** [cx, cy, a, h]: a box as the filter measures it. */
export type BoxMeasurement = readonly [number, number, number, number];

const DIM = 8;

/**
 * Standard deviations relative to the box height, per frame: 1/20 of the height for position, 1/160 for
 * velocity (the weights of DeepSORT's and ByteTrack's filters).
 */
export const STD_WEIGHT_POSITION = 1 / 20;
export const STD_WEIGHT_VELOCITY = 1 / 160;

/** x1, y1, x2, y2 to [cx, cy, w/h, h]. */
export function toMeasurement(bbox: readonly [number, number, number, number]): BoxMeasurement {
  const [x1, y1, x2, y2] = bbox;
  const w = x2 - x1;
  const h = y2 - y1;
  return [x1 + w / 2, y1 + h / 2, w / h, h];
}

/** The state's box as x1, y1, x2, y2 (a predicted height may have become ≤ 0: callers must check). */
export function toBox(state: BoxState): [number, number, number, number] {
  const [cx, cy, a, h] = state.mean as unknown as [number, number, number, number];
  const w = a * h;
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

function diagonal(std: readonly number[]): Float64Array {
  const matrix = new Float64Array(DIM * DIM);
  std.forEach((s, i) => (matrix[i * DIM + i] = s * s));
  return matrix;
}

/**
 * A new track's state: at the measurement, velocity unknown (zero, with a wide spread). Position spread is
 * twice the per-frame process noise, velocity spread ten times.
 */
export function initiate(measurement: BoxMeasurement): BoxState {
  const h = measurement[3];
  const mean = new Float64Array(DIM);
  mean.set(measurement);
  const p = 2 * STD_WEIGHT_POSITION * h;
  const v = 10 * STD_WEIGHT_VELOCITY * h;
  return { mean, covariance: diagonal([p, p, 1e-2, p, v, v, 1e-5, v]) };
}

/** One frame ahead: x ← F x, P ← F P Fᵀ + Q, with Q from the height before the step. */
function step(mean: Float64Array, covariance: Float64Array): void {
  const h = mean[3]!;
  const p = STD_WEIGHT_POSITION * h;
  const v = STD_WEIGHT_VELOCITY * h;
  const noise = [p, p, 1e-2, p, v, v, 1e-5, v];
  for (let i = 0; i < 4; i += 1) mean[i] = mean[i]! + mean[i + 4]!;
  // F = [[I, I], [0, I]]: F P adds row i+4 to row i, then (F P) Fᵀ adds column j+4 to column j.
  for (let i = 0; i < 4; i += 1) {
    for (let j = 0; j < DIM; j += 1)
      covariance[i * DIM + j] = covariance[i * DIM + j]! + covariance[(i + 4) * DIM + j]!;
  }
  for (let j = 0; j < 4; j += 1) {
    for (let i = 0; i < DIM; i += 1)
      covariance[i * DIM + j] = covariance[i * DIM + j]! + covariance[i * DIM + j + 4]!;
  }
  for (let i = 0; i < DIM; i += 1) covariance[i * DIM + i] = covariance[i * DIM + i]! + noise[i]! * noise[i]!;
}

/**
 * The state `frames` frames later. A strided input skips frames: predicting frame by frame keeps the noise
 * of the per-frame model (a two-frame gap grows the uncertainty as two frames do, not as one big step).
 */
export function predict(state: BoxState, frames = 1): BoxState {
  const mean = Float64Array.from(state.mean);
  const covariance = Float64Array.from(state.covariance);
  for (let k = 0; k < frames; k += 1) step(mean, covariance);
  return { mean, covariance };
}

/**
 * In-place Cholesky factorisation of a symmetric positive-definite n × n matrix (row-major): the lower
 * triangle becomes L with A = L Lᵀ. Returns false when the matrix is not positive definite.
 */
function cholesky(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j += 1) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k += 1) d -= a[j * n + k]! * a[j * n + k]!;
    if (!(d > 0)) return false;
    const root = Math.sqrt(d);
    a[j * n + j] = root;
    for (let i = j + 1; i < n; i += 1) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k += 1) s -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = s / root;
    }
  }
  return true;
}

/** Solves (L Lᵀ) x = b in place for one right-hand side `b` (length n). */
function choleskySolve(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i += 1) {
    let s = b[i]!;
    for (let k = 0; k < i; k += 1) s -= l[i * n + k]! * b[k]!;
    b[i] = s / l[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i -= 1) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k += 1) s -= l[k * n + i]! * b[k]!;
    b[i] = s / l[i * n + i]!;
  }
}

/**
 * The measurement space view of a state: mean (4) and innovation covariance S = H P Hᵀ + R (4 × 4), R from
 * the state's height (the aspect ratio measurement noise is 0.1, ten times its process noise).
 */
export function project(state: BoxState): { mean: Float64Array; covariance: Float64Array } {
  const h = state.mean[3]!;
  const p = STD_WEIGHT_POSITION * h;
  const noise = [p, p, 1e-1, p];
  const covariance = new Float64Array(16);
  for (let i = 0; i < 4; i += 1) {
    for (let j = 0; j < 4; j += 1) covariance[i * 4 + j] = state.covariance[i * DIM + j]!;
    covariance[i * 4 + i] = covariance[i * 4 + i]! + noise[i]! * noise[i]!;
  }
  return { mean: state.mean.slice(0, 4), covariance };
}

/**
 * The state corrected by a measurement. H selects the first four state entries, so P Hᵀ is P's first four
 * columns and K = P Hᵀ S⁻¹; the covariance becomes P − K H P.
 *
 * A degenerate innovation covariance (a box of zero height) leaves the state unchanged.
 */
export function update(state: BoxState, measurement: BoxMeasurement): BoxState {
  const projected = project(state);
  const factor = projected.covariance;
  if (!cholesky(factor, 4)) return { mean: state.mean.slice(), covariance: state.covariance.slice() };
  const P = state.covariance;
  // gain[i] (row i of K) solves S kᵢ = (P Hᵀ)ᵢ since S is symmetric.
  const gain = new Float64Array(DIM * 4);
  const row = new Float64Array(4);
  for (let i = 0; i < DIM; i += 1) {
    for (let k = 0; k < 4; k += 1) row[k] = P[i * DIM + k]!;
    choleskySolve(factor, 4, row);
    gain.set(row, i * 4);
  }
  const innovation = measurement.map((value, k) => value - projected.mean[k]!);
  const mean = state.mean.slice();
  const covariance = P.slice();
  for (let i = 0; i < DIM; i += 1) {
    for (let k = 0; k < 4; k += 1) mean[i] = mean[i]! + gain[i * 4 + k]! * innovation[k]!;
    for (let j = 0; j < DIM; j += 1) {
      let correction = 0;
      for (let k = 0; k < 4; k += 1) correction += gain[i * 4 + k]! * P[k * DIM + j]!;
      covariance[i * DIM + j] = covariance[i * DIM + j]! - correction;
    }
  }
  return { mean, covariance };
}
