import { describe, expect, it } from 'vitest';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import { Decoders } from '../../../src/operators/decode/decoders.js';
import { Decoding, type DecodingHost } from '../../../src/operators/decode/decoding.js';
import { FirstFrameShortcut } from '../../../src/operators/decode/first-frame.js';
import type { DecodeOptions, Mutable, VideoStreamInfo } from '../../../src/operators/decode/options.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

/** A decoder that gives one frame per packet (with the packet's timestamp), or refuses `corrupt` packets. */
interface FakeDecoder {
  readonly name: string;
  readonly options: Record<string, unknown>;
  /** Each call's packets, by timestamp; `flush` for a flush. */
  readonly calls: (number[] | 'flush')[];
  /** Resolves the call in progress; calls wait until released when `hold` is set. */
  hold: boolean;
  release: () => void;
}

function fakeDecoder(
  index: number,
  options: Record<string, unknown>,
  corrupt: Set<number>,
): Beamcoder.Decoder {
  const state: FakeDecoder = {
    name: `vp9-${index}`,
    options,
    calls: [],
    hold: false,
    release: () => undefined,
  };
  const answer = (pts: number[]) => ({
    frames: pts.map((t) => ({ pts: t, best_effort_timestamp: t, data: [] })),
  });
  return Object.assign(state, {
    decode: async (packets: Beamcoder.Packet | Beamcoder.Packet[]) => {
      const list = Array.isArray(packets) ? packets : [packets];
      const pts = list.map((packet) => packet.pts as number);
      state.calls.push(pts);
      if (state.hold) await new Promise<void>((resolve) => (state.release = resolve));
      if (pts.some((t) => corrupt.has(t))) throw new Error('Invalid data found when processing input');
      return answer(pts);
    },
    flush: async () => {
      state.calls.push('flush');
      return answer([]);
    },
  }) as unknown as Beamcoder.Decoder;
}

const packet = (pts: number, key = false) =>
  ({ pts, dts: pts, size: 10, flags: { KEY: key }, data: Buffer.alloc(74) }) as unknown as Beamcoder.Packet;

interface Run {
  decoding: Decoding;
  context: RecordingContext;
  made: FakeDecoder[];
  frames: number[];
}

function decodingOf(options: DecodeOptions, corrupt: number[] = []): Run {
  const context = recordingContext({});
  const made: FakeDecoder[] = [];
  const frames: number[] = [];
  const stream: Mutable<VideoStreamInfo> = {
    layout: 'matroska',
    container: 'matroska,webm',
    codec: 'vp9',
    decoder: 'vp9',
    width: 64,
    height: 48,
    fps: 25,
    timeBase: [1, 1000],
  };
  const host: DecodingHost = Object.assign(context, {
    options,
    stream,
    onFrame: async (frame: Beamcoder.Frame) => void frames.push(frame.pts as number),
    failDemuxing: (error: unknown) => context.fail(error),
  });
  const decoders = new Decoders(
    (decoderOptions) => {
      const decoder = fakeDecoder(made.length, decoderOptions, new Set(corrupt));
      made.push(decoder as unknown as FakeDecoder);
      return decoder;
    },
    () => context.active,
    { onMainThread: () => undefined, offThread: () => undefined },
  );
  const decoding = new Decoding(host, decoders, new FirstFrameShortcut());
  const demuxer = { streams: [{ codecpar: { width: 64, height: 48 } }] } as unknown as Beamcoder.Demuxer;
  decoding.open(demuxer, 0, 'vp9');
  return { decoding, context, made, frames };
}

describe('Decoding', () => {
  it('auto threads: slice threads first, frame threads from the next key frame, every frame in order', async () => {
    const run = decodingOf({ threads: 'auto', threadCount: 4 });
    run.decoding.start(undefined, 0);
    for (const [pts, key] of [
      [0, true],
      [40, false],
      [80, false],
      [120, true],
      [160, false],
    ] as const) {
      await run.decoding.submit(packet(pts, key));
    }
    await run.decoding.flush();
    // The first packet also went to a throwaway one-thread decoder (frame 0 without the reorder delay).
    expect(run.made.map((d) => d.options.thread_type ?? `thread_count ${d.options.thread_count}`)).toEqual([
      { FRAME: false, SLICE: true },
      'thread_count 1',
      { FRAME: true, SLICE: false },
    ]);
    // 80 came while the call for 40 was queued: they went together.
    expect(run.made[0]!.calls).toEqual([[0], [40, 80], 'flush']);
    expect(run.made[2]!.calls).toEqual([[120], [160], 'flush']);
    expect(run.context.named('decoder-threads')).toEqual([
      { threads: 'frame', threadCount: 4, fromPacket: 3 },
    ]);
    // Frame 0 comes from the throwaway decoder and again from the main one (FrameOut drops that copy).
    expect(run.frames).toEqual([0, 0, 40, 80, 120, 160]);
  });

  it('packets that come while the decoder is busy go in one call, at most four', async () => {
    const run = decodingOf({ threads: 'slice', threadCount: 1 });
    run.decoding.start(undefined, undefined);
    const main = run.made[0]!;
    main.hold = true;
    await run.decoding.submit(packet(0, true));
    const submitted = [40, 80, 120, 160, 200].map((pts) => run.decoding.submit(packet(pts)));
    await new Promise((resolve) => setImmediate(resolve));
    main.hold = false;
    main.release();
    await Promise.all(submitted);
    await run.decoding.flush();
    expect(main.calls).toEqual([[0], [40, 80, 120, 160], [200], 'flush']);
    expect(run.frames).toEqual([0, 40, 80, 120, 160, 200]);
  });

  it('a corrupt packet is counted, reported and skipped; decoding goes on', async () => {
    const run = decodingOf({ threads: 'slice', threadCount: 1 }, [40]);
    run.decoding.start(undefined, undefined);
    for (const pts of [0, 40, 80, 120]) {
      await run.decoding.submit(packet(pts, pts === 0));
      // Each packet decoded before the next comes: no batch.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await run.decoding.flush();
    expect(run.made[0]!.calls).toEqual([[0], [40], [80], [120], 'flush']);
    expect(run.frames).toEqual([0, 80, 120]);
    expect(run.decoding.corruptPackets).toBe(1);
    expect(run.decoding.lastDecodeError).toBe('Invalid data found when processing input');
    expect(run.context.named('corrupt-packet')).toEqual([
      { pts: 40, size: 10, packets: 1, count: 1, message: 'Invalid data found when processing input' },
    ]);
    expect(run.context.failures).toEqual([]);
  });
});
