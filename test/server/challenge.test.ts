/**
 * The server's pure parts: the challenge codec's messages, the answer's frames, the status of each error
 * code, the admission queue, and the serve settings.
 */

import { isLeft, isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { RunDocument } from '../../src/pipelines/runner.js';
import { createAdmission } from '../../src/server/admission.js';
import {
  CHALLENGE_FIELD_MAX_CHARS,
  PITCH_KEYPOINTS,
  challengeFrames,
  challengeFramesInTasks,
  decodeChallenge,
  overlongFields,
  overlongProblem,
  type ChallengeRequest,
} from '../../src/server/challenge.js';
import { statusForRunError } from '../../src/server/response.js';
import { readServeSettings } from '../../src/server/settings.js';

const problemsOf = (body: unknown): string[] => {
  const decoded = decodeChallenge(body);
  return isLeft(decoded) ? decoded.left : [];
};

describe('decodeChallenge', () => {
  it('accepts a challenge, ignoring extra fields, with the type derived from the codec', () => {
    const body = {
      challenge_id: 'a',
      type: 'gsr',
      video_url: 'https://x/v.mp4',
      created_at: 'now',
      extra: 1,
    };
    const decoded = decodeChallenge(body);
    expect(isRight(decoded) && decoded.right.challenge_id).toBe('a');
    expectTypeOf<ChallengeRequest>().toEqualTypeOf<{
      challenge_id: string;
      type: string;
      video_url: string;
      created_at: string;
    }>();
  });

  it('reports every problem with its field', () => {
    expect(problemsOf({ challenge_id: '', type: null, video_url: ['x'] })).toEqual([
      'challenge_id: expected a non-empty string, got ""',
      'type: expected a string, got null',
      'video_url: expected a non-empty string, got ["x"]',
      'created_at: expected a string, got nothing',
    ]);
    expect(problemsOf('text')).toEqual(['body: expected a JSON object, got string']);
    expect(problemsOf(null)).toEqual(['body: expected a JSON object, got null']);
  });
});

function documentWith(frames: RunDocument['frames']): RunDocument {
  return { frames } as RunDocument;
}

describe('challengeFramesInTasks', () => {
  it('converts 64 frames a task, each slice after a task boundary, to exactly what challengeFrames gives', async () => {
    const frames = Array.from({ length: 150 }, (_, frameNumber) => ({
      frameNumber,
      pts: frameNumber / 25,
      objects: [
        {
          bbox: [1, 2, 3, 4] as [number, number, number, number],
          classId: 2,
          className: 'player',
          score: 0.9,
          trackId: frameNumber,
        },
      ],
    }));
    const document = documentWith(frames);
    const sliceStarts: number[] = [];
    let converted = 0;
    const inTasks = await challengeFramesInTasks(document, async () => {
      sliceStarts.push(converted);
      converted += 64;
    });
    // Three slices (0–63, 64–127, 128–149), each started in a task of its own.
    expect(sliceStarts).toEqual([0, 64, 128]);
    expect(inTasks).toEqual(challengeFrames(document));
    expect(inTasks.map((frame) => frame.frame_number)).toEqual([...Array(150).keys()]);
  });

  it('no frames: one task, an empty list', async () => {
    let tasks = 0;
    expect(await challengeFramesInTasks(documentWith([]), async () => void (tasks += 1))).toEqual([]);
    expect(tasks).toBe(1);
  });
});

describe('challengeFrames', () => {
  const object = (trackId?: number) => ({
    bbox: [1, 2, 3, 4] as [number, number, number, number],
    classId: 2,
    className: 'player',
    score: 0.9,
    ...(trackId === undefined ? {} : { trackId }),
  });

  it('uses track ids; untracked objects are numbered after the largest, so ids stay unique in the frame', () => {
    const [frame] = challengeFrames(
      documentWith([{ frameNumber: 5, pts: 0.2, objects: [object(7), object(), object(3), object()] }]),
    );
    expect(frame?.frame_number).toBe(5);
    expect(frame?.objects.map((o) => o.id)).toEqual([7, 8, 3, 9]);
    expect(frame?.objects[0]).toEqual({ id: 7, bbox: [1, 2, 3, 4], class_id: 2, source: 'inferred' });
  });

  it("carries each object's source; an object without one was inferred", () => {
    const [frame] = challengeFrames(
      documentWith([
        {
          frameNumber: 3,
          pts: 0.12,
          objects: [
            { ...object(1), source: 'interpolated' },
            { ...object(2), source: 'extrapolated' },
            { ...object(3), source: 'inferred' },
            object(4),
          ],
        },
      ]),
    );
    expect(frame?.objects.map((o) => o.source)).toEqual([
      'interpolated',
      'extrapolated',
      'inferred',
      'inferred',
    ]);
  });

  it('always gives 32 keypoints: absent, short, long or non-finite ones become [0, 0]', () => {
    const points = (n: number) => Array.from({ length: n }, (_, i) => [i + 1, i + 2] as [number, number]);
    const [absent, short, long, odd] = challengeFrames(
      documentWith([
        { frameNumber: 0, pts: 0, objects: [] },
        { frameNumber: 1, pts: 0, objects: [], keypoints: points(3) },
        { frameNumber: 2, pts: 0, objects: [], keypoints: points(40) },
        { frameNumber: 3, pts: 0, objects: [], keypoints: [[Number.NaN, 1], ...points(31)] },
      ]),
    );
    expect(absent?.keypoints).toEqual(new Array(PITCH_KEYPOINTS).fill([0, 0]));
    expect(short?.keypoints.slice(0, 4)).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
      [0, 0],
    ]);
    expect(short?.keypoints).toHaveLength(PITCH_KEYPOINTS);
    expect(long?.keypoints).toEqual(points(32));
    expect(odd?.keypoints[0]).toEqual([0, 0]);
  });
});

describe('overlongFields', () => {
  it('names each string field over its limit, in the order of the challenge, and ignores the rest', () => {
    const body = {
      challenge_id: 'c'.repeat(257),
      type: 'gsr',
      video_url: 'u'.repeat(8193),
      created_at: 7,
      extra: 'x'.repeat(100_000),
    };
    expect(overlongFields(body).map(overlongProblem)).toEqual([
      'challenge_id: 257 characters; at most 256 are accepted',
      'video_url: 8193 characters; at most 8192 are accepted',
    ]);
    expect(overlongFields({ challenge_id: 'c'.repeat(256), video_url: 'u'.repeat(8192) })).toEqual([]);
    expect(overlongFields(null)).toEqual([]);
    expect(overlongFields('c'.repeat(1000))).toEqual([]);
    expect(CHALLENGE_FIELD_MAX_CHARS).toEqual({
      challenge_id: 256,
      type: 256,
      video_url: 8192,
      created_at: 256,
    });
  });
});

describe('statusForRunError', () => {
  it.each([
    ['FF_ERR_INVALID_URL', 400],
    ['FF_ERR_URL_REFUSED', 403],
    ['FF_ERR_LIMIT_BYTES', 422],
    ['FF_ERR_LIMIT_RESOLUTION', 422],
    ['FF_ERR_NOT_A_VIDEO', 422],
    ['FF_ERR_MOOV_MISSING', 422],
    ['FF_ERR_HTTP_STATUS', 502],
    ['FF_ERR_CONNECT_REFUSED', 502],
    ['FF_ERR_DNS', 502],
    ['FF_ERR_NO_FRAMES', 422],
    ['FF_ERR_MP4_STRUCTURE', 422],
    ['FF_ERR_NO_DATA', 422],
    ['FF_ERR_NO_HEADERS_BY_DEADLINE', 504],
    ['FF_ERR_NO_FRAME_BY_DEADLINE', 504],
    ['FF_ERR_HEADERS_TIMEOUT', 504],
    ['FF_ERR_CONNECT_TIMEOUT', 504],
    ['FF_ERR_STALLED', 504],
    ['FF_ERR_NO_RESULT_BY_DEADLINE', 503],
    ['FF_ERR_BUDGET_SPENT', 503],
    ['FF_ERR_BUDGET_TOO_SHORT', 503],
    ['FF_ERR_NO_RESULTS', 500],
    ['FF_ERR_MODEL_FORMAT', 500],
    ['FF_ERR_INTERNAL', 500],
  ])('%s → %i', (code, status) => {
    expect(statusForRunError(code)).toBe(status);
  });
});

describe('createAdmission', () => {
  it('runs up to the limit, queues in order up to the queue size, refuses beyond', async () => {
    const admission = createAdmission({ concurrency: 1, queue: 2 });
    const first = await admission.enter()!;
    const order: string[] = [];
    const second = admission.enter()!.then((release) => (order.push('second'), release));
    const third = admission.enter()!.then((release) => (order.push('third'), release));
    expect(admission.enter()).toBeUndefined();
    expect([admission.active, admission.queued, admission.available]).toEqual([1, 2, false]);
    first();
    first(); // a second release gives back nothing more
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    expect([admission.active, admission.queued, admission.available]).toEqual([0, 0, true]);
  });

  it('a waiter whose signal aborts leaves the queue with the abort reason', async () => {
    const admission = createAdmission({ concurrency: 1, queue: 1 });
    const release = await admission.enter()!;
    const controller = new AbortController();
    const waiting = admission.enter(controller.signal)!;
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(admission.queued).toBe(0);
    release();
    expect(admission.active).toBe(0);
  });

  it('refuses bad limits, naming both', () => {
    expect(() => createAdmission({ concurrency: 0, queue: -1 })).toThrow(ConfigError);
    try {
      createAdmission({ concurrency: 0, queue: -1 });
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'concurrency: expected a positive integer, got 0',
        'queue: expected an integer >= 0, got -1',
      ]);
    }
  });
});

describe('readServeSettings', () => {
  it('flags win over the environment; switches and repeatable flags become values', () => {
    const settings = readServeSettings(
      {
        FIRSTFRAME_CONCURRENCY: '3',
        FIRSTFRAME_QUEUE: '4',
        FIRSTFRAME_ALLOW_HOSTS: 'a.example, *.b.example',
        FIRSTFRAME_NO_VERIFY: '1',
      },
      { concurrency: '5', 'allow-private': true },
    );
    expect(settings).toEqual({
      noVerify: true,
      concurrency: 5,
      queue: 4,
      allowPrivate: true,
      allowHosts: ['a.example', '*.b.example'],
    });
    expect(
      readServeSettings({}, { 'allow-host': ['x.example', 'y.example'], 'no-verify': true }).allowHosts,
    ).toEqual(['x.example', 'y.example']);
  });

  it('reports every bad value of both sources, named as written', () => {
    try {
      readServeSettings(
        { FIRSTFRAME_GRACE_S: 'soon', FIRSTFRAME_PROFILE: 'soccer' },
        { port: 'http', pipeline: 'p.yaml', 'log-level': 'loud', 'no-verify': true },
      );
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).code).toBe('FF_ERR_USAGE');
      expect((error as ConfigError).problems).toEqual([
        'FIRSTFRAME_GRACE_S: expected a number >= 0, got "soon"',
        '--port: expected a port number from 0 to 65535, got "http"',
        '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
        '--pipeline and --profile (or FIRSTFRAME_PIPELINE and FIRSTFRAME_PROFILE): give one',
      ]);
    }
  });
});
