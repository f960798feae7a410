/** Why a run that answers nothing has nothing: the table of emptyRunError, case by case. */

import { describe, expect, it } from 'vitest';
import { DecodeError, FirstframeError } from '../../src/core/errors.js';
import { emptyRunError, type RunFacts } from '../../src/pipelines/outcome.js';

const URL = 'http://video.example/clip.mp4';

const facts = (over: Partial<RunFacts>): RunFacts => ({
  target: URL,
  endedBy: 'budget',
  failed: false,
  headersMs: 12.3,
  bytes: 40_000,
  framesDecoded: 3,
  framesInferred: 0,
  totalMs: 3000.4,
  ...over,
});

describe('emptyRunError', () => {
  // prettier-ignore
  const cases: Array<[string, Partial<RunFacts>, string | undefined, string | undefined]> = [
    ['budget, no headers, no byte', { headersMs: null, bytes: 0, framesDecoded: 0 },
      'FF_ERR_NO_HEADERS_BY_DEADLINE', `${URL}: no response headers by the deadline, 3000 ms after the run started`],
    ['budget, headers and bytes, no frame', { framesDecoded: 0 },
      'FF_ERR_NO_FRAME_BY_DEADLINE', `${URL}: no frame decoded by the deadline: 40000 bytes received in 3000 ms, headers after 12 ms`],
    ['budget, headers and no byte', { bytes: 0, framesDecoded: 0 },
      'FF_ERR_NO_FRAME_BY_DEADLINE', `${URL}: no frame decoded by the deadline: 0 bytes received in 3000 ms, headers after 12 ms`],
    ['budget, a file (no headers) with bytes, no frame', { headersMs: null, framesDecoded: 0 },
      'FF_ERR_NO_FRAME_BY_DEADLINE', `${URL}: no frame decoded by the deadline: 40000 bytes received in 3000 ms`],
    ['budget, frames decoded, none inferred', {},
      'FF_ERR_NO_RESULT_BY_DEADLINE', `${URL}: 3 frames decoded and none inferred by the deadline (3000 ms, 40000 bytes received): the budget is shorter than the first inference`],
    ['end, no byte', { endedBy: 'end', bytes: 0, framesDecoded: 0 },
      'FF_ERR_NO_DATA', `${URL}: the input ended with no bytes`],
    ['end, bytes, no frame', { endedBy: 'end', framesDecoded: 0 },
      'FF_ERR_NO_FRAMES', `${URL}: the input ended after 40000 bytes and no frame could be decoded from it`],
    ['end, frames, no result', { endedBy: 'end' },
      'FF_ERR_NO_RESULTS', `${URL}: the video ended with 3 frames decoded and no result (a stage dropped every frame)`],
    ['budget with results', { framesInferred: 1 }, undefined, undefined],
    ['end with results', { endedBy: 'end', framesInferred: 2 }, undefined, undefined],
    ['already failed, nothing decoded', { endedBy: 'error', failed: true, framesDecoded: 0 }, undefined, undefined],
    ['failed flag with endedBy budget (a limit raised at the end)', { failed: true, framesDecoded: 0 }, undefined, undefined],
    ['cancelled with nothing', { endedBy: 'cancelled', headersMs: null, bytes: 0, framesDecoded: 0 }, undefined, undefined],
  ];

  for (const [name, over, code, message] of cases) {
    it(`${name} → ${code ?? 'no error'}`, () => {
      const error = emptyRunError(facts(over));
      expect(error?.code).toBe(code);
      expect(error?.message).toBe(message);
    });
  }

  it('carries the facts as context, and is a DecodeError for the decode codes', () => {
    const noFrames = emptyRunError(facts({ endedBy: 'end', framesDecoded: 0 }));
    expect(noFrames).toBeInstanceOf(DecodeError);
    expect(noFrames?.context).toEqual({
      url: URL,
      bytes: 40_000,
      framesDecoded: 0,
      headersMs: 12.3,
      totalMs: 3000.4,
    });
    const noHeaders = emptyRunError(facts({ headersMs: null, bytes: 0, framesDecoded: 0 }));
    expect(noHeaders).toBeInstanceOf(FirstframeError);
    expect(noHeaders).not.toBeInstanceOf(DecodeError);
    expect(noHeaders?.toJSON()).toEqual({
      code: 'FF_ERR_NO_HEADERS_BY_DEADLINE',
      message: `${URL}: no response headers by the deadline, 3000 ms after the run started`,
      context: { url: URL, bytes: 0, framesDecoded: 0, headersMs: null, totalMs: 3000.4 },
    });
  });
});
