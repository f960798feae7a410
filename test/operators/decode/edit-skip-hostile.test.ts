/**
 * The edit-start skip against hostile servers: a moov whose chunk offsets lie gigabytes (or 2^50 bytes)
 * in, a Range response whose Content-Range forges its start or the resource's size, a main response that
 * ends while the skip's Range is on its way, and the Range's end under the `partial` strategy.
 */
import { readFileSync } from 'node:fs';
import { lastValueFrom, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError, isFirstframeError } from '../../../src/core/errors.js';
import type { StageEvent } from '../../../src/core/events.js';
import { makeEditStartClips } from '../../../src/fixtures/edit-start.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { editStart, type EditStart } from '../../../src/media/mp4-index.js';
import { decode, type DecodeOptions } from '../../../src/operators/decode.js';
import { EDIT_SKIP_MAX_OFFSET } from '../../../src/operators/decode/edit-skip.js';
import { startNetSim, type NetSim } from '../../../src/sim/netsim.js';
import { byteBudget } from '../../../src/sources/budget.js';
import { createDispatcher } from '../../../src/sources/dispatcher.js';
import { httpSource, type HttpSourceOptions } from '../../../src/sources/http.js';
import { testFixtures } from '../../support/fixtures.js';
import { startForgingServer, withFirstChunkAt, type ForgingServerOptions } from './forging-server.js';

/** The faststart edit-start clip: 82 185 bytes, first chunk at 1797, the sync sample before frame 0 at 42 211. */
let clip: Buffer;
let sim: NetSim;
let dispatcher: Dispatcher;

const SYNC_AT = 42211;
const CLIP_BYTES = 82185;

beforeAll(async () => {
  clip = readFileSync((await makeEditStartClips(await testFixtures())).faststart.file);
  sim = await startNetSim({
    files: {
      '/faststart.mp4': clip,
      '/co64.mp4': withFirstChunkAt(clip, 2n ** 50n),
      '/stco.mp4': withFirstChunkAt(clip, 0xf000_0000n),
    },
  });
  dispatcher = createDispatcher();
});
afterAll(async () => {
  await dispatcher?.destroy();
  await sim?.close();
});

function moovOf(bytes: Uint8Array): Uint8Array {
  const moov = scanTopLevelBoxes(bytes).find((box) => box.type === 'moov')!;
  return bytes.subarray(moov.offset, moov.offset + moov.size);
}

/** Decodes `url` to the end; the frames' numbers, the error's code, the events by name, the bytes read. */
async function run(url: string, options: DecodeOptions = {}, source: HttpSourceOptions = {}) {
  const events: StageEvent[] = [];
  const budget = byteBudget(undefined, () => new SourceError('FF_ERR_LIMIT_BYTES', 'over'));
  let frames: number[] = [];
  let code: string | undefined;
  try {
    const out = await lastValueFrom(
      httpSource(url, { dispatcher, budget, ...source }).pipe(
        decode({ imgSize: 160, keepFrame: () => false, onEvent: (event) => events.push(event), ...options }),
        toArray(),
      ),
    );
    frames = out.map((frame) => frame.frameNumber);
  } catch (error) {
    code = isFirstframeError(error) ? error.code : `untyped: ${String(error)}`;
  }
  const named = (name: string) => events.filter((e) => e.name === name).map((e) => e.data);
  return { frames, code, named, events, bytesRead: budget.used };
}

describe('editStart: chunk offsets a moov may not give', () => {
  it('a co64 offset past 2^53 makes the moov malformed; 2^50 is read as it is', () => {
    expect(editStart(moovOf(withFirstChunkAt(clip, 2n ** 63n)))).toBe(
      'a malformed moov: a chunk offset of 9223372036854775808 (past 2^53)',
    );
    const plan = editStart(moovOf(withFirstChunkAt(clip, 2n ** 50n))) as EditStart;
    expect(plan.sync).toMatchObject({ index: 50, offset: 2 ** 50 + SYNC_AT - 1797 });
  });
});

describe('edit-start skip: a sync sample no download could reach is never jumped to', () => {
  it.each(['co64', 'stco'] as const)(
    '%s offsets past the end, the size known (the simulator): the moov check refuses them first',
    async (name) => {
      const first = sim.requests.length;
      const url = sim.urlFor(`/${name}.mp4`, { rateBytesPerSec: 50_000, ttfbMs: 10 });
      const { code, named, bytesRead } = await run(url);
      expect(code).toBe('FF_ERR_MP4_STRUCTURE');
      expect(named('edit-start')).toEqual([]);
      expect(sim.requests.slice(first).map((r) => r.rangeHeader)).toEqual([undefined]);
      // Up to the chunk that completed the moov (it ends at byte 1781, co64: 1785), no further.
      expect(bytesRead).toBeGreaterThanOrEqual(name === 'co64' ? 1785 : 1781);
      expect(bytesRead).toBeLessThan(CLIP_BYTES);
    },
  );

  // The server answers any Range with the start asked for (the check the skip had) and a size to match.
  const forgeAll: ForgingServerOptions['answerRange'] = (start) => ({
    claimStart: start,
    claimTotal: String(start + 1_000_000),
  });

  it.each([
    ['the skip bound', 2n ** 50n, {}, `the ${EDIT_SKIP_MAX_OFFSET} bytes a skip may jump`],
    ['the skip bound', 0xf000_0000n, {}, `the ${EDIT_SKIP_MAX_OFFSET} bytes a skip may jump`],
    ['the run byte limit', 2n ** 50n, { maxBytes: 1_000_000 }, "the run's byte limit of 1000000"],
  ] as const)(
    'size unknown, %s, first chunk at %s, a server that forges Content-Range: declined, no Range sent',
    async (_, first, options, bound) => {
      const file = withFirstChunkAt(clip, first);
      const server = await startForgingServer(file, { contentLength: false, answerRange: forgeAll });
      try {
        const { code, named, bytesRead } = await run(server.url, options);
        expect(named('edit-skip-declined')).toEqual([
          { reason: `the sync sample at byte ${Number(first) + SYNC_AT - 1797} lies past ${bound}` },
        ]);
        expect(server.requests.map((r) => r.range)).toEqual([undefined]);
        expect(bytesRead).toBe(file.byteLength);
        expect(code).toBe('FF_ERR_NO_FRAMES');
      } finally {
        await server.close();
      }
    },
  );

  it('a genuine sync sample at the run byte limit: declined; below it: taken', async () => {
    const server = await startForgingServer(clip, {
      contentLength: false,
      answerRange: (start) => ({
        claimStart: start,
        claimTotal: String(CLIP_BYTES),
        body: clip.subarray(start),
      }),
    });
    try {
      const limited = await run(server.url, { maxBytes: SYNC_AT });
      expect(limited.named('edit-skip-declined')).toEqual([
        { reason: `the sync sample at byte ${SYNC_AT} lies past the run's byte limit of ${SYNC_AT}` },
      ]);
      expect(limited.frames).toEqual([...Array(40).keys()]);
      expect(limited.bytesRead).toBe(CLIP_BYTES);
      expect(server.requests.map((r) => r.range)).toEqual([undefined]);

      const taken = await run(server.url, { maxBytes: SYNC_AT + 1 });
      expect(taken.named('edit-skip-switched')).toHaveLength(1);
      expect(taken.frames).toEqual([...Array(40).keys()]);
      expect(server.requests.map((r) => r.range)).toEqual([undefined, undefined, `bytes=${SYNC_AT}-`]);
      expect(server.requests[2]).toMatchObject({ bodyBytes: CLIP_BYTES - SYNC_AT, closedEarly: false });
    } finally {
      await server.close();
    }
  });
});

describe('edit-start skip: a Range response that forges its Content-Range is abandoned', () => {
  it.each([
    [
      'another start',
      { claimStart: SYNC_AT - 1000, claimTotal: String(CLIP_BYTES) },
      `the Range response began at byte ${SYNC_AT - 1000}, not ${SYNC_AT}`,
    ],
    [
      'a size the sync sample lies past',
      { claimStart: SYNC_AT, claimTotal: '1000' },
      `the sync sample at byte ${SYNC_AT} lies past the resource's 1000 bytes`,
    ],
  ] as const)('%s: the main response goes on, every frame', async (_, claim, reason) => {
    const server = await startForgingServer(clip, { contentLength: false, answerRange: () => claim });
    try {
      const { frames, code, named } = await run(server.url);
      expect(code).toBeUndefined();
      expect(named('edit-skip')).toHaveLength(1);
      expect(named('edit-skip-abandoned')).toEqual([{ reason }]);
      expect(named('edit-skip-switched')).toEqual([]);
      expect(frames).toEqual([...Array(40).keys()]);
      expect(server.requests.map((r) => r.range)).toEqual([undefined, `bytes=${SYNC_AT}-`]);
      expect(server.requests[0]).toMatchObject({ bodyBytes: CLIP_BYTES, closedEarly: false });
    } finally {
      await server.close();
    }
  });
});

describe('edit-start skip: the main response ends while the Range is on its way', () => {
  it('the skip is dropped, its Range closed unanswered; nothing reaches FFmpeg after the input ended', async () => {
    const server = await startForgingServer(clip, {
      contentLength: false,
      mainBytes: 30_000,
      answerRange: (start) => ({ claimStart: start, claimTotal: String(CLIP_BYTES), afterMainEnded: true }),
    });
    try {
      const { code, named, events } = await run(server.url);
      await Promise.all(server.requests.map((r) => r.over));
      expect(server.requests.map((r) => r.range)).toEqual([undefined, `bytes=${SYNC_AT}-`]);
      expect(server.requests[1]).toMatchObject({ bodyBytes: 0, closedEarly: true });
      const order = events
        .map((e) => e.name)
        .filter((name) => name.startsWith('edit-skip') || name === 'input-end');
      expect(order).toEqual(['edit-skip', 'edit-skip-abandoned', 'input-end']);
      expect(named('edit-skip-abandoned')).toEqual([
        { reason: 'the main response ended before the Range response began' },
      ]);
      expect(named('input-end')[0]).toMatchObject({ bytes: 30_000 });
      expect(named('end')[0]).toMatchObject({ offsetReached: 30_000 });
      expect(code).toBe('FF_ERR_NO_FRAMES');
    } finally {
      await server.close();
    }
  });
});

describe('edit-start skip under the partial strategy', () => {
  it('the Range ends at the partial limit; a sync sample past it is declined', async () => {
    const partial = async (partialBytes: number, editSkip: boolean) => {
      const first = sim.requests.length;
      const url = sim.urlFor('/faststart.mp4', { rateBytesPerSec: 50_000, ttfbMs: 10 });
      const result = await run(url, { editSkip }, { strategy: 'partial', partialBytes });
      const requests = await Promise.all(sim.requests.slice(first).map((r) => sim.waitForRequestEnd(r.id)));
      return { ...result, ranges: requests.map((r) => r.rangeHeader) };
    };
    const skipped = await partial(60_000, true);
    expect(skipped.ranges).toEqual(['bytes=0-59999', `bytes=${SYNC_AT}-59999`]);
    expect(skipped.named('edit-skip-switched')).toHaveLength(1);
    const whole = await partial(60_000, false);
    expect(whole.ranges).toEqual(['bytes=0-59999']);
    expect(skipped.frames).toEqual(whole.frames);
    expect(skipped.code).toBe(whole.code);

    const short = await partial(30_000, true);
    expect(short.named('edit-skip-declined')).toEqual([
      { reason: `the sync sample at byte ${SYNC_AT} lies past the 30000 bytes the main response reads` },
    ]);
    expect(short.ranges).toEqual(['bytes=0-29999']);
  });
});
