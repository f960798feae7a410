import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import {
  EnvBoolean,
  EnvNonNegativeNumber,
  EnvPositiveInt,
  EnvPositiveNumber,
  formatValidationErrors,
} from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';
import { decodeSs58 } from './ss58.js';
import { createUrlGuard } from './url-guard.js';

/*
 * `firstframe serve`'s settings, from the environment (FIRSTFRAME_*) and from flags, which win. Both arrive
 * as strings and go through the same io-ts codecs as the miners' variables (src/core/config.ts), so
 * `FIRSTFRAME_CONCURRENCY=0` and `--concurrency 0` are refused with the same words, and every bad value of
 * both sources is reported at once, named as the user wrote it.
 */

function stringCodec<A>(expected: string, parse: (raw: string) => A | undefined): t.Type<A, string, unknown> {
  return new t.Type<A, string, unknown>(
    expected,
    (u): u is A => typeof u === 'string' && parse(u) !== undefined,
    (u, context) => {
      if (typeof u !== 'string') return t.failure(u, context);
      const value = parse(u.trim());
      return value === undefined ? t.failure(u, context) : t.success(value);
    },
    String,
  );
}

const Port = stringCodec('a port number from 0 to 65535', (raw) =>
  /^\d{1,5}$/.test(raw) && Number(raw) <= 65535 ? Number(raw) : undefined,
);
const NonNegativeInt = stringCodec('an integer >= 0', (raw) => (/^\d+$/.test(raw) ? Number(raw) : undefined));
const Nice = stringCodec('an integer from 0 to 19', (raw) =>
  /^\d{1,2}$/.test(raw) && Number(raw) <= 19 ? Number(raw) : undefined,
);
const NonEmpty = stringCodec('a non-empty string', (raw) => (raw === '' ? undefined : raw));
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LogLevel = stringCodec(`one of ${LEVELS.join(', ')}`, (raw) =>
  LEVELS.includes(raw) ? raw : undefined,
);
/** Comma-separated host patterns; each is checked by the URL guard afterwards. */
const HostList = stringCodec('comma-separated host patterns', (raw) => {
  const hosts = raw
    .split(',')
    .map((host) => host.trim())
    .filter((host) => host !== '');
  return hosts.length > 0 ? hosts : undefined;
});

/** Comma-separated SS58 addresses; each is checked as SS58 afterwards. */
const HotkeyList = stringCodec('comma-separated SS58 addresses', (raw) => {
  const hotkeys = raw
    .split(',')
    .map((hotkey) => hotkey.trim())
    .filter((hotkey) => hotkey !== '');
  return hotkeys.length > 0 ? hotkeys : undefined;
});

/** Each setting: its flag (without `--`), its environment variable, and the codec both go through. */
const SETTINGS = {
  port: { flag: 'port', env: 'FIRSTFRAME_PORT', codec: Port },
  host: { flag: 'host', env: 'FIRSTFRAME_HOST', codec: NonEmpty },
  allowPrivate: { flag: 'allow-private', env: 'FIRSTFRAME_ALLOW_PRIVATE', codec: EnvBoolean },
  allowHosts: { flag: 'allow-host', env: 'FIRSTFRAME_ALLOW_HOSTS', codec: HostList },
  pipeline: { flag: 'pipeline', env: 'FIRSTFRAME_PIPELINE', codec: NonEmpty },
  profile: { flag: 'profile', env: 'FIRSTFRAME_PROFILE', codec: NonEmpty },
  concurrency: { flag: 'concurrency', env: 'FIRSTFRAME_CONCURRENCY', codec: EnvPositiveInt },
  queue: { flag: 'queue', env: 'FIRSTFRAME_QUEUE', codec: NonNegativeInt },
  secret: { flag: 'secret', env: 'FIRSTFRAME_SECRET', codec: NonEmpty },
  graceS: { flag: 'grace', env: 'FIRSTFRAME_GRACE_S', codec: EnvNonNegativeNumber },
  maxVideoMb: { flag: 'max-video-mb', env: 'FIRSTFRAME_MAX_VIDEO_MB', codec: EnvPositiveNumber },
  maxWidth: { flag: 'max-width', env: 'FIRSTFRAME_MAX_WIDTH', codec: EnvPositiveInt },
  maxHeight: { flag: 'max-height', env: 'FIRSTFRAME_MAX_HEIGHT', codec: EnvPositiveInt },
  maxDurationS: { flag: 'max-duration', env: 'FIRSTFRAME_MAX_DURATION_S', codec: EnvPositiveNumber },
  warmIntervalS: { flag: 'warm-interval', env: 'FIRSTFRAME_WARM_INTERVAL_S', codec: EnvNonNegativeNumber },
  computeNice: { flag: 'compute-nice', env: 'FIRSTFRAME_COMPUTE_NICE', codec: Nice },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', codec: LogLevel },
  minerHotkey: { flag: 'miner-hotkey', env: 'MINER_HOTKEY', codec: NonEmpty },
  validatorHotkeys: { flag: 'validator-hotkey', env: 'VALIDATOR_HOTKEYS', codec: HotkeyList },
  metagraph: { flag: 'metagraph', env: 'FIRSTFRAME_METAGRAPH', codec: NonEmpty },
  minStake: { flag: 'min-stake', env: 'FIRSTFRAME_MIN_STAKE', codec: EnvNonNegativeNumber },
  noVerify: { flag: 'no-verify', env: 'FIRSTFRAME_NO_VERIFY', codec: EnvBoolean },
} as const;

type SettingName = keyof typeof SETTINGS;

/** The settings as read; unset ones are left to `firstframe serve`'s defaults. */
export type ServeSettings = { -readonly [K in SettingName]?: t.TypeOf<(typeof SETTINGS)[K]['codec']> };

/** The environment variables `firstframe serve` reads, for help texts and tests. */
export const SERVE_ENV_NAMES = Object.values(SETTINGS).map((setting) => setting.env);

/** The flags as parseArgs gives them: strings, booleans for switches, string arrays for repeatable ones. */
export type ServeFlags = Partial<Record<string, string | boolean | string[] | undefined>>;

/** Decodes each present setting on its own, so that one bad value does not hide the others' checks. */
function decodeSource(
  raw: Record<string, string>,
  nameOf: (name: SettingName) => string,
): { values: ServeSettings; problems: string[] } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const key = nameOf(name);
    if (!Object.hasOwn(raw, key)) continue;
    const decoded = t.partial({ [key]: SETTINGS[name].codec as t.Mixed }).decode({ [key]: raw[key] });
    if (isLeft(decoded)) problems.push(...formatValidationErrors(decoded.left));
    else values[name] = (decoded.right as Record<string, unknown>)[key];
  }
  return { values: values as ServeSettings, problems };
}

/**
 * Reads `firstframe serve`'s settings: FIRSTFRAME_* variables, then flags over them. Each problem is one
 * line naming the variable or flag (`--concurrency: expected a positive integer, got "0"`), and an
 * allowlist pattern the URL guard would refuse is reported here too, before any model is loaded.
 *
 * @throws ConfigError (FF_ERR_USAGE) listing every problem of both sources.
 */
export function readServeSettings(env: NodeJS.ProcessEnv, flags: ServeFlags): ServeSettings {
  const fromEnv: Record<string, string> = {};
  for (const setting of Object.values(SETTINGS)) {
    const value = env[setting.env];
    if (value !== undefined) fromEnv[setting.env] = value;
  }
  const fromFlags: Record<string, string> = {};
  for (const setting of Object.values(SETTINGS)) {
    const value = flags[setting.flag];
    if (value === undefined) continue;
    // Switches arrive as booleans and repeatable flags as arrays: both become the string the codec reads.
    fromFlags[`--${setting.flag}`] =
      typeof value === 'boolean' ? (value ? '1' : '0') : Array.isArray(value) ? value.join(',') : value;
  }
  const envResult = decodeSource(fromEnv, (name) => SETTINGS[name].env);
  const flagResult = decodeSource(fromFlags, (name) => `--${SETTINGS[name].flag}`);
  const problems = [...envResult.problems, ...flagResult.problems];
  const settings: ServeSettings = { ...envResult.values, ...flagResult.values };

  if (settings.pipeline !== undefined && settings.profile !== undefined) {
    problems.push('--pipeline and --profile (or FIRSTFRAME_PIPELINE and FIRSTFRAME_PROFILE): give one');
  }
  if (settings.allowHosts !== undefined) {
    const source = flagResult.values.allowHosts !== undefined ? '--allow-host' : 'FIRSTFRAME_ALLOW_HOSTS';
    try {
      createUrlGuard({ allowHosts: settings.allowHosts });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // The guard names patterns allowHosts[i]; the user wrote them as flags or a list.
      problems.push(...error.problems.map((line) => line.replace(/^allowHosts\[\d+\]/, source)));
    }
  }
  problems.push(
    ...signatureProblems(settings, (name) =>
      flagResult.values[name] !== undefined ? `--${SETTINGS[name].flag}` : SETTINGS[name].env,
    ),
  );
  if (problems.length > 0) throw new ConfigError(codes.config.usage, problems);
  return settings;
}

/**
 * Signed challenges are the default once MINER_HOTKEY is set; serving unsigned ones must be asked for
 * (--no-verify), so a miner never ends up open to strangers by leaving a variable out.
 */
function signatureProblems(settings: ServeSettings, nameOf: (name: SettingName) => string): string[] {
  const problems: string[] = [];
  const checkAddress = (name: SettingName, address: string) => {
    try {
      decodeSs58(address);
    } catch (error) {
      problems.push(`${nameOf(name)}: ${(error as Error).message}`);
    }
  };
  if (settings.minerHotkey !== undefined) checkAddress('minerHotkey', settings.minerHotkey);
  for (const address of settings.validatorHotkeys ?? []) checkAddress('validatorHotkeys', address);
  if (settings.noVerify) return problems;
  if (settings.minerHotkey === undefined) {
    problems.push(
      'MINER_HOTKEY (--miner-hotkey) is not set: set it, with VALIDATOR_HOTKEYS or --metagraph, to verify ' +
        "validators' signed challenges, or say --no-verify to serve unsigned ones",
    );
  } else if (settings.validatorHotkeys === undefined && settings.metagraph === undefined) {
    problems.push(
      `${nameOf('minerHotkey')} is set but nothing says which validators may call: set VALIDATOR_HOTKEYS ` +
        '(--validator-hotkey) or --metagraph (FIRSTFRAME_METAGRAPH)',
    );
  }
  if (settings.minStake !== undefined && settings.metagraph === undefined) {
    problems.push(`${nameOf('minStake')}: a minimum stake needs a metagraph snapshot (--metagraph)`);
  }
  return problems;
}
