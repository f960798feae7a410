/**
 * The decoder's threading, from the options: how many threads, which kind the stream starts with, and
 * where `threads: 'auto'` may switch from slice to frame threads (a packet a fresh decoder can start from).
 */
import { availableParallelism } from 'node:os';
import { packetPayload, type Beamcoder } from '../../media/beamcoder.js';
import { isDecoderEntryPoint, type NalFormat } from '../../media/nal.js';
import type { DecodeOptions } from './options.js';

type ThreadOptions = Pick<DecodeOptions, 'threads' | 'threadCount'>;

/** The decoder threads FFmpeg runs: threadCount, or for 0 what FFmpeg 5.1 chooses (cores + 1, at most 16). */
export function threadCount(options: ThreadOptions, cores = availableParallelism()): number {
  return options.threadCount || (cores > 1 ? Math.min(cores + 1, 16) : 1);
}

/** `threads: 'auto'` with more than one thread to give frames to. */
export function autoThreads(options: ThreadOptions, cores = availableParallelism()): boolean {
  return (options.threads ?? 'auto') === 'auto' && threadCount(options, cores) > 1;
}

/** The decoder threading the stream starts with; `auto` starts with slice threads. */
export function initialThreads(options: ThreadOptions): 'slice' | 'frame' {
  return options.threads === 'frame' ? 'frame' : 'slice';
}

/** Whether a decoder that has seen nothing before this packet decodes it and everything after it. */
export function isEntryPoint(codec: string, nal: NalFormat | undefined, packet: Beamcoder.Packet): boolean {
  if (!packet.flags?.KEY) return false;
  if (codec === 'h264' || codec === 'hevc') {
    return nal !== undefined && isDecoderEntryPoint(codec, packetPayload(packet), nal);
  }
  // Their key frames reset every reference.
  return codec === 'vp8' || codec === 'vp9' || codec === 'av1';
}
