import { createRequire } from 'node:module';
import type * as Beamcoder from 'beamcoder';

export type { Beamcoder };

let loaded: typeof Beamcoder | undefined;

/**
 * beamcoder, loaded once, quietly. Its index.js prints a licence splash and the FFmpeg version with
 * console.log when it is first required; stdout may be carrying a JSON result and stderr a one-line error
 * that tools parse, so the splash is dropped (FF_BEAMCODER_BANNER=1 sends it to stderr; README states the
 * licence). FFmpeg's own log is turned down to fatal errors: decode problems reach users as typed errors and
 * events, not as library chatter (FF_FFMPEG_LOG_LEVEL changes it).
 */
export function beamcoder(): typeof Beamcoder {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const log = console.log;
  const showBanner = process.env.FF_BEAMCODER_BANNER === '1';
  console.log = (...args: unknown[]) => {
    if (showBanner) process.stderr.write(`${args.map(String).join(' ')}\n`);
  };
  try {
    loaded = require('beamcoder') as typeof Beamcoder;
  } finally {
    console.log = log;
  }
  loaded.logging(process.env.FF_FFMPEG_LOG_LEVEL ?? 'fatal');
  return loaded;
}

/**
 * Frees a decoder's threads, frame pool and coding state now instead of whenever the collector finalizes
 * it: `decoder.close()`, which patches/beamcoder+0.7.1.patch adds (without it, this does nothing). No
 * decode or flush of this decoder may be in progress; frames it returned stay valid.
 */
export function closeDecoder(decoder: Beamcoder.Decoder): void {
  (decoder as unknown as { close?: () => void }).close?.();
}

/**
 * Like closeDecoder, but FFmpeg's part (joining the decoder's threads: up to hundreds of milliseconds
 * under load) runs on a libuv worker: `decoder.closeAsync()`, added by the patch; the main thread only
 * queues it. The decoder object is held until the work is done. Never for a decoder that holds packets
 * made from JavaScript memory (their buffers must be freed on the main thread): close those with
 * closeDecoder once flushed. Resolves when closed; never rejects (a close that fails frees nothing more).
 */
export function closeDecoderOffThread(decoder: Beamcoder.Decoder): Promise<void> {
  const native = decoder as unknown as { closeAsync?: () => Promise<void> };
  if (!native.closeAsync) {
    closeDecoder(decoder);
    return Promise.resolve();
  }
  return native.closeAsync().catch(() => undefined);
}

/** FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE: zero bytes every packet buffer carries after its data. */
const PACKET_PADDING = 64;

/**
 * The compressed bytes of a packet. beamcoder 0.7.1's `packet.data` is the packet's whole AVBuffer: the
 * data, FFmpeg's padding after it and, for a Matroska block, the block header before it (measured: 4 bytes
 * before, 64 after). The data is the `size` bytes that end where the padding starts.
 */
export function packetPayload(packet: Beamcoder.Packet): Uint8Array {
  const buffer = packet.data;
  const offset = buffer.byteLength - packet.size - PACKET_PADDING;
  return offset > 0 ? buffer.subarray(offset, offset + packet.size) : buffer.subarray(0, packet.size);
}

/**
 * Mallocs `bytes` on the main thread, writes each of its pages and frees it at once (the patched beamcoder's
 * `touchHeap`: a block that JavaScript could see would be freed only when collected). With glibc's allocator
 * keeping freed memory in one heap (src/core/allocator.cts), the pages stay in, and the first decoders and
 * filter graphs of a run take them instead of faulting fresh pages in on the clock. Returns whether it was
 * done: false where the build has no `touchHeap` or the block could not be had.
 */
export function touchHeap(bytes: number): boolean {
  const native = beamcoder() as unknown as { touchHeap?: (bytes: number) => boolean };
  return native.touchHeap?.(bytes) ?? false;
}
