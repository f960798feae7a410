import { describe, expect, it } from 'vitest';
import { benchStats, type BenchRunRecord } from '../../src/bench/bench.js';
import { spreadCell } from '../../src/bench/bench-text.js';
import { breakdownOf, pipelineFacts } from '../../src/bench/breakdown.js';
import { downloadEndMs } from '../../src/bench/measure.js';
import { findOnPath } from '../../src/bench/peers.js';
import { benchGroups, parseStrategyList } from '../../src/bench/strategies.js';
import { formatTable } from '../../src/bench/table.js';
import { ConfigError } from '../../src/core/errors.js';
import type { StageEvent, StageName } from '../../src/core/events.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import type { RunDocument } from '../../src/pipelines/runner.js';

const t0 = 5000;
const at = (stage: StageName, name: string, ms: number, data?: Record<string, unknown>): StageEvent => ({
  stage,
  name,
  at: t0 + ms,
  ...(data ? { data } : {}),
});

/** A moov-end stream over HTTPS: request 1 streams the file, request 2 fetches the moov. */
const events: StageEvent[] = [
  at('pipeline', 'start', 0),
  at('source', 'request', 1, { requestId: 1 }),
  at('source', 'dns', 6, { requestId: 1, ms: 5, address: '192.0.2.1' }),
  at('source', 'connect', 16, { requestId: 1, ms: 10, remoteAddress: '192.0.2.1' }),
  at('source', 'tls', 36, { requestId: 1, ms: 30, alpnProtocol: 'http/1.1' }),
  at('source', 'headers', 130, { requestId: 1, status: 200, totalBytes: 100_000 }),
  at('source', 'first-byte', 131, { requestId: 1, offset: 0 }),
  at('source', 'chunk', 131, { requestId: 1, bytes: 30_000, offset: 0 }),
  at('decode', 'layout', 132, { layout: 'moov-end', mdatOffset: 40, mdatSize: 90_000 }),
  at('decode', 'moov-fetch', 132, { offset: 90_040 }),
  at('source', 'request', 133, { requestId: 2, range: 'bytes=90040-' }),
  at('source', 'connect', 140, { requestId: 2, ms: 7 }),
  at('source', 'chunk', 180, { requestId: 2, bytes: 9960, offset: 90_040 }),
  at('decode', 'moov', 181, { offset: 90_040, bytes: 9960, ms: 49 }),
  at('source', 'chunk', 190, { requestId: 1, bytes: 30_000, offset: 30_000 }),
  at('decode', 'open', 200, { ms: 15, bytesFed: 40_000, codec: 'h264', width: 640, height: 360 }),
  at('source', 'chunk', 210, { requestId: 1, bytes: 40_000, offset: 60_000 }),
  at('decode', 'first-frame', 220, { frameNumber: 0 }),
  at('batch', 'batch', 221, { index: 0, size: 1, reason: 'first-frame' }),
  at('infer', 'run-start', 225, { run: 1, frames: 1 }),
  at('source', 'end', 240, { requestId: 1, reason: 'complete', bytes: 100_000 }),
  at('infer', 'run-end', 300, { run: 1, frames: 1, ms: 75 }),
  at('pipeline', 'first-result', 301, { frameNumber: 0 }),
  at('sink', 'end', 500, { endedBy: 'end' }),
];

const document: RunDocument = {
  source: {
    url: 'https://cdn.example/clip.mp4',
    bytesTotal: 100_000,
    rangeHonoured: true,
    layout: 'moov-end',
  },
  frames: [],
  timings: {
    setupMs: 400,
    headersMs: 130,
    firstByteMs: 131,
    firstFrameMs: 220,
    firstResultMs: 301,
    totalMs: 500,
    bytesDownloaded: 109_960,
    framesDecoded: 100,
    framesInferred: 20,
    endedBy: 'end',
  },
};

describe('breakdownOf', () => {
  const pipeline = loadPipeline({ profile: 'default' });
  const b = breakdownOf({
    target: 'https://cdn.example/clip.mp4',
    pipeline: pipelineFacts(pipeline),
    setupMs: 400,
    model: { path: '/models/detector.onnx', device: 'cpu' },
    startedAt: t0,
    events,
    document,
  });

  it('takes connection timings from the first request, TLS without the TCP connect', () => {
    expect(b.network).toEqual({
      dnsMs: 5,
      connectMs: 10,
      tlsMs: 20,
      remoteAddress: '192.0.2.1',
      alpnProtocol: 'http/1.1',
      status: 200,
      headersAtMs: 130,
      firstByteAtMs: 131,
    });
  });

  it('reports the layout, the moov place and its fetch, and Range as the run saw it', () => {
    expect(b.layout).toEqual({
      layout: 'moov-end',
      fragmented: false,
      moovAtEnd: true,
      moovOffset: 90_040,
      moovBytes: 9960,
      mdatOffset: 40,
      totalBytes: 100_000,
      rangeHonoured: true,
      rangeCheckedBy: 'run',
      moovFetchMs: 49,
    });
  });

  it('counts the bytes fed to FFmpeg and those received by the time the demuxer opened', () => {
    expect(b.decoder).toMatchObject({
      bytesFedAtOpen: 40_000,
      sourceBytesAtOpen: 69_960,
      openAtMs: 200,
      openMs: 15,
    });
  });

  it('splits the time to first result into consecutive parts', () => {
    expect(b.segments.map((segment) => [segment.name, segment.fromMs, segment.toMs])).toEqual([
      ['connection', 0, 36],
      ['server', 36, 131],
      ['download', 131, 200],
      ['decode', 200, 220],
      ['batch', 220, 225],
      ['inference', 225, 301],
    ]);
    expect(b.segments.reduce((sum, segment) => sum + segment.ms, 0)).toBe(b.firstResultAtMs);
    expect(b.inference).toEqual({
      firstRunStartAtMs: 225,
      firstRunEndAtMs: 300,
      firstRunMs: 75,
      firstRunFrames: 1,
    });
    expect(b.batch).toEqual({ firstAtMs: 221, firstSize: 1, firstReason: 'first-frame' });
  });

  it('takes Range and the moov place from the probe when the run could not tell', () => {
    const faststart = breakdownOf({
      target: 'https://cdn.example/clip.mp4',
      pipeline: pipelineFacts(pipeline),
      setupMs: 0,
      model: {},
      startedAt: t0,
      events: events.filter((event) => event.stage !== 'decode' || event.name === 'open'),
      document: { ...document, source: { ...document.source, rangeHonoured: null, layout: 'faststart' } },
      probe: { rangeHonoured: false, totalBytes: 100_000, moov: { offset: 32, bytes: 2000 } },
    });
    expect(faststart.layout).toMatchObject({
      layout: 'faststart',
      moovAtEnd: false,
      moovOffset: 32,
      moovBytes: 2000,
      rangeHonoured: false,
      rangeCheckedBy: 'probe',
    });
    // No first frame reported: its part merges into the next one.
    expect(faststart.segments.map((segment) => segment.name)).toEqual([
      'connection',
      'server',
      'download',
      'batch',
      'inference',
    ]);
  });

  it('frame 0 from the MP4 index: decoding starts when its bytes are in, before the demuxer opens', () => {
    const indexed = events
      .filter((event) => event.stage !== 'decode' || !['layout', 'moov-fetch', 'moov'].includes(event.name))
      .map((event) =>
        event.name === 'first-frame'
          ? { ...event, at: t0 + 195, data: { frameNumber: 0, fromIndex: true } }
          : event,
      );
    indexed.push(at('decode', 'index', 150, { offset: 48, size: 40_000, pts: 0, fragmented: false }));
    indexed.sort((a, b) => a.at - b.at);
    const b = breakdownOf({
      target: 'https://cdn.example/clip.mp4',
      pipeline: pipelineFacts(pipeline),
      setupMs: 0,
      model: {},
      startedAt: t0,
      events: indexed,
      document: { ...document, source: { ...document.source, layout: 'faststart' } },
    });
    // Frame 0 ends at byte 40048: in with the chunk of 190 ms (bytes 30000–59999).
    expect(b.decoder).toMatchObject({
      firstFrameFromIndex: true,
      frame0: { offset: 48, bytes: 40_000 },
      bytesBeforeStart: 40_048,
      startAtMs: 190,
      openAtMs: 200,
      firstFrameAtMs: 195,
    });
    expect(b.segments.map((segment) => [segment.name, segment.fromMs, segment.toMs])).toEqual([
      ['connection', 0, 36],
      ['server', 36, 131],
      ['download', 131, 190],
      ['decode', 190, 195],
      ['batch', 195, 225],
      ['inference', 225, 301],
    ]);
  });

  it('a milestone reported after a later one counts as reached at the later one', () => {
    // FFmpeg's open after the first frame (and no index event): the parts still follow each other.
    const late = events.map((event) => (event.name === 'open' ? { ...event, at: t0 + 260 } : event));
    const b = breakdownOf({
      target: 'https://cdn.example/clip.mp4',
      pipeline: pipelineFacts(pipeline),
      setupMs: 0,
      model: {},
      startedAt: t0,
      events: late,
      document,
    });
    expect(b.segments.map((segment) => [segment.name, segment.ms])).toEqual([
      ['connection', 36],
      ['server', 95],
      ['download', 89],
      ['decode', 0],
      ['batch', 5],
      ['inference', 76],
    ]);
  });

  it('describes the pipeline the advice refers to', () => {
    expect(pipelineFacts(loadPipeline({ profile: 'full-download' }))).toMatchObject({
      source: 'http-full',
      downloadFirst: true,
      partialMb: null,
    });
    expect(pipelineFacts(loadPipeline({ profile: 'ultra-fast' }))).toMatchObject({
      source: 'http-partial',
      downloadFirst: false,
      partialMb: 2,
      imgSize: 384,
      batchSize: 64,
      minStartBytes: 262_144,
      budgetS: 1.5,
    });
  });
});

describe('downloadEndMs', () => {
  it('is the end of the first request when it completed, whatever the moov fetch did', () => {
    expect(downloadEndMs(t0, events)).toBe(240);
  });

  it('is null when the budget cut the download', () => {
    const cut = events.map((event) =>
      event.name === 'end' && event.stage === 'source'
        ? { ...event, data: { requestId: 1, reason: 'unsubscribed' } }
        : event,
    );
    expect(downloadEndMs(t0, cut)).toBeNull();
    expect(downloadEndMs(t0, [])).toBeNull();
  });
});

describe('benchStats', () => {
  const run = (n: number, values: Partial<BenchRunRecord>): BenchRunRecord => ({
    run: n,
    downloadMs: null,
    firstFrameMs: null,
    firstResultMs: null,
    totalMs: 0,
    bytesDownloaded: 0,
    framesDecoded: 0,
    framesInferred: 0,
    endedBy: 'end',
    ...values,
  });

  it('median, min and max of each metric; runs without a value do not count', () => {
    const stats = benchStats([
      run(1, { downloadMs: 900, firstFrameMs: 300, firstResultMs: 400, totalMs: 1000, framesInferred: 10 }),
      run(2, { downloadMs: null, firstFrameMs: 100, firstResultMs: 250, totalMs: 1500, framesInferred: 12 }),
      run(3, { downloadMs: 700, firstFrameMs: 200, firstResultMs: null, totalMs: 1200, framesInferred: 11 }),
      run(4, { downloadMs: 800, firstFrameMs: 400, firstResultMs: 350, totalMs: 1100, framesInferred: 9 }),
    ]);
    expect(stats).toEqual({
      downloadMs: { n: 3, median: 800, min: 700, max: 900 },
      firstFrameMs: { n: 4, median: 250, min: 100, max: 400 },
      firstResultMs: { n: 3, median: 350, min: 250, max: 400 },
      totalMs: { n: 4, median: 1150, min: 1000, max: 1500 },
      framesInferred: { n: 4, median: 10.5, min: 9, max: 12 },
    });
    expect(benchStats([]).totalMs).toBeNull();
  });

  it('prints as median (min–max), with n= when fewer runs had a value', () => {
    expect(spreadCell({ n: 3, median: 800, min: 700, max: 900 }, 3)).toBe('800 (700–900)');
    expect(spreadCell({ n: 2, median: 5.25, min: 5.25, max: 5.25 }, 3)).toBe('5.3 n=2');
    expect(spreadCell(null, 3)).toBe('–');
  });
});

describe('strategies', () => {
  it('expands presets, keeps the order given and drops duplicates', () => {
    const { strategies, problems } = parseStrategyList('stream,download,partial-2');
    expect(problems).toEqual([]);
    expect(strategies.map((strategy) => strategy.name)).toEqual([
      'stream',
      'full',
      'partial-2',
      'partial-4',
      'partial-6',
    ]);
    expect(parseStrategyList('all').strategies).toHaveLength(5);
  });

  it('names every unknown strategy', () => {
    expect(parseStrategyList('stream,fast,slow').problems).toEqual([
      '--strategies: unknown strategy "fast"; known: full, partial-2, partial-4, partial-6, stream, download, all',
      '--strategies: unknown strategy "slow"; known: full, partial-2, partial-4, partial-6, stream, download, all',
    ]);
  });

  it('lays each strategy’s source over its profile and the environment', () => {
    const groups = benchGroups({
      strategies: parseStrategyList('full,partial-4,stream').strategies,
      pipelineFiles: [],
      env: { PARTIAL_DOWNLOAD: true, IMG_SIZE: 320 },
      overrides: { sink: { budgetS: 2 } },
    });
    expect(
      groups.map((group) => [
        group.name,
        group.pipeline.stages.source.operator,
        group.pipeline.stages.source.options['partialMb'],
        group.pipeline.imgSize,
        group.pipeline.stages.sink.options['budgetS'],
      ]),
    ).toEqual([
      ['full', 'http-full', undefined, 320, 2],
      ['partial-4', 'http-partial', 4, 320, 2],
      ['stream', 'http-stream', undefined, 320, 2],
    ]);
  });

  it('reports every problem of every pipeline document at once', () => {
    let error: unknown;
    try {
      benchGroups({ strategies: [], pipelineFiles: ['/nonexistent/a.yaml', '/nonexistent/b.yaml'] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(2);
    expect((error as ConfigError).problems[1]).toMatch(/^\/nonexistent\/b\.yaml: cannot read/);
  });
});

describe('formatTable and findOnPath', () => {
  it('pads columns: text left, numbers right', () => {
    expect(
      formatTable(
        ['stage', 'ms'],
        [
          ['connect', '1.2'],
          ['first frame', '210'],
        ],
      ),
    ).toBe(['stage         ms', 'connect      1.2', 'first frame  210'].join('\n'));
  });

  it('finds nothing on an empty or missing PATH', () => {
    expect(findOnPath('sh', '/nonexistent-dir')).toEqual([]);
    expect(findOnPath('sh', undefined)).toEqual([]);
    expect(findOnPath('sh', '/bin:/usr/bin:/bin').length).toBeGreaterThan(0);
  });
});
