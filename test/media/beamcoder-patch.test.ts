// What patches/beamcoder+0.7.1.patch changes in beamcoder, checked on the real library (package.json's
// postinstall applies the patch and builds it). Each test here fails on the unpatched build.
import { createHook } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { beamcoder, closeDecoder, closeDecoderOffThread, type Beamcoder } from '../../src/media/beamcoder.js';
import { testFixtures } from '../support/fixtures.js';
import { processThreadCount } from '../support/threads.js';

const require = createRequire(import.meta.url);
/** beamcoder's index.js, which the child processes below load from a directory of their own. */
const BEAMCODER = require.resolve('beamcoder');
const CASES_DIR = join(import.meta.dirname, '..', 'hostile', 'cases');
/** MP4s whose open FFmpeg refuses, each one a class of input that crashed beamcoder's failed open. */
const FAILED_OPENS = readdirSync(CASES_DIR)
  .filter((name) => name.startsWith('native-') && name !== 'native-stream-info-stdout.mp4')
  .sort();
const OPENS_EACH = 12;

/**
 * Runs `script` (CommonJS; `beamcoder` is the path of beamcoder's index.js, `argv` the JSON given) in a node
 * child whose working directory is a fresh empty one; returns how it ended and what that directory holds then.
 */
function runChild(script: string, argv: unknown) {
  const cwd = mkdtempSync(join(tmpdir(), 'firstframe-beamcoder-'));
  try {
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `const beamcoder = ${JSON.stringify(BEAMCODER)}; const argv = ${JSON.stringify(argv)};\n${script}`,
      ],
      { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, BEAMCODER_CRASH_LOG: '' } },
    );
    return {
      status: child.status,
      signal: child.signal,
      stdout: child.stdout,
      stderr: child.stderr,
      left: readdirSync(cwd),
    };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

// Feeds each file to a governor, finishes it and opens a demuxer on it, as decode does, `opens` times per file,
// one open at a time; prints how each open ended. With every byte there before the open, a refused open fails
// within microseconds: the pool thread finished it before the main thread had stored napi_queue_async_work's
// result over the failure, and demuxerComplete then read the NULL format context (unpatched: a SIGSEGV within
// the first 20 opens, 8 runs of 8).
const OPEN_EACH_SCRIPT = `
const { readFileSync } = require('node:fs');
const log = console.log;
console.log = () => {};
const bc = require(beamcoder);
console.log = log;
bc.logging('fatal');
(async () => {
  const ended = {};
  for (const file of argv.files) {
    const bytes = readFileSync(file);
    for (let i = 0; i < argv.opens; i += 1) {
      const governor = bc.governor({ highWaterMark: 1024 });
      await governor.write(Buffer.from(bytes));
      governor.finish();
      let how;
      try {
        const demuxer = await bc.demuxer({
          governor,
          iformat: bc.demuxers()['mov,mp4,m4a,3gp,3g2,mj2'],
          options: { probesize: 32, analyzeduration: 1, fpsprobesize: 0 },
        });
        demuxer.forceClose();
        how = 'opened';
      } catch (error) {
        how = /Problem opening input format/.test(error.message) ? 'refused' : error.message;
      }
      const name = file.split('/').pop();
      ended[name] = { ...ended[name], [how]: (ended[name]?.[how] ?? 0) + 1 };
    }
  }
  log(JSON.stringify(ended));
})();
`;

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

describe('beamcoder, as patched', () => {
  it('a frame whose data is dropped stops counting as external memory, so V8 stops collecting for it', async () => {
    // Unpatched, each frame reported its pool buffers (0.35 MB at 640×360) to V8 until its object was
    // finalized, even after the pixels were dropped, and V8 ran a mark-compact for "external memory
    // pressure" every few dozen frames: 13 and 14 over these 800 frames, measured, against 3 patched
    // (those the JS objects themselves cause).
    const bc = beamcoder();
    let markCompacts = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const { kind } = (entry as unknown as { detail: { kind: number } }).detail;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) markCompacts += 1;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    let frames = 0;
    const drop = (decoded: Beamcoder.DecodedFrames) => {
      for (const frame of decoded.frames) {
        frames += 1;
        (frame as unknown as { data: null }).data = null;
      }
    };
    for (let pass = 0; pass < 8; pass += 1) {
      const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
      const decoder = bc.decoder({ demuxer, stream_index: 0 });
      for (let packet = await demuxer.read(); packet; packet = await demuxer.read()) {
        drop(await decoder.decode(packet));
      }
      drop(await decoder.flush());
      closeDecoder(decoder);
      demuxer.forceClose();
    }
    await new Promise((resolve) => setImmediate(resolve));
    observer.disconnect();
    expect(frames).toBe(800);
    expect(markCompacts).toBeLessThanOrEqual(7);
  });

  it('a frame whose data is dropped gives its buffers back to their pool on a libuv worker, not the event loop', async () => {
    // The pool's lock is shared with the decoder's frame threads; on the event loop, a lowered frame thread
    // preempted inside it stalled the loop (up to 100 ms seen). Each drop queues one FrameRelease work.
    const bc = beamcoder();
    const released: number[] = [];
    const hook = createHook({
      init(id, type) {
        if (type === 'FrameRelease') released.push(id);
      },
    });
    const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
    const decoder = bc.decoder({
      demuxer,
      stream_index: 0,
      thread_count: 2,
      thread_type: { FRAME: true, SLICE: false },
    } as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number });
    const frames: Beamcoder.Frame[] = [];
    for (let i = 0; i < 12; i += 1) frames.push(...(await decoder.decode((await demuxer.read())!)).frames);
    hook.enable();
    for (const frame of frames) (frame as unknown as { data: null }).data = null;
    hook.disable();
    // Two frame threads and the B-pictures' reordering hold three back: 12 packets in, 9 frames out.
    expect(frames).toHaveLength(9);
    expect(released).toHaveLength(9);
    // The frame gives its pixels up at once; the decoder goes on decoding into the pool they went back to.
    expect(frames.map((frame) => frame.data.length)).toEqual(new Array(9).fill(0));
    const more: Beamcoder.Frame[] = [];
    for (let i = 0; i < 12; i += 1) more.push(...(await decoder.decode((await demuxer.read())!)).frames);
    expect(more.map((frame) => frame.width)).toEqual(new Array(12).fill(640));
    // A frame with no buffers left queues nothing.
    hook.enable();
    (frames[0] as unknown as { data: null }).data = null;
    hook.disable();
    expect(released).toHaveLength(9);
    closeDecoder(decoder);
    demuxer.forceClose();
  });

  it("decoder.close() ends the decoder's threads at once; the decoder stays usable", async () => {
    const bc = beamcoder();
    const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
    const packets: Beamcoder.Packet[] = [];
    for (let i = 0; i < 12; i += 1) packets.push((await demuxer.read())!);
    const before = processThreadCount();
    const decoder = bc.decoder({
      demuxer,
      stream_index: 0,
      thread_count: 4,
      thread_type: { FRAME: true, SLICE: false },
    } as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number });
    const frames = (await decoder.decode(packets)).frames;
    expect(processThreadCount()).toBe(before + 4);
    closeDecoder(decoder);
    expect(processThreadCount()).toBe(before);
    // Frames it gave keep their pixels; the closed decoder decodes again from a key frame.
    expect(frames[0]!.data[0]!.byteLength).toBeGreaterThanOrEqual(640 * 360);
    expect(decoder.name).toBe('h264');
    const again = [...(await decoder.decode(packets[0]!)).frames, ...(await decoder.flush()).frames];
    expect(again.map((frame) => [frame.width, frame.pts])).toEqual([[640, packets[0]!.pts]]);
    closeDecoder(decoder);
    demuxer.forceClose();
  });

  it("decoder.closeAsync() joins the decoder's threads on a worker and holds the decoder until done", async () => {
    const bc = beamcoder();
    const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
    const packets: Beamcoder.Packet[] = [];
    for (let i = 0; i < 12; i += 1) packets.push((await demuxer.read())!);
    const before = processThreadCount();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const closing: Promise<void>[] = [];
    const frames: Beamcoder.Frame[] = [];
    for (let i = 0; i < 3; i += 1) {
      let decoder: Beamcoder.Decoder | undefined = bc.decoder({
        demuxer,
        stream_index: 0,
        thread_count: 4,
        thread_type: { FRAME: true, SLICE: false },
      } as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number });
      frames.push(...(await decoder.decode(packets)).frames);
      expect(processThreadCount()).toBe(before + 4);
      const closed = closeDecoderOffThread(decoder);
      closing.push(closed);
      // Dropped and collected while closing: the work holds the object, so the context is not freed under it.
      decoder = undefined;
      gc();
      await closed;
      expect(processThreadCount()).toBe(before);
    }
    await expect(Promise.all(closing)).resolves.toEqual([undefined, undefined, undefined]);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((frame) => frame.width === 640 && frame.data[0]!.byteLength >= 640 * 360)).toBe(true);
    demuxer.forceClose();
  });

  it('an open FFmpeg refuses rejects its promise every time: no crash (SIGSEGV) in the completion', () => {
    // Unpatched: napi_queue_async_work's result was stored in the carrier's status after the work could
    // already have failed and set it, and rejectStatus read the status of a carrier it had just deleted.
    expect(FAILED_OPENS).toHaveLength(9);
    const child = runChild(OPEN_EACH_SCRIPT, {
      files: FAILED_OPENS.map((name) => join(CASES_DIR, name)),
      opens: OPENS_EACH,
    });
    expect({ status: child.status, signal: child.signal }).toEqual({ status: 0, signal: null });
    expect(JSON.parse(child.stdout)).toEqual(
      Object.fromEntries(FAILED_OPENS.map((name) => [name, { refused: OPENS_EACH }])),
    );
  });

  it('the demuxer holds the governor it reads from, so the governor cannot be collected under it', async () => {
    const bc = beamcoder();
    const governor = bc.governor({ highWaterMark: 1024 });
    const { readFile } = await import('node:fs/promises');
    await governor.write(await readFile(fixtures.clips['faststart']!.file));
    governor.finish();
    const demuxer = await bc.demuxer({ governor } as unknown as Beamcoder.DemuxerCreateOptions);
    const held = demuxer as unknown as Record<string, unknown>;
    expect(held['_governor']).toBe(governor);
    // Held without showing up among the demuxer's own listed properties.
    expect(Object.keys(demuxer)).not.toContain('_governor');
    demuxer.forceClose();
  });

  it('a native crash prints its stack to stderr and leaves no file in the working directory', () => {
    // Unpatched, beamcoder registered segfault-handler with crash.log, written into the working directory.
    const child = runChild(
      `require(beamcoder); require(require('node:module').createRequire(beamcoder).resolve('segfault-handler')).causeSegfault();`,
      {},
    );
    expect(child.signal).toBe('SIGSEGV');
    expect(child.stderr).toMatch(/^PID \d+ received SIGSEGV for address: 0x[0-9a-f]+$/m);
    expect(child.stderr).toContain('segfault-handler.node');
    expect(child.left).toEqual([]);
  });

  it("an input whose stream info FFmpeg cannot find prints nothing on stdout (the CLI's JSON goes there)", () => {
    // Unpatched, beamcoder's open printed "DEBUG: Could not find stream info for file (null), …" with printf.
    const child = runChild(OPEN_EACH_SCRIPT, {
      files: [join(CASES_DIR, 'native-stream-info-stdout.mp4')],
      opens: 1,
    });
    expect({ status: child.status, signal: child.signal }).toEqual({ status: 0, signal: null });
    expect(child.stdout).toBe('{"native-stream-info-stdout.mp4":{"opened":1}}\n');
  });

  it("mallopt(param, value) is glibc's, for src/core/allocator.cts; bad arguments are a TypeError", () => {
    const native = beamcoder() as unknown as { mallopt: (param: unknown, value?: unknown) => boolean };
    // M_PERTURB (-6) at 0, glibc's default: taken, and nothing changes for this process (M_TOP_PAD would
    // freeze the dynamic mmap threshold for the rest of the worker).
    expect(native.mallopt(-6, 0)).toBe(true);
    expect(() => native.mallopt('arena_max', 1)).toThrow(TypeError);
    expect(() => native.mallopt(-8)).toThrow(TypeError);
  });

  it('setAffinity / getAffinity are sched_setaffinity / sched_getaffinity, for src/core/cpu-placement.ts', () => {
    const native = beamcoder() as unknown as {
      setAffinity: (tid: unknown, cpus?: unknown) => boolean;
      getAffinity: (tid: unknown) => number[] | null;
    };
    const own = native.getAffinity(0)!;
    expect(own.length).toBeGreaterThanOrEqual(1);
    expect(own).toEqual([...own].sort((a, b) => a - b));
    // The calling thread to its first CPU and back; a thread that does not exist: refused, not thrown.
    expect(native.setAffinity(0, [own[0]])).toBe(true);
    expect(native.getAffinity(0)).toEqual([own[0]]);
    expect(native.setAffinity(0, own)).toBe(true);
    expect(native.getAffinity(0)).toEqual(own);
    expect(native.setAffinity(2 ** 31 - 1, own)).toBe(false);
    expect(native.getAffinity(2 ** 31 - 1)).toBeNull();
    for (const bad of [[-1, own], ['0', own], [0, []], [0, 'all'], [0]]) {
      expect(() => native.setAffinity(...(bad as [unknown, unknown]))).toThrow(TypeError);
    }
    for (const cpus of [[1024], [-1], ['0'], [null]]) {
      expect(() => native.setAffinity(0, cpus)).toThrow(RangeError);
    }
    expect(() => native.getAffinity(-1)).toThrow(TypeError);
  });

  it('touchHeap(bytes) mallocs, writes and frees a block on the calling thread; the count is bounded', () => {
    const native = beamcoder() as unknown as { touchHeap: (bytes: unknown) => boolean };
    const faults = () => process.resourceUsage().minorPageFault;
    // 8 MiB, above glibc's default mmap threshold here: a fresh mapping whose 2,048 pages are each written.
    const before = faults();
    expect(native.touchHeap(8 * 1024 * 1024)).toBe(true);
    expect(faults() - before).toBeGreaterThanOrEqual(2000);
    for (const bad of [0, -1, 2 ** 30 + 1, 'lots', undefined]) {
      expect(() => native.touchHeap(bad)).toThrow(RangeError);
    }
  });
});
