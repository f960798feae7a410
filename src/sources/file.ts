import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Observable, defer, from, switchMap } from 'rxjs';
import { ConfigError, SourceError, codes, type FirstframeError } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import type { ByteBudget } from './budget.js';
import {
  transferFlow,
  type ByteChunk,
  type ByteRange,
  type ResourceInfo,
  type TransferFlow,
} from './types.js';

export interface FileSourceOptions {
  /** Bytes per chunk; default 64 KiB (what a socket typically delivers). */
  chunkBytes?: number;
  /** Read only the first N bytes (the file analogue of a partial download). */
  limitBytes?: number;
  /** The run's byte budget: every chunk read (the main range and `fetchRange`'s) is charged as it is read. */
  budget?: ByteBudget;
  onEvent?: EventSink;
}

function fileError(error: unknown, path: string, context: Record<string, unknown> = {}): SourceError {
  const code = (error as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new SourceError(
      codes.source.fileNotFound,
      `no such file: ${path}`,
      { path, ...context },
      { cause: error },
    );
  }
  const what = code === 'EISDIR' ? 'is a directory' : ((error as Error).message ?? String(error));
  return new SourceError(
    codes.source.fileRead,
    `cannot read ${path}: ${what}`,
    { path, ...context },
    { cause: error },
  );
}

function readRange(
  path: string,
  resource: ResourceInfo,
  start: number,
  endInclusive: number,
  chunkBytes: number,
  onEvent: EventSink | undefined,
  flow: TransferFlow,
  budget: ByteBudget | undefined,
): Observable<ByteChunk> {
  return new Observable<ByteChunk>((subscriber) => {
    if (endInclusive < start) {
      subscriber.complete();
      return;
    }
    const emit = (name: string, data: Record<string, unknown>) =>
      onEvent?.({ stage: 'source', name, at: performance.now(), data });
    const stream = createReadStream(path, { start, end: endInclusive, highWaterMark: chunkBytes });
    const unregister = flow.register({ pause: () => stream.pause(), resume: () => stream.resume() });
    let offset = start;
    emit('request', { url: resource.url, range: `bytes=${start}-${endInclusive}` });
    stream.on('data', (data) => {
      const bytes = data as Buffer;
      try {
        budget?.take(bytes.byteLength, { url: resource.url, range: `bytes=${start}-${endInclusive}` });
      } catch (error) {
        unregister();
        stream.destroy();
        emit('end', { reason: 'error', code: (error as FirstframeError).code, bytes: offset - start });
        subscriber.error(error);
        return;
      }
      if (offset === start) emit('first-byte', { offset });
      emit('chunk', { bytes: bytes.byteLength, offset, received: offset + bytes.byteLength - start });
      subscriber.next({ bytes, offset, receivedAt: performance.now(), resource });
      offset += bytes.byteLength;
    });
    stream.once('end', () => {
      emit('end', { reason: 'complete', bytes: offset - start });
      subscriber.complete();
    });
    stream.once('error', (error) => subscriber.error(fileError(error, path, { offset })));
    return () => {
      unregister();
      stream.destroy();
    };
  });
}

/**
 * Bytes of a local file with the same contract as {@link httpSource}: absolute offsets, arrival times and a
 * {@link ResourceInfo} whose `fetchRange` reads any other part of the file.
 *
 * ```text
 * file:   c-c-c-c-c|    chunks of `chunkBytes` as fast as the disk reads
 * unsub:  c-c-!         the file handle is closed at `!`
 * ```
 *
 * @example fileSource('clip.mp4', { limitBytes: 2 * MEBIBYTE }).subscribe(console.log)
 * @returns a cold Observable of {@link ByteChunk}; FF_ERR_FILE_NOT_FOUND / FF_ERR_FILE_READ on failure.
 */
export function fileSource(path: string, options: FileSourceOptions = {}): Observable<ByteChunk> {
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const problems: string[] = [];
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0)
    problems.push(`chunkBytes: expected a positive integer, got ${JSON.stringify(chunkBytes)}`);
  if (
    options.limitBytes !== undefined &&
    (!Number.isInteger(options.limitBytes) || options.limitBytes <= 0)
  ) {
    problems.push(`limitBytes: expected a positive integer, got ${JSON.stringify(options.limitBytes)}`);
  }
  if (problems.length > 0)
    throw new ConfigError(codes.config.invalidOption, problems, { source: 'file', path });
  const absolute = resolve(path);
  const onEvent = safeSink(options.onEvent);
  return defer(() =>
    from(
      stat(absolute).then(
        (info) => {
          if (!info.isFile())
            throw fileError(
              Object.assign(new Error('not a regular file'), {
                code: info.isDirectory() ? 'EISDIR' : 'EINVAL',
              }),
              absolute,
            );
          return info.size;
        },
        (error: unknown) => {
          throw fileError(error, absolute);
        },
      ),
    ),
  ).pipe(
    switchMap((size) => {
      const flow = transferFlow();
      const resource: ResourceInfo = {
        url: pathToFileURL(absolute).href,
        totalBytes: size,
        rangeHonoured: options.limitBytes === undefined ? undefined : true,
        contentType: undefined,
        ...(options.limitBytes === undefined ? {} : { partialBytes: options.limitBytes }),
        fetchRange: (range: ByteRange) => {
          const start = 'suffix' in range ? Math.max(0, size - range.suffix) : range.start;
          const end = 'suffix' in range ? size - 1 : Math.min(range.end ?? size - 1, size - 1);
          return readRange(absolute, resource, start, end, chunkBytes, onEvent, flow, options.budget);
        },
        pause: () => flow.pause(),
        resume: () => flow.resume(),
      };
      const end = Math.min(size, options.limitBytes ?? size) - 1;
      return readRange(absolute, resource, 0, end, chunkBytes, onEvent, flow, options.budget);
    }),
  );
}
