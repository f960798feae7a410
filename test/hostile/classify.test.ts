/** How the fuzz harness names what became of a case. */

import { describe, expect, it } from 'vitest';
import { classify, crashSite } from '../../bench/fuzz/classify.js';
import type { PoolResult } from '../../bench/fuzz/pool.js';
import type { WorkerOutcome } from '../../bench/fuzz/protocol.js';

const context = { budgetMs: 1000, inputBytes: 5000 };

const answered = (fields: Partial<WorkerOutcome>): PoolResult => ({
  kind: 'outcome',
  outcome: {
    type: 'outcome',
    id: '1-1',
    elapsedMs: 300,
    endedBy: 'end',
    frames: 0,
    framesDecoded: 0,
    bytesDownloaded: 5000,
    rssMb: 200,
    ...fields,
  },
});

describe('classify', () => {
  it('a worker that died is a crash, named by its signal or its exit status', () => {
    const crash = { kind: 'crash' as const, stderrTail: '', previous: [] };
    expect(classify({ ...crash, signal: 'SIGSEGV', exitCode: null }, context)).toEqual({
      class: 'crash',
      why: 'SIGSEGV',
    });
    expect(classify({ ...crash, signal: null, exitCode: 1 }, context)).toEqual({
      class: 'crash',
      why: 'exit 1',
    });
  });

  it('no answer is a hang', () => {
    expect(classify({ kind: 'hang', waitedMs: 6000.4, stderrTail: '', previous: [] }, context)).toEqual({
      class: 'hang',
      why: 'no answer in 6000 ms',
    });
  });

  it('frames, or a typed error, are fine', () => {
    expect(classify(answered({ frames: 4 }), context)).toEqual({ class: 'ok-frames', why: '4 frames' });
    expect(
      classify(answered({ endedBy: 'error', error: { code: 'FF_ERR_MOOV_INVALID', message: 'x' } }), context),
    ).toEqual({ class: 'ok-typed-error', why: 'FF_ERR_MOOV_INVALID' });
  });

  it('no frames and no error from a non-empty input is a silent success, whether it ended or ran out of time', () => {
    expect(classify(answered({ endedBy: 'end' }), context)).toEqual({
      class: 'silent-success',
      why: 'endedBy end, no frames, no error',
    });
    expect(classify(answered({ endedBy: 'budget', elapsedMs: 1000 }), context).class).toBe('silent-success');
  });

  it('FF_ERR_INTERNAL, or run() rejecting, is an untyped error', () => {
    const internal = answered({ endedBy: 'error', error: { code: 'FF_ERR_INTERNAL', message: 'boom' } });
    expect(classify(internal, context)).toEqual({ class: 'untyped-error', why: 'FF_ERR_INTERNAL: boom' });
    const rejected = answered({
      endedBy: 'rejected',
      error: { code: 'FF_ERR_DEMUX', message: 'run() rejected' },
    });
    expect(classify(rejected, context).class).toBe('untyped-error');
  });

  it('an answer more than 100 ms past the budget is late, unless it is a worse finding', () => {
    expect(classify(answered({ frames: 2, elapsedMs: 1100 }), context).class).toBe('ok-frames');
    expect(classify(answered({ frames: 2, elapsedMs: 1101 }), context)).toEqual({
      class: 'late',
      why: 'answered after 1101 ms',
    });
    expect(classify(answered({ elapsedMs: 3000 }), context).class).toBe('silent-success');
  });
});

describe('crashSite', () => {
  it("names the function in beamcoder and the faulting address from the segfault handler's report", () => {
    const report = [
      'PID 2479 received SIGSEGV for address: 0x8',
      '/x/node_modules/segfault-handler/build/Release/segfault-handler.node(+0x31e8)[0x7f0a75e261e8]',
      '/lib/x86_64-linux-gnu/libc.so.6(+0x3c050)[0x7f0a7597a050]',
      '/x/node_modules/beamcoder/build/Release/beamcoder.node(_Z15demuxerCompleteP10napi_env__11napi_statusPv+0x10a)[0x7f0a7403fe3a]',
    ].join('\n');
    expect(crashSite(report)).toBe('in demuxerComplete (address 0x8)');
    expect(
      classify(
        { kind: 'crash', signal: 'SIGSEGV', exitCode: null, stderrTail: report, previous: [] },
        context,
      ),
    ).toEqual({ class: 'crash', why: 'SIGSEGV in demuxerComplete (address 0x8)' });
    expect(crashSite('nothing native here')).toBeUndefined();
  });
});
