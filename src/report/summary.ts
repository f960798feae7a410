import type { StageEvent } from '../core/events.js';
import type { RunSummary } from './types.js';

/** A number field of an event's data, or undefined when absent or not a finite number. */
export function numberField(event: StageEvent, key: string): number | undefined {
  const value = event.data?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The summary of one pipeline run, derived from its stage events.
 *
 * Bytes are the sum of the source's `chunk` sizes (`data.bytes` is one chunk; `data.received` restarts at
 * each request, and a partial strategy makes several). The total is the sink's `end`, or the last event
 * when the run had no sink.
 *
 * @example
 * const timeline = createTimeline();
 * // … run the pipeline with `onEvent: timeline.sink` …
 * const summary = summarizeRun(timeline.startedAt, timeline.events);
 *
 * @param startedAt `performance.now()` at the start of the run.
 * @param events the run's events, in the order they were emitted.
 * @returns times in ms since `startedAt`; `null` for what did not happen.
 */
export function summarizeRun(startedAt: number, events: readonly StageEvent[]): RunSummary {
  const since = (event: StageEvent | undefined) => (event === undefined ? null : event.at - startedAt);
  const find = (stage: StageEvent['stage'], name: string) =>
    events.find((event) => event.stage === stage && event.name === name);

  const chunks = events.filter((event) => event.stage === 'source' && event.name === 'chunk');
  const hasSource = events.some((event) => event.stage === 'source');
  const hasDecode = events.some((event) => event.stage === 'decode');
  const runEnds = events.filter((event) => event.stage === 'infer' && event.name === 'run-end');
  const hasInfer = events.some((event) => event.stage === 'infer');
  const sinkEnd = find('sink', 'end');
  const last = events.reduce<StageEvent | undefined>(
    (latest, event) => (latest === undefined || event.at > latest.at ? event : latest),
    undefined,
  );
  const endedBy = sinkEnd?.data?.['endedBy'];

  return {
    firstByteMs: since(find('source', 'first-byte')),
    firstFrameMs: since(find('decode', 'first-frame')),
    firstResultMs: since(runEnds[0]),
    totalMs: Math.max(0, since(sinkEnd ?? last) ?? 0),
    bytesDownloaded: hasSource
      ? chunks.reduce((sum, event) => sum + (numberField(event, 'bytes') ?? 0), 0)
      : null,
    framesDecoded: hasDecode
      ? events.filter((event) => event.stage === 'decode' && event.name === 'frame').length
      : null,
    framesInferred: hasInfer
      ? runEnds.reduce((sum, event) => sum + (numberField(event, 'frames') ?? 0), 0)
      : null,
    endedBy: typeof endedBy === 'string' ? endedBy : 'unknown',
  };
}
