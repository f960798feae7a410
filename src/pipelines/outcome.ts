import { DecodeError, FirstframeError, codes } from '../core/errors.js';
import type { EndedBy } from '../sinks/budget.js';

/** What the runner knows about a run when it ends: enough to tell why it has nothing to answer. */
export interface RunFacts {
  /** The URL or file the run read: every message names it. */
  readonly target: string;
  readonly endedBy: EndedBy;
  /** The run already carries an error (a fault upstream): nothing is added to it. */
  readonly failed: boolean;
  /** Milliseconds from the run's start to the response headers; null when none came (or a file). */
  readonly headersMs: number | null;
  /** Bytes received from the source. */
  readonly bytes: number;
  readonly framesDecoded: number;
  /** Results in the answer. */
  readonly framesInferred: number;
  /** Milliseconds from the run's start to its end. */
  readonly totalMs: number;
}

const ms = (value: number) => `${Math.round(value)} ms`;

/**
 * The error a run that answers nothing must carry, when it ended without one: a run never "succeeds" with
 * no frame. Undefined when the run has results, already failed, or was cancelled (a cancelled run answers
 * what it has on purpose).
 *
 * | ended by | what arrived | code |
 * |---|---|---|
 * | budget | no headers and no byte | FF_ERR_NO_HEADERS_BY_DEADLINE |
 * | budget | headers or bytes, no frame decoded | FF_ERR_NO_FRAME_BY_DEADLINE |
 * | budget | frames decoded, none inferred | FF_ERR_NO_RESULT_BY_DEADLINE |
 * | end | no byte | FF_ERR_NO_DATA |
 * | end | bytes, no frame decoded | FF_ERR_NO_FRAMES |
 * | end | frames decoded, none inferred | FF_ERR_NO_RESULTS |
 *
 * A file source sends no headers; its bytes count as an answer from the host. The decode stage raises
 * FF_ERR_NO_DATA and FF_ERR_NO_FRAMES itself at the end of its input; the two `end` rows are the safety
 * net for a decoder (or a custom operator) that completes quietly instead.
 *
 * @example
 * const error = emptyRunError({ target: url, endedBy: 'budget', failed: false, headersMs: null,
 *   bytes: 0, framesDecoded: 0, framesInferred: 0, totalMs: 3001 });
 * error?.code; // 'FF_ERR_NO_HEADERS_BY_DEADLINE'
 */
export function emptyRunError(facts: RunFacts): FirstframeError | undefined {
  if (facts.failed || facts.framesInferred > 0) return undefined;
  if (facts.endedBy !== 'budget' && facts.endedBy !== 'end') return undefined;
  const { target, bytes, framesDecoded, headersMs, totalMs } = facts;
  const context = { url: target, bytes, framesDecoded, headersMs, totalMs };
  if (facts.endedBy === 'budget') {
    if (headersMs === null && bytes === 0) {
      return new FirstframeError(
        codes.run.noHeadersByDeadline,
        `${target}: no response headers by the deadline, ${ms(totalMs)} after the run started`,
        context,
      );
    }
    if (framesDecoded === 0) {
      const headers = headersMs === null ? '' : `, headers after ${ms(headersMs)}`;
      return new FirstframeError(
        codes.run.noFrameByDeadline,
        `${target}: no frame decoded by the deadline: ${bytes} bytes received in ${ms(totalMs)}${headers}`,
        context,
      );
    }
    return new FirstframeError(
      codes.run.noResultByDeadline,
      `${target}: ${framesDecoded} frames decoded and none inferred by the deadline (${ms(totalMs)}, ` +
        `${bytes} bytes received): the budget is shorter than the first inference`,
      context,
    );
  }
  if (bytes === 0) {
    return new DecodeError(codes.decode.noData, `${target}: the input ended with no bytes`, context);
  }
  if (framesDecoded === 0) {
    return new DecodeError(
      codes.decode.noFrames,
      `${target}: the input ended after ${bytes} bytes and no frame could be decoded from it`,
      context,
    );
  }
  return new FirstframeError(
    codes.run.noResults,
    `${target}: the video ended with ${framesDecoded} frames decoded and no result (a stage dropped every frame)`,
    context,
  );
}
