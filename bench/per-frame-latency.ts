// Per-frame inference latency of a pipeline's models, at the batch sizes the pipeline itself makes
// (turbovision's rule for public models: p95 <= 100 ms a frame on 2 vCPUs). The measuring part of
// bench/per-frame.ts, kept importable for its CI-sized test.
//
// The clip runs through the pipeline as /predict runs JPEG frames (every frame kept, no tracking, see
// framesVariant) with no time budget, so every batch is a real batch of the pipeline's batch stage (ramped
// sizes included) and every frame is inferred. Each model run reports its start and end (infer's run-start
// and run-end events); runs that overlap (the soccer stage runs the detector and the pitch model on the same
// batch at once) are one batch. Partial batches are not flushed for waiting (maxWaitMs), so batch sizes are
// the pipeline's configured ones whatever the decoder's pace. A batch's latency is from its first run's start to its last run's end, and
// a frame's latency is its batch's latency shared by the batch's frames: the cost per frame a validator's
// timing of a batched model sees. Decoding runs beside it, as in a real run; it is bounded by the prefetch
// gate and is a small share next to inference.

import type { StageEvent } from '../src/core/events.js';
import type { ResolvedPipeline } from '../src/pipelines/document.js';
import { preparePipeline } from '../src/pipelines/runner.js';
import { framesVariant } from '../src/server/server.js';

export const LATENCY_LIMIT_MS = 100;

export interface BatchTiming {
  frames: number;
  ms: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface PerFrameReport {
  pipeline: string;
  framesInferred: number;
  batches: BatchTiming[];
  /** Batch sizes the pipeline made, smallest first, with how many of each. */
  batchSizes: Record<number, number>;
  /** Milliseconds per frame (each frame's batch latency divided by its batch's frames), over every frame. */
  perFrameMs: Percentiles;
  /** Milliseconds per batch, over every batch. */
  batchMs: Percentiles;
  limitMs: number;
  passes: boolean;
  /**
   * The process's CPU time over the run (every thread: decoding, input building, inference) per frame: a
   * cost that depends less than the latencies on what else loads the machine (contention still inflates it).
   */
  cpuMsPerFrame?: number;
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: rank(sorted, 50), p95: rank(sorted, 95), p99: rank(sorted, 99), max: rank(sorted, 100) };
}

/** Groups infer run events into batches: runs that overlap in time are one batch. */
export function batchesOf(events: readonly StageEvent[]): BatchTiming[] {
  const batches: BatchTiming[] = [];
  let open = 0;
  let startedAt = 0;
  /** The group's batches by their first frame: several models' runs on the same frames count them once. */
  let frames = new Map<number, number>();
  for (const event of events) {
    if (event.stage !== 'infer') continue;
    if (event.name === 'run-start') {
      if (open === 0) {
        startedAt = event.at;
        frames = new Map();
      }
      open += 1;
      const first = Number(event.data?.['firstFrame'] ?? -1);
      frames.set(first, Math.max(frames.get(first) ?? 0, Number(event.data?.['frames'] ?? 0)));
    } else if (event.name === 'run-end' || event.name === 'run-error') {
      open -= 1;
      if (open === 0) {
        const count = [...frames.values()].reduce((sum, n) => sum + n, 0);
        if (count > 0) batches.push({ frames: count, ms: event.at - startedAt });
      }
    }
  }
  return batches;
}

export function report(
  pipeline: string,
  batches: readonly BatchTiming[],
  limitMs = LATENCY_LIMIT_MS,
): PerFrameReport {
  const perFrame = batches.flatMap((batch) => new Array<number>(batch.frames).fill(batch.ms / batch.frames));
  const batchSizes: Record<number, number> = {};
  for (const batch of batches) batchSizes[batch.frames] = (batchSizes[batch.frames] ?? 0) + 1;
  const perFrameMs = percentiles(perFrame);
  return {
    pipeline,
    framesInferred: perFrame.length,
    batches: [...batches],
    batchSizes,
    perFrameMs,
    batchMs: percentiles(batches.map((batch) => batch.ms)),
    limitMs,
    passes: perFrame.length > 0 && perFrameMs.p95 <= limitMs,
  };
}

/** Runs `file` (a clip or an MJPEG stream) through the pipeline's models and reports the latencies. */
export async function measurePerFrame(pipeline: ResolvedPipeline, file: string): Promise<PerFrameReport> {
  const variant = framesVariant(pipeline);
  const unbudgeted: ResolvedPipeline = {
    ...variant,
    stages: {
      ...variant.stages,
      sink: { ...variant.stages.sink, options: { ...variant.stages.sink.options, budgetS: 24 * 3600 } },
      // Batches as large as the pipeline's batch stage makes them when frames come faster than inference
      // (ramp-up included), whatever the decoder's speed on a loaded machine: no flush of a partial batch
      // for waiting.
      batch: { ...variant.stages.batch, options: { ...variant.stages.batch.options, maxWaitMs: 3_600_000 } },
    },
  };
  const prepared = await preparePipeline(unbudgeted);
  const events: StageEvent[] = [];
  let cpuMs: number;
  try {
    const cpuBefore = process.cpuUsage();
    const document = await prepared.run(file, { onEvent: (event) => events.push(event) });
    const cpu = process.cpuUsage(cpuBefore);
    cpuMs = (cpu.user + cpu.system) / 1000;
    if (document.error && document.frames.length === 0) {
      throw new Error(`${file}: ${document.error.code}: ${document.error.message}`);
    }
  } finally {
    await prepared.release();
  }
  const result = report(pipeline.name, batchesOf(events));
  return { ...result, cpuMsPerFrame: result.framesInferred > 0 ? cpuMs / result.framesInferred : Number.NaN };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The report as the lines bench/per-frame.ts prints. */
export function reportLines(result: PerFrameReport): string[] {
  const sizes = Object.entries(result.batchSizes)
    .map(([size, count]) => `${size}×${count}`)
    .join(' ');
  const { perFrameMs: f, batchMs: b } = result;
  return [
    `pipeline ${result.pipeline}: ${result.framesInferred} frames in ${result.batches.length} batches (size×count: ${sizes})`,
    `per frame  p50 ${round(f.p50)} ms  p95 ${round(f.p95)} ms  p99 ${round(f.p99)} ms  max ${round(f.max)} ms`,
    `per batch  p50 ${round(b.p50)} ms  p95 ${round(b.p95)} ms  p99 ${round(b.p99)} ms  max ${round(b.max)} ms`,
    ...(result.cpuMsPerFrame !== undefined
      ? [
          `CPU time per frame ${round(result.cpuMsPerFrame)} ms (all threads, decoding included; less sensitive to other load than the latencies, not immune)`,
        ]
      : []),
    `${result.passes ? 'PASS' : 'FAIL'}: per-frame p95 ${round(f.p95)} ms ${result.passes ? '<=' : '>'} ${result.limitMs} ms`,
  ];
}
