/**
 * The runner's own times in virtual time (its timeline, the fit-budget stride's clock, a deadline given
 * with the run): the document's timings and the stride's plans are exact virtual milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { fakeModel, frames, runInVirtualTime } from '../../src/testing/index.js';

describe('the runner in virtual time', () => {
  it("the document's timings are the run's virtual times", async () => {
    const run = await runInVirtualTime(
      { batch: { size: 4, maxWaitMs: 50 }, sink: { budgetS: 1 } },
      { model: fakeModel({ latencyMs: 30 }), frames: frames(750, { fps: 25 }) },
    );
    expect(run.document.timings).toMatchObject({
      headersMs: null,
      firstByteMs: null,
      firstFrameMs: 0,
      firstResultMs: 80,
      totalMs: 1000,
      framesDecoded: 25,
      framesInferred: 24,
      endedBy: 'budget',
    });
  });

  it('fit-budget plans with the virtual clock: the stride grows as the model falls behind the 2 s budget', async () => {
    const run = await runInVirtualTime(
      {
        stride: { operator: 'fit-budget', max: 10 },
        batch: { size: 4, maxWaitMs: 50 },
        sink: { budgetS: 2 },
      },
      {
        // 10 ms a frame, as the set-up said: the first plan keeps every 5th frame of 750 (1500 of 2000 ms).
        model: fakeModel({ latencyMs: ({ frames: count }) => 10 * count, perFrameMs: 10 }),
        frames: frames(750, { fps: 25 }),
      },
    );
    expect(run.events.find((event) => event.stage === 'stride' && event.name === 'plan')).toEqual({
      stage: 'stride',
      name: 'plan',
      at: 0,
      data: {
        operator: 'fit-budget',
        every: 5,
        from: 0,
        perFrameMs: 10,
        perFrameFrom: 'setup',
        leftMs: 2000,
        needMs: 1500,
        marginMs: 500,
        fits: true,
        framesLeft: 750,
        pendingFrames: 0,
        framesInClip: 750,
        framesFrom: 'assumed',
      },
    });
    expect(run.results.map(({ at, frameNumber }) => [at, frameNumber])).toEqual([
      [60, 0],
      [260, 5],
      [500, 11],
      [740, 17],
      [1020, 24],
      [1380, 33],
      [1780, 43],
    ]);
    expect(run.document.timings.stride).toEqual({
      operator: 'fit-budget',
      stride: 10,
      segments: [
        { from: 0, every: 5 },
        { from: 11, every: 6 },
        { from: 24, every: 7 },
        { from: 33, every: 9 },
        { from: 43, every: 10 },
      ],
      perFrameMs: 10,
      perFrameFrom: 'batches',
      margin: 0.15,
      marginMs: -490,
      fits: false,
      deadlineAt: 2000,
      framesInClip: 750,
      framesFrom: 'index',
      plans: 9,
      lastFrame: 749,
    });
  });

  it('a deadline given with the run, in virtual milliseconds: the sink answers at it', async () => {
    const run = await runInVirtualTime(
      { batch: { size: 4, maxWaitMs: 50 }, sink: { budgetS: 10 } },
      { model: fakeModel({ latencyMs: 30 }), frames: frames(750, { fps: 25 }), run: { deadlineAt: 500 } },
    );
    expect(run.deadlineAt).toBe(500);
    expect(run.endedAt).toBe(500);
    expect(run.document.timings).toMatchObject({ totalMs: 500, framesInferred: 12, endedBy: 'budget' });
  });
});
