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
 * whatever the operator is: no user filter can keep decoding waiting for slots nobody will return.
 *
 * The stage is taken to keep the frames' order (a MonoTypeOperatorFunction that filters). For each frame
 * holding a slot:
 *
 * - passed on while it is handed in (a synchronous filter that keeps it): nothing to do;
 * - not passed on at once (filtered, or held by an operator that decides later): its place in the
 *   window is freed at once (`gate.detach`), so decoding goes on, while its pixels stay valid;
 * - passed over: a frame handed in later came out first, or the stage ended (complete, error,
 *   unsubscribe), or more than `gate.limit` frames are undecided: its slot is released, pixels included;
 * - coming out after that (an operator that reorders, or holds more than `gate.limit` frames) it is
 *   dropped, with a `stride`/`frame-late` event, since its pixels may belong to another frame by then.
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
      let handing: PrefetchSlot | undefined;
      let passedAtOnce = false;
      let late = 0;
      const passOver = (frames: readonly T[]) => gate.release(frames.map((frame) => frame.slot!));
      const releaseAll = () => passOver(undecided.splice(0));

      const input = new Subject<T>();
      const output = operator(input.asObservable()).subscribe({
        next: (frame) => {
          const slot = frame.slot;
          if (slot) {
            if (slot === handing) {
              passedAtOnce = true;
              passOver(undecided.splice(0));
            } else {
              const at = undecided.findIndex((other) => other.slot === slot);
              if (at < 0) {
                late += 1;
                onEvent?.({
                  stage: 'stride',
                  name: 'frame-late',
                  at: now(),
                  data: { frameNumber: frame.frameNumber, late },
                });
                return;
              }
              passOver(undecided.splice(0, at + 1).slice(0, at));
            }
          }
          subscriber.next(frame);
        },
        error: (error: unknown) => {
          releaseAll();
          subscriber.error(error);
        },
        complete: () => {
          releaseAll();
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
          handing = slot;
          passedAtOnce = false;
          try {
            input.next(frame);
          } finally {
            handing = undefined;
          }
          if (passedAtOnce) return;
          if (subscriber.closed) {
            gate.release([slot]);
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
        releaseAll();
      };
    });
}
