import { describe, expect, it } from 'vitest';
import { FrameNumbering } from '../../../src/operators/decode/frame-numbers.js';
import { recordingContext } from './fake-context.js';

function numbering(frameDuration?: number) {
  const context = recordingContext();
  const numbers = new FrameNumbering(context.emit);
  numbers.frameDuration = frameDuration;
  return { numbers, context };
}

describe('FrameNumbering', () => {
  it('a constant rate from a start time other than 0: numbers from the first timestamp', () => {
    const { numbers, context } = numbering(512);
    expect([1024, 1536, 2048, 2560].map((t) => numbers.numberOf(t))).toEqual([0, 1, 2, 3]);
    expect(context.events).toEqual([]);
    expect(numbers.framesLost).toBe(0);
  });

  it('a frame the decoder dropped leaves a gap, counted as lost; numbering stays true', () => {
    const { numbers, context } = numbering(512);
    expect([0, 512, 2048, 2560].map((t) => numbers.numberOf(t))).toEqual([0, 1, 4, 5]);
    expect(numbers.framesLost).toBe(2);
    expect(context.named('frames-lost')).toEqual([{ from: 2, to: 3, count: 2, total: 2 }]);
  });

  it('a frame after a later one is refused (its number is taken) and counted', () => {
    const { numbers, context } = numbering(512);
    expect([0, 512, 1536, 1024, 2048].map((t) => numbers.numberOf(t))).toEqual([0, 1, 3, undefined, 4]);
    expect(numbers.framesOutOfOrder).toBe(1);
    expect(numbers.framesLost).toBe(1);
    expect(context.named('frame-out-of-order')).toEqual([{ frameNumber: 2, after: 3, total: 1 }]);
  });

  it('pictures skipped on purpose are not lost', () => {
    const { numbers, context } = numbering(512);
    numbers.skipped(1);
    numbers.skipped(3);
    expect([0, 1024, 2048].map((t) => numbers.numberOf(t))).toEqual([0, 2, 4]);
    expect(numbers.framesLost).toBe(0);
    expect(context.named('frames-lost')).toEqual([]);
  });

  it('a skipped number and a lost one in the same gap: only the lost one counts', () => {
    const { numbers } = numbering(512);
    numbers.skipped(2);
    expect([0, 512, 2048].map((t) => numbers.numberOf(t))).toEqual([0, 1, 4]);
    expect(numbers.framesLost).toBe(1);
  });

  it('a timestamp jump of 2^48 ticks is counted at once, not walked', () => {
    const { numbers, context } = numbering(1);
    expect(numbers.numberOf(0)).toBe(0);
    expect(numbers.numberOf(2 ** 48)).toBe(2 ** 48);
    expect(numbers.framesLost).toBe(2 ** 48 - 1);
    expect(context.named('frames-lost')).toEqual([
      { from: 1, to: 2 ** 48 - 1, count: 2 ** 48 - 1, total: 2 ** 48 - 1 },
    ]);
  });

  it('without a constant rate, or without timestamps: numbered as they come', () => {
    const { numbers } = numbering(undefined);
    expect([0, 5000, 100, 7].map((t) => numbers.numberOf(t))).toEqual([0, 1, 2, 3]);
    const timed = numbering(512).numbers;
    // A frame without a timestamp takes the next number; the next timestamp puts numbering back on time.
    expect([0, null, 1024, null].map((t) => timed.numberOf(t))).toEqual([0, 1, 2, 3]);
  });
});
