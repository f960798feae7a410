import type { Subscription } from 'rxjs';
import { DecodeError, codes, isFirstframeError } from '../../core/errors.js';
import { MoovPatchError, shiftChunkOffsets } from '../../media/faststart.js';
import type { ContainerLayout } from '../../media/layout.js';
import type { Mp4Box } from '../../media/mp4-boxes.js';
import type { SessionContext } from './context.js';
import type { FirstFrameFromIndex } from './first-frame-index.js';
import { INDEX_MAX_BYTES } from './first-frame-index.js';
import { MoovTail, type MoovTailState } from './moov-tail.js';

/**
 * How long after the Range request for the moov is made its frame-0 decoder is: long enough for the request
 * to be written (a new connection on loopback: under 1 ms), far less than any server's time to first byte.
 */
const DECODER_AHEAD_DELAY_MS = 10;

/** What the moov-at-end arrangement needs of the session. */
export interface MoovEndHost extends SessionContext {
  readonly layout: ContainerLayout;
  readonly inputEnded: boolean;
  /** End of the furthest byte the main response delivered. */
  readonly offsetReached: number;
  /** Frame 0 from the index, waiting for the moov. */
  readonly indexed: FirstFrameFromIndex | undefined;
  /** Bytes for FFmpeg, in order. */
  feed(bytes: Uint8Array): void;
  moovAccepted(moov: Uint8Array, offset: number): boolean;
  /** Frame 0 from the index starts with the bytes before the moov. */
  startIndexed(prefix: Uint8Array): void;
  finishGovernor(): void;
  /** Closes the main response at `offset` (nothing after it is needed) and ends the input there. */
  cutInput(offset: number): void;
  /** The moov and the held mdat went to FFmpeg: the rest of mdat is fed as it comes. */
  moovReady?(): void;
}

/**
 * Byte arrangement for an MP4 whose moov comes after mdat: FFmpeg, reading a stream, cannot seek back to it.
 * The moov is fetched with a Range request (or, from a server without ranges, awaited at the end of the
 * main response) while mdat is held; then FFmpeg gets the faststart equivalent, the moov's chunk offsets
 * shifted by its size, and the main response is closed where the moov begins.
 *
 * ```text
 * file:        [ftyp][mdat……………………………][moov]
 * main:        [ftyp][mdat……………………………]|        closed at the moov once it is in hand
 * Range:                          [moov]
 * to FFmpeg:   [ftyp][moov'][mdat……………………………]   moov' = offsets + its size; mdat held until then
 * ```
 */
export class MoovAtEnd {
  private mode: 'pending' | 'ready' = 'pending';
  /** mdat bytes held until the moov is in. */
  private pending: Uint8Array[] = [];
  private moovStart = 0;
  /** Main-stream bytes from the moov's offset on: the moov itself when the Range fetch cannot help. */
  private tailFromMain: MoovTail | undefined;
  private tailFetching = false;
  private tail: Subscription | undefined;
  private aheadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: MoovEndHost) {}

  /** The main response has ended: the moov from its tail, unless the Range fetch is still to decide. */
  inputEnded(): void {
    if (this.mode === 'pending') {
      // The fetch is still running: its answer decides (a moov this response brought was taken already).
      this.moovFromMain(performance.now());
    } else {
      this.host.finishGovernor();
    }
  }

  /** Release: the Range response is closed, held bytes go. */
  release(): void {
    clearTimeout(this.aheadTimer);
    this.tail?.unsubscribe();
    this.pending = [];
    this.tailFromMain = undefined;
  }

  /**
   * moov after mdat: FFmpeg would have to seek back, which a stream cannot. Fetch the moov with a Range
   * request while this response keeps streaming mdat, and feed FFmpeg the faststart equivalent:
   * [boxes before mdat][moov, offsets shifted by its size][mdat…].
   */
  start(prefix: Uint8Array, mdat: Mp4Box): void {
    this.host.emit('layout', { layout: this.host.layout, mdatOffset: mdat.offset, mdatSize: mdat.size });
    if (mdat.toEndOfFile) {
      this.host.fail(
        new DecodeError(
          codes.decode.moovMissing,
          `${this.host.where()}: mdat at byte ${mdat.offset} runs to the end of the file and no moov came before it`,
          {
            url: this.host.resource?.url,
            offset: mdat.offset,
          },
        ),
      );
      return;
    }
    this.moovStart = mdat.offset + mdat.size;
    this.tailFromMain = new MoovTail(this.moovStart, INDEX_MAX_BYTES);
    this.host.startIndexed(prefix);
    this.host.feed(prefix.subarray(0, mdat.offset));
    this.route(prefix.subarray(mdat.offset), mdat.offset);
    const fetchRange = this.host.resource?.fetchRange;
    const startedAt = performance.now();
    this.host.emit('moov-fetch', { offset: this.moovStart });
    if (!fetchRange) return;
    // The decoder for frame 0 is made while the moov is on its way, once the Range request is out (making
    // one blocks the main thread for a few ms). H.264: what most streams are; another codec's is made later.
    this.aheadTimer = setTimeout(() => {
      try {
        this.host.indexed?.makeDecoderAhead('h264');
      } catch {
        // No decoder now (threads or memory short): the index makes one when the moov comes, or says why.
      }
    }, DECODER_AHEAD_DELAY_MS);
    this.tailFetching = true;
    // The Range response is read only up to the moov's declared end (or refused from its header): a
    // server answering with endless bytes costs the moov's size and one chunk; the run's byte budget,
    // charged by the source, bounds it too.
    const fromRange = new MoovTail(this.moovStart, INDEX_MAX_BYTES);
    this.tail = fetchRange({ start: this.moovStart }).subscribe({
      next: (chunk) => {
        if (!this.tailFetching) {
          // Bytes past the moov (or past a refusal): nothing more is read.
          this.tail?.unsubscribe();
          return;
        }
        const state = fromRange.push(chunk.bytes);
        if (state.kind === 'more') return;
        // An honest server's response ends right here: it keeps its connection. One that sends more is
        // cut off at its next chunk (above), and one that goes quiet at the end of the session.
        this.tailFetching = false;
        this.onTail(state, startedAt, 'the Range response');
      },
      error: (error: unknown) => {
        this.tailFetching = false;
        if (isFirstframeError(error) && error.code === codes.source.rangeIgnored) {
          // The server cannot serve ranges: wait for the moov at the end of this very response.
          this.host.emit('moov-fetch-fallback', { reason: error.code });
          this.moovFromMain(startedAt);
          return;
        }
        this.host.fail(error);
      },
      complete: () => {
        if (!this.tailFetching) return;
        this.tailFetching = false;
        this.onTail(fromRange.end(), startedAt, 'the Range response');
      },
    });
  }

  /** The moov from the main response's own tail, once it is whole or the response has ended. */
  private moovFromMain(startedAt: number): void {
    const tail = this.tailFromMain;
    if (!tail || this.tailFetching || this.mode !== 'pending') return;
    const state = this.host.inputEnded ? tail.end() : tail.push(new Uint8Array(0));
    if (state.kind !== 'more') this.onTail(state, startedAt, 'the response');
  }

  /** Routes main-stream bytes at `offset` while in a moov-end layout: mdat to FFmpeg, the rest aside. */
  route(bytes: Uint8Array, offset: number): void {
    const end = offset + bytes.byteLength;
    const mdatPart = bytes.subarray(0, Math.max(0, Math.min(end, this.moovStart) - offset));
    if (mdatPart.byteLength > 0) {
      if (this.mode === 'ready') this.host.feed(mdatPart);
      else this.pending.push(mdatPart);
    }
    if (end > this.moovStart && this.tailFromMain) {
      const state = this.tailFromMain.push(bytes.subarray(Math.max(0, this.moovStart - offset)));
      // The moov came whole with this response before the Range fetch decided: no need to wait for it.
      if (state.kind === 'moov' && this.mode === 'pending') {
        this.tailFetching = false;
        this.tail?.unsubscribe();
        this.onTail(state, performance.now(), 'the response');
      }
    }
  }

  private onTail(tail: MoovTailState, startedAt: number, from: string): void {
    if (!this.host.active || this.mode !== 'pending' || tail.kind === 'more') return;
    if (tail.kind === 'refused') {
      this.host.fail(
        new DecodeError(
          tail.invalid ? codes.decode.moovInvalid : codes.decode.moovMissing,
          `${this.host.where()}: ${from}: ${tail.reason}`,
          {
            url: this.host.resource?.url,
            offset: this.moovStart,
          },
        ),
      );
      return;
    }
    const moov = tail.box;
    const moovBytes = tail.bytes;
    if (!this.host.moovAccepted(moovBytes, moov.offset)) return;
    let patched;
    try {
      patched = shiftChunkOffsets(moovBytes, moov.size);
    } catch (error) {
      const reason = error instanceof MoovPatchError ? error.message : String(error);
      this.host.fail(
        new DecodeError(
          codes.decode.moovInvalid,
          `${this.host.where()}: the moov box at byte ${moov.offset} is malformed: ${reason}`,
          {
            url: this.host.resource?.url,
            offset: moov.offset,
          },
        ),
      );
      return;
    }
    this.host.emit('moov', {
      offset: moov.offset,
      bytes: moov.size,
      ms: performance.now() - startedAt,
      chunkOffsetTables: patched.tables,
      chunkOffsets: patched.entries,
    });
    this.mode = 'ready';
    this.host.indexed?.moovArrived(moov, moovBytes);
    this.host.feed(patched.moov);
    for (const bytes of this.pending) this.host.feed(bytes);
    this.pending = [];
    if (this.host.inputEnded) this.host.finishGovernor();
    else this.endAtMoov();
    this.host.moovReady?.();
  }

  /** Where the moov begins: the mdat before it is all the input FFmpeg needs. */
  get moovOffset(): number {
    return this.moovStart;
  }

  /**
   * moov-end, once the moov is in hand: what the main response has left after mdat is that same moov,
   * which nothing needs, so the response is closed there instead of read (and charged to the run's byte
   * budget) a second time.
   */
  endAtMoov(): void {
    if (this.mode !== 'ready' || this.host.inputEnded || this.host.offsetReached < this.moovStart) return;
    // Already at the end of the file: the response ends by itself, keeping its connection.
    const total = this.host.resource?.totalBytes;
    if (total !== undefined && this.host.offsetReached >= total) return;
    this.host.emit('input-cut', { offset: this.moovStart, offsetReached: this.host.offsetReached });
    this.host.cutInput(this.moovStart);
  }
}
