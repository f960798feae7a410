/**
 * The model's input against what Ultralytics' predict feeds it, computed by OpenCV itself (Debian's
 * python3-opencv, run as /usr/bin/python3 test/support/opencv_reference.py): cv2.VideoCapture's frames,
 * letterboxed with cv2.resize INTER_LINEAR and copyMakeBorder 114, in RGB.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { beamcoder, type Beamcoder } from '../../src/media/beamcoder.js';
import {
  letterboxGeometry,
  letterboxOutputFormat,
  packLetterbox,
  type Preprocess,
} from '../../src/media/letterbox.js';
import { planResize, resizeLinear } from '../../src/media/resize-linear.js';
import { decode } from '../../src/operators/decode.js';
import { letterboxFilterer } from '../../src/operators/decode/convert.js';
import { fileSource } from '../../src/sources/file.js';
import { COLOUR_CLIP_FRAMES, colourClips, type ColourClip } from '../support/colour-clips.js';

const PYTHON = '/usr/bin/python3';
const REFERENCE = fileURLToPath(new URL('../support/opencv_reference.py', import.meta.url));
const opencvPresent = spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { stdio: 'ignore' }).status === 0;
if (!opencvPresent) {
  console.warn(
    'preprocess-opencv: skipped, /usr/bin/python3 cannot import cv2 and numpy ' +
      '(apt-get install python3-opencv python3-numpy; scripts/test.sh installs them)',
  );
}

const run = promisify(execFile);

async function reference(...args: (string | number)[]): Promise<Uint8Array> {
  const { stdout } = await run(PYTHON, [REFERENCE, ...args.map(String)], {
    encoding: 'buffer',
    maxBuffer: 1 << 28,
  });
  return new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.byteLength);
}

interface Agreement {
  readonly values: number;
  /** Share of values within 1 level of OpenCV's. */
  readonly withinOne: number;
  readonly maxDifference: number;
  readonly differing: number;
}

function agreement(ours: Uint8Array, theirs: Uint8Array): Agreement {
  expect(ours.length).toBe(theirs.length);
  let withinOne = 0;
  let maxDifference = 0;
  let differing = 0;
  for (let i = 0; i < ours.length; i += 1) {
    const difference = Math.abs(ours[i]! - theirs[i]!);
    if (difference <= 1) withinOne += 1;
    if (difference > 0) differing += 1;
    if (difference > maxDifference) maxDifference = difference;
  }
  return { values: ours.length, withinOne: withinOne / ours.length, maxDifference, differing };
}

/**
 * Ultralytics' letterboxes of each clip's first frames at each size, one OpenCV process for them all (its
 * start takes a second or two): by `${clip}@${size}`, one 3 × size × size buffer per frame.
 */
async function opencvLetterboxes(
  pairs: readonly (readonly [ColourClip, number])[],
): Promise<Map<string, Uint8Array[]>> {
  const args = pairs.flatMap(([clip, size]) => [clip.file, size]);
  const bytes = await reference('letterbox', COLOUR_CLIP_FRAMES, ...args);
  const letterboxes = new Map<string, Uint8Array[]>();
  let at = 0;
  for (const [clip, size] of pairs) {
    const each = 3 * size * size;
    const frames = Array.from({ length: COLOUR_CLIP_FRAMES }, (_, i) =>
      bytes.subarray(at + i * each, at + (i + 1) * each),
    );
    letterboxes.set(`${clip.name}@${size}`, frames);
    at += each * COLOUR_CLIP_FRAMES;
  }
  expect(at).toBe(bytes.length);
  return letterboxes;
}

/** The clip's first frames decoded with beamcoder, in display order. */
async function decodedFrames(
  file: string,
): Promise<{ frames: Beamcoder.Frame[]; timeBase: [number, number] }> {
  const bc = beamcoder();
  const demuxer = await bc.demuxer(file);
  const stream = demuxer.streams.findIndex((s) => s.codecpar.codec_type === 'video');
  const decoder = bc.decoder({ demuxer, stream_index: stream });
  const frames: Beamcoder.Frame[] = [];
  for (let packet = await demuxer.read(); packet; packet = await demuxer.read()) {
    if (packet.stream_index === stream) frames.push(...(await decoder.decode(packet)).frames);
  }
  frames.push(...(await decoder.flush()).frames);
  const [num = 1, den = 1] = demuxer.streams[stream]!.time_base;
  return { frames: frames.slice(0, COLOUR_CLIP_FRAMES), timeBase: [num, den] };
}

/**
 * A frame letterboxed as the decode stage's conversion does, with the filter graph's output in the
 * format letterboxOutputFormat names, through the decode stage's own graph (letterboxFilterer).
 */
async function letterboxed(
  frame: Beamcoder.Frame,
  timeBase: [number, number],
  size: number,
  preprocess: Preprocess,
): Promise<Uint8Array> {
  const geometry = letterboxGeometry(frame.width, frame.height, size, preprocess);
  const format = letterboxOutputFormat(geometry);
  const filterer = await letterboxFilterer(
    beamcoder(),
    { width: frame.width, height: frame.height, format: frame.format as string, timeBase },
    geometry,
  );
  const [result] = await filterer.filter([frame]);
  const converted = result!.frames[0]!;
  return packLetterbox(converted.data, converted.linesize, geometry, undefined, format).data;
}

describe.skipIf(!opencvPresent)('preprocess: the resize against cv2.resize INTER_LINEAR', () => {
  // prettier-ignore
  const cases = [
    [1280, 720, 640, 360, 'area-2x'],   // OpenCV's own switch to INTER_AREA for an exact halving
    [1280, 720, 320, 180, 'linear'],
    [848, 478, 640, 361, 'linear'],
    [848, 478, 320, 180, 'linear'],
    [1920, 1080, 640, 360, 'linear'],
    [640, 360, 640, 360, 'copy'],
    [320, 240, 640, 480, 'linear'],     // upscaling
    [999, 555, 640, 356, 'linear'],
    [7, 5, 13, 11, 'linear'],           // rows shorter than one SIMD vector
    [100, 100, 33, 33, 'linear'],
    [3, 2, 40, 30, 'linear'],
    [848, 478, 1, 1, 'linear'],
  ] as const;

  /** Each case's random image and OpenCV's resize of it, by case index. */
  const references: { image: Uint8Array; expected: Uint8Array }[] = [];
  beforeAll(async () => {
    const bytes = await reference('resize', 1, ...cases.flatMap(([w, h, tw, th]) => [w, h, tw, th]));
    let at = 0;
    for (const [w, h, tw, th] of cases) {
      const image = bytes.subarray(at, (at += w * h * 3));
      references.push({ image, expected: bytes.subarray(at, (at += tw * th * 3)) });
    }
    expect(at).toBe(bytes.length);
  }, 60_000);

  it.each(cases.map((c, i) => [...c, i] as const))(
    '%i×%i → %i×%i (%s): equal byte for byte',
    (width, height, toWidth, toHeight, method, index) => {
      const { image, expected } = references[index]!;
      const plan = planResize(width, height, toWidth, toHeight);
      expect(plan.method).toBe(method);
      // Into planes, then interleaved again as OpenCV's image is.
      const area = toWidth * toHeight;
      const planes = new Uint8Array(area * 3);
      const channel = (c: number) => ({ data: image, offset: c, pixelStride: 3, rowStride: width * 3 });
      const plane = (c: number) => ({ data: planes, offset: c * area, rowStride: toWidth });
      resizeLinear(plan, [channel(0), channel(1), channel(2)], [plane(0), plane(1), plane(2)]);
      const packed = new Uint8Array(planes.length);
      for (let i = 0; i < area; i += 1) {
        for (let c = 0; c < 3; c += 1) packed[i * 3 + c] = planes[c * area + i]!;
      }
      expect(agreement(packed, expected)).toEqual({
        values: area * 3,
        withinOne: 1,
        maxDifference: 0,
        differing: 0,
      });
    },
  );
});

describe.skipIf(!opencvPresent)('preprocess: letterboxed frames against Ultralytics (OpenCV)', () => {
  // prettier-ignore
  const sizes = [
    ['h264-1280x720-bt709-tv', 640], ['h264-1280x720-bt709-tv', 320],
    ['h264-1280x720-bt601-tv', 640], ['h264-1280x720-bt601-tv', 320],
    ['h264-848x478-bt709-tv', 640], ['h264-848x478-bt709-tv', 320],
    ['h264-848x478-bt601-tv', 640], ['h264-848x478-bt601-tv', 320],
    ['h264-848x478-bt709-pc', 640],
  ] as const;
  // A full-range VP9 stream decodes as yuv420p tagged full range: only the pixel format tells OpenCV's
  // reading of it (limited range); the decode operator passes it to the filter graph.
  const withVp9 = [...sizes, ['vp9-848x478-bt709-pc', 640]] as const;

  let clips: ColourClip[];
  let theirs: Map<string, Uint8Array[]>;
  const clip = (name: string) => clips.find((c) => c.name === name)!;
  beforeAll(async () => {
    clips = await colourClips();
    theirs = await opencvLetterboxes(withVp9.map(([name, size]) => [clip(name), size] as const));
  }, 120_000);

  it.each(withVp9)('the decode operator (default preprocess), %s at %i: equal', async (name, size) => {
    const frames = await lastValueFrom(
      fileSource(clip(name).file).pipe(decode({ imgSize: size, keepFrame: () => true }), toArray()),
    );
    expect(frames.map((f) => f.frameNumber)).toEqual([0, 1, 2]);
    frames.forEach((frame, i) => {
      expect(frame.image).toMatchObject({ preprocess: 'opencv', size });
      const result = agreement(frame.image!.data, theirs.get(`${name}@${size}`)![i]!);
      expect(result.withinOne).toBeGreaterThanOrEqual(0.999);
      expect(result).toEqual({ values: 3 * size * size, withinOne: 1, maxDifference: 0, differing: 0 });
    });
  });

  it.each(withVp9)(
    "the conversion's parts with a bgr24 graph and the pixel format, %s at %i: equal",
    async (name, size) => {
      const { frames, timeBase } = await decodedFrames(clip(name).file);
      expect(frames).toHaveLength(COLOUR_CLIP_FRAMES);
      for (const [i, frame] of frames.entries()) {
        const ours = await letterboxed(frame, timeBase, size, 'opencv');
        expect(agreement(ours, theirs.get(`${name}@${size}`)![i]!)).toMatchObject({
          maxDifference: 0,
          differing: 0,
        });
      }
    },
  );

  it.each([640, 320])('NVDEC-like nv12 frames (h264-1280x720-bt709-tv at %i): equal', async (size) => {
    const name = 'h264-1280x720-bt709-tv';
    const { frames, timeBase } = await decodedFrames(clip(name).file);
    const toNv12 = await beamcoder().filterer({
      filterType: 'video',
      inputParams: [
        { width: 1280, height: 720, pixelFormat: frames[0]!.format as string, timeBase, pixelAspect: [1, 1] },
      ],
      outputParams: [{ pixelFormat: 'nv12' }],
      filterSpec: 'format=nv12',
    });
    for (const [i, frame] of frames.entries()) {
      const [result] = await toNv12.filter([frame]);
      const nv12 = result!.frames[0]!;
      expect(nv12.format).toBe('nv12');
      const ours = await letterboxed(nv12, timeBase, size, 'opencv');
      expect(agreement(ours, theirs.get(`${name}@${size}`)![i]!)).toMatchObject({
        maxDifference: 0,
        differing: 0,
      });
    }
  });

  it('stream-colour, the old path, is not what Ultralytics sees on a BT.709 stream (the test can tell)', async () => {
    const name = 'h264-1280x720-bt709-tv';
    const { frames, timeBase } = await decodedFrames(clip(name).file);
    const ours = await letterboxed(frames[0]!, timeBase, 640, 'stream-colour');
    const result = agreement(ours, theirs.get(`${name}@640`)![0]!);
    expect(result.withinOne).toBeLessThan(0.9);
    expect(result.maxDifference).toBeGreaterThan(10);
  });

  it("decode({ preprocess: 'stream-colour' }) keeps the old path: the same bytes as the parts give", async () => {
    const name = 'h264-1280x720-bt709-tv';
    const frames = await lastValueFrom(
      fileSource(clip(name).file).pipe(
        decode({ imgSize: 640, keepFrame: () => true, preprocess: 'stream-colour' }),
        toArray(),
      ),
    );
    const decoded = await decodedFrames(clip(name).file);
    expect(frames[0]!.image).toMatchObject({ preprocess: 'stream-colour', size: 640 });
    const parts = await letterboxed(decoded.frames[0]!, decoded.timeBase, 640, 'stream-colour');
    expect(agreement(frames[0]!.image!.data, parts)).toMatchObject({ maxDifference: 0, differing: 0 });
    expect(() => decode({ preprocess: 'opencv2' as never })).toThrow(
      "decode.preprocess: expected 'opencv' or 'stream-colour', got \"opencv2\"",
    );
  });
});
