import type { ContainerLayout } from '../../media/layout.js';
import { editStart } from '../../media/mp4-edit-start.js';
import type { ByteChunk } from '../../sources/types.js';
import { EditStartSkip, type EditSkipHost, type MainTiming } from './edit-skip.js';

/**
 * The session's side of the edit-start skip ({@link EditStartSkip}, edit-skip.ts): it times the main
 * response (its TTFB and rate say what one more request costs), and once the moov is in and accepted it
 * plans the skip where the edit list trims the start past a sync sample (faststart and moov at the end;
 * never with `editSkip: false`). The session hands it each main-response chunk, the moov and the ends.
 */
export class EditSkipPlanner {
  /** The main response's timing: what one more request would cost. */
  private readonly timing: MainTiming = {
    startedAt: performance.now(),
    firstChunkAt: undefined,
    firstChunkEnd: 0,
  };
  /** An edit list trims the start past a sync sample: the bytes before it may be skipped. */
  private skip: EditStartSkip | undefined;

  constructor(
    private readonly host: EditSkipHost,
    private readonly enabled: boolean,
  ) {}

  /** The main request goes out now (the session subscribes to its source). */
  mainStarted(): void {
    this.timing.startedAt = performance.now();
  }

  /** Whether the main response is closed and the Range response carries the input. */
  get switched(): boolean {
    return this.skip?.switched === true;
  }

  /** Once switched, FFmpeg's position of the sync sample: packets before it are dropped. */
  get decodeFrom(): number | undefined {
    return this.skip?.switched ? this.skip.decodeFrom : undefined;
  }

  /** A chunk of the main response was taken: the first one times the response; any may start the skip. */
  mainChunk(chunk: ByteChunk): void {
    if (this.timing.firstChunkAt === undefined) {
      this.timing.firstChunkAt = chunk.receivedAt;
      this.timing.firstChunkEnd = chunk.offset + chunk.bytes.byteLength;
    }
    this.skip?.consider(chunk.receivedAt);
  }

  /**
   * The moov is in and accepted: an edit list that trims the start past a sync sample may be skipped.
   * `moovOffset`: where the moov begins, for moov at the end (the Range stops before it).
   */
  moovAccepted(moov: Uint8Array, layout: ContainerLayout, moovOffset: number | undefined): void {
    if (this.skip || !this.enabled) return;
    if (layout !== 'faststart' && layout !== 'moov-end') return;
    const plan = editStart(moov);
    if (typeof plan === 'string' || plan.sync.index === 0) return;
    const moovEnd = layout === 'moov-end';
    this.skip = new EditStartSkip(
      this.host,
      this.timing,
      plan,
      moovEnd ? moov.byteLength : 0,
      moovEnd ? moovOffset! - 1 : undefined,
    );
    this.host.emit('edit-start', {
      mediaTime: plan.mediaTime,
      syncSample: plan.sync.index,
      syncOffset: plan.sync.offset,
      firstShownSample: plan.firstShown.index,
      firstShownOffset: plan.firstShown.offset,
      neededEnd: plan.neededEnd,
    });
  }

  /** moov-end: the moov and the held mdat went to FFmpeg; the skip may start now. */
  moovReady(): void {
    this.skip?.consider();
  }

  /** The main response ended: a skip still waiting for its Range response is dropped. */
  mainEnded(): void {
    this.skip?.mainEnded();
  }

  release(): void {
    this.skip?.release();
  }
}
