import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { SourceError } from '../core/errors.js';
import { beamcoder, closeDecoder } from '../media/beamcoder.js';
import { limitCodes, type RunLimits } from '../pipelines/runner.js';
import { predictCodes, type PredictFrameRequest, type PredictLimits } from './predict.js';
import { statusForRunError } from './response.js';
import type { UrlGuard } from './url-guard.js';

/*
 * The frames of a predict request, made ready for the pipeline: each frame's JPEG bytes (base64 `data`
 * decoded, or `url` fetched through the URL guard), each decoded once by FFmpeg to prove it is a picture
 * within the limits, then all of them written one after another as an MJPEG stream, which the pipeline's
 * own decode stage reads as frames 0, 1, 2, … (so the JPEGs get the same decoding, preprocessing,
 * batching and inference as a video's frames).
 */

export interface JpegFrame {
  readonly frameId: number;
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface FrameProblem {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export interface LoadFramesOptions {
  guard: UrlGuard;
  dispatcher: Dispatcher;
  limits: PredictLimits;
  runLimits: RunLimits;
  signal: AbortSignal;
  /** Per frame url: headers and body within this; default 10 s. */
  fetchTimeoutMs?: number;
}

const PACKET_PADDING = 64;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URL = /^data:image\/[a-z]+;base64,/i;

const problem = (status: number, code: string, message: string): FrameProblem => ({ status, code, message });

function fromBase64(index: number, text: string, limits: PredictLimits): Uint8Array | FrameProblem {
  const data = text.replace(DATA_URL, '').replace(/\s+/g, '');
  if (data === '' || !BASE64.test(data) || data.length % 4 === 1) {
    return problem(400, predictCodes.frameBase64, `frames[${index}].data: not base64`);
  }
  const bytes = Buffer.from(data, data.includes('-') || data.includes('_') ? 'base64url' : 'base64');
  if (bytes.byteLength > limits.maxFrameBytes) {
    return problem(
      413,
      predictCodes.frameTooLarge,
      `frames[${index}].data: ${bytes.byteLength} bytes; at most ${limits.maxFrameBytes}`,
    );
  }
  return bytes;
}

async function fetchFrame(
  index: number,
  url: string,
  options: LoadFramesOptions,
): Promise<Uint8Array | FrameProblem> {
  const checked = options.guard.checkUrl(url.trim());
  if (checked instanceof SourceError) {
    return problem(statusForRunError(checked.code), checked.code, `frames[${index}].url: ${checked.message}`);
  }
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.fetchTimeoutMs ?? 10_000)]);
  try {
    const response = await request(checked, { dispatcher: options.dispatcher, signal });
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      return problem(
        502,
        predictCodes.frameFetch,
        `frames[${index}].url: the host answered ${response.statusCode}`,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > options.limits.maxFrameBytes) {
        response.body.destroy();
        return problem(
          413,
          predictCodes.frameTooLarge,
          `frames[${index}].url: over ${options.limits.maxFrameBytes} bytes`,
        );
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  } catch (error) {
    if (error instanceof SourceError) {
      return problem(statusForRunError(error.code), error.code, `frames[${index}].url: ${error.message}`);
    }
    return problem(502, predictCodes.frameFetch, `frames[${index}].url: ${(error as Error).message}`);
  }
}

/** The picture's size when FFmpeg's JPEG decoder makes one picture of `bytes`, else undefined. */
export async function jpegSize(bytes: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  // SOI and the start of a marker: anything else is not a JPEG, and FFmpeg need not look.
  if (bytes.byteLength < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff) return undefined;
  const bc = beamcoder();
  const decoder = bc.decoder({ name: 'mjpeg' });
  const data = Buffer.alloc(bytes.byteLength + PACKET_PADDING);
  data.set(bytes);
  // The size given explicitly: beamcoder's data setter leaves it at 0 (see the decode stage).
  const packet = bc.packet({ data, size: bytes.byteLength, pts: 0, dts: 0, flags: { KEY: true } });
  try {
    const decoded = await decoder.decode(packet);
    const frames = [...decoded.frames, ...(await decoder.flush()).frames];
    const frame = frames[0];
    return frame && frame.width > 0 && frame.height > 0
      ? { width: frame.width, height: frame.height }
      : undefined;
  } catch {
    return undefined;
  } finally {
    // Dropped here, on the main thread, as the decode stage does: beamcoder frees it from whichever thread
    // drops the last reference.
    (packet as unknown as { data: null }).data = null;
    closeDecoder(decoder);
  }
}

/**
 * Every frame's JPEG, checked, in request order; or the first problem (4xx/5xx with its code). Frames are
 * fetched and decoded one at a time: a request's cost grows with its size, not its concurrency.
 */
export async function loadFrames(
  frames: readonly PredictFrameRequest[],
  options: LoadFramesOptions,
): Promise<JpegFrame[] | FrameProblem> {
  const out: JpegFrame[] = [];
  for (const [index, frame] of frames.entries()) {
    if (options.signal.aborted) return problem(499, 'FF_ERR_CANCELLED', 'the request was cancelled');
    const bytes =
      frame.data !== undefined
        ? fromBase64(index, frame.data, options.limits)
        : await fetchFrame(index, frame.url!, options);
    if (!(bytes instanceof Uint8Array)) return bytes;
    const size = await jpegSize(bytes);
    if (!size) {
      return problem(
        422,
        predictCodes.frameNotJpeg,
        `frames[${index}] (frame_id ${frame.frame_id}): not a JPEG picture`,
      );
    }
    const { maxWidth, maxHeight } = options.runLimits;
    if (
      (maxWidth !== undefined && size.width > maxWidth) ||
      (maxHeight !== undefined && size.height > maxHeight)
    ) {
      return problem(
        422,
        limitCodes.resolution,
        `frames[${index}]: ${size.width}×${size.height} is larger than the ${maxWidth}×${maxHeight} allowed`,
      );
    }
    out.push({ frameId: frame.frame_id, bytes, ...size });
  }
  return out;
}

/** The JPEGs one after another in a temporary .mjpeg file; `dispose` removes it. */
export async function writeMjpeg(
  frames: readonly JpegFrame[],
): Promise<{ file: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ff-predict-'));
  const file = join(dir, 'frames.mjpeg');
  await writeFile(file, Buffer.concat(frames.map((frame) => frame.bytes)));
  return { file, dispose: () => rm(dir, { recursive: true, force: true }) };
}
