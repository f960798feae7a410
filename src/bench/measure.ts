import { lastValueFrom, tap } from 'rxjs';
import { safeSink, type EventSink, type StageEvent } from '../core/events.js';
import { isUrl } from '../pipelines/operators.js';
import type { PreparedPipeline, RunDocument } from '../pipelines/runner.js';
import type { RunSummary } from '../report/types.js';
import { createDispatcher } from '../sources/dispatcher.js';

/** One run of a prepared pipeline with every stage event kept. */
export interface MeasuredRun {
  /** `performance.now()` of the run's `pipeline: start` event: the origin of the document's times. */
  readonly startedAt: number;
  readonly events: readonly StageEvent[];
  readonly document: RunDocument;
  /** When the download ended (see {@link downloadEndMs}). */
  readonly downloadMs: number | null;
}

/**
 * When the response the run waited on (its first request) had delivered its last byte, in ms since
 * `startedAt`: `null` when it was cut first (the budget ran out, the run was cancelled or failed). A
 * partial strategy's download ends at its range's last byte; a moov fetch is a second request and does not
 * count.
 */
export function downloadEndMs(startedAt: number, events: readonly StageEvent[]): number | null {
  const request = events.find((event) => event.stage === 'source' && event.name === 'request');
  if (!request) return null;
  const id = request.data?.['requestId'];
  const end = events.find(
    (event) =>
      event.stage === 'source' &&
      event.name === 'end' &&
      (id === undefined || event.data?.['requestId'] === id),
  );
  const reason = end?.data?.['reason'];
  return end && (reason === 'complete' || reason === 'limit') ? end.at - startedAt : null;
}

/** The report's summary of a run, from its result document so that the report and the tables agree. */
export function runSummary(document: RunDocument): RunSummary {
  const t = document.timings;
  return {
    firstByteMs: t.firstByteMs,
    firstFrameMs: t.firstFrameMs,
    firstResultMs: t.firstResultMs,
    totalMs: t.totalMs,
    bytesDownloaded: t.bytesDownloaded,
    framesDecoded: t.framesDecoded,
    framesInferred: t.framesInferred,
    endedBy: t.endedBy,
  };
}

/**
 * Runs `prepared` once on `target`, keeping every event. Each run gets an HTTP dispatcher of its own,
 * closed afterwards, so that every run pays its own DNS, TCP and TLS as a first request does (and as the
 * peer tools, which open their own connections, do) instead of reusing the previous run's socket.
 */
export async function measureRun(
  prepared: PreparedPipeline,
  target: string,
  options: { signal?: AbortSignal; onEvent?: EventSink } = {},
): Promise<MeasuredRun> {
  const events: StageEvent[] = [];
  const onEvent = safeSink(options.onEvent);
  const dispatcher = isUrl(target) ? createDispatcher() : undefined;
  let startedAt: number | undefined;
  try {
    const result = await lastValueFrom(
      prepared
        .run$(target, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(dispatcher ? { dispatcher } : {}),
        })
        .pipe(
          tap((event) => {
            if (event.type !== 'stage') return;
            const stage = event.event;
            if (startedAt === undefined && stage.stage === 'pipeline' && stage.name === 'start') {
              startedAt = stage.at;
            }
            events.push(stage);
            onEvent?.(stage);
          }),
        ),
    );
    if (result.type !== 'result') throw new Error('the pipeline ended without a result document');
    const origin = startedAt ?? events[0]?.at ?? performance.now();
    return {
      startedAt: origin,
      events,
      document: result.result,
      downloadMs: roundMs(downloadEndMs(origin, events)),
    };
  } finally {
    await dispatcher?.destroy().catch(() => undefined);
  }
}

const roundMs = (ms: number | null): number | null => (ms === null ? null : Math.round(ms * 10) / 10);
