import { readFileSync } from 'node:fs';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { FirstframeError } from '../../../src/core/errors.js';
import type { StageEvent } from '../../../src/core/events.js';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import { decode, type DecodedFrame, type DecodeOptions } from '../../../src/operators/decode.js';
import { startNetSim, type NetSim } from '../../../src/sim/netsim.js';
import { createDispatcher } from '../../../src/sources/dispatcher.js';
import { httpSource, type HttpSourceOptions } from '../../../src/sources/http.js';
import type { ByteChunk } from '../../../src/sources/types.js';
import { probeFrameTimes } from '../../support/ffprobe.js';
import { testFixtures } from '../../support/fixtures.js';

/*
 * What the decode operator's end-to-end tests (test/operators/decode/*.e2e.test.ts) share: the test clips,
 * a loopback network simulator serving them, and runs of `decode` to the end, compared with ffprobe.
 */

/** The test clips (test/support/fixtures.ts), loaded before the file's tests by {@link useFixtures}. */
export let fixtures: FixtureSet;
/** The simulator serving the clips, started before the file's tests by {@link useDecodeServer}. */
export let sim: NetSim;
let dispatcher: Dispatcher | undefined;

/** Loads the test clips before the file's tests. */
export function useFixtures(): void {
  beforeAll(async () => {
    fixtures = await testFixtures();
  });
}

/**
 * Loads the test clips and serves them over loopback HTTP, each at `/<its file name>`, with `extraFiles()`
 * (made once the clips are loaded) beside them; the server and the dispatcher close after the file's tests.
 */
export function useDecodeServer(extraFiles: () => Record<string, Uint8Array> = () => ({})): void {
  beforeAll(async () => {
    fixtures = await testFixtures();
    const files: Record<string, Uint8Array> = extraFiles();
    for (const clip of Object.values(fixtures.clips))
      files[`/${clip.file.split('/').pop()!}`] = readFileSync(clip.file);
    sim = await startNetSim({ files });
    dispatcher = createDispatcher();
  });
  afterAll(async () => {
    await dispatcher?.destroy();
    await sim?.close();
  });
}

export const fileName = (clip: string) => fixtures.clips[clip]!.file.split('/').pop()!;

export function overHttp(
  path: string,
  options: HttpSourceOptions = {},
  overrides?: Parameters<NetSim['urlFor']>[1],
): Observable<ByteChunk> {
  return httpSource(sim.urlFor(path, overrides), { dispatcher, ...options });
}

export async function decodeAll(source: Observable<ByteChunk>, options: DecodeOptions = {}) {
  const events: StageEvent[] = [];
  const frames = await lastValueFrom(
    source.pipe(
      decode({ imgSize: 320, keepFrame: () => false, onEvent: (e) => events.push(e), ...options }),
      toArray(),
    ),
  );
  return {
    frames,
    events,
    named: (name: string) => events.filter((e) => e.stage === 'decode' && e.name === name),
  };
}

export async function decodeError(source: Observable<ByteChunk>, options: DecodeOptions = {}) {
  const events: StageEvent[] = [];
  try {
    await lastValueFrom(
      source.pipe(decode({ keepFrame: () => false, onEvent: (e) => events.push(e), ...options })),
      {
        defaultValue: undefined,
      },
    );
  } catch (error) {
    expect(error).toBeInstanceOf(FirstframeError);
    return { error: error as FirstframeError, events };
  }
  throw new Error('expected decode to fail');
}

export function expectFramesMatchFfprobe(frames: readonly DecodedFrame[], file: string): void {
  const times = probeFrameTimes(file);
  expect(frames.map((f) => f.frameNumber)).toEqual(times.map((_, index) => index));
  frames.forEach((frame, index) => expect(frame.pts).toBeCloseTo(times[index]!, 6));
}
