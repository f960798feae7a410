import { afterEach, describe, expect, it, vi } from 'vitest';
import { Feeder, type Governor } from '../../../src/operators/decode/feeder.js';
import { recordingContext } from './fake-context.js';

function fakeGovernor() {
  const written: Uint8Array[] = [];
  let finished = 0;
  const governor: Governor = {
    write: async (buffer: Buffer) => {
      written.push(buffer);
      return undefined;
    },
    finish: () => {
      finished += 1;
    },
  } as unknown as Governor;
  return { governor, written, finished: () => finished };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Feeder', () => {
  afterEach(() => vi.useRealTimers());

  it('writes copies of our own, in order: the chunks themselves are never pinned by the governor', async () => {
    const context = recordingContext({ totalBytes: 6 });
    const { governor, written } = fakeGovernor();
    const feeder = new Feeder(context, governor, 1024);
    const first = new Uint8Array([1, 2, 3]);
    expect(feeder.feed(first)).toBe(true);
    expect(feeder.feed(new Uint8Array([4, 5, 6]))).toBe(true);
    expect(feeder.feed(new Uint8Array(0))).toBe(false);
    await feeder.writes;
    first.fill(9);
    expect(written[0]!.buffer).not.toBe(first.buffer);
    expect(written.map((buffer) => [...buffer])).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(feeder.bytesFed).toBe(6);
  });

  it('zeros for skipped bytes: after the bytes before them, in pieces of at most 1 MiB, not counted as fed', async () => {
    const context = recordingContext({});
    const { governor, written } = fakeGovernor();
    const feeder = new Feeder(context, governor, 8 * 1024 * 1024);
    feeder.feed(new Uint8Array([1, 2]));
    feeder.feedZeros(2.5 * 1024 * 1024);
    feeder.feedZeros(0);
    feeder.feed(new Uint8Array([3]));
    await feeder.writes;
    expect(written.map((buffer) => buffer.byteLength)).toEqual([2, 1048576, 1048576, 524288, 1]);
    expect(written.slice(1, 4).every((buffer) => buffer.every((byte) => byte === 0))).toBe(true);
    expect([...written[4]!]).toEqual([3]);
    expect(feeder.bytesFed).toBe(3);
    expect(feeder.zerosFed).toBe(2.5 * 1024 * 1024);
  });

  it('zeros are written one piece after the other: none is queued before the one before it is written', async () => {
    const context = recordingContext({});
    const written: number[] = [];
    const pending: (() => void)[] = [];
    // A governor whose writes complete only when the test says so.
    const governor = {
      write: (buffer: Buffer) => {
        written.push(buffer.byteLength);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
      finish: () => undefined,
    } as unknown as Governor;
    const feeder = new Feeder(context, governor, 8 * 1024 * 1024);
    // 2^50 zeros (a hostile skip's gap): nothing but the first piece exists until it is written.
    feeder.feedZeros(2 ** 50);
    await settle();
    expect(written).toEqual([1048576]);
    expect(feeder.zerosFed).toBe(1048576);
    pending.shift()!();
    await settle();
    expect(written).toEqual([1048576, 1048576]);
    expect(feeder.zerosFed).toBe(2 * 1048576);
    // The session ends: the piece being written is the last.
    context.active = false;
    pending.shift()!();
    await feeder.writes;
    expect(written).toHaveLength(2);
  });

  it('nothing is fed once the governor is finished (a late byte of a dropped Range)', async () => {
    const context = recordingContext({});
    const fake = fakeGovernor();
    const feeder = new Feeder(context, fake.governor, 1024);
    feeder.feed(new Uint8Array([1]));
    feeder.finish(Promise.resolve());
    expect(feeder.feed(new Uint8Array([2]))).toBe(false);
    feeder.feedZeros(10);
    await feeder.writes;
    await settle();
    expect(fake.written.map((buffer) => [...buffer])).toEqual([[1]]);
    expect([feeder.bytesFed, feeder.zerosFed, fake.finished()]).toEqual([1, 0, 1]);
  });

  it('nothing is fed once the session is over, and nothing queued is written', async () => {
    const context = recordingContext({});
    const { governor, written } = fakeGovernor();
    const feeder = new Feeder(context, governor, 1024);
    feeder.feed(new Uint8Array([1]));
    context.active = false;
    expect(feeder.feed(new Uint8Array([2]))).toBe(false);
    await feeder.writes;
    expect(written).toEqual([]);
  });

  it('pauses the source above maxQueuedBytes not demuxed, resumes at half', async () => {
    const calls: string[] = [];
    const context = recordingContext({
      pause: () => calls.push('pause'),
      resume: () => calls.push('resume'),
    });
    const { governor } = fakeGovernor();
    const feeder = new Feeder(context, governor, 100);
    feeder.feed(new Uint8Array(60));
    expect(calls).toEqual([]);
    feeder.feed(new Uint8Array(60));
    feeder.feed(new Uint8Array(10));
    expect(calls).toEqual(['pause']);
    expect(context.named('source-paused')).toEqual([{ queuedBytes: 120, bytesFed: 120 }]);
    feeder.consumed(70);
    expect(calls).toEqual(['pause']);
    feeder.consumed(80);
    expect(calls).toEqual(['pause', 'resume']);
    expect(context.named('source-resumed')).toEqual([
      { reason: 'caught up', queuedBytes: 50, bytesFed: 130 },
    ]);
    feeder.release();
    await feeder.writes;
  });

  it('while paused, a demuxer waiting for bytes resumes the source', async () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const context = recordingContext({
      pause: () => calls.push('pause'),
      resume: () => calls.push('resume'),
    });
    const feeder = new Feeder(context, fakeGovernor().governor, 10);
    feeder.feed(new Uint8Array(20));
    feeder.feed(new Uint8Array(1));
    expect(calls).toEqual(['pause']);
    vi.advanceTimersByTime(100);
    expect(calls).toEqual(['pause']);
    feeder.demuxerWaiting = true;
    vi.advanceTimersByTime(20);
    expect(calls).toEqual(['pause', 'resume']);
    expect(context.named('source-resumed')).toEqual([
      { reason: 'demuxer waiting for bytes', queuedBytes: 21, bytesFed: 21 },
    ]);
    feeder.release();
  });

  it('finishes the governor once, after the writes and after the open was called', async () => {
    const context = recordingContext({});
    const fake = fakeGovernor();
    const feeder = new Feeder(context, fake.governor, 1024);
    feeder.feed(new Uint8Array([1]));
    let markOpenCalled!: () => void;
    const openCalled = new Promise<void>((resolve) => (markOpenCalled = resolve));
    feeder.finish(openCalled);
    feeder.finish(openCalled);
    await settle();
    expect(fake.finished()).toBe(0);
    markOpenCalled();
    await settle();
    expect(fake.finished()).toBe(1);
  });

  it("the fed memory is let go once FFmpeg is done with it: the governor's buffers are detached", async () => {
    const context = recordingContext({});
    const { governor, written } = fakeGovernor();
    const feeder = new Feeder(context, governor, 1024);
    feeder.feed(new Uint8Array([1, 2, 3]));
    await feeder.writes;
    expect(written[0]!.byteLength).toBe(3);
    feeder.freeFedMemory();
    expect(written[0]!.byteLength).toBe(0);
  });

  it("the zeros' shared buffer is let go with the fed copies", async () => {
    const context = recordingContext({});
    const { governor, written } = fakeGovernor();
    const feeder = new Feeder(context, governor, 1024);
    feeder.feedZeros(3000);
    feeder.feed(new Uint8Array([1]));
    await feeder.writes;
    expect(written.map((buffer) => buffer.byteLength)).toEqual([3000, 1]);
    feeder.freeFedMemory();
    expect(written.map((buffer) => buffer.byteLength)).toEqual([0, 0]);
  });
});
