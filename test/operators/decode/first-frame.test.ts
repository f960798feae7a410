import { describe, expect, it } from 'vitest';
import { FirstFrameShortcut } from '../../../src/operators/decode/first-frame.js';

describe('FirstFrameShortcut', () => {
  it('the throwaway decoder may take the first video packet only', () => {
    const shortcut = new FirstFrameShortcut();
    expect(shortcut.claim()).toBe(true);
    expect(shortcut.claim()).toBe(false);
    expect(shortcut.decodedAhead).toBe(false);
  });

  it("the main decoder's copy of frame 0 is recognised by its timestamp, once, after frame 0 went out", () => {
    const shortcut = new FirstFrameShortcut();
    shortcut.claim();
    shortcut.emitted(1024);
    expect(shortcut.decodedAhead).toBe(true);
    // Frame 0 itself, handed out before any other frame: not a copy.
    expect(shortcut.isCopy(1024, 0)).toBe(false);
    expect(shortcut.isCopy(1536, 1)).toBe(false);
    expect(shortcut.isCopy(1024, 1)).toBe(true);
    expect(shortcut.isCopy(1024, 2)).toBe(false);
    expect(shortcut.decodedAhead).toBe(false);
  });

  it('frame 0 from the index: the throwaway decoder does not run, the copy is still dropped', () => {
    const shortcut = new FirstFrameShortcut();
    shortcut.emitted(0);
    expect(shortcut.claim()).toBe(false);
    expect(shortcut.isCopy(0, 1)).toBe(true);
  });

  it('nothing went out ahead (no timestamp): nothing is a copy', () => {
    const shortcut = new FirstFrameShortcut();
    shortcut.claim();
    shortcut.emitted('done');
    expect(shortcut.decodedAhead).toBe(false);
    expect(shortcut.isCopy(0, 1)).toBe(false);
    expect(shortcut.isCopy(null, 1)).toBe(false);
  });
});
