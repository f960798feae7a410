import { describe, expect, it } from 'vitest';
import { describeBytes, rational } from '../../../src/operators/decode/demuxer.js';

describe('demuxer helpers', () => {
  it('FFmpeg rationals: unset ones (0/0, 0/1) are undefined', () => {
    expect(rational([25, 1])).toEqual([25, 1]);
    expect(rational([0, 1])).toBeUndefined();
    expect(rational([0, 0])).toBeUndefined();
    expect(rational(null)).toBeUndefined();
    expect(rational(undefined)).toBeUndefined();
  });

  it('what bytes FFmpeg refused look like, for the message', () => {
    const text = (s: string) => new Uint8Array(Buffer.from(s));
    expect(describeBytes(text('  <!DOCTYPE html><html>'))).toBe('it looks like an HTML or XML page');
    expect(describeBytes(text('<?xml version="1.0"?>'))).toBe('it looks like an HTML or XML page');
    expect(describeBytes(text('{"error": "forbidden"}'))).toBe('it looks like JSON');
    expect(describeBytes(text('Access denied\r\n'))).toBe('it looks like text');
    expect(describeBytes(new Uint8Array([0, 0, 1, 0xba, 0x44]))).toBe(
      'its first bytes match no known container',
    );
    expect(describeBytes(new Uint8Array(0))).toBe('its first bytes match no known container');
  });
});
