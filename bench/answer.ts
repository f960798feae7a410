// run: npx tsx bench/answer.ts [--runs N] [--strides 1,2,3,5,8,auto] [--seconds 25] [--budget S]
//                              [--rate B/S] [--ttfb MS] [--json]
//
// What an SN44 validator would get from the challenge server with the soccer profile: a 720p clip of
// --seconds (default 25: the bench fixture, 1280×720 at 30 fps and about 4 Mbit/s, cut with ffmpeg -c copy;
// kept in .fixtures/answer/) served by the network simulator at the seeds' link (1 660 000 B/s, 100 ms to
// first byte), one challenge at a time to the real server (src/server) in this process. For each stride
// (fixed ones pin the soccer profile's fit-budget stride, as FRAME_STRIDE does; `auto` is the profile's own
// budget-aware choice) it prints:
//   answer     ms from sending the challenge to the whole answer received (the validator's clock; a speed
//              score of 0 at 15 s);
//   frames     answered (with objects) / in the clip, inferred, filled;
//   stride     the stride in force at the end, and the planned margin (ms left at the deadline);
//   IoU        mean IoU of each ground-truth box with the answer's best box of its class (0 where none) on
//              the frames the fill stage made that carry objects, and on the inferred frames;
//   balls      the most balls in one frame (the validator takes each past one as −1);
//   id splits  ground-truth objects answered under more than one id, summed;
//   load       the load average when the challenge ended (the machine is shared: figures under load are
//              pessimistic).
// With --runs N each figure is the median of N challenges. Exit status 0 when the budget-aware answer came
// in under 15 s with every frame of the clip answered with objects, 1 when not.

import { positiveOptions } from './options.js';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { FixtureSet, GroundTruth } from '../src/fixtures/make.js';
import type { PipelineDocument } from '../src/pipelines/document.js';
import type { PreparedPipeline, ResultFrame, RunDocument } from '../src/pipelines/runner.js';

export const SEEDS_RATE_BYTES_PER_SEC = 1_660_000;
export const SEEDS_TTFB_MS = 100;
/** The validator's speed score is 0 from here on. */
export const ANSWER_TARGET_MS = 15_000;

/** One answer against the ground truth. */
export interface AnswerScore {
  framesInClip: number;
  /** Frames in the answer, and those with at least one object (only those count for the validator). */
  framesAnswered: number;
  framesWithObjects: number;
  framesInferred: number;
  framesFilled: number;
  /**
   * Mean IoU of the truth boxes on filled frames that carry objects (each with the best answer box of its
   * class, 0 if none): the quality of the boxes answered; frames left empty count in `framesWithObjects`.
   */
  iouFilled: number | null;
  iouInferred: number | null;
  /** The most balls (class 0) in one answered frame. */
  maxBalls: number;
  /** Truth objects answered under more than one id, each counted once per extra id. */
  idSplits: number;
  /** Answered frames with 32 keypoints. */
  framesWithKeypoints: number;
}

/** Intersection over union of two [x1, y1, x2, y2] boxes. */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter);
}

/** Scores a run's answered frames against the clip's ground truth (frames past `framesInClip` ignored). */
export function scoreAnswer(
  frames: readonly ResultFrame[],
  truth: Pick<GroundTruth, 'objects'>,
  framesInClip: number,
): AnswerScore {
  const truthByFrame = new Map(truth.objects.map((entry) => [entry.frameNumber, entry.items]));
  const sums = { filled: { iou: 0, boxes: 0 }, inferred: { iou: 0, boxes: 0 } };
  const idsOfTruth = new Map<number, Set<number>>();
  let maxBalls = 0;
  let framesWithObjects = 0;
  let framesInferred = 0;
  let framesWithKeypoints = 0;
  const answered = frames.filter((frame) => frame.frameNumber >= 0 && frame.frameNumber < framesInClip);
  for (const frame of answered) {
    if (frame.objects.length > 0) framesWithObjects += 1;
    if (frame.keypoints?.length === 32) framesWithKeypoints += 1;
    const kind = frame.source === 'filled' ? 'filled' : 'inferred';
    if (kind === 'inferred') framesInferred += 1;
    maxBalls = Math.max(maxBalls, frame.objects.filter((object) => object.classId === 0).length);
    // Box quality on the frames that carry boxes; frames left empty show in framesWithObjects.
    if (frame.objects.length === 0) continue;
    for (const item of truthByFrame.get(frame.frameNumber) ?? []) {
      let best = 0;
      let bestId: number | undefined;
      for (const object of frame.objects) {
        if (object.classId !== item.classId) continue;
        const overlap = boxIou(object.bbox, item.bbox);
        if (overlap > best) {
          best = overlap;
          bestId = object.trackId;
        }
      }
      sums[kind].iou += best;
      sums[kind].boxes += 1;
      if (bestId !== undefined) {
        const ids = idsOfTruth.get(item.id) ?? new Set<number>();
        ids.add(bestId);
        idsOfTruth.set(item.id, ids);
      }
    }
  }
  const mean = ({ iou, boxes }: { iou: number; boxes: number }) => (boxes === 0 ? null : iou / boxes);
  let idSplits = 0;
  for (const ids of idsOfTruth.values()) idSplits += ids.size - 1;
  return {
    framesInClip,
    framesAnswered: answered.length,
    framesWithObjects,
    framesInferred,
    framesFilled: answered.length - framesInferred,
    iouFilled: mean(sums.filled),
    iouInferred: mean(sums.inferred),
    maxBalls,
    idSplits,
    framesWithKeypoints,
  };
}

/** A stride to measure: a fixed one (pinned as FRAME_STRIDE pins it), or the profile's own (`auto`). */
export type StrideChoice = number | 'auto';

/** One challenge's figures. */
export interface AnswerFigures {
  stride: StrideChoice;
  status: number;
  /** From sending the challenge to the whole answer received. */
  answerMs: number;
  score: AnswerScore;
  /** The stride in force at the end, the planned margin, and the models' per-frame time. */
  strideUsed: number | null;
  marginMs: number | null;
  perFrameMs: number | null;
  endedBy: string;
  error?: string;
  load: number;
}

export interface MeasureOptions {
  /** The clip (a file the simulator serves) and its ground truth. */
  clip: string;
  truth: GroundTruth;
  strides: readonly StrideChoice[];
  runs: number;
  /** The soccer profile's budget unless set. */
  budgetS?: number;
  rateBytesPerSec: number;
  ttfbMs: number;
  /** Layered over the soccer profile (after the stride), e.g. a smaller image for a quick test. */
  overrides?: PipelineDocument;
  /** One line per challenge, as it ends. */
  log?: (line: string) => void;
}

/**
 * Serves `clip` through the simulator and sends it, `runs` times per stride, to a challenge server on the
 * soccer profile (one prepared pipeline per stride); scores each answer against `truth`.
 */
export async function measureAnswers(options: MeasureOptions): Promise<AnswerFigures[]> {
  const { readEnvConfig } = await import('../src/core/config.js');
  const { loadPipeline } = await import('../src/pipelines/load.js');
  const { preparePipeline } = await import('../src/pipelines/runner.js');
  const { startServer } = await import('../src/server/server.js');
  const { startNetSim } = await import('../src/sim/netsim.js');
  const sim = await startNetSim({
    files: { '/clip.mp4': readFileSync(options.clip) },
    rateBytesPerSec: options.rateBytesPerSec,
    ttfbMs: options.ttfbMs,
  });
  const figures: AnswerFigures[] = [];
  try {
    for (const stride of options.strides) {
      const overrides: PipelineDocument = {
        ...(stride === 'auto' ? {} : { stride: { every: stride } }),
        ...(options.budgetS !== undefined ? { sink: { budgetS: options.budgetS } } : {}),
        ...options.overrides,
      };
      const prepared = await preparePipeline(
        loadPipeline({ profile: 'soccer', env: readEnvConfig({}), overrides }),
      );
      let last: RunDocument | undefined;
      const watched: PreparedPipeline = {
        ...prepared,
        run: async (target, runOptions) => (last = await prepared.run(target, runOptions)),
      };
      const server = await startServer({
        pipeline: watched,
        allowPrivate: true,
        keepWarm: false,
        processMetrics: false,
        concurrency: 1,
        queue: 0,
      });
      try {
        for (let run = 0; run < options.runs; run += 1) {
          last = undefined;
          const started = performance.now();
          const response = await fetch(`${server.url}/soccer/challenge`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              challenge_id: `answer-${stride}-${run}`,
              type: 'gsr',
              video_url: sim.urlFor('/clip.mp4'),
              created_at: new Date().toISOString(),
            }),
          });
          const body = (await response.json()) as { error?: { code?: string } };
          const answerMs = performance.now() - started;
          const document = last as RunDocument | undefined;
          const framesInClip = document?.timings.framesInClip ?? options.truth.frames;
          const figure: AnswerFigures = {
            stride,
            status: response.status,
            answerMs,
            score: scoreAnswer(document?.frames ?? [], options.truth, framesInClip),
            strideUsed: document?.timings.stride?.stride ?? null,
            marginMs: document?.timings.stride?.marginMs ?? null,
            perFrameMs: document?.timings.stride?.perFrameMs ?? null,
            endedBy: document?.timings.endedBy ?? 'none',
            ...(body.error?.code ? { error: body.error.code } : {}),
            load: loadavg()[0]!,
          };
          figures.push(figure);
          options.log?.(figureLine(figure));
        }
      } finally {
        await server.close({ graceMs: 0 });
        await prepared.release();
      }
    }
  } finally {
    await sim.close();
  }
  return figures;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const medianOf = (values: ReadonlyArray<number | null>): number | null => {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : median(known);
};

/** The medians of a stride's challenges, as one figure (the worst balls, the last status). */
export function medianFigure(figures: readonly AnswerFigures[]): AnswerFigures {
  const last = figures[figures.length - 1]!;
  const score = (key: keyof AnswerScore) => medianOf(figures.map((figure) => figure.score[key]));
  return {
    ...last,
    answerMs: median(figures.map((figure) => figure.answerMs)),
    score: {
      framesInClip: last.score.framesInClip,
      framesAnswered: score('framesAnswered')!,
      framesWithObjects: score('framesWithObjects')!,
      framesInferred: score('framesInferred')!,
      framesFilled: score('framesFilled')!,
      iouFilled: score('iouFilled'),
      iouInferred: score('iouInferred'),
      maxBalls: Math.max(...figures.map((figure) => figure.score.maxBalls)),
      idSplits: score('idSplits')!,
      framesWithKeypoints: score('framesWithKeypoints')!,
    },
    strideUsed: medianOf(figures.map((figure) => figure.strideUsed)),
    marginMs: medianOf(figures.map((figure) => figure.marginMs)),
    perFrameMs: medianOf(figures.map((figure) => figure.perFrameMs)),
    load: median(figures.map((figure) => figure.load)),
  };
}

const fixed = (value: number | null, digits = 0, width = 6) =>
  (value === null ? '-' : value.toFixed(digits)).padStart(width);

export const HEADER =
  'stride    status  answer ms  answered/clip  inferred  filled  used  margin ms  ms/frame  IoU filled  inferred  balls  id splits  load';

export function figureLine(figure: AnswerFigures): string {
  const s = figure.score;
  return [
    String(figure.stride).padEnd(8),
    String(figure.status).padStart(6),
    fixed(figure.answerMs, 0, 10),
    `${s.framesWithObjects}/${s.framesInClip}`.padStart(14),
    fixed(s.framesInferred, 0, 9),
    fixed(s.framesFilled, 0, 7),
    fixed(figure.strideUsed, 0, 5),
    fixed(figure.marginMs, 0, 10),
    fixed(figure.perFrameMs, 0, 9),
    fixed(s.iouFilled, 3, 11),
    fixed(s.iouInferred, 3, 9),
    fixed(s.maxBalls, 0, 6),
    fixed(s.idSplits, 0, 10),
    fixed(figure.load, 2, 5),
    figure.error ? `  ${figure.error}` : '',
  ].join(' ');
}

/** The bench fixture cut to its first `seconds` (ffmpeg -c copy), made once in .fixtures/answer/. */
async function benchClip(set: FixtureSet, seconds: number): Promise<{ file: string; truth: GroundTruth }> {
  const source = set.clips['bench-faststart'];
  if (!source) throw new Error(`no bench-faststart clip in ${set.dir}`);
  const dir = join(set.dir, 'answer');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${seconds}s.mp4`);
  if (!existsSync(file)) {
    const work = `${file}.${process.pid}.mp4`;
    // prettier-ignore
    await promisify(execFile)('ffmpeg', [
      '-loglevel', 'error', '-y', '-i', source.file, '-map', '0:v:0', '-c', 'copy', '-t', String(seconds),
      '-movflags', '+faststart', work,
    ]);
    const { rename } = await import('node:fs/promises');
    await rename(work, file);
  }
  return { file, truth: JSON.parse(readFileSync(source.truth, 'utf8')) as GroundTruth };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      strides: { type: 'string', default: '1,2,3,5,8,auto' },
      seconds: { type: 'string', default: '25' },
      budget: { type: 'string' },
      rate: { type: 'string', default: String(SEEDS_RATE_BYTES_PER_SEC) },
      ttfb: { type: 'string', default: String(SEEDS_TTFB_MS) },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const problems: string[] = [];
  const positive = positiveOptions(problems);
  const runs = positive('runs', values.runs, true);
  const seconds = positive('seconds', values.seconds, false);
  const rate = positive('rate', values.rate, false);
  const ttfb = Number(values.ttfb);
  if (!(ttfb >= 0)) problems.push(`--ttfb: expected a number >= 0, got ${JSON.stringify(values.ttfb)}`);
  const budgetS = values.budget === undefined ? undefined : positive('budget', values.budget, false);
  const strides: StrideChoice[] = values.strides.split(',').map((part) => {
    if (part === 'auto') return 'auto';
    return positive('strides', part, true);
  });
  if (problems.length > 0) {
    console.error(`bench/answer: ${problems.join('; ')}`);
    process.exit(2);
  }
  const { defaultFixtureDir, makeFixtures } = await import('../src/fixtures/make.js');
  const set = await makeFixtures(defaultFixtureDir(), { profile: 'bench' });
  const clip = await benchClip(set, seconds);
  const { PROFILES } = await import('../src/pipelines/profiles.js');
  const profileBudget = PROFILES['soccer']?.sink?.['budgetS'];
  const log = values.json ? undefined : (line: string) => console.log(line);
  if (!values.json) {
    console.log(
      `bench/answer: soccer profile (budget ${budgetS ?? profileBudget} s), ${basename(clip.file)} ` +
        `(${(readFileSync(clip.file).byteLength / 1e6).toFixed(1)} MB) at ${rate} B/s, ${ttfb} ms TTFB; ` +
        `${runs} run(s) per stride; ${availableParallelism()} cores, load average ${loadavg()
          .map((value) => value.toFixed(2))
          .join(' ')}`,
    );
    console.log(HEADER);
  }
  const figures = await measureAnswers({
    clip: clip.file,
    truth: clip.truth,
    strides,
    runs,
    ...(budgetS !== undefined ? { budgetS } : {}),
    rateBytesPerSec: rate,
    ttfbMs: ttfb,
    ...(log ? { log } : {}),
  });
  const medians = strides.map((stride) => medianFigure(figures.filter((figure) => figure.stride === stride)));
  if (values.json) {
    console.log(JSON.stringify({ figures, medians }));
  } else if (runs > 1) {
    console.log(`medians of ${runs} runs:`);
    console.log(HEADER);
    for (const figure of medians) console.log(figureLine(figure));
  }
  const auto = medians.find((figure) => figure.stride === 'auto');
  if (auto) {
    const passes =
      auto.answerMs < ANSWER_TARGET_MS && auto.score.framesWithObjects === auto.score.framesInClip;
    if (!values.json) {
      console.log(
        `budget-aware: answer ${auto.answerMs.toFixed(0)} ms (target < ${ANSWER_TARGET_MS}), ` +
          `${auto.score.framesWithObjects}/${auto.score.framesInClip} frames answered with objects: ${passes ? 'PASS' : 'FAIL'}`,
      );
    }
    process.exitCode = passes ? 0 : 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  void main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
