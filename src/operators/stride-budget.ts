import { defer, filter, throwError, type MonoTypeOperatorFunction } from 'rxjs';
import { FirstframeError } from '../core/errors.js';
import { safeSink, type EventSink, type StageEvent } from '../core/events.js';
import { planStride, strideNeedMs, type StridePlanInput } from './stride-plan.js';
import type { Numbered } from './stride.js';

/** Stable codes of a run whose budget cannot hold any inference. */
export const budgetCodes = {
  /** The deadline passed before the run could start (a challenge that waited longer than its budget). */
  spent: 'FF_ERR_BUDGET_SPENT',
  /** Less time is left than the model takes for one frame: nothing could be inferred. */
  tooShort: 'FF_ERR_BUDGET_TOO_SHORT',
} as const;

/** How a run's stride is chosen. */
export interface StrideSettings {
  /** `every-nth`: fixed at `every` (the margin is still worked out and reported); `fit-budget`: planned. */
  readonly operator: 'every-nth' | 'fit-budget';
  /** The fixed stride (every-nth), or a fit-budget stride pinned by FRAME_STRIDE. */
  readonly every?: number;
  /** Share of the time left kept free (fit-budget). */
  readonly margin: number;
  readonly min: number;
  readonly max: number;
  /** Frames assumed when neither the index nor a header's duration says (SN44 clips: about 750). */
  readonly assumeFrames: number;
  /**
   * fit-budget: the clip's last frame is kept too when the stride would leave more than this many frames
   * after the last kept one (the fill stage carries objects that far: its `horizonFrames`, 10 by default).
   */
  readonly tailFrames: number;
}

/** What the run knows about its clip, read whenever the stride plans. */
export interface ClipFacts {
  /** Frames in the clip, from the MP4 index. */
  readonly frameCount?: number | undefined;
  readonly fps?: number | undefined;
  /** Seconds, from a header (the index, the demuxer). */
  readonly durationS?: number | undefined;
  /**
   * Bytes read so far by every request of the run (its byte budget's count: the main response, a Range
   * request after an edit-skip switch or for a moov at the end), the total when the server said it, and
   * when the first one came (performance.now()). The bytes an edit-skip leaves unread are known to the stride
   * from the decoder's `edit-skip-switched` event (see `observe`).
   */
  readonly bytes: number;
  readonly totalBytes?: number | undefined;
  readonly firstByteAt?: number | undefined;
}

/** What one run gives its stride. */
export interface StrideRunContext {
  /** Names the run in error messages. */
  readonly target: string;
  readonly now: () => number;
  /** The model stage's measured milliseconds per frame (its set-up times a run); undefined if unknown. */
  readonly perFrameMs: number | undefined;
  /** The sink's budget, when known before its clock starts (the budget sink's `budgetS`). */
  readonly budgetMs: number | undefined;
  /** An absolute deadline given to the run (a server's, counted from the request's arrival). */
  readonly deadlineAt: number | undefined;
  readonly clip: () => ClipFacts;
  readonly onEvent?: EventSink;
}

/** What the result document says about the stride (`timings.stride`). */
export interface StrideReport {
  readonly operator: StrideSettings['operator'];
  /** The stride in force at the end of the run. */
  readonly stride: number;
  /** Where each stride took over: the first frame it kept and its stride. */
  readonly segments: ReadonlyArray<{ readonly from: number; readonly every: number }>;
  /** The per-frame time the last plan used: measured on this run's batches once there are some. */
  readonly perFrameMs: number | null;
  /** Where that per-frame time came from. */
  readonly perFrameFrom: 'setup' | 'batches' | null;
  /** The configured margin (share of the time left kept free). */
  readonly margin: number;
  /** Milliseconds expected to be left at the deadline by the last plan; null without a deadline. */
  readonly marginMs: number | null;
  /** Whether the last plan's work fitted within the margin; null without a deadline. */
  readonly fits: boolean | null;
  /** The deadline in ms from the run's start (the budget sink's clock), when known. */
  readonly deadlineAt: number | null;
  /** Frames the plans assumed the clip has, and from what. */
  readonly framesInClip: number | null;
  readonly framesFrom: 'index' | 'duration' | 'assumed' | null;
  /** Plans made (the first, then at every batch and every new fact). */
  readonly plans: number;
  /**
   * The clip's last frame when the index gives the frame count (fit-budget): kept too when the stride
   * leaves more than `tailFrames` after the last kept frame, so that the fill stage interpolates to the end
   * instead of carrying the last objects past their horizon.
   */
  readonly lastFrame: number | null;
}

/** The stride of one run: its `keeps` is stable per frame number, whatever later plans decide. */
export interface RunStride {
  keeps(frameNumber: number): boolean;
  operator<T extends Numbered>(): MonoTypeOperatorFunction<T>;
  /** Every event of the run: the sink's budget-start, the model's runs. */
  observe(event: StageEvent): void;
  /** The clip's facts changed (the first frame's stream info): plan again. */
  replan(): void;
  report(startedAt: number): StrideReport;
}

interface Segment {
  /** Frames from here on (the first frame nobody had asked about when the plan was made). */
  readonly from: number;
  /** The first frame it keeps (≥ from), then every `every`-th. */
  readonly first: number;
  readonly every: number;
}

/** The frames the stride keeps in [from, upTo] of a segment. */
const keptIn = (segment: Segment, upTo: number): number =>
  upTo < segment.first ? 0 : Math.floor((upTo - segment.first) / segment.every) + 1;

/** Batches of the model's recent frames the per-frame time is averaged over. */
const WINDOW_FRAMES = 32;
/** Frames assumed per second when a header gives a duration but no rate. */
const ASSUMED_FPS = 30;

/**
 * The stride of one run. Frame numbers are decided in the order the decoder asks (decode order, before
 * any picture is converted); a new plan applies only to frames nobody has asked about, so `keeps(n)`
 * never changes its answer for a frame number and the decoder may skip non-reference pictures on it.
 *
 * fit-budget plans at the first frame, when the deadline becomes known, when the clip's facts change, and
 * after every batch of the model (with the time those batches took): each plan picks the smallest stride
 * whose remaining work fits in `(1 − margin)` of the time left (see planStride).
 */
export function runStride(settings: StrideSettings, run: StrideRunContext): RunStride {
  const onEvent = safeSink(run.onEvent);
  const fixed = settings.operator === 'every-nth' || settings.every !== undefined;
  const segments: Segment[] = [{ from: 0, first: 0, every: fixed ? settings.every! : settings.max }];
  let asked = -1;
  let deadlineAt = run.deadlineAt;
  let plans = 0;
  let last:
    | {
        perFrameMs: number | null;
        from: 'setup' | 'batches' | null;
        marginMs: number | null;
        fits: boolean | null;
      }
    | undefined;
  let framesInClip: { frames: number; from: 'index' | 'duration' | 'assumed' } | undefined;
  /** Set once, while nobody has asked about it yet, so that its answer never changes. */
  let lastFrame: number | undefined;

  // The model's busy time: runs overlap (soccer's two models), so their union counts, per batch.
  let open = 0;
  let busySince = 0;
  let batchFirstFrames = new Map<number, number>();
  const window: Array<{ frames: number; ms: number }> = [];
  let framesInferred = 0;

  const segmentOf = (frameNumber: number): Segment => {
    for (let index = segments.length - 1; index > 0; index -= 1) {
      if (frameNumber >= segments[index]!.from) return segments[index]!;
    }
    return segments[0]!;
  };
  const keptUpTo = (frameNumber: number): number => {
    let kept = 0;
    for (let index = 0; index < segments.length; index += 1) {
      const segment = segments[index]!;
      if (frameNumber < segment.from) break;
      const end = Math.min(frameNumber, (segments[index + 1]?.from ?? Infinity) - 1);
      kept += keptIn(segment, end);
    }
    return kept;
  };
  const lastKept = (frameNumber: number): number | undefined => {
    const segment = segmentOf(frameNumber);
    if (frameNumber < segment.first) return undefined;
    return segment.first + Math.floor((frameNumber - segment.first) / segment.every) * segment.every;
  };

  const perFrame = (): { ms: number; from: 'setup' | 'batches' } | undefined => {
    const frames = window.reduce((sum, batch) => sum + batch.frames, 0);
    if (frames > 0) return { ms: window.reduce((sum, batch) => sum + batch.ms, 0) / frames, from: 'batches' };
    return run.perFrameMs !== undefined && run.perFrameMs > 0
      ? { ms: run.perFrameMs, from: 'setup' }
      : undefined;
  };

  const clipFrames = (): { frames: number; from: 'index' | 'duration' | 'assumed' } => {
    const clip = run.clip();
    if (clip.frameCount !== undefined && clip.frameCount > 0)
      return { frames: clip.frameCount, from: 'index' };
    if (clip.durationS !== undefined && clip.durationS > 0) {
      return { frames: Math.ceil(clip.durationS * (clip.fps ?? ASSUMED_FPS)), from: 'duration' };
    }
    return { frames: settings.assumeFrames, from: 'assumed' };
  };

  /** Bytes of the file the download will never read: the gaps edit-skip switches jumped over. */
  let skippedBytes = 0;
  /** At the rate of every byte read so far, the time until the rest (less what was skipped) is in. */
  const downloadLeftMs = (now: number): number => {
    const { bytes, totalBytes, firstByteAt } = run.clip();
    if (totalBytes === undefined || firstByteAt === undefined || bytes <= 0) return 0;
    const left = totalBytes - bytes - skippedBytes;
    const elapsed = now - firstByteAt;
    return left > 0 && elapsed > 0 ? (left * elapsed) / bytes : 0;
  };

  const plan = (): void => {
    const now = run.now();
    const time = perFrame();
    framesInClip = clipFrames();
    const next = asked + 1;
    if (
      !fixed &&
      lastFrame === undefined &&
      framesInClip.from === 'index' &&
      framesInClip.frames - 1 >= next
    ) {
      lastFrame = framesInClip.frames - 1;
    }
    // A count that is a guess may be short: a fifth of it is taken to be left, at least.
    const framesLeft =
      framesInClip.from === 'index'
        ? Math.max(0, framesInClip.frames - next)
        : Math.max(framesInClip.frames - next, Math.ceil(framesInClip.frames / 5));
    const pendingFrames = Math.max(0, keptUpTo(asked) - framesInferred);
    // Before its clock starts (the first frame starts it), the sink's whole budget is left.
    const leftMs = deadlineAt !== undefined ? deadlineAt - now : (run.budgetMs ?? Infinity);
    plans += 1;
    const input: StridePlanInput | undefined =
      time === undefined
        ? undefined
        : {
            framesLeft,
            pendingFrames,
            perFrameMs: time.ms,
            leftMs,
            downloadLeftMs: downloadLeftMs(now),
            margin: settings.margin,
            min: settings.min,
            max: settings.max,
          };
    let every: number;
    if (fixed) {
      every = settings.every!;
    } else if (plans > 1 && framesLeft === 0) {
      // Nothing left to decide (the index says the clip's end was reached): the stride stays.
      every = segmentOf(next).every;
    } else if (!Number.isFinite(leftMs)) {
      // No deadline at all: every frame the minimum allows.
      every = settings.min;
    } else {
      every = input ? planStride(input).stride : settings.max;
    }
    const finite = input !== undefined && Number.isFinite(leftMs);
    const needMs = input ? strideNeedMs(input, every) : undefined;
    last = {
      perFrameMs: time?.ms ?? null,
      from: time?.from ?? null,
      marginMs: finite && needMs !== undefined ? leftMs - needMs : null,
      fits: finite && needMs !== undefined ? needMs <= (1 - settings.margin) * leftMs : null,
    };
    const before = segmentOf(next).every;
    // A plan made before any new frame was asked about replaces the one before it.
    if (segments.length > 1 && segments.at(-1)!.from === next) segments.pop();
    if (next === 0) {
      segments[0] = { from: 0, first: 0, every };
    } else if (segmentOf(next).every !== every) {
      const previous = lastKept(asked);
      const first = previous === undefined ? next : Math.max(next, previous + every);
      segments.push({ from: next, first, every });
    }
    const changed = before !== every;
    if (changed || plans === 1) {
      onEvent?.({
        stage: 'stride',
        name: 'plan',
        at: now,
        data: {
          operator: settings.operator,
          every,
          from: next,
          perFrameMs: last.perFrameMs,
          perFrameFrom: last.from,
          leftMs: Number.isFinite(leftMs) ? leftMs : null,
          needMs: needMs ?? null,
          marginMs: last.marginMs,
          fits: last.fits,
          framesLeft,
          pendingFrames,
          framesInClip: framesInClip.frames,
          framesFrom: framesInClip.from,
        },
      });
    }
  };

  const keeps = (frameNumber: number): boolean => {
    if (plans === 0) plan();
    if (frameNumber > asked) asked = frameNumber;
    if (frameNumber === lastFrame) {
      // Decided by the segments in force up to it, which no later plan changes: a stable answer.
      const regular = lastKept(frameNumber);
      if (regular === undefined || frameNumber - regular > settings.tailFrames) return true;
    }
    const segment = segmentOf(frameNumber);
    return frameNumber >= segment.first && (frameNumber - segment.first) % segment.every === 0;
  };

  const observe = (event: StageEvent): void => {
    if (event.stage === 'decode' && event.name === 'edit-skip-switched') {
      // The main response was closed at `at`; the Range response goes on from `at + fillerBytes`.
      const filler = Number(event.data?.['fillerBytes']);
      if (Number.isFinite(filler) && filler > 0) skippedBytes += filler;
      return;
    }
    if (event.stage === 'sink' && event.name === 'budget-start') {
      const budgetMs = Number(event.data?.['budgetMs']);
      if (Number.isFinite(budgetMs)) {
        const at = event.at + budgetMs;
        deadlineAt = deadlineAt === undefined ? at : Math.min(deadlineAt, at);
        if (plans > 0) plan();
      }
      return;
    }
    if (event.stage !== 'infer') return;
    if (event.name === 'run-start') {
      if (open === 0) {
        busySince = event.at;
        batchFirstFrames = new Map();
      }
      open += 1;
      const first = Number(event.data?.['firstFrame']);
      const frames = Number(event.data?.['frames']);
      if (Number.isFinite(first) && Number.isFinite(frames)) batchFirstFrames.set(first, frames);
    } else if ((event.name === 'run-end' || event.name === 'run-error') && open > 0) {
      open -= 1;
      if (open > 0) return;
      let frames = 0;
      for (const count of batchFirstFrames.values()) frames += count;
      if (frames === 0) return;
      framesInferred += frames;
      window.push({ frames, ms: event.at - busySince });
      while (
        window.length > 1 &&
        window.reduce((sum, batch) => sum + batch.frames, 0) - window[0]!.frames >= WINDOW_FRAMES
      ) {
        window.shift();
      }
      if (plans > 0) plan();
    }
  };

  const tooShort = (): FirstframeError | undefined => {
    if (fixed || deadlineAt === undefined || run.perFrameMs === undefined) return undefined;
    const leftMs = deadlineAt - run.now();
    if (leftMs >= run.perFrameMs) return undefined;
    return new FirstframeError(
      budgetCodes.tooShort,
      `${run.target}: ${Math.max(0, Math.round(leftMs))} ms of the budget left and the model takes ` +
        `${Math.round(run.perFrameMs)} ms per frame: nothing could be inferred`,
      { url: run.target, leftMs, perFrameMs: run.perFrameMs },
    );
  };

  return {
    keeps,
    // Checked when the run subscribes, before any byte is asked for: a budget that cannot hold one frame
    // ends the run at once with the reason.
    operator:
      <T extends Numbered>(): MonoTypeOperatorFunction<T> =>
      (source) =>
        defer(() => {
          const error = tooShort();
          return error
            ? throwError(() => error)
            : source.pipe(filter((frame: T) => keeps(frame.frameNumber)));
        }),
    observe,
    replan: () => {
      if (plans > 0) plan();
    },
    report: (startedAt) => {
      const current = segmentOf(asked + 1);
      return {
        operator: settings.operator,
        stride: current.every,
        segments: segments.map((segment) => ({ from: segment.first, every: segment.every })),
        perFrameMs: last?.perFrameMs ?? null,
        perFrameFrom: last?.from ?? null,
        margin: settings.margin,
        marginMs: last?.marginMs ?? null,
        fits: last?.fits ?? null,
        deadlineAt: deadlineAt === undefined ? null : deadlineAt - startedAt,
        framesInClip: framesInClip?.frames ?? null,
        framesFrom: framesInClip?.from ?? null,
        plans,
        lastFrame: lastFrame ?? null,
      };
    },
  };
}

/**
 * One line for the human summaries (`run`, `diagnose`): `stride 12 (fit-budget: 24 from frame 0, 12 from
 * frame 25; 150 ms per frame from the batches; margin 2.6 s, fits)`.
 */
export function strideLine(report: StrideReport): string {
  const changes = report.segments.map((segment) => `${segment.every} from frame ${segment.from}`).join(', ');
  const time =
    report.perFrameMs === null
      ? 'no per-frame time'
      : `${Math.round(report.perFrameMs)} ms per frame from the ${report.perFrameFrom === 'batches' ? 'batches' : 'set-up'}`;
  const margin =
    report.marginMs === null
      ? 'no deadline'
      : `margin ${(report.marginMs / 1000).toFixed(1)} s, ${report.fits ? 'fits' : 'does not fit'}`;
  return `stride ${report.stride} (${report.operator}: ${changes}; ${time}; ${margin})`;
}
