import { describe, expect, it } from 'vitest';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import { Decoders } from '../../../src/operators/decode/decoders.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function decoders(active = () => true) {
  const closed: string[] = [];
  let made = 0;
  const set = new Decoders(() => ({ name: `decoder-${made++}` }) as unknown as Beamcoder.Decoder, active, {
    onMainThread: (decoder) => closed.push(`${decoder.name} on the main thread`),
    offThread: (decoder) => closed.push(`${decoder.name} off the main thread`),
  });
  return { set, closed };
}

const frames = (label: string) =>
  ({ type: 'frames', frames: [label], total_time: 0 }) as unknown as Beamcoder.DecodedFrames;

describe('Decoders', () => {
  it('a call beside the main queue: the next main call does not wait for it, idle() does', async () => {
    const { set } = decoders();
    let finishBeside!: () => void;
    const beside = set.besideMain(new Promise<string>((resolve) => (finishBeside = () => resolve('lead'))));
    const main = set.queue(async () => frames('main'));
    expect((await main).frames).toEqual(['main']);
    let idle = false;
    void set.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);
    finishBeside();
    expect(await beside).toBe('lead');
    await settle();
    expect(idle).toBe(true);
    // A rejected call beside counts as done too, and idle() never rejects for it.
    const failed = set.besideMain(Promise.reject(new Error('corrupt')));
    await expect(failed).rejects.toThrow('corrupt');
    await expect(set.idle()).resolves.toBeDefined();
  });

  it('running follows the session', () => {
    let active = true;
    const { set } = decoders(() => active);
    expect(set.running).toBe(true);
    active = false;
    expect(set.running).toBe(false);
  });

  it('runs decoder calls one after the other, in order', async () => {
    const { set } = decoders();
    const order: string[] = [];
    let finishFirst!: () => void;
    const first = set.queue(
      () =>
        new Promise((resolve) => {
          order.push('first starts');
          finishFirst = () => resolve(frames('first'));
        }),
    );
    const second = set.queue(async () => {
      order.push('second starts');
      return frames('second');
    });
    await settle();
    expect(order).toEqual(['first starts']);
    finishFirst();
    expect((await first).frames).toEqual(['first']);
    expect((await second).frames).toEqual(['second']);
    expect(order).toEqual(['first starts', 'second starts']);
  });

  it('a failed call does not stop the queue; once the session is over, queued calls do not run', async () => {
    let active = true;
    const { set } = decoders(() => active);
    const failing = set.queue(async () => {
      throw new Error('corrupt');
    });
    await expect(failing).rejects.toThrow('corrupt');
    let ran = false;
    active = false;
    const after = await set.queue(async () => {
      ran = true;
      return frames('late');
    });
    expect(ran).toBe(false);
    expect(after.frames).toEqual([]);
  });

  it('closes each decoder once: off the main thread, or in a later task on it when fed from JavaScript memory', async () => {
    const { set, closed } = decoders();
    const main = set.own({});
    const fromIndex = set.own({});
    set.fedFromJavaScript(fromIndex);
    set.close(main);
    set.close(main);
    set.close(fromIndex);
    expect(closed).toEqual(['decoder-0 off the main thread']);
    await settle();
    expect(closed).toEqual(['decoder-0 off the main thread', 'decoder-1 on the main thread']);
  });

  it('a retired decoder is closed once the calls queued before are done; closeAll closes the rest', async () => {
    const { set, closed } = decoders();
    const sliceThreaded = set.own({});
    const frameThreaded = set.own({});
    let finish!: () => void;
    const flushing = set.queue(() => new Promise((resolve) => (finish = () => resolve(frames('flushed')))));
    set.retire(sliceThreaded);
    await settle();
    expect(closed).toEqual([]);
    finish();
    await flushing;
    await settle();
    expect(closed).toEqual(['decoder-0 off the main thread']);
    set.closeAll();
    expect(closed).toEqual(['decoder-0 off the main thread', 'decoder-1 off the main thread']);
    expect(frameThreaded.name).toBe('decoder-1');
  });
});
