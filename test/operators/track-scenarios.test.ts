import { describe, expect, it } from 'vitest';
import { from, toArray } from 'rxjs';
import type { Detection } from '../../src/inference/yolo.js';
import type { FrameResult } from '../../src/operators/infer.js';
import { track, type TrackOptions, type TrackedFrameResult } from '../../src/operators/track.js';

/** A detection with a name, so that a scenario can ask which id each object got. */
type Named = Detection & { readonly name: string };

const box = (
  name: string,
  x: number,
  y: number,
  options: { score?: number; ball?: boolean } = {},
): Named => ({
  name,
  bbox: [x, y, x + 20, y + 40],
  classId: options.ball ? 0 : 2,
  className: options.ball ? 'ball' : 'player',
  score: options.score ?? 0.9,
});

const frame = (frameNumber: number, objects: Named[]): FrameResult => ({
  frameNumber,
  pts: frameNumber / 25,
  width: 640,
  height: 360,
  objects,
  inferredAt: 0,
});

function runTrack(frames: readonly FrameResult[], options: TrackOptions = {}): TrackedFrameResult[] {
  let results: TrackedFrameResult[] = [];
  from(frames)
    .pipe(track(options), toArray())
    .subscribe((all) => (results = all));
  return results;
}

/** name → the track id it had in each frame it was in, as [frameNumber, trackId] pairs. */
function idsByName(results: readonly TrackedFrameResult[]): Map<string, Array<[number, number]>> {
  const ids = new Map<string, Array<[number, number]>>();
  for (const result of results) {
    for (const object of result.objects) {
      const name = (object as unknown as Named).name;
      ids.set(name, [...(ids.get(name) ?? []), [result.frameNumber, object.trackId]]);
    }
  }
  return ids;
}

const distinct = (pairs: ReadonlyArray<[number, number]> | undefined) => [
  ...new Set(pairs?.map(([, id]) => id)),
];
const range = (from: number, to: number, step = 1) =>
  Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

describe('track scenarios', () => {
  it('two players crossing paths keep their ids, whatever order the detector lists them in', () => {
    // A walks right, B walks left 10 px lower; their boxes overlap for frames 21..29.
    const frames = range(0, 50).map((t) =>
      frame(
        t,
        [box('A', 100 + 4 * t, 100), box('B', 300 - 4 * t, 110)].sort((p, q) => p.bbox[0] - q.bbox[0]),
      ),
    );
    const ids = idsByName(runTrack(frames));
    expect(distinct(ids.get('A'))).toEqual([1]);
    expect(distinct(ids.get('B'))).toEqual([2]);
  });

  it('a player hidden behind another scores low while crossing and keeps its id through it (BYTE)', () => {
    const hidden = (t: number) => t >= 22 && t <= 28;
    const frames = range(0, 50).map((t) =>
      frame(t, [box('A', 100 + 4 * t, 100), box('B', 300 - 4 * t, 104, { score: hidden(t) ? 0.3 : 0.9 })]),
    );
    const ids = idsByName(runTrack(frames));
    expect(distinct(ids.get('A'))).toEqual([1]);
    expect(distinct(ids.get('B'))).toEqual([2]);

    // Without the low-score round the hidden frames give B throw-away ids; it still comes back as 2 after.
    const highOnly = idsByName(runTrack(frames, { lowThreshold: 0.5 }));
    const during = highOnly.get('B')!.filter(([t]) => hidden(t));
    expect(during.map(([, id]) => id)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(
      highOnly
        .get('B')!
        .filter(([t]) => !hidden(t))
        .every(([, id]) => id === 2),
    ).toBe(true);
  });

  it('a player missing for 5 frames gets its id back', () => {
    const frames = range(0, 30).map((t) =>
      frame(t, [box('still', 400, 200), ...(t >= 10 && t <= 14 ? [] : [box('runner', 50 + 3 * t, 100)])]),
    );
    const ids = idsByName(runTrack(frames));
    expect(ids.get('runner')!.map(([t]) => t)).toEqual([...range(0, 9), ...range(15, 30)]);
    expect(distinct(ids.get('runner'))).toEqual([2]);
    expect(distinct(ids.get('still'))).toEqual([1]);
  });

  it('a new player gets a new id from its first frame; ids are never reused', () => {
    const frames = range(0, 12).map((t) =>
      frame(t, [
        box('P', 100, 100),
        box('Q', 200, 100),
        ...(t >= 5 ? [box('R', 300, 200)] : []),
        // A one-frame false positive: a track is born (unconfirmed) and dropped the next frame.
        ...(t === 8 ? [box('ghost', 500, 50)] : []),
        ...(t >= 10 ? [box('S', 400, 300)] : []),
      ]),
    );
    const ids = idsByName(runTrack(frames));
    expect(distinct(ids.get('P'))).toEqual([1]);
    expect(distinct(ids.get('Q'))).toEqual([2]);
    expect(ids.get('R')).toEqual(range(5, 12).map((t) => [t, 3]));
    expect(ids.get('ghost')).toEqual([[8, 4]]);
    expect(ids.get('S')).toEqual(range(10, 12).map((t) => [t, 5]));
  });

  it('a track unseen for longer than trackBuffer frames is gone', () => {
    // Seen in frames 0..10, then frames without it until `back`.
    const seen = (back: number, every = 1) =>
      range(0, back + every, every).map((t) => frame(t, t <= 10 || t >= back ? [box('P', 100, 100)] : []));
    const idsOf = (results: TrackedFrameResult[]) => distinct(idsByName(results).get('P'));
    // Frame 40 is 30 frames after the last sighting: still within the default buffer.
    expect(idsOf(runTrack(seen(40)))).toEqual([1]);
    expect(idsOf(runTrack(seen(41)))).toEqual([1, 2]);
    expect(idsOf(runTrack(seen(15), { trackBuffer: 5 }))).toEqual([1]);
    expect(idsOf(runTrack(seen(16), { trackBuffer: 5 }))).toEqual([1, 2]);
    // Strided: the buffer is counted in source frames, not in results.
    expect(idsOf(runTrack(seen(40, 5)))).toEqual([1]);
    expect(idsOf(runTrack(seen(45, 5)))).toEqual([1, 2]);
  });

  it('a followed track survives a frame gap longer than the buffer: it was not missed in between', () => {
    const results = runTrack([0, 1, 100].map((t) => frame(t, [box('P', 100, 100)])));
    expect(results.map((r) => r.objects[0]!.trackId)).toEqual([1, 1, 1]);
  });

  it('strided input: each track is predicted across the frame gap', () => {
    // 2 px a frame, every 5th frame: 10 px between results.
    const runner = (t: number) => box('runner', 50 + 2 * t, 100);
    const strided = range(0, 100, 5).map((t) => frame(t, [runner(t)]));
    expect(distinct(idsByName(runTrack(strided)).get('runner'))).toEqual([1]);

    // Frames 0, 2, …, 20, then 30: a 20 px jump that only a prediction over 10 frames expects.
    const irregular = [...range(0, 20, 2), 30].map((t) => frame(t, [runner(t)]));
    expect(distinct(idsByName(runTrack(irregular)).get('runner'))).toEqual([1]);
    // The same boxes numbered as consecutive frames: the jump no longer fits the motion, the id changes.
    const renumbered = irregular.map((result, i) => ({ ...result, frameNumber: i }));
    expect(distinct(idsByName(runTrack(renumbered)).get('runner'))).toEqual([1, 2]);
  });

  it('a detection never takes the id of a track of another class', () => {
    // The player vanishes in frame 3; a ball-class box appears exactly where the player was.
    const frames = range(0, 5).map((t) =>
      frame(t, t < 3 ? [box('player', 100, 100)] : [box('ball', 100, 100, { ball: true })]),
    );
    const ids = idsByName(runTrack(frames));
    expect(distinct(ids.get('player'))).toEqual([1]);
    expect(distinct(ids.get('ball'))).toEqual([2]);
  });

  it('objects outside any track get a fresh id each frame, or are dropped with untracked: "drop"', () => {
    const frames = range(0, 3).map((t) =>
      frame(t, [
        box('P', 100, 100),
        // Too low to track at all, and confident but not enough to start a track.
        box('faint', 300, 100, { score: 0.05 }),
        box('doubtful', 400, 100, { score: 0.55 }),
        // Unusable boxes are never tracked, and never break the tracker.
        { ...box('broken', 0, 0), bbox: [Number.NaN, 0, 10, 10] },
        { ...box('flat', 0, 0), bbox: [10, 10, 20, 10] },
      ]),
    );
    const results = runTrack(frames);
    expect(results.map((r) => r.objects.map((o) => o.trackId))).toEqual([
      [1, 2, 3, 4, 5],
      [1, 6, 7, 8, 9],
      [1, 10, 11, 12, 13],
      [1, 14, 15, 16, 17],
    ]);
    const dropped = runTrack(frames, { untracked: 'drop' });
    expect(dropped.map((r) => r.objects.map((o) => [(o as unknown as Named).name, o.trackId]))).toEqual(
      range(0, 3).map(() => [['P', 1]]),
    );
  });
});
