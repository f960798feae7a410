import type { Subscription } from 'rxjs';
import type { EditStart } from '../../media/mp4-index.js';
import type { ByteChunk, ByteRange } from '../../sources/types.js';
import type { SessionContext } from './context.js';

/** The shortest stretch of the main response its rate is measured over. */
const RATE_WINDOW_MS = 10;
/**
 * The furthest byte a skip jumps to when nothing else bounds it (the resource's size unknown, no byte
 * limit): FFmpeg reads zeros for the gap, 1 MiB per governor write, which costs no memory but time on a
 * libuv thread (measured: 40 frames of the edit-start clip behind a 1023 MiB gap in 274 ms, 229 ms behind
 * 256 MiB, load 5.7 on 2 cores). A sync sample this far in is no soccer clip's: a moov that says so is hostile
 * or broken, and the run reads from offset 0 as without the skip.
 */
export const EDIT_SKIP_MAX_OFFSET = 1024 * 1024 * 1024;

/** What the edit-start skip needs of the session. */
export interface EditSkipHost extends SessionContext {
  /** The run's byte limit (DecodeOptions.maxBytes), when it has one: the skip never jumps past it. */
  readonly byteLimit: number | undefined;
  /** End of the furthest byte the input delivered. */
  readonly offsetReached: number;
  readonly inputEnded: boolean;
  /** The first Range byte is in: the main response is closed, FFmpeg gets `bytes` zeros for the gap. */
  switchInput(fillerBytes: number): void;
  /** A chunk of the Range response, once switched: the input from here on. */
  onInputChunk(chunk: ByteChunk): void;
  /** The Range response ended (with an error, or not), once switched: the input has ended. */
  onInputEnd(error?: unknown): void;
}

/** How the main response has come so far: what one more request costs (its TTFB × its rate). */
export interface MainTiming {
  /** performance.now() when the main request went out (the session subscribed to its source). */
  startedAt: number;
  /** When its first chunk came, and where that chunk ended. */
  firstChunkAt: number | undefined;
  firstChunkEnd: number;
}

/**
 * Starts an MP4 whose edit list trims the start at the sync sample before frame 0 instead of offset 0
 * (issue 17 item 3). Once the moov is in, {@link EditStart} says where that sync sample lies; while the
 * main response is still short of it, and the bytes to skip outweigh what one more request costs
 * (TTFB × rate, both measured on the main response), a Range request fetches from the sync sample on
 * (for moov at the end, up to the moov, already in hand). The main response goes on until the Range
 * response's first byte is in (a server that refuses the Range leaves it untouched); then it is closed,
 * FFmpeg gets zeros in place of the skipped bytes (its index starts at or before the sync sample, and the
 * demuxer drops every packet before it), and the Range response is the input from there on.
 *
 * The sync sample's offset comes from the moov, and the Range response's start from its Content-Range:
 * both are the server's word. A sync sample at or past the resource's size, the media data's end (moov at
 * the end), the main response's own limit (`partial`), the run's byte limit or {@link EDIT_SKIP_MAX_OFFSET}
 * is declined before any request (the zeros for the gap would otherwise stand for bytes no download could
 * reach, up to 2^64 of them); a Range response that names another start, or a size the sync sample lies
 * past, is abandoned, and so is one still on its way when the main response ends (its bytes would reach a
 * finished input). The Range ends where the main response would have (`partial`).
 *
 * ```text
 * file:     [ftyp][moov][mdat: I0 P B B … | I60 P63 B61 B62 …]      frame 0 = B62
 * main:     [ftyp][moov][mdat: I0 P B]|                              closed at the Range's first byte
 * Range:                               [I60 P63 B61 B62 …]
 * FFmpeg:   [ftyp][moov][mdat: I0 P B 0000…0 I60 P63 B61 B62 …]      packets before I60 dropped
 * ```
 */
export class EditStartSkip {
  private state: 'planned' | 'fetching' | 'switched' | 'over' = 'planned';
  private range: Subscription | undefined;
  /** FFmpeg's byte position of the sync sample: packets before it are never decoded. */
  readonly decodeFrom: number;

  /**
   * `plan`: the moov's edit start; `shift`: how far FFmpeg's positions lie past the file's (moov at the
   * end: the moov's size, placed before mdat); `rangeEnd`: the last byte to fetch (moov at the end: the
   * one before the moov), open-ended otherwise.
   */
  constructor(
    private readonly host: EditSkipHost,
    private readonly timing: MainTiming,
    readonly plan: EditStart,
    shift: number,
    private readonly rangeEnd: number | undefined,
  ) {
    this.decodeFrom = plan.sync.offset + shift;
  }

  /** Whether the main response is closed and the Range response carries the input. */
  get switched(): boolean {
    return this.state === 'switched';
  }

  /**
   * After each main-response chunk (and once the moov is ready for FFmpeg): decides, once the main
   * response's rate can be measured, whether to fetch from the sync sample.
   */
  consider(now = performance.now()): void {
    const reached = this.host.offsetReached;
    const syncAt = this.plan.sync.offset;
    if (this.state === 'fetching' && reached >= syncAt) {
      // The main response got there first: it goes on, the Range response is dropped.
      this.abandon('the main response reached the sync sample first');
      return;
    }
    if (this.state !== 'planned' || !this.host.active) return;
    if (this.host.inputEnded) return this.over('the input ended');
    if (reached >= syncAt) return this.over('the input already reached the sync sample');
    const unreachable = this.unreachable(syncAt);
    if (unreachable) return this.over(unreachable);
    const fetchRange = this.host.resource?.fetchRange;
    if (!fetchRange) return this.over('the source cannot fetch ranges');
    const { startedAt, firstChunkAt, firstChunkEnd } = this.timing;
    // The rate needs two moments on the main response at least RATE_WINDOW_MS apart (chunks handed over
    // together after a busy moment of the event loop would make it look far faster); until then the
    // decision waits for the next chunk.
    if (firstChunkAt === undefined || now - firstChunkAt < RATE_WINDOW_MS || reached <= firstChunkEnd) return;
    const ttfbMs = firstChunkAt - startedAt;
    const bytesPerMs = (reached - firstChunkEnd) / (now - firstChunkAt);
    const requestCost = Math.round(ttfbMs * bytesPerMs);
    const saved = syncAt - reached;
    if (saved <= requestCost) {
      this.over('skipping saves less than a request costs', { saved, requestCost });
      return;
    }
    this.state = 'fetching';
    const end = this.lastByte();
    const range: ByteRange = end === undefined ? { start: syncAt } : { start: syncAt, end };
    this.host.emit('edit-skip', {
      syncOffset: syncAt,
      firstShownOffset: this.plan.firstShown.offset,
      from: reached,
      saved,
      requestCost,
      ttfbMs: Math.round(ttfbMs),
      bytesPerSecond: Math.round(bytesPerMs * 1000),
    });
    let first = true;
    this.range = fetchRange(range).subscribe({
      next: (chunk) => {
        if (this.state === 'over') return;
        if (first) {
          first = false;
          if (chunk.offset !== syncAt) {
            this.abandon(`the Range response began at byte ${chunk.offset}, not ${syncAt}`);
            return;
          }
          // Its Content-Range may have given the resource another size since the decision.
          const unreachable = this.unreachable(syncAt);
          if (unreachable) return this.abandon(unreachable);
          this.state = 'switched';
          // At most syncAt (bounded above), at least 0 (the main response past it abandons the skip).
          const filler = syncAt - this.host.offsetReached;
          this.host.emit('edit-skip-switched', { at: this.host.offsetReached, fillerBytes: filler });
          this.host.switchInput(filler);
        }
        this.host.onInputChunk(chunk);
      },
      error: (error: unknown) => {
        if (this.state === 'switched') this.host.onInputEnd(error);
        else this.abandon(`the Range request failed: ${(error as Error).message ?? error}`);
      },
      complete: () => {
        if (this.state === 'switched') this.host.onInputEnd();
        else this.abandon('the Range response was empty');
      },
    });
  }

  /**
   * The main response ended (completed, failed, or cut at its limit) before the Range response's first
   * byte: the skip is dropped and its Range closed, so that no byte of it reaches a finished input.
   */
  mainEnded(): void {
    if (this.state === 'fetching') this.abandon('the main response ended before the Range response began');
    else if (this.state === 'planned') this.state = 'over';
  }

  /** Why the skip cannot jump to `syncAt`, or undefined when it may. */
  private unreachable(syncAt: number): string | undefined {
    const at = `the sync sample at byte ${syncAt}`;
    if (!Number.isSafeInteger(syncAt) || syncAt < 0) return `${at} is not a usable offset`;
    const total = this.host.resource?.totalBytes;
    if (total !== undefined && syncAt >= total) return `${at} lies past the resource's ${total} bytes`;
    if (this.rangeEnd !== undefined && syncAt > this.rangeEnd) {
      return `${at} lies past the media data (the moov at byte ${this.rangeEnd + 1})`;
    }
    const partial = this.host.resource?.partialBytes;
    if (partial !== undefined && syncAt >= partial) {
      return `${at} lies past the ${partial} bytes the main response reads`;
    }
    const limit = this.host.byteLimit;
    if (limit !== undefined && syncAt >= limit) return `${at} lies past the run's byte limit of ${limit}`;
    if (syncAt > EDIT_SKIP_MAX_OFFSET) {
      return `${at} lies past the ${EDIT_SKIP_MAX_OFFSET} bytes a skip may jump`;
    }
    return undefined;
  }

  /** The last byte the Range fetches: the one before the moov (moov at the end), or the partial limit's. */
  private lastByte(): number | undefined {
    const partial = this.host.resource?.partialBytes;
    const ends = [this.rangeEnd, partial === undefined ? undefined : partial - 1].filter(
      (end): end is number => end !== undefined,
    );
    return ends.length === 0 ? undefined : Math.min(...ends);
  }

  /** Release: the Range response is closed. */
  release(): void {
    this.range?.unsubscribe();
    if (this.state !== 'switched') this.state = 'over';
  }

  private abandon(reason: string): void {
    this.state = 'over';
    this.range?.unsubscribe();
    this.host.emit('edit-skip-abandoned', { reason });
  }

  private over(reason: string, data: Record<string, unknown> = {}): void {
    this.state = 'over';
    this.host.emit('edit-skip-declined', { reason, ...data });
  }
}
