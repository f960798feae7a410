import { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../../../src/core/errors.js';
import type { DecodedFrame } from '../../../src/operators/decode/options.js';
import { SessionEnd, type EndingSession } from '../../../src/operators/decode/session-end.js';

/** A session whose parts log what is done to them, in order, with what the ending reads of them. */
function fakeSession(state: { framesDecoded?: number; offsetReached?: number; sourceError?: unknown } = {}) {
  const log: string[] = [];
  const events: { name: string; data: Record<string, unknown> }[] = [];
  const step = (name: string) => () => void log.push(name);
  const session = {
    emit: (name: string, data: Record<string, unknown> = {}) => events.push({ name, data }),
    where: () => 'http://127.0.0.1/clip.mp4',
    resource: { url: 'http://127.0.0.1/clip.mp4', totalBytes: 2000 },
    layout: 'faststart',
    stream: undefined,
    offsetReached: state.offsetReached ?? 1000,
    inputCutAt: undefined,
    sourceError: state.sourceError,
    upstream: { unsubscribe: step('upstream') },
    sniff: { release: step('sniff') },
    direct: { stopHead: step('direct') },
    moovEnd: undefined,
    editSkip: { release: step('editSkip') },
    indexed: { release: step('indexed') },
    feeder: {
      bytesFed: 900,
      writes: Promise.resolve(),
      release: step('feeder'),
      freeFedMemory: step('feeder.freeFedMemory'),
    },
    demuxing: {
      skipper: undefined,
      trimmedSkipped: 0,
      packetsBeforeSync: 0,
      videoPackets: 7,
      reading: Promise.resolve(),
      take: () => (log.push('demuxing.take'), { forceClose: step('demuxer.forceClose') }),
    },
    decoding: { corruptPackets: 2, lastDecodeError: 'Invalid data', release: step('decoding') },
    decoders: { tail: Promise.resolve(), closeAll: step('decoders.closeAll') },
    numbering: { framesLost: 0, framesOutOfOrder: 0 },
    frames: { framesDecoded: state.framesDecoded ?? 3, framesConverted: 1 },
    converter: { filtering: Promise.resolve(), drop: step('converter.drop') },
  };
  const outcome: { completed: boolean; error?: unknown } = { completed: false };
  let ending: SessionEnd | undefined;
  new Observable<DecodedFrame>((subscriber) => {
    ending = new SessionEnd(session as unknown as EndingSession, subscriber);
  }).subscribe({
    complete: () => (outcome.completed = true),
    error: (error: unknown) => (outcome.error = error),
  });
  return { ending: ending!, log, events, outcome };
}

/** Until the FFmpeg objects are closed: after the writes and a task, then their own task (setImmediate). */
const closed = () => new Promise((resolve) => setTimeout(resolve, 20));

const INPUT_RELEASED = ['upstream', 'editSkip', 'sniff', 'indexed', 'direct', 'feeder'];
const FFMPEG_CLOSED = [
  'demuxing.take',
  'decoding',
  'decoders.closeAll',
  'converter.drop',
  'demuxer.forceClose',
  'feeder.freeFedMemory',
];

describe('SessionEnd', () => {
  it('finish: the end event, the input released at once, FFmpeg closed in later tasks, then complete', async () => {
    const { ending, log, events, outcome } = fakeSession();
    ending.finish();
    expect(ending.active).toBe(false);
    expect(outcome.completed).toBe(true);
    expect(log).toEqual(INPUT_RELEASED);
    await closed();
    expect(log).toEqual([...INPUT_RELEASED, ...FFMPEG_CLOSED]);
    expect(events).toEqual([
      {
        name: 'end',
        data: {
          reason: 'complete',
          layout: 'faststart',
          framesDecoded: 3,
          framesConverted: 1,
          corruptPackets: 2,
          framesLost: 0,
          framesOutOfOrder: 0,
          framesSkipped: 0,
          trimmedSkipped: 0,
          packetsBeforeSync: 0,
          bytesFed: 900,
          offsetReached: 1000,
          truncated: true,
        },
      },
    ]);
  });

  it('once: a later finish, fail or dispose does nothing', async () => {
    const { ending, log, events, outcome } = fakeSession();
    ending.dispose();
    ending.finish();
    ending.fail(new Error('late'));
    ending.failDemuxing(new Error('late'));
    await closed();
    expect(events.map((event) => [event.name, event.data.reason])).toEqual([['end', 'unsubscribed']]);
    expect(log).toEqual([...INPUT_RELEASED, ...FFMPEG_CLOSED]);
    expect(outcome).toEqual({ completed: false });
  });

  it('finish after a source error: that error, after the frames', () => {
    const sourceError = new SourceError('FF_ERR_CONNECTION', 'reset', {});
    const { ending, events, outcome } = fakeSession({ sourceError });
    ending.finish();
    expect(outcome).toEqual({ completed: false, error: sourceError });
    expect(events[0]!.data).toMatchObject({ reason: 'error', code: 'FF_ERR_CONNECTION' });
  });

  it('finish with bytes and no picture: FF_ERR_NO_FRAMES saying what was seen', () => {
    const { ending, outcome } = fakeSession({ framesDecoded: 0 });
    ending.finish();
    expect(outcome.error).toMatchObject({
      code: 'FF_ERR_NO_FRAMES',
      message:
        'http://127.0.0.1/clip.mp4: no picture could be decoded from the 1000 bytes received (layout faststart): FFmpeg did not open it; the demuxer returned 7 video packets, the decoder refused 2 as corrupt (last: Invalid data)',
    });
  });

  it('finish with no byte at all completes: the empty input was reported where it ended', () => {
    const { ending, outcome } = fakeSession({ framesDecoded: 0, offsetReached: 0 });
    ending.finish();
    expect(outcome).toEqual({ completed: true });
  });

  it('failDemuxing: an untyped failure as FF_ERR_DEMUX with the frames and bytes so far', () => {
    const { ending, events, outcome } = fakeSession();
    ending.failDemuxing(new Error('EOF in the middle of a packet'));
    expect(outcome.error).toMatchObject({
      code: 'FF_ERR_DEMUX',
      message: 'http://127.0.0.1/clip.mp4: demuxing failed after 3 frames: EOF in the middle of a packet',
      context: { url: 'http://127.0.0.1/clip.mp4', frames: 3, bytes: 900 },
    });
    expect(events[0]!.data).toMatchObject({ reason: 'error', code: 'FF_ERR_DEMUX' });
  });
});
