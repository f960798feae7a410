#!/usr/bin/env node
// Sends one challenge signed the way SN44's validators sign them (fiber: validator-hotkey, miner-hotkey,
// nonce, signature headers), or prints the equivalent curl command. For trying a miner's verification
// with a throwaway validator key: never put a real hotkey's seed on a command line.
//
//   node scripts/sign-challenge.mjs --seed HEX --hotkey               # the validator hotkey of a seed
//   node scripts/sign-challenge.mjs --server http://127.0.0.1:8000 --miner-hotkey 5F… \
//       --video-url https://cdn.example/clip.mp4 [--seed HEX] [--curl] [--predict]
//
// Without --seed a fresh key is made (its hotkey goes to stderr; the miner must allow it). --predict sends
// a turbovision /predict body ({"url", "meta"}) instead of a /soccer/challenge one. Needs dist/ (npm run build).

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fetch } from 'undici';
import { fiberKey, signedHeaders } from '../dist/server/fiber-sign.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'http://127.0.0.1:8000' },
    'miner-hotkey': { type: 'string' },
    'video-url': { type: 'string' },
    seed: { type: 'string' },
    hotkey: { type: 'boolean' },
    curl: { type: 'boolean' },
    predict: { type: 'boolean' },
  },
});

const seedHex = values.seed ?? randomBytes(32).toString('hex');
if (!/^(0x)?[0-9a-fA-F]{64}$/.test(seedHex)) {
  process.stderr.write('--seed: expected 32 bytes as 64 hex digits\n');
  process.exit(2);
}
const key = fiberKey(Buffer.from(seedHex.replace(/^0x/, ''), 'hex'));
if (values.hotkey) {
  process.stdout.write(`${key.hotkey}\n`);
  process.exit(0);
}
if (!values['miner-hotkey'] || !values['video-url']) {
  process.stderr.write('give --miner-hotkey and --video-url (or --seed HEX --hotkey)\n');
  process.exit(2);
}
if (values.seed === undefined) {
  process.stderr.write(
    `throwaway validator hotkey ${key.hotkey} (seed ${seedHex}); allow it with VALIDATOR_HOTKEYS\n`,
  );
}

const path = values.predict ? '/predict' : '/soccer/challenge';
const body = JSON.stringify(
  values.predict
    ? { url: values['video-url'], meta: { n_keypoints: 32 } }
    : {
        challenge_id: `signed-${Date.now()}`,
        type: 'gsr',
        video_url: values['video-url'],
        created_at: new Date().toISOString(),
      },
);
const headers = { 'content-type': 'application/json', ...signedHeaders(key, values['miner-hotkey'], body) };
const target = `${values.server.replace(/\/$/, '')}${path}`;

if (values.curl) {
  const quote = (text) => `'${text.replace(/'/g, `'\\''`)}'`;
  const flags = Object.entries(headers).map(([name, value]) => `-H ${quote(`${name}: ${value}`)}`);
  process.stdout.write(`curl -sS -X POST ${flags.join(' ')} --data-binary ${quote(body)} ${quote(target)}\n`);
} else {
  const response = await fetch(target, { method: 'POST', headers, body });
  process.stdout.write(`${response.status} ${await response.text()}\n`);
  process.exitCode = response.ok ? 0 : 1;
}
