import type { Dispatcher } from 'undici';
import { withWarmClip } from '../operators/decode/warm-serve.js';

/** How long the prime may take before it is cancelled (it takes 100–300 ms on a 2-core CPU). */
export const PRIME_TIMEOUT_MS = 15_000;

/** What a prime run answered, as the run document says it. */
export interface PrimeRun {
  readonly framesInferred: number;
  readonly endedBy: string;
  readonly error?: { code: string };
}

/** What {@link primeWith} did. */
export interface PrimeResult extends PrimeRun {
  /** Wall time, loopback server and all. */
  readonly ms: number;
}

/**
 * Runs a prepared pipeline once on the bundled warm-up clip (160×90, 4 H.264 frames: warm-clip.ts), served
 * over loopback HTTP from this process and fetched on a throwaway dispatcher, so that what only a
 * pipeline's first run pays happens at prepare, off any run's clock: the stages after decode (the stride's
 * plan, the batch timer, the infer stage's pooled input and output buffers in the session worker, the head's
 * decoding, tracking, fill, the sink, the document) compiled and allocated once, and the model's first run
 * on a decoded picture instead of the warm-up's zeros.
 *
 * `run` is the pipeline's own run (what `PreparedPipeline.run` does); it gets the loopback URL, the
 * dispatcher and a signal that cancels it after {@link PRIME_TIMEOUT_MS}. A failed prime rejects; the caller
 * decides what that means (preparePipeline logs it).
 */
export async function primeWith(
  run: (target: string, options: { dispatcher: Dispatcher; signal: AbortSignal }) => Promise<PrimeRun>,
): Promise<PrimeResult> {
  const startedAt = performance.now();
  const answer = await withWarmClip('prime.mp4', (url, dispatcher) =>
    run(url, { dispatcher, signal: AbortSignal.timeout(PRIME_TIMEOUT_MS) }),
  );
  return {
    ms: performance.now() - startedAt,
    framesInferred: answer.framesInferred,
    endedBy: answer.endedBy,
    ...(answer.error ? { error: { code: answer.error.code } } : {}),
  };
}
