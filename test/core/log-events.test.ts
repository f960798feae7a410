import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/core/logger.js';
import { logEvents, teeSinks } from '../../src/core/log-events.js';
import type { StageEvent } from '../../src/core/events.js';

function capture(level: string) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createRootLogger({ level, destination });
  return { logger, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const event = (stage: StageEvent['stage'], name: string, data: Record<string, unknown> = {}): StageEvent => ({
  stage,
  name,
  at: 123.456,
  data,
});

describe('logEvents', () => {
  it('logs milestones as JSON through a child logger per stage and run', async () => {
    const { logger, records } = capture('info');
    const sink = logEvents(logger, 'run-7');
    sink(event('source', 'headers', { status: 206, totalBytes: 1000 }));
    sink(event('source', 'chunk', { bytes: 10 }));
    sink(event('decode', 'first-frame', { frameNumber: 0 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      records().map(({ stage, run, event: name, msg, level, status, frameNumber, at }) => ({
        stage,
        run,
        name,
        msg,
        level,
        status,
        frameNumber,
        at,
      })),
    ).toEqual([
      {
        stage: 'source',
        run: 'run-7',
        name: 'headers',
        msg: 'headers',
        level: 30,
        status: 206,
        frameNumber: undefined,
        at: 123.5,
      },
      {
        stage: 'decode',
        run: 'run-7',
        name: 'first-frame',
        msg: 'first-frame',
        level: 30,
        status: undefined,
        frameNumber: 0,
        at: 123.5,
      },
    ]);
  });

  it('logs chunk and frame events only at debug level', async () => {
    const { logger, records } = capture('debug');
    logEvents(logger, 'r')(event('decode', 'frame', { frameNumber: 4 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ level: 20, event: 'frame', frameNumber: 4 });
  });

  it('logs downgrades and losses at warn level, visible at the CLI default', async () => {
    const { logger, records } = capture('warn');
    const sink = logEvents(logger, 'r');
    sink(event('infer', 'device-fallback', { wanted: 'cuda', reason: 'no CUDA' }));
    sink(event('decode', 'nvdec-unavailable', { reason: 'no device' }));
    sink(event('decode', 'first-frame', { frameNumber: 0 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(records().map(({ level, event: name }) => [level, name])).toEqual([
      [40, 'device-fallback'],
      [40, 'nvdec-unavailable'],
    ]);
  });

  it('teeSinks feeds every sink', () => {
    const a: string[] = [];
    const b: string[] = [];
    teeSinks(
      (e) => a.push(e.name),
      undefined,
      (e) => b.push(e.name),
    )(event('sink', 'end'));
    expect([a, b]).toEqual([['end'], ['end']]);
  });
});
