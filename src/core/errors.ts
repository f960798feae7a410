/**
 * One error hierarchy for the whole pipeline. Callers match on `code`, never on the message or the class
 * name; the message says what happened and where (URL, byte offset, frame number), and the same facts are
 * kept as structured fields in `context` so that logs and result documents can carry them.
 */

export type ErrorContext = Record<string, unknown>;

export class FirstframeError extends Error {
  override readonly name: string = 'FirstframeError';
  readonly code: string;
  readonly context: ErrorContext;

  constructor(code: string, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }

  /** The form a result document or an HTTP error body carries. */
  toJSON(): { code: string; message: string; context: ErrorContext } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

/** Bad arguments or configuration: raised at construction, before anything runs. */
export class ConfigError extends FirstframeError {
  override readonly name = 'ConfigError';
  /** Every problem found, one line each, with its path (`BATCH_SIZE: expected a positive integer, got "0"`). */
  readonly problems: readonly string[];

  constructor(code: string, problems: readonly string[], context: ErrorContext = {}) {
    super(code, problems.join('\n'), context);
    this.problems = problems;
  }
}

/** Anything that went wrong while fetching bytes: URL, DNS, connection, HTTP status, body. */
export class SourceError extends FirstframeError {
  override readonly name = 'SourceError';
}

/** The container or the codec could not turn the bytes into frames. */
export class DecodeError extends FirstframeError {
  override readonly name = 'DecodeError';
}

/** A model could not be loaded or run. */
export class ModelError extends FirstframeError {
  override readonly name = 'ModelError';
}

/** The stable codes. Adding one is fine; renaming one breaks users who match on it. */
export const codes = {
  config: {
    env: 'FF_ERR_CONFIG_ENV',
    invalidOption: 'FF_ERR_INVALID_OPTION',
    usage: 'FF_ERR_USAGE',
    /** A class map names a class the model does not have. */
    unknownClass: 'FF_ERR_UNKNOWN_CLASS',
  },
  source: {
    invalidUrl: 'FF_ERR_INVALID_URL',
    unsupportedScheme: 'FF_ERR_UNSUPPORTED_SCHEME',
    dns: 'FF_ERR_DNS',
    connectRefused: 'FF_ERR_CONNECT_REFUSED',
    connectTimeout: 'FF_ERR_CONNECT_TIMEOUT',
    connection: 'FF_ERR_CONNECTION',
    httpStatus: 'FF_ERR_HTTP_STATUS',
    rangeNotSatisfiable: 'FF_ERR_RANGE_NOT_SATISFIABLE',
    rangeIgnored: 'FF_ERR_RANGE_IGNORED',
    bodyShort: 'FF_ERR_BODY_SHORT',
    stalled: 'FF_ERR_STALLED',
    headersTimeout: 'FF_ERR_HEADERS_TIMEOUT',
    fileNotFound: 'FF_ERR_FILE_NOT_FOUND',
    fileRead: 'FF_ERR_FILE_READ',
  },
  guard: {
    /**
     * The URL guard refused a URL before any connection to it: a scheme other than http:/https:, a host
     * outside the allowlist, or an address that is not public (loopback, private, link-local, …).
     */
    urlRefused: 'FF_ERR_URL_REFUSED',
  },
  sim: {
    /** `waitForRequestEnd` gave up: the request did not end in time, or the simulator closed first. */
    netsimWaitTimeout: 'FF_ERR_NETSIM_WAIT_TIMEOUT',
  },
  fixtures: {
    /** ffmpeg/ffprobe missing, failing, or producing a clip that does not pass its own checks. */
    ffmpeg: 'FF_ERR_FIXTURES_FFMPEG',
    /** A scene specification that cannot be drawn (size, player count, frame number). */
    invalidSpec: 'FF_ERR_FIXTURES_SPEC',
    /** Another process holds the fixture directory's lock for too long. */
    locked: 'FF_ERR_FIXTURES_LOCKED',
  },
  models: {
    format: 'FF_ERR_MODEL_FORMAT',
  },
  decode: {
    noData: 'FF_ERR_NO_DATA',
    notAVideo: 'FF_ERR_NOT_A_VIDEO',
    noVideoStream: 'FF_ERR_NO_VIDEO_STREAM',
    unsupportedCodec: 'FF_ERR_UNSUPPORTED_CODEC',
    moovMissing: 'FF_ERR_MOOV_MISSING',
    moovInvalid: 'FF_ERR_MOOV_INVALID',
    demux: 'FF_ERR_DEMUX',
    convert: 'FF_ERR_CONVERT',
    /** The input was not empty and ended, and no picture could be decoded from it. */
    noFrames: 'FF_ERR_NO_FRAMES',
    /**
     * An MP4 box whose size, entry count or offset cannot be true: larger than the box that holds it or
     * than the file, or pointing past the file's end. Found before FFmpeg sees the bytes.
     */
    mp4Structure: 'FF_ERR_MP4_STRUCTURE',
  },
  run: {
    /** The budget ran out before the video host sent response headers. */
    noHeadersByDeadline: 'FF_ERR_NO_HEADERS_BY_DEADLINE',
    /** The budget ran out with bytes received but no frame decoded (so nothing could be answered). */
    noFrameByDeadline: 'FF_ERR_NO_FRAME_BY_DEADLINE',
    /**
     * Frames were decoded but none came out of inference by the deadline: the budget is shorter than the
     * first inference (or the machine is too loaded to finish one in time). The miner's side, not the host's.
     */
    noResultByDeadline: 'FF_ERR_NO_RESULT_BY_DEADLINE',
    /** The video ended, frames were decoded, and no result came out: a stage dropped every frame. */
    noResults: 'FF_ERR_NO_RESULTS',
  },
} as const;

/** True for an error raised by firstframe (as opposed to a bug or a foreign library's exception). */
export function isFirstframeError(err: unknown): err is FirstframeError {
  return err instanceof FirstframeError;
}
