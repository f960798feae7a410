import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatValidationErrors } from '../core/config.js';
import { truncateForLog } from '../core/logger.js';
import type { ResultFrame, RunDocument } from '../pipelines/runner.js';
import type { FillSource } from '../tracking/fill.js';

/*
 * The SN44 challenge exchange: what a validator POSTs to /soccer/challenge, and what the miner answers.
 * The request is checked with io-ts at the boundary (every problem at once, with its field); the answer is
 * built from the pipeline's RunDocument.
 */

function namedString(name: string, accept: (s: string) => boolean): t.Type<string, string, unknown> {
  return new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === 'string' && accept(u),
    (u, context) => (typeof u === 'string' && accept(u) ? t.success(u) : t.failure(u, context)),
    t.identity,
  );
}

const Text = namedString('a string', () => true);
const NonEmptyText = namedString('a non-empty string', (s) => s.trim() !== '');

/**
 * The body of `POST /soccer/challenge`. Fields beyond these are ignored (validators may add some);
 * `video_url` is only checked to be text here: the URL guard decides about it.
 */
export const ChallengeRequestCodec = t.type(
  {
    challenge_id: NonEmptyText,
    type: Text,
    video_url: NonEmptyText,
    created_at: Text,
  },
  'a challenge',
);
export type ChallengeRequest = t.TypeOf<typeof ChallengeRequestCodec>;

/**
 * The longest value each field of a challenge may have, in characters (UTF-16 code units). The id is
 * echoed in every answer and written on every log line of the challenge; `type` and `created_at` are
 * short by nature; 8192 is the longest request target most HTTP servers take (nginx's default buffer),
 * so a longer video URL could not be fetched anyway. Checked before anything else is done with the body.
 */
export const CHALLENGE_FIELD_MAX_CHARS = {
  challenge_id: 256,
  type: 256,
  video_url: 8192,
  created_at: 256,
} as const;

/** The longest a problem line echoes of what the client sent: `got …` quotes the value it got. */
const PROBLEM_MAX_CHARS = 300;

export interface OverlongField {
  readonly field: keyof typeof CHALLENGE_FIELD_MAX_CHARS;
  readonly length: number;
  readonly max: number;
}

/** The string fields of a parsed body that are longer than {@link CHALLENGE_FIELD_MAX_CHARS} allows. */
export function overlongFields(body: unknown): OverlongField[] {
  if (typeof body !== 'object' || body === null) return [];
  const fields = Object.keys(CHALLENGE_FIELD_MAX_CHARS) as Array<keyof typeof CHALLENGE_FIELD_MAX_CHARS>;
  return fields.flatMap((field) => {
    const value = (body as Record<string, unknown>)[field];
    const max = CHALLENGE_FIELD_MAX_CHARS[field];
    return typeof value === 'string' && value.length > max ? [{ field, length: value.length, max }] : [];
  });
}

/** `challenge_id: 61440 characters; at most 256 are accepted` */
export function overlongProblem({ field, length, max }: OverlongField): string {
  return `${field}: ${length} characters; at most ${max} are accepted`;
}

/**
 * Checks a parsed JSON body. Left: one line per problem, `video_url: expected a non-empty string, got 5`
 * (or `body: expected a JSON object, got array` when it is not an object at all); a line quotes at most
 * a few hundred characters of the value it got.
 */
export function decodeChallenge(body: unknown): Either<string[], ChallengeRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
    return left([`body: expected a JSON object, got ${got}`]);
  }
  const decoded = ChallengeRequestCodec.decode(body);
  return isLeft(decoded)
    ? left(formatValidationErrors(decoded.left).map((line) => truncateForLog(line, PROBLEM_MAX_CHARS)))
    : right(decoded.right);
}

/** The body's `challenge_id` when it is a string (for error responses to echo), else null. */
export function challengeIdOf(body: unknown): string | null {
  const id = (body as { challenge_id?: unknown } | null)?.challenge_id;
  return typeof id === 'string' ? id : null;
}

/** How many pitch keypoints a frame carries in the answer (the SN44 pitch model's 32). */
export const PITCH_KEYPOINTS = 32;

export interface ChallengeObject {
  /**
   * The tracker's id (`trackId`): stable across frames for the same object. Without tracking
   * (DISABLE_TRACKING=1, or a pipeline whose track stage is `none`) it is the object's position in its frame,
   * 0, 1, 2, …: unique within the frame only, and meaning nothing across frames.
   */
  id: number;
  /** [x1, y1, x2, y2] in source pixels. */
  bbox: [number, number, number, number];
  class_id: number;
  /**
   * How the object was made: `inferred` (the model ran on this frame), `interpolated` (between two
   * sightings of its track) or `extrapolated` (carried past the last one). The validator ignores it.
   */
  source: FillSource;
}

export interface ChallengeFrame {
  /** The frame's index in the video (0-based), not its position in `frames`. */
  frame_number: number;
  objects: ChallengeObject[];
  /** Exactly {@link PITCH_KEYPOINTS} [x, y] points in source pixels; [0, 0] for a point not seen. */
  keypoints: Array<[number, number]>;
}

export interface ChallengeResponse {
  challenge_id: string;
  frames: ChallengeFrame[];
  /** Seconds from the request's arrival to the answer. */
  processing_time: number;
  /** Present when the run ended by a fault after some frames were done (the frames are still good). */
  error?: { code: string; message: string };
}

const UNSEEN: [number, number] = [0, 0];

/** The frame's points as exactly 32 pairs: missing or non-finite ones are [0, 0], extra ones dropped. */
function pitchKeypoints(points: ResultFrame['keypoints']): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let index = 0; index < PITCH_KEYPOINTS; index += 1) {
    const point = points?.[index];
    const [x, y] = point ?? UNSEEN;
    out.push(Number.isFinite(x) && Number.isFinite(y) ? [x, y] : [0, 0]);
  }
  return out;
}

function challengeObjects(frame: ResultFrame): ChallengeObject[] {
  // Objects the tracker has not confirmed (none today, but a mixed frame must not repeat an id) are
  // numbered after the frame's largest track id.
  let next = 0;
  for (const object of frame.objects)
    if (object.trackId !== undefined) next = Math.max(next, object.trackId + 1);
  return frame.objects.map((object) => ({
    id: object.trackId ?? next++,
    bbox: object.bbox,
    class_id: object.classId,
    source: object.source ?? 'inferred',
  }));
}

/** One frame of a run document in the answer's form. */
function challengeFrame(frame: ResultFrame): ChallengeFrame {
  return {
    frame_number: frame.frameNumber,
    objects: challengeObjects(frame),
    keypoints: pitchKeypoints(frame.keypoints),
  };
}

/** The frames of a run document in the answer's form, in frame order. */
export function challengeFrames(document: RunDocument): ChallengeFrame[] {
  return document.frames.map(challengeFrame);
}

/** Frames converted per task by challengeFramesInTasks: a few ms of the event loop for soccer frames. */
const FRAMES_PER_TASK = 64;

/**
 * challengeFrames a slice at a time, each slice after `nextTask`: the whole conversion (about 25 ms for 270
 * filled 720p frames) in one task, with several challenges answering at the same deadline, held the event
 * loop past its 50 ms target.
 */
export async function challengeFramesInTasks(
  document: RunDocument,
  nextTask: () => Promise<void>,
): Promise<ChallengeFrame[]> {
  const frames: ChallengeFrame[] = [];
  for (let start = 0; start < document.frames.length || start === 0; start += FRAMES_PER_TASK) {
    await nextTask();
    for (const frame of document.frames.slice(start, start + FRAMES_PER_TASK))
      frames.push(challengeFrame(frame));
  }
  return frames;
}
