import type { Logger } from 'pino';
import type { EventSink, StageEvent, StageName } from './events.js';

/** Per-chunk and per-frame events: many per run, so they are logged at debug level only. */
const CHATTY = new Set(['chunk', 'frame']);
/**
 * Downgrades and losses the user did not ask for (CUDA or NVDEC missing, the moov's Range refused, frames
 * FFmpeg could not decode): logged at warn level, so they show at the CLI's default level.
 */
const WARNINGS = new Set([
  'device-fallback',
  'nvdec-unavailable',
  'moov-fetch-fallback',
  'corrupt-packet',
  'frames-lost',
]);

/**
 * An event sink that logs each timing event through a child logger per stage:
 * `root.child({ stage, run })`. Milestones go at info level, chunk and frame events at debug, downgrades
 * and losses at warn; nothing is
 * built for a level that is off, and logging never throws into the pipeline.
 */
export function logEvents(root: Logger, run: string): EventSink {
  const children = new Map<StageName, Logger>();
  const childFor = (stage: StageName) => {
    let child = children.get(stage);
    if (!child) {
      child = root.child({ stage, run });
      children.set(stage, child);
    }
    return child;
  };
  return (event: StageEvent) => {
    const logger = childFor(event.stage);
    const level = CHATTY.has(event.name) ? 'debug' : WARNINGS.has(event.name) ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    try {
      logger[level]({ event: event.name, at: Math.round(event.at * 10) / 10, ...event.data }, event.name);
    } catch {
      // The logging path never breaks the pipeline.
    }
  };
}

/** One sink that feeds several (a timeline and a logger, say). */
export function teeSinks(...sinks: Array<EventSink | undefined>): EventSink {
  const present = sinks.filter((sink): sink is EventSink => sink !== undefined);
  return (event) => {
    for (const sink of present) sink(event);
  };
}
