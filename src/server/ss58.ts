import { blake2b } from '@noble/hashes/blake2.js';
import { base58 } from '@scure/base';
import { FirstframeError } from '../core/errors.js';

/*
 * SS58, Substrate's address format (what Bittensor calls a hotkey's "ss58 address"):
 *
 *     base58( prefix (1 or 2 bytes) ‖ public key (32 bytes) ‖ checksum (2 bytes) )
 *     checksum = blake2b-512("SS58PRE" ‖ prefix ‖ public key)[0..2]
 *
 * A prefix below 64 is one byte; 64 to 16383 are two bytes with the bits interleaved as below. Only
 * 32-byte account ids (sr25519 and ed25519 public keys) are read: a hotkey is always one. Bittensor uses
 * prefix 42, the generic Substrate one.
 */

/** The code of every address that cannot be read (bad base58, length, prefix or checksum). */
export const SS58_INVALID = 'FF_ERR_SS58_INVALID';

/** Bittensor's (and Substrate's generic) address prefix. */
export const BITTENSOR_SS58_PREFIX = 42;

const CHECKSUM_CONTEXT = new TextEncoder().encode('SS58PRE');
const KEY_BYTES = 32;
const CHECKSUM_BYTES = 2;
/** A 36-byte payload with a 2-byte prefix is 49 base58 characters at most; anything longer is not one. */
const MAX_ADDRESS_CHARS = 64;

export interface Ss58Address {
  readonly prefix: number;
  readonly publicKey: Uint8Array;
}

function checksum(prefixAndKey: Uint8Array): Uint8Array {
  const input = new Uint8Array(CHECKSUM_CONTEXT.length + prefixAndKey.length);
  input.set(CHECKSUM_CONTEXT);
  input.set(prefixAndKey, CHECKSUM_CONTEXT.length);
  return blake2b(input, { dkLen: 64 }).subarray(0, CHECKSUM_BYTES);
}

const invalid = (address: string, why: string) =>
  new FirstframeError(
    SS58_INVALID,
    `${JSON.stringify(address.length > MAX_ADDRESS_CHARS ? `${address.slice(0, MAX_ADDRESS_CHARS)}…` : address)} is not an SS58 address: ${why}`,
  );

/**
 * Reads an SS58 address: its prefix and 32-byte public key.
 *
 * @example decodeSs58('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY').publicKey // Alice's d43593c7…
 * @throws FirstframeError (FF_ERR_SS58_INVALID) naming what is wrong: characters, length, prefix, checksum.
 */
export function decodeSs58(address: string): Ss58Address {
  if (address.length === 0 || address.length > MAX_ADDRESS_CHARS) {
    throw invalid(address, `expected 1 to ${MAX_ADDRESS_CHARS} characters, got ${address.length}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(address);
  } catch {
    throw invalid(address, 'not base58');
  }
  const first = bytes[0] ?? 0;
  if (first >= 128) throw invalid(address, `reserved prefix byte ${first}`);
  const prefixBytes = first < 64 ? 1 : 2;
  if (bytes.length !== prefixBytes + KEY_BYTES + CHECKSUM_BYTES) {
    throw invalid(
      address,
      `expected ${prefixBytes + KEY_BYTES + CHECKSUM_BYTES} bytes (a 32-byte key), got ${bytes.length}`,
    );
  }
  const second = bytes[1] ?? 0;
  const prefix = prefixBytes === 1 ? first : ((first & 0x3f) << 2) | (second >> 6) | ((second & 0x3f) << 8);
  const body = bytes.subarray(0, prefixBytes + KEY_BYTES);
  const expected = checksum(body);
  const given = bytes.subarray(prefixBytes + KEY_BYTES);
  if (expected[0] !== given[0] || expected[1] !== given[1]) throw invalid(address, 'wrong checksum');
  return { prefix, publicKey: Uint8Array.from(bytes.subarray(prefixBytes, prefixBytes + KEY_BYTES)) };
}

/** The SS58 address of a 32-byte public key (prefix 42 unless told). */
export function encodeSs58(publicKey: Uint8Array, prefix = BITTENSOR_SS58_PREFIX): string {
  if (publicKey.length !== KEY_BYTES) {
    throw new RangeError(`encodeSs58: expected a ${KEY_BYTES}-byte public key, got ${publicKey.length}`);
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 16383) {
    throw new RangeError(`encodeSs58: expected a prefix from 0 to 16383, got ${prefix}`);
  }
  const prefixBytes =
    prefix < 64 ? [prefix] : [((prefix & 0xfc) >> 2) | 0x40, (prefix >> 8) | ((prefix & 0x03) << 6)];
  const body = new Uint8Array(prefixBytes.length + KEY_BYTES);
  body.set(prefixBytes);
  body.set(publicKey, prefixBytes.length);
  const out = new Uint8Array(body.length + CHECKSUM_BYTES);
  out.set(body);
  out.set(checksum(body), body.length);
  return base58.encode(out);
}

/** The public key as lowercase hex: a hotkey's identity whatever prefix its address was written with. */
export function keyHex(publicKey: Uint8Array): string {
  return Buffer.from(publicKey).toString('hex');
}
