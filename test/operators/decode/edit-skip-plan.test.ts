import { NEVER, Observable, of } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeEditStartClips, type EditStartClips } from '../../../src/fixtures/edit-start.js';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import { EditSkipPlanner } from '../../../src/operators/decode/edit-skip-plan.js';
import type { ByteChunk, ByteRange, ResourceInfo } from '../../../src/sources/types.js';
import { testFixtures } from '../../support/fixtures.js';
import { topLevel } from '../../media/mp4-samples.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

let fixtures: FixtureSet;
let clips: EditStartClips;
beforeAll(async () => {
  fixtures = await testFixtures();
  clips = await makeEditStartClips(fixtures);
});

/** What the planner's skip asks of the session, recorded. */
type Host = RecordingContext & {
  readonly byteLimit: number | undefined;
  offsetReached: number;
  inputEnded: boolean;
  /** The filler byte counts switchInput was called with. */
  readonly switches: number[];
  switchInput(fillerBytes: number): void;
  onInputChunk(chunk: ByteChunk): void;
  onInputEnd(error?: unknown): void;
};

/** A session as the planner's skip sees it; `fetchRange` answers the skip's Range request. */
function host(fetchRange?: (range: ByteRange) => Observable<ByteChunk>): Host {
  const context = recordingContext({ totalBytes: 82_185, fetchRange } as Partial<ResourceInfo>);
  const switches: number[] = [];
  const session: Host = Object.assign(context, {
    byteLimit: undefined,
    offsetReached: 0,
    inputEnded: false,
    switches,
    switchInput: (filler: number) => switches.push(filler),
    onInputChunk: () => {},
    onInputEnd: () => {},
  });
  return session;
}

/**
 * Two main-response chunks 20 ms apart (1 KB each, the first 1 ms after the request): a rate the skip can
 * measure, and a request that costs 50 bytes, far less than the 40 KB before the sync sample.
 */
function mainResponse(planner: EditSkipPlanner, session: Host): void {
  const resource = session.resource!;
  const first = performance.now() + 1;
  for (const [index, receivedAt] of [first, first + 20].entries()) {
    const chunk = { offset: index * 1000, bytes: new Uint8Array(1000), receivedAt, resource };
    session.offsetReached = chunk.offset + 1000;
    planner.mainChunk(chunk);
  }
}

const moovOf = (file: string) => topLevel(file, 'moov');

/** A Range fetch that records each range and answers with 10 bytes from its start. */
function answering(ranges: ByteRange[], resource: () => ResourceInfo) {
  return (range: ByteRange): Observable<ByteChunk> => {
    ranges.push(range);
    const offset = 'start' in range ? range.start : -1;
    return of({ offset, bytes: new Uint8Array(10), receivedAt: 0, resource: resource() });
  };
}

describe('EditSkipPlanner', () => {
  it('plans the skip once, when the accepted moov trims the start past a sync sample', () => {
    const session = host();
    const planner = new EditSkipPlanner(session, true);
    const moov = moovOf(clips.faststart.file);
    planner.moovAccepted(moov.bytes, 'faststart', undefined);
    planner.moovAccepted(moov.bytes, 'faststart', undefined);
    expect(session.named('edit-start')).toEqual([
      {
        mediaTime: 31744,
        syncSample: 50,
        syncOffset: 42211,
        firstShownSample: 61,
        firstShownOffset: 54561,
        neededEnd: 55254,
      },
    ]);
    expect([planner.switched, planner.decodeFrom]).toEqual([false, undefined]);
  });

  it('plans nothing with editSkip false, for another layout, or where frame 0 is the first sync sample', () => {
    const trimmed = moovOf(clips.faststart.file).bytes;
    const cases: Array<[boolean, Uint8Array, 'faststart' | 'fragmented' | 'other']> = [
      [false, trimmed, 'faststart'],
      [true, trimmed, 'fragmented'],
      [true, trimmed, 'other'],
      // The test clips' edit lists only hide the B-frame delay or frames after the first keyframe.
      [true, moovOf(fixtures.clips['faststart']!.file).bytes, 'faststart'],
      [true, moovOf(fixtures.clips['editlist']!.file).bytes, 'faststart'],
    ];
    for (const [enabled, moov, layout] of cases) {
      const session = host(() => NEVER);
      const planner = new EditSkipPlanner(session, enabled);
      planner.mainStarted();
      planner.moovAccepted(moov, layout, undefined);
      mainResponse(planner, session);
      expect(session.events).toEqual([]);
    }
  });

  it('faststart: the main response timed, the Range from the sync sample, FFmpeg decoding from it', () => {
    const ranges: ByteRange[] = [];
    const session = host(answering(ranges, () => session.resource!));
    const planner = new EditSkipPlanner(session, true);
    planner.mainStarted();
    planner.moovAccepted(moovOf(clips.faststart.file).bytes, 'faststart', undefined);
    mainResponse(planner, session);
    expect(ranges).toEqual([{ start: 42211 }]);
    expect(session.named('edit-skip')[0]).toMatchObject({ syncOffset: 42211, from: 2000, saved: 40211 });
    expect(session.switches).toEqual([42211 - 2000]);
    expect([planner.switched, planner.decodeFrom]).toEqual([true, 42211]);
  });

  it("moov at the end: the Range stops before the moov, FFmpeg's positions shifted by the moov's size", () => {
    const ranges: ByteRange[] = [];
    const session = host(answering(ranges, () => session.resource!));
    const planner = new EditSkipPlanner(session, true);
    planner.mainStarted();
    const moov = moovOf(clips['moov-end'].file);
    expect([moov.offset, moov.bytes.byteLength]).toEqual([80436, 1749]);
    planner.moovAccepted(moov.bytes, 'moov-end', moov.offset);
    planner.moovReady();
    mainResponse(planner, session);
    expect(ranges).toEqual([{ start: 40462, end: 80435 }]);
    expect([planner.switched, planner.decodeFrom]).toEqual([true, 40462 + 1749]);
  });

  it('the main response ended: the planned skip is over; release closes a Range on its way', () => {
    const ended = host(() => NEVER);
    const planner = new EditSkipPlanner(ended, true);
    planner.mainStarted();
    planner.moovAccepted(moovOf(clips.faststart.file).bytes, 'faststart', undefined);
    planner.mainEnded();
    mainResponse(planner, ended);
    expect(ended.named('edit-skip')).toEqual([]);

    let closed = false;
    const fetching = host(() => new Observable<ByteChunk>(() => () => (closed = true)));
    const releasing = new EditSkipPlanner(fetching, true);
    releasing.mainStarted();
    releasing.moovAccepted(moovOf(clips.faststart.file).bytes, 'faststart', undefined);
    mainResponse(releasing, fetching);
    expect(fetching.named('edit-skip')).toHaveLength(1);
    releasing.release();
    expect(closed).toBe(true);
    expect(releasing.switched).toBe(false);
  });
});
