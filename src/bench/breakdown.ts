import type { StageEvent, StageName } from '../core/events.js';
import type { ResolvedPipeline } from '../pipelines/document.js';
import type { RunDocument } from '../pipelines/runner.js';
import { numberField } from '../report/summary.js';

/**
 * The consecutive parts of the time to first result, each ending at one milestone of the run:
 *
 * | part | from | to |
 * |---|---|---|
 * | connection | run start | TCP connected / TLS handshake done (DNS included) |
 * | server | connected | first body byte (the server's think time, TTFB without the connect) |
 * | download | first byte | decoding could start: frame 0's bytes in (an MP4 decoded from its index), or else the demuxer open (the container header's bytes, a moov fetch, a start hold; the whole file for a download-first strategy) |
 * | decode | decoding could start | first frame |
 * | batch | first frame | first model run starts (waiting for a batch to fill) |
 * | inference | first model run starts | first result |
 *
 * A milestone the run did not report (no connect on a reused socket, no network at all for a file) merges
 * its part into the next one; one reported after a later one (FFmpeg's open, after frame 0 came from the
 * index) counts as reached at the later one, so that the parts never overlap.
 */
export type SegmentName = 'connection' | 'server' | 'download' | 'decode' | 'batch' | 'inference';

export const SEGMENT_NAMES: readonly SegmentName[] = [
  'connection',
  'server',
  'download',
  'decode',
  'batch',
  'inference',
];

export interface Segment {
  readonly name: SegmentName;
  /** Milliseconds since the run's start. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly ms: number;
}

/** What the diagnosis says about the pipeline it ran, the settings its advice refers to. */
export interface PipelineFacts {
  readonly name: string;
  /** The source operator: http-stream, http-partial, http-full, http-ranges. */
  readonly source: string;
  /** Bytes held until the transfer ends before decoding starts (http-full, or `buffered`). */
  readonly downloadFirst: boolean;
  readonly partialMb: number | null;
  readonly decode: string;
  readonly minStartBytes: number | null;
  readonly imgSize: number;
  readonly stride: number;
  readonly batchSize: number;
  readonly rampUp: boolean;
  readonly earlyFlushFirstFrame: boolean;
  readonly model: string | null;
  readonly device: string | null;
  readonly budgetS: number | null;
}

/**
 * One instrumented run taken apart: connection timings, the container's layout, what the demuxer needed,
 * the first frame, batch, model run and result. Times named `…AtMs` or `…Ms` without "took" are since the
 * run's start; `dnsMs`, `connectMs`, `tlsMs`, `openMs`, `firstRunMs`, `moovFetchMs` are durations. `null`:
 * the run did not get there, or the stage does not exist for this target (no DNS for an IP literal, no
 * TLS over plain HTTP, no network for a local file).
 */
export interface DiagnoseBreakdown {
  readonly target: string;
  readonly pipeline: PipelineFacts;
  readonly network: {
    readonly dnsMs: number | null;
    /** TCP connect alone. */
    readonly connectMs: number | null;
    /** TLS handshake alone (the dispatcher's `tls` time includes the TCP connect; it is subtracted). */
    readonly tlsMs: number | null;
    readonly remoteAddress: string | null;
    readonly alpnProtocol: string | null;
    readonly status: number | null;
    readonly headersAtMs: number | null;
    /** Time to first byte, since the run's start. */
    readonly firstByteAtMs: number | null;
  };
  readonly layout: {
    readonly layout: string | null;
    readonly fragmented: boolean | null;
    readonly moovAtEnd: boolean | null;
    readonly moovOffset: number | null;
    readonly moovBytes: number | null;
    readonly mdatOffset: number | null;
    readonly totalBytes: number | null;
    readonly rangeHonoured: boolean | null;
    /** `run`: a Range request of the run itself told; `probe`: a one-off request after it did. */
    readonly rangeCheckedBy: 'run' | 'probe' | null;
    /** From asking for the moov at the end to having it. */
    readonly moovFetchMs: number | null;
  };
  readonly decoder: {
    /** When decoding could start: frame 0's bytes in (decoded from the MP4 index), or the demuxer open. */
    readonly startAtMs: number | null;
    /** What the decoder needed before it could start: frame 0's last byte, or `bytesFedAtOpen`. */
    readonly bytesBeforeStart: number | null;
    /** Frame 0 was decoded from the MP4 index (moov or first moof) before FFmpeg's demuxer opened. */
    readonly firstFrameFromIndex: boolean | null;
    /** Frame 0's sample as the index gives it. */
    readonly frame0: { readonly offset: number; readonly bytes: number } | null;
    /**
     * Bytes handed to FFmpeg by the time its open returned: an upper bound on what the demuxer read, since
     * bytes that arrived while it opened are counted too (for moov-end, the moov moved to the front is).
     */
    readonly bytesFedAtOpen: number | null;
    /** Bytes the source had received when the demuxer opened. */
    readonly sourceBytesAtOpen: number | null;
    /** How long STREAM_MIN_START_BYTES held the start back. */
    readonly startHeldMs: number | null;
    readonly openAtMs: number | null;
    /** The demuxer's open call, from when it was started with the first bytes. */
    readonly openMs: number | null;
    readonly codec: string | null;
    readonly width: number | null;
    readonly height: number | null;
    readonly firstFrameAtMs: number | null;
  };
  readonly model: {
    /** Loading and warm-up, before the run (paid once per process). */
    readonly setupMs: number;
    readonly path: string | null;
    readonly device: string | null;
  };
  readonly batch: {
    readonly firstAtMs: number | null;
    readonly firstSize: number | null;
    /** Why the first batch went: first-frame (early flush), full, timeout, end. */
    readonly firstReason: string | null;
  };
  readonly inference: {
    readonly firstRunStartAtMs: number | null;
    readonly firstRunEndAtMs: number | null;
    readonly firstRunMs: number | null;
    readonly firstRunFrames: number | null;
  };
  readonly firstResultAtMs: number | null;
  readonly totalMs: number;
  readonly endedBy: string;
  readonly bytesDownloaded: number;
  readonly framesDecoded: number;
  readonly framesInferred: number;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly segments: readonly Segment[];
}

/** What a one-off request for the first bytes found, for what the run itself could not tell. */
export interface HeadProbe {
  readonly rangeHonoured: boolean | null;
  readonly totalBytes: number | null;
  /** The moov box's place when the first bytes show it (faststart, fragmented). */
  readonly moov: { readonly offset: number; readonly bytes: number } | null;
}

export interface BreakdownInput {
  readonly target: string;
  readonly pipeline: PipelineFacts;
  readonly setupMs: number;
  readonly model: Readonly<Record<string, unknown>>;
  /** `performance.now()` of the run's `pipeline: start` event: the origin of every `…AtMs`. */
  readonly startedAt: number;
  readonly events: readonly StageEvent[];
  readonly document: RunDocument;
  readonly probe?: HeadProbe | null;
}

const string = (event: StageEvent | undefined, key: string): string | null => {
  const value = event?.data?.[key];
  return typeof value === 'string' ? value : null;
};
const number = (event: StageEvent | undefined, key: string): number | null =>
  event === undefined ? null : (numberField(event, key) ?? null);
const round = (ms: number | null): number | null => (ms === null ? null : Math.round(ms * 10) / 10);

/** The facts of a resolved pipeline the verdict's advice depends on. */
export function pipelineFacts(
  pipeline: ResolvedPipeline,
  model: Readonly<Record<string, unknown>> = {},
): PipelineFacts {
  const { source, decode, stride, batch, infer, sink } = pipeline.stages;
  const option = (stage: { options: Readonly<Record<string, unknown>> }, key: string) => stage.options[key];
  const asNumber = (value: unknown) => (typeof value === 'number' ? value : null);
  const modelPath = model['path'] ?? option(infer, 'model') ?? option(infer, 'detector');
  const device = model['device'] ?? option(infer, 'device');
  return {
    name: pipeline.name,
    source: source.operator,
    downloadFirst: source.operator === 'http-full' || option(source, 'buffered') === true,
    partialMb: source.operator === 'http-partial' ? (asNumber(option(source, 'partialMb')) ?? 4) : null,
    decode: decode.operator,
    minStartBytes: asNumber(option(decode, 'minStartBytes')),
    imgSize: pipeline.imgSize,
    stride: asNumber(option(stride, 'every')) ?? 1,
    batchSize: asNumber(option(batch, 'size')) ?? 1,
    rampUp: Boolean(option(batch, 'rampUp')),
    earlyFlushFirstFrame: option(batch, 'earlyFlushFirstFrame') === true,
    model: typeof modelPath === 'string' ? modelPath : null,
    device: typeof device === 'string' ? device : null,
    budgetS: asNumber(option(sink, 'budgetS')),
  };
}

/**
 * Takes one run apart from its stage events (see {@link DiagnoseBreakdown}). Pure: the same events give
 * the same breakdown.
 *
 * @example
 * const breakdown = breakdownOf({ target, pipeline: pipelineFacts(resolved), setupMs, model, startedAt,
 *   events, document });
 */
export function breakdownOf(input: BreakdownInput): DiagnoseBreakdown {
  const { events, startedAt, document } = input;
  const first = (stage: StageName, name: string, where: (event: StageEvent) => boolean = () => true) =>
    events.find((event) => event.stage === stage && event.name === name && where(event));
  const at = (event: StageEvent | undefined) => (event === undefined ? null : event.at - startedAt);

  // The first request is the one the run waited on; a moov fetch is a second one.
  const request = first('source', 'request');
  const requestId = request?.data?.['requestId'];
  const ofRequest = (event: StageEvent) => requestId === undefined || event.data?.['requestId'] === requestId;
  const dns = first('source', 'dns', ofRequest);
  const connect = first('source', 'connect', ofRequest);
  const tls = first('source', 'tls', ofRequest);
  const headers = first('source', 'headers', ofRequest);
  const firstByte = first('source', 'first-byte', ofRequest);
  const connectMs = number(connect, 'ms');
  const tlsTotal = number(tls, 'ms');

  const layoutEvent = first('decode', 'layout');
  const moov = first('decode', 'moov');
  const moovFetch = first('decode', 'moov-fetch');
  const open = first('decode', 'open');
  const index = first('decode', 'index');
  const hold = first('decode', 'start-hold-over');
  const firstFrame = first('decode', 'first-frame');
  const firstBatch = first('batch', 'batch');
  const runStart = first('infer', 'run-start');
  const runEnd = first('infer', 'run-end', (event) => event.data?.['run'] === runStart?.data?.['run']);
  const firstResult = first('pipeline', 'first-result');

  const layout = layoutEvent ? string(layoutEvent, 'layout') : document.source.layout;
  const fragmented = layout === null ? null : layout === 'fragmented';
  const moovAtEnd = layout === null ? null : layout === 'moov-end';
  const probe = input.probe ?? null;
  const rangeFromRun = document.source.rangeHonoured;
  const rangeHonoured = rangeFromRun ?? probe?.rangeHonoured ?? null;
  const moovOffset = number(moov, 'offset') ?? (moovAtEnd ? null : (probe?.moov?.offset ?? null));
  const moovBytes = number(moov, 'bytes') ?? (moovAtEnd ? null : (probe?.moov?.bytes ?? null));

  const sourceBytesAtOpen =
    open === undefined
      ? null
      : events
          .filter((event) => event.stage === 'source' && event.name === 'chunk' && event.at <= open.at)
          .reduce((sum, event) => sum + (numberField(event, 'bytes') ?? 0), 0);

  // Frame 0 from the MP4 index: decoding could start once the index was read and frame 0's last byte in.
  const fromIndex = firstFrame === undefined ? null : firstFrame.data?.['fromIndex'] === true;
  const frame0Offset = number(index, 'offset');
  const frame0Bytes = number(index, 'size');
  const frame0 =
    frame0Offset !== null && frame0Bytes !== null ? { offset: frame0Offset, bytes: frame0Bytes } : null;
  let startAt = at(open);
  let bytesBeforeStart = number(open, 'bytesFed');
  if (fromIndex && frame0) {
    const end = frame0.offset + frame0.bytes;
    const reached = first(
      'source',
      'chunk',
      (event) => ofRequest(event) && (number(event, 'offset') ?? 0) + (number(event, 'bytes') ?? 0) >= end,
    );
    const times = [at(index), at(reached)].filter((ms): ms is number => ms !== null);
    startAt = times.length > 0 ? Math.max(...times) : startAt;
    bytesBeforeStart = end;
  }

  const connectedAt = at(tls) ?? at(connect);
  const milestones: Array<[SegmentName, number | null]> = [
    ['connection', connectedAt],
    ['server', at(firstByte)],
    ['download', startAt],
    ['decode', at(firstFrame)],
    ['batch', at(runStart)],
    ['inference', at(firstResult) ?? at(runEnd)],
  ];
  // A milestone reported after a later one counts as reached at the later one.
  let later: number | null = null;
  for (let i = milestones.length - 1; i >= 0; i -= 1) {
    const milestone = milestones[i]!;
    if (milestone[1] === null) continue;
    if (later !== null && milestone[1] > later) milestone[1] = later;
    later = milestone[1];
  }
  const segments: Segment[] = [];
  let from = 0;
  for (const [name, to] of milestones) {
    if (to === null) continue;
    segments.push({ name, fromMs: round(from)!, toMs: round(to)!, ms: round(to - from)! });
    from = to;
  }

  const timings = document.timings;
  return {
    target: input.target,
    pipeline: input.pipeline,
    network: {
      dnsMs: round(number(dns, 'ms')),
      connectMs: round(connectMs),
      tlsMs: round(tlsTotal === null ? null : Math.max(0, tlsTotal - (connectMs ?? 0))),
      remoteAddress: string(connect, 'remoteAddress') ?? string(dns, 'address'),
      alpnProtocol: string(tls, 'alpnProtocol'),
      status: number(headers, 'status'),
      headersAtMs: round(at(headers)),
      firstByteAtMs: round(at(firstByte)),
    },
    layout: {
      layout,
      fragmented,
      moovAtEnd,
      moovOffset,
      moovBytes,
      mdatOffset: number(layoutEvent, 'mdatOffset'),
      totalBytes: document.source.bytesTotal ?? probe?.totalBytes ?? null,
      rangeHonoured,
      rangeCheckedBy: rangeFromRun !== null ? 'run' : rangeHonoured !== null ? 'probe' : null,
      moovFetchMs: moov && moovFetch ? round(moov.at - moovFetch.at) : null,
    },
    decoder: {
      startAtMs: round(startAt),
      bytesBeforeStart,
      firstFrameFromIndex: fromIndex,
      frame0,
      bytesFedAtOpen: number(open, 'bytesFed'),
      sourceBytesAtOpen,
      startHeldMs: round(number(hold, 'heldMs')),
      openAtMs: round(at(open)),
      openMs: round(number(open, 'ms')),
      codec: string(open, 'codec'),
      width: number(open, 'width'),
      height: number(open, 'height'),
      firstFrameAtMs: round(at(firstFrame)),
    },
    model: {
      setupMs: round(input.setupMs) ?? 0,
      path: typeof input.model['path'] === 'string' ? input.model['path'] : input.pipeline.model,
      device: typeof input.model['device'] === 'string' ? input.model['device'] : input.pipeline.device,
    },
    batch: {
      firstAtMs: round(at(firstBatch)),
      firstSize: number(firstBatch, 'size'),
      firstReason: string(firstBatch, 'reason'),
    },
    inference: {
      firstRunStartAtMs: round(at(runStart)),
      firstRunEndAtMs: round(at(runEnd)),
      firstRunMs: round(number(runEnd, 'ms')),
      firstRunFrames: number(runStart, 'frames'),
    },
    firstResultAtMs: round(at(firstResult)),
    totalMs: timings.totalMs,
    endedBy: timings.endedBy,
    bytesDownloaded: timings.bytesDownloaded,
    framesDecoded: timings.framesDecoded,
    framesInferred: timings.framesInferred,
    error: document.error ?? null,
    segments,
  };
}
