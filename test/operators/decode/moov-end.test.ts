import { readFileSync } from 'node:fs';
import { Observable, from, throwError, type Subscriber } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SourceError, codes } from '../../../src/core/errors.js';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import { shiftChunkOffsets } from '../../../src/media/faststart.js';
import { scanTopLevelBoxes, type Mp4Box } from '../../../src/media/mp4-boxes.js';
import type { FirstFrameFromIndex } from '../../../src/operators/decode/first-frame-index.js';
import { MoovAtEnd, type MoovEndHost } from '../../../src/operators/decode/moov-end.js';
import type { ByteChunk, ByteRange } from '../../../src/sources/types.js';
import { testFixtures } from '../../support/fixtures.js';
import { chunksOf, joined } from './chunks.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

let fixtures: FixtureSet;
let file: Uint8Array;
let mdat: Mp4Box;
let moov: Mp4Box;
beforeAll(async () => {
  fixtures = await testFixtures();
  file = new Uint8Array(readFileSync(fixtures.clips['moov-end']!.file));
  const boxes = scanTopLevelBoxes(file);
  mdat = boxes.find((box) => box.type === 'mdat')!;
  moov = boxes.find((box) => box.type === 'moov')!;
});

interface Arranging {
  arrangement: MoovAtEnd;
  context: RecordingContext;
  fed: Uint8Array[];
  cuts: number[];
  ranges: ByteRange[];
  host: MoovEndHost & {
    offsetReached: number;
    inputEnded: boolean;
    governorFinished: number;
    indexed: FirstFrameFromIndex | undefined;
  };
}

function arranging(fetchRange?: (range: ByteRange) => Observable<ByteChunk>, totalBytes?: number): Arranging {
  const ranges: ByteRange[] = [];
  const context = recordingContext({
    totalBytes,
    ...(fetchRange
      ? {
          fetchRange: (range: ByteRange) => {
            ranges.push(range);
            return fetchRange(range);
          },
        }
      : {}),
  });
  const fed: Uint8Array[] = [];
  const cuts: number[] = [];
  const host = Object.assign(context, {
    layout: 'moov-end' as const,
    inputEnded: false,
    offsetReached: 0,
    governorFinished: 0,
    indexed: undefined as FirstFrameFromIndex | undefined,
    feed: (bytes: Uint8Array) => fed.push(bytes.slice()),
    moovAccepted: () => true,
    startIndexed: () => undefined,
    finishGovernor: () => {
      host.governorFinished += 1;
    },
    cutInput: (offset: number) => cuts.push(offset),
  });
  return { arrangement: new MoovAtEnd(host), context, fed, cuts, ranges, host };
}

/** The main response from the first byte: the first 4 KiB start the arrangement, the rest is routed. */
function stream(run: Arranging, upTo = file.byteLength): void {
  const resource = run.context.resource!;
  const [first, ...rest] = chunksOf(file.subarray(0, upTo), 4096, resource);
  run.host.offsetReached = first!.bytes.byteLength;
  run.arrangement.start(first!.bytes, mdat);
  for (const chunk of rest) {
    if (run.cuts.length > 0) break;
    run.host.offsetReached = chunk.offset + chunk.bytes.byteLength;
    run.arrangement.route(chunk.bytes, chunk.offset);
    run.arrangement.endAtMoov();
  }
}

/** What FFmpeg must get: the faststart equivalent. */
function faststart(): Uint8Array {
  const moovBytes = file.subarray(moov.offset, moov.offset + moov.size);
  return joined([
    file.subarray(0, mdat.offset),
    shiftChunkOffsets(moovBytes, moov.size).moov,
    file.subarray(mdat.offset, mdat.offset + mdat.size),
  ]);
}

/** A Range answered from the file, from its start to the end of the file. */
const fromFile = (range: ByteRange) =>
  from(chunksOf(file, 4096, undefined as never, 'start' in range ? range.start : 0));

describe('MoovAtEnd', () => {
  it("once the Range request is out, frame 0's H.264 decoder is made ahead; not after a release", async () => {
    const pending = () => new Observable<ByteChunk>(() => undefined);
    const asked: string[] = [];
    const index = {
      makeDecoderAhead: (codec: string) => asked.push(codec),
    } as unknown as FirstFrameFromIndex;
    const first = arranging(pending);
    first.host.indexed = index;
    first.arrangement.start(file.subarray(0, 4096), mdat);
    expect(first.ranges).toEqual([{ start: mdat.offset + mdat.size }]);
    expect(asked).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toEqual(['h264']);
    first.arrangement.release();

    const released = arranging(pending);
    released.host.indexed = index;
    released.arrangement.start(file.subarray(0, 4096), mdat);
    released.arrangement.release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toEqual(['h264']);
  });

  it('fetches the moov by Range from its offset and feeds FFmpeg the faststart equivalent; the main response is cut at the moov', () => {
    const run = arranging(fromFile);
    stream(run);
    expect(run.ranges).toEqual([{ start: moov.offset }]);
    expect(Buffer.compare(joined(run.fed), faststart())).toBe(0);
    expect(run.cuts).toEqual([moov.offset]);
    expect(run.context.named('moov')).toEqual([
      {
        offset: moov.offset,
        bytes: moov.size,
        ms: expect.any(Number),
        chunkOffsetTables: expect.any(Number),
        chunkOffsets: expect.any(Number),
      },
    ]);
    expect(run.context.failures).toEqual([]);
  });

  it('a response whose last chunk ends the file is not cut (it ends by itself, keeping its connection)', () => {
    const run = arranging(fromFile, file.byteLength);
    run.host.offsetReached = 4096;
    run.arrangement.start(file.subarray(0, 4096), mdat);
    run.host.offsetReached = file.byteLength;
    run.arrangement.route(file.subarray(4096), 4096);
    run.arrangement.endAtMoov();
    expect(run.cuts).toEqual([]);
    expect(Buffer.compare(joined(run.fed), faststart())).toBe(0);
  });

  it('mdat is held until the moov is in: nothing but the boxes before mdat reach FFmpeg first', () => {
    let range: Subscriber<ByteChunk> | undefined;
    const later = () => new Observable<ByteChunk>((subscriber) => void (range = subscriber));
    const run = arranging(later);
    stream(run, moov.offset - 1);
    expect(Buffer.compare(joined(run.fed), file.subarray(0, mdat.offset))).toBe(0);
    range!.next({
      offset: moov.offset,
      bytes: file.subarray(moov.offset),
      receivedAt: 0,
      resource: run.context.resource!,
    });
    range!.complete();
    expect(Buffer.compare(joined(run.fed), faststart().subarray(0, faststart().byteLength - 1))).toBe(0);
  });

  it('a server that ignores Range: the moov comes from the end of the same response', () => {
    const run = arranging(() =>
      throwError(() => new SourceError(codes.source.rangeIgnored, 'the server ignored Range')),
    );
    stream(run);
    expect(run.context.named('moov-fetch-fallback')).toEqual([{ reason: 'FF_ERR_RANGE_IGNORED' }]);
    expect(Buffer.compare(joined(run.fed), faststart())).toBe(0);
  });

  it('no fetchRange, and the response ends before the moov is whole: FF_ERR_MOOV_MISSING naming what was there', () => {
    const run = arranging(undefined);
    stream(run, moov.offset + 20);
    run.host.inputEnded = true;
    run.arrangement.inputEnded();
    expect(run.context.failures).toHaveLength(1);
    const failure = run.context.failures[0] as { code: string; message: string };
    expect(failure.code).toBe('FF_ERR_MOOV_MISSING');
    expect(failure.message).toBe(
      `http://127.0.0.1/clip.mp4: the response: no complete moov box in the 20 bytes after mdat (from byte ${moov.offset}); a moov box of ${moov.size} bytes at byte ${moov.offset} was cut off`,
    );
  });

  it('an mdat that runs to the end of the file: FF_ERR_MOOV_MISSING at once, nothing fetched', () => {
    const run = arranging(fromFile);
    run.arrangement.start(file.subarray(0, 4096), { ...mdat, size: 0, toEndOfFile: true });
    expect(run.ranges).toEqual([]);
    expect((run.context.failures[0] as { code: string }).code).toBe('FF_ERR_MOOV_MISSING');
  });
});
