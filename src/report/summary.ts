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

/** What a run's fallbacks are judged against: the batch size asked for and the model's own. */
export interface FallbackFacts {
  /** The batch stage's size. */
  readonly batchSize?: number;
  /** The model's batch dimension: a fixed size, or 'dynamic'. */
  readonly modelBatch?: number | 'dynamic';
}

const reasonOf = (event: StageEvent): string => {
  const reason = event.data?.['reason'];
  return typeof reason === 'string' && reason !== '' ? ` (${reason})` : '';
};

/**
 * The downgrades a run took that the user did not ask for, one phrase each, for the summary's
 * `fallbacks:` line: the model on the CPU although CUDA was asked for (`device-fallback`), software
 * decoding although NVDEC was (`nvdec-unavailable`), the moov at the end read from the main response
 * because Range was refused (`moov-fetch-fallback`), and batches of a fixed-batch model run in pieces of its
 * size. Each kind is named once however often it happened. `events` are the set-up's and the run's.
 *
 * @example
 * fallbacksOf(events, { batchSize: 4, modelBatch: 1 });
 * // ['batch 4 run as 4 runs of 1 (the model's batch size is fixed at 1)']
 */
export function fallbacksOf(events: readonly StageEvent[], facts: FallbackFacts = {}): string[] {
  const found: string[] = [];
  const first = (name: string) => events.find((event) => event.name === name);
  const device = first('device-fallback');
  if (device) {
    const wanted = device.data?.['wanted'];
    found.push(
      `${typeof wanted === 'string' ? wanted : 'cuda'} unavailable: the model ran on the CPU${reasonOf(device)}`,
    );
  }
  const nvdec = first('nvdec-unavailable');
  if (nvdec) found.push(`NVDEC unavailable: decoded in software${reasonOf(nvdec)}`);
  const moov = first('moov-fetch-fallback');
  if (moov) found.push(`Range refused: the moov at the end read from the main response${reasonOf(moov)}`);
  const { batchSize, modelBatch } = facts;
  if (typeof modelBatch === 'number' && batchSize !== undefined && batchSize > modelBatch) {
    const runs = Math.ceil(batchSize / modelBatch);
    found.push(
      `batch ${batchSize} run as ${runs} runs of ${modelBatch} (the model's batch size is fixed at ${modelBatch})`,
    );
  }
  return found;
}
