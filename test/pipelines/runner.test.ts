/**
 * The whole pipeline through the TypeScript API: real HTTP (the network simulator), real FFmpeg decode,
 * real ONNX Runtime with the generated detector, and the budget sink ending runs.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray } from 'rxjs';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PipelineEvent, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { closeSharedDispatcher } from '../../src/sources/dispatcher.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let sim: NetSim;
/** Every 25th frame, no budget worth speaking of. */
let everyQuarter: PreparedPipeline;
/** A 0.8 s budget. */
let tight: PreparedPipeline;
let clipBytes: number;

beforeAll(async () => {
  fixtures = await testFixtures();
  clipBytes = fixtures.clips['faststart']!.bytes;
  sim = await startNetSim({
    files: {
      '/faststart.mp4': readFileSync(fixtures.clips['faststart']!.file),
      '/moov-end.mp4': readFileSync(fixtures.clips['moov-end']!.file),
    },
    rateBytesPerSec: 1_000_000,
    ttfbMs: 20,
  });
  everyQuarter = await preparePipeline(
    loadPipeline({ profile: 'default', overrides: { stride: { every: 25 }, sink: { budgetS: 60 } } }),
  );
  tight = await preparePipeline(
    loadPipeline({ profile: 'default', overrides: { stride: { every: 25 }, sink: { budgetS: 0.8 } } }),
  );
}, 120_000);

afterAll(async () => {
  await everyQuarter?.release();
  await tight?.release();
  await closeSharedDispatcher();
  await sim?.close();
});

const truthOf = (layout: string) =>
  JSON.parse(readFileSync(fixtures.clips[layout]!.truth, 'utf8')) as GroundTruth & {
    objects: Array<{ frameNumber: number; items: Array<{ classId: number }> }>;
  };

describe('preparePipeline(…).run: the main job end to end', () => {
  it('answers with every kept frame and its objects, and the timings in order', async () => {
    // Slow enough that the moov is always fetched with a Range request while mdat still streams.
    const url = sim.urlFor('/moov-end.mp4', { rateBytesPerSec: 200_000 });
    const result = await everyQuarter.run(url);
    expect(result.error).toBeUndefined();
    expect(result.source).toEqual({
      url,
      bytesTotal: fixtures.clips['moov-end']!.bytes,
      rangeHonoured: true,
      layout: 'moov-end',
    });
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
    const truth = truthOf('moov-end');
    for (const frame of result.frames) {
      const expected = truth.objects.find((o) => o.frameNumber === frame.frameNumber)!.items;
      expect(frame.objects.map((o) => o.classId).sort()).toEqual(expected.map((o) => o.classId).sort());
      expect(frame.pts).toBeCloseTo(frame.frameNumber / 25, 6);
    }
    const t = result.timings;
    expect(t.endedBy).toBe('end');
    expect(t.framesInferred).toBe(4);
    // Frames the stride drops that no other frame references are never decoded (skipNonReference).
    expect(t.framesDecoded).toBeGreaterThan(4);
    expect(t.framesDecoded).toBeLessThanOrEqual(100);
    expect(t.setupMs).toBeGreaterThan(0);
    expect(t.headersMs).not.toBeNull();
    expect(t.firstByteMs!).toBeGreaterThanOrEqual(t.headersMs!);
    expect(t.firstFrameMs!).toBeGreaterThan(t.firstByteMs!);
    expect(t.firstResultMs!).toBeGreaterThan(t.firstFrameMs!);
    expect(t.totalMs).toBeGreaterThanOrEqual(t.firstResultMs!);
  }, 60_000);

  it('run$ emits stage events and each frame as it is ready, then the document last', async () => {
    const events = await lastValueFrom(everyQuarter.run$(sim.urlFor('/faststart.mp4')).pipe(toArray()));
    const last = events[events.length - 1]!;
    expect(last.type).toBe('result');
    const frames = events.filter((e): e is Extract<PipelineEvent, { type: 'frame' }> => e.type === 'frame');
    expect(frames.map((e) => e.frame.frameNumber)).toEqual([0, 25, 50, 75]);
    const names = events.flatMap((e) => (e.type === 'stage' ? [`${e.event.stage}:${e.event.name}`] : []));
    for (const milestone of [
      'pipeline:start',
      'source:headers',
      'source:first-byte',
      'decode:first-frame',
      'batch:batch',
      'infer:run-start',
      'pipeline:first-result',
      'sink:end',
      'pipeline:end',
    ]) {
      expect(names, milestone).toContain(milestone);
    }
    expect(names.indexOf('decode:first-frame')).toBeLessThan(names.indexOf('pipeline:first-result'));
    if (last.type === 'result') expect(last.result.timings.bytesDownloaded).toBe(clipBytes);
  }, 60_000);

  it('a stalled server: the answer comes at the deadline with the frames done, and the connection is closed', async () => {
    const before = sim.requests.length;
    const url = sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 });
    const result = await tight.run(url);
    expect(result.timings.endedBy).toBe('budget');
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(800);
    expect(result.timings.totalMs).toBeLessThan(950);
    expect(result.timings.bytesDownloaded).toBe(40_000);
    // Frame 0 is in the first 40 kB; whatever was inferred by the deadline is kept.
    expect(result.frames.length).toBeGreaterThanOrEqual(1);
    expect(result.frames[0]!.frameNumber).toBe(0);
    // The simulator keeps a stalled response open until the client closes the connection.
    const record = await sim.waitForRequestEnd(sim.requests[before]!.id, 2000);
    expect(record.outcome).toBe('stalled-closed');
    expect(record.bodyBytesSent).toBe(40_000);
  }, 60_000);

  it('an AbortSignal ends the run at once as cancelled, and the connection is closed', async () => {
    const before = sim.requests.length;
    const controller = new AbortController();
    const pending = everyQuarter.run(sim.urlFor('/faststart.mp4', { stallAfterBytes: 20_000 }), {
      signal: controller.signal,
    });
    const started = await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (sim.requests.length > before) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    expect(started).toBeUndefined();
    controller.abort();
    const result = await pending;
    expect(result.timings.endedBy).toBe('cancelled');
    const record = await sim.waitForRequestEnd(sim.requests[before]!.id, 2000);
    expect(['client-closed', 'stalled-closed']).toContain(record.outcome);
  }, 60_000);

  it('a 404 ends the run with the typed error in the document and no frames', async () => {
    const result = await everyQuarter.run(sim.urlFor('/faststart.mp4', { status: 404 }));
    expect(result.frames).toEqual([]);
    expect(result.timings.endedBy).toBe('error');
    expect(result.error?.code).toBe('FF_ERR_HTTP_STATUS');
    expect(result.error?.message).toContain('HTTP 404');
  }, 60_000);

  it('a reset after frames were inferred: a partial result with endedBy error and the error', async () => {
    // 20 kB/s: the reset at 60 kB comes after 3 s, long after frame 0 (in the first 20 kB) was inferred.
    const url = sim.urlFor('/faststart.mp4', { resetAfterBytes: 60_000, rateBytesPerSec: 20_000 });
    const result = await everyQuarter.run(url);
    expect(result.timings.endedBy).toBe('error');
    expect(result.error?.code).toMatch(/^FF_ERR_/);
    expect(result.frames.map((frame) => frame.frameNumber)).toContain(0);
    expect(result.timings.bytesDownloaded).toBe(60_000);
  }, 60_000);

  it('drain: the inference running at the deadline finishes and is kept; none starts after it', async () => {
    const draining = await preparePipeline(
      loadPipeline({
        profile: 'default',
        overrides: {
          stride: { every: 5 },
          batch: { size: 1, rampUp: false },
          sink: { budgetS: 0.15, startAfterFirstFrame: true, drainS: 20 },
        },
      }),
    );
    try {
      const events = await lastValueFrom(
        draining.run$(sim.urlFor('/faststart.mp4', { rateBytesPerSec: 100_000 })).pipe(toArray()),
      );
      const stage = (name: string) =>
        events.flatMap((e) =>
          e.type === 'stage' && `${e.event.stage}:${e.event.name}` === name ? [e.event] : [],
        );
      const deadline = stage('sink:deadline')[0]!;
      expect(deadline).toBeDefined();
      const starts = stage('infer:run-start');
      const ends = stage('infer:run-end');
      expect(starts.length).toBeGreaterThan(0);
      expect(starts.every((start) => start.at <= deadline.at)).toBe(true);
      // Every run that started finished, and its frames are in the answer.
      expect(ends).toHaveLength(starts.length);
      const last = events[events.length - 1]!;
      expect(last.type).toBe('result');
      if (last.type === 'result') {
        expect(last.result.timings.endedBy).toBe('budget');
        expect(last.result.frames).toHaveLength(starts.length);
        // The download (100 kB/s, 82 kB) was aborted at the deadline, not drained.
        expect(last.result.timings.bytesDownloaded).toBeLessThan(clipBytes);
      }
    } finally {
      await draining.release();
    }
  }, 60_000);

  it('a local file runs through the same stages', async () => {
    const result = await everyQuarter.run(fixtures.clips['fragmented']!.file);
    expect(result.source.layout).toBe('fragmented');
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
    expect(result.timings.headersMs).toBeNull();
  }, 60_000);
});
