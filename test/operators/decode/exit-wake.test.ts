import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/operators/decode.js';
import { openGovernors } from '../../../src/operators/decode/exit-wake.js';
import { fileSource } from '../../../src/sources/file.js';
import { testFixtures } from '../../support/fixtures.js';

const DECODE = fileURLToPath(new URL('../../../src/operators/decode.ts', import.meta.url));
const EXIT_WAKE = fileURLToPath(new URL('../../../src/operators/decode/exit-wake.ts', import.meta.url));

// The first 60 % of a faststart clip, then nothing more and no end: FFmpeg's reader waits for bytes on a
// libuv pool thread. The child calls process.exit() without unsubscribing (as a CLI that exits on its
// first answer does): it prints how many governors the exit guard held, then must end.
const CHILD = `
const { readFileSync } = await import('node:fs');
const { Observable } = await import('rxjs');
const { decode } = await import(process.env.DECODE);
const { openGovernors } = await import(process.env.EXIT_WAKE);
const file = new Uint8Array(readFileSync(process.env.CLIP));
const resource = { url: 'test://clip', totalBytes: file.byteLength, rangeHonoured: undefined, contentType: 'video/mp4' };
const cut = Math.floor(file.byteLength * 0.6);
const source = new Observable((subscriber) => {
  for (let offset = 0; offset < cut; offset += 16384) {
    subscriber.next({ offset, bytes: file.subarray(offset, Math.min(cut, offset + 16384)), receivedAt: 0, resource });
  }
});
let frames = 0;
source.pipe(decode({ imgSize: 64 })).subscribe({ next: () => { frames += 1; setTimeout(exitNow, 300); } });
let exiting = false;
function exitNow() {
  if (exiting) return;
  exiting = true;
  process.stdout.write(JSON.stringify({ frames, open: openGovernors() }) + '\\n');
  process.exit(0);
}
`;

describe('decode at process exit', () => {
  it('process.exit() while FFmpeg waits for bytes: the exit guard wakes the reader and the process ends', async () => {
    const fixtures = await testFixtures();
    const child = spawnSync(process.execPath, ['--input-type=module', '--import', 'tsx', '-e', CHILD], {
      env: { ...process.env, DECODE, EXIT_WAKE, CLIP: fixtures.clips['faststart']!.file },
      encoding: 'utf8',
      // A hang is the failure: without the guard the child never ends (it sleeps joining libuv's pool).
      timeout: 30_000,
    });
    expect(child.signal, `child hung at exit; stderr: ${child.stderr}`).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as { frames: number; open: number };
    expect(report.frames).toBeGreaterThan(0);
    // The run was never torn down: its governor was still open, held for the exit.
    expect(report.open).toBe(1);
  });

  it('a run that ends or is cancelled gives its governor up: nothing is held for the exit', async () => {
    const fixtures = await testFixtures();
    const file = fixtures.clips['faststart']!.file;
    const before = openGovernors();
    const all = await lastValueFrom(fileSource(file).pipe(decode({ imgSize: 64 }), toArray()));
    expect(all.length).toBe(fixtures.clips['faststart']!.frames);
    expect(openGovernors()).toBe(before);
    await firstValueFrom(fileSource(file).pipe(decode({ imgSize: 64 }), take(3), toArray()));
    expect(openGovernors()).toBe(before);
  });
});
