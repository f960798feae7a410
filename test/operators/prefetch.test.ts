import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { decode, type DecodedFrame } from '../../src/operators/decode.js';
import { PixelBufferPool, prefetchGate, type PrefetchSlot } from '../../src/operators/prefetch.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { createDispatcher } from '../../src/sources/dispatcher.js';
import { httpSource } from '../../src/sources/http.js';
import { testFixtures } from '../support/fixtures.js';
import { steppedHost } from '../support/stepped-host.js';

describe('prefetchGate', () => {
  it('block: hands out limit slots, then waits; a release wakes the oldest waiter', async () => {
    const gate = prefetchGate(2);
    const a = gate.acquire() as PrefetchSlot;
    const b = gate.acquire() as PrefetchSlot;
    const waiting = gate.acquire();
    expect(waiting).toBeInstanceOf(Promise);
    expect(gate.inFlight).toBe(2);
    gate.release([a]);
    gate.release([a]); // idempotent
    const c = (await waiting)!;
    expect(c.id).toBe(3);
    expect(gate.inFlight).toBe(2);
    gate.release([b, c]);
    expect(gate.inFlight).toBe(0);
  });

  it('drop-newest: no slot means the frame is dropped, counted', () => {
    const gate = prefetchGate(1, 'drop-newest');
    expect(gate.acquire()).toMatchObject({ id: 1 });
    expect(gate.acquire()).toBeUndefined();
    expect(gate.dropped).toBe(1);
  });

  it('drop-oldest: the oldest slot whose run has not started is evicted; running ones never are', async () => {
    const gate = prefetchGate(2, 'drop-oldest');
    const a = gate.acquire() as PrefetchSlot;
    const b = gate.acquire() as PrefetchSlot;
    const c = gate.acquire() as PrefetchSlot;
    expect([a.dropped, b.dropped, c.dropped]).toEqual([true, false, false]);
    expect(gate.dropped).toBe(1);
    gate.started([b, c]);
    const d = gate.acquire();
    expect(d).toBeInstanceOf(Promise); // both slots are running: nothing to evict
    gate.release([b]);
    expect((await d)!.dropped).toBe(false);
  });

  it('detach frees the place at once but keeps the pixel buffer until release', async () => {
    const pool = new PixelBufferPool();
    const gate = prefetchGate(1, 'block', { pixelBuffers: pool });
    const a = gate.acquire() as PrefetchSlot;
    const pixels = gate.pixels(a, 64)!;
    const waiting = gate.acquire();
    expect(waiting).toBeInstanceOf(Promise);
    gate.detach([a]);
    gate.detach([a]); // idempotent
    const b = (await waiting)!;
    expect(gate.inFlight).toBe(1);
    // The detached frame's buffer is still its own: the next slot gets another one.
    expect(gate.pixels(a, 64)).toBeUndefined();
    expect(gate.pixels(b, 64)).not.toBe(pixels);
    expect(pool.idleBytes).toBe(0);
    gate.release([a]);
    expect(pool.idleBytes).toBe(64);
    expect(gate.inFlight).toBe(1);
    gate.release([b]);
    expect(pool.idleBytes).toBe(128);
    expect(gate.inFlight).toBe(0);
  });

  it('readmit counts a detached slot again, past the limit for a while: acquire waits until it is back under', async () => {
    const gate = prefetchGate(2, 'block', { pixelBuffers: new PixelBufferPool() });
    const a = gate.acquire() as PrefetchSlot;
    const buffer = gate.pixels(a, 16);
    gate.detach([a]);
    const b = gate.acquire() as PrefetchSlot;
    const c = gate.acquire() as PrefetchSlot;
    expect(gate.inFlight).toBe(2);
    gate.readmit([a]);
    gate.readmit([a]); // idempotent
    expect(gate.inFlight).toBe(3);
    expect(gate.pixels(a, 16)).toBe(buffer);
    const waiting = gate.acquire();
    expect(waiting).toBeInstanceOf(Promise);
    gate.release([b]);
    expect(gate.inFlight).toBe(2);
    gate.release([c]);
    expect((await waiting)!.id).toBe(4);
    // A released (or never detached) slot is not readmitted.
    gate.release([a]);
    gate.readmit([a, c]);
    expect(gate.inFlight).toBe(1);
  });

  it('abandon frees the place but never gives the pixel buffer to a later slot', () => {
    const pool = new PixelBufferPool();
    const gate = prefetchGate(1, 'block', { pixelBuffers: pool });
    const a = gate.acquire() as PrefetchSlot;
    const buffer = gate.pixels(a, 16);
    gate.detach([a]);
    gate.abandon([a]);
    expect(gate.inFlight).toBe(0);
    expect(pool.idleBytes).toBe(0);
    const b = gate.acquire() as PrefetchSlot;
    expect(gate.pixels(b, 16)).not.toBe(buffer);
    gate.abandon([b]);
    expect(gate.inFlight).toBe(0);
    expect(pool.idleBytes).toBe(0);
  });

  it('close rejects the waiters; bad options throw', async () => {
    const gate = prefetchGate(1);
    gate.acquire();
    const waiting = gate.acquire() as Promise<PrefetchSlot>;
    gate.close();
    await expect(waiting).rejects.toThrow('prefetch gate closed');
    expect(() => prefetchGate(0, 'lifo' as 'block')).toThrowError(
      'prefetch.limit: expected a positive integer, got 0\nprefetch.policy: expected block, drop-newest or drop-oldest, got "lifo"',
    );
  });
});

describe('prefetchGate pixel buffers', () => {
  it('a slot keeps one buffer; the buffer of a released slot goes to the next slot, not a new one', () => {
    const pixelBuffers = new PixelBufferPool();
    const gate = prefetchGate(2, 'block', { pixelBuffers });
    const a = gate.acquire() as PrefetchSlot;
    const b = gate.acquire() as PrefetchSlot;
    const bufferA = gate.pixels(a, 12)!;
    expect(bufferA.byteLength).toBe(12);
    expect(bufferA.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(gate.pixels(a, 12)).toBe(bufferA);
    const bufferB = gate.pixels(b, 12)!;
    expect(bufferB).not.toBe(bufferA);
    gate.release([a]);
    expect(pixelBuffers.idleBytes).toBe(12);
    expect(gate.pixels(a, 12)).toBeUndefined(); // no longer held
    const c = gate.acquire() as PrefetchSlot;
    expect(gate.pixels(c, 12)).toBe(bufferA);
    expect(pixelBuffers.idleBytes).toBe(0);
    // Another size: the slot's buffer goes back and one of that size replaces it.
    const wide = gate.pixels(c, 24)!;
    expect(wide.byteLength).toBe(24);
    expect(pixelBuffers.idleBytes).toBe(12);
  });

  it('drop-oldest: the buffer of the evicted slot is the new one', () => {
    const pixelBuffers = new PixelBufferPool();
    const gate = prefetchGate(1, 'drop-oldest', { pixelBuffers });
    const a = gate.acquire() as PrefetchSlot;
    const bufferA = gate.pixels(a, 8)!;
    const b = gate.acquire() as PrefetchSlot;
    expect(a.dropped).toBe(true);
    expect(gate.pixels(b, 8)).toBe(bufferA);
  });

  it('the pool keeps no more idle bytes than its bound', () => {
    const pixelBuffers = new PixelBufferPool(20);
    const gate = prefetchGate(3, 'block', { pixelBuffers });
    const slots = [1, 2, 3].map(() => gate.acquire() as PrefetchSlot);
    for (const slot of slots) gate.pixels(slot, 8);
    gate.release(slots);
    expect(pixelBuffers.idleBytes).toBe(16);
  });
});

describe('decode with a prefetch gate: backpressure down to the socket', () => {
  let fixtures: FixtureSet;
  let sim: NetSim;
  let dispatcher: Dispatcher;
  beforeAll(async () => {
    fixtures = await testFixtures();
    sim = await startNetSim({ files: { '/clip.mp4': readFileSync(fixtures.clips['faststart']!.file) } });
    dispatcher = createDispatcher();
  });
  afterAll(async () => {
    await dispatcher.destroy();
    await sim.close();
  });

  it('block: decoding stops at the limit and the download pauses until slots come back', async () => {
    // The host sends the next 2 kB only once the last ones were delivered and the source is not paused: a
    // link with no buffer to speak of, so that how far the download gets depends on what the decoder
    // asks for, never on how quickly it runs (a rate-limited host had the whole 80 kB file in the socket
    // buffers within 0.6 s, before a loaded machine had decoded 4 frames).
    const clip = readFileSync(fixtures.clips['faststart']!.file);
    const host = await steppedHost(clip, 2048);
    try {
      const gate = prefetchGate(4);
      // The decoder asking for a 5th slot and waiting: decoding is held at the gate.
      let gateWaits = 0;
      const acquire = gate.acquire.bind(gate);
      gate.acquire = () => {
        const taken = acquire();
        if (taken instanceof Promise) gateWaits += 1;
        return taken;
      };
      const events: StageEvent[] = [];
      const frames: DecodedFrame[] = [];
      const delivered = () =>
        events
          .filter((e) => e.stage === 'source' && e.name === 'chunk')
          .reduce((sum, e) => sum + (e.data!.bytes as number), 0);
      const lastFlow = () =>
        events.filter((e) => e.stage === 'source' && (e.name === 'paused' || e.name === 'resumed')).at(-1)
          ?.name;
      let flushed = false;
      const pump = () =>
        setImmediate(() => {
          if (!flushed && lastFlow() !== 'paused' && delivered() === host.sent) host.step();
        });
      const onSourceEvent = (e: StageEvent) => {
        events.push(e);
        if (e.name === 'headers' || e.name === 'chunk' || e.name === 'resumed') pump();
      };
      const STALL_MS = 1000;
      const done = new Promise<void>((resolve, reject) =>
        httpSource(host.url, { dispatcher, stallTimeoutMs: STALL_MS, onEvent: onSourceEvent })
          .pipe(decode({ imgSize: 320, gate, maxQueuedBytes: 8192, onEvent: (e) => events.push(e) }))
          .subscribe({ next: (f) => frames.push(f), error: reject, complete: resolve }),
      );
      const seen = () =>
        `frames ${frames.length}, gate waits ${gateWaits}, last flow ${lastFlow()}, ` +
        `delivered ${delivered()} of ${clip.byteLength}, sent ${host.sent}`;
      // Decoding held at the gate with the transfer paused (earlier pauses may have been lifted while FFmpeg
      // still needed bytes for the first picture, or was opening).
      await expect
        .poll(() => (frames.length === 4 && gateWaits === 1 && lastFlow() === 'paused') || seen(), {
          timeout: 20_000,
        })
        .toBe(true);
      const deliveredWhenPaused = delivered();
      expect(deliveredWhenPaused, seen()).toBeLessThan(clip.byteLength);
      // The rest of the file now waits in the socket buffers. Held for twice the stall timeout: the paused
      // transfer delivers none of it and does not count as stalled.
      flushed = true;
      host.flush();
      await new Promise((resolve) => setTimeout(resolve, 2 * STALL_MS));
      expect(seen()).toBe(
        `frames 4, gate waits 1, last flow paused, delivered ${deliveredWhenPaused} of ${clip.byteLength}, ` +
          `sent ${clip.byteLength}`,
      );
      expect(gate.inFlight).toBe(4);
      expect(events.some((e) => e.name === 'end')).toBe(false);

      // The consumer catches up: give slots back as frames arrive, and everything flows to the end.
      const releaser = setInterval(() => gate.release(frames.flatMap((f) => (f.slot ? [f.slot] : []))), 5);
      await done;
      clearInterval(releaser);
      expect(frames).toHaveLength(100);
      expect(frames.every((f) => f.image)).toBe(true);
      expect(delivered()).toBe(clip.byteLength);
      expect(events.some((e) => e.name === 'source-resumed')).toBe(true);
      expect(await host.ended).toBe('complete');
      expect(host.requests).toBe(1);
    } finally {
      await host.close();
    }
  });

  it('drop-newest: frames past the limit go on without pixels, counted', async () => {
    const gate = prefetchGate(3, 'drop-newest');
    const events: StageEvent[] = [];
    const frames: DecodedFrame[] = [];
    await new Promise<void>((resolve, reject) =>
      httpSource(sim.urlFor('/clip.mp4'), { dispatcher })
        .pipe(decode({ imgSize: 320, gate, keepFrame: (n) => n % 10 === 0, onEvent: (e) => events.push(e) }))
        .subscribe({ next: (f) => frames.push(f), error: reject, complete: resolve }),
    );
    expect(frames).toHaveLength(100);
    expect(frames.filter((f) => f.image).map((f) => f.frameNumber)).toEqual([0, 10, 20]);
    expect(events.filter((e) => e.name === 'frame-dropped').map((e) => e.data!.frameNumber)).toEqual([
      30, 40, 50, 60, 70, 80, 90,
    ]);
    expect(gate.dropped).toBe(7);
  });
});
