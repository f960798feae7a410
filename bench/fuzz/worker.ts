/**
 * The fuzz worker: a child process (child_process.fork) that prepares the pipeline once and then runs the
 * cases its parent sends, one at a time, through `PreparedPipeline.run` exactly as the challenge server
 * does (guarded dispatcher with private addresses allowed, the server's limits). A native crash here
 * kills only this process; the parent counts the case in flight as a crash and starts another worker.
 *
 * Messages in: `{ type: 'case', id, file, transport }`. Out: `{ type: 'ready', setupMs }` once, then one
 * `{ type: 'outcome', … }` per case (see {@link WorkerOutcome}).
 */

import { basename } from 'node:path';
import { isFirstframeError } from '../../src/core/errors.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline } from '../../src/pipelines/runner.js';
import { DEFAULT_LIMITS } from '../../src/server/server.js';
import { createGuardedDispatcher } from '../../src/server/url-guard.js';
import { startNetSim } from '../../src/sim/netsim.js';
import { WORKER_CONFIG_ENV, type WorkerConfig, type WorkerOutcome, type WorkerRequest } from './protocol.js';

const send = (message: unknown): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig;
  const prepared = await preparePipeline(
    loadPipeline({
      profile: 'default',
      overrides: {
        imgSize: config.imgSize,
        stride: { every: config.stride },
        sink: { budgetS: config.budgetS },
      },
    }),
  );
  // The server's own per-challenge limits, so a case meets the checks a challenge meets.
  const limits = { ...DEFAULT_LIMITS, ...config.limits };
  const sim = await startNetSim({ root: config.workDir });
  const dispatcher = createGuardedDispatcher({ allowPrivate: true });
  let queue = Promise.resolve();
  process.on('message', (message: WorkerRequest) => {
    if (message.type === 'exit') {
      void queue.then(async () => {
        await Promise.allSettled([prepared.release(), sim.close(), dispatcher.close()]);
        process.exit(0);
      });
      return;
    }
    queue = queue.then(async () => {
      const target = message.transport === 'http' ? sim.urlFor(`/${basename(message.file)}`) : message.file;
      const startedAt = performance.now();
      let outcome: WorkerOutcome;
      try {
        const document = await prepared.run(target, { limits, dispatcher });
        outcome = {
          type: 'outcome',
          id: message.id,
          elapsedMs: performance.now() - startedAt,
          endedBy: document.timings.endedBy,
          frames: document.frames.length,
          framesDecoded: document.timings.framesDecoded,
          bytesDownloaded: document.timings.bytesDownloaded,
          ...(document.error ? { error: document.error } : {}),
          rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
        };
      } catch (error) {
        // run() is documented never to reject for a failed run: a rejection is itself a finding.
        outcome = {
          type: 'outcome',
          id: message.id,
          elapsedMs: performance.now() - startedAt,
          endedBy: 'rejected',
          frames: 0,
          framesDecoded: 0,
          bytesDownloaded: 0,
          error: {
            code: isFirstframeError(error) ? error.code : 'FF_ERR_INTERNAL',
            message: `run() rejected: ${error instanceof Error ? error.message : String(error)}`,
          },
          rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
        };
      }
      send(outcome);
    });
  });
  send({ type: 'ready', setupMs: prepared.setupMs });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fuzz worker: could not start: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(70);
});
