import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { verify } from '@scure/sr25519';
import { ConfigError, codes } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { loadMetagraph, type Metagraph } from './metagraph.js';
import { createNonceMemory, type NonceMemory } from './nonces.js';
import { decodeSs58, keyHex } from './ss58.js';

/*
 * Signed requests as fiber (2.x, used by SN44's validators) sends them. Four headers:
 *
 *     validator-hotkey  the sender's SS58 address
 *     miner-hotkey      the SS58 address of the miner it means to reach (ours)
 *     nonce             {time_ns}_{10 letters and digits}
 *     signature         0x + hex of the sender's sr25519 signature (substrate signing context) over the
 *                       UTF-8 text `{nonce}:{miner-hotkey}:{sha256 hex of the raw body}`
 *
 * Everything that can be checked from the headers is checked before the body is read (nothing more is
 * read from a refused sender, and nothing is fetched); the signature needs the body's hash, so it is
 * checked once the body is in and before it is parsed. The order and statuses:
 *
 *     header missing 422 → hotkey not SS58 401 → miner-hotkey not ours 401 → nonce malformed, outside
 *     ±window or seen 401 → signature not 0x+128 hex 401 → validator not allowed 403 → (body) →
 *     signature does not verify 401 → nonce remembered.
 */

/** The codes of refused signed requests; README lists what each means to a validator. */
export const authCodes = {
  /** One of the four headers is absent or empty (422, as fiber's FastAPI answers a missing header). */
  headersMissing: 'FF_ERR_AUTH_HEADERS_MISSING',
  /** validator-hotkey or miner-hotkey is not an SS58 address (characters, length, checksum). */
  hotkeyInvalid: 'FF_ERR_HOTKEY_INVALID',
  /** miner-hotkey is a valid address but not this miner's. */
  wrongMiner: 'FF_ERR_WRONG_MINER',
  /** The nonce is not `{time_ns}_{letters and digits}`, or its time is more than the window from now. */
  nonceInvalid: 'FF_ERR_NONCE_INVALID',
  /** The nonce was already used within the window. */
  nonceReplayed: 'FF_ERR_NONCE_REPLAYED',
  /** The signature is not 0x + 128 hex digits, or does not verify for the body received. */
  signatureInvalid: 'FF_ERR_SIGNATURE_INVALID',
  /** The signer is not in VALIDATOR_HOTKEYS, not in the metagraph snapshot, or holds too little stake. */
  validatorNotAllowed: 'FF_ERR_VALIDATOR_NOT_ALLOWED',
} as const;

export const AUTH_HEADERS = ['validator-hotkey', 'miner-hotkey', 'nonce', 'signature'] as const;

export interface FiberAuthOptions {
  /** This miner's hotkey (SS58). */
  minerHotkey: string;
  /** Validators (SS58) that may send challenges. With a metagraph too, a validator must pass both. */
  validatorHotkeys?: readonly string[];
  /** A metagraph snapshot file (see loadMetagraph) and the least stake a validator must hold in it. */
  metagraph?: { file: string; minStake?: number };
  /** How far a nonce's time may be from now; default 120 s (fiber's). */
  nonceWindowMs?: number;
  /** Most nonces remembered; default 65536. */
  maxNonces?: number;
  logger?: Logger;
  /** FOR TESTS: the clock nonces are compared with (ms since the epoch). */
  now?: () => number;
}

export interface AuthRefusal {
  readonly status: 401 | 403 | 422;
  readonly code: string;
  readonly message: string;
}

/** A request whose headers passed: its body decides the rest. */
export interface SignedHeaders {
  readonly validatorHotkey: string;
  /** The signature check over the raw body; remembers the nonce when it passes. */
  verifyBody(body: Uint8Array): AuthRefusal | undefined;
}

export interface FiberAuth {
  readonly minerHotkey: string;
  /** Checks the headers: a refusal, or what the body must still pass. Never throws. */
  checkHeaders(headers: IncomingHttpHeaders): Promise<AuthRefusal | SignedHeaders>;
  /** Nonces remembered now (bounded by maxNonces). */
  nonces(): number;
}

export const isRefusal = (value: AuthRefusal | SignedHeaders): value is AuthRefusal => 'status' in value;

/** The text fiber signs: `{nonce}:{miner-hotkey}:{sha256 hex of the body}`. */
export function signingMessage(nonce: string, minerHotkey: string, body: Uint8Array): string {
  return `${nonce}:${minerHotkey}:${createHash('sha256').update(body).digest('hex')}`;
}

const SIGNATURE = /^(?:0x)?([0-9a-fA-F]{128})$/;
/** Longest header value quoted in a refusal. */
const QUOTE_CHARS = 80;
const quote = (value: string) =>
  JSON.stringify(value.length > QUOTE_CHARS ? `${value.slice(0, QUOTE_CHARS)}…` : value);

const encoder = new TextEncoder();

/**
 * True when `signature` is `publicKey`'s over `message`. substrate-interface's Keypair.verify (what fiber
 * calls) also accepts a signature over `<Bytes>message</Bytes>`, the wrapping polkadot.js extensions add
 * when they sign raw text; so does this. A malformed signature (no Schnorrkel marker, R not a point) is
 * false, not an exception.
 */
function verifies(message: string, signature: Uint8Array, publicKey: Uint8Array): boolean {
  for (const text of [message, `<Bytes>${message}</Bytes>`]) {
    try {
      if (verify(encoder.encode(text), signature, publicKey)) return true;
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * The verifier of fiber-signed requests for one miner hotkey.
 *
 * @example
 * const auth = createFiberAuth({ minerHotkey: env.MINER_HOTKEY, validatorHotkeys: ['5F…'] });
 * const checked = await auth.checkHeaders(request.headers);
 * if (isRefusal(checked)) return answer(checked.status, checked.code);
 * const refused = checked.verifyBody(body);
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) listing every problem: a hotkey that is not SS58, no way to
 * tell which validators are allowed, an unreadable metagraph.
 */
export function createFiberAuth(options: FiberAuthOptions): FiberAuth {
  const problems: string[] = [];
  const key = (name: string, address: string): string | undefined => {
    try {
      return keyHex(decodeSs58(address).publicKey);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const minerKey = key('minerHotkey', options.minerHotkey);
  const allowed =
    options.validatorHotkeys === undefined
      ? undefined
      : new Set(options.validatorHotkeys.map((address, index) => key(`validatorHotkeys[${index}]`, address)));
  if (allowed === undefined && options.metagraph === undefined) {
    problems.push(
      'validators: give VALIDATOR_HOTKEYS (--validator-hotkey) or a metagraph snapshot (--metagraph): ' +
        'with neither, anyone with a key could make this server fetch',
    );
  }
  const windowMs = options.nonceWindowMs ?? 120_000;
  if (!(Number.isFinite(windowMs) && windowMs > 0))
    problems.push(`nonceWindowMs: expected > 0, got ${windowMs}`);
  let metagraph: Metagraph | undefined;
  if (options.metagraph) {
    try {
      metagraph = loadMetagraph({
        ...options.metagraph,
        ...(options.logger ? { logger: options.logger } : {}),
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { component: 'auth' });

  const nonces: NonceMemory = createNonceMemory({
    windowMs,
    ...(options.maxNonces !== undefined ? { capacity: options.maxNonces } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const refuse = (status: AuthRefusal['status'], code: string, message: string): AuthRefusal => ({
    status,
    code,
    message,
  });

  return {
    minerHotkey: options.minerHotkey,
    nonces: () => nonces.size(),
    async checkHeaders(headers) {
      const values: Record<string, string> = {};
      const missing: string[] = [];
      for (const name of AUTH_HEADERS) {
        const value = headers[name];
        if (typeof value !== 'string' || value.trim() === '') missing.push(name);
        else values[name] = value.trim();
      }
      if (missing.length > 0) {
        return refuse(422, authCodes.headersMissing, `signed request headers missing: ${missing.join(', ')}`);
      }
      const validatorHotkey = values['validator-hotkey']!;
      const minerHotkey = values['miner-hotkey']!;
      const nonce = values['nonce']!;
      const signatureText = values['signature']!;

      let validatorKey: Uint8Array;
      let claimedMinerKey: string;
      try {
        validatorKey = decodeSs58(validatorHotkey).publicKey;
      } catch (error) {
        return refuse(401, authCodes.hotkeyInvalid, `validator-hotkey: ${(error as Error).message}`);
      }
      try {
        claimedMinerKey = keyHex(decodeSs58(minerHotkey).publicKey);
      } catch (error) {
        return refuse(401, authCodes.hotkeyInvalid, `miner-hotkey: ${(error as Error).message}`);
      }
      if (claimedMinerKey !== minerKey) {
        return refuse(
          401,
          authCodes.wrongMiner,
          `miner-hotkey ${quote(minerHotkey)} is not this miner's hotkey`,
        );
      }
      const nonceVerdict = nonces.check(nonce);
      if (!nonceVerdict.ok) {
        return refuse(
          401,
          nonceVerdict.reason === 'replayed' ? authCodes.nonceReplayed : authCodes.nonceInvalid,
          `nonce ${quote(nonce)}: ${nonceVerdict.detail}`,
        );
      }
      const signatureMatch = SIGNATURE.exec(signatureText);
      if (!signatureMatch) {
        return refuse(
          401,
          authCodes.signatureInvalid,
          `signature: expected 0x and 128 hex digits (64 bytes), got ${quote(signatureText)}`,
        );
      }
      const validatorHex = keyHex(validatorKey);
      if (allowed && !allowed.has(validatorHex)) {
        return refuse(
          403,
          authCodes.validatorNotAllowed,
          `validator ${validatorHotkey} is not in VALIDATOR_HOTKEYS`,
        );
      }
      const stakeRefusal = await metagraph?.refusal(validatorHex);
      if (stakeRefusal !== undefined) {
        return refuse(403, authCodes.validatorNotAllowed, `validator ${validatorHotkey}: ${stakeRefusal}`);
      }
      const signature = Buffer.from(signatureMatch[1]!, 'hex');
      return {
        validatorHotkey,
        verifyBody(body) {
          // The miner-hotkey is signed as the validator wrote it (its prefix included).
          if (!verifies(signingMessage(nonce, minerHotkey, body), signature, validatorKey)) {
            return refuse(
              401,
              authCodes.signatureInvalid,
              `signature: not ${validatorHotkey}'s over this nonce, miner hotkey and body`,
            );
          }
          if (!nonces.remember(nonce, nonceVerdict.timeMs)) {
            return refuse(401, authCodes.nonceReplayed, `nonce ${quote(nonce)}: already used`);
          }
          return undefined;
        },
      };
    },
  };
}
