import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { ConfigError, codes } from './errors.js';

/*
 * The environment variables of the SN44 miners keep their names and meanings, so that a miner's existing
 * .env file configures firstframe unchanged. Values arrive as strings; each codec below turns one into a
 * typed value or reports what it expected. Every bad variable is reported at once.
 */

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off', '']);

/** A codec from an environment string; `expected` is what the error message says it wanted. */
function envCodec<A>(expected: string, parse: (raw: string) => A | undefined): t.Type<A, string, unknown> {
  return new t.Type<A, string, unknown>(
    expected,
    (u): u is A => parse(String(u)) !== undefined,
    (u, context) => {
      if (typeof u !== 'string') return t.failure(u, context);
      const value = parse(u.trim());
      return value === undefined ? t.failure(u, context) : t.success(value);
    },
    (a) => String(a),
  );
}

const finiteNumber = (raw: string): number | undefined => {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
};

export const EnvBoolean = envCodec('a boolean (1/0, true/false, yes/no, on/off)', (raw) => {
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
});

export const EnvPositiveInt = envCodec('a positive integer', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
});

export const EnvNonNegativeInt = envCodec('an integer >= 0', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && Number.isInteger(n) && n >= 0 ? n : undefined;
});

export const EnvPositiveNumber = envCodec('a positive number', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && n > 0 ? n : undefined;
});

export const EnvNonNegativeNumber = envCodec('a number >= 0', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && n >= 0 ? n : undefined;
});

export const EnvUnitInterval = envCodec('a number between 0 and 1', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && n >= 0 && n <= 1 ? n : undefined;
});

/** Model input sizes must be multiples of the detector's largest stride (32 for YOLO). */
export const EnvImageSize = envCodec('a positive multiple of 32', (raw) => {
  const n = finiteNumber(raw);
  return n !== undefined && Number.isInteger(n) && n > 0 && n % 32 === 0 ? n : undefined;
});

export const EnvDevice = envCodec('cpu, cuda or cuda:N', (raw) => {
  const word = raw.toLowerCase();
  return word === 'cpu' || word === 'cuda' || /^cuda:\d+$/.test(word) ? word : undefined;
});

/** Every variable the miners use, with its codec. All are optional: unset means "profile decides". */
export const EnvConfigCodec = t.partial({
  PARTIAL_DOWNLOAD: EnvBoolean,
  PARTIAL_DOWNLOAD_MB: EnvPositiveNumber,
  CHUNKED_STREAMING: EnvBoolean,
  STREAMING_DOWNLOAD: EnvBoolean,
  STREAM_MIN_START_BYTES: EnvNonNegativeInt,
  STREAM_BUFFER_TIMEOUT_S: EnvNonNegativeNumber,
  DEVICE: EnvDevice,
  IMG_SIZE: EnvImageSize,
  BATCH_SIZE: EnvPositiveInt,
  FRAME_STRIDE: EnvPositiveInt,
  PREFETCH_FRAMES: EnvPositiveInt,
  RAMP_UP: EnvBoolean,
  RAMP_UP_FIRST_BATCH: EnvPositiveInt,
  DISABLE_TRACKING: EnvBoolean,
  SKIP_PITCH: EnvBoolean,
  CONF_THRESHOLD: EnvUnitInterval,
  MAX_DETECTIONS: EnvPositiveInt,
  TIME_BUDGET_S: EnvPositiveNumber,
  START_BUDGET_AFTER_FIRST_FRAME: EnvBoolean,
  EARLY_FLUSH_FIRST_FRAME: EnvBoolean,
  USE_NVDEC: EnvBoolean,
  NVDEC_FIXED_SCALE: EnvBoolean,
  NVDEC_OUT_W: EnvPositiveInt,
  NVDEC_OUT_H: EnvPositiveInt,
});

export type EnvConfig = t.TypeOf<typeof EnvConfigCodec>;
export type EnvName = keyof EnvConfig;
export const ENV_NAMES = Object.keys(EnvConfigCodec.props) as EnvName[];

/**
 * Turns io-ts errors into one line each: `PATH: expected WHAT, got VALUE`. The path joins the context
 * keys (`pipeline.stages.2.batch.size`), and the expectation is the innermost codec's name.
 */
export function formatValidationErrors(errors: t.Errors, root = ''): string[] {
  const lines = errors.map((error) => {
    const keys = error.context.map((entry) => entry.key).filter((key) => key !== '');
    const path = [root, ...keys].filter((part) => part !== '').join('.') || '(document)';
    const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
    const got = error.value === undefined ? 'nothing' : JSON.stringify(error.value);
    return error.message ?? `${path}: expected ${expected}, got ${got}`;
  });
  return [...new Set(lines)];
}

/**
 * Reads the miners' variables from an environment. Unknown variables are ignored (the environment holds
 * many unrelated ones); a set variable with a bad value is an error, reported with all the others.
 */
export function readEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const present: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = env[name];
    if (value !== undefined) present[name] = value;
  }
  const result = EnvConfigCodec.decode(present);
  if (isLeft(result)) {
    const problems = formatValidationErrors(result.left);
    throw new ConfigError(codes.config.env, problems, {
      variables: problems.map((line) => line.split(':')[0]),
    });
  }
  return result.right;
}
