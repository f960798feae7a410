import type { ReportRun, RunSummary } from './types.js';

/** Median, min and max of one metric over a group's runs; `n` counts the runs that had a value. */
export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** The metrics the comparison chart shows, in its order. */
export const comparedMetrics = ['firstFrameMs', 'firstResultMs', 'totalMs'] as const;
export type ComparedMetric = (typeof comparedMetrics)[number];

/** One group's spreads; a metric no run of the group reached is `null`. */
export interface GroupStats {
  readonly group: string;
  readonly runs: number;
  readonly metrics: Readonly<Record<ComparedMetric, Spread | null>>;
}

/**
 * Median, min and max of the finite values, or `null` when there are none. An even count takes the mean of
 * the two middle values.
 */
export function spreadOf(values: readonly (number | null)[]): Spread | null {
  const sorted = values
    .filter((value): value is number => value !== null && Number.isFinite(value))
    .sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return null;
  const middle = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { n, median, min: sorted[0]!, max: sorted[n - 1]! };
}

/**
 * The runs grouped by `group`, in the order each group first appears (so the same input always draws the
 * same chart), with the spread of each compared metric.
 */
export function groupStats(runs: readonly ReportRun[]): GroupStats[] {
  const byGroup = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const summaries = byGroup.get(run.group) ?? [];
    summaries.push(run.summary);
    byGroup.set(run.group, summaries);
  }
  return [...byGroup].map(([group, summaries]) => ({
    group,
    runs: summaries.length,
    metrics: {
      firstFrameMs: spreadOf(summaries.map((summary) => summary.firstFrameMs)),
      firstResultMs: spreadOf(summaries.map((summary) => summary.firstResultMs)),
      totalMs: spreadOf(summaries.map((summary) => summary.totalMs)),
    },
  }));
}
