import { ConfigError, codes } from '../core/errors.js';
import { planeOf } from '../inference/input-tensor.js';
import { LETTERBOX_PAD_VALUE, letterboxGeometry } from '../media/letterbox.js';
import type { DecodedFrame, VideoStreamInfo } from '../operators/decode.js';

export interface FramesOptions {
  /** The source frame's size; default 1280 × 720. */
  width?: number;
  height?: number;
  /** Frames per second: frame n has pts n / fps; default 25. */
  fps?: number;
  /** A key frame every this many frames, from frame 0; default 50 (two seconds at 25 fps). */
  keyEvery?: number;
  /** Side of the model input the frames are converted for (the pipeline's `imgSize`); default 640. */
  imgSize?: number;
  /** The first frame's number; default 0. */
  first?: number;
  /**
   * What the stream says about the clip's length (an MP4 index's sample count); default `first + count`.
   * `null`: the stream does not say (MPEG-TS, fragmented MP4), as a live decoder would report.
   */
  frameCount?: number | null;
}

/** One blank letterbox per size, shared: every frame of every call reads the same memory. */
const blanks = new Map<number, ArrayBuffer>();

function blankPixels(imgSize: number): Uint8Array {
  let buffer = blanks.get(imgSize);
  if (!buffer) {
    buffer = new ArrayBuffer(planeOf(imgSize));
    new Uint8Array(buffer).fill(LETTERBOX_PAD_VALUE);
    blanks.set(imgSize, buffer);
  }
  // A view of its own per frame, over the shared bytes: no copy, and a frame is told from another.
  return new Uint8Array(buffer);
}

function validate(count: number, options: FramesOptions): void {
  const problems: string[] = [];
  const positiveInt = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      problems.push(`frames.${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    }
  };
  if (!(Number.isInteger(count) && count >= 0)) {
    problems.push(`frames: expected a count >= 0, got ${JSON.stringify(count)}`);
  }
  positiveInt('width', options.width);
  positiveInt('height', options.height);
  positiveInt('keyEvery', options.keyEvery);
  positiveInt('imgSize', options.imgSize);
  if (options.fps !== undefined && !(Number.isFinite(options.fps) && options.fps > 0)) {
    problems.push(`frames.fps: expected a positive number, got ${JSON.stringify(options.fps)}`);
  }
  if (options.first !== undefined && !(Number.isInteger(options.first) && options.first >= 0)) {
    problems.push(`frames.first: expected an integer >= 0, got ${JSON.stringify(options.first)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'frames' });
}

/**
 * `count` decoded frames as the decode stage emits them, for tests: frame numbers from `first`, pts
 * `frameNumber / fps`, a key frame every `keyEvery`, and pixels converted for a model of `imgSize` (a blank
 * letterbox, one buffer shared by every frame: a thousand 640 px frames cost 1.2 MB, not 1.2 GB).
 * `decodedAt` is the pts in milliseconds, the time at which `runInVirtualTime` emits the frame.
 *
 * @example frames(100, { fps: 25, keyEvery: 25 }) // frames 0..99, 40 ms apart, key frames 0, 25, 50, 75
 * @returns new frame objects, in display order; bad options throw a ConfigError listing every problem.
 */
export function frames(count: number, options: FramesOptions = {}): DecodedFrame[] {
  validate(count, options);
  const width = options.width ?? 1280;
  const height = options.height ?? 720;
  const fps = options.fps ?? 25;
  const keyEvery = options.keyEvery ?? 50;
  const imgSize = options.imgSize ?? 640;
  const first = options.first ?? 0;
  const frameCount = options.frameCount === null ? undefined : (options.frameCount ?? first + count);
  const geometry = letterboxGeometry(width, height, imgSize);
  const stream: VideoStreamInfo = {
    layout: 'faststart',
    container: 'mov,mp4,m4a,3gp,3g2,mj2',
    codec: 'h264',
    decoder: 'h264',
    width,
    height,
    fps,
    timeBase: [1, Math.round(fps * 512)],
    ...(frameCount !== undefined ? { frameCount } : {}),
  };
  return Array.from({ length: count }, (_, index): DecodedFrame => {
    const frameNumber = first + index;
    const pts = frameNumber / fps;
    return {
      frameNumber,
      pts,
      width,
      height,
      keyFrame: frameNumber % keyEvery === 0,
      decodedAt: (frameNumber * 1000) / fps,
      image: { ...geometry, data: blankPixels(imgSize) },
      stream,
    };
  });
}
