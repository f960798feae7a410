import { open } from 'node:fs/promises';
import { scanTopLevelBoxes } from '../media/mp4-boxes.js';
import { isUrl } from '../pipelines/operators.js';
import type { HeadProbe } from './breakdown.js';

/** Enough for ftyp and the moov's header; the moov's size comes from its header, not its whole body. */
const HEAD_BYTES = 64 * 1024;

function moovOf(head: Uint8Array): HeadProbe['moov'] {
  const moov = scanTopLevelBoxes(head).find((box) => box.type === 'moov');
  return moov ? { offset: moov.offset, bytes: moov.size } : null;
}

async function readHead(url: string, timeoutMs: number): Promise<HeadProbe> {
  const response = await fetch(url, {
    headers: { range: `bytes=0-${HEAD_BYTES - 1}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = response.body?.getReader();
  try {
    while (reader && received < HEAD_BYTES) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.byteLength;
    }
  } finally {
    // A server that ignored Range is sending the whole file: stop it here.
    await reader?.cancel().catch(() => undefined);
  }
  const head = Buffer.concat(chunks).subarray(0, HEAD_BYTES);
  const total =
    response.status === 206
      ? Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1] ?? Number.NaN)
      : Number(response.headers.get('content-length') ?? Number.NaN);
  return {
    rangeHonoured: response.ok ? response.status === 206 : null,
    totalBytes: Number.isFinite(total) ? total : null,
    moov: response.ok ? moovOf(head) : null,
  };
}

async function readFileHead(path: string): Promise<HeadProbe> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const head = new Uint8Array(Math.min(HEAD_BYTES, size));
    await file.read(head, 0, head.byteLength, 0);
    return { rangeHonoured: null, totalBytes: size, moov: moovOf(head) };
  } finally {
    await file.close();
  }
}

/**
 * One request for the first 64 KiB, made after the measured run and outside its clock: whether the server
 * honours Range (a run that sent no Range request cannot tell) and where the moov is when it comes first.
 * For a local file, the file's first bytes. Never rejects: what it cannot find out is `null`.
 */
export async function probeHead(target: string, timeoutMs = 5000): Promise<HeadProbe> {
  try {
    return isUrl(target) ? await readHead(target, timeoutMs) : await readFileHead(target);
  } catch {
    return { rangeHonoured: null, totalBytes: null, moov: null };
  }
}
