import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/core/errors.js';
import { endSummary, noFramesError, type SessionCounts } from '../../../src/operators/decode/endings.js';

const counts: SessionCounts = {
  where: 'http://127.0.0.1/clip.mp4',
  url: 'http://127.0.0.1/clip.mp4',
  layout: 'faststart',
  stream: undefined,
  framesDecoded: 0,
  framesConverted: 0,
  corruptPackets: 0,
  lastDecodeError: undefined,
  framesLost: 0,
  framesOutOfOrder: 0,
  framesSkipped: 0,
  trimmedSkipped: 0,
  packetsBeforeSync: 0,
  videoPackets: 0,
  bytesFed: 1000,
  offsetReached: 1000,
  inputCutAt: undefined,
  totalBytes: 1000,
  sourceError: undefined,
};

describe('endings', () => {
  it('the end summary: truncated against the moov cut, else the file size, else a source error', () => {
    expect(endSummary('complete', { ...counts, framesDecoded: 3, framesConverted: 1 })).toEqual({
      reason: 'complete',
      layout: 'faststart',
      framesDecoded: 3,
      framesConverted: 1,
      corruptPackets: 0,
      framesLost: 0,
      framesOutOfOrder: 0,
      framesSkipped: 0,
      trimmedSkipped: 0,
      packetsBeforeSync: 0,
      bytesFed: 1000,
      offsetReached: 1000,
      truncated: false,
    });
    expect(endSummary('error', { ...counts, totalBytes: 2000 }).truncated).toBe(true);
    // moov-end: the response closed at the moov (offset 900) is not truncated for ending before the file does.
    expect(endSummary('complete', { ...counts, totalBytes: 2000, inputCutAt: 900 }).truncated).toBe(false);
    expect(endSummary('complete', { ...counts, totalBytes: 2000, inputCutAt: 1200 }).truncated).toBe(true);
    expect(endSummary('error', { ...counts, totalBytes: undefined }).truncated).toBe(false);
    expect(
      endSummary('error', { ...counts, totalBytes: undefined, sourceError: new Error('reset') }).truncated,
    ).toBe(true);
  });

  it('FF_ERR_NO_FRAMES says what was seen: FFmpeg did not open it', () => {
    const error = noFramesError(counts);
    expect(error).toBeInstanceOf(DecodeError);
    expect(error.code).toBe('FF_ERR_NO_FRAMES');
    expect(error.message).toBe(
      'http://127.0.0.1/clip.mp4: no picture could be decoded from the 1000 bytes received (layout faststart): FFmpeg did not open it; the demuxer returned no video packet',
    );
    expect(error.context).toEqual({
      url: 'http://127.0.0.1/clip.mp4',
      bytes: 1000,
      layout: 'faststart',
      videoPackets: 0,
      corruptPackets: 0,
    });
  });

  it('FF_ERR_NO_FRAMES: packets the decoder refused, with its last error; packets that gave nothing', () => {
    const stream = {
      layout: 'faststart' as const,
      container: 'mov,mp4,m4a,3gp,3g2,mj2',
      codec: 'h264',
      decoder: 'h264',
      width: 640,
      height: 360,
      fps: 25,
      timeBase: [1, 12800] as const,
    };
    const refused = noFramesError({
      ...counts,
      stream,
      videoPackets: 4,
      corruptPackets: 2,
      lastDecodeError: 'Invalid data found when processing input',
    });
    expect(refused.message).toBe(
      'http://127.0.0.1/clip.mp4: no picture could be decoded from the 1000 bytes received (layout faststart): FFmpeg opened it as mov,mp4,m4a,3gp,3g2,mj2 (h264 640×360); the demuxer returned 4 video packets, the decoder refused 2 as corrupt (last: Invalid data found when processing input)',
    );
    expect(refused.context.decoderError).toBe('Invalid data found when processing input');
    expect(noFramesError({ ...counts, stream, videoPackets: 4 }).message).toMatch(
      /the demuxer returned 4 video packets and the decoder gave no picture for them$/,
    );
  });
});
