import { randomBytes } from 'node:crypto';
import { getPublicKey, secretFromSeed, sign } from '@scure/sr25519';
import { signingMessage } from './fiber-auth.js';
import { encodeSs58 } from './ss58.js';

/*
 * The validator's side of a fiber-signed request, for tests, benches and scripts/sign-challenge.mjs:
 * a key from a 32-byte seed, and the four headers for one body.
 */

export interface FiberKey {
  /** The 64-byte sr25519 secret key (scalar and nonce seed). */
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** The SS58 address (prefix 42), what a validator sends as validator-hotkey. */
  readonly hotkey: string;
}

/**
 * A key from a 32-byte seed (a fresh random one when none is given: a throwaway key). Note: the seed is
 * expanded as schnorrkel's MiniSecretKey in Ed25519 mode, like substrate's `Keypair.create_from_seed`.
 */
export function fiberKey(seed: Uint8Array = randomBytes(32)): FiberKey {
  const secretKey = secretFromSeed(seed);
  const publicKey = getPublicKey(secretKey);
  return { secretKey, publicKey, hotkey: encodeSs58(publicKey) };
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** fiber's nonce: wall-clock nanoseconds, `_`, 10 random letters and digits. */
export function fiberNonce(nowMs: number = Date.now()): string {
  const suffix = Array.from(randomBytes(10), (byte) => ALPHANUMERIC[byte % ALPHANUMERIC.length]).join('');
  return `${BigInt(Math.round(nowMs)) * 1_000_000n}_${suffix}`;
}

export interface SignOptions {
  /** Default: a fresh fiberNonce(). */
  nonce?: string;
}

/** The four headers of a signed request carrying `body` (the exact bytes that will be sent). */
export function signedHeaders(
  key: FiberKey,
  minerHotkey: string,
  body: Uint8Array | string,
  options: SignOptions = {},
): Record<'validator-hotkey' | 'miner-hotkey' | 'nonce' | 'signature', string> {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const nonce = options.nonce ?? fiberNonce();
  const message = new TextEncoder().encode(signingMessage(nonce, minerHotkey, bytes));
  const signature = sign(key.secretKey, message);
  return {
    'validator-hotkey': key.hotkey,
    'miner-hotkey': minerHotkey,
    nonce,
    signature: `0x${Buffer.from(signature).toString('hex')}`,
  };
}
