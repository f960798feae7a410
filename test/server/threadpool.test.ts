/** A server started with a libuv pool too small for its concurrency says so at warn level. */
import { afterEach, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/core/logger.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { startServer } from '../../src/server/server.js';

const original = process.env.UV_THREADPOOL_SIZE;
let prepared: PreparedPipeline | undefined;
afterEach(async () => {
  if (original === undefined) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = original;
  await prepared?.release();
});

async function warningsWith(
  poolSize: string | undefined,
  concurrency: number,
): Promise<Record<string, unknown>[]> {
  if (poolSize === undefined) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = poolSize;
  const lines: string[] = [];
  const logger = createRootLogger({
    level: 'warn',
    destination: { write: (line: string) => lines.push(line) },
  });
  prepared ??= await preparePipeline(loadPipeline({ profile: 'default' }));
  const server = await startServer({
    pipeline: prepared,
    concurrency,
    logger,
    keepWarm: false,
    processMetrics: false,
    port: 0,
    host: '127.0.0.1',
  });
  await server.close({ graceMs: 0 });
  return lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry['event'] === 'threadpool-small');
}

describe('libuv pool size', () => {
  it("libuv's default of 4 with 4 challenges at once: one warning naming the fix", async () => {
    const warnings = await warningsWith(undefined, 4);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ poolSize: 4, concurrency: 4, needed: 10 });
    expect(warnings[0]!['msg']).toBe(
      'UV_THREADPOOL_SIZE is 4: with 4 challenges at once decoding can stall (each open demuxer holds a libuv thread); set UV_THREADPOOL_SIZE=16 before Node starts',
    );
  }, 60_000);

  it('16 threads for 4 challenges, as bin/firstframe sets: no warning', async () => {
    expect(await warningsWith('16', 4)).toEqual([]);
  }, 60_000);
});
