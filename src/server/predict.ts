import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatValidationErrors } from '../core/config.js';
import { truncateForLog } from '../core/logger.js';
import type { ResultFrame, RunDocument } from '../pipelines/runner.js';
import { PITCH_KEYPOINTS } from './challenge.js';

/*
 * SN44's "turbovision" contract (since late 2025): the validator POSTs /predict with a video URL or with
 * the frames themselves, and reads per-frame boxes and keypoints.
 *
 *     { "url"?: string, "frames"?: [{ "frame_id": int, "url"?: string, "data"?: base64 JPEG }],
 *       "meta": { "width", "height", "fps", "n_frames_total", "batch_size", "n_keypoints", … } }
 *  →  { "success": bool, "predictions": { "frames": [{ "frame_id", "boxes": [{ "x1", "y1", "x2", "y2",
 *       "cls_id", "conf" }], "keypoints": [[x, y] × n_keypoints] }] } | null, "error": string | null }
 *
 * Boxes and keypoints are integers in source pixels (turbovision's models declare them `int`). Every
 * refused or failed request also carries `code`, the FF_ERR_ code, beside `error`.
 */

/** The codes of the predict route's own refusals. */
export const predictCodes = {
  /** The body is JSON but not a predict request; the message lists every problem. */
  invalid: 'FF_ERR_PREDICT_INVALID',
  /** More frames than the server takes in one request (413). */
  tooManyFrames: 'FF_ERR_TOO_MANY_FRAMES',
  /** One frame is larger than the server takes (413). */
  frameTooLarge: 'FF_ERR_FRAME_TOO_LARGE',
  /** A frame's `data` is not base64. */
  frameBase64: 'FF_ERR_FRAME_BASE64',
  /** A frame's bytes are not a JPEG FFmpeg can decode. */
  frameNotJpeg: 'FF_ERR_FRAME_NOT_JPEG',
  /** A frame's url could not be fetched (the host failed, or answered something other than 200). */
  frameFetch: 'FF_ERR_FRAME_FETCH',
  /** Some frames were not inferred within the budget: `predictions` has the others. */
  incomplete: 'FF_ERR_PREDICT_INCOMPLETE',
} as const;

/** What one predict request may carry. */
export interface PredictLimits {
  /** Frames in one request; default 4096 (turbovision sends one clip's frames, about 750). */
  maxFrames: number;
  /** Bytes of one frame (the JPEG, decoded from base64 or fetched); default 8 MiB. */
  maxFrameBytes: number;
  /** Bytes of the whole request body; default 64 MiB. */
  maxBodyBytes: number;
  /** A body not complete this long after its head is answered 408; default 30 s (a body may be large). */
  bodyTimeoutMs: number;
  /**
   * Bytes of predict requests held at once, counted from Content-Length (or maxBodyBytes without one) from
   * the start of the body until the answer; beyond it 503 with Retry-After. Default 128 MiB: bodies are read
   * before a run slot is taken, and this bounds what they cost meanwhile.
   */
  maxBytesInFlight: number;
}

export const DEFAULT_PREDICT_LIMITS: Readonly<PredictLimits> = {
  maxFrames: 4096,
  maxFrameBytes: 8 * 1024 * 1024,
  maxBodyBytes: 64 * 1024 * 1024,
  bodyTimeoutMs: 30_000,
  maxBytesInFlight: 128 * 1024 * 1024,
};

const FrameId = new t.Type<number, number, unknown>(
  'an integer >= 0',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0,
  (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
);
const Text = new t.Type<string, string, unknown>(
  'a non-empty string',
  (u): u is string => typeof u === 'string' && u.trim() !== '',
  (u, c) => (typeof u === 'string' && u.trim() !== '' ? t.success(u) : t.failure(u, c)),
  t.identity,
);
const Count = new t.Type<number, number, unknown>(
  'an integer from 0 to 1024',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0 && u <= 1024,
  (u, c) =>
    typeof u === 'number' && Number.isInteger(u) && u >= 0 && u <= 1024 ? t.success(u) : t.failure(u, c),
  t.identity,
);

const PredictFrameCodec = t.intersection([
  t.type({ frame_id: FrameId }),
  t.partial({ url: Text, data: Text }),
]);

/** The body of `POST /predict`. Unknown fields (and meta fields beyond n_keypoints) are ignored. */
export const PredictRequestCodec = t.partial(
  {
    url: Text,
    frames: t.array(PredictFrameCodec),
    meta: t.union([t.null, t.partial({ n_keypoints: Count })]),
  },
  'a predict request',
);
export type PredictRequest = t.TypeOf<typeof PredictRequestCodec>;
export type PredictFrameRequest = t.TypeOf<typeof PredictFrameCodec>;

export interface PredictBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  cls_id: number;
  conf: number;
}

export interface PredictFrame {
  frame_id: number;
  boxes: PredictBox[];
  keypoints: Array<[number, number]>;
}

export interface PredictResponse {
  success: boolean;
  predictions: { frames: PredictFrame[] } | null;
  error: string | null;
  /** The FF_ERR_ code when `error` is set. */
  code?: string;
  /** The pipeline's name (added by the route; turbovision's first chute schema requires a `model`). */
  model?: string;
}

export function predictFailure(code: string, message: string): PredictResponse {
  return { success: false, predictions: null, error: message, code };
}

/** Why a parsed body is over the limits (413), before anything else is done with it; undefined if not. */
export function predictOverLimits(
  body: unknown,
  limits: PredictLimits,
): { code: string; message: string } | undefined {
  const frames = (body as { frames?: unknown } | null)?.frames;
  if (!Array.isArray(frames)) return undefined;
  if (frames.length > limits.maxFrames) {
    return {
      code: predictCodes.tooManyFrames,
      message: `${frames.length} frames; at most ${limits.maxFrames} are accepted in one request`,
    };
  }
  // Base64 holds 3 bytes in 4 characters: a longer text cannot decode to an acceptable frame.
  const maxChars = Math.ceil(limits.maxFrameBytes / 3) * 4 + 64;
  for (const [index, frame] of frames.entries()) {
    const data = (frame as { data?: unknown } | null)?.data;
    if (typeof data === 'string' && data.length > maxChars) {
      return {
        code: predictCodes.frameTooLarge,
        message: `frames[${index}].data: ${data.length} base64 characters; a frame may have at most ${limits.maxFrameBytes} bytes`,
      };
    }
  }
  return undefined;
}

/**
 * Checks a parsed body: exactly one of `url` and `frames`; each frame with `url` or `data` (not both),
 * frame ids unique. Left: one line per problem, each quoting at most a few hundred characters.
 */
export function decodePredict(body: unknown): Either<string[], PredictRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
    return left([`body: expected a JSON object, got ${got}`]);
  }
  const decoded = PredictRequestCodec.decode(body);
  if (isLeft(decoded)) {
    return left(formatValidationErrors(decoded.left).map((line) => truncateForLog(line, 300)));
  }
  const request = decoded.right;
  const problems: string[] = [];
  if ((request.url === undefined) === (request.frames === undefined)) {
    problems.push('body: give either "url" (a video) or "frames", not both and not neither');
  }
  if (request.frames?.length === 0) problems.push('frames: expected at least one frame');
  const seen = new Set<number>();
  for (const [index, frame] of (request.frames ?? []).entries()) {
    if ((frame.url === undefined) === (frame.data === undefined)) {
      problems.push(`frames[${index}]: give either "url" or "data"`);
    }
    if (seen.has(frame.frame_id)) problems.push(`frames[${index}].frame_id: ${frame.frame_id} is repeated`);
    seen.add(frame.frame_id);
    if (problems.length >= 20) break;
  }
  return problems.length > 0 ? left(problems) : right(request);
}

const UNSEEN: [number, number] = [0, 0];

function keypointsOf(points: ResultFrame['keypoints'], count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let index = 0; index < count; index += 1) {
    const [x, y] = points?.[index] ?? UNSEEN;
    out.push(Number.isFinite(x) && Number.isFinite(y) ? [Math.round(x), Math.round(y)] : [0, 0]);
  }
  return out;
}

function boxesOf(frame: ResultFrame): PredictBox[] {
  return frame.objects.map((object) => {
    const [x1, y1, x2, y2] = object.bbox.map((value) => Math.max(0, Math.round(value))) as [
      number,
      number,
      number,
      number,
    ];
    return { x1, y1, x2, y2, cls_id: object.classId, conf: object.score };
  });
}

/**
 * A run's frames in the predict answer's form, in frame order. `frameIds` maps the run's frame numbers to
 * the request's ids (the frames route runs the JPEGs as frames 0, 1, 2, …); without it the frame number
 * is the id. `nKeypoints` points per frame (default 32): missing or non-finite ones are [0, 0].
 */
export function predictFrames(
  document: RunDocument,
  options: { frameIds?: readonly number[]; nKeypoints?: number } = {},
): PredictFrame[] {
  const count = options.nKeypoints ?? PITCH_KEYPOINTS;
  return document.frames.flatMap((frame) => {
    const id = options.frameIds ? options.frameIds[frame.frameNumber] : frame.frameNumber;
    return id === undefined
      ? []
      : [{ frame_id: id, boxes: boxesOf(frame), keypoints: keypointsOf(frame.keypoints, count) }];
  });
}
