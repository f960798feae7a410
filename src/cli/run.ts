import { allocatorTuning } from '../core/allocator.cjs';
import { inferenceCoreSwaps, inferencePlacement, type PlacementOutcome } from '../core/cpu-placement.js';
import { coverageLine, coverageOf } from '../pipelines/coverage.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createTimeline, type StageEvent } from '../core/events.js';
import { logEvents, teeSinks } from '../core/log-events.js';
import { fallbacksOf } from '../report/summary.js';
import { createRootLogger } from '../core/logger.js';
import type { ClipLayout } from '../fixtures/make.js';
import type { PipelineDocument } from '../pipelines/document.js';
import { isUrl } from '../pipelines/operators.js';
import { preparePipeline, type RunDocument } from '../pipelines/runner.js';
import { PROFILES } from '../pipelines/profiles.js';
import { strideLine } from '../operators/stride-budget.js';
import { closeSharedDispatcher } from '../sources/dispatcher.js';
import { stringify } from 'yaml';
import {
  PLUGIN_OPTION,
  logLevelOf,
  logLevelOption,
  parseCommand,
  pipelineFromArgs,
  type CommandSpec,
  type OptionSpecs,
} from './args.js';
import type { CliIo } from './main.js';

/** The seeds' measured link: 14.1 MB in 8.5 s, first byte after about 100 ms. */
export const SEED_RATE_BYTES_PER_SEC = 1_660_000;
export const SEED_TTFB_MS = 100;

const STRATEGIES = ['stream', 'partial', 'full', 'ranges'] as const;
const CLIP_LAYOUTS: readonly ClipLayout[] = [
  'faststart',
  'moov-end',
  'fragmented',
  'mpegts',
  'matroska',
  'webm',
];
const CLIP_FILES: Record<ClipLayout, string> = {
  faststart: 'faststart.mp4',
  'moov-end': 'moov-end.mp4',
  fragmented: 'fragmented.mp4',
  mpegts: 'clip.ts',
  matroska: 'clip.mkv',
  webm: 'clip.webm',
};

export const RUN_COMMAND = {
  name: 'run',
  usage: '[URL|FILE] [options]',
  positionals: true,
  description: `Runs a pipeline on a video: download, decode while the bytes arrive, stride, batch, infer, and answer by
the time budget. With no URL or FILE it runs on the embedded default: the bundled synthetic clip served by
the network simulator at the seeds' measured link (1.66 MB/s, 100 ms to first byte), with the bundled model.

Settings come from the profile (or --pipeline), then the miners' environment variables (in brackets), then
these options: a flag wins over its variable, which wins over the document.`,
  options: {
    pipeline: {
      type: 'string',
      value: 'FILE',
      description: 'a pipeline document (YAML or JSON); see README "Pipeline documents"',
    },
    profile: {
      type: 'string',
      value: 'NAME',
      description: `a shipped profile: ${Object.keys(PROFILES).join(', ')} (default: default)`,
    },
    plugin: PLUGIN_OPTION,
    model: {
      type: 'string',
      value: 'FILE',
      description: 'an Ultralytics YOLO ONNX export (or bundled:detector, bundled:pose)',
    },
    budget: { type: 'string', value: 'SECONDS', description: 'time budget', env: 'TIME_BUDGET_S' },
    stride: { type: 'string', value: 'N', description: 'keep every Nth frame', env: 'FRAME_STRIDE' },
    batch: { type: 'string', value: 'N', description: 'batch size', env: 'BATCH_SIZE' },
    'img-size': {
      type: 'string',
      value: 'N',
      description: 'model input size, a multiple of 32',
      env: 'IMG_SIZE',
    },
    device: { type: 'string', value: 'cpu|cuda', description: 'where the model runs', env: 'DEVICE' },
    strategy: {
      type: 'string',
      value: 'NAME',
      description: `how bytes are fetched: ${STRATEGIES.join(', ')} (source operator http-NAME)`,
    },
    'partial-mb': {
      type: 'string',
      value: 'N',
      description: 'MiB fetched by the partial strategy',
      env: 'PARTIAL_DOWNLOAD_MB',
    },
    clip: {
      type: 'string',
      value: 'LAYOUT',
      description: `embedded default only: which bundled clip (${CLIP_LAYOUTS.join(', ')})`,
    },
    rate: {
      type: 'string',
      value: 'BYTES/S',
      description: `embedded default only: simulator bandwidth (default ${SEED_RATE_BYTES_PER_SEC})`,
    },
    ttfb: {
      type: 'string',
      value: 'MS',
      description: `embedded default only: simulator time to first byte (default ${SEED_TTFB_MS})`,
    },
    'print-pipeline': {
      type: 'boolean',
      description: 'print the resolved pipeline document (YAML) and exit',
    },
    'log-level': logLevelOption('warn'),
    json: { type: 'boolean', description: 'print only the result document on stdout' },
  },
  footer: `exit codes: 0 success (a budget cut included; also a partial result after a fault, with endedBy "error"),
            1 a failed run: no result, with the reason on stderr and in the document's "error" (a fault, or
              nothing by the deadline: FF_ERR_NO_HEADERS_BY_DEADLINE, FF_ERR_NO_FRAME_BY_DEADLINE,
              FF_ERR_NO_RESULT_BY_DEADLINE; or a video with no frame: FF_ERR_NO_FRAMES),
            2 bad usage or configuration, 130 interrupted.`,
} as const satisfies CommandSpec<OptionSpecs>;

function positiveNumber(
  name: string,
  raw: string | undefined,
  problems: string[],
  min = 0,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= min) {
    problems.push(`--${name}: expected a number > ${min}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return value;
}

function positiveInteger(name: string, raw: string | undefined, problems: string[], multipleOf = 1) {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value <= 0 || value % multipleOf !== 0) {
    problems.push(
      `--${name}: expected a positive ${multipleOf > 1 ? `multiple of ${multipleOf}` : 'integer'}, got ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  return value;
}

/** Milliseconds as a person reads them. */
const ms = (value: number | null): string => (value === null ? '-' : `${Math.round(value)} ms`);

/** "10 player, 2 goalkeeper, 1 ball" */
function objectCounts(frame: RunDocument['frames'][number]): string {
  const counts = new Map<number, { name: string; count: number }>();
  for (const object of frame.objects) {
    const entry = counts.get(object.classId) ?? { name: object.className, count: 0 };
    entry.count += 1;
    counts.set(object.classId, entry);
  }
  return (
    [...counts]
      .sort(([a], [b]) => a - b)
      .map(([, { name, count }]) => `${count} ${name}`)
      .join(', ') || 'nothing'
  );
}

/** How glibc's allocator was set (src/core/allocator.cts): first frames are slower without it. */
function allocatorLine(): string {
  const allocator = allocatorTuning();
  return allocator.tuned
    ? `allocator tuned (${allocator.by})`
    : `allocator at glibc's defaults: ${allocator.reason}`;
}

/** Where inference ran (src/core/cpu-placement.ts): CPUs of its own, or shared with everything else. */
function coresLine(cores: PlacementOutcome): string {
  if (!cores.placed) return `shared by every thread (${cores.reason})`;
  // Where they are now: the choice at load and the watch may have swapped them.
  const { inference, rest } = inferencePlacement() ?? cores;
  const swaps = inferenceCoreSwaps();
  return (
    `inference on CPU ${inference.join(', ')}, the rest on CPU ${rest.join(', ')}` +
    (swaps > 0 ? `; swapped ${swaps} time${swaps === 1 ? '' : 's'} for the quicker CPUs` : '')
  );
}

function humanSummary(
  document: RunDocument,
  pipeline: string,
  cores: PlacementOutcome,
  downloadEndMs: number | null,
  fallbacks: readonly string[],
): string {
  const t = document.timings;
  const s = document.source;
  const lines = [
    `source:       ${s.url} (${s.layout ?? 'unknown layout'}, ${s.bytesTotal ?? '?'} bytes, range ${s.rangeHonoured === null ? 'not asked' : s.rangeHonoured ? 'honoured' : 'ignored'})`,
    `pipeline:     ${pipeline}`,
    `setup:        ${ms(t.setupMs)} (model load and warm-up, before the run); ${allocatorLine()}`,
    `cores:        ${coresLine(cores)}`,
    `download:     ${t.bytesDownloaded} bytes; first byte ${ms(t.firstByteMs)}, done ${ms(downloadEndMs)}`,
    `first frame:  ${ms(t.firstFrameMs)}`,
    `first result: ${ms(t.firstResultMs)}`,
    `processing:   ${t.firstFrameMs === null ? '-' : ms(t.totalMs - t.firstFrameMs)} (first frame to answer)`,
    `total:        ${ms(t.totalMs)}; ended by ${t.endedBy}`,
  ];
  const shown = document.frames.slice(0, 5);
  if (shown.length > 0) {
    lines.push('detections:');
    for (const frame of shown) {
      lines.push(`  frame ${frame.frameNumber} (${frame.pts.toFixed(2)} s): ${objectCounts(frame)}`);
    }
    if (document.frames.length > shown.length)
      lines.push(`  … ${document.frames.length - shown.length} more frames`);
  }
  lines.push(`coverage:     ${coverageLine(coverageOf(document))}`);
  // Downgrades the user did not ask for (also logged at warn): the summary must not claim what did not run.
  lines.push(`fallbacks:    ${fallbacks.length > 0 ? fallbacks.join('; ') : 'none'}`);
  lines.push(
    `Completed processing ${t.framesInferred} frames in ${(t.totalMs / 1000).toFixed(1)}s (${t.framesDecoded} decoded)`,
  );
  return `${lines.join('\n')}\n`;
}

export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(RUN_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const problems = [...parsed.problems];
  if (positionals.length > 1) problems.push(`expected at most one URL or FILE, got ${positionals.length}`);
  const target = positionals[0];
  if (target !== undefined && !isUrl(target) && !existsSync(target)) problems.push(`no such file: ${target}`);

  const overrides: PipelineDocument = {};
  const budget = positiveNumber('budget', values.budget, problems);
  if (budget !== undefined) overrides.sink = { budgetS: budget };
  const stride = positiveInteger('stride', values.stride, problems);
  if (stride !== undefined) overrides.stride = { every: stride };
  const batchSize = positiveInteger('batch', values.batch, problems);
  if (batchSize !== undefined) overrides.batch = { size: batchSize };
  const imgSize = positiveInteger('img-size', values['img-size'], problems, 32);
  if (imgSize !== undefined) overrides.imgSize = imgSize;
  const infer: Record<string, unknown> = {};
  if (values.model !== undefined) infer.model = values.model;
  if (values.device !== undefined) {
    if (!/^(cpu|cuda(:\d+)?)$/.test(values.device)) {
      problems.push(`--device: expected cpu, cuda or cuda:N, got ${JSON.stringify(values.device)}`);
    } else infer.device = values.device;
  }
  if (Object.keys(infer).length > 0) overrides.infer = infer;
  const source: Record<string, unknown> = {};
  if (values.strategy !== undefined) {
    if (!(STRATEGIES as readonly string[]).includes(values.strategy)) {
      problems.push(
        `--strategy: expected stream, partial, full or ranges, got ${JSON.stringify(values.strategy)}`,
      );
    } else source.operator = `http-${values.strategy}`;
  }
  const partialMb = positiveNumber('partial-mb', values['partial-mb'], problems);
  if (partialMb !== undefined) source.partialMb = partialMb;
  if (Object.keys(source).length > 0) overrides.source = source;

  const clip = (values.clip ?? 'faststart') as ClipLayout;
  if (!CLIP_LAYOUTS.includes(clip)) {
    problems.push(`--clip: expected ${CLIP_LAYOUTS.join(', ')}, got ${JSON.stringify(values.clip)}`);
  }
  const rate = positiveNumber('rate', values.rate, problems) ?? SEED_RATE_BYTES_PER_SEC;
  const ttfb = positiveNumber('ttfb', values.ttfb, problems, -1) ?? SEED_TTFB_MS;
  if (target !== undefined) {
    for (const name of ['clip', 'rate', 'ttfb'] as const) {
      if (values[name] !== undefined)
        problems.push(`--${name}: only for the embedded default (no URL or FILE)`);
    }
  }
  const level = logLevelOf(parsed, problems, 'warn');
  // Every problem of the options, the document and the environment at once (exit 2).
  const pipeline = await pipelineFromArgs(RUN_COMMAND, parsed, io.env, overrides, problems);
  if (values['print-pipeline']) {
    io.stdout.write(stringify(pipeline.document));
    return 0;
  }

  const logger = createRootLogger({ level });
  const runId = randomUUID().slice(0, 8);
  const log = logEvents(logger, runId);
  const setupEvents: StageEvent[] = [];
  const prepared = await preparePipeline(pipeline, {
    onEvent: teeSinks(log, (event) => setupEvents.push(event)),
    logger,
  });
  const runBatch = Number(pipeline.stages.batch.options.size ?? 16);
  const modelBatch = prepared.model.batch as number | 'dynamic' | undefined;
  if (typeof modelBatch === 'number' && runBatch > modelBatch) {
    // Not an event of the model stage: said here, at warn like the other downgrades.
    logger.warn(
      { event: 'batch-fixed', batch: runBatch, modelBatch },
      `the model's batch size is fixed at ${modelBatch}: each batch of ${runBatch} runs as ${Math.ceil(runBatch / modelBatch)} runs`,
    );
  }
  let stopSimulator: (() => Promise<void>) | undefined;
  const aborter = new AbortController();
  const onSigint = () => aborter.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', onSigint);
  let document: RunDocument;
  // Times are counted from the run's own start (its `pipeline: start` event), as the document's are.
  let timeline = createTimeline();
  try {
    let url = target;
    if (url === undefined) {
      const { makeFixtures, defaultFixtureDir } = await import('../fixtures/make.js');
      const { startNetSim } = await import('../sim/netsim.js');
      const fixtures = await makeFixtures(defaultFixtureDir(), { profile: 'test' });
      const sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: rate, ttfbMs: ttfb });
      stopSimulator = () => sim.close();
      url = sim.urlFor(`/${CLIP_FILES[clip]}`);
      if (!values.json) {
        io.stderr.write(
          `serving the bundled ${clip} clip at ${rate} B/s, ${ttfb} ms to first byte: ${url}\n`,
        );
      }
    }
    const progress = !values.json && Boolean((io.stderr as { isTTY?: boolean }).isTTY);
    let bytes = 0;
    let decoded = 0;
    let inferred = 0;
    let lastDrawn = 0;
    const draw = (event: StageEvent) => {
      if (event.stage === 'pipeline' && event.name === 'start') timeline = createTimeline(event.at);
      timeline.sink(event);
      log(event);
      if (!progress) return;
      if (event.stage === 'source' && event.name === 'chunk') bytes += Number(event.data?.bytes ?? 0);
      if (event.stage === 'decode' && event.name === 'frame') decoded += 1;
      if (event.stage === 'infer' && event.name === 'run-end') inferred += Number(event.data?.frames ?? 0);
      if (event.at - lastDrawn < 100) return;
      lastDrawn = event.at;
      const seconds = (event.at - timeline.startedAt) / 1000;
      io.stderr.write(
        `\r${(bytes / 1e6).toFixed(2)} MB, ${decoded} frames decoded, ${inferred} inferred, ${seconds.toFixed(1)} s `,
      );
    };
    document = await prepared.run(url, { signal: aborter.signal, onEvent: draw, logger });
    if (progress) io.stderr.write('\n');
  } finally {
    process.removeListener('SIGINT', onSigint);
    io.signal?.removeEventListener('abort', onSigint);
    await stopSimulator?.();
    await prepared.release();
    await closeSharedDispatcher();
  }

  const partial = document.frames.length > 0;
  if (values.json) {
    io.stdout.write(`${JSON.stringify(document)}\n`);
  } else {
    const stages = pipeline.stages;
    const description = [
      `${pipeline.name}:`,
      stages.source.operator,
      stages.decode.operator,
      // The stride the run used (fit-budget plans it, and may change it as batches come in).
      document.timings.stride
        ? strideLine(document.timings.stride)
        : `stride ${String(stages.stride.options.every ?? 1)}`,
      `batch ${String(stages.batch.options.size ?? 16)}`,
      `${String(prepared.model.path ?? 'model')
        .split('/')
        .pop()} on ${String(prepared.model.device)}`,
      `budget ${stages.sink.options.budgetS === undefined ? 'none' : `${String(stages.sink.options.budgetS)} s`}`,
    ].join(' ');
    const fallbacks = fallbacksOf([...setupEvents, ...timeline.events], {
      batchSize: runBatch,
      ...(modelBatch !== undefined ? { modelBatch } : {}),
    });
    io.stdout.write(
      humanSummary(document, description, prepared.cores, timeline.msTo('source', 'end') ?? null, fallbacks),
    );
  }
  if (document.error) {
    const line = `firstframe: ${document.error.code}: ${document.error.message}`;
    io.stderr.write(partial ? `${line} (partial result: ${document.frames.length} frames)\n` : `${line}\n`);
    return partial ? 0 : 1;
  }
  if (document.timings.endedBy === 'cancelled') return 130;
  return 0;
}
