/**
 * Optimal one-to-one assignment of tracks (rows) to detections (columns) by cost.
 *
 * The solver is the shortest-augmenting-path form of the Hungarian method with row and column potentials
 * (Kuhn–Munkres as refined by Jonker and Volgenant): one row is added at a time and the cheapest path in the
 * reduced costs augments the matching, O(n² m) for n ≤ m. Tracking matrices are small (tens of players and
 * detections), so a dense solver is plenty.
 */

/** What an assignment under a cost limit leaves: the pairs, and the rows and columns left alone. */
export interface Assignment {
  /** [row, column] pairs, by increasing row. */
  readonly matches: ReadonlyArray<readonly [number, number]>;
  readonly unmatchedRows: readonly number[];
  readonly unmatchedColumns: readonly number[];
}

/**
 * The minimum-cost assignment of every row of a rectangular matrix with rows ≤ columns: `result[row]` is its
 * column. Costs must be finite.
 */
export function minimumCostAssignment(cost: ReadonlyArray<ArrayLike<number>>, columns: number): Int32Array {
  const rows = cost.length;
  if (rows > columns) throw new RangeError(`assignment: ${rows} rows do not fit ${columns} columns`);
  // 1-based rows and columns; column 0 is the virtual start of each augmenting path.
  const rowPotential = new Float64Array(rows + 1);
  const columnPotential = new Float64Array(columns + 1);
  const rowOfColumn = new Int32Array(columns + 1);
  const previousColumn = new Int32Array(columns + 1);
  const slack = new Float64Array(columns + 1);
  const visited = new Uint8Array(columns + 1);
  for (let row = 1; row <= rows; row += 1) {
    rowOfColumn[0] = row;
    let column = 0;
    slack.fill(Infinity);
    visited.fill(0);
    // Grow a tree of tight edges from the new row until it reaches a free column.
    do {
      visited[column] = 1;
      const from = rowOfColumn[column]!;
      const costs = cost[from - 1]!;
      let delta = Infinity;
      let next = 0;
      for (let j = 1; j <= columns; j += 1) {
        if (visited[j]) continue;
        const reduced = costs[j - 1]! - rowPotential[from]! - columnPotential[j]!;
        if (reduced < slack[j]!) {
          slack[j] = reduced;
          previousColumn[j] = column;
        }
        if (slack[j]! < delta) {
          delta = slack[j]!;
          next = j;
        }
      }
      // Shift the potentials so that the cheapest edge out of the tree becomes tight.
      for (let j = 0; j <= columns; j += 1) {
        if (visited[j]) {
          rowPotential[rowOfColumn[j]!] = rowPotential[rowOfColumn[j]!]! + delta;
          columnPotential[j] = columnPotential[j]! - delta;
        } else {
          slack[j] = slack[j]! - delta;
        }
      }
      column = next;
    } while (rowOfColumn[column] !== 0);
    // Flip the path back to the start: every column on it takes the row of the column before it.
    while (column !== 0) {
      const before = previousColumn[column]!;
      rowOfColumn[column] = rowOfColumn[before]!;
      column = before;
    }
  }
  const result = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= columns; j += 1) if (rowOfColumn[j]! > 0) result[rowOfColumn[j]! - 1] = j - 1;
  return result;
}

/**
 * The assignment that minimises the summed cost of its pairs plus `limit / 2` for every row and every column
 * it leaves unmatched: the cost-limit semantics of `lapjv` in the `lap` package, which ByteTrack uses. No
 * pair costs more than `limit`; non-finite costs (a class mismatch) are never paired.
 *
 * The matrix is extended to (n + m) square: a row may take a dummy column instead, and a column a dummy row,
 * at `limit / 2` each. The total is then Σ (cost − limit) over the real pairs plus a constant, so a pair above
 * `limit` is never part of an optimum and one below it is taken unless it blocks cheaper ones.
 *
 * @param cost n rows of m costs (tracks × detections, e.g. 1 − IoU)
 */
export function assignWithLimit(
  cost: ReadonlyArray<ArrayLike<number>>,
  columns: number,
  limit: number,
): Assignment {
  const rows = cost.length;
  if (rows === 0 || columns === 0) {
    return {
      matches: [],
      unmatchedRows: Array.from({ length: rows }, (_, i) => i),
      unmatchedColumns: Array.from({ length: columns }, (_, j) => j),
    };
  }
  const size = rows + columns;
  const half = limit / 2;
  // Any cost above the limit is never part of an optimum; one finite value keeps the arithmetic exact.
  const forbidden = limit + 1;
  const extended: Float64Array[] = [];
  for (let i = 0; i < size; i += 1) {
    const line = new Float64Array(size);
    if (i < rows) {
      const costs = cost[i]!;
      for (let j = 0; j < columns; j += 1) {
        const value = costs[j]!;
        line[j] = Number.isFinite(value) && value <= limit ? value : forbidden;
      }
      line.fill(half, columns);
    } else {
      // Dummy row × dummy column stays 0: one such pair for every real pair made.
      line.fill(half, 0, columns);
    }
    extended.push(line);
  }
  const columnOf = minimumCostAssignment(extended, size);
  const matches: Array<readonly [number, number]> = [];
  const matchedColumns = new Uint8Array(columns);
  const unmatchedRows: number[] = [];
  for (let i = 0; i < rows; i += 1) {
    const j = columnOf[i]!;
    const value = j < columns ? cost[i]![j]! : NaN;
    if (j < columns && Number.isFinite(value) && value <= limit) {
      matches.push([i, j]);
      matchedColumns[j] = 1;
    } else {
      unmatchedRows.push(i);
    }
  }
  const unmatchedColumns: number[] = [];
  for (let j = 0; j < columns; j += 1) if (!matchedColumns[j]) unmatchedColumns.push(j);
  return { matches, unmatchedRows, unmatchedColumns };
}
