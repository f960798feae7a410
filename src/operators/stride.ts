import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import { ConfigError, codes } from '../core/errors.js';

/** Anything with an original frame number: decoded frames, and whatever later stages make of them. */
export interface Numbered {
  readonly frameNumber: number;
}

function checked(n: number): number {
  if (!Number.isInteger(n) || n <= 0) {
    throw new ConfigError(codes.config.invalidOption, [
      `stride: expected a positive integer, got ${JSON.stringify(n)}`,
    ]);
  }
  return n;
}

/**
 * The stride's decision as a predicate, for stages that must decide before a frame exists as pixels: the
 * decoder converts (and may even skip decoding) only the frames this keeps.
 */
export function strideKeeps(n: number): (frameNumber: number) => boolean {
  const every = checked(n);
  return (frameNumber) => frameNumber % every === 0;
}

/**
 * Keeps the frames whose original frame number is a multiple of `n` (FRAME_STRIDE).
 *
 * Decided from the frame number, never from arrival order, so a frame the decoder dropped does not shift
 * which frames are kept.
 *
 * ```text
 * frames:  -0-1-2-3-4-5-6-|
 * stride(3)
 * result:  -0-----3-----6-|
 * ```
 *
 * @example decoded$.pipe(stride(6))
 * @param n a positive integer; 1 keeps every frame.
 */
export function stride<T extends Numbered>(n: number): MonoTypeOperatorFunction<T> {
  const keeps = strideKeeps(n);
  return filter((frame: T) => keeps(frame.frameNumber));
}
