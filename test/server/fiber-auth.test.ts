/**
 * The pieces of signed challenges without a server: SS58 and sr25519 checked against vectors published by
 * other implementations (Substrate's `subkey`/sp-core, polkadot.js), the nonce memory, the verifier's
 * refusals in order, and the serve settings that turn it on.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import {
  authCodes,
  createFiberAuth,
  isRefusal,
  signingMessage,
  type AuthRefusal,
  type SignedHeaders,
} from '../../src/server/fiber-auth.js';
import { fiberKey, fiberNonce, signedHeaders } from '../../src/server/fiber-sign.js';
import { createNonceMemory } from '../../src/server/nonces.js';
import { readServeSettings } from '../../src/server/settings.js';
import { SS58_INVALID, decodeSs58, encodeSs58, keyHex } from '../../src/server/ss58.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

/** `subkey inspect //Alice`: the secret seed, public key and addresses every Substrate tool prints. */
const ALICE = {
  seed: 'e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a',
  publicKey: 'd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d',
  generic: '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY',
  polkadot: '15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5',
  kusama: 'HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F',
};

describe('SS58', () => {
  it("reads and writes Alice's published addresses (prefixes 42, 0, 2)", () => {
    expect(keyHex(decodeSs58(ALICE.generic).publicKey)).toBe(ALICE.publicKey);
    expect(decodeSs58(ALICE.generic).prefix).toBe(42);
    expect(decodeSs58(ALICE.polkadot)).toEqual({ prefix: 0, publicKey: hex(ALICE.publicKey) });
    expect(decodeSs58(ALICE.kusama)).toEqual({ prefix: 2, publicKey: hex(ALICE.publicKey) });
    expect(encodeSs58(hex(ALICE.publicKey))).toBe(ALICE.generic);
    expect(encodeSs58(hex(ALICE.publicKey), 0)).toBe(ALICE.polkadot);
    expect(encodeSs58(hex(ALICE.publicKey), 2)).toBe(ALICE.kusama);
  });

  it('round-trips two-byte prefixes', () => {
    for (const prefix of [64, 255, 1000, 16383]) {
      const address = encodeSs58(hex(ALICE.publicKey), prefix);
      expect(decodeSs58(address)).toEqual({ prefix, publicKey: hex(ALICE.publicKey) });
    }
  });

  it('refuses a wrong checksum, bad characters, a wrong length and an overlong string, saying which', () => {
    const flipped = `${ALICE.generic.slice(0, -1)}Z`;
    const message = (address: string) => {
      try {
        decodeSs58(address);
        return 'accepted';
      } catch (error) {
        expect((error as { code: string }).code).toBe(SS58_INVALID);
        return (error as Error).message;
      }
    };
    expect(message(flipped)).toBe(`"${flipped}" is not an SS58 address: wrong checksum`);
    expect(message('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y')).toBe(
      '"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y" is not an SS58 address: not base58',
    );
    expect(message('5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGK')).toMatch(
      /is not an SS58 address: expected 35 bytes \(a 32-byte key\), got 3[0-4]$/,
    );
    expect(message('1'.repeat(65))).toBe(
      `"${'1'.repeat(64)}…" is not an SS58 address: expected 1 to 64 characters, got 65`,
    );
    expect(message('')).toBe('"" is not an SS58 address: expected 1 to 64 characters, got 0');
  });
});

describe('sr25519 (@scure/sr25519) against other implementations', () => {
  it("derives the public keys Substrate derives from seeds (Alice; sp-core's seeded_pair_should_work)", () => {
    const alice = fiberKey(hex(ALICE.seed));
    expect(keyHex(alice.publicKey)).toBe(ALICE.publicKey);
    expect(alice.hotkey).toBe(ALICE.generic);
    const seeded = fiberKey(new TextEncoder().encode('12345678901234567890123456789012'));
    expect(keyHex(seeded.publicKey)).toBe('741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63');
  });

  it('accepts a signature made by polkadot.js and refuses it for another message', async () => {
    // A signature of "test message\n" published with @polkadot/util-crypto's signatureVerify tests.
    const auth = createFiberAuth({ minerHotkey: ALICE.generic, validatorHotkeys: [] });
    expect(auth.minerHotkey).toBe(ALICE.generic);
    const { verify } = await import('@scure/sr25519');
    const publicKey = decodeSs58('5Gv8YYFu8H1btvmrJy9FjjAWfb99wrhV3uhPFoNEr918utyR').publicKey;
    const signature = hex(
      '22f91b41ba12f8663ddce26bfc90dbfe6a51683fd3782ad679ab2a5fdbe7d44c2a119f22c74eea22555e5483eb7f42b828f189a38379d59c3b607d2461f0858e',
    );
    expect(verify(new TextEncoder().encode('test message\n'), signature, publicKey)).toBe(true);
    expect(verify(new TextEncoder().encode('another message\n'), signature, publicKey)).toBe(false);
  });

  it('signs the fiber message: {nonce}:{miner hotkey}:{sha256 hex of the body}', () => {
    expect(signingMessage('1_a', 'M', new TextEncoder().encode('abc'))).toBe(
      '1_a:M:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(fiberNonce(1_700_000_000_123)).toMatch(/^1700000000123000000_[A-Za-z0-9]{10}$/);
  });
});

describe('createNonceMemory', () => {
  it('refuses malformed nonces, times outside the window either way, and a nonce seen before', () => {
    let now = 1_000_000;
    const memory = createNonceMemory({ windowMs: 120_000, now: () => now });
    const at = (ms: number, suffix = 'abcDEF1234') => `${BigInt(ms) * 1_000_000n}_${suffix}`;
    expect(memory.check('12345')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(memory.check('x_abc')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(memory.check(`${'9'.repeat(21)}_a`)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(memory.check(at(now - 120_001))).toEqual({
      ok: false,
      reason: 'too-old',
      detail: '120 s old; at most 120 s',
    });
    expect(memory.check(at(now + 120_001))).toEqual({
      ok: false,
      reason: 'too-new',
      detail: "120 s ahead of this server's clock; at most 120 s",
    });
    expect(memory.check(at(now + 120_000))).toEqual({ ok: true, timeMs: now + 120_000 });
    expect(memory.check(at(now))).toEqual({ ok: true, timeMs: now });
    expect(memory.remember(at(now), now)).toBe(true);
    expect(memory.check(at(now))).toEqual({ ok: false, reason: 'replayed', detail: 'already used' });
    expect(memory.remember(at(now), now)).toBe(false);
    now += 200_000;
    expect(memory.check(at(now - 200_000))).toMatchObject({ ok: false, reason: 'too-old' });
  });

  it('stays within its capacity under a flood of distinct nonces, and never accepts a replay of one it dropped', () => {
    const now = 5_000_000;
    const memory = createNonceMemory({ windowMs: 120_000, capacity: 100, now: () => now });
    const nonce = (i: number) => `${BigInt(now - 100_000 + i) * 1_000_000n}_n${i}`;
    for (let i = 0; i < 1000; i += 1) {
      const verdict = memory.check(nonce(i));
      expect(verdict.ok).toBe(true);
      if (verdict.ok) memory.remember(nonce(i), verdict.timeMs);
      expect(memory.size()).toBeLessThanOrEqual(100);
    }
    expect(memory.size()).toBe(100);
    // Dropped long ago, still inside the window: refused, as if seen.
    expect(memory.check(nonce(0))).toMatchObject({ ok: false, reason: 'replayed' });
    expect(memory.check(nonce(899))).toMatchObject({ ok: false, reason: 'replayed' });
    expect(memory.check(nonce(999))).toMatchObject({ ok: false, reason: 'replayed' });
  });

  it('forgets nonces whose time left the window when it needs room', () => {
    let now = 5_000_000;
    const memory = createNonceMemory({ windowMs: 1000, capacity: 2, now: () => now });
    memory.remember(`${BigInt(now) * 1_000_000n}_a`, now);
    memory.remember(`${BigInt(now) * 1_000_000n}_b`, now);
    now += 5000;
    expect(memory.remember(`${BigInt(now) * 1_000_000n}_c`, now)).toBe(true);
    expect(memory.size()).toBe(1);
    // Nothing live was dropped, so nothing recent is refused.
    expect(memory.check(`${BigInt(now) * 1_000_000n}_d`)).toEqual({ ok: true, timeMs: now });
  });
});

describe('createFiberAuth', () => {
  const miner = fiberKey(hex('11'.repeat(32)));
  const validator = fiberKey(hex('22'.repeat(32)));
  const stranger = fiberKey(hex('33'.repeat(32)));
  const body = new TextEncoder().encode('{"challenge_id":"c"}');
  const auth = () => createFiberAuth({ minerHotkey: miner.hotkey, validatorHotkeys: [validator.hotkey] });

  async function verdict(
    check: ReturnType<typeof createFiberAuth>,
    headers: Record<string, string>,
    sent: Uint8Array = body,
  ): Promise<AuthRefusal | 'accepted'> {
    const checked = await check.checkHeaders(headers);
    if (isRefusal(checked)) return checked;
    return (checked as SignedHeaders).verifyBody(sent) ?? 'accepted';
  }

  it('accepts a signed request once, and refuses its replay', async () => {
    const check = auth();
    const headers = signedHeaders(validator, miner.hotkey, body);
    expect(await verdict(check, headers)).toBe('accepted');
    expect(check.nonces()).toBe(1);
    expect(await verdict(check, headers)).toMatchObject({ status: 401, code: authCodes.nonceReplayed });
  });

  it('accepts a signature over <Bytes>…</Bytes> (polkadot.js signRaw), as substrate-interface does', async () => {
    const { sign } = await import('@scure/sr25519');
    const nonce = fiberNonce();
    const message = `<Bytes>${signingMessage(nonce, miner.hotkey, body)}</Bytes>`;
    const signature = sign(validator.secretKey, new TextEncoder().encode(message));
    const headers = {
      ...signedHeaders(validator, miner.hotkey, body, { nonce }),
      signature: `0x${Buffer.from(signature).toString('hex')}`,
    };
    expect(await verdict(auth(), headers)).toBe('accepted');
  });

  it('refuses in order: missing 422, bad hotkey 401, wrong miner 401, nonce 401, signature format 401, validator 403, signature 401', async () => {
    const good = signedHeaders(validator, miner.hotkey, body);
    const without = (name: string) =>
      Object.fromEntries(Object.entries(good).filter(([key]) => key !== name));
    const cases: Array<[string, Record<string, string>, Partial<AuthRefusal>]> = [
      [
        'no headers',
        {},
        {
          status: 422,
          code: authCodes.headersMissing,
          message: 'signed request headers missing: validator-hotkey, miner-hotkey, nonce, signature',
        },
      ],
      ['no nonce', without('nonce'), { status: 422, message: 'signed request headers missing: nonce' }],
      [
        'empty signature',
        { ...good, signature: ' ' },
        { status: 422, message: 'signed request headers missing: signature' },
      ],
      [
        'bad checksum',
        { ...good, 'validator-hotkey': `${validator.hotkey.slice(0, -1)}1` },
        { status: 401, code: authCodes.hotkeyInvalid },
      ],
      [
        'miner not SS58',
        { ...good, 'miner-hotkey': 'miner' },
        { status: 401, code: authCodes.hotkeyInvalid },
      ],
      [
        'another miner',
        signedHeaders(validator, stranger.hotkey, body),
        { status: 401, code: authCodes.wrongMiner },
      ],
      ['nonce without time', { ...good, nonce: 'abc' }, { status: 401, code: authCodes.nonceInvalid }],
      [
        'nonce from the future',
        signedHeaders(validator, miner.hotkey, body, { nonce: fiberNonce(Date.now() + 600_000) }),
        { status: 401, code: authCodes.nonceInvalid },
      ],
      [
        'nonce from the past',
        signedHeaders(validator, miner.hotkey, body, { nonce: fiberNonce(Date.now() - 600_000) }),
        { status: 401, code: authCodes.nonceInvalid },
      ],
      [
        'non-hex signature',
        { ...good, signature: `0x${'zz'.repeat(64)}` },
        { status: 401, code: authCodes.signatureInvalid },
      ],
      [
        'short signature',
        { ...good, signature: '0x1234' },
        { status: 401, code: authCodes.signatureInvalid },
      ],
      [
        'validator not allowed',
        signedHeaders(stranger, miner.hotkey, body),
        {
          status: 403,
          code: authCodes.validatorNotAllowed,
          message: `validator ${stranger.hotkey} is not in VALIDATOR_HOTKEYS`,
        },
      ],
      [
        'signature of another key',
        { ...signedHeaders(stranger, miner.hotkey, body), 'validator-hotkey': validator.hotkey },
        { status: 401, code: authCodes.signatureInvalid },
      ],
      [
        'zero signature',
        { ...good, signature: `0x${'00'.repeat(64)}` },
        { status: 401, code: authCodes.signatureInvalid },
      ],
    ];
    const shared = auth();
    for (const [name, headers, expected] of cases) {
      expect(await verdict(auth(), headers), name).toMatchObject(expected);
      expect(await verdict(shared, headers), name).toMatchObject(expected);
    }
    // Refused requests leave nothing behind: a stranger's flood cannot fill the nonce memory.
    expect(shared.nonces()).toBe(0);
    // A body changed after signing.
    expect(await verdict(auth(), good, new TextEncoder().encode('{"challenge_id":"d"}'))).toMatchObject({
      status: 401,
      code: authCodes.signatureInvalid,
      message: `signature: not ${validator.hotkey}'s over this nonce, miner hotkey and body`,
    });
  });

  it('with a metagraph snapshot: listed with enough stake passes, others 403; a change of the file is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ff-metagraph-'));
    const file = join(dir, 'metagraph.json');
    writeFileSync(file, JSON.stringify({ [validator.hotkey]: 5000, [stranger.hotkey]: 10 }));
    const check = createFiberAuth({
      minerHotkey: miner.hotkey,
      metagraph: { file, minStake: 1000 },
    });
    expect(await verdict(check, signedHeaders(validator, miner.hotkey, body))).toBe('accepted');
    expect(await verdict(check, signedHeaders(stranger, miner.hotkey, body))).toEqual({
      status: 403,
      code: authCodes.validatorNotAllowed,
      message: `validator ${stranger.hotkey}: stake 10 is below the 1000 required`,
    });
    writeFileSync(file, JSON.stringify({ [stranger.hotkey]: 2000 }));
    // The file is looked at no more than once a second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await verdict(check, signedHeaders(stranger, miner.hotkey, body))).toBe('accepted');
    expect(await verdict(check, signedHeaders(validator, miner.hotkey, body))).toMatchObject({
      status: 403,
      message: `validator ${validator.hotkey}: not in the metagraph snapshot`,
    });
    // A broken rewrite keeps the last good snapshot.
    writeFileSync(file, '{"half');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await verdict(check, signedHeaders(stranger, miner.hotkey, body))).toBe('accepted');
  });

  it('refuses to be made without a way to tell allowed validators, or with hotkeys that are not SS58', () => {
    const problems = (make: () => unknown) => {
      try {
        make();
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
    };
    expect(problems(() => createFiberAuth({ minerHotkey: miner.hotkey }))).toEqual([
      'validators: give VALIDATOR_HOTKEYS (--validator-hotkey) or a metagraph snapshot (--metagraph): with neither, anyone with a key could make this server fetch',
    ]);
    expect(problems(() => createFiberAuth({ minerHotkey: 'x', validatorHotkeys: ['y'] }))).toEqual([
      'minerHotkey: "x" is not an SS58 address: expected 35 bytes (a 32-byte key), got 1',
      'validatorHotkeys[0]: "y" is not an SS58 address: expected 35 bytes (a 32-byte key), got 1',
    ]);
    expect(
      problems(() =>
        createFiberAuth({ minerHotkey: miner.hotkey, metagraph: { file: '/nonexistent/m.json' } }),
      ),
    ).toEqual(['metagraph: cannot read /nonexistent/m.json (ENOENT)']);
  });
});

describe('serve settings for signatures', () => {
  const miner = fiberKey(hex('11'.repeat(32))).hotkey;
  const validator = fiberKey(hex('22'.repeat(32))).hotkey;
  const problems = (env: NodeJS.ProcessEnv, flags: Record<string, string | boolean | string[]> = {}) => {
    try {
      readServeSettings(env, flags);
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it('needs MINER_HOTKEY or an explicit --no-verify', () => {
    expect(problems({})).toEqual([
      "MINER_HOTKEY (--miner-hotkey) is not set: set it, with VALIDATOR_HOTKEYS or --metagraph, to verify validators' signed challenges, or say --no-verify to serve unsigned ones",
    ]);
    expect(problems({}, { 'no-verify': true })).toEqual([]);
    expect(problems({ FIRSTFRAME_NO_VERIFY: '1' })).toEqual([]);
    expect(problems({ MINER_HOTKEY: miner })).toEqual([
      'MINER_HOTKEY is set but nothing says which validators may call: set VALIDATOR_HOTKEYS (--validator-hotkey) or --metagraph (FIRSTFRAME_METAGRAPH)',
    ]);
  });

  it('reads hotkeys from the environment and flags (flags win), each checked as SS58', () => {
    expect(
      readServeSettings({ MINER_HOTKEY: miner, VALIDATOR_HOTKEYS: ` ${validator}, ${miner} ` }, {}),
    ).toEqual({
      minerHotkey: miner,
      validatorHotkeys: [validator, miner],
    });
    expect(
      readServeSettings({ MINER_HOTKEY: 'bad' }, { 'miner-hotkey': miner, 'validator-hotkey': [validator] }),
    ).toEqual({ minerHotkey: miner, validatorHotkeys: [validator] });
    expect(problems({ MINER_HOTKEY: miner, VALIDATOR_HOTKEYS: `${validator},nope` })).toEqual([
      'VALIDATOR_HOTKEYS: "nope" is not an SS58 address: reserved prefix byte 136',
    ]);
    expect(
      problems({}, { 'miner-hotkey': miner, 'min-stake': '5', 'validator-hotkey': [validator] }),
    ).toEqual(['--min-stake: a minimum stake needs a metagraph snapshot (--metagraph)']);
  });
});
