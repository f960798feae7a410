import { strideLine } from '../operators/stride-budget.js';
import { isUrl } from '../pipelines/operators.js';
import { coverageLine } from '../pipelines/coverage.js';
import type { DiagnoseDocument } from './diagnose.js';
import { cellMs, formatTable } from './table.js';
import { SEGMENT_LABELS } from './verdict.js';

const yesNo = (value: boolean | null, yes: string, no: string, unknown = 'unknown') =>
  value === null ? unknown : value ? yes : no;
const baseName = (path: string | null) => (path === null ? 'model' : (path.split('/').pop() ?? path));

/**
 * `firstframe diagnose`'s human output: what ran, the stage table (when each stage happened and how long it
 * took, since the run's start), the time to first result by part, and the verdict.
 */
export function formatDiagnosis({ breakdown: b, verdict: v, coverage, stride }: DiagnoseDocument): string {
  const p = b.pipeline;
  const n = b.network;
  const l = b.layout;
  const d = b.decoder;
  const network = isUrl(b.target);
  // A URL's stage without a time: the run never got there, or the stage does not apply.
  const absent = (applies: string) => (!network ? 'local file' : n.status === null ? 'not reached' : applies);
  const batchWords = [
    `batch ${p.batchSize}`,
    ...(p.rampUp ? ['ramp-up'] : []),
    ...(p.earlyFlushFirstFrame ? ['first frame alone'] : []),
  ];
  const pipeline = [
    p.source + (p.partialMb !== null ? ` ${p.partialMb} MiB` : ''),
    p.decode,
    `${p.imgSize} px`,
    // The stride the run used (a fit-budget plan may change it as batches come in), else the document's.
    stride ? strideLine(stride) : `stride ${p.stride}`,
    batchWords.join(', '),
    `${baseName(b.model.path)} on ${b.model.device ?? 'cpu'}`,
    `budget ${p.budgetS === null ? 'none' : `${p.budgetS} s`}`,
  ].join('; ');

  const layout = [
    l.layout ?? 'unknown layout',
    ...(l.mdatOffset !== null ? [`mdat at ${l.mdatOffset}`] : []),
    ...(l.moovOffset !== null
      ? [`moov at ${l.moovOffset}${l.moovBytes !== null ? ` (${l.moovBytes} bytes)` : ''}`]
      : []),
    yesNo(l.fragmented, 'fragmented', 'not fragmented', 'fragmented?'),
    `${l.totalBytes ?? '?'} bytes`,
    `Range ${yesNo(l.rangeHonoured, 'honoured', 'ignored', 'not checked')}${l.rangeCheckedBy === 'probe' ? ' (probe after the run)' : ''}`,
  ].join(', ');

  const rows: string[][] = [
    [
      'model load + warm-up',
      '–',
      cellMs(b.model.setupMs),
      `${baseName(b.model.path)} on ${b.model.device ?? 'cpu'}, before the run's clock`,
    ],
    [
      'DNS',
      '–',
      cellMs(n.dnsMs),
      n.dnsMs === null ? absent('no lookup (an IP literal)') : (n.remoteAddress ?? ''),
    ],
    [
      'connect (TCP)',
      '–',
      cellMs(n.connectMs),
      n.connectMs === null ? absent('no new connection') : (n.remoteAddress ?? ''),
    ],
    [
      'TLS',
      '–',
      cellMs(n.tlsMs),
      n.tlsMs !== null
        ? `ALPN ${n.alpnProtocol || 'none'}`
        : /^https:/i.test(b.target)
          ? absent('no new connection')
          : absent('plain HTTP'),
    ],
    [
      'time to first byte',
      cellMs(n.firstByteAtMs),
      '–',
      n.status === null ? '' : `HTTP ${n.status}, headers at ${cellMs(n.headersAtMs)} ms`,
    ],
    ['container layout', '–', '–', layout],
    ...(l.moovFetchMs !== null
      ? [
          [
            'moov fetch (Range)',
            '–',
            cellMs(l.moovFetchMs),
            'the moov at the end, fetched while the rest streamed',
          ],
        ]
      : []),
    [
      'bytes before decoding',
      '–',
      '–',
      d.bytesBeforeStart === null
        ? 'decoding never started'
        : d.firstFrameFromIndex && d.frame0
          ? `${d.bytesBeforeStart}: frame 0 (bytes ${d.frame0.offset}–${d.bytesBeforeStart - 1}) from the MP4 index`
          : `≤ ${d.bytesBeforeStart} handed to FFmpeg before its open; ${d.sourceBytesAtOpen ?? '?'} received by then`,
    ],
    ...(d.startHeldMs !== null
      ? [['start hold', '–', cellMs(d.startHeldMs), `STREAM_MIN_START_BYTES ${p.minStartBytes ?? ''}`]]
      : []),
    [
      'decoder start',
      cellMs(d.startAtMs),
      '–',
      d.firstFrameFromIndex ? 'frame 0 decoded alone, before the demuxer opened' : 'the demuxer opened',
    ],
    [
      'demuxer open',
      cellMs(d.openAtMs),
      cellMs(d.openMs),
      (d.codec === null ? '' : `${d.codec} ${d.width}×${d.height}; `) +
        `≤ ${d.bytesFedAtOpen ?? '?'} bytes handed to FFmpeg, ${d.sourceBytesAtOpen ?? '?'} received by then`,
    ],
    ['first frame', cellMs(d.firstFrameAtMs), '–', ''],
    [
      'first batch',
      cellMs(b.batch.firstAtMs),
      '–',
      b.batch.firstSize === null ? '' : `${b.batch.firstSize} frame(s), ${b.batch.firstReason}`,
    ],
    [
      'first inference',
      cellMs(b.inference.firstRunStartAtMs),
      cellMs(b.inference.firstRunMs),
      b.inference.firstRunFrames === null ? '' : `${b.inference.firstRunFrames} frame(s)`,
    ],
    ['first result', cellMs(b.firstResultAtMs), '–', ''],
    [
      'total',
      cellMs(b.totalMs),
      '–',
      `ended by ${b.endedBy}; ${b.framesDecoded} frames decoded, ${b.framesInferred} inferred, ${b.bytesDownloaded} bytes`,
    ],
  ];

  const lines = [
    `firstframe diagnose: ${b.target}`,
    `pipeline: ${p.name}: ${pipeline}`,
    '',
    formatTable(['stage', 'at (ms)', 'took (ms)', 'detail'], rows, ['left', 'right', 'right', 'left']),
    // Documents written before coverage was reported have none.
    ...(coverage ? ['', `coverage: ${coverageLine(coverage)}`] : []),
  ];
  const total = b.firstResultAtMs;
  if (total !== null && total > 0 && b.segments.length > 0) {
    lines.push('', 'time to first result, by part:');
    const width = 30;
    lines.push(
      formatTable(
        ['part', 'ms', 'share', ''],
        b.segments.map((segment) => [
          SEGMENT_LABELS[segment.name],
          cellMs(segment.ms),
          `${Math.round((segment.ms / total) * 100)}%`,
          '█'.repeat(Math.round((segment.ms / total) * width)),
        ]),
        ['left', 'right', 'right', 'left'],
      )
        .split('\n')
        .slice(1)
        .map((line) => `  ${line}`)
        .join('\n'),
    );
  }
  if (b.error) lines.push('', `error: ${b.error.code}: ${b.error.message}`);
  lines.push('', `verdict: ${v.headline}`);
  for (const item of v.advice) lines.push(`  - ${item.finding}`, `    → ${item.change}`);
  return `${lines.join('\n')}\n`;
}
