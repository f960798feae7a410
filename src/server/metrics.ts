import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventSink } from '../core/events.js';
import type { RunDocument } from '../pipelines/runner.js';
import type { Admission } from './admission.js';

/**
 * How a challenge ended, for `firstframe_challenges_total{outcome}`:
 * - `complete`: the video ended before the budget; `budget`: the budget ended it (both 200);
 * - `partial`: a fault after some frames (200 with `error`); `failed`: a fault before any frame (4xx/5xx);
 * - `rejected`: refused before a run started (bad request, auth, URL refused, busy, shutting down);
 * - `cancelled`: the client went away, or the shutdown grace period ran out, during the run.
 */
export type ChallengeOutcome = 'complete' | 'budget' | 'partial' | 'failed' | 'rejected' | 'cancelled';

/** The milestones of a run, from its start, as `firstframe_stage_seconds{stage}`. */
const STAGES = ['headers', 'first_byte', 'first_frame', 'first_result', 'total'] as const;

/** Seconds. A challenge's budget is 10 s by default; the first result is expected well under one. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30];
const INFERENCE_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
/** The server's own share of a challenge: parsing, validation, guard, serialisation. Target < 5 ms. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1];
/** Frames per run: a few strided frames up to a 30-s clip at 60 fps. */
const FRAME_BUCKETS = [1, 5, 10, 25, 50, 100, 150, 250, 400, 600, 800, 1000, 1500, 1800];

export interface ServerMetrics {
  readonly registry: Registry;
  /** The Prometheus text exposition of everything. */
  text(): Promise<string>;
  readonly contentType: string;
  /** A per-run event sink: inference run times as they happen. */
  runSink(): EventSink;
  /** A finished run's milestones and totals. */
  observeRun(document: RunDocument): void;
  /** One answered challenge: its outcome, the error code (if any), and its times in milliseconds. */
  observeChallenge(answer: {
    outcome: ChallengeOutcome;
    errorCode?: string;
    durationMs?: number;
    overheadMs?: number;
    queueMs?: number;
  }): void;
  /** One HTTP response, by route (path, or `other`) and status. */
  observeResponse(route: string, status: number): void;
}

/**
 * The challenge server's Prometheus metrics, in a registry of their own (two servers in one process, as in
 * the tests, do not share counters). The in-flight and queued gauges are read from the admission at
 * scrape time, so they are never stale. `processMetrics` adds prom-client's default process metrics
 * (CPU, memory, event-loop lag, GC) under the same `firstframe_` prefix.
 */
export function createServerMetrics(
  admission: Admission,
  options: { processMetrics?: boolean } = {},
): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const stageSeconds = new Histogram({
    name: 'firstframe_stage_seconds',
    help: 'Time from the start of a run to each milestone: response headers, first byte, first decoded frame, first result, answer',
    labelNames: ['stage'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const inferenceSeconds = new Histogram({
    name: 'firstframe_inference_run_seconds',
    help: 'Duration of one model run (one batch)',
    buckets: INFERENCE_BUCKETS,
    registers,
  });
  const challengeSeconds = new Histogram({
    name: 'firstframe_challenge_seconds',
    help: 'processing_time: from the request arriving to the answer, queueing included',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const queueSeconds = new Histogram({
    name: 'firstframe_queue_wait_seconds',
    help: 'Time a challenge waited for a run slot',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const overheadSeconds = new Histogram({
    name: 'firstframe_server_overhead_seconds',
    help: "The server's time per challenge outside the pipeline run and the queue: body, parsing, validation, URL check, serialisation",
    buckets: OVERHEAD_BUCKETS,
    registers,
  });
  const bytes = new Counter({
    name: 'firstframe_video_bytes_total',
    help: 'Video bytes downloaded',
    registers,
  });
  const framesDecoded = new Counter({
    name: 'firstframe_frames_decoded_total',
    help: 'Frames decoded',
    registers,
  });
  const framesInferred = new Counter({
    name: 'firstframe_frames_inferred_total',
    help: 'Frames whose results were answered',
    registers,
  });
  const frameCounts = new Histogram({
    name: 'firstframe_run_frames',
    help: 'Frames per run: in the clip (when its index says), answered (with the fill stage, every one to the last), inferred',
    labelNames: ['kind'] as const,
    buckets: FRAME_BUCKETS,
    registers,
  });
  const objectsBySource = new Counter({
    name: 'firstframe_objects_answered_total',
    help: 'Objects answered, by how they were made: inferred, interpolated, extrapolated',
    labelNames: ['source'] as const,
    registers,
  });
  const errors = new Counter({
    name: 'firstframe_errors_total',
    help: 'Errors answered, by code',
    labelNames: ['code'] as const,
    registers,
  });
  const challenges = new Counter({
    name: 'firstframe_challenges_total',
    help: 'Challenges by outcome: complete, budget, partial, failed, rejected, cancelled',
    labelNames: ['outcome'] as const,
    registers,
  });
  const responses = new Counter({
    name: 'firstframe_http_responses_total',
    help: 'HTTP responses by route and status',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  new Gauge({
    name: 'firstframe_challenges_in_flight',
    help: 'Challenges running now',
    registers,
    collect() {
      this.set(admission.active);
    },
  });
  new Gauge({
    name: 'firstframe_challenges_queued',
    help: 'Challenges waiting for a run slot',
    registers,
    collect() {
      this.set(admission.queued);
    },
  });
  new Gauge({
    name: 'firstframe_concurrency_limit',
    help: 'Run slots',
    registers,
    collect() {
      this.set(admission.concurrency);
    },
  });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'firstframe_' });

  const seconds = (ms: number | null | undefined) =>
    ms === null || ms === undefined ? undefined : ms / 1000;

  return {
    registry,
    text: () => registry.metrics(),
    contentType: registry.contentType,
    runSink: () => (event) => {
      if (event.stage === 'infer' && event.name === 'run-end' && typeof event.data?.ms === 'number') {
        inferenceSeconds.observe(event.data.ms / 1000);
      }
    },
    observeRun(document) {
      const t = document.timings;
      const milestones: Record<(typeof STAGES)[number], number | null> = {
        headers: t.headersMs,
        first_byte: t.firstByteMs,
        first_frame: t.firstFrameMs,
        first_result: t.firstResultMs,
        total: t.totalMs,
      };
      for (const stage of STAGES) {
        const value = seconds(milestones[stage]);
        if (value !== undefined) stageSeconds.observe({ stage }, value);
      }
      bytes.inc(t.bytesDownloaded);
      framesDecoded.inc(t.framesDecoded);
      framesInferred.inc(t.framesInferred);
      frameCounts.observe({ kind: 'inferred' }, t.framesInferred);
      frameCounts.observe({ kind: 'answered' }, t.framesAnswered ?? document.frames.length);
      if (t.framesInClip !== undefined && t.framesInClip !== null)
        frameCounts.observe({ kind: 'in_clip' }, t.framesInClip);
      for (const [source, count] of Object.entries(t.objectsBySource ?? {})) {
        if (count > 0) objectsBySource.inc({ source }, count);
      }
    },
    observeChallenge(answer) {
      challenges.inc({ outcome: answer.outcome });
      if (answer.errorCode !== undefined) errors.inc({ code: answer.errorCode });
      const duration = seconds(answer.durationMs);
      if (duration !== undefined) challengeSeconds.observe(duration);
      const overhead = seconds(answer.overheadMs);
      if (overhead !== undefined) overheadSeconds.observe(overhead);
      const queue = seconds(answer.queueMs);
      if (queue !== undefined) queueSeconds.observe(queue);
    },
    observeResponse(route, status) {
      responses.inc({ route, status: String(status) });
    },
  };
}
