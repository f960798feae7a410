import { describe, expect, it } from 'vitest';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import type { LetterboxedImage } from '../../../src/media/letterbox.js';
import type { PictureConverter } from '../../../src/operators/decode/convert.js';
import { FirstFrameShortcut } from '../../../src/operators/decode/first-frame.js';
import { FrameNumbering } from '../../../src/operators/decode/frame-numbers.js';
import { FrameOut } from '../../../src/operators/decode/frames-out.js';
import type { DecodedFrame, DecodeOptions, VideoStreamInfo } from '../../../src/operators/decode/options.js';
import { prefetchGate, type PrefetchSlot } from '../../../src/operators/prefetch.js';
import { recordingContext } from './fake-context.js';

const stream: VideoStreamInfo = {
  layout: 'faststart',
  container: 'mov,mp4,m4a,3gp,3g2,mj2',
  codec: 'h264',
  decoder: 'h264',
  width: 64,
  height: 48,
  fps: 25,
  timeBase: [1, 12800],
};

/** A decoded frame as beamcoder gives it, at `timestamp` (512 ticks a frame). */
function frame(timestamp: number): Beamcoder.Frame {
  return {
    best_effort_timestamp: timestamp,
    pts: timestamp,
    width: 64,
    height: 48,
    key_frame: timestamp === 0,
    format: 'yuv420p',
    data: [new Uint8Array(1)],
  } as unknown as Beamcoder.Frame;
}

function framesOut(options: Pick<DecodeOptions, 'keepFrame' | 'gate'>) {
  const context = recordingContext({});
  const numbering = new FrameNumbering(context.emit);
  numbering.frameDuration = 512;
  const converted: { frameNumber: number; slot: PrefetchSlot | undefined }[] = [];
  const converter = {
    convert: async (_frame: Beamcoder.Frame, frameNumber: number, slot: PrefetchSlot | undefined) => {
      converted.push({ frameNumber, slot });
      return { size: 32, data: new Uint8Array(3 * 32 * 32) } as unknown as LetterboxedImage;
    },
  } as unknown as PictureConverter;
  const out: DecodedFrame[] = [];
  const failed: unknown[] = [];
  const host = Object.assign(context, {
    options,
    stream,
    offsetReached: 5000,
    feeder: { bytesFed: 4000 },
    failDemuxing: (error: unknown) => failed.push(error),
  });
  const frames = new FrameOut(host, numbering, new FirstFrameShortcut(), converter, (f) => out.push(f));
  return { frames, context, out, converted, failed };
}

describe('FrameOut', () => {
  it('numbers frames, converts those the stride keeps, hands each downstream with its pts in seconds', async () => {
    const run = framesOut({ keepFrame: (n) => n % 2 === 0 });
    const decoded = [0, 512, 1024].map(frame);
    for (const f of decoded) await run.frames.onFrame(f);
    expect(run.out.map((f) => [f.frameNumber, f.pts, f.keyFrame, f.image !== undefined])).toEqual([
      [0, 0, true, true],
      [1, 0.04, false, false],
      [2, 0.08, false, true],
    ]);
    expect(run.out[0]!.stream).toBe(stream);
    expect(run.converted.map((c) => c.frameNumber)).toEqual([0, 2]);
    expect([run.frames.framesDecoded, run.frames.framesConverted]).toEqual([3, 2]);
    // The decoder's pixels go back to its pool once each frame is handled.
    expect(decoded.map((f) => f.data)).toEqual([null, null, null]);
    expect(run.context.named('first-frame')).toEqual([
      { frameNumber: 0, bytesFed: 4000, offsetReached: 5000, decodedAlone: false, fromIndex: false },
    ]);
    expect(run.context.named('frame')).toEqual([
      { frameNumber: 0, converted: true, frames: 1 },
      { frameNumber: 1, converted: false, frames: 2 },
      { frameNumber: 2, converted: true, frames: 3 },
    ]);
  });

  it("frame 0 from the index goes out first; the main decoder's copy of it is dropped", async () => {
    const run = framesOut({});
    await run.frames.emitIndexed(frame(0), 0);
    await run.frames.onFrame(frame(0));
    await run.frames.onFrame(frame(512));
    expect(run.out.map((f) => f.frameNumber)).toEqual([0, 1]);
    expect(run.context.named('first-frame')[0]).toMatchObject({ decodedAlone: true, fromIndex: true });
  });

  it('a kept frame waits for a prefetch slot and carries it; one that is not kept takes none', async () => {
    const gate = prefetchGate(1);
    const run = framesOut({ keepFrame: (n) => n !== 1, gate });
    await run.frames.onFrame(frame(0));
    await run.frames.onFrame(frame(512));
    const waiting = run.frames.onFrame(frame(1024));
    await new Promise((resolve) => setImmediate(resolve));
    expect(run.out.map((f) => f.frameNumber)).toEqual([0, 1]);
    expect(run.out[1]!.slot).toBeUndefined();
    gate.release([run.out[0]!.slot!]);
    await waiting;
    expect(run.out.map((f) => f.frameNumber)).toEqual([0, 1, 2]);
    expect(run.converted.map((c) => c.slot)).toEqual([run.out[0]!.slot, run.out[2]!.slot]);
    expect(gate.inFlight).toBe(1);
  });

  it('the session ends while a frame waits for its slot: the slot is given back, nothing is emitted', async () => {
    const gate = prefetchGate(1);
    const run = framesOut({ gate });
    await run.frames.onFrame(frame(0));
    const waiting = run.frames.onFrame(frame(512));
    run.context.active = false;
    gate.release([run.out[0]!.slot!]);
    await waiting;
    expect(run.out).toHaveLength(1);
    expect(gate.inFlight).toBe(0);
  });
});
