import { randomUUID } from 'node:crypto';
import { logEvents } from '../core/log-events.js';
import type { Logger } from '../core/logger.js';
import type { ResolvedPipeline } from '../pipelines/document.js';
import type { StrideReport } from '../operators/stride-budget.js';
import { coverageOf, type Coverage } from '../pipelines/coverage.js';
import { preparePipeline } from '../pipelines/runner.js';
import { breakdownOf, pipelineFacts, type DiagnoseBreakdown } from './breakdown.js';
import { measureRun } from './measure.js';
import { probeHead } from './probe.js';
import { verdict, type Verdict } from './verdict.js';

/** What `firstframe diagnose --json` prints. */
export interface DiagnoseDocument {
  readonly breakdown: DiagnoseBreakdown;
  readonly verdict: Verdict;
  /** Frames answered, inferred and filled, against the clip's frame count; objects by source. */
  readonly coverage: Coverage;
  /** The stride the run used (a fit-budget plan's segments); null when the stride stage reported none. */
  readonly stride: StrideReport | null;
}

export interface DiagnoseOptions {
  signal?: AbortSignal;
  /** Ask the server for its first bytes after the run when the run could not tell Range or the moov; default true. */
  probe?: boolean;
  /** Where the set-up's and the run's events are logged (downgrades at warn); default none. */
  logger?: Logger;
}

/**
 * One instrumented run of `pipeline` on `target` (a URL or a file), taken apart into its stages, with a
 * verdict on what dominated the time to first result. The model is loaded and warmed up first (its time
 * is `breakdown.model.setupMs`, outside the run's clock) and released at the end.
 *
 * @example
 * const { breakdown, verdict } = await diagnose(loadPipeline({ profile: 'default' }), url);
 */
export async function diagnose(
  pipeline: ResolvedPipeline,
  target: string,
  options: DiagnoseOptions = {},
): Promise<DiagnoseDocument> {
  const log = options.logger ? logEvents(options.logger, randomUUID().slice(0, 8)) : undefined;
  const prepared = await preparePipeline(pipeline, {
    ...(log ? { onEvent: log } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  try {
    const run = await measureRun(prepared, target, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(log ? { onEvent: log } : {}),
    });
    const source = run.document.source;
    const needsProbe =
      (options.probe ?? true) &&
      !options.signal?.aborted &&
      (source.rangeHonoured === null || source.layout === 'faststart' || source.layout === 'fragmented');
    const probe = needsProbe ? await probeHead(target) : null;
    const breakdown = breakdownOf({
      target,
      pipeline: pipelineFacts(pipeline, prepared.model),
      setupMs: prepared.setupMs,
      model: prepared.model,
      startedAt: run.startedAt,
      events: run.events,
      document: run.document,
      probe,
    });
    return {
      breakdown,
      verdict: verdict(breakdown),
      coverage: coverageOf(run.document),
      stride: run.document.timings.stride ?? null,
    };
  } finally {
    await prepared.release();
  }
}
