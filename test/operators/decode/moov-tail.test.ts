import { describe, expect, it } from 'vitest';
import { MoovTail } from '../../../src/operators/decode/moov-tail.js';

/** A box of `size` bytes (header included) of `type`, filled with `fill`. */
function box(type: string, size: number, fill = 0): Uint8Array {
  const bytes = new Uint8Array(size).fill(fill);
  new DataView(bytes.buffer).setUint32(0, size);
  bytes.set(Buffer.from(type, 'latin1'), 4);
  return bytes;
}

function pushAll(tail: MoovTail, bytes: Uint8Array, chunk: number) {
  let state = tail.push(new Uint8Array(0));
  for (let at = 0; at < bytes.byteLength && state.kind === 'more'; at += chunk) {
    state = tail.push(bytes.subarray(at, at + chunk));
  }
  return state;
}

describe('MoovTail', () => {
  it('skips the boxes before the moov without keeping them, and gives the moov whole', () => {
    const tail = new MoovTail(1000, 1 << 20);
    const moov = box('moov', 300, 7);
    const state = pushAll(tail, Buffer.concat([box('free', 5000), moov, box('udta', 50)]), 128);
    expect(state.kind).toBe('moov');
    if (state.kind !== 'moov') return;
    expect(state.box).toMatchObject({ type: 'moov', offset: 6000, size: 300 });
    expect(Buffer.compare(state.bytes, moov)).toBe(0);
  });

  it('refuses from the header a moov larger than accepted, and bytes that are no box', () => {
    expect(pushAll(new MoovTail(0, 1000), box('moov', 5000), 64)).toEqual({
      kind: 'refused',
      reason: 'the moov box at byte 0 says it has 5000 bytes, more than the 1000 accepted',
      invalid: true,
    });
    // A header claiming 4 bytes, less than the header itself.
    const noBox = Buffer.concat([new Uint8Array([0, 0, 0, 4]), Buffer.from('free'), new Uint8Array(56)]);
    expect(pushAll(new MoovTail(10, 1000), noBox, 64)).toEqual({
      kind: 'refused',
      reason: 'the bytes at byte 10 after mdat are not an MP4 box header',
      invalid: true,
    });
  });

  it('no moov within the bytes allowed after mdat, and a moov cut off at the end', () => {
    expect(pushAll(new MoovTail(0, 1000), Buffer.concat([box('free', 1500), box('moov', 100)]), 256)).toEqual(
      {
        kind: 'refused',
        reason: 'no moov box within the 1000 bytes after mdat (from byte 0)',
      },
    );
    const cut = new MoovTail(0, 1000);
    expect(pushAll(cut, box('moov', 300).subarray(0, 100), 64).kind).toBe('more');
    expect(cut.end()).toEqual({
      kind: 'refused',
      reason:
        'no complete moov box in the 100 bytes after mdat (from byte 0); a moov box of 300 bytes at byte 0 was cut off',
    });
  });
});
