import type { Observable } from 'rxjs';

/** A byte range of a resource: `[start, end]` inclusive (end omitted: to the end), or the last `suffix` bytes. */
export type ByteRange = { readonly start: number; readonly end?: number } | { readonly suffix: number };

/**
 * What is known about the resource a source reads. It is shared by every chunk of one subscription and
 * filled in as the response headers arrive, so it is complete from the first chunk on.
 */
export interface ResourceInfo {
  readonly url: string;
  /** Size of the whole resource, from `Content-Range` (206) or `Content-Length` (200); undefined when unknown. */
  totalBytes: number | undefined;
  /** Whether the server honoured a Range request; undefined while no Range was sent. */
  rangeHonoured: boolean | undefined;
  contentType: string | undefined;
  /**
   * The main transfer reads bytes [0, partialBytes) only (strategy `partial`, a file's `limitBytes`):
   * readers that fetch further ranges in its place stop there too. Undefined: it reads to the end.
   */
  readonly partialBytes?: number;
  /**
   * Fetches another range of the same resource, e.g. the moov box at the end of a file while the first
   * response keeps streaming. Cold: nothing is requested until it is subscribed.
   */
  readonly fetchRange?: (range: ByteRange) => Observable<ByteChunk>;
  /**
   * Stops reading from the network or disk until `resume()`: a consumer that is behind (the decoder, when
   * inference is slower) applies backpressure all the way to the socket. Stall timers do not run meanwhile.
   */
  readonly pause?: () => void;
  readonly resume?: () => void;
}

/** Pause/resume for every transfer of one resource; each transfer registers while it runs. */
export interface TransferFlow {
  readonly paused: boolean;
  pause(): void;
  resume(): void;
  /** Registers a running transfer; it is paused at once if the flow is. Returns the unregister function. */
  register(transfer: { pause(): void; resume(): void }): () => void;
}

export function transferFlow(): TransferFlow {
  const transfers = new Set<{ pause(): void; resume(): void }>();
  let paused = false;
  return {
    get paused() {
      return paused;
    },
    pause() {
      if (paused) return;
      paused = true;
      for (const transfer of transfers) transfer.pause();
    },
    resume() {
      if (!paused) return;
      paused = false;
      for (const transfer of transfers) transfer.resume();
    },
    register(transfer) {
      transfers.add(transfer);
      if (paused) transfer.pause();
      return () => transfers.delete(transfer);
    },
  };
}

/** One piece of a resource, emitted as soon as it arrived. */
export interface ByteChunk {
  readonly bytes: Uint8Array;
  /** Absolute offset of `bytes[0]` in the resource. */
  readonly offset: number;
  /** `performance.now()` when the bytes were received. */
  readonly receivedAt: number;
  readonly resource: ResourceInfo;
}

/** 1 MB as the miners' PARTIAL_DOWNLOAD_MB counts it (binary megabytes, as their Python code multiplies). */
export const MEBIBYTE = 1024 * 1024;
