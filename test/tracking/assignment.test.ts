import { describe, expect, it } from 'vitest';
import { assignWithLimit, minimumCostAssignment } from '../../src/tracking/assignment.js';

const total = (cost: number[][], columnOf: ArrayLike<number>) =>
  cost.reduce((sum, row, i) => sum + row[columnOf[i]!]!, 0);

/** The cheapest assignment by trying every injection of rows into columns. */
function bruteForce(cost: number[][], columns: number): number {
  let best = Infinity;
  const used = new Array<boolean>(columns).fill(false);
  const walk = (row: number, sum: number) => {
    if (row === cost.length) {
      best = Math.min(best, sum);
      return;
    }
    for (let j = 0; j < columns; j += 1) {
      if (used[j]) continue;
      used[j] = true;
      walk(row + 1, sum + cost[row]![j]!);
      used[j] = false;
    }
  };
  walk(0, 0);
  return best;
}

/** A seeded generator (an LCG), so a failing case can be replayed. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('minimumCostAssignment', () => {
  it('solves known square matrices', () => {
    const small = [
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ];
    expect(Array.from(minimumCostAssignment(small, 3))).toEqual([1, 0, 2]);
    const classic = [
      [82, 83, 69, 92],
      [77, 37, 49, 92],
      [11, 69, 5, 86],
      [8, 9, 98, 23],
    ];
    const columnOf = minimumCostAssignment(classic, 4);
    expect(Array.from(columnOf)).toEqual([2, 1, 0, 3]);
    expect(total(classic, columnOf)).toBe(140);
  });

  it('is not greedy: the cheapest pair is not always taken', () => {
    const cost = [
      [1, 2],
      [2, 100],
    ];
    expect(Array.from(minimumCostAssignment(cost, 2))).toEqual([1, 0]);
  });

  it('assigns every row of a wide matrix, leaving columns over', () => {
    const cost = [
      [9, 1, 9, 9],
      [9, 9, 9, 2],
    ];
    expect(Array.from(minimumCostAssignment(cost, 4))).toEqual([1, 3]);
    expect(Array.from(minimumCostAssignment([], 3))).toEqual([]);
    expect(() => minimumCostAssignment([[1], [2]], 1)).toThrow(RangeError);
  });

  it('matches brute force on random matrices', () => {
    const random = lcg(44);
    for (let trial = 0; trial < 200; trial += 1) {
      const rows = 1 + Math.floor(random() * 5);
      const columns = rows + Math.floor(random() * 3);
      const cost = Array.from({ length: rows }, () =>
        Array.from({ length: columns }, () => Math.round(random() * 20) / 4),
      );
      const columnOf = minimumCostAssignment(cost, columns);
      expect(new Set(columnOf).size).toBe(rows);
      expect(total(cost, columnOf)).toBeCloseTo(bruteForce(cost, columns), 9);
    }
  });
});

describe('assignWithLimit', () => {
  it('never pairs above the limit or across an infinite cost', () => {
    const cost = [
      [0.9, 0.3, Infinity],
      [0.85, Infinity, 0.1],
      [0.95, 0.99, NaN],
    ];
    expect(assignWithLimit(cost, 3, 0.8)).toEqual({
      matches: [
        [0, 1],
        [1, 2],
      ],
      unmatchedRows: [2],
      unmatchedColumns: [0],
    });
  });

  it('makes a pair only when it is worth more than leaving both alone', () => {
    // Two pairs (0.75 + 0.2) save 0.65 against leaving everything unmatched; one pair (0.1) saves 0.7.
    const cost = [
      [0.1, 0.75],
      [0.2, 0.9],
    ];
    expect(assignWithLimit(cost, 2, 0.8)).toEqual({
      matches: [[0, 0]],
      unmatchedRows: [1],
      unmatchedColumns: [1],
    });
    // With a looser limit both pairs are worth it.
    expect(assignWithLimit(cost, 2, 1).matches).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });

  it('handles no rows, no columns, and tall matrices', () => {
    expect(assignWithLimit([], 2, 0.8)).toEqual({ matches: [], unmatchedRows: [], unmatchedColumns: [0, 1] });
    expect(assignWithLimit([[], []], 0, 0.8)).toEqual({
      matches: [],
      unmatchedRows: [0, 1],
      unmatchedColumns: [],
    });
    expect(assignWithLimit([[0.5], [0.2], [0.4]], 1, 0.8)).toEqual({
      matches: [[1, 0]],
      unmatchedRows: [0, 2],
      unmatchedColumns: [],
    });
  });
});
