import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { validate, type DecodeOptions } from '../../../src/operators/decode/options.js';

function problems(options: DecodeOptions): readonly string[] {
  try {
    validate(options);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe('decode options', () => {
  it('valid options pass, defaults included', () => {
    expect(problems({})).toEqual([]);
    expect(
      problems({
        imgSize: 320,
        threadCount: 0,
        probeSize: 32,
        minStartBytes: 0,
        minStartWaitMs: 0,
        threads: 'auto',
        padValue: 255,
        maxBytes: 1,
      }),
    ).toEqual([]);
  });

  it('every problem at once, with the option and the value', () => {
    expect(
      problems({
        imgSize: 0,
        threadCount: -1,
        probeSize: 31,
        minStartBytes: 1.5,
        minStartWaitMs: Number.POSITIVE_INFINITY,
        threads: 'fast' as 'auto',
        padValue: 256,
        maxBytes: 0,
      }),
    ).toEqual([
      'decode.imgSize: expected a positive integer, got 0',
      "decode.threadCount: expected an integer >= 0 (0: FFmpeg's choice), got -1",
      'decode.probeSize: expected an integer >= 32, got 31',
      'decode.minStartBytes: expected an integer >= 0, got 1.5',
      'decode.minStartWaitMs: expected a number of milliseconds >= 0, got null',
      'decode.threads: expected slice, frame or auto, got "fast"',
      'decode.padValue: expected an integer 0..255, got 256',
      'decode.maxBytes: expected a positive integer, got 0',
    ]);
  });
});
