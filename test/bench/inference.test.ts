/**
 * The inference benchmark (bench/inference.ts) in CI size: the figures it makes from a run's events on
 * made-up events (exact values), its options, then the whole benchmark in this process on the short test
 * clip, checking that every figure it prints is there and sane (no timing is asserted).
 */
import { describe, expect, it } from 'vitest';
import {
  batchesOf,
  benchInference,
  firstResultSplit,
  inferTime,
  readSettings,
  type Settings,
} from '../../bench/inference.js';
import type { StageEvent, StageName } from '../../src/core/events.js';
import { ensureBuilt } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

const event = (
  stage: StageName,
  name: string,
  at: number,
  data: Record<string, unknown> = {},
): StageEvent => ({
  stage,
  name,
  at,
  data,
});

describe('the figures of a run', () => {
  const events: StageEvent[] = [
    event('decode', 'first-frame', 100),
    event('infer', 'run-start', 103, { run: 1, frames: 1, batch: 1 }),
    event('infer', 'run-end', 170, { run: 1, frames: 1, ms: 67 }),
    event('pipeline', 'first-result', 172.5),
    event('infer', 'run-start', 180, { run: 2, frames: 2, batch: 2 }),
    event('infer', 'run-error', 200, { run: 2, frames: 2, ms: 20 }),
    event('infer', 'run-start', 210, { run: 3, frames: 3, batch: 4 }),
    event('infer', 'run-end', 400, { run: 3, frames: 3, ms: 190 }),
  ];

  it('lists the model runs that ended, with their batch shape (a failed run is left out)', () => {
    expect(batchesOf(events)).toEqual([
      { batch: 1, frames: 1, ms: 67 },
      { batch: 4, frames: 3, ms: 190 },
    ]);
  });

  it('splits first frame → first result at the first run', () => {
    expect(firstResultSplit(events)).toEqual({ toRunMs: 3, runMs: 67, toResultMs: 2.5 });
    expect(firstResultSplit(events.filter((e) => e.name !== 'first-result'))).toBeNull();
  });

  it("sums the infer stage's busy time (failed runs too) and its gaps, from the run's start", () => {
    expect(inferTime([event('pipeline', 'start', 40), ...events])).toEqual({
      inferBusyMs: 67 + 20 + 190,
      inferIdleMs: 10 + 10,
      beforeFirstRunMs: 63,
    });
    expect(inferTime([event('pipeline', 'start', 0)])).toEqual({
      inferBusyMs: 0,
      inferIdleMs: 0,
      beforeFirstRunMs: Number.NaN,
    });
  });
});

describe('readSettings', () => {
  it('has the seeds’ link and three fresh processes of two runs by default', () => {
    expect(readSettings([])).toEqual({
      clip: undefined,
      rateBytesPerSec: 1_660_000,
      ttfbMs: 100,
      processes: 3,
      budgetS: 60,
      runs: 2,
      steady: 5,
      rounds: 3,
      overheadFrames: 60,
      oneOff: false,
      variants: ['default'],
      inProcess: false,
      json: false,
    });
    expect(readSettings(['--budget', 'profile']).budgetS).toBeUndefined();
    expect(readSettings(['--variants', 'before,default,before']).variants).toEqual(['before', 'default']);
  });

  it('refuses a count that is not a positive integer, naming the option', () => {
    expect(() => readSettings(['--runs', '0'])).toThrow('--runs: expected a positive integer, got "0"');
    expect(() => readSettings(['--ttfb=-1'])).toThrow('--ttfb: expected a number of ms >= 0, got "-1"');
    expect(() => readSettings(['--variants', 'default,fast'])).toThrow(
      '--variants: expected a list of default, before, no-prime, no-hold, decode-1-thread, decode-2-threads, shared-cores, got "default,fast"',
    );
  });
});

describe('benchInference on the test clip', () => {
  /** The bench at CI size on the short test clip, over a fast link: one process, one round. */
  async function testClipSettings(
    overrides: Partial<Settings>,
  ): Promise<{ settings: Settings; bytes: number }> {
    const clip = (await testFixtures()).clips['faststart']!;
    const settings: Settings = {
      ...readSettings([]),
      clip: clip.file,
      rateBytesPerSec: 20_000_000,
      ttfbMs: 10,
      processes: 1,
      rounds: 1,
      oneOff: true,
      ...overrides,
    };
    return { settings, bytes: clip.bytes };
  }

  it('prints every target with PASS or FAIL and figures that make sense', { timeout: 240_000 }, async () => {
    const { settings, bytes } = await testClipSettings({
      steady: 1,
      overheadFrames: 4,
      inProcess: true,
      variants: ['default', 'before'],
    });
    const lines: string[] = [];
    const result = await benchInference(settings, (line) => lines.push(line));
    const text = lines.join('\n');

    expect(result.processes).toHaveLength(1);
    expect(result.variants.map((v) => v.variant)).toEqual(['default', 'before']);
    expect(result.variants[0]!.processes).toBe(result.processes);
    const runs = result.processes[0]!.runs;
    expect(runs).toHaveLength(2);
    expect(runs.every((run) => run.timings.endedBy === 'end' && run.batches.length > 0)).toBe(true);
    // Every shape the runs of every variant used is measured, batch 1 (the first frame alone) first.
    const used = new Set(
      result.variants.flatMap((v) =>
        v.processes.flatMap((p) => p.runs.flatMap((run) => run.batches.map((b) => b.batch))),
      ),
    );
    expect(result.shapes.map((shape) => shape.batch).sort()).toEqual([...used].sort());
    expect(result.shapes[0]!.batch).toBe(1);
    for (const shape of result.shapes) {
      expect(shape.firstMs).toBeGreaterThan(0);
      expect(shape.steadyMs).toBeGreaterThan(0);
      expect(shape.ratio).toBeCloseTo(shape.firstMs / shape.steadyMs, 10);
    }
    for (const figures of [result.firstResult.cold, result.firstResult.warm!]) {
      expect(figures.firstResultMs).toBeGreaterThan(figures.firstFrameMs);
      expect(figures.limitMs).toBeCloseTo(figures.firstFrameMs + 1.2 * result.shapes[0]!.steadyMs + 15, 6);
      expect(figures.split.runMs).toBeGreaterThan(0);
    }
    // 10 ms, then the clip's bytes at 20 MB/s.
    expect(result.total.transferMs).toBeCloseTo(10 + (1000 * bytes) / 20_000_000, 6);
    expect(result.total.runs).toHaveLength(2);
    for (const total of result.total.runs) {
      expect(total.framesInferred).toBe(20); // 100 frames, every 5th
      expect(total.ratio).toBeGreaterThan(0);
    }
    // The defaults hold decoding during the first run; `before` does not.
    expect(runs.every((run) => typeof run.heldMs === 'number')).toBe(true);
    expect(result.variants[1]!.processes[0]!.runs.map((run) => run.heldMs)).toEqual([undefined, undefined]);
    for (const variant of result.variants) {
      const time = variant.time!;
      expect(time.inferBusyMs).toBeGreaterThan(0);
      expect(time.cpuInferenceMs + time.cpuMainMs + time.cpuOtherMs).toBeGreaterThan(0);
    }
    expect(result.overhead.frames).toBe(4);
    expect(result.overhead.source).toBe('640×360');
    expect(result.overhead.totalMs).toBeGreaterThan(0);
    expect(result.overhead.mainThreadMs).toBeLessThanOrEqual(result.overhead.totalMs);

    expect(text).toMatch(/^bench\/inference: .*load \d+\.\d\d/m);
    expect(text.match(/^ {2}\s*\d+ .* (PASS|FAIL) \(≤ 1\.15\)$/gm)).toHaveLength(result.shapes.length);
    expect(text).toMatch(/^ {2}cold \[default\]: first frame .* (PASS|FAIL);.*; decoding held/m);
    expect(text).toMatch(/^ {2}warm \[before\]: first frame .* (PASS|FAIL);/m);
    expect(text).toMatch(/^ {2}median \[default\] \d+\.\d{3} {3}(PASS|FAIL) \(≤ 1\.15\)$/m);
    expect(text).toMatch(/^ {2}before: total \d+ = before the first run \d+ \+ inferring/m);
    expect(text).toMatch(/^ {2}total \d+\.\d\d ms {3}(PASS|FAIL) \(≤ 3\); on the main thread/m);
    expect(text).toMatch(/^load average at end/m);
  });

  it(
    'in a fresh node process on dist/: each run against its own process steady inference, measured after its runs',
    { timeout: 240_000 },
    async () => {
      await ensureBuilt();
      const { settings } = await testClipSettings({
        runs: 1,
        steady: 2,
        overheadFrames: 2,
        inProcess: false,
        variants: ['default'],
      });
      const lines: string[] = [];
      const result = await benchInference(settings, (line) => lines.push(line));
      const [child] = result.processes;
      const [run] = child!.runs;
      // The process measured every batch shape its run used, and the run's limit is their sum.
      const used = [...new Set(run!.batches.map((b) => b.batch))].sort((a, b) => a - b);
      expect([...child!.steadyMs!.keys()].sort((a, b) => a - b)).toEqual(used);
      for (const ms of child!.steadyMs!.values()) expect(ms).toBeGreaterThan(0);
      const own = run!.batches.reduce((sum, b) => sum + child!.steadyMs!.get(b.batch)!, 0);
      expect(result.total.runs[0]!.inferenceMs).toBeCloseTo(own, 6);
      expect(lines.join('\n')).toMatch(/^ {2}process steady \[default\]: batch 1 \d+\.\d ms/m);
    },
  );
});
