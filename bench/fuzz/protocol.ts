/** What the fuzz parent and its worker processes say to each other. */

import type { RunLimits } from '../../src/pipelines/runner.js';

/** The environment variable that carries the worker's {@link WorkerConfig} as JSON. */
export const WORKER_CONFIG_ENV = 'FIRSTFRAME_FUZZ_WORKER';

export interface WorkerConfig {
  budgetS: number;
  /** The model's input size: 320 costs a quarter of 640's inference and is the same code path. */
  imgSize: number;
  /** Keep every Nth frame: few frames reach the detector, so a case costs little inference. */
  stride: number;
  /** The folder case files are written to, served over HTTP by the worker's loopback simulator. */
  workDir: string;
  /** Laid over the server's DEFAULT_LIMITS. */
  limits?: RunLimits;
}

export type Transport = 'file' | 'http';

export type WorkerRequest =
  { type: 'case'; id: string; file: string; transport: Transport } | { type: 'exit' };

export interface WorkerOutcome {
  type: 'outcome';
  id: string;
  /** From the call to run() to its answer. */
  elapsedMs: number;
  /** The document's endedBy, or 'rejected' when run() rejected instead of answering. */
  endedBy: string;
  frames: number;
  framesDecoded: number;
  bytesDownloaded: number;
  error?: { code: string; message: string };
  rssMb: number;
}

export type WorkerMessage = { type: 'ready'; setupMs: number } | WorkerOutcome;
