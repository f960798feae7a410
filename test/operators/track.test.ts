import { describe, expect, expectTypeOf, it } from 'vitest';
import { from, toArray, type OperatorFunction } from 'rxjs';
import { ConfigError, codes } from '../../src/core/errors.js';
import type { StageEvent } from '../../src/core/events.js';
import type { Detection } from '../../src/inference/yolo.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { track, type TrackOptions, type TrackedFrameResult } from '../../src/operators/track.js';
import { marbleScheduler } from '../support/marbles.js';

const player = (x: number, y: number, score = 0.9): Detection => ({
  bbox: [x, y, x + 20, y + 40],
  classId: 2,
  className: 'player',
  score,
});
const frame = (frameNumber: number, objects: Detection[]): FrameResult => ({
  frameNumber,
  pts: frameNumber / 25,
  width: 640,
  height: 360,
  objects,
  inferredAt: 1000 + frameNumber,
});
const withIds = (result: FrameResult, ids: number[]): TrackedFrameResult => ({
  ...result,
  objects: result.objects.map((object, i) => ({ ...object, trackId: ids[i]! })),
});

// Two players walking apart; in frame 1 the detector lists them in the other order.
const a = frame(0, [player(100, 100), player(300, 100)]);
const b = frame(1, [player(296, 100), player(103, 101)]);
const c = frame(2, [player(106, 102)]);
const d = frame(3, [player(109, 103), player(288, 100)]);
const inputs = { a, b, c, d };
const outputs = {
  A: withIds(a, [1, 2]),
  B: withIds(b, [2, 1]),
  C: withIds(c, [1]),
  D: withIds(d, [1, 2]),
};

describe('track', () => {
  it('adds a track id to every object, following each object, in input order', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-c-d-|', inputs);
      const e1subs = '   ^--------!';
      const expected = ' -A-B-C-D-|';
      expectObservable(e1.pipe(track())).toBe(expected, outputs);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('one value, empty, never, never-ending', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-(a|)', inputs).pipe(track())).toBe('-(A|)', outputs);
      expectObservable(cold<FrameResult>('|').pipe(track())).toBe('|');
      expectObservable(cold<FrameResult>('-').pipe(track())).toBe('-');
      expectObservable(cold('-a-b-', inputs).pipe(track())).toBe('-A-B-', outputs);
    });
  });

  it('passes an error on after the results before it', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-#', inputs, new Error('decoder died'));
      const e1subs = '   ^----!';
      const expected = ' -A-B-#';
      expectObservable(e1.pipe(track())).toBe(expected, outputs, new Error('decoder died'));
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('unsubscribing early unsubscribes upstream at once', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-c-d-|', inputs);
      const e1subs = '   ^----!';
      const unsub = '    -----!';
      const expected = ' -A-B--';
      expectObservable(e1.pipe(track()), unsub).toBe(expected, outputs);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('a throwing onEvent never breaks the pipeline', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const onEvent = () => {
        throw new Error('reporter bug');
      };
      expectObservable(cold('-a-b-c-d-|', inputs).pipe(track({ onEvent }))).toBe('-A-B-C-D-|', outputs);
    });
  });

  it('a malformed result becomes an error notification, not a synchronous throw', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const broken = { frameNumber: 0 } as unknown as FrameResult;
      expectObservable(cold('-a-b', { a, b: broken }).pipe(track())).toBe(
        '-A-#',
        outputs,
        expect.any(TypeError),
      );
    });
  });

  it('state lives in the subscription: subscribing again starts from id 1', () => {
    const tracked$ = from([a, b, c]).pipe(track());
    const ids = () => {
      let seen: number[][] = [];
      tracked$.pipe(toArray()).subscribe((results) => {
        seen = results.map((r) => r.objects.map((o) => o.trackId));
      });
      return seen;
    };
    expect(ids()).toEqual([[1, 2], [2, 1], [1]]);
    expect(ids()).toEqual([[1, 2], [2, 1], [1]]);
  });

  it('reports each frame with its track counts', () => {
    const events: StageEvent[] = [];
    // Player 2 leaves after frame 1, a third player arrives in frame 3.
    const frames = [
      frame(0, [player(100, 100), player(300, 100)]),
      frame(1, [player(103, 100), player(297, 100)]),
      frame(2, [player(106, 100)]),
      frame(3, [player(109, 100), player(500, 200)]),
    ];
    from(frames)
      .pipe(track({ onEvent: (event) => events.push(event), trackBuffer: 1 }))
      .subscribe();
    expect(events.every((e) => e.stage === 'track' && e.name === 'frame')).toBe(true);
    expect(events.map((e) => ({ ...e.data, ms: typeof e.data?.ms }))).toEqual([
      { frameNumber: 0, objects: 2, active: 2, lost: 0, new: 2, removed: 0, ms: 'number' },
      { frameNumber: 1, objects: 2, active: 2, lost: 0, new: 0, removed: 0, ms: 'number' },
      { frameNumber: 2, objects: 1, active: 1, lost: 1, new: 0, removed: 0, ms: 'number' },
      { frameNumber: 3, objects: 2, active: 2, lost: 0, new: 1, removed: 1, ms: 'number' },
    ]);
  });

  it('keeps every field of the result and of each object', () => {
    const pose = { ...player(10, 10), keypoints: [[15, 20, 0.9]] as Array<[number, number, number]> };
    const result = { ...frame(7, [pose]), extra: 'kept' };
    let out: TrackedFrameResult | undefined;
    from([result])
      .pipe(track())
      .subscribe((r) => (out = r));
    expect(out).toEqual({ ...result, objects: [{ ...pose, trackId: 1 }] });
    expect(result.objects[0]).not.toHaveProperty('trackId');
  });

  it('types: FrameResult in, TrackedFrameResult (still a FrameResult) out', () => {
    expectTypeOf(track()).toEqualTypeOf<OperatorFunction<FrameResult, TrackedFrameResult>>();
    expectTypeOf<TrackedFrameResult>().toExtend<FrameResult>();
    expectTypeOf<TrackedFrameResult['objects'][number]['trackId']>().toEqualTypeOf<number>();
  });

  it('rejects bad options at construction, every problem on its own line', () => {
    const bad = {
      highThreshold: 1.5,
      lowThreshold: -0.1,
      newTrackThreshold: Number.NaN,
      matchThreshold: '0.8',
      trackBuffer: 2.5,
      matchBuffer: { 0: -1, ball: 1 },
      untracked: 'hide',
    } as unknown as TrackOptions;
    let error: unknown;
    try {
      track(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe(codes.config.invalidOption);
    expect((error as ConfigError).problems).toEqual([
      'track.highThreshold: expected a number between 0 and 1, got 1.5',
      'track.lowThreshold: expected a number between 0 and 1, got -0.1',
      'track.newTrackThreshold: expected a number between 0 and 1, got null',
      'track.matchThreshold: expected a number between 0 and 1, got "0.8"',
      'track.trackBuffer: expected an integer >= 0, got 2.5',
      'track.matchBuffer[0]: expected a number >= 0, got -1',
      'track.matchBuffer: expected class ids as keys, got "ball"',
      'track.untracked: expected "emit" or "drop", got "hide"',
    ]);
    expect(() => track({ highThreshold: 0.3, lowThreshold: 0.4 })).toThrowError(
      'track.lowThreshold: expected at most highThreshold (0.3), got 0.4',
    );
    expect(() => track({ matchBuffer: Infinity })).toThrowError(
      'track.matchBuffer: expected a number >= 0, got null',
    );
    expect(() => track({ trackBuffer: 0, matchBuffer: { 0: 2 }, untracked: 'drop' })).not.toThrow();
  });
});
