import { cpus, loadavg } from 'node:os';
import { basename } from 'node:path';
import { FirstframeError, codes } from '../core/errors.js';
import { logEvents } from '../core/log-events.js';
import type { Logger } from '../core/logger.js';
import { preparePipeline, type PreparedPipeline, type RunDocument } from '../pipelines/runner.js';
import { spreadOf, type Spread } from '../report/stats.js';
import type { BenchReport, ReportRun } from '../report/types.js';
import { killChildren } from './children.js';
import { measureRun, runSummary } from './measure.js';
import { findPeers, type PeerName, type PeerRun } from './peers.js';
import type { BenchGroup } from './strategies.js';
import { openTarget } from './target.js';

/** The metrics compared per group, in table order. */
export const BENCH_METRICS = [
  'downloadMs',
  'firstFrameMs',
  'firstResultMs',
  'totalMs',
  'framesInferred',
] as const;
export type BenchMetric = (typeof BENCH_METRICS)[number];

/** One pipeline run as the bench document lists it; times in ms since the run's start. */
export interface BenchRunRecord {
  readonly run: number;
  /** The last byte of the response the run waited on; `null` when the run ended before it (budget, error). */
  readonly downloadMs: number | null;
  readonly firstFrameMs: number | null;
  readonly firstResultMs: number | null;
  readonly totalMs: number;
  readonly bytesDownloaded: number;
  readonly framesDecoded: number;
  readonly framesInferred: number;
  readonly endedBy: string;
  readonly error?: { readonly code: string; readonly message: string };
}

export type BenchStats = Readonly<Record<BenchMetric, Spread | null>>;

export interface BenchGroupResult {
  readonly name: string;
  readonly kind: 'strategy' | 'pipeline';
  readonly description: string;
  /** `model`: the file the model stage loaded (`--model`, or the document's), null when not prepared. */
  readonly pipeline: { readonly name: string; readonly source: string; readonly model: string | null };
  /** Model loading and warm-up, once per group, outside every run's clock. */
  readonly setupMs: number | null;
  readonly runs: readonly BenchRunRecord[];
  readonly stats: BenchStats;
}

export interface PeerResult {
  readonly name: PeerName;
  readonly available: boolean;
  readonly version?: string;
  readonly measures?: string;
  readonly command?: string;
  /** Why it was skipped. */
  readonly note?: string;
  readonly runs: readonly PeerRun[];
  readonly stats: { readonly firstFrameMs: Spread | null };
}

const modelPathOf = (prepared: PreparedPipeline | undefined): string | null =>
  typeof prepared?.model.path === 'string' ? prepared.model.path : null;

/** What `firstframe bench --json` prints. */
export interface BenchDocument {
  readonly target: {
    readonly url: string;
    readonly file: string | null;
    readonly simulated: boolean;
    readonly rateBytesPerSec: number | null;
    readonly ttfbMs: number | null;
  };
  readonly runsPerGroup: number;
  readonly budgetS: number | null;
  /** 1, 5 and 15 minute load averages at the start and the end, and the cores: timings depend on them. */
  readonly machine: { readonly cpus: number; readonly loadStart: number[]; readonly loadEnd: number[] };
  readonly groups: readonly BenchGroupResult[];
  readonly peers: readonly PeerResult[];
  readonly notes: readonly string[];
  /** True when SIGINT (or the caller's signal) stopped it: the runs so far are kept. */
  readonly interrupted: boolean;
}

/**
 * Median, min and max of each metric over a group's runs. Runs without a value (no first result before the
 * budget, a download cut short) are left out of that metric; `n` in each spread says how many counted.
 */
export function benchStats(runs: readonly BenchRunRecord[]): BenchStats {
  return Object.fromEntries(
    BENCH_METRICS.map((metric) => [metric, spreadOf(runs.map((run) => run[metric]))]),
  ) as Record<BenchMetric, Spread | null>;
}

function record(run: number, document: RunDocument, downloadMs: number | null): BenchRunRecord {
  const t = document.timings;
  return {
    run,
    downloadMs,
    firstFrameMs: t.firstFrameMs,
    firstResultMs: t.firstResultMs,
    totalMs: t.totalMs,
    bytesDownloaded: t.bytesDownloaded,
    framesDecoded: t.framesDecoded,
    framesInferred: t.framesInferred,
    endedBy: t.endedBy,
    ...(document.error ? { error: document.error } : {}),
  };
}

/** Errors that say the video cannot be reached at all: the bench stops at the first instead of repeating it. */
const UNREACHABLE = new Set<string>([
  codes.source.invalidUrl,
  codes.source.unsupportedScheme,
  codes.source.dns,
  codes.source.connectRefused,
  codes.source.connectTimeout,
  codes.source.connection,
  codes.source.httpStatus,
  codes.source.headersTimeout,
  codes.source.fileNotFound,
  codes.guard.urlRefused,
]);

export interface RunBenchOptions {
  /** A URL (used as is), a local file (served by the simulator), or nothing (the bundled clip, served). */
  target: string | undefined;
  groups: readonly BenchGroup[];
  /** Runs per group and per peer. */
  runs: number;
  /** The simulator's link, for a file or the bundled clip. */
  link: { rateBytesPerSec: number; ttfbMs: number };
  peers: readonly PeerName[];
  /** Where peers are looked up (PATH) and what they run with. */
  env?: NodeJS.ProcessEnv;
  budgetS?: number;
  signal?: AbortSignal;
  /** After each step: how many of `total` are done, and what runs next. */
  onProgress?: (done: number, total: number, label: string) => void;
  /** Notes as they come (a missing peer, the clip chosen). */
  log?: (line: string) => void;
  /** Where the set-ups' and runs' events are logged (downgrades at warn); default none. */
  logger?: Logger;
}

export interface BenchOutcome {
  readonly document: BenchDocument;
  /** The runs with their events, for `writeReport`. */
  readonly report: BenchReport;
}

/**
 * Measures every group `runs` times on the same URL, round by round (group A, B, …, then each peer, then
 * again), so that a machine getting busier weighs on all of them alike. Each group's pipeline is prepared
 * (model loaded and warmed up) before its first run and released at the end; the simulator and every child
 * process are stopped before this returns or throws.
 *
 * @throws FirstframeError with the run's code when the first run fails on an unreachable video (DNS,
 *   refused connection, HTTP error status…), or when no run of any group produced a result.
 */
export async function runBench(options: RunBenchOptions): Promise<BenchOutcome> {
  const log = options.log ?? (() => {});
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    log(line);
  };
  const events = options.logger ? logEvents(options.logger, 'bench') : undefined;
  const loadStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const target = await openTarget(options.target, options.link, note);
  const prepared = new Map<string, PreparedPipeline>();
  const measured = new Map<string, Array<{ record: BenchRunRecord; run: ReportRun }>>();
  const peerRuns = new Map<PeerName, PeerRun[]>();
  let interrupted = false;
  try {
    const { peers, missing } = await findPeers(options.peers, options.env ?? process.env);
    for (const peer of missing) note(`${peer.name}: ${peer.note}`);
    const total = options.runs * (options.groups.length + peers.length);
    let done = 0;
    const stopped = () => options.signal?.aborted === true;

    for (let round = 1; round <= options.runs && !stopped(); round += 1) {
      for (const group of options.groups) {
        if (stopped()) break;
        options.onProgress?.(done, total, `${group.name} #${round}`);
        let pipeline = prepared.get(group.name);
        if (!pipeline) {
          pipeline = await preparePipeline(group.pipeline, {
            ...(events ? { onEvent: events } : {}),
            ...(options.logger ? { logger: options.logger } : {}),
          });
          prepared.set(group.name, pipeline);
        }
        const run = await measureRun(pipeline, target.url, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(events ? { onEvent: events } : {}),
        });
        done += 1;
        const document = run.document;
        if (document.timings.endedBy === 'cancelled') break;
        const error = document.error;
        if (
          round === 1 &&
          measured.size === 0 &&
          error &&
          document.frames.length === 0 &&
          UNREACHABLE.has(error.code)
        ) {
          throw new FirstframeError(error.code, `${error.message} (bench stopped at its first run)`, {
            url: target.url,
          });
        }
        const list = measured.get(group.name) ?? [];
        list.push({
          record: record(round, document, run.downloadMs),
          run: {
            label: `${group.name} #${round}`,
            group: group.name,
            startedAt: run.startedAt,
            events: run.events,
            summary: runSummary(document),
          },
        });
        measured.set(group.name, list);
      }
      for (const peer of peers) {
        if (stopped()) break;
        options.onProgress?.(done, total, `${peer.name} #${round}`);
        const result = await peer.measure(target.url, options.signal);
        done += 1;
        if (stopped()) break;
        peerRuns.set(peer.name, [...(peerRuns.get(peer.name) ?? []), result]);
      }
    }
    interrupted = stopped();
    options.onProgress?.(done, total, interrupted ? 'interrupted' : 'done');

    const records = [...measured.values()].flat().map((entry) => entry.record);
    if (
      !interrupted &&
      records.length > 0 &&
      records.every((entry) => entry.error && entry.framesInferred === 0)
    ) {
      const first = records[0]!.error!;
      throw new FirstframeError(first.code, `no run produced a result; the first said: ${first.message}`, {
        url: target.url,
      });
    }

    const groups: BenchGroupResult[] = options.groups.map((group) => {
      const runs = (measured.get(group.name) ?? []).map((entry) => entry.record);
      return {
        name: group.name,
        kind: group.kind,
        description: group.description,
        pipeline: {
          name: group.pipeline.name,
          source: group.pipeline.stages.source.operator,
          model: modelPathOf(prepared.get(group.name)),
        },
        setupMs: prepared.has(group.name) ? Math.round(prepared.get(group.name)!.setupMs * 10) / 10 : null,
        runs,
        stats: benchStats(runs),
      };
    });
    // In the order asked for, whether or not each was found.
    const peerResults: PeerResult[] = [
      ...peers.map((peer): PeerResult => {
        const runs = peerRuns.get(peer.name) ?? [];
        const failed = runs.filter((run) => !run.ok);
        if (failed.length > 0)
          note(`${peer.name}: ${failed.length} of ${runs.length} runs without a frame (${failed[0]!.error})`);
        return {
          name: peer.name,
          available: true,
          version: peer.version,
          measures: peer.measures,
          command: peer.command,
          runs,
          stats: { firstFrameMs: spreadOf(runs.map((run) => run.firstFrameMs)) },
        };
      }),
      ...missing.map((peer): PeerResult => ({
        name: peer.name,
        available: false,
        note: peer.note,
        runs: [],
        stats: { firstFrameMs: null },
      })),
    ].sort((a, b) => options.peers.indexOf(a.name) - options.peers.indexOf(b.name));
    const reportRuns: ReportRun[] = [
      ...[...measured.values()].flat().map((entry) => entry.run),
      ...peers.flatMap((peer) =>
        (peerRuns.get(peer.name) ?? []).map((run, index): ReportRun => ({
          label: `${peer.name} #${index + 1}`,
          group: peer.name,
          startedAt: 0,
          events: [],
          summary: {
            firstByteMs: null,
            firstFrameMs: run.firstFrameMs,
            firstResultMs: null,
            totalMs: run.firstFrameMs ?? 0,
            bytesDownloaded: null,
            framesDecoded: run.ok ? 1 : 0,
            framesInferred: null,
            endedBy: run.ok ? 'first frame' : 'error',
          },
        })),
      ),
    ];
    const document: BenchDocument = {
      target: {
        url: target.url,
        file: target.file ?? null,
        simulated: target.link !== undefined,
        rateBytesPerSec: target.link?.rateBytesPerSec ?? null,
        ttfbMs: target.link?.ttfbMs ?? null,
      },
      runsPerGroup: options.runs,
      budgetS: options.budgetS ?? null,
      machine: {
        cpus: cpus().length,
        loadStart,
        loadEnd: loadavg().map((value) => Math.round(value * 100) / 100),
      },
      groups,
      peers: peerResults,
      notes,
      interrupted,
    };
    const report: BenchReport = {
      title: `firstframe bench: ${basename(target.file ?? new URL(target.url).pathname)}`,
      createdAt: new Date().toISOString(),
      link: {
        url: target.url,
        ...(target.link ? { rateBytesPerSec: target.link.rateBytesPerSec, ttfbMs: target.link.ttfbMs } : {}),
      },
      runs: reportRuns,
      notes: [
        `load average ${loadStart.join(' ')} at the start, ${document.machine.loadEnd.join(' ')} at the end, ${document.machine.cpus} cores`,
        ...notes,
      ],
    };
    return { document, report };
  } finally {
    killChildren();
    for (const pipeline of prepared.values()) await pipeline.release().catch(() => undefined);
    await target.close();
  }
}
