import type { ResourceInfo } from '../../sources/types.js';

/** Reports one of decode's events (`stage: 'decode'`) to the subscriber's `onEvent`. */
export type EmitEvent = (name: string, data?: Record<string, unknown>) => void;

/**
 * What every part of one decode subscription shares: whether it is still running, the resource being read,
 * its events, and its one way to end in error. The session ({@link decode}) implements it; each part takes
 * it (or the few members it needs) in its constructor instead of reaching into the session.
 */
export interface SessionContext {
  /** False once the session is released (completed, failed or unsubscribed): every part stops. */
  readonly active: boolean;
  /** The resource the first chunk named (URL, size, Range fetch, pause and resume). */
  readonly resource: ResourceInfo | undefined;
  readonly emit: EmitEvent;
  /** Ends the session with `error` (once; later calls do nothing). */
  fail(error: unknown): void;
  /** An error from a part that does not know the URL (src/media), with it in front of the message. */
  located(error: unknown): unknown;
  /** Names the input in messages: its URL, or `sourceUrl`, or `decode`. */
  where(): string;
}
