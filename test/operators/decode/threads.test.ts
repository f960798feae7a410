import { describe, expect, it } from 'vitest';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import { nalFormat } from '../../../src/media/nal.js';
import {
  autoThreads,
  initialThreads,
  isEntryPoint,
  threadCount,
} from '../../../src/operators/decode/threads.js';

/** A packet as beamcoder gives it: payload, then FFmpeg's 64 bytes of padding. */
function packet(payload: number[], key: boolean): Beamcoder.Packet {
  const data = Buffer.alloc(payload.length + 64);
  data.set(payload);
  return { data, size: payload.length, pts: 0, flags: { KEY: key } } as unknown as Beamcoder.Packet;
}

describe('decoder threads', () => {
  it("threadCount 0 is FFmpeg's choice: cores + 1, at most 16, one on one core", () => {
    expect(threadCount({}, 2)).toBe(3);
    expect(threadCount({ threadCount: 0 }, 32)).toBe(16);
    expect(threadCount({}, 1)).toBe(1);
    expect(threadCount({ threadCount: 5 }, 2)).toBe(5);
  });

  it('auto switches only with more than one thread; it starts on slice threads', () => {
    expect(autoThreads({}, 2)).toBe(true);
    expect(autoThreads({}, 1)).toBe(false);
    expect(autoThreads({ threadCount: 1 }, 8)).toBe(false);
    expect(autoThreads({ threads: 'slice' }, 8)).toBe(false);
    expect(initialThreads({})).toBe('slice');
    expect(initialThreads({ threads: 'auto' })).toBe('slice');
    expect(initialThreads({ threads: 'frame' })).toBe('frame');
  });

  it('entry points: an H.264 IDR with its parameter sets (Annex B), a VP9 key frame; never a non-key packet', () => {
    const annexB = nalFormat('h264', undefined)!;
    const sps = [0, 0, 0, 1, 0x67, 0x42, 0, 0x1e];
    const pps = [0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80];
    const idr = [0, 0, 0, 1, 0x65, 0x88, 0x84];
    const slice = [0, 0, 0, 1, 0x41, 0x9a, 0x02];
    expect(isEntryPoint('h264', annexB, packet([...sps, ...pps, ...idr], true))).toBe(true);
    expect(isEntryPoint('h264', annexB, packet(slice, true))).toBe(false);
    expect(isEntryPoint('h264', annexB, packet([...sps, ...pps, ...idr], false))).toBe(false);
    expect(isEntryPoint('h264', undefined, packet([...sps, ...pps, ...idr], true))).toBe(false);
    expect(isEntryPoint('vp9', undefined, packet([0x82], true))).toBe(true);
    expect(isEntryPoint('mpeg4', undefined, packet([0x00], true))).toBe(false);
  });
});
