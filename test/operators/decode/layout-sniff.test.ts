import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import type { LayoutDecision } from '../../../src/media/layout-sniffer.js';
import { LayoutSniff, type SniffHost } from '../../../src/operators/decode/layout-sniff.js';
import type { DecodeOptions } from '../../../src/operators/decode/options.js';
import { testFixtures } from '../../support/fixtures.js';
import { chunksOf } from './chunks.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});
afterEach(() => vi.useRealTimers());

interface Sniffing {
  sniff: LayoutSniff;
  context: RecordingContext;
  decisions: { prefix: Uint8Array; decision: LayoutDecision | undefined }[];
  host: SniffHost & { inputEnded: boolean };
}

function sniffing(options: Pick<DecodeOptions, 'minStartBytes' | 'minStartWaitMs'> = {}): Sniffing {
  const context = recordingContext({ totalBytes: undefined });
  const decisions: Sniffing['decisions'] = [];
  const host = Object.assign(context, {
    options,
    inputEnded: false,
    get sniffing() {
      return decisions.length === 0;
    },
    decided: (prefix: Uint8Array, decision: LayoutDecision | undefined) =>
      decisions.push({ prefix, decision }),
  });
  return { sniff: new LayoutSniff(host), context, decisions, host };
}

const clip = (name: string) => new Uint8Array(readFileSync(fixtures.clips[name]!.file));

describe('LayoutSniff', () => {
  it.each([
    ['faststart', 'faststart'],
    ['fragmented', 'fragmented'],
    ['moov-end', 'moov-end'],
    ['mpegts', 'mpegts'],
    ['matroska', 'matroska'],
  ])('%s: decided once, with every byte seen so far joined', (name, layout) => {
    const { sniff, context, decisions } = sniffing();
    const bytes = clip(name);
    const resource = context.resource!;
    for (const chunk of chunksOf(bytes, 1000, resource)) {
      if (decisions.length > 0) break;
      sniff.push(chunk);
    }
    expect(decisions).toHaveLength(1);
    const { prefix, decision } = decisions[0]!;
    expect(decision?.layout).toBe(layout);
    expect(prefix.byteLength).toBe(sniff.bytesSeen);
    expect(Buffer.compare(prefix, bytes.subarray(0, prefix.byteLength))).toBe(0);
    if (layout === 'moov-end') expect(decision?.mdat?.type).toBe('mdat');
    if (layout === 'faststart') expect(decision?.moov).toMatchObject({ type: 'moov', complete: true });
    expect(context.named('sniffed')).toEqual([
      { bytesSeen: prefix.byteLength, bytesCopied: expect.any(Number) },
    ]);
  });

  it('minStartBytes: held until that many bytes are in, then one start-hold-over event', () => {
    const { sniff, context, decisions } = sniffing({ minStartBytes: 5000 });
    for (const chunk of chunksOf(clip('faststart'), 1000, context.resource!).slice(0, 4)) sniff.push(chunk);
    expect(decisions).toHaveLength(0);
    sniff.push({
      offset: 4000,
      bytes: clip('faststart').subarray(4000, 5000),
      receivedAt: 0,
      resource: context.resource!,
    });
    expect(decisions).toHaveLength(1);
    expect(context.named('start-hold-over')).toEqual([
      { reason: 'bytes', bytesHeld: 5000, heldMs: expect.any(Number) },
    ]);
  });

  it('minStartWaitMs: the wait ends the hold with the bytes there are', () => {
    vi.useFakeTimers();
    const { sniff, context, decisions } = sniffing({ minStartBytes: 1_000_000, minStartWaitMs: 300 });
    sniff.push({
      offset: 0,
      bytes: clip('mpegts').subarray(0, 2000),
      receivedAt: 0,
      resource: context.resource!,
    });
    vi.advanceTimersByTime(299);
    expect(decisions).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(decisions.map((d) => d.decision?.layout)).toEqual(['mpegts']);
    expect(context.named('start-hold-over')).toEqual([
      { reason: 'timeout', bytesHeld: 2000, heldMs: expect.any(Number) },
    ]);
  });

  it('only ftyp in the whole input: decided at its end without a layout', () => {
    const { sniff, context, decisions, host } = sniffing();
    const ftyp = clip('faststart').subarray(0, 32);
    sniff.push({ offset: 0, bytes: ftyp, receivedAt: 0, resource: context.resource! });
    expect(decisions).toHaveLength(0);
    host.inputEnded = true;
    sniff.sniff();
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.decision).toBeUndefined();
  });

  it('a box header that cannot be true fails the session with the sniffer error', () => {
    const { sniff, context, decisions } = sniffing();
    // A top-level box claiming 2^32 - 1 bytes in a file of 64.
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setUint32(0, 0xffffffff);
    bytes.set(Buffer.from('ftyp'), 4);
    context.resource!.totalBytes = 64;
    sniff.push({ offset: 0, bytes, receivedAt: 0, resource: context.resource! });
    expect(decisions).toHaveLength(0);
    expect(context.failures.map((e) => (e as { code: string }).code)).toEqual(['FF_ERR_MP4_STRUCTURE']);
  });
});
