import type { StageEvent } from '../core/events.js';

/**
 * What one run measured, in milliseconds since the run's start (`ReportRun.startedAt`). `null` where the
 * run did not get that far (no first frame before the budget ran out) or cannot tell (a peer tool that
 * reports no byte count). `summarizeRun` derives it from a run's events; peers fill it in themselves.
 */
export interface RunSummary {
  readonly firstByteMs: number | null;
  readonly firstFrameMs: number | null;
  /** The end of the first model run: the first moment a result existed. */
  readonly firstResultMs: number | null;
  readonly totalMs: number;
  readonly bytesDownloaded: number | null;
  readonly framesDecoded: number | null;
  readonly framesInferred: number | null;
  /** The sink's `endedBy` ('budget' | 'end' | 'error' | 'cancelled'), or what a peer says. */
  readonly endedBy: string;
}

/** One measured run of one strategy or peer tool. */
export interface ReportRun {
  /** Shown on the timeline row and in the table, e.g. `stream #2`. */
  readonly label: string;
  /** Runs of one group are compared together: a strategy (`stream`, `partial-2MB`) or a peer (`ffmpeg`). */
  readonly group: string;
  /** `performance.now()` when the run started: the origin of its events' `at`. */
  readonly startedAt: number;
  /** The run's stage events; empty for peers, whose row then shows the summary alone. */
  readonly events: readonly StageEvent[];
  readonly summary: RunSummary;
}

/** The network the runs went through, as the report's header states it. */
export interface ReportLink {
  readonly url: string;
  readonly rateBytesPerSec?: number;
  readonly ttfbMs?: number;
}

/** Everything `renderReportHtml` draws and `writeReport` saves as report.json. */
export interface BenchReport {
  readonly title: string;
  /** ISO 8601, given by the caller so that the same input renders the same page. */
  readonly createdAt: string;
  readonly link: ReportLink;
  readonly runs: readonly ReportRun[];
  /** Lines shown under the header: the machine's load, a peer that was skipped and why. */
  readonly notes?: readonly string[];
}
