import { Observable, Subject, type MonoTypeOperatorFunction } from 'rxjs';
import { now } from '../core/clock.js';
import { safeSink, type EventSink } from '../core/events.js';
import type { PrefetchGate, PrefetchSlot } from './prefetch.js';

/** A frame that may hold a prefetch slot (a DecodedFrame, or what a stride operator makes of one). */
export interface SlottedFrame {
  readonly frameNumber: number;
  readonly slot?: PrefetchSlot;
}

/**
 * Runs a stride stage's `operator` so that every frame it does not pass on gives its prefetch slot back,
 * whatever the operator is: no user filter can keep decoding waiting for slots nobody will return, and no
 * operator that holds frames lets decoding run past the prefetch window.
 *
 * The stage is taken to keep the frames' order (a MonoTypeOperatorFunction that filters). For each frame
 * holding a slot:
 *
 * - passed on while it is handed in (a synchronous filter that keeps it): nothing to do;
 * - not passed on at once (filtered, or held by an operator that decides later): its place in the
 *   window is freed at once (`gate.detach`), so decoding goes on, while its pixels stay valid;
 * - coming out later, in order: its place is taken again (`gate.readmit`, which may pass the limit for a
 *   while: decoding then waits until inference gives places back), so the window's bound holds;
 * - passed over: a frame handed in later came out first, or the stage ended by error or unsubscribe, or
 *   more than `gate.limit` frames are undecided: its place is freed and its pixel buffer left to the
 *   garbage collector (`gate.abandon`), since the operator may still read it; on complete the operator holds
 *   nothing any more, and the undecided frames' slots are released, buffers included;
 * - coming out after that (an operator that reorders, or holds more than `gate.limit` frames) it is
 *   dropped, with a `stride`/`frame-late` event: a frame after it went on already;
 * - coming out a second time (an operator that emits a frame twice): dropped, with a
 *   `stride`/`frame-repeated` event, so that one slot never goes to inference twice.
 *
 * A frame whose slot drop-oldest evicted before this stage (`slot.dropped`) is not tracked: it goes
 * through the operator and on as any frame without a slot (inference passes it over).
 *
 * ```text
 * in (slots):   -0-1-2-3-4-|     operator: keeps even frame numbers
 * out:          -0---2---4-|     1 and 3 give their slots back as they are dropped
 * ```
 */
export function releasingSkipped<T extends SlottedFrame>(
  gate: PrefetchGate,
  operator: MonoTypeOperatorFunction<T>,
  options: { onEvent?: EventSink } = {},
): MonoTypeOperatorFunction<T> {
  const onEvent = safeSink(options.onEvent);
  return (source) =>
    new Observable<T>((subscriber) => {
      /** Frames with a slot that went in, did not come out at once, and are not passed over yet. */
      const undecided: T[] = [];
      /** Slots this stage tracks (handed in while not evicted). */
      const tracked = new WeakSet<PrefetchSlot>();
      /** Slots passed on downstream. */
      const passed = new WeakSet<PrefetchSlot>();
      let handing: PrefetchSlot | undefined;
      let passedAtOnce = false;
      let late = 0;
      let repeated = 0;
      const passOver = (frames: readonly T[]) => gate.abandon(frames.map((frame) => frame.slot!));
      const drop = (frame: T, name: 'frame-late' | 'frame-repeated', count: number) =>
        onEvent?.({
          stage: 'stride',
          name,
          at: now(),
          data: { frameNumber: frame.frameNumber, [name === 'frame-late' ? 'late' : 'repeated']: count },
        });

      const input = new Subject<T>();
      const output = operator(input.asObservable()).subscribe({
        next: (frame) => {
          const slot = frame.slot;
          if (slot) {
            if (passed.has(slot)) {
              repeated += 1;
              drop(frame, 'frame-repeated', repeated);
              return;
            }
            if (slot === handing) {
              passedAtOnce = true;
              passOver(undecided.splice(0));
            } else if (tracked.has(slot)) {
              const at = undecided.findIndex((other) => other.slot === slot);
              if (at < 0) {
                late += 1;
                drop(frame, 'frame-late', late);
                return;
              }
              passOver(undecided.splice(0, at + 1).slice(0, at));
              gate.readmit([slot]);
            }
            passed.add(slot);
          }
          subscriber.next(frame);
        },
        error: (error: unknown) => {
          passOver(undecided.splice(0));
          subscriber.error(error);
        },
        complete: () => {
          gate.release(undecided.splice(0).map((frame) => frame.slot!));
          subscriber.complete();
        },
      });
      const upstream = source.subscribe({
        next: (frame) => {
          const slot = frame.slot;
          if (!slot || slot.dropped) {
            input.next(frame);
            return;
          }
          tracked.add(slot);
          handing = slot;
          passedAtOnce = false;
          try {
            input.next(frame);
          } finally {
            handing = undefined;
          }
          if (passedAtOnce) return;
          if (subscriber.closed) {
            gate.abandon([slot]);
            return;
          }
          gate.detach([slot]);
          undecided.push(frame);
          if (undecided.length > gate.limit) passOver(undecided.splice(0, undecided.length - gate.limit));
        },
        error: (error: unknown) => input.error(error),
        complete: () => input.complete(),
      });
      return () => {
        upstream.unsubscribe();
        output.unsubscribe();
        passOver(undecided.splice(0));
      };
    });
}
