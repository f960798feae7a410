import { closeDecoder, closeDecoderOffThread, type Beamcoder } from '../../media/beamcoder.js';

const NO_FRAMES = { type: 'frames', frames: [], total_time: 0 } as unknown as Beamcoder.DecodedFrames;

/** How decoders are closed: beamcoder's calls, replaced in tests. */
export interface DecoderClosers {
  /** On the main thread, in the calling task. */
  readonly onMainThread: (decoder: Beamcoder.Decoder) => void;
  /** On a libuv thread. */
  readonly offThread: (decoder: Beamcoder.Decoder) => unknown;
}

const beamcoderClosers: DecoderClosers = { onMainThread: closeDecoder, offThread: closeDecoderOffThread };

/**
 * Decoders' lifetimes and the order of their calls: every decoder the session makes (the main one, the
 * throwaway ones for frame 0, the slice-threaded one retired at the switch to frame threads) is made here,
 * and decoder calls go through one queue ({@link queue}), one after the other, none once the session is over.
 *
 * A decoder holds its threads and frame pool (tens of MB at 1080p) until closed, and V8 cannot see that
 * memory, so waiting for the collector let many pile up. Each one is closed as soon as nothing of its own
 * is queued any more, and release() closes the rest.
 */
export class Decoders {
  /**
   * The last decoder call queued, and the throwaway decodes running beside it: the next call waits for
   * all of them, and release closes nothing before they are done.
   */
  tail: Promise<unknown> = Promise.resolve();
  /**
   * Calls of decoders that run beside the main one without holding up its calls (the trimmed-start lead):
   * release waits for them too ({@link idle}).
   */
  private readonly beside = new Set<Promise<unknown>>();
  /** Every decoder made and not yet closed: the main one, and those retired or used once beside it. */
  private readonly decoders = new Set<Beamcoder.Decoder>();
  /** Decoders fed packets made from JavaScript memory, closed on the main thread (see close). */
  private readonly closeOnMainThread = new WeakSet<Beamcoder.Decoder>();

  /** `make`: beamcoder's decoder(); `active`: whether the session still runs (queued calls then do). */
  constructor(
    private readonly make: (options: Record<string, unknown>) => Beamcoder.Decoder,
    private readonly active: () => boolean,
    private readonly closers: DecoderClosers = beamcoderClosers,
  ) {}

  /** Whether the session still runs: a call beside the main decoder's is skipped once it does not. */
  get running(): boolean {
    return this.active();
  }

  /** A call that runs beside the main decoder's queue: release waits for it, the next main call does not. */
  besideMain<T>(call: Promise<T>): Promise<T> {
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.beside.add(settled);
    void settled.then(() => this.beside.delete(settled));
    return call;
  }

  /** Settles once every call queued so far, on the main queue and beside it, is done. */
  idle(): Promise<unknown> {
    return Promise.all([this.tail, ...this.beside]);
  }

  /** A new decoder, owned (closed by {@link close}, {@link retire} or {@link closeAll}). */
  own(options: Record<string, unknown>): Beamcoder.Decoder {
    const decoder = this.make(options);
    this.decoders.add(decoder);
    return decoder;
  }

  /** This decoder is given packets made from JavaScript memory: it is closed on the main thread. */
  fedFromJavaScript(decoder: Beamcoder.Decoder): void {
    this.closeOnMainThread.add(decoder);
  }

  /**
   * Closes a decoder off the main thread: joining its threads took 17–406 ms on the loaded 2-core
   * machine, which must not land in any task of the event loop. A decoder given packets made from
   * JavaScript memory (closeOnMainThread) is closed on the main thread, in a task of its own: FFmpeg frees
   * such a packet's buffer from whichever thread drops the last reference, and only the main thread may.
   */
  close(decoder: Beamcoder.Decoder): void {
    if (!this.decoders.delete(decoder)) return;
    if (this.closeOnMainThread.has(decoder)) setImmediate(() => this.closers.onMainThread(decoder));
    else void this.closers.offThread(decoder);
  }

  /** Closes a decoder that takes no more calls once the ones queued so far are done. */
  retire(decoder: Beamcoder.Decoder): void {
    void this.tail.then(() => this.close(decoder));
  }

  /** Release: every decoder still open, each closed as {@link close} says. */
  closeAll(): void {
    for (const decoder of [...this.decoders]) this.close(decoder);
  }

  /**
   * Runs a decoder call once the previous one is done (calls on one codec context must not overlap), and
   * not at all once the session is released.
   */
  queue(call: () => Promise<Beamcoder.DecodedFrames>): Promise<Beamcoder.DecodedFrames> {
    const decoding = this.tail.then(() => (this.active() ? call() : NO_FRAMES));
    this.tail = decoding.catch(() => undefined);
    return decoding;
  }
}
