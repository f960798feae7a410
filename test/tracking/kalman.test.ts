import { describe, expect, it } from 'vitest';
import {
  initiate,
  predict,
  project,
  toBox,
  toMeasurement,
  update,
  type BoxState,
} from '../../src/tracking/kalman.js';

const entry = (state: BoxState, i: number, j: number) => state.covariance[i * 8 + j]!;
const diagonalOf = (state: BoxState) => Array.from({ length: 8 }, (_, i) => entry(state, i, i));

describe('kalman box filter', () => {
  it('measures a box as centre, aspect ratio and height, and back', () => {
    expect(toMeasurement([10, 20, 20, 60])).toEqual([15, 40, 0.25, 40]);
    expect(toBox(initiate([15, 40, 0.25, 40]))).toEqual([10, 20, 20, 60]);
  });

  it('starts at the measurement, at rest, with spreads scaled by the height', () => {
    // h = 20: position σ = 2·20/20 = 2, velocity σ = 10·20/160 = 1.25; aspect 1e-2, its velocity 1e-5.
    const state = initiate([5, 10, 0.5, 20]);
    expect(Array.from(state.mean)).toEqual([5, 10, 0.5, 20, 0, 0, 0, 0]);
    const expected = [4, 4, 1e-4, 4, 1.5625, 1.5625, 1e-10, 1.5625];
    diagonalOf(state).forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 12));
    expect(entry(state, 0, 4)).toBe(0);
  });

  it('predicts one frame: F P Fᵀ + Q with Q from the height', () => {
    const moving = initiate([5, 10, 0.5, 20]);
    moving.mean.set([3, -1, 0, 0.5], 4);
    const next = predict(moving);
    expect(Array.from(next.mean)).toEqual([8, 9, 0.5, 20.5, 3, -1, 0, 0.5]);
    // q(position) = (20/20)² = 1, q(velocity) = (20/160)² = 0.015625
    expect(entry(next, 0, 0)).toBeCloseTo(4 + 1.5625 + 1, 12);
    expect(entry(next, 0, 4)).toBeCloseTo(1.5625, 12);
    expect(entry(next, 4, 0)).toBeCloseTo(1.5625, 12);
    expect(entry(next, 4, 4)).toBeCloseTo(1.5625 + 0.015625, 12);
    expect(entry(next, 2, 2)).toBeCloseTo(1e-4 + 1e-10 + 1e-4, 12);
    // The input is left as it was.
    expect(moving.mean[0]).toBe(5);
    expect(entry(moving, 0, 0)).toBe(4);
  });

  it('a gap of n frames is n single-frame predictions', () => {
    const moving = initiate([100, 50, 0.4, 40]);
    moving.mean.set([2, 1, 0, 0.1], 4);
    const once = predict(predict(predict(moving)));
    const gap = predict(moving, 3);
    expect(Array.from(gap.mean)).toEqual(Array.from(once.mean));
    expect(Array.from(gap.covariance)).toEqual(Array.from(once.covariance));
    expect(predict(moving, 0)).toEqual(moving);
  });

  it('projects with the measurement noise added', () => {
    const state = initiate([5, 10, 0.5, 20]);
    const { mean, covariance } = project(state);
    expect(Array.from(mean)).toEqual([5, 10, 0.5, 20]);
    // R: (20/20)² for positions and height, 0.1² for the aspect ratio.
    expect(covariance[0]).toBeCloseTo(5, 12);
    expect(covariance[5]).toBeCloseTo(5, 12);
    expect(covariance[10]).toBeCloseTo(1e-4 + 1e-2, 12);
    expect(covariance[15]).toBeCloseTo(5, 12);
  });

  it('updates with the Kalman gain: P / (P + R) of the innovation for an uncorrelated state', () => {
    const state = initiate([5, 10, 0.5, 20]);
    // gain on cx = 4 / (4 + 1) = 0.8; velocity is uncorrelated with position at birth, so it stays 0.
    const corrected = update(state, [10, 10, 0.5, 20]);
    expect(corrected.mean[0]).toBeCloseTo(9, 12);
    expect(corrected.mean[4]).toBeCloseTo(0, 12);
    expect(entry(corrected, 0, 0)).toBeCloseTo(4 - 0.8 * 4, 12);
  });

  it('after a prediction the innovation also corrects the velocity', () => {
    const predicted = predict(initiate([5, 10, 0.5, 20]));
    // S = 6.5625 + 1; the velocity's gain is P(v, x) / S = 1.5625 / 7.5625.
    const corrected = update(predicted, [6, 10, 0.5, 20]);
    expect(corrected.mean[0]).toBeCloseTo(5 + 6.5625 / 7.5625, 12);
    expect(corrected.mean[4]).toBeCloseTo(1.5625 / 7.5625, 12);
    expect(corrected.mean[5]).toBeCloseTo(0, 12);
  });

  it('learns a constant velocity and predicts the next box within a pixel', () => {
    let state = initiate(toMeasurement([0, 100, 20, 150]));
    for (let frame = 1; frame <= 30; frame += 1) {
      state = update(predict(state), toMeasurement([3 * frame, 100 - frame, 3 * frame + 20, 150 - frame]));
    }
    expect(state.mean[4]).toBeCloseTo(3, 1);
    expect(state.mean[5]).toBeCloseTo(-1, 1);
    const next = toBox(predict(state, 5));
    [105, 65, 125, 115].forEach((value, i) => expect(Math.abs(next[i]! - value)).toBeLessThan(1));
  });

  it('a degenerate box (zero height) leaves the state as it was', () => {
    const flat = initiate([5, 10, 0, 0]);
    const corrected = update(flat, [6, 10, 0, 0]);
    expect(Array.from(corrected.mean)).toEqual(Array.from(flat.mean));
  });
});
