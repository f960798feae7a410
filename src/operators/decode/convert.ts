import { DecodeError, codes } from '../../core/errors.js';
import type { Beamcoder } from '../../media/beamcoder.js';
import {
  LETTERBOX_PAD_VALUE,
  letterboxFilterSpec,
  letterboxGeometry,
  letterboxOutputFormat,
  packLetterbox,
  prepareLetterbox,
  type LetterboxGeometry,
  type Preprocess,
  type LetterboxedImage,
} from '../../media/letterbox.js';
import { sharedPixelBuffers, type PrefetchGate, type PrefetchSlot } from '../prefetch.js';
import type { SessionContext } from './context.js';

/**
 * The largest picture a graph is warmed with (see PictureConverter.prepare): 3840×2160. The size comes
 * from the MP4 index, before any frame: a hostile sample entry may claim 65535×65535, which without
 * resolution limits would have a libuv thread convert gigabytes of blank picture (8000×8000: 1.6 s and
 * 280 MB) for nothing. Larger streams are converted cold.
 */
const WARM_MAX_PIXELS = 3840 * 2160;

/** What the conversion is told once, when the session starts. */
export interface ConvertOptions {
  /** Side of the square model input. */
  readonly imgSize: number;
  readonly padValue: number | undefined;
  /** How the picture becomes the model's input (src/media/letterbox.ts); default 'opencv'. */
  readonly preprocess?: Preprocess;
  /** The prefetch gate whose slots lend their pixel buffers. */
  readonly gate: PrefetchGate | undefined;
}

/**
 * Picture conversion: a decoded frame letterboxed to the model's square input in planar RGB (FFmpeg's
 * scaler in a filter graph, then {@link packLetterbox}), into its prefetch slot's buffer when it holds one.
 * Owns the filter graph (one per frame size and pixel format, built ahead of the first frame when the
 * stream's parameters are known) and the filter call in progress, which release waits for.
 */
export class PictureConverter {
  /** The filter call in progress. */
  filtering: Promise<unknown> = Promise.resolve();
  /** The graph for the current frame size and pixel format, with the letterbox geometry it makes. */
  private filterer: Promise<{ filterer: Beamcoder.Filterer; geometry: LetterboxGeometry }> | undefined;
  private filterKey = '';

  /** `timeBase`: the stream's, when known, for the filter graph's input. */
  constructor(
    private readonly ctx: SessionContext,
    private readonly bc: typeof Beamcoder,
    private readonly options: ConvertOptions,
    private readonly timeBase: () => readonly [number, number] | undefined,
  ) {}

  /**
   * Builds the filter graph for frames of this size and pixel format ahead of the first frame (a few ms
   * off its path), and with `warm` runs a blank frame through it (see warmFilterer): only while nothing is
   * being decoded beside it, as the MP4 index knows; a failure surfaces at the first convert.
   */
  prepare(width: number, height: number, format: string, warm = false): void {
    this.filtererFor(width, height, format, warm).catch(() => undefined);
  }

  /** Lets the filter graph go (release: the collector frees it). */
  drop(): void {
    this.filterer = undefined;
  }

  /**
   * The letterbox filter graph for frames of this size and pixel format, built once. The index and the
   * demuxer ask for it (prepare) with the stream's parameters, so that building it (a few ms) is off the
   * first frame's path.
   */
  private filtererFor(
    width: number,
    height: number,
    format: string,
    warm = false,
  ): Promise<{ filterer: Beamcoder.Filterer; geometry: LetterboxGeometry }> {
    const key = `${width}x${height}:${format}`;
    if (this.filterer && key === this.filterKey) return this.filterer;
    this.filterKey = key;
    const geometry = letterboxGeometry(width, height, this.options.imgSize, this.options.preprocess);
    try {
      prepareLetterbox(geometry);
    } catch {
      // A size no resize can take (0 from a hostile sample entry): the first convert says so, typed.
    }
    const timeBase = this.timeBase() ?? [1, 1];
    this.filterer = letterboxFilterer(
      this.bc,
      { width, height, format, timeBase },
      geometry,
      this.options.padValue ?? LETTERBOX_PAD_VALUE,
    ).then(async (filterer) => {
      if (warm && width * height <= WARM_MAX_PIXELS)
        await warmFilterer(this.bc, filterer, { width, height, format });
      // The geometry travels with its own graph: a graph built for another size (prepare's, from the
      // index) that is ready after this one must not set the geometry this one's frames are packed with.
      return { filterer, geometry };
    });
    // Release waits for the build and the warm-up as for a filter call.
    this.filtering = this.filterer.catch(() => undefined);
    return this.filterer;
  }

  /**
   * The frame letterboxed for the model, into its prefetch slot's buffer when it holds one (reused from
   * frame to frame: see PrefetchGate.pixels), else into an idle buffer of the shared pool (warmDecode leaves
   * two, already touched), else into a new one; the frame keeps a buffer that is not a slot's.
   */
  async convert(
    frame: Beamcoder.Frame,
    frameNumber: number,
    slot: PrefetchSlot | undefined,
  ): Promise<LetterboxedImage | undefined> {
    try {
      const { filterer, geometry } = await this.filtererFor(
        frame.width,
        frame.height,
        frame.format as string,
      );
      const filtering = filterer.filter([frame]);
      this.filtering = filtering.catch(() => undefined);
      const [result] = await filtering;
      const converted = result?.frames[0];
      if (!converted) throw new Error('the filter graph returned no frame');
      if (!this.ctx.active) return undefined;
      const bytes = 3 * geometry.size * geometry.size;
      const target =
        (slot && this.options.gate ? this.options.gate.pixels(slot, bytes) : undefined) ??
        sharedPixelBuffers.takeIdle(bytes);
      // 'opencv': full-size bgr24 that the resize letterboxes; 'stream-colour': the graph's letterboxed gbrp.
      // padValue reaches the padding whichever side makes it.
      const image = packLetterbox(
        converted.data,
        converted.linesize,
        geometry,
        target,
        letterboxOutputFormat(geometry),
        this.options.padValue ?? LETTERBOX_PAD_VALUE,
      );
      // The converted pixels go back to the filter graph's pool now rather than at collection, as the
      // decoder's do in onFrame: the next frame is scaled into warm memory.
      (converted as unknown as { data: null }).data = null;
      return image;
    } catch (error) {
      if (!this.ctx.active) return undefined;
      this.ctx.fail(
        new DecodeError(
          codes.decode.convert,
          `${this.ctx.where()}: converting frame ${frameNumber} for the model failed: ${(error as Error).message}`,
          {
            url: this.ctx.resource?.url,
            frameNumber,
          },
        ),
      );
      return undefined;
    }
  }
}

/**
 * FFmpeg's filter graph that makes a frame of `source`'s size and pixel format into what `geometry`'s
 * preprocess packs: full-size bgr24 for 'opencv' (the source format picks the conversion OpenCV would make:
 * range, nv12 unpacked first), the letterboxed gbrp for 'stream-colour'.
 */
export function letterboxFilterer(
  bc: typeof Beamcoder,
  source: { width: number; height: number; format: string; timeBase: readonly [number, number] },
  geometry: LetterboxGeometry,
  padValue: number = LETTERBOX_PAD_VALUE,
): Promise<Beamcoder.Filterer> {
  const { width, height, format, timeBase } = source;
  return bc.filterer({
    filterType: 'video',
    inputParams: [
      { width, height, pixelFormat: format, timeBase: [timeBase[0], timeBase[1]], pixelAspect: [1, 1] },
    ],
    outputParams: [{ pixelFormat: letterboxOutputFormat(geometry) }],
    filterSpec: letterboxFilterSpec(geometry, padValue, format),
    // One thread (patches/beamcoder: `threads`): FFmpeg's default starts a pool of one per core that lives
    // as long as the graph, which only the collector frees, and its start delays the first frame. Measured
    // on a 720p frame to 640: 1.5 ms for the first frame on one thread against 3.5 ms with the pool, then
    // 1.1–1.4 ms against 0.6–1.2 ms.
    threads: 1,
  } as unknown as Parameters<(typeof Beamcoder)['filterer']>[0]);
}

/**
 * Runs a blank frame of the stream's size through a new graph, so that the first real frame does not pay
 * what only a graph's first frame pays: the scaler's lazily made buffers and the pages of the output
 * frame's pool, touched for the first time (a full-size bgr24 frame is 2.7 MB at 720p). Measured on the
 * 720p bench clip in a fresh process: frame 0's filter call took 9.2 ms, against 0.5–0.9 ms on a warmed graph.
 * Built from the index, the graph is warmed while frame 0's bytes are still on their way. The output goes
 * back to the graph's pool at once (its pages stay touched); a failure leaves the graph as it was.
 */
async function warmFilterer(
  bc: typeof Beamcoder,
  filterer: Beamcoder.Filterer,
  size: { width: number; height: number; format: string },
): Promise<void> {
  // Its pixels are whatever the allocation held: only the graph's work on them matters.
  let blank: Beamcoder.Frame | undefined;
  try {
    blank = bc.frame({ ...size, pts: 0 }).alloc();
    const [result] = await filterer.filter([blank]);
    for (const frame of result?.frames ?? []) (frame as unknown as { data: null }).data = null;
  } catch {
    // A graph that cannot take a blank frame fails the same way at the first real one, typed there.
  } finally {
    if (blank) (blank as unknown as { data: null }).data = null;
  }
}
