import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError } from '../../../src/core/errors.js';
import type { StageEvent } from '../../../src/core/events.js';
import { makeEditStartClips, type EditStartClips } from '../../../src/fixtures/edit-start.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { editStart, type EditStart } from '../../../src/media/mp4-index.js';
import { decode } from '../../../src/operators/decode.js';
import {
  EditStartSkip,
  type EditSkipHost,
  type MainTiming,
} from '../../../src/operators/decode/edit-skip.js';
import { startNetSim, type NetSim } from '../../../src/sim/netsim.js';
import { byteBudget } from '../../../src/sources/budget.js';
import { createDispatcher } from '../../../src/sources/dispatcher.js';
import { httpSource } from '../../../src/sources/http.js';
import type { ByteChunk, ByteRange } from '../../../src/sources/types.js';
import { probeFrameTimes } from '../../support/ffprobe.js';
import { testFixtures } from '../../support/fixtures.js';
import { recordingContext } from './fake-context.js';

let clips: EditStartClips;
let sim: NetSim;
let dispatcher: Dispatcher;

beforeAll(async () => {
  clips = await makeEditStartClips(await testFixtures());
  sim = await startNetSim({
    files: {
      '/faststart.mp4': readFileSync(clips.faststart.file),
      '/moov-end.mp4': readFileSync(clips['moov-end'].file),
    },
  });
  dispatcher = createDispatcher();
});
afterAll(async () => {
  await dispatcher?.destroy();
  await sim?.close();
});

function moovOf(file: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(file));
  const moov = scanTopLevelBoxes(bytes).find((box) => box.type === 'moov')!;
  return bytes.subarray(moov.offset, moov.offset + moov.size);
}

/** ffprobe's first video packet (FFmpeg's index after the edit: the sync sample) and first shown frame. */
function probeStart(file: string): { syncPos: number; firstShownPos: number; firstShownKey: boolean } {
  const probe = (args: string[]) =>
    execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', ...args, '-of', 'csv=p=0', file], {
      encoding: 'utf8',
    });
  const packet = probe([
    '-show_packets',
    '-show_entries',
    'packet=pos,flags',
    '-read_intervals',
    '%+#1',
  ]).trim();
  // The first frame shown: every packet up to it is read (the trimmed ones are decoded, then dropped).
  const frame = probe(['-show_frames', '-show_entries', 'frame=pkt_pos,key_frame']).split('\n')[0]!;
  const [keyFrame, framePos] = frame.split(',');
  return {
    syncPos: Number(packet.split(',')[0]),
    firstShownPos: Number(framePos),
    firstShownKey: keyFrame === '1',
  };
}

describe('editStart (src/media/mp4-edit-start.ts): where a trimmed start begins', () => {
  it.each(['faststart', 'moov-end'] as const)(
    '%s: the sync sample and the first sample shown, as ffprobe says',
    (layout) => {
      const file = clips[layout].file;
      const plan = editStart(moovOf(file)) as EditStart;
      const probed = probeStart(file);
      // 2.4 s trimmed of a 25 fps clip with keyframes every 50 frames: shown from sample 61 (a B-frame), after
      // the keyframe at sample 50; the media time also holds x264's two-frame B delay (1024 + 2.4 × 12800).
      expect(plan).toMatchObject({
        timescale: 12800,
        mediaTime: 31744,
        samples: 100,
        sync: { index: 50, offset: probed.syncPos, size: 4893, pts: 26624 },
        firstShown: { index: 61, offset: probed.firstShownPos, size: 693, pts: 31744 },
        neededEnd: probed.firstShownPos + 693,
      });
      expect(probed.firstShownKey).toBe(false);
      expect(plan.sync.offset).toBe(layout === 'faststart' ? 42211 : 40462);
    },
  );

  it('a clip without a trimmed start, and one whose first shown frame follows the first sync sample', async () => {
    const set = await testFixtures();
    // The fixture set's editlist clip: frame 0 is sample 11, and the sync sample before it is the first.
    expect(editStart(moovOf(set.clips['editlist']!.file))).toMatchObject({
      sync: { index: 0 },
      firstShown: { index: 11 },
    });
    // moov-end.mp4's edit only covers the B-frame delay: the first sample is the first shown.
    expect(editStart(moovOf(set.clips['moov-end']!.file))).toMatchObject({
      sync: { index: 0 },
      firstShown: { index: 0 },
    });
    expect(editStart(moovOf(set.clips['fragmented']!.file))).toBe('no edit trims the start');
  });
});

async function decodeOverSim(
  layout: 'faststart' | 'moov-end',
  options: { editSkip?: boolean; range?: boolean } = {},
) {
  const first = sim.requests.length;
  const events: StageEvent[] = [];
  const budget = byteBudget(undefined, () => new SourceError('FF_ERR_LIMIT_BYTES', 'over'));
  const url = sim.urlFor(`/${layout}.mp4`, {
    rateBytesPerSec: 50_000,
    ttfbMs: 10,
    ...(options.range === false ? { range: false } : {}),
  });
  const frames = await lastValueFrom(
    httpSource(url, { dispatcher, budget }).pipe(
      decode({
        imgSize: 320,
        keepFrame: () => false,
        ...(options.editSkip === undefined ? {} : { editSkip: options.editSkip }),
        onEvent: (event) => events.push(event),
      }),
      toArray(),
    ),
  );
  const requests = sim.requests.slice(first);
  const ended = await Promise.all(requests.map((request) => sim.waitForRequestEnd(request.id)));
  const named = (name: string) => events.filter((e) => e.name === name).map((e) => e.data);
  return { frames, requests: ended, budget, named };
}

describe('decode: an edit list that trims the start, over the loopback simulator (50 KB/s, 10 ms)', () => {
  it.each([
    ['faststart', 'bytes=42211-', 82185 - 42211],
    ['moov-end', 'bytes=40462-80435', 80436 - 40462],
  ] as const)(
    '%s: fetched from the sync sample, frames as ffprobe numbers them',
    async (layout, header, rangeBytes) => {
      const file = clips[layout].file;
      const { frames, requests, budget, named } = await decodeOverSim(layout);
      const times = probeFrameTimes(file);
      expect(times).toHaveLength(40);
      expect(frames.map((f) => f.frameNumber)).toEqual(times.map((_, index) => index));
      frames.forEach((frame, index) => expect(frame.pts).toBeCloseTo(times[index]!, 6));
      expect(frames[0]!.keyFrame).toBe(false);

      expect(named('edit-skip-declined')).toEqual([]);
      expect(named('edit-skip-abandoned')).toEqual([]);
      const skipRequest = requests.find((r) => r.rangeHeader === header)!;
      expect(skipRequest).toMatchObject({ status: 206, bodyBytesSent: rangeBytes, outcome: 'complete' });
      const main = requests[0]!;
      expect(main).toMatchObject({ rangeHeader: undefined, outcome: 'client-closed' });
      expect(main.bodyBytesSent).toBeLessThan(layout === 'faststart' ? 42211 : 40462);
      // moov-end: the moov's own Range request (1749 bytes) besides.
      expect(requests.map((r) => r.rangeHeader)).toEqual(
        layout === 'faststart' ? [undefined, header] : [undefined, 'bytes=80436-', header],
      );
      const moovBytes = layout === 'faststart' ? 0 : 1749;
      // Every byte is counted against the run's budget: what the client read of the main response, the moov
      // and the skip's Range response.
      expect(budget.used).toBeGreaterThanOrEqual(rangeBytes + moovBytes);
      expect(budget.used).toBeLessThanOrEqual(main.bodyBytesSent + rangeBytes + moovBytes);
      expect(named('edit-skip')).toHaveLength(1);
      expect(named('edit-skip-switched')).toHaveLength(1);
      expect(named('end')[0]).toMatchObject({
        reason: 'complete',
        framesDecoded: 40,
        // Trimmed B-frames 57, 58 and 60 (decode order) reference nothing: left undecoded.
        trimmedSkipped: 3,
        packetsBeforeSync: 0,
        truncated: false,
      });
    },
  );

  it.each([
    ['faststart', 82185],
    ['moov-end', 82185 + 1749],
  ] as const)('%s without the skip (editSkip: false): every byte from offset 0', async (layout, total) => {
    const { frames, requests, budget, named } = await decodeOverSim(layout, { editSkip: false });
    expect(frames.map((f) => f.frameNumber)).toEqual([...Array(40).keys()]);
    expect(named('edit-skip')).toEqual([]);
    // moov-end: the main response is closed at the moov (80436), the simulator may have sent more of it.
    const sent = requests.reduce((sum, r) => sum + r.bodyBytesSent, 0);
    if (layout === 'faststart') expect(budget.used).toBe(total);
    expect(sent).toBeGreaterThanOrEqual(80436);
    expect(sent).toBeLessThanOrEqual(total);
    expect(named('end')[0]).toMatchObject({ framesDecoded: 40, trimmedSkipped: 3 });
  });

  it('a server that ignores Range: the main response goes on, every frame as without the skip', async () => {
    const { frames, requests, named } = await decodeOverSim('faststart', { range: false });
    expect(frames.map((f) => f.frameNumber)).toEqual([...Array(40).keys()]);
    expect(named('edit-skip-abandoned')[0]!.reason).toMatch(/^the Range request failed: /);
    expect(requests[0]!).toMatchObject({ outcome: 'complete', bodyBytesSent: 82185 });
  });
});

describe('EditStartSkip: the decision', () => {
  const plan = { sync: { offset: 50_000 }, firstShown: { offset: 60_000 } } as EditStart;

  /** The skip's host over `context`: 10 000 bytes in, no byte limit, nothing done on a switch. */
  function hostOf(
    context: ReturnType<typeof recordingContext>,
    fields: Partial<EditSkipHost> = {},
  ): EditSkipHost {
    return Object.assign(context, {
      byteLimit: undefined,
      offsetReached: 10_000,
      inputEnded: false,
      switchInput: () => undefined,
      onInputChunk: (_chunk: ByteChunk) => undefined,
      onInputEnd: () => undefined,
      ...fields,
    });
  }

  /** A skip on a main response 10 ms in (TTFB 10 ms) deciding at 110 ms; the Ranges it asked for. */
  function decided(resource: Record<string, number>, rangeEnd: number | undefined, byteLimit?: number) {
    const asked: ByteRange[] = [];
    const context = recordingContext({
      ...resource,
      fetchRange: (range: ByteRange) => (asked.push(range), new Subject<ByteChunk>()),
    });
    new EditStartSkip(
      hostOf(context, { byteLimit }),
      { startedAt: 90, firstChunkAt: 100, firstChunkEnd: 1000 },
      plan,
      0,
      rangeEnd,
    ).consider(110);
    return { asked, context };
  }

  function skipWith(reached: number, timing: Partial<MainTiming>, fetchRange?: (range: ByteRange) => never) {
    const ranges: ByteRange[] = [];
    const context = recordingContext({
      fetchRange: (range: ByteRange) => {
        ranges.push(range);
        return fetchRange
          ? fetchRange(range)
          : (new (class {
              subscribe() {
                return { unsubscribe: () => undefined };
              }
            })() as never);
      },
    });
    const host = hostOf(context, { offsetReached: reached });
    const full: MainTiming = { startedAt: 0, firstChunkAt: 100, firstChunkEnd: 1000, ...timing };
    return { skip: new EditStartSkip(host, full, plan, 0, undefined), ranges, context };
  }

  it('fetches when the bytes saved outweigh TTFB × rate, measured on the main response', () => {
    // TTFB 100 ms, 9000 bytes in 10 ms after the first chunk: 900 B/ms, a request costs 90 000 bytes.
    const declined = skipWith(10_000, {});
    declined.skip.consider(110);
    expect(declined.ranges).toEqual([]);
    expect(declined.context.named('edit-skip-declined')).toEqual([
      { reason: 'skipping saves less than a request costs', saved: 40_000, requestCost: 90_000 },
    ]);
    // TTFB 10 ms: a request costs 9000 bytes, skipping saves 40 000.
    const taken = skipWith(10_000, { startedAt: 90 });
    taken.skip.consider(110);
    expect(taken.ranges).toEqual([{ start: 50_000 }]);
    expect(taken.context.named('edit-skip')[0]).toMatchObject({ saved: 40_000, requestCost: 9000 });
  });

  it('waits for a second moment on the main response before measuring its rate', () => {
    const waiting = skipWith(1000, {});
    waiting.skip.consider(100);
    expect(waiting.ranges).toEqual([]);
    expect(waiting.context.events).toEqual([]);
  });

  it('the main response ends while the Range is on its way: the Range is closed, a late byte ignored', () => {
    const range = new Subject<ByteChunk>();
    const chunks: ByteChunk[] = [];
    const context = recordingContext({ fetchRange: () => range });
    const host = hostOf(context, { onInputChunk: (chunk: ByteChunk) => chunks.push(chunk) });
    const skip = new EditStartSkip(
      host,
      { startedAt: 90, firstChunkAt: 100, firstChunkEnd: 1000 },
      plan,
      0,
      undefined,
    );
    skip.consider(110);
    expect(range.observed).toBe(true);
    skip.mainEnded();
    expect(range.observed).toBe(false);
    range.next({ bytes: new Uint8Array(10), offset: 50_000, receivedAt: 120, resource: context.resource! });
    expect(chunks).toEqual([]);
    expect(skip.switched).toBe(false);
    expect(context.named('edit-skip-abandoned')).toEqual([
      { reason: 'the main response ended before the Range response began' },
    ]);
  });

  it.each([
    ['the partial limit', { partialBytes: 80_000 }, undefined, [{ start: 50_000, end: 79_999 }]],
    [
      'the moov (moov at the end) before the partial limit',
      { partialBytes: 80_000 },
      69_999,
      [{ start: 50_000, end: 69_999 }],
    ],
    ['the partial limit before the moov', { partialBytes: 60_000 }, 69_999, [{ start: 50_000, end: 59_999 }]],
  ] as const)('the Range ends at %s', (_, resource, rangeEnd, ranges) => {
    expect(decided(resource, rangeEnd).asked).toEqual(ranges);
  });

  it.each([
    ['the resource size', { totalBytes: 50_000 }, undefined, undefined, "the resource's 50000 bytes"],
    ['the media data (moov at the end)', {}, 49_999, undefined, 'the media data (the moov at byte 50000)'],
    [
      'the partial limit',
      { partialBytes: 50_000 },
      undefined,
      undefined,
      'the 50000 bytes the main response reads',
    ],
    ['the run byte limit', {}, undefined, 50_000, "the run's byte limit of 50000"],
  ] as const)(
    'declines a sync sample at or past %s, before any request',
    (_, resource, rangeEnd, byteLimit, bound) => {
      const { asked, context } = decided(resource, rangeEnd, byteLimit);
      expect(asked).toEqual([]);
      expect(context.named('edit-skip-declined')).toEqual([
        { reason: `the sync sample at byte 50000 lies past ${bound}` },
      ]);
    },
  );

  it('declines once the input is past the sync sample', () => {
    const past = skipWith(50_000, {});
    past.skip.consider(200);
    expect(past.context.named('edit-skip-declined')).toEqual([
      { reason: 'the input already reached the sync sample' },
    ]);
  });
});
