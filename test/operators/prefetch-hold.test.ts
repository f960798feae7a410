/**
 * Decoding held back while the first model run is in flight (issue 15): the gate's acquire-side hold and
 * heldDuringFirstRun on the bytes, in virtual time.
 */
import { describe, expect, it } from 'vitest';
import { NEVER, VirtualTimeScheduler, asyncScheduler, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  heldDuringFirstRun,
  prefetchGate,
  type FirstRunHold,
  type PrefetchGate,
  type PrefetchSlot,
} from '../../src/operators/prefetch.js';

/** A gate holding for at most `maxMs` on `scheduler`, and what its hold's end reported. */
function holdingGate(scheduler: VirtualTimeScheduler, maxMs = 300, limit = 4) {
  const ends: FirstRunHold[] = [];
  const gate = prefetchGate(limit, 'block', {
    holdDuringFirstRun: { maxMs, scheduler, onEnd: (hold) => ends.push(hold) },
  });
  return { gate, ends };
}

/** Lets promise callbacks run. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/** Whether a pending acquisition has its answer yet. */
function watch(taken: ReturnType<PrefetchGate['acquire']>) {
  const state: { done: boolean; slot?: PrefetchSlot; error?: unknown } = { done: false };
  if (taken instanceof Promise) {
    taken.then(
      (slot) => Object.assign(state, { done: true, slot }),
      (error: unknown) => Object.assign(state, { done: true, error }),
    );
  } else Object.assign(state, { done: true, slot: taken });
  return state;
}

/** Moves a virtual-time scheduler to `ms`. */
function advanceTo(scheduler: VirtualTimeScheduler, ms: number) {
  // An action due at `ms`, so that the clock reaches it even when nothing else is due by then.
  scheduler.schedule(() => undefined, ms - scheduler.frame);
  scheduler.maxFrames = ms;
  scheduler.flush();
}

describe('prefetchGate: holdDuringFirstRun', () => {
  it('slots come freely until the first run starts; then acquire waits until that run gives its slots back', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { gate, ends } = holdingGate(scheduler);
    const a = gate.acquire() as PrefetchSlot;
    const b = gate.acquire() as PrefetchSlot; // a batch still filling: no hold yet
    expect([a.id, b.id]).toEqual([1, 2]);
    expect(gate.holding).toBe(false);

    gate.started([a, b]);
    expect(gate.holding).toBe(true);
    const c = watch(gate.acquire());
    advanceTo(scheduler, 120);
    await settled();
    expect(c.done).toBe(false);

    gate.release([a]);
    await settled();
    expect(c.done).toBe(false); // b's run is the same run: still in flight
    gate.release([b]);
    await settled();
    expect(c).toEqual({ done: true, slot: { id: 3, dropped: false } });
    expect(ends).toEqual([{ ms: 120, reason: 'run-ended', waited: 1 }]);
    expect(gate.holding).toBe(false);
  });

  it('ends after maxMs when the first run takes longer, and waiters get their slots in order', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { gate, ends } = holdingGate(scheduler, 300);
    const a = gate.acquire() as PrefetchSlot;
    gate.started([a]);
    const b = watch(gate.acquire());
    const c = watch(gate.acquire());
    advanceTo(scheduler, 299);
    await settled();
    expect([b.done, c.done]).toEqual([false, false]);
    advanceTo(scheduler, 300);
    await settled();
    expect([b.slot?.id, c.slot?.id]).toEqual([2, 3]);
    expect(ends).toEqual([{ ms: 300, reason: 'max-wait', waited: 2 }]);
    // The first run ending later changes nothing: the hold is over.
    gate.release([a]);
    expect(ends).toHaveLength(1);
  });

  it('only the first run holds', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { gate, ends } = holdingGate(scheduler);
    const a = gate.acquire() as PrefetchSlot;
    gate.started([a]);
    gate.release([a]);
    const b = gate.acquire() as PrefetchSlot;
    gate.started([b]);
    expect(gate.holding).toBe(false);
    expect(gate.acquire()).toMatchObject({ id: 3 });
    expect(ends).toEqual([{ ms: 0, reason: 'run-ended', waited: 0 }]);
  });

  it('a held acquisition still respects the limit once the hold is over', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { gate } = holdingGate(scheduler, 300, 2);
    const a = gate.acquire() as PrefetchSlot;
    const b = gate.acquire() as PrefetchSlot;
    gate.started([a]);
    const c = watch(gate.acquire());
    advanceTo(scheduler, 300); // the hold ends, but a and b still hold both places
    await settled();
    expect(c.done).toBe(false);
    gate.release([b]);
    await settled();
    expect(c.slot?.id).toBe(3);
    expect(gate.inFlight).toBe(2);
  });

  it('close during the hold rejects the held acquisitions and ends the hold as closed', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { gate, ends } = holdingGate(scheduler);
    const a = gate.acquire() as PrefetchSlot;
    gate.started([a]);
    const b = watch(gate.acquire());
    gate.close();
    await settled();
    expect(b.done).toBe(true);
    expect((b.error as Error).message).toBe('prefetch gate closed');
    expect(ends).toEqual([{ ms: 0, reason: 'closed', waited: 1 }]);
    // The cap's timer went with it: nothing fires later.
    advanceTo(scheduler, 1000);
    expect(ends).toHaveLength(1);
  });

  it('a run without slots (frames that hold none) does not start the hold', () => {
    const { gate } = holdingGate(new VirtualTimeScheduler());
    gate.started([]);
    expect(gate.holding).toBe(false);
  });

  it('a listener that throws does not keep the waiters from their slots', async () => {
    const gate = prefetchGate(2, 'block', {
      holdDuringFirstRun: {
        maxMs: 300,
        scheduler: new VirtualTimeScheduler(),
        onEnd: () => {
          throw new Error('listener failed');
        },
      },
    });
    const a = gate.acquire() as PrefetchSlot;
    gate.started([a]);
    const b = watch(gate.acquire());
    gate.release([a]);
    await settled();
    expect(b.slot?.id).toBe(2);
  });

  it('refuses a maxMs that is not a number of ms >= 0', () => {
    expect(() => prefetchGate(2, 'block', { holdDuringFirstRun: { maxMs: -1 } })).toThrow(
      'prefetch.holdDuringFirstRun.maxMs: expected a number of ms >= 0, got -1',
    );
  });
});

describe('heldDuringFirstRun', () => {
  const testScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  /** Inside run(), rxjs's schedulers (the gate's and the operator's defaults) run in virtual time. */
  const virtualGate = () => prefetchGate(4, 'block', { holdDuringFirstRun: { maxMs: 300 } });
  /** The first run of `gate`, from `startMs` to `endMs` of the running TestScheduler. */
  const firstRun = (gate: PrefetchGate, startMs: number, endMs: number) => {
    const slot = gate.acquire() as PrefetchSlot;
    asyncScheduler.schedule(() => gate.started([slot]), startMs);
    asyncScheduler.schedule(() => gate.release([slot]), endMs);
  };

  it('holds the values that come during the first run and lets them out in order at its end', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const gate = virtualGate();
      firstRun(gate, 2, 9);
      // prettier-ignore
      const e1 =   cold('-a-b--c-d-----e-|');
      const e1subs = '  ^---------------!';
      const expected = '-a-------(bcd)e-|';
      expectObservable(e1.pipe(heldDuringFirstRun(gate))).toBe(expected);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('at maxMs the held values go, though the first run goes on', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const gate = virtualGate();
      firstRun(gate, 0, 1000);
      // prettier-ignore
      const e1 =   cold('-a-b 400ms |');
      const expected = '300ms (ab) 100ms |';
      expectObservable(e1.pipe(heldDuringFirstRun(gate))).toBe(expected);
    });
  });

  it('completion and errors wait for the held values', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const gate = virtualGate();
      firstRun(gate, 0, 5);
      // prettier-ignore
      const e1 =   cold('-a-|');
      const expected = '-----(a|)';
      expectObservable(e1.pipe(heldDuringFirstRun(gate))).toBe(expected);
    });
    testScheduler().run(({ cold, expectObservable }) => {
      const gate = virtualGate();
      firstRun(gate, 0, 5);
      // prettier-ignore
      const e1 =   cold('-a-#');
      const expected = '-----(a#)';
      expectObservable(e1.pipe(heldDuringFirstRun(gate))).toBe(expected);
    });
  });

  it('outside the hold: never, empty, an error and many values pass as they are', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const gate = virtualGate();
      expectObservable(NEVER.pipe(heldDuringFirstRun(gate))).toBe('-');
      expectObservable(cold('|').pipe(heldDuringFirstRun(gate))).toBe('|');
      expectObservable(throwError(() => 'boom').pipe(heldDuringFirstRun(gate))).toBe('#', undefined, 'boom');
      expectObservable(cold('-a-b-c-|').pipe(heldDuringFirstRun(gate))).toBe('-a-b-c-|');
    });
  });

  it('an early unsubscribe drops the held values and forgets the hold', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const gate = virtualGate();
      firstRun(gate, 0, 6);
      // prettier-ignore
      const e1 =   cold('-a-b-c-|');
      const unsub = '   ----!';
      const e1subs = '  ^---!';
      const expected = '-----';
      expectObservable(e1.pipe(heldDuringFirstRun(gate)), unsub).toBe(expected);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });
});
