import { describe, expect, it } from 'vitest';
import type { DiagnoseBreakdown, PipelineFacts, Segment, SegmentName } from '../../src/bench/breakdown.js';
import { verdict } from '../../src/bench/verdict.js';

const streamPipeline: PipelineFacts = {
  name: 'default',
  source: 'http-stream',
  downloadFirst: false,
  partialMb: null,
  decode: 'beamcoder',
  minStartBytes: null,
  imgSize: 640,
  stride: 5,
  batchSize: 16,
  rampUp: true,
  earlyFlushFirstFrame: true,
  model: 'bundled:detector',
  device: 'cpu',
  budgetS: 10,
};

/** Consecutive segments of the given lengths, in the order of SEGMENT_NAMES. */
function segments(parts: Partial<Record<SegmentName, number>>): Segment[] {
  const order: SegmentName[] = ['connection', 'server', 'download', 'decode', 'batch', 'inference'];
  let from = 0;
  return order.flatMap((name) => {
    const ms = parts[name];
    if (ms === undefined) return [];
    const segment = { name, fromMs: from, toMs: from + ms, ms };
    from += ms;
    return [segment];
  });
}

/** A faststart stream over HTTP whose first result came after the sum of `parts`. */
function breakdown(
  parts: Partial<Record<SegmentName, number>>,
  overrides: {
    pipeline?: Partial<PipelineFacts>;
    layout?: Partial<DiagnoseBreakdown['layout']>;
    decoder?: Partial<DiagnoseBreakdown['decoder']>;
    batch?: Partial<DiagnoseBreakdown['batch']>;
    inference?: Partial<DiagnoseBreakdown['inference']>;
    network?: Partial<DiagnoseBreakdown['network']>;
    rest?: Partial<DiagnoseBreakdown>;
  } = {},
): DiagnoseBreakdown {
  const list = segments(parts);
  const firstResult = list.length === 0 ? null : list[list.length - 1]!.toMs;
  return {
    target: 'https://cdn.example/clip.mp4',
    pipeline: { ...streamPipeline, ...overrides.pipeline },
    network: {
      dnsMs: 5,
      connectMs: 10,
      tlsMs: 20,
      remoteAddress: '192.0.2.1',
      alpnProtocol: 'http/1.1',
      status: 200,
      headersAtMs: 100,
      firstByteAtMs: 101,
      ...overrides.network,
    },
    layout: {
      layout: 'faststart',
      fragmented: false,
      moovAtEnd: false,
      moovOffset: 32,
      moovBytes: 20_000,
      mdatOffset: null,
      totalBytes: 14_100_000,
      rangeHonoured: true,
      rangeCheckedBy: 'probe',
      moovFetchMs: null,
      ...overrides.layout,
    },
    decoder: {
      startAtMs: 150,
      bytesBeforeStart: 65_536,
      firstFrameFromIndex: false,
      frame0: null,
      bytesFedAtOpen: 65_536,
      sourceBytesAtOpen: 65_536,
      startHeldMs: null,
      openAtMs: 150,
      openMs: 10,
      codec: 'h264',
      width: 1280,
      height: 720,
      firstFrameAtMs: 170,
      ...overrides.decoder,
    },
    model: { setupMs: 50, path: 'detector.onnx', device: 'cpu' },
    batch: { firstAtMs: 171, firstSize: 1, firstReason: 'first-frame', ...overrides.batch },
    inference: {
      firstRunStartAtMs: 172,
      firstRunEndAtMs: 200,
      firstRunMs: 28,
      firstRunFrames: 1,
      ...overrides.inference,
    },
    firstResultAtMs: firstResult,
    totalMs: 1000,
    endedBy: 'end',
    bytesDownloaded: 14_100_000,
    framesDecoded: 900,
    framesInferred: 180,
    error: null,
    segments: list,
    ...overrides.rest,
  };
}

const settingsOf = (v: ReturnType<typeof verdict>) => v.advice.flatMap((advice) => advice.settings);

describe('verdict', () => {
  it('TTFB-dominated: the server is slow to answer; warm the connection or choose a closer host', () => {
    const v = verdict(
      breakdown({ connection: 30, server: 400, download: 50, decode: 20, batch: 1, inference: 30 }),
    );
    expect(v.dominant).toBe('server');
    expect(v.dominantMs).toBe(400);
    expect(v.share).toBeCloseTo(400 / 531, 3);
    expect(v.headline).toMatch(
      /first result after 531 ms; .*waiting for the server \(TTFB\): 400 ms \(75%\)/,
    );
    expect(v.advice[0]!.change).toMatch(/server is slow to answer: warm the connection.*closer/);
    expect(v.advice).toHaveLength(1);
  });

  it('connection-dominated: names DNS, TCP and TLS and says warm the connection', () => {
    const v = verdict(breakdown({ connection: 300, server: 50, download: 50, inference: 30 }));
    expect(v.dominant).toBe('connection');
    expect(v.advice[0]!.finding).toContain('DNS 5 ms, TCP 10 ms, TLS 20 ms');
    expect(settingsOf(v)).toContain('FIRSTFRAME_WARM_INTERVAL_S');
  });

  it('moov at the end: re-encode with +faststart, or keep http-stream (Range fetch of the moov)', () => {
    const v = verdict(
      breakdown(
        { connection: 10, server: 100, download: 600, decode: 20, batch: 1, inference: 30 },
        { layout: { layout: 'moov-end', moovAtEnd: true, moovOffset: 14_000_000, moovFetchMs: 450 } },
      ),
    );
    expect(v.dominant).toBe('download');
    expect(v.advice[0]!.finding).toMatch(/moov box is at byte 14000000.*fetched in 450 ms/);
    expect(v.advice[0]!.change).toMatch(/-movflags \+faststart.*http-stream.*Range/);
    expect(settingsOf(v)).toEqual(['-movflags +faststart', 'http-stream']);
  });

  it('moov at the end on a server without Range: re-encoding is the only fix', () => {
    const v = verdict(
      breakdown(
        { server: 100, download: 600, inference: 30 },
        { layout: { layout: 'moov-end', moovAtEnd: true, rangeHonoured: false } },
      ),
    );
    expect(v.advice[0]!.finding).toMatch(/ignores Range.*last byte/);
    expect(settingsOf(v)).toEqual(['-movflags +faststart']);
  });

  it('a moov at the end that did not dominate is still reported', () => {
    const v = verdict(
      breakdown(
        { server: 50, download: 60, inference: 900 },
        { layout: { layout: 'moov-end', moovAtEnd: true } },
      ),
    );
    expect(v.dominant).toBe('inference');
    expect(settingsOf(v)).toContain('-movflags +faststart');
  });

  it('Range not honoured under a partial strategy: use http-stream (PARTIAL_DOWNLOAD=0)', () => {
    const v = verdict(
      breakdown(
        { server: 50, download: 300, inference: 100 },
        { pipeline: { source: 'http-partial', partialMb: 4 }, layout: { rangeHonoured: false } },
      ),
    );
    const range = v.advice.find((advice) => advice.finding.includes('ignores Range'));
    expect(range?.finding).toContain('http-partial relies on it');
    expect(range?.settings).toEqual(['PARTIAL_DOWNLOAD', 'http-stream']);
  });

  it('a download-first strategy: decode while downloading (STREAMING_DOWNLOAD, PARTIAL_DOWNLOAD)', () => {
    const v = verdict(
      breakdown(
        { server: 100, download: 8500, decode: 20, inference: 30 },
        { pipeline: { source: 'http-full', downloadFirst: true } },
      ),
    );
    expect(v.dominant).toBe('download');
    expect(v.advice[0]!.finding).toMatch(/http-full waits for the whole file/);
    expect(settingsOf(v)).toEqual(['STREAMING_DOWNLOAD', 'PARTIAL_DOWNLOAD', '--strategy stream']);
  });

  it('a start held for STREAM_MIN_START_BYTES: lower it', () => {
    const v = verdict(
      breakdown(
        { server: 100, download: 400, inference: 30 },
        { pipeline: { minStartBytes: 262_144 }, decoder: { startHeldMs: 350 } },
      ),
    );
    expect(settingsOf(v)).toEqual(['STREAM_MIN_START_BYTES', 'STREAM_BUFFER_TIMEOUT_S']);
  });

  it('a slow header over a faststart file: the link or the header is the limit', () => {
    const v = verdict(breakdown({ server: 100, download: 400, inference: 30 }));
    expect(v.advice[0]!.finding).toMatch(
      /decoding could start 400 ms after the first byte, at byte 65536 \(the container header, moov 20000 bytes\)/,
    );
    expect(v.advice[0]!.change).toMatch(/closer host/);
  });

  it('decode-dominated: IMG_SIZE and USE_NVDEC', () => {
    const v = verdict(breakdown({ server: 100, download: 50, decode: 700, batch: 1, inference: 30 }));
    expect(v.dominant).toBe('decode');
    expect(v.advice[0]!.finding).toContain('h264 1280×720');
    expect(settingsOf(v)).toEqual(['IMG_SIZE', 'USE_NVDEC']);
  });

  it('model-dominated: IMG_SIZE, DEVICE=cuda, a smaller model; a first batch of one frame when it had more', () => {
    const one = verdict(breakdown({ server: 100, download: 50, decode: 20, batch: 1, inference: 800 }));
    expect(one.dominant).toBe('inference');
    expect(one.advice[0]!.change).toMatch(/IMG_SIZE \(now 640\), DEVICE=cuda.*smaller model \(--model\)/);
    expect(settingsOf(one)).toEqual(['IMG_SIZE', 'DEVICE', '--model']);

    const many = verdict(
      breakdown(
        { server: 100, download: 50, decode: 20, batch: 1, inference: 800 },
        { inference: { firstRunFrames: 16 } },
      ),
    );
    expect(settingsOf(many)).toEqual([
      'IMG_SIZE',
      'DEVICE',
      '--model',
      'EARLY_FLUSH_FIRST_FRAME',
      'BATCH_SIZE',
    ]);
  });

  it('first result waiting for a batch: EARLY_FLUSH_FIRST_FRAME and RAMP_UP when they are off', () => {
    const v = verdict(
      breakdown(
        { server: 100, download: 50, decode: 20, batch: 600, inference: 30 },
        {
          pipeline: { earlyFlushFirstFrame: false, rampUp: false },
          batch: { firstSize: 16, firstReason: 'full' },
        },
      ),
    );
    expect(v.dominant).toBe('batch');
    expect(v.advice[0]!.finding).toContain('first batch: 16 frames, full');
    expect(v.advice[0]!.change).toMatch(/EARLY_FLUSH_FIRST_FRAME=1.*RAMP_UP=1.*BATCH_SIZE \(now 16\)/);
    expect(settingsOf(v)).toEqual(['EARLY_FLUSH_FIRST_FRAME', 'RAMP_UP', 'BATCH_SIZE']);
    // Already on: only the batch size is left to change.
    const on = verdict(breakdown({ server: 100, batch: 600, inference: 30 }));
    expect(settingsOf(on)).toEqual(['BATCH_SIZE']);
  });

  it('a model set-up longer than the run: keep one process (firstframe serve)', () => {
    const b = breakdown({ server: 100, download: 50, inference: 30 });
    const v = verdict({ ...b, model: { ...b.model, setupMs: 2000 } });
    expect(settingsOf(v)).toContain('firstframe serve');
  });

  it('no result within the budget: the part the run was stuck in, and the budget', () => {
    const v = verdict(
      breakdown(
        { connection: 10, server: 100 },
        { rest: { firstResultAtMs: null, totalMs: 1500, endedBy: 'budget' }, pipeline: { budgetS: 1.5 } },
      ),
    );
    expect(v.firstResultMs).toBeNull();
    expect(v.dominant).toBe('download');
    expect(v.dominantMs).toBe(1390);
    expect(v.headline).toMatch(
      /no result in 1500 ms \(ended by budget\): the run was still download until decoding could start/,
    );
    expect(settingsOf(v)).toEqual(
      expect.arrayContaining(['TIME_BUDGET_S', 'START_BUDGET_AFTER_FIRST_FRAME']),
    );
  });

  it('a failed run: the error and what to do about it', () => {
    const refused = verdict(
      breakdown(
        {},
        { rest: { error: { code: 'FF_ERR_CONNECT_REFUSED', message: 'GET http://x/: connection refused' } } },
      ),
    );
    expect(refused.dominant).toBeNull();
    expect(refused.headline).toBe('no result: the run failed (FF_ERR_CONNECT_REFUSED)');
    expect(refused.advice[0]!.change).toMatch(/reachable/);

    const ignored = verdict(
      breakdown(
        {},
        { rest: { error: { code: 'FF_ERR_RANGE_IGNORED', message: 'the server ignored Range' } } },
      ),
    );
    expect(ignored.advice[0]!.settings).toEqual(['PARTIAL_DOWNLOAD', 'http-stream']);
  });

  it('is pure: the same breakdown gives the same verdict', () => {
    const b = breakdown({ server: 100, download: 50, inference: 30 });
    expect(verdict(b)).toEqual(verdict(structuredClone(b)));
  });
});
