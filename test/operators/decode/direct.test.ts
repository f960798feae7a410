import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/core/errors.js';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import type { ContainerLayout } from '../../../src/media/layout.js';
import { createLayoutSniffer } from '../../../src/media/layout-sniffer.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { DirectArrangement, type DirectHost } from '../../../src/operators/decode/direct.js';
import { HeaderChecks } from '../../../src/operators/decode/header-checks.js';
import type { StreamHeader } from '../../../src/operators/decode/stream-header.js';
import { testFixtures } from '../../support/fixtures.js';
import { chunksOf, joined } from './chunks.js';
import { recordingContext, type RecordingContext } from './fake-context.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

interface Arranging {
  direct: DirectArrangement;
  context: RecordingContext;
  fed: Uint8Array[];
  indexedFrom: Uint8Array[];
  headers: StreamHeader[];
}

function arranging(layout: ContainerLayout, totalBytes: number, refuse = false): Arranging {
  const context = recordingContext({ totalBytes });
  const fed: Uint8Array[] = [];
  const indexedFrom: Uint8Array[] = [];
  const headers: StreamHeader[] = [];
  const checkStream = (header: StreamHeader) => {
    headers.push(header);
    if (refuse) throw new DecodeError('FF_ERR_LIMIT_RESOLUTION', `${header.from}: refused`);
  };
  const checks = new HeaderChecks(context, checkStream);
  const host: DirectHost = Object.assign(context, {
    options: { checkStream },
    layout,
    inputEnded: false,
    headers: checks,
    indexed: undefined,
    moovAccepted: (moov: Uint8Array, offset: number) => checks.moovAccepted(moov, offset),
    startIndexed: (prefix: Uint8Array) => void indexedFrom.push(prefix),
    feed: (bytes: Uint8Array) => void fed.push(bytes.slice()),
    finishGovernor: () => undefined,
  });
  return { direct: new DirectArrangement(host), context, fed, indexedFrom, headers };
}

/** The sniffer's decision for the clip, and the bytes it had seen: what the session hands over. */
function sniffed(file: Uint8Array) {
  const sniffer = createLayoutSniffer({ fileSize: file.byteLength });
  for (const chunk of chunksOf(file, 4096, undefined as never)) {
    const decision = sniffer.push(chunk.bytes);
    if (decision) return { decision, prefix: file.subarray(0, chunk.offset + chunk.bytes.byteLength) };
  }
  throw new Error('no decision');
}

describe('DirectArrangement', () => {
  it.each(['faststart', 'fragmented'])(
    '%s: every byte to FFmpeg in order; the moov checked; frame 0 from the index',
    (name) => {
      const file = new Uint8Array(readFileSync(fixtures.clips[name]!.file));
      const { decision, prefix } = sniffed(file);
      const run = arranging(decision.layout, file.byteLength);
      run.direct.start(prefix, decision.moov);
      for (const chunk of chunksOf(file, 4096, run.context.resource!, prefix.byteLength))
        run.direct.push(chunk.bytes);
      expect(Buffer.compare(joined(run.fed), file)).toBe(0);
      expect(run.direct.moovCheckedAt).toBe(decision.moov!.offset);
      // The fragmented moov holds no samples, so no duration of the index.
      expect(run.headers.map((header) => header.from)).toEqual([
        name === 'faststart' ? 'the avc1 sample description and the index' : 'the avc1 sample description',
        'the SPS in the avc1 sample description',
      ]);
      expect(run.indexedFrom).toEqual([prefix]);
      expect(run.direct.headSettled).toBeUndefined();
      expect(run.context.named('layout')).toEqual([{ layout: name }]);
    },
  );

  it('fragmented: a moof whose trun lies is held back and fails the session naming it', () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['fragmented']!.file));
    const moofs = scanTopLevelBoxes(file).filter((box) => box.type === 'moof');
    const second = moofs[1]!;
    const bad = file.slice();
    const trun = Buffer.from(bad.buffer).indexOf('trun', second.offset);
    // trun: size, 'trun', version+flags, sample_count.
    new DataView(bad.buffer).setUint32(trun + 8, 0xffffffff);
    const { decision, prefix } = sniffed(bad);
    const run = arranging(decision.layout, bad.byteLength);
    run.direct.start(prefix, decision.moov);
    for (const chunk of chunksOf(bad, 4096, run.context.resource!, prefix.byteLength))
      run.direct.push(chunk.bytes);
    expect(run.context.failures).toHaveLength(1);
    expect((run.context.failures[0] as DecodeError).code).toBe('FF_ERR_MP4_STRUCTURE');
    // Nothing from the lying moof on reached FFmpeg.
    expect(joined(run.fed).byteLength).toBeLessThanOrEqual(second.offset);
  });

  it('MPEG-TS: the head is read for the limits and FFmpeg’s open waits for it; a refusal fails the session', async () => {
    const file = new Uint8Array(readFileSync(fixtures.clips['mpegts']!.file));
    const accepted = arranging('mpegts', file.byteLength);
    accepted.direct.start(file.subarray(0, 188));
    const settled = accepted.direct.headSettled!;
    expect(settled).toBeInstanceOf(Promise);
    for (const chunk of chunksOf(file, 188, accepted.context.resource!, 188))
      accepted.direct.push(chunk.bytes);
    await settled;
    expect(accepted.headers).toEqual([
      {
        width: fixtures.clips['mpegts']!.width,
        height: fixtures.clips['mpegts']!.height,
        from: 'the H.264 SPS in the MPEG-TS stream',
      },
    ]);
    const refused = arranging('mpegts', file.byteLength, true);
    refused.direct.start(file);
    expect((refused.context.failures[0] as Error).message).toBe(
      'the H.264 SPS in the MPEG-TS stream: refused',
    );
  });
});
