import { from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { sceneObjects, SOCCER_CLASSES, type SceneSpec } from '../../src/fixtures/scene.js';
import type { Detection } from '../../src/inference/yolo.js';
import { compileClassRules } from '../../src/operators/class-rules.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { track, type TrackedFrameResult } from '../../src/operators/track.js';
import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import {
  FILL_OPTION_CODECS,
  fill,
  fillInTasks,
  type FillInputFrame,
  type FilledFrame,
  type FilledObject,
  type FillOptions,
} from '../../src/tracking/fill.js';

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 25;

/** An object moving steadily: position x0 + v·n + a·n²/2 (pixels, frames). */
interface Mover {
  trackId: number;
  classId: number;
  x0: number;
  y0: number;
  w: number;
  h: number;
  vx: number;
  vy: number;
  ax?: number;
  ay?: number;
  score?: number;
}

const NAMES = ['ball', 'goalkeeper', 'player', 'referee'];

function truth(mover: Mover, n: number): [number, number, number, number] {
  const x = mover.x0 + mover.vx * n + ((mover.ax ?? 0) * n * n) / 2;
  const y = mover.y0 + mover.vy * n + ((mover.ay ?? 0) * n * n) / 2;
  return [x, y, x + mover.w, y + mover.h];
}

function detection(mover: Mover, n: number): Detection & { trackId: number } {
  return {
    bbox: truth(mover, n),
    classId: mover.classId,
    className: NAMES[mover.classId]!,
    score: mover.score ?? 0.9,
    trackId: mover.trackId,
  };
}

/** Inference every `stride` frames from 0 while frame < frames; `seen` says which movers a frame shows. */
function inferAt(
  movers: readonly Mover[],
  stride: number,
  frames: number,
  seen: (mover: Mover, n: number) => boolean = () => true,
): FillInputFrame[] {
  const results: FillInputFrame[] = [];
  for (let n = 0; n < frames; n += stride) {
    results.push({
      frameNumber: n,
      pts: n / FPS,
      width: WIDTH,
      height: HEIGHT,
      objects: movers.filter((mover) => seen(mover, n)).map((mover) => detection(mover, n)),
    });
  }
  return results;
}

const objectOf = (frame: FilledFrame, trackId: number): FilledObject | undefined =>
  frame.objects.find((object) => object.trackId === trackId);

const maxCornerError = (a: readonly number[], b: readonly number[]) =>
  Math.max(...a.map((value, index) => Math.abs(value - b[index]!)));

const LINEAR: Mover[] = [
  { trackId: 1, classId: 0, x0: 600, y0: 300, w: 12, h: 12, vx: 7.5, vy: -3.25, score: 0.8 },
  { trackId: 2, classId: 2, x0: 100, y0: 200, w: 40, h: 90, vx: 2.5, vy: 1 },
  { trackId: 3, classId: 2, x0: 900, y0: 400, w: 38, h: 85, vx: -1.75, vy: 0.5, score: 0.7 },
  { trackId: 4, classId: 3, x0: 400, y0: 500, w: 36, h: 88, vx: 0.5, vy: -0.75 },
];

describe('fill: steady motion', () => {
  for (const stride of [1, 2, 3, 5, 8]) {
    it(`stride ${stride}: every frame answered, linear motion exact between and past the inferred frames`, () => {
      const frames = 60;
      const results = inferAt(LINEAR, stride, frames);
      const { frames: answer, stats } = fill(results, { frameCount: frames, complete: true, fps: FPS });
      expect(answer.map((frame) => frame.frameNumber)).toEqual(Array.from({ length: frames }, (_, n) => n));
      const lastInferred = Math.floor((frames - 1) / stride) * stride;
      for (const frame of answer) {
        const n = frame.frameNumber;
        const expectedSource =
          n % stride === 0 ? 'inferred' : n < lastInferred ? 'interpolated' : 'extrapolated';
        expect(frame.source).toBe(n % stride === 0 ? 'inferred' : 'filled');
        expect(frame.objects.map((object) => object.trackId)).toEqual([1, 2, 3, 4]);
        expect(frame.pts).toBeCloseTo(n / FPS, 12);
        for (const mover of LINEAR) {
          const object = objectOf(frame, mover.trackId)!;
          expect(object.source).toBe(expectedSource);
          expect(object.classId).toBe(mover.classId);
          expect(maxCornerError(object.bbox, truth(mover, n))).toBeLessThan(1e-9);
        }
      }
      const filled = frames - results.length;
      const tail = frames - 1 - lastInferred;
      expect(stats).toMatchObject({
        framesInClip: 60,
        framesAnswered: 60,
        framesInferred: results.length,
        framesFilled: filled,
        framesWithObjects: 60,
        lastFrameFrom: 'clip',
        objects: { inferred: results.length * 4, interpolated: (filled - tail) * 4, extrapolated: tail * 4 },
      });
    });
  }

  it('exact numbers: stride 5, frame 7 of a player at x = 100 + 2.5 n, y = 200 + n', () => {
    const { frames } = fill(inferAt(LINEAR, 5, 60), { frameCount: 60, complete: true });
    expect(objectOf(frames[7]!, 2)).toEqual({
      bbox: [117.5, 207, 157.5, 297],
      classId: 2,
      className: 'player',
      score: 0.9,
      trackId: 2,
      source: 'interpolated',
    });
    // Past the last inferred frame (55): carried at the sightings' velocity; the score falls by
    // 1 / (horizon + 1) a frame.
    expect(objectOf(frames[58]!, 2)).toEqual({
      bbox: [245, 258, 285, 348],
      classId: 2,
      className: 'player',
      score: 0.9 * (1 - 3 / 11),
      trackId: 2,
      source: 'extrapolated',
    });
  });

  it('constant acceleration: every filled box within a·s²/8 of the truth at strides 1 to 5', () => {
    const accelerating: Mover[] = [
      { trackId: 1, classId: 0, x0: 100, y0: 600, w: 12, h: 12, vx: 2, vy: -8, ax: 0.3, ay: 0.25 },
      { trackId: 2, classId: 2, x0: 900, y0: 300, w: 40, h: 90, vx: -1, vy: 0, ax: -0.05, ay: 0.02 },
    ];
    for (const stride of [1, 2, 3, 5]) {
      // 61 frames: the last (60) is inferred at every one of these strides, so nothing is carried.
      const { frames } = fill(inferAt(accelerating, stride, 61), { frameCount: 61, complete: true });
      expect(frames).toHaveLength(61);
      for (const mover of accelerating) {
        const bound = (Math.max(Math.abs(mover.ax!), Math.abs(mover.ay!)) * stride * stride) / 8;
        let worst = 0;
        for (const frame of frames) {
          worst = Math.max(
            worst,
            maxCornerError(objectOf(frame, mover.trackId)!.bbox, truth(mover, frame.frameNumber)),
          );
        }
        expect(worst).toBeLessThanOrEqual(bound + 1e-9);
        // The bound is reached (midway between two inferred frames), so the test would see a worse fill.
        if (stride % 2 === 0) expect(worst).toBeCloseTo(bound, 9);
      }
    }
  });
});

describe('fillInTasks', () => {
  it("gives fill's answer, its phases in tasks of their own (the event loop runs between them)", async () => {
    const results = inferAt(LINEAR, 5, 60);
    const clip = { frameCount: 60, complete: true, fps: FPS };
    const between: number[] = [];
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 0);
    const outcome = await fillInTasks(results, clip, {}, async () => {
      between.push(ticks);
      await new Promise<void>((resolve) => setTimeout(resolve, 2));
    });
    clearInterval(ticker);
    expect(outcome).toEqual(fill(results, clip, {}));
    // read, stitch + context, tracks, keypoints: four hand-overs, a timer fired at each.
    expect(between).toHaveLength(4);
    expect(between.every((tick, i) => i === 0 || tick > between[i - 1]!)).toBe(true);
  });
});

describe('fill: gaps and horizons', () => {
  const player: Mover = { trackId: 7, classId: 2, x0: 100, y0: 300, w: 40, h: 90, vx: 2, vy: 0 };
  const sources = (frames: FilledFrame[], trackId: number) =>
    frames.map((frame) => {
      const object = objectOf(frame, trackId);
      return object ? object.source[0] : '.';
    });

  it('a track lost for longer than the gap limit is not bridged; each side is carried to the next inferred frame', () => {
    // Stride 5; seen at 0..20 and 55..75; the gap 20 → 55 is 35 frames.
    const results = inferAt([player], 5, 80, (_, n) => n <= 20 || n >= 55);
    const { frames } = fill(results, { lastDecodedFrame: 79 }, { maxGapFrames: 30 });
    expect(sources(frames, 7).join('')).toBe(
      'iiiiiiiiiiiiiiiiiiiii' + // 0..20 (inferred at 0, 5, …, 20; the letters are the sources' first)
        'eeee' + // 21..24
        '..........................' + // 25..50
        'eeee' + // 51..54
        'iiiiiiiiiiiiiiiiiiiii' + // 55..75
        'eeee', // 76..79
    );
    // The first letters of 'inferred' and 'interpolated' are alike: check the inferred ones by frame.
    expect(
      frames.filter((frame) => objectOf(frame, 7)?.source === 'inferred').map((f) => f.frameNumber),
    ).toEqual([0, 5, 10, 15, 20, 55, 60, 65, 70, 75]);
    // Backward from 55 at the velocity of 55 → 60 (2 px a frame).
    expect(objectOf(frames[52]!, 7)!.bbox).toEqual([100 + 2 * 52, 300, 140 + 2 * 52, 390]);
  });

  it('bridged when the gap is within the limit, across the inferred frames that missed it (unless bridgeInferred is false)', () => {
    const results = inferAt([player], 5, 80, (_, n) => n <= 20 || n >= 55);
    const bridged = fill(results, { lastDecodedFrame: 79 }, { maxGapFrames: 35 }).frames;
    expect(sources(bridged, 7).slice(21, 55).join('')).toBe('i'.repeat(34));
    expect(objectOf(bridged[30]!, 7)).toMatchObject({ source: 'interpolated', bbox: [160, 300, 200, 390] });
    expect(bridged[30]!.source).toBe('inferred');
    const notOnInferred = fill(
      results,
      { lastDecodedFrame: 79 },
      { maxGapFrames: 35, bridgeInferred: false },
    ).frames;
    expect(sources(notOnInferred, 7).slice(21, 55).join('')).toBe('iiii.iiii.iiii.iiii.iiii.iiii.iiii');
  });

  it('carrying stops at the horizon, forward past the last inferred frame and backward before the first', () => {
    const results = inferAt([player], 1, 41).filter(
      (result) => result.frameNumber >= 15 && result.frameNumber <= 25,
    );
    const { frames, stats } = fill(results, { lastDecodedFrame: 45 }, { horizonFrames: 6 });
    expect(frames).toHaveLength(46);
    expect(sources(frames, 7).join('')).toBe(
      '.........' + 'eeeeee' + 'iiiiiiiiiii' + 'eeeeee' + '..............',
    );
    expect(objectOf(frames[31]!, 7)).toMatchObject({ bbox: [162, 300, 202, 390], score: 0.9 * (1 - 6 / 7) });
    expect(objectOf(frames[9]!, 7)).toMatchObject({ bbox: [118, 300, 158, 390], score: 0.9 * (1 - 6 / 7) });
    expect(stats.objects).toEqual({ inferred: 11, interpolated: 0, extrapolated: 12 });
    expect(stats.framesWithObjects).toBe(23);
  });

  it('horizons and gaps in seconds, by the clip rate; the smaller of frames and seconds wins', () => {
    const results = inferAt([player], 1, 21);
    const tail = (options: FillOptions, fps: number) =>
      sources(fill(results, { lastDecodedFrame: 60, fps }, options).frames, 7).lastIndexOf('e');
    expect(tail({ horizonS: 0.4 }, 25)).toBe(30);
    expect(tail({ horizonS: 0.4 }, 50)).toBe(40);
    expect(tail({ horizonS: 0.4, horizonFrames: 3 }, 50)).toBe(23);
    expect(tail({ horizonFrames: 0 }, 25)).toBe(-1);
  });

  it('a carried object stops where its centre leaves the picture; its box is clipped to the picture', () => {
    const leaving: Mover = { trackId: 9, classId: 2, x0: 1180, y0: 300, w: 40, h: 90, vx: 20, vy: 0 };
    const { frames } = fill(inferAt([leaving], 1, 2), { lastDecodedFrame: 12 });
    // Centre 1200 + 20 n: inside the 1280-pixel picture up to frame 3 (1260), not at 4 (1280).
    expect(sources(frames, 9).join('')).toBe('iiee' + '.'.repeat(9));
    expect(
      frames
        .slice(2)
        .filter((frame) => objectOf(frame, 9))
        .map((frame) => frame.frameNumber),
    ).toEqual([2, 3]);
    expect(objectOf(frames[3]!, 9)!.bbox).toEqual([1240, 300, 1280, 390]);
  });
});

describe('fill: one object, one box', () => {
  const rules = compileClassRules({ maxPerClass: { ball: 1 } }, SOCCER_CLASSES);
  const ball = (trackId: number, x: number, score: number) => ({
    bbox: [x, 100, x + 10, 110] as [number, number, number, number],
    classId: 0,
    className: 'ball',
    score,
    trackId,
  });
  const at = (frameNumber: number, objects: FillInputFrame['objects']): FillInputFrame => ({
    frameNumber,
    pts: frameNumber / FPS,
    width: WIDTH,
    height: HEIGHT,
    objects,
  });

  it('never two balls: the more trusted, then the better score, of two ball tracks carried over one gap', () => {
    // Ball 1 seen at 0 and 5, then lost; ball 2 (a new id far away) seen at 10 and 15.
    const input = [
      at(0, [ball(1, 100, 0.8)]),
      at(5, [ball(1, 150, 0.8)]),
      at(10, [ball(2, 600, 0.8)]),
      at(15, [ball(2, 650, 0.8)]),
    ];
    const unlimited = fill(input, { lastDecodedFrame: 15 });
    expect(unlimited.frames.slice(6, 10).map((frame) => frame.objects.length)).toEqual([2, 2, 2, 2]);
    const { frames, stats } = fill(
      input,
      { lastDecodedFrame: 15 },
      { select: (objects) => rules.limit(objects) },
    );
    expect(frames.map((frame) => frame.objects.length)).toEqual(Array.from({ length: 16 }, () => 1));
    // Each side's score falls with the frames it is carried: ball 1 wins 6 and 7, ball 2 wins 8 and 9.
    expect(frames.slice(6, 10).map((frame) => frame.objects[0]!.trackId)).toEqual([1, 1, 2, 2]);
    expect(stats.objects).toEqual({ inferred: 4, interpolated: 8, extrapolated: 4 });
    // An interpolated ball beats a carried one, whatever the scores.
    const mixed = fill(
      [at(0, [ball(1, 100, 0.3), ball(2, 600, 0.9)]), at(5, [ball(1, 150, 0.3)])],
      { lastDecodedFrame: 5 },
      { select: (objects) => rules.limit(objects) },
    );
    expect(mixed.frames.slice(1, 5).map((frame) => frame.objects.map((object) => object.trackId))).toEqual([
      [1],
      [1],
      [1],
      [1],
    ]);
  });

  it('an id switch: the new track continues the old one under its id (stitched), the gap interpolated', () => {
    // A player moving 2 px a frame, id 1 up to frame 10, id 2 from frame 15 (the tracker lost it).
    const box = (n: number) => [100 + 2 * n, 300, 140 + 2 * n, 390] as [number, number, number, number];
    const player = (trackId: number, n: number, score = 0.9) => ({
      bbox: box(n),
      classId: 2,
      className: 'player',
      score,
      trackId,
    });
    const input = [0, 5, 10, 15, 20].map((n) => at(n, [player(n <= 10 ? 1 : 2, n)]));
    const { frames, stats } = fill(input, { lastDecodedFrame: 20 });
    expect(frames.map((frame) => frame.objects.map((object) => object.trackId))).toEqual(
      Array.from({ length: 21 }, () => [1]),
    );
    expect(frames.map((frame) => frame.objects[0]!.bbox)).toEqual(
      frames.map((frame) => box(frame.frameNumber)),
    );
    expect(frames[12]!.objects[0]!.source).toBe('interpolated');
    expect(stats.tracksStitched).toBe(1);

    // Without stitching: the old track carried forward over the new one carried back is one object, not two.
    const unstitched = fill(input, { lastDecodedFrame: 20 }, { stitchGate: 0 });
    expect(unstitched.frames.map((frame) => frame.objects.length)).toEqual(
      Array.from({ length: 21 }, () => 1),
    );
    // In the gap, the side nearer to its sighting scores better and is kept.
    expect(unstitched.frames.slice(11, 15).map((frame) => frame.objects[0]!.trackId)).toEqual([1, 1, 2, 2]);
    expect(unstitched.stats.objectsSuppressed).toBe(4);
    expect(
      fill(input, { lastDecodedFrame: 20 }, { stitchGate: 0, suppressIoU: 1 }).frames[12]!.objects,
    ).toHaveLength(2);

    // A filled box over an inferred one of its class is dropped too (the model saw it under another id).
    const seen = [at(0, [player(1, 0)]), at(5, [player(3, 5)]), at(10, [player(1, 10)])];
    const bridged = fill(seen, {}, { maxGapFrames: 10 });
    expect(bridged.frames[5]!.objects.map((object) => [object.trackId, object.source])).toEqual([
      [3, 'inferred'],
    ]);
  });
});

describe('fill: the frames answered', () => {
  const results = inferAt(LINEAR.slice(1, 2), 4, 40);

  it('an unknown frame count: to the last decoded frame only, and says so', () => {
    const { frames, stats } = fill(results, { lastDecodedFrame: 41 });
    expect(frames).toHaveLength(42);
    expect(stats).toMatchObject({ framesInClip: null, framesAnswered: 42, lastFrameFrom: 'decoded' });
    const bare = fill(results, {});
    expect(bare.frames).toHaveLength(37);
    expect(bare.stats.lastFrameFrom).toBe('inferred');
  });

  it('a known count: to the clip end when the whole clip was read, to the last decoded frame at a deadline', () => {
    expect(fill(results, { frameCount: 50, complete: true, lastDecodedFrame: 41 }).frames).toHaveLength(50);
    const atDeadline = fill(results, { frameCount: 50, complete: false, lastDecodedFrame: 41 });
    expect(atDeadline.frames).toHaveLength(42);
    expect(atDeadline.stats).toMatchObject({ framesInClip: 50, lastFrameFrom: 'decoded' });
    expect(fill(results, { frameCount: 50 }).frames).toHaveLength(50);
  });

  it('a result past a wrong frame count is still answered', () => {
    const { frames, stats } = fill(results, { frameCount: 30, complete: true });
    expect(frames).toHaveLength(37);
    expect(stats).toMatchObject({ framesInClip: 30, lastFrameFrom: 'clip' });
  });

  it('never past maxFrames, however large the count', () => {
    const { frames, stats } = fill(results, { frameCount: 10_000_000, complete: true }, { maxFrames: 20 });
    expect(frames).toHaveLength(20);
    expect(stats.framesInferred).toBe(5);
    expect(stats.ignored.framesPastCap).toBe(10_000_000 - 20);
  });

  it('an empty input: no frames, and the reason', () => {
    for (const input of [[], [{ frameNumber: -1 }], [{ frameNumber: 1.5 }], null, 'frames']) {
      const outcome = fill(input as unknown as FillInputFrame[], { frameCount: 750, complete: true });
      expect(outcome.frames).toEqual([]);
      expect(outcome.reason).toBe('nothing-inferred');
      expect(outcome.stats).toMatchObject({
        framesAnswered: 0,
        framesInferred: 0,
        framesInClip: 750,
        lastFrameFrom: null,
      });
    }
    expect(fill(results, { lastDecodedFrame: 10 }).reason).toBeUndefined();
  });

  it('pts: the clip frame times when given, else linear between inferred frames, else by the rate', () => {
    const odd = [
      { frameNumber: 2, pts: 1, width: WIDTH, height: HEIGHT, objects: [] },
      { frameNumber: 6, pts: 1.4, width: WIDTH, height: HEIGHT, objects: [] },
    ];
    const times = (clip: Parameters<typeof fill>[1]) =>
      fill(odd, clip).frames.map((frame) => Number(frame.pts.toFixed(6)));
    expect(times({ lastDecodedFrame: 8 })).toEqual([0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]);
    expect(times({ lastDecodedFrame: 8, fps: 20 })).toEqual([0.9, 0.95, 1, 1.1, 1.2, 1.3, 1.4, 1.45, 1.5]);
    // The index's times for the frames not inferred; an inferred frame keeps the decoder's.
    expect(times({ lastDecodedFrame: 6, frameTimes: [0.7, 0.75, 9, 1.05] })).toEqual([
      0.7, 0.75, 1, 1.05, 1.2, 1.3, 1.4,
    ]);
  });

  it('frame times steer the interpolation: linear in time, not in frame number', () => {
    const mover: Mover = { trackId: 1, classId: 2, x0: 100, y0: 100, w: 10, h: 10, vx: 10, vy: 0 };
    const input = [0, 4].map((n) => ({ ...inferAt([mover], 1, 5)[n]! }));
    const { frames } = fill(input, { frameTimes: [0, 0.1, 0.15, 0.2, 0.4] });
    expect(frames.map((frame) => objectOf(frame, 1)!.bbox[0])).toEqual([100, 110, 115, 120, 140]);
  });
});

describe('fill: odd input', () => {
  const mover: Mover = { trackId: 3, classId: 2, x0: 100, y0: 100, w: 10, h: 20, vx: 1, vy: 0 };
  const base = () => inferAt([mover], 2, 9);

  it('ignores NaN, empty and malformed objects and counts them', () => {
    const input = base();
    input[1] = {
      ...input[1]!,
      objects: [
        ...input[1]!.objects,
        { bbox: [NaN, 0, 10, 10], classId: 2, className: 'player', score: 0.9, trackId: 4 },
        { bbox: [5, 5, 5, 10], classId: 2, className: 'player', score: 0.9 },
        { bbox: [5, 5, 8, 10], classId: 2, className: 'player', score: NaN },
        { bbox: [5, 5, 8, 10], classId: -1, className: 'player', score: 0.5 },
        null as unknown as Detection,
      ],
    };
    const { frames, stats } = fill(input, {});
    expect(frames[2]!.objects).toHaveLength(1);
    expect(stats.ignored.invalidObjects).toBe(5);
    expect(frames.every((frame) => frame.objects.every((object) => object.trackId === 3))).toBe(true);
  });

  it('a frame number given twice keeps the first result given; any order gives the same answer', () => {
    const input = base();
    const twice = [...input, { ...input[2]!, objects: [] }].reverse();
    const { frames, stats } = fill(twice, {});
    expect(stats.ignored.duplicateFrames).toBe(1);
    // Reversed, the empty copy of frame 4 comes first and wins; frame 4 has no object, and is bridged.
    expect(frames[4]!.objects.map((object) => object.source)).toEqual(['interpolated']);
    expect(fill([...input].reverse(), {}).frames).toEqual(fill(input, {}).frames);
  });

  it('bad frame numbers, NaN pts and sizes: ignored or recomputed, never thrown', () => {
    const input: FillInputFrame[] = [
      ...base().map((result) => ({ ...result, pts: NaN })),
      { ...base()[0]!, frameNumber: NaN },
      { ...base()[0]!, frameNumber: -3 },
      { ...base()[0]!, frameNumber: Infinity },
    ];
    const { frames, stats } = fill(input, { fps: Number.NaN, frameCount: -5, lastDecodedFrame: 2.5 });
    expect(stats.ignored.invalidFrames).toBe(3);
    expect(frames.map((frame) => frame.pts)).toEqual(frames.map((frame) => frame.frameNumber / 25));
    expect(stats).toMatchObject({ framesInClip: null, lastFrameFrom: 'inferred', framesAnswered: 9 });
  });

  it('objects without a trackId stay on their own frame; one id twice in a frame: the better is followed', () => {
    const input = base();
    input[1] = {
      ...input[1]!,
      objects: [
        ...input[1]!.objects,
        { bbox: [500, 500, 520, 540], classId: 2, className: 'player', score: 0.95 },
        { bbox: [300, 100, 310, 120], classId: 2, className: 'player', score: 0.2, trackId: 3 },
      ],
    };
    const { frames } = fill(input, {});
    expect(frames[2]!.objects).toHaveLength(3);
    expect(
      frames
        .filter((frame) => frame.objects.some((object) => object.bbox[0] === 500))
        .map((f) => f.frameNumber),
    ).toEqual([2]);
    expect(objectOf(frames[1]!, 3)!.bbox).toEqual([101, 100, 111, 120]);
  });

  it('caps objects per frame (best scores of the inferred, then tracks seen most) and tracks', () => {
    const crowd: Mover[] = Array.from({ length: 6 }, (_, index) => ({
      trackId: index + 1,
      classId: 2,
      x0: 100 + index * 100,
      y0: 100,
      w: 10,
      h: 20,
      vx: 1,
      vy: 0,
      score: 0.5 + index / 20,
    }));
    const input = inferAt(crowd, 2, 9);
    const capped = fill(input, {}, { maxObjectsPerFrame: 4 });
    expect(capped.frames[0]!.objects.map((object) => object.trackId)).toEqual([3, 4, 5, 6]);
    expect(capped.frames[1]!.objects.map((object) => object.trackId)).toEqual([3, 4, 5, 6]);
    // Two of six dropped on each of the five inferred frames; tracks 1 and 2 are then never seen.
    expect(capped.stats.ignored.objectsOverCap).toBe(5 * 2);
    const fewTracks = fill(input, {}, { maxTracks: 2 });
    expect(fewTracks.frames[1]!.objects.map((object) => object.trackId)).toEqual([1, 2]);
    expect(fewTracks.frames[2]!.objects).toHaveLength(6);
    expect(fewTracks.stats.ignored.tracksOverCap).toBe(4);
  });

  it('a flood of one-frame tracks (a fresh id for every object) is bounded by the caps', () => {
    let trackId = 1;
    const flood: FillInputFrame[] = Array.from({ length: 20 }, (_, index) => ({
      frameNumber: index * 5,
      pts: index / 5,
      width: WIDTH,
      height: HEIGHT,
      objects: Array.from({ length: 300 }, (__, i) => ({
        bbox: [(i * 4) % 1200, (i * 7) % 700, ((i * 4) % 1200) + 3, ((i * 7) % 700) + 3],
        classId: 2,
        className: 'player',
        score: 0.5,
        trackId: trackId++,
      })),
    }));
    const { frames, stats } = fill(flood, { frameCount: 100, complete: true }, { maxTracks: 500 });
    expect(stats.ignored.tracksOverCap).toBe(6000 - 500);
    expect(stats.tracksStitched).toBe(0);
    // The 500 tracks kept (the lowest ids: all seen once) are those of frame 0 and the first 200 of frame
    // 5, each carried up to 4 frames each way, never onto a neighbouring inferred frame: 300 × 4 + 200 × 8.
    // Frames 1 to 4 are full (300) with the first 300, so the 200 carried back from frame 5 find no room.
    expect(stats.objects).toEqual({ inferred: 6000, interpolated: 0, extrapolated: 300 * 4 + 200 * 4 });
    expect(stats.ignored.objectsOverCap).toBe(200 * 4);
    expect(Math.max(...frames.map((frame) => frame.objects.length))).toBe(300);
  });

  it('rejects bad options at once, listing every problem', () => {
    expect(() =>
      fill(
        [],
        {},
        { maxGapFrames: -1, horizonFrames: 1.5, maxGapS: NaN, maxFrames: 0, bridgeInferred: 'yes' as never },
      ),
    ).toThrowError(
      [
        'fill.maxGapFrames: expected an integer >= 0, got -1',
        'fill.horizonFrames: expected an integer >= 0, got 1.5',
        'fill.maxGapS: expected a number >= 0, got null',
        'fill.maxFrames: expected a positive integer, got 0',
        'fill.bridgeInferred: expected true or false, got "yes"',
      ].join('\n'),
    );
  });
});

describe('fill options in documents', () => {
  it('FILL_OPTION_CODECS check a document stage, every option by name', () => {
    const codec = t.exact(t.partial(FILL_OPTION_CODECS));
    const good = codec.decode({ maxGapS: 1.2, horizonFrames: 8, bridgeInferred: false, suppressIoU: 0.5 });
    expect(isRight(good) && good.right).toEqual({
      maxGapS: 1.2,
      horizonFrames: 8,
      bridgeInferred: false,
      suppressIoU: 0.5,
    });
    expect(isRight(codec.decode({ horizonFrames: -1 }))).toBe(false);
    expect(isRight(codec.decode({ suppressIoU: 2 }))).toBe(false);
  });
});

describe('fill: keypoints', () => {
  /** 32 points panning 3 px a frame to the left; point 5 leaves the picture, point 9 is never seen. */
  const pointsAt = (n: number): Array<[number, number]> =>
    Array.from({ length: 32 }, (_, index) => {
      if (index === 9) return [0, 0];
      return [index === 5 ? 20 - 3 * n : 100 + index * 30 - 3 * n, 50 + index * 10];
    });
  const results = (stride: number, frames: number, hide?: (index: number, n: number) => boolean) =>
    inferAt([], stride, frames).map((result) => ({
      ...result,
      keypoints: pointsAt(result.frameNumber).map((point, index) =>
        hide?.(index, result.frameNumber) || point[0] < 0 ? ([0, 0] as [number, number]) : point,
      ),
    }));

  it('present in every frame, interpolated point by point at strides up to 8', () => {
    for (const stride of [1, 2, 3, 5, 8]) {
      const { frames } = fill(results(stride, 41), { frameCount: 41, complete: true });
      for (const frame of frames) {
        expect(frame.keypoints).toHaveLength(32);
        frame.keypoints!.forEach((point, index) => {
          const expected = pointsAt(frame.frameNumber)[index]!;
          // Point 9 is never seen; point 5 (x = 20 − 3n) is seen only while x >= 0, then carried.
          if (index === 9 || index === 5) return;
          if (expected[0] < 0) expect(point).toEqual([0, 0]);
          else {
            expect(point[0]).toBeCloseTo(expected[0], 9);
            expect(point[1]).toBeCloseTo(expected[1], 9);
          }
        });
        expect(frame.keypoints![9]).toEqual([0, 0]);
      }
    }
  });

  it('a point the model missed on one inferred frame is bridged; one that left the picture is carried until it leaves', () => {
    const { frames, stats } = fill(
      results(4, 21, (index, n) => index === 2 && n === 8),
      { frameCount: 21, complete: true },
    );
    expect(frames[8]!.keypoints![2]).toEqual(pointsAt(8)[2]);
    // Point 5: x = 20 − 3n, seen at 0 and 4 (x 20, 8); carried at −3 a frame: 5, 2, then out at frame 7.
    expect(frames.map((frame) => frame.keypoints![5]![0])).toEqual([
      20, 17, 14, 11, 8, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(stats.keypoints).toEqual({
      inferred: 6 * 30 - 1 + 2,
      interpolated: 15 * 30 + 1 + 3,
      extrapolated: 2,
    });
  });

  it('frames without keypoints get none when no inferred frame had any', () => {
    const { frames } = fill(inferAt(LINEAR, 3, 10), {});
    expect(frames.every((frame) => frame.keypoints === undefined)).toBe(true);
  });
});

describe('fill after the real tracker, on the synthetic scene', () => {
  const spec: SceneSpec = { width: 1280, height: 720, fps: 25, frames: 100 };
  const rules = compileClassRules({ maxPerClass: { ball: 1 } }, SOCCER_CLASSES);

  function trackedAt(stride: number): TrackedFrameResult[] {
    const input: FrameResult[] = [];
    for (let n = 0; n < spec.frames; n += stride) {
      input.push({
        frameNumber: n,
        pts: n / spec.fps,
        width: spec.width,
        height: spec.height,
        inferredAt: 0,
        objects: sceneObjects(spec, n).map((object) => ({
          bbox: object.bbox,
          classId: object.classId,
          className: SOCCER_CLASSES[object.classId],
          score: 0.9,
        })),
      });
    }
    let out: TrackedFrameResult[] = [];
    from(input)
      .pipe(track({ matchBuffer: { 0: 8, 1: 0.5, 2: 0.5, 3: 0.5 } }), toArray())
      .subscribe((all) => (out = all));
    return out;
  }

  for (const stride of [1, 2, 3, 5]) {
    it(`stride ${stride}: every frame answered, one ball, one id per object, boxes near the truth`, () => {
      const { frames, stats } = fill(
        trackedAt(stride),
        { frameCount: spec.frames, complete: true },
        {
          select: (objects) => rules.limit(objects),
        },
      );
      expect(frames).toHaveLength(spec.frames);
      expect(stats.framesWithObjects).toBe(spec.frames);
      const idsOfTruth = new Map<number, Set<number>>();
      const truthsOfId = new Map<number, Set<number>>();
      let worst = 0;
      for (const frame of frames) {
        expect(frame.objects.filter((object) => object.classId === 0).length).toBeLessThanOrEqual(1);
        const truths = sceneObjects(spec, frame.frameNumber);
        expect(frame.objects).toHaveLength(truths.length);
        for (const object of frame.objects) {
          // The ground-truth object nearest to it, of its class.
          let best = truths[0]!;
          let bestError = Infinity;
          for (const candidate of truths) {
            if (candidate.classId !== object.classId) continue;
            const error = maxCornerError(object.bbox, candidate.bbox);
            if (error < bestError) [best, bestError] = [candidate, error];
          }
          worst = Math.max(worst, bestError);
          const ids = idsOfTruth.get(best.id) ?? new Set<number>();
          ids.add(object.trackId!);
          idsOfTruth.set(best.id, ids);
          const truthIds = truthsOfId.get(object.trackId!) ?? new Set<number>();
          truthIds.add(best.id);
          truthsOfId.set(object.trackId!, truthIds);
        }
      }
      // Every object of the scene followed under one id through every frame, filled ones included.
      expect([...idsOfTruth.values()].every((ids) => ids.size === 1)).toBe(true);
      expect(idsOfTruth.size).toBe(sceneObjects(spec, 0).length);
      // And no id ever moves to another object (a wrong stitch would).
      expect([...truthsOfId.values()].every((truthIds) => truthIds.size === 1)).toBe(true);
      // The scene's objects bounce off their cells' walls (not steady motion) and move at most about
      // 4 px a frame (the ball, at 720p 8): a bounce between two inferred frames costs at most half a
      // stride of motion, plus a pixel of rounding.
      expect(worst).toBeLessThanOrEqual(stride === 1 ? 0 : (8 * stride) / 2 + 1);
    });
  }
  it('stride 8 (ids no longer all kept by the tracker): still every frame answered, never two balls', () => {
    const { frames, stats } = fill(
      trackedAt(8),
      { frameCount: spec.frames, complete: true },
      {
        select: (objects) => rules.limit(objects),
      },
    );
    expect(frames).toHaveLength(spec.frames);
    expect(stats.framesWithObjects).toBe(spec.frames);
    expect(stats.tracksStitched).toBeGreaterThan(0);
    for (const frame of frames) {
      expect(frame.objects.filter((object) => object.classId === 0).length).toBeLessThanOrEqual(1);
    }
  });
});
