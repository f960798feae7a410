/**
 * A promise settled in a later task of the event loop (setImmediate: after pending I/O callbacks and
 * timers), for work that must not share a task with what came before it (an answer after a deadline, a
 * decoder closed after the frame that used it). It goes through the run's clock (src/core/clock.ts), so that
 * a run in virtual time does not wait for the real event loop.
 */
export { nextTask } from './clock.js';
