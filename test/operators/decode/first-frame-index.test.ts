import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import {
  beamcoder,
  closeDecoder,
  closeDecoderOffThread,
  type Beamcoder,
} from '../../../src/media/beamcoder.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { Decoders } from '../../../src/operators/decode/decoders.js';
import { MP4_DEMUXER } from '../../../src/operators/decode/demuxer.js';
import { FirstFrameFromIndex, type IndexHost } from '../../../src/operators/decode/first-frame-index.js';
import type { Mutable, VideoStreamInfo } from '../../../src/operators/decode/options.js';
import { testFixtures } from '../../support/fixtures.js';
import { chunksOf } from './chunks.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

const bc = beamcoder();
let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

interface Indexing {
  index: FirstFrameFromIndex;
  context: RecordingContext;
  host: IndexHost & { inputEnded: boolean };
  emitted: { timestamp: number; width: number; height: number }[];
  /** Each prepareConversion: width, height, pixel format, and whether the graph is to be warmed. */
  prepared: [number, number, string, boolean | undefined][];
  closed: string[];
  /** The codec of each decoder made, in order. */
  made: string[];
}

function indexing(layout: 'faststart' | 'fragmented' | 'moov-end'): Indexing {
  const context = recordingContext({});
  const emitted: Indexing['emitted'] = [];
  const prepared: Indexing['prepared'] = [];
  const closed: string[] = [];
  const made: string[] = [];
  const host = Object.assign(context, {
    bc,
    layout,
    inputEnded: false,
    moovCheckedAt: undefined,
    stream: undefined as Mutable<VideoStreamInfo> | undefined,
    moovAccepted: () => true,
    prepareConversion: (width: number, height: number, format: string, warm?: boolean) =>
      prepared.push([width, height, format, warm]),
    emitIndexedFrame: async (frame: Beamcoder.Frame, timestamp: number) => {
      emitted.push({ timestamp, width: frame.width, height: frame.height });
    },
  });
  const decoders = new Decoders(
    (options) => {
      made.push(String(options['name']));
      return bc.decoder(options as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number });
    },
    () => context.active,
    {
      onMainThread: (decoder) => {
        closed.push('on the main thread');
        closeDecoder(decoder);
      },
      offThread: (decoder) => {
        closed.push('off the main thread');
        return closeDecoderOffThread(decoder);
      },
    },
  );
  return { index: new FirstFrameFromIndex(host, decoders), context, host, emitted, prepared, closed, made };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FirstFrameFromIndex', () => {
  it.each(['faststart', 'fragmented'] as const)(
    '%s: frame 0 decoded from the index the moment its sample is in, with the timestamp the index says',
    async (name) => {
      const clip = fixtures.clips[name]!;
      const file = new Uint8Array(readFileSync(clip.file));
      const run = indexing(name);
      for (const chunk of chunksOf(file, 4096, run.context.resource!))
        run.index.hold(chunk.offset, chunk.bytes);
      await run.index.settled;
      const [index] = run.context.named('index');
      expect(index).toEqual({
        offset: expect.any(Number),
        size: expect.any(Number),
        pts: expect.any(Number),
        fragmented: name === 'fragmented',
      });
      expect(run.emitted).toEqual([{ timestamp: index!.pts, width: clip.width, height: clip.height }]);
      expect(run.host.stream).toMatchObject({
        layout: name,
        container: MP4_DEMUXER,
        codec: 'h264',
        decoder: 'h264',
        width: clip.width,
        height: clip.height,
      });
      expect(run.host.stream!.fps).toBeCloseTo(clip.fps, 6);
      // Built and warmed while frame 0's bytes were still coming.
      expect(run.prepared).toEqual([[clip.width, clip.height, 'yuv420p', true]]);
      expect(run.context.named('index-skipped')).toEqual([]);
      // Its decoder was given a packet made from JavaScript memory: closed on the main thread.
      await settle();
      expect(run.closed).toEqual(['on the main thread']);
    },
  );

  it('moov-end: waits for the moov from the Range fetch, then decodes frame 0 from the held mdat', async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['moov-end']!.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const run = indexing('moov-end');
    for (const chunk of chunksOf(file.subarray(0, moov.offset), 4096, run.context.resource!)) {
      run.index.hold(chunk.offset, chunk.bytes);
    }
    expect(run.context.named('index')).toEqual([]);
    run.index.moovArrived(moov, file.subarray(moov.offset, moov.offset + moov.size));
    await run.index.settled;
    expect(run.emitted).toHaveLength(1);
    expect(run.host.stream?.frameCount).toBe(fixtures.clips['moov-end']!.frames);
    // Frame 0's bytes were in: it was decoding by then, and the graph was built without a warm-up beside it.
    const clip = fixtures.clips['moov-end']!;
    expect(run.prepared).toEqual([[clip.width, clip.height, 'yuv420p', false]]);
  });

  /** The moov-end clip's mdat held, decoders made ahead for `ahead` (in order), then the moov: frame 0 out. */
  async function moovEndWithAhead(ahead: readonly string[]): Promise<Indexing> {
    const file = new Uint8Array(readFileSync(fixtures.clips['moov-end']!.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const run = indexing('moov-end');
    run.index.hold(0, file.subarray(0, moov.offset));
    for (const codec of ahead) run.index.makeDecoderAhead(codec);
    run.index.moovArrived(moov, file.subarray(moov.offset, moov.offset + moov.size));
    await run.index.settled;
    await settle();
    return run;
  }

  it('moov-end: a decoder made ahead for the codec the track has is the one that decodes frame 0', async () => {
    // Asked twice: one decoder.
    const run = await moovEndWithAhead(['h264', 'h264']);
    expect(run.emitted).toHaveLength(1);
    expect(run.made).toEqual(['h264']);
    expect(run.closed).toEqual(['on the main thread']);
  });

  it('moov-end: a decoder made ahead for another codec is closed, and one for the track made', async () => {
    const run = await moovEndWithAhead(['hevc']);
    expect(run.emitted).toHaveLength(1);
    expect(run.made).toEqual(['hevc', 'h264']);
    expect(run.closed).toEqual(['off the main thread', 'on the main thread']);
  });

  it('moov-end: released before the moov came, the decoder made ahead is closed; none is made after', async () => {
    const run = indexing('moov-end');
    run.index.makeDecoderAhead('h264');
    run.index.release();
    run.index.makeDecoderAhead('h264');
    await settle();
    expect(run.made).toEqual(['h264']);
    expect(run.closed).toEqual(['off the main thread']);
  });

  it('bytes out of order: given up with the reason, nothing decoded, the demuxer may open', async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['faststart']!.file));
    const run = indexing('faststart');
    run.index.hold(0, file.subarray(0, 100));
    run.index.hold(200, file.subarray(200, 300));
    await run.index.settled;
    expect(run.context.named('index-skipped')).toEqual([
      { reason: 'bytes at offset 200 came while those from 100 were awaited' },
    ]);
    run.index.hold(100, file.subarray(100));
    await settle();
    expect(run.emitted).toEqual([]);
    expect(run.closed).toEqual([]);
  });

  it("the input ends before frame 0's sample is in: given up", async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['faststart']!.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const run = indexing('faststart');
    run.index.hold(0, file.subarray(0, moov.offset + moov.size));
    expect(run.context.named('index')).toHaveLength(1);
    run.host.inputEnded = true;
    run.index.hold(
      moov.offset + moov.size,
      file.subarray(moov.offset + moov.size, moov.offset + moov.size + 10),
    );
    await run.index.settled;
    expect(run.context.named('index-skipped')).toEqual([{ reason: 'the input ended before frame 0 was in' }]);
    expect(run.emitted).toEqual([]);
    // The decoder made when the moov was read, ahead of frame 0's bytes, is closed unused (never fed from
    // JavaScript memory: off the main thread).
    await settle();
    expect(run.closed).toEqual(['off the main thread']);
  });

  it('released before frame 0 is in: the decoder made ahead is closed', async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['faststart']!.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const run = indexing('faststart');
    run.index.hold(0, file.subarray(0, moov.offset + moov.size));
    expect(run.closed).toEqual([]);
    run.index.release();
    run.index.release();
    await settle();
    expect(run.closed).toEqual(['off the main thread']);
  });

  it('an mdat before any moov (not faststart after all): given up naming it', async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['moov-end']!.file));
    const run = indexing('faststart');
    run.index.hold(0, file.subarray(0, 4096));
    await run.index.settled;
    expect(run.context.named('index-skipped')).toEqual([
      { reason: expect.stringMatching(/^mdat at offset \d+ before the moov$/) },
    ]);
  });
});
