/**
 * The README's "Testing your pipeline" example, as a user runs it (the import aside: here the source, in
 * test/package/install.test.ts the installed package). The last test keeps the two the same.
 */
import { expect, it } from 'vitest';
import { fakeModel, frames, runInVirtualTime } from '../../src/testing/index.js';

const ball = (x: number) => ({ bbox: [x, 9, x + 8, 17] as const, classId: 0, className: 'ball', score: 0.9 });

it('answers 24 frames in a 1 s budget, the first 80 ms after the start', async () => {
  const model = fakeModel({
    latencyMs: 30, // every run of the model takes 30 ms
    classes: ['ball'],
    detect: (frame) => [ball(frame.frameNumber)],
  });
  const run = await runInVirtualTime(
    { stride: { every: 1 }, batch: { size: 4, maxWaitMs: 50 }, sink: { budgetS: 1 } },
    { model, frames: frames(750, { fps: 25 }) }, // a 30 s clip: a frame every 40 ms
  );
  // A batch leaves 50 ms after its first frame, with two frames (at 0 and 40 ms) ...
  expect(run.batches.slice(0, 2)).toEqual([
    { at: 50, size: 2, reason: 'timeout' },
    { at: 130, size: 2, reason: 'timeout' },
  ]);
  // ... and its results come out when the model's 30 ms are over.
  expect(run.firstResultAt).toBe(80);
  expect(run.runs[11]).toEqual({ startedAt: 930, endedAt: 960, frameNumbers: [22, 23] });
  expect(run.endedAt).toBe(1000);
  expect(run.document.timings.endedBy).toBe('budget');
  expect(run.document.frames.map((frame) => frame.frameNumber)).toEqual([...Array(24).keys()]);
  expect(run.document.frames[5]!.objects).toEqual([{ ...ball(5), source: 'inferred' }]);
});

it('a stalled decoder: a full batch at once, then the last frame alone after maxWaitMs', async () => {
  const run = await runInVirtualTime(
    { batch: { size: 4, maxWaitMs: 50 }, sink: { budgetS: 1 } },
    // Frame a (0) at 0 ms, b at 1, c at 2, d at 3, e (4) at 204, the end of the clip at 705.
    { model: fakeModel({ latencyMs: 30 }), frames: frames(5), marble: 'abcd 200ms e 500ms |' },
  );
  expect(run.batches).toEqual([
    { at: 3, size: 4, reason: 'full' },
    { at: 254, size: 1, reason: 'timeout' },
  ]);
  expect(run.results.map(({ at, frameNumber }) => [at, frameNumber])).toEqual([
    [33, 0],
    [33, 1],
    [33, 2],
    [33, 3],
    [284, 4],
  ]);
  expect(run.endedAt).toBe(705);
  expect(run.document.timings.endedBy).toBe('end');
});

it("is the README's example, word for word but the import", async () => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Testing your pipeline'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  const self = await readFile(new URL(import.meta.url), 'utf8');
  const start = self.indexOf("import { expect, it } from 'vitest';");
  const end = self.indexOf('\nit("is the README');
  expect(self.slice(start, end).replace('../../src/testing/index.js', 'firstframe/testing')).toBe(example);
});
