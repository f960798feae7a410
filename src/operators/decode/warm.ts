import { lastValueFrom, take, timeout, toArray, type OperatorFunction } from 'rxjs';
import { allocatorTuning } from '../../core/allocator.cjs';
import { touchHeap } from '../../media/beamcoder.js';
import { DEFAULT_PREPROCESS, warmUpLetterbox } from '../../media/letterbox.js';
import { httpSource } from '../../sources/http.js';
import { sharedPixelBuffers } from '../prefetch.js';
import type { ByteChunk } from '../../sources/types.js';
import type { DecodedFrame, DecodeOptions } from './options.js';
import { withWarmClip } from './warm-serve.js';

/** How long the warm-up may take before it is abandoned (it takes 50–100 ms; the caller logs the failure). */
const WARM_TIMEOUT_MS = 10_000;

/**
 * Heap touched at the end of the warm-up when the allocator is tuned: a run's first 720p decoder, filter
 * graph and frames take about 8 MB, a 1080p one's about twice that; 24 MiB covers a 1080p run's start with
 * room, and costs 6,100 page faults of set-up (about 70 ms at this VM's 11 µs a fault).
 */
export const WARM_HEAP_BYTES = 24 * 1024 * 1024;

/** What {@link warmDecode} did, in milliseconds of wall time. */
export interface WarmDecodeResult {
  readonly ms: number;
  /** Frames the warm-up decoded (2: frame 0 from the MP4 index, frame 1 from FFmpeg's demuxer). */
  readonly frames: number;
  /** Heap memory touched for the run's first decoders (0 where the allocator is not tuned: see allocator.cts). */
  readonly heapBytes: number;
}

/**
 * Runs a fresh process's first decode on a tiny bundled clip (160×90, 4 frames; warm-clip.ts), served over
 * loopback HTTP from this process and read with `httpSource` on a throwaway dispatcher, so that a real
 * run's first frame does not pay what only the first run of a process pays: undici's first connection
 * (its HTTP parser's WebAssembly compiled, its connector built), the first H.264 decoder (FFmpeg's static
 * tables), the first governor write and demuxer open, the first letterbox filter graph and resize kernels
 * (warmUpLetterbox), and V8 compiling the code on the way (source, sniffing, the MP4 index, the frame's
 * hand-over). Call it while preparing, off a run's clock; `decode` builds its operator with `options`
 * (imgSize, preprocess) so that the same conversion is warmed.
 *
 * The loopback server listens on 127.0.0.1, on a port of the system's choosing, for this call only.
 * `decode` is the operator's factory (src/operators/decode.ts exports `warmDecode(options)`, which passes it).
 */
export async function warmDecodeWith(
  decode: (options: DecodeOptions) => OperatorFunction<ByteChunk, DecodedFrame>,
  options: Pick<DecodeOptions, 'imgSize' | 'preprocess' | 'padValue'> = {},
): Promise<WarmDecodeResult> {
  const startedAt = performance.now();
  const frames: DecodedFrame[] = await withWarmClip('warm.mp4', (url, dispatcher) =>
    lastValueFrom(
      httpSource(url, { dispatcher }).pipe(
        decode({ ...options, keepFrame: () => true }),
        take(2),
        // Two frames of a 4.7 KB clip from this process: a wedged decoder must not hold set-up (and a
        // server's port) for ever. The unsubscription frees the decoder and the connection.
        timeout({ first: WARM_TIMEOUT_MS, each: WARM_TIMEOUT_MS }),
        toArray(),
      ),
    ),
  );
  // The OpenCV-equal resize's kernels last, compiled on small frames (the tiny clip's frames only
  // upscale), once the clip's run is over and torn down (its teardown runs a few tasks later): that run
  // switched off two of V8's one-way fast-path guarantees (`--trace-protector-invalidation`: an
  // ArrayBuffer detached, promise hooks), and each time V8 threw away all the code compiled on them, the
  // kernels compiled before it included (the first real 848×478 frame then ran in the interpreter: 19–42 ms
  // to pack against 3–7 ms compiled, in a fresh process).
  if ((options.preprocess ?? DEFAULT_PREPROCESS) === 'opencv') {
    await new Promise((resolve) => setTimeout(resolve, 1));
    warmUpLetterbox();
  }
  // The first frames' letterbox buffers, touched now (see PixelBufferPool.keepIdle); the warm clip's frames
  // took the idle ones and give them back.
  for (const frame of frames) {
    if (frame.image?.data.buffer instanceof SharedArrayBuffer) sharedPixelBuffers.give(frame.image.data);
  }
  const size = options.imgSize ?? 640;
  sharedPixelBuffers.keepIdle(3 * size * size, 2);
  // Last, the heap the run's first decoders will take, in (allocator.cts): a 720p frame 0 decoded in
  // 11–12 ms instead of 19–21 ms with its decoder's pages faulted in on the clock.
  const heapBytes = allocatorTuning().tuned && touchHeap(WARM_HEAP_BYTES) ? WARM_HEAP_BYTES : 0;
  return { ms: performance.now() - startedAt, frames: frames.length, heapBytes };
}
