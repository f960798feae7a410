import { now } from './clock.js';
import { Observable, Subject } from 'rxjs';

/** The pipeline stages that report timing events. */
export type StageName = 'source' | 'decode' | 'stride' | 'batch' | 'infer' | 'track' | 'sink' | 'pipeline';

/**
 * One timing event. `at` is `performance.now()` when it happened; reports turn it into milliseconds since
 * the run's start. `bytes` and `frames` are running totals where the stage has them.
 */
export interface StageEvent {
  readonly stage: StageName;
  readonly name: string;
  readonly at: number;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Where a stage sends its events. Stages call it synchronously; it must not throw. */
export type EventSink = (event: StageEvent) => void;

/** An event sink that throws nothing, whatever the user's callback does. */
export function safeSink(sink: EventSink | undefined): EventSink | undefined {
  if (!sink) return undefined;
  return (event) => {
    try {
      sink(event);
    } catch {
      // A reporting callback must never break the pipeline it observes.
    }
  };
}

/** Collects the events of one run and replays them as an Observable for live reporting. */
export interface Timeline {
  readonly startedAt: number;
  readonly sink: EventSink;
  readonly events: readonly StageEvent[];
  readonly events$: Observable<StageEvent>;
  /** The first event of a stage with this name, or undefined. */
  first(stage: StageName, name: string): StageEvent | undefined;
  /** Milliseconds from the start of the run to the first such event, or undefined. */
  msTo(stage: StageName, name: string): number | undefined;
  complete(): void;
}

export function createTimeline(startedAt: number = now()): Timeline {
  const events: StageEvent[] = [];
  const subject = new Subject<StageEvent>();
  const firsts = new Map<string, StageEvent>();
  return {
    startedAt,
    events,
    events$: subject.asObservable(),
    sink(event) {
      events.push(event);
      const key = `${event.stage}:${event.name}`;
      if (!firsts.has(key)) firsts.set(key, event);
      subject.next(event);
    },
    first: (stage, name) => firsts.get(`${stage}:${name}`),
    msTo(stage, name) {
      const event = firsts.get(`${stage}:${name}`);
      return event === undefined ? undefined : event.at - startedAt;
    },
    complete: () => subject.complete(),
  };
}
