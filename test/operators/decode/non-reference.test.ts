import { describe, expect, it } from 'vitest';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import { FrameNumbering } from '../../../src/operators/decode/frame-numbers.js';
import { NonReferenceSkipper, type SkipConditions } from '../../../src/operators/decode/non-reference.js';
import { recordingContext } from './fake-context.js';

/** avcC with 4-byte NAL lengths: packets are length-prefixed. */
const AVCC = new Uint8Array([1, 0x42, 0, 0x1e, 0xff, 0xe0]);

/** An H.264 packet holding one slice NAL (header byte `nalHeader`), timestamp `pts`, padded as FFmpeg's. */
function slice(pts: number, nalHeader: number, extra: Partial<Beamcoder.Packet> = {}): Beamcoder.Packet {
  const payload = [0, 0, 0, 3, nalHeader, 0x9a, 0x02];
  const data = Buffer.alloc(payload.length + 64);
  data.set(payload);
  return { data, size: payload.length, pts, flags: {}, ...extra } as unknown as Beamcoder.Packet;
}
/** nal_ref_idc 0, type 1: a picture nobody references. */
const NON_REFERENCE = 0x01;
/** nal_ref_idc 2, type 1. */
const REFERENCE = 0x41;

const conditions: SkipConditions = {
  keepFrame: (n) => n % 5 === 0,
  codec: 'h264',
  extradata: AVCC,
  frameDuration: 512,
  startTimestamp: 1024,
};

describe('NonReferenceSkipper', () => {
  it('says why it cannot skip', () => {
    const numbering = new FrameNumbering(recordingContext().emit);
    expect(NonReferenceSkipper.for({ ...conditions, keepFrame: undefined }, numbering)).toBe(
      'no keepFrame: every frame is wanted',
    );
    expect(NonReferenceSkipper.for({ ...conditions, codec: 'vp9' }, numbering)).toBe(
      'codec vp9 has no reference marks firstframe reads (H.264 and HEVC only)',
    );
    expect(NonReferenceSkipper.for({ ...conditions, frameDuration: undefined }, numbering)).toBe(
      'the frame rate is not constant, so packet timestamps cannot give frame numbers',
    );
    expect(NonReferenceSkipper.for({ ...conditions, startTimestamp: null }, numbering)).toBe(
      'the stream has no start time',
    );
  });

  it('skips a non-reference picture the stride refuses, and tells the numbering it is not lost', () => {
    const context = recordingContext();
    const numbering = new FrameNumbering(context.emit);
    numbering.frameDuration = 512;
    const skipper = NonReferenceSkipper.for(conditions, numbering) as NonReferenceSkipper;
    // Frame numbers from pts: (pts - 1024) / 512.
    expect(skipper.skippable(slice(1024 + 512, NON_REFERENCE))).toBe(true); // frame 1
    expect(skipper.skippable(slice(1024 + 2 * 512, REFERENCE))).toBe(false); // frame 2: referenced
    expect(skipper.skippable(slice(1024 + 5 * 512, NON_REFERENCE))).toBe(false); // frame 5: kept
    expect(skipper.skippable(slice(0, NON_REFERENCE))).toBe(false); // before the start
    expect(
      skipper.skippable(
        slice(1024 + 3 * 512, NON_REFERENCE, { pts: null } as unknown as Partial<Beamcoder.Packet>),
      ),
    ).toBe(false);
    expect(
      skipper.skippable(
        slice(1024 + 3 * 512, NON_REFERENCE, { flags: { DISCARD: true } as Beamcoder.Packet['flags'] }),
      ),
    ).toBe(false);
    expect(skipper.skipped).toBe(1);
    // Frames 0 and 2 decoded: frame 1's gap is a skip, not a loss.
    expect([1024, 1024 + 2 * 512].map((t) => numbering.numberOf(t))).toEqual([0, 2]);
    expect(numbering.framesLost).toBe(0);
  });
});
