import {
  Observable,
  Subject,
  concat,
  concatMap,
  defer,
  EMPTY,
  from,
  of,
  takeUntil,
  tap,
  type ObservableInput,
} from 'rxjs';

export interface WindowedOptions<T> {
  readonly windowBytes: number;
  /** Each emission asks for the next window; undefined: windows follow each other back to back. */
  readonly more: ObservableInput<unknown> | undefined;
  /** The window starting at this byte offset, as a cold Observable. */
  readonly fetchWindow: (start: number) => Observable<T>;
  /** Whether there is nothing left to fetch from this offset on (checked after each window). */
  readonly exhausted: (nextStart: number) => boolean;
}

/**
 * Consecutive windows `[0, W)`, `[W, 2W)`, … of a resource. The first is fetched at once; each later one
 * when `more` emits. Requests that arrive while a window is still coming wait for it, so windows never
 * overlap; the whole completes once a window ends with nothing left to fetch.
 *
 * ```text
 * more:     ------m-----------m--
 * windows:  aaaa|--bbbb|------cc|
 * result:   aaaa---bbbb-------cc|
 * ```
 */
export function windowed<T>(options: WindowedOptions<T>): Observable<T> {
  return defer(() => {
    let nextStart = 0;
    const done = new Subject<void>();
    const fetchNext = () => {
      const start = nextStart;
      nextStart += options.windowBytes;
      return options.fetchWindow(start).pipe(
        tap({
          complete: () => {
            if (options.exhausted(nextStart)) done.next();
          },
        }),
      );
    };
    if (options.more === undefined) {
      const loop = (): Observable<T> =>
        concat(
          fetchNext(),
          defer(() => (options.exhausted(nextStart) ? EMPTY : loop())),
        );
      return loop();
    }
    return concat(of(0), from(options.more)).pipe(
      concatMap(() => fetchNext()),
      takeUntil(done),
    );
  });
}
