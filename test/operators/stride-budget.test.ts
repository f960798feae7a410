import { Observable, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { ConfigError, FirstframeError } from '../../src/core/errors.js';
import { byteBudget } from '../../src/sources/budget.js';
import {
  budgetCodes,
  runStride,
  strideLine,
  type ClipFacts,
  type StrideSettings,
} from '../../src/operators/stride-budget.js';
import { planStride, strideNeedMs, type StridePlanInput } from '../../src/operators/stride-plan.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { resolvePipeline } from '../../src/pipelines/document.js';
import { PROFILES } from '../../src/pipelines/profiles.js';

const base: StridePlanInput = {
  framesLeft: 750,
  pendingFrames: 0,
  perFrameMs: 150,
  leftMs: 12_000,
  downloadLeftMs: 0,
  margin: 0.15,
  min: 1,
  max: 30,
};

describe('planStride', () => {
  it('picks the smallest stride whose work fits in (1 − margin) of the time left', () => {
    // 10 200 ms allowed: 68 frames at 150 ms. Stride 11 needs ceil(750/11) = 69 frames, stride 12 needs 63.
    expect(planStride(base)).toEqual({ stride: 12, needMs: 9450, marginMs: 2550, fits: true });
    expect(strideNeedMs(base, 11)).toBe(69 * 150);
  });

  it('counts frames already kept and not yet inferred, whatever the stride', () => {
    // 10 pending frames take 1500 ms: 58 more fit, so ceil(750/s) ≤ 58 → s = 13.
    expect(planStride({ ...base, pendingFrames: 10 })).toEqual({
      stride: 13,
      needMs: (10 + 58) * 150,
      marginMs: 12_000 - 68 * 150,
      fits: true,
    });
  });

  it('never plans to finish before the download does', () => {
    // 9 s of download left: 9150 ms however large the stride; 9150 ≤ 10 200, so the smallest stride whose
    // inference also fits is chosen (12), and its need is the download's.
    expect(planStride({ ...base, downloadLeftMs: 9000 })).toEqual({
      stride: 12,
      needMs: 9450,
      marginMs: 2550,
      fits: true,
    });
    expect(planStride({ ...base, framesLeft: 100, downloadLeftMs: 9000 })).toEqual({
      stride: 2,
      needMs: 9150,
      marginMs: 2850,
      fits: true,
    });
  });

  it('stays within [min, max]; max with fits: false when nothing fits', () => {
    expect(planStride({ ...base, leftMs: 1_000_000 })).toMatchObject({ stride: 1, fits: true });
    expect(planStride({ ...base, leftMs: 1_000_000, min: 5 })).toMatchObject({ stride: 5, fits: true });
    // 25 frames at stride 30 take 3750 ms; 3 s are left.
    expect(planStride({ ...base, leftMs: 3000 })).toEqual({
      stride: 30,
      needMs: 3750,
      marginMs: -750,
      fits: false,
    });
  });
});

/** A run's stride on a clock the test moves, with clip facts it sets. */
function harness(settings: Partial<StrideSettings>, run: { perFrameMs?: number; deadlineAt?: number } = {}) {
  let now = 0;
  let clip: ClipFacts = { bytes: 0 };
  const events: StageEvent[] = [];
  const stride = runStride(
    { operator: 'fit-budget', margin: 0.15, min: 1, max: 30, assumeFrames: 750, tailFrames: 10, ...settings },
    {
      target: 'clip.mp4',
      now: () => now,
      perFrameMs: run.perFrameMs,
      budgetMs: undefined,
      deadlineAt: run.deadlineAt,
      clip: () => clip,
      onEvent: (event) => events.push(event),
    },
  );
  const infer = (name: string, at: number, data: Record<string, unknown>) =>
    stride.observe({ stage: 'infer', name, at, data });
  return {
    stride,
    events,
    setNow: (ms: number) => (now = ms),
    setClip: (facts: ClipFacts) => {
      clip = facts;
      stride.replan();
    },
    budgetStart: (at: number, budgetMs: number) =>
      stride.observe({ stage: 'sink', name: 'budget-start', at, data: { budgetMs } }),
    /** One batch of `frames` starting at `first`, run by `models` models over [start, end]. */
    batch: (first: number, frames: number, start: number, end: number, models = 1) => {
      for (let model = 0; model < models; model += 1) {
        infer('run-start', start + model, { run: 1, frames, batch: frames, firstFrame: first });
      }
      for (let model = 0; model < models; model += 1) {
        infer('run-end', end - (models - 1 - model), { run: 1, frames, ms: end - start });
      }
    },
    kept: (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => from + i).filter((n) => stride.keeps(n)),
  };
}

describe('runStride (fit-budget)', () => {
  it('plans from the index, the deadline and the set-up time; keeps its answers when a later plan changes', () => {
    const h = harness({}, { perFrameMs: 150 });
    h.setClip({ frameCount: 750, fps: 30, bytes: 0 });
    h.budgetStart(0, 12_000);
    // The first plan (at frame 0): 750 frames, 12 s, 150 ms → 12.
    const first = h.kept(0, 40);
    expect(first).toEqual([0, 12, 24, 36]);
    // Batches say the model is twice as fast: 5 frames (0, 12, 24, 36 and one more) in 375 ms.
    h.setNow(1000);
    h.batch(0, 5, 500, 875);
    // 75 ms per frame, 11 s left → 9350 ms allowed; 710 frames left; nothing pending (4 kept, 5 inferred);
    // ceil(710/6) = 119 → 8925 ms: stride 6, from frame 40, the first one 6 after 36 (42).
    expect(h.kept(0, 40)).toEqual(first);
    expect(h.kept(40, 60)).toEqual([42, 48, 54]);
    const report = h.stride.report(0);
    expect(report).toEqual({
      operator: 'fit-budget',
      stride: 6,
      segments: [
        { from: 0, every: 12 },
        { from: 42, every: 6 },
      ],
      perFrameMs: 75,
      perFrameFrom: 'batches',
      margin: 0.15,
      marginMs: 11_000 - 8925,
      fits: true,
      deadlineAt: 12_000,
      framesInClip: 750,
      framesFrom: 'index',
      plans: 2,
      lastFrame: 749,
    });
    expect(strideLine(report)).toBe(
      'stride 6 (fit-budget: 12 from frame 0, 6 from frame 42; 75 ms per frame from the batches; margin 2.1 s, fits)',
    );
    const plans = h.events.filter((event) => event.stage === 'stride' && event.name === 'plan');
    expect(plans.map((event) => [event.data?.['every'], event.data?.['from']])).toEqual([
      [12, 0],
      [6, 40],
    ]);
  });

  it('a frame asked about out of order (decode order) keeps its first answer', () => {
    const h = harness({}, { perFrameMs: 150 });
    h.setClip({ frameCount: 750, fps: 30, bytes: 0 });
    h.budgetStart(0, 12_000);
    // Decode order with B-frames: 0, 3, 1, 2, … frame 12 asked before 11.
    expect([0, 3, 1, 2, 12].map((n) => h.stride.keeps(n))).toEqual([true, false, false, false, true]);
    h.batch(0, 1, 10, 85); // 75 ms per frame: the plan halves the stride from frame 13 on
    expect([11, 12, 13].map((n) => h.stride.keeps(n))).toEqual([false, true, false]);
    expect(h.stride.report(0).segments).toEqual([
      { from: 0, every: 12 },
      { from: 18, every: 6 },
    ]);
  });

  it("keeps the clip's last frame (from the index) when the stride leaves more than tailFrames after the last kept one", () => {
    const h = harness({ min: 15, max: 15 }, { perFrameMs: 1 });
    h.setClip({ frameCount: 29, fps: 25, bytes: 0 });
    h.budgetStart(0, 10_000);
    // 28 − 15 = 13 frames past the last kept one, more than 10: frame 28 is kept too.
    expect(h.kept(0, 29)).toEqual([0, 15, 28]);
    expect(h.stride.report(0).lastFrame).toBe(28);
    // 4 past the last kept one (30 of 35): no.
    const near = harness({ min: 15, max: 15 }, { perFrameMs: 1 });
    near.setClip({ frameCount: 35, fps: 25, bytes: 0 });
    near.budgetStart(0, 10_000);
    expect(near.kept(0, 35)).toEqual([0, 15, 30]);
    // A count learnt after its last frame was asked about: that frame keeps its first answer.
    const late = harness({ min: 15, max: 15 }, { perFrameMs: 1 });
    late.budgetStart(0, 10_000);
    expect(late.kept(0, 29)).toEqual([0, 15]);
    late.setClip({ frameCount: 29, fps: 25, bytes: 0 });
    expect(late.kept(0, 29)).toEqual([0, 15]);
    expect(late.stride.report(0).lastFrame).toBe(null);
  });

  it("soccer's two models overlapping on one batch count once: the union of their runs", () => {
    const h = harness({}, { perFrameMs: 150 });
    h.setClip({ frameCount: 750, fps: 30, bytes: 0 });
    h.budgetStart(0, 12_000);
    h.stride.keeps(0);
    // Two models, 4 frames, [100, 500]: 100 ms per frame, not 50 nor 200.
    h.batch(0, 4, 100, 500, 2);
    expect(h.stride.report(0).perFrameMs).toBe(100);
  });

  it('without a deadline, every frame the minimum allows; FRAME_STRIDE (`every`) pins the stride', () => {
    const free = harness({ min: 2 }, { perFrameMs: 150 });
    expect(free.kept(0, 9)).toEqual([0, 2, 4, 6, 8]);
    expect(free.stride.report(0)).toMatchObject({ stride: 2, marginMs: null, fits: null, deadlineAt: null });

    const pinned = harness({ every: 5 }, { perFrameMs: 150 });
    pinned.setClip({ frameCount: 100, fps: 25, bytes: 0 });
    pinned.budgetStart(0, 2000);
    expect(pinned.kept(0, 21)).toEqual([0, 5, 10, 15, 20]);
    // 20 frames at 150 ms: 3000 ms needed of 2000.
    expect(pinned.stride.report(0)).toMatchObject({ stride: 5, marginMs: -1000, fits: false });
  });

  it('a clip without a frame count: from the header duration, else assumed; a fifth is always taken to be left', () => {
    const h = harness({ assumeFrames: 500 }, { perFrameMs: 100 });
    h.budgetStart(0, 10_000);
    h.stride.keeps(0);
    // 500 frames assumed, 8500 ms allowed: 85 frames → stride 6.
    expect(h.stride.report(0)).toMatchObject({ stride: 6, framesInClip: 500, framesFrom: 'assumed' });
    h.setClip({ durationS: 10, bytes: 0 });
    // 10 s at an assumed 30 fps: 300 frames → 4 (75 frames).
    expect(h.stride.report(0)).toMatchObject({ stride: 4, framesInClip: 300, framesFrom: 'duration' });
    h.setClip({ durationS: 10, fps: 25, bytes: 0 });
    expect(h.stride.report(0)).toMatchObject({ framesInClip: 250, framesFrom: 'duration' });
  });

  it('a budget shorter than one frame: the run errors with FF_ERR_BUDGET_TOO_SHORT before reading a byte', async () => {
    const h = harness({}, { perFrameMs: 150, deadlineAt: 100 });
    let subscribed = 0;
    const frames$ = new Observable<{ frameNumber: number }>((subscriber) => {
      subscribed += 1;
      subscriber.next({ frameNumber: 0 });
      subscriber.complete();
    });
    const error = await lastValueFrom(frames$.pipe(h.stride.operator())).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(FirstframeError);
    expect((error as FirstframeError).code).toBe(budgetCodes.tooShort);
    expect((error as FirstframeError).message).toBe(
      'clip.mp4: 100 ms of the budget left and the model takes 150 ms per frame: nothing could be inferred',
    );
    expect(subscribed).toBe(0);
    // With one frame's time left, frames go through.
    const enough = harness({}, { perFrameMs: 150, deadlineAt: 150 });
    const kept = await lastValueFrom(
      of({ frameNumber: 0 }, { frameNumber: 1 }).pipe(enough.stride.operator(), toArray()),
    );
    expect(kept).toEqual([{ frameNumber: 0 }]);
  });
});

describe('runStride: the download left after an edit-skip switch', () => {
  it('counts the Range response and the skipped gap: the time left falls as the Range response comes in', () => {
    // 1 ms a frame: the download decides the need (download left + one frame).
    const h = harness({}, { perFrameMs: 1 });
    // Every request of the run is charged to its byte budget, as the sources do.
    const budget = byteBudget(undefined, () => new FirstframeError('FF_ERR_LIMIT_BYTES', 'over'));
    const facts = () => ({
      frameCount: 750,
      fps: 25,
      bytes: budget.used,
      totalBytes: 1_000_000,
      firstByteAt: 0,
    });
    h.budgetStart(0, 12_000);
    expect(h.kept(0, 1)).toEqual([0]); // the first plan, before any byte
    // 1 s in: 100 kB of the main response, 100 B/ms: 900 kB left, 9 s.
    h.setNow(1000);
    budget.take(100_000);
    h.setClip(facts());
    expect(h.stride.report(0).marginMs).toBe(11_000 - (9000 + 1));
    // The decoder closes the main response at 100 kB and goes on with a Range from 500 kB: 400 kB skipped.
    h.stride.observe({
      stage: 'decode',
      name: 'edit-skip-switched',
      at: 1000,
      data: { at: 100_000, fillerBytes: 400_000 },
    });
    // 2 s in: 100 kB of the Range response besides; 400 kB left (1 MB − 200 kB read − 400 kB skipped) at
    // 100 B/ms: 4 s.
    h.setNow(2000);
    budget.take(100_000);
    h.setClip(facts());
    expect(h.stride.report(0).marginMs).toBe(10_000 - (4000 + 1));
    // 3 s in: 300 kB read, 300 kB left at 100 B/ms: 3 s. Then everything is in: nothing left.
    h.setNow(3000);
    budget.take(100_000);
    h.setClip(facts());
    expect(h.stride.report(0).marginMs).toBe(9000 - (3000 + 1));
    h.setNow(6000);
    budget.take(300_000);
    h.setClip(facts());
    expect(h.stride.report(0)).toMatchObject({ marginMs: 6000 - 750, stride: 1, fits: true });
  });
});

describe('the stride operators in pipeline documents', () => {
  const registry = defaultRegistry();
  it('the soccer profile plans its stride from the budget', () => {
    const soccer = resolvePipeline(PROFILES['soccer']!, { registry });
    expect(soccer.stages.stride).toMatchObject({
      operator: 'fit-budget',
      options: { margin: 0.15, min: 5, max: 15 },
    });
  });

  it('fit-budget: min above max and a margin of 1 are configuration conflicts', async () => {
    const definition = registry.get('stride', 'fit-budget')!;
    let error: unknown;
    try {
      definition.create({ min: 8, max: 4, margin: 1 }, { imgSize: 640, baseDir: '.' } as never);
    } catch (reason) {
      error = reason;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_CONFIG_CONFLICT');
    expect((error as ConfigError).problems).toEqual([
      'stride.min (8) is larger than stride.max (4)',
      'stride.margin: expected a share below 1, got 1',
    ]);
  });
});
