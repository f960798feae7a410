import { codes } from '../core/errors.js';
import type { DiagnoseBreakdown, Segment, SegmentName } from './breakdown.js';

/** One thing to change, and why. */
export interface Advice {
  /** What the numbers show. */
  readonly finding: string;
  /** What to change. */
  readonly change: string;
  /** The options, environment variables or tools `change` names (for scripts, and tests). */
  readonly settings: readonly string[];
}

/** Which part dominated the time to first result, and what to change. */
export interface Verdict {
  readonly firstResultMs: number | null;
  /** The longest part of the time to first result (or, without a result, the part the run was stuck in). */
  readonly dominant: SegmentName | null;
  readonly dominantMs: number | null;
  /** `dominantMs` as a fraction of the time to first result (of the whole run without one). */
  readonly share: number | null;
  readonly headline: string;
  /** The dominant part's advice first, then other findings worth acting on. */
  readonly advice: readonly Advice[];
}

export const SEGMENT_LABELS: Readonly<Record<SegmentName, string>> = {
  connection: 'connecting (DNS, TCP, TLS)',
  server: 'waiting for the server (TTFB)',
  download: 'download until decoding could start',
  decode: 'decoding the first frame',
  batch: 'waiting for a batch',
  inference: 'the first model run',
};

const ms = (value: number | null): string => (value === null ? '–' : `${Math.round(value)} ms`);
const bytes = (value: number | null): string =>
  value === null ? '? bytes' : value >= 1e6 ? `${(value / 1e6).toFixed(2)} MB` : `${value} bytes`;

const warmAdvice = (finding: string): Advice => ({
  finding,
  change:
    'the server is slow to answer: warm the connection before the clock starts (one request to the host ' +
    'leaves a kept-alive socket; `firstframe serve` re-warms its hosts every FIRSTFRAME_WARM_INTERVAL_S) ' +
    'or choose a host closer to this machine (a nearer CDN edge)',
  settings: ['warm connection', 'FIRSTFRAME_WARM_INTERVAL_S', 'closer host'],
});

const faststartAdvice = (b: DiagnoseBreakdown, finding: string): Advice =>
  b.layout.rangeHonoured === false
    ? {
        finding: `${finding}; the server ignores Range, so the moov arrives only with the last byte`,
        change:
          're-encode with `ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4` (moov first): without ' +
          'Range no strategy can fetch the moov early',
        settings: ['-movflags +faststart'],
      }
    : {
        finding,
        change:
          're-encode with `ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4` (moov first), or keep ' +
          'http-stream (the default profile: firstframe fetches the moov with a Range request while the ' +
          'rest streams)',
        settings: ['-movflags +faststart', 'http-stream'],
      };

function downloadAdvice(b: DiagnoseBreakdown, segment: Segment): Advice {
  const p = b.pipeline;
  if (p.downloadFirst) {
    const what = p.partialMb !== null ? `the first ${p.partialMb} MiB` : 'the whole file';
    return {
      finding: `${p.source} waits for ${what} (${bytes(b.bytesDownloaded)} here) before decoding: ${ms(segment.ms)} after the first byte`,
      change:
        'decode while downloading: the default profile (http-stream), STREAMING_DOWNLOAD=1 and ' +
        'PARTIAL_DOWNLOAD=0, or `--strategy stream`',
      settings: ['STREAMING_DOWNLOAD', 'PARTIAL_DOWNLOAD', '--strategy stream'],
    };
  }
  if (b.layout.moovAtEnd) {
    const where = b.layout.moovOffset === null ? 'at the end' : `at byte ${b.layout.moovOffset}`;
    const fetch = b.layout.moovFetchMs === null ? '' : ` (fetched in ${ms(b.layout.moovFetchMs)})`;
    return faststartAdvice(
      b,
      `the moov box is ${where}, after the media data${fetch}: decoding could start ${ms(segment.ms)} after the first byte`,
    );
  }
  if (b.decoder.startHeldMs !== null && b.decoder.startHeldMs >= segment.ms / 2) {
    return {
      finding: `the decoder's start was held ${ms(b.decoder.startHeldMs)} for ${bytes(p.minStartBytes)} (STREAM_MIN_START_BYTES)`,
      change: 'lower STREAM_MIN_START_BYTES (0: start with the first bytes) or STREAM_BUFFER_TIMEOUT_S',
      settings: ['STREAM_MIN_START_BYTES', 'STREAM_BUFFER_TIMEOUT_S'],
    };
  }
  const needed = b.decoder.firstFrameFromIndex
    ? 'frame 0 ends'
    : `the container header${b.layout.moovBytes === null ? '' : `, moov ${bytes(b.layout.moovBytes)}`}`;
  return {
    finding: `decoding could start ${ms(segment.ms)} after the first byte, at byte ${b.decoder.bytesBeforeStart ?? '?'} (${needed})`,
    change:
      'the link or the header is the limit: a closer host, or a file with a smaller header (a shorter clip, ' +
      'fewer tracks, or a fragmented MP4 whose first fragment is small)',
    settings: ['closer host', 'smaller moov'],
  };
}

function segmentAdvice(b: DiagnoseBreakdown, segment: Segment): Advice {
  const p = b.pipeline;
  switch (segment.name) {
    case 'connection': {
      const n = b.network;
      const parts = [
        n.dnsMs === null ? null : `DNS ${ms(n.dnsMs)}`,
        n.connectMs === null ? null : `TCP ${ms(n.connectMs)}`,
        n.tlsMs === null ? null : `TLS ${ms(n.tlsMs)}`,
      ].filter((part): part is string => part !== null);
      return warmAdvice(
        `connecting took ${ms(segment.ms)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''} before the request went out`,
      );
    }
    case 'server':
      return warmAdvice(`the first byte came ${ms(segment.ms)} after the connection was up`);
    case 'download':
      return downloadAdvice(b, segment);
    case 'decode':
      return {
        finding:
          `the first frame came ${ms(segment.ms)} after decoding could start` +
          (b.decoder.codec ? ` (${b.decoder.codec} ${b.decoder.width}×${b.decoder.height})` : ''),
        change:
          'a smaller IMG_SIZE makes the first frame’s conversion cheaper; on a GPU, USE_NVDEC=1 decodes ' +
          'on NVDEC (NVDEC_OUT_W/NVDEC_OUT_H scale there)',
        settings: ['IMG_SIZE', 'USE_NVDEC'],
      };
    case 'batch': {
      const changes: string[] = [];
      const settings: string[] = [];
      if (!p.earlyFlushFirstFrame) {
        changes.push('send the first frame alone: EARLY_FLUSH_FIRST_FRAME=1');
        settings.push('EARLY_FLUSH_FIRST_FRAME');
      }
      if (!p.rampUp) {
        changes.push('start with small batches: RAMP_UP=1 (RAMP_UP_FIRST_BATCH=N)');
        settings.push('RAMP_UP');
      }
      changes.push(`a smaller BATCH_SIZE (now ${p.batchSize})`);
      settings.push('BATCH_SIZE');
      return {
        finding:
          `the first result waited ${ms(segment.ms)} for a batch after the first frame` +
          (b.batch.firstSize === null
            ? ''
            : ` (first batch: ${b.batch.firstSize} frames, ${b.batch.firstReason})`),
        change: changes.join('; '),
        settings,
      };
    }
    case 'inference': {
      const frames = b.inference.firstRunFrames;
      const settings = ['IMG_SIZE', 'DEVICE', '--model'];
      let change =
        `a smaller IMG_SIZE (now ${p.imgSize}), DEVICE=cuda where there is a GPU` +
        `${p.device && p.device !== 'cpu' ? ` (now ${p.device})` : ''}, or a smaller model (--model)`;
      if (frames !== null && frames > 1) {
        change += `; the first run had ${frames} frames: EARLY_FLUSH_FIRST_FRAME=1 or a smaller BATCH_SIZE gives the first frame a run of its own`;
        settings.push('EARLY_FLUSH_FIRST_FRAME', 'BATCH_SIZE');
      }
      return {
        finding: `the first model run took ${ms(segment.ms)} for ${frames ?? '?'} frame(s) at ${p.imgSize} px on ${p.device ?? 'cpu'}`,
        change,
        settings,
      };
    }
  }
}

function errorAdvice(b: DiagnoseBreakdown, code: string, message: string): Advice {
  const finding = `${code}: ${message}`;
  switch (code) {
    case codes.source.rangeIgnored:
      return {
        finding,
        change: 'the server ignores Range: use http-stream (PARTIAL_DOWNLOAD=0, the default profile)',
        settings: ['PARTIAL_DOWNLOAD', 'http-stream'],
      };
    case codes.source.dns:
    case codes.source.connectRefused:
    case codes.source.connectTimeout:
    case codes.source.connection:
    case codes.source.invalidUrl:
    case codes.source.unsupportedScheme:
      return { finding, change: 'check the URL and that its host is reachable from here', settings: [] };
    case codes.source.httpStatus:
      return {
        finding,
        change: 'the server refused the request: check the URL (and its signature)',
        settings: [],
      };
    case codes.source.stalled:
    case codes.source.headersTimeout:
    case codes.source.bodyShort:
      return warmAdvice(`${finding} (the server stopped sending)`);
    case codes.decode.moovMissing:
      return faststartAdvice(b, finding);
    default:
      return { finding, change: 'see the message: the run failed before it had a result', settings: [] };
  }
}

/** The part the run was in when it ended without a result: the one after the last milestone it reached. */
function stuckSegment(b: DiagnoseBreakdown): Segment {
  const order: SegmentName[] = ['connection', 'server', 'download', 'decode', 'batch', 'inference'];
  const last = b.segments[b.segments.length - 1];
  const from = last?.toMs ?? 0;
  const next = last === undefined ? 'connection' : (order[order.indexOf(last.name) + 1] ?? 'inference');
  return { name: next, fromMs: from, toMs: b.totalMs, ms: Math.max(0, b.totalMs - from) };
}

/**
 * Says which part of a diagnosed run dominated its time to first result, and what to change, naming the
 * option or environment variable. Pure: the same breakdown always gives the same verdict.
 *
 * - connection or server (TTFB) → warm the connection, a closer host;
 * - download, moov at the end → `-movflags +faststart`, or http-stream's Range fetch of the moov;
 * - download with a download-first strategy → stream (STREAMING_DOWNLOAD, PARTIAL_DOWNLOAD);
 * - decode → IMG_SIZE, USE_NVDEC; batch → EARLY_FLUSH_FIRST_FRAME, RAMP_UP, BATCH_SIZE;
 * - inference → IMG_SIZE, DEVICE=cuda, a smaller model, a first batch of one frame;
 * - and whatever else stands out: Range ignored under a partial strategy, a moov at the end, a model
 *   set-up longer than the run.
 *
 * @example
 * const { headline, advice } = verdict(breakdown);
 */
export function verdict(b: DiagnoseBreakdown): Verdict {
  const advice: Advice[] = [];
  const firstResultMs = b.firstResultAtMs;
  let dominant: Segment | undefined;
  let headline: string;
  let share: number | null = null;

  if (firstResultMs === null) {
    if (b.error) {
      advice.push(errorAdvice(b, b.error.code, b.error.message));
      headline = `no result: the run failed (${b.error.code})`;
    } else {
      dominant = stuckSegment(b);
      share = b.totalMs > 0 ? dominant.ms / b.totalMs : null;
      headline =
        `no result in ${ms(b.totalMs)} (ended by ${b.endedBy}): the run was still ${SEGMENT_LABELS[dominant.name]} ` +
        `after ${ms(dominant.ms)}`;
      advice.push(segmentAdvice(b, dominant));
      if (b.endedBy === 'budget') {
        advice.push({
          finding: `the budget (${b.pipeline.budgetS ?? '?'} s) ran out first`,
          change:
            'a longer TIME_BUDGET_S, or START_BUDGET_AFTER_FIRST_FRAME=1 to start it at the first frame',
          settings: ['TIME_BUDGET_S', 'START_BUDGET_AFTER_FIRST_FRAME'],
        });
      }
    }
  } else {
    dominant = b.segments.reduce<Segment | undefined>(
      (longest, segment) => (longest === undefined || segment.ms > longest.ms ? segment : longest),
      undefined,
    );
    if (dominant) {
      share = firstResultMs > 0 ? dominant.ms / firstResultMs : null;
      headline =
        `first result after ${ms(firstResultMs)}; the largest part is ${SEGMENT_LABELS[dominant.name]}: ` +
        `${ms(dominant.ms)}${share === null ? '' : ` (${Math.round(share * 100)}%)`}`;
      advice.push(segmentAdvice(b, dominant));
    } else {
      headline = `first result after ${ms(firstResultMs)}`;
    }
  }

  const said = new Set(advice.flatMap((item) => item.settings));
  if (b.layout.moovAtEnd && !said.has('-movflags +faststart')) {
    advice.push(faststartAdvice(b, 'the moov box is at the end of the file'));
  }
  if (b.layout.rangeHonoured === false && ['http-partial', 'http-ranges'].includes(b.pipeline.source)) {
    advice.push({
      finding: `the server ignores Range, and ${b.pipeline.source} relies on it (the whole body comes, and is cut)`,
      change: 'use http-stream: PARTIAL_DOWNLOAD=0 or the default profile',
      settings: ['PARTIAL_DOWNLOAD', 'http-stream'],
    });
  }
  if (firstResultMs !== null && b.model.setupMs > firstResultMs) {
    advice.push({
      finding: `loading and warming up the model took ${ms(b.model.setupMs)}, more than the run's time to first result`,
      change:
        'it is paid once per process, before the clock starts: keep one process for many videos ' +
        '(`firstframe serve`) rather than one per video',
      settings: ['firstframe serve'],
    });
  }
  return {
    firstResultMs,
    dominant: dominant?.name ?? null,
    dominantMs: dominant?.ms ?? null,
    share: share === null ? null : Math.round(share * 1000) / 1000,
    headline,
    advice,
  };
}
