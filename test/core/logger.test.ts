/** The root logger keeps every line bounded, whatever strangers put in the strings it writes. */

import { describe, expect, it } from 'vitest';
import {
  LOG_ARRAY_MAX_ITEMS,
  LOG_STRING_MAX_CHARS,
  boundLogValue,
  createRootLogger,
  truncateForLog,
} from '../../src/core/logger.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const logger = createRootLogger({ level, destination: { write: (line: string) => lines.push(line) } });
  return {
    logger,
    lines,
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const long = (n: number, char = 'x') => char.repeat(n);
const cut = (n: number, char = 'x') =>
  `${long(LOG_STRING_MAX_CHARS, char)}…[+${n - LOG_STRING_MAX_CHARS} chars]`;

describe('truncateForLog and boundLogValue', () => {
  it('cuts long strings with a marker that counts what was cut, and leaves short ones alone', () => {
    expect(LOG_STRING_MAX_CHARS).toBe(1024);
    expect(truncateForLog('short')).toBe('short');
    expect(truncateForLog(long(1024))).toBe(long(1024));
    expect(truncateForLog(long(1025))).toBe(cut(1025));
    expect(truncateForLog('abcdef', 2)).toBe('ab…[+4 chars]');
  });

  it('walks objects and arrays, copying only what changed', () => {
    const small = { a: 'b', n: 1, nested: { list: [1, 'two'] } };
    expect(boundLogValue(small)).toBe(small);
    const big = { keep: 'k', url: long(5000), nested: { list: [long(2000), 3] } };
    expect(boundLogValue(big)).toEqual({ keep: 'k', url: cut(5000), nested: { list: [cut(2000), 3] } });
    expect(big.url).toHaveLength(5000);
    const many = Array.from({ length: 100 }, (_, index) => index);
    expect(boundLogValue(many)).toEqual([...many.slice(0, LOG_ARRAY_MAX_ITEMS), '…[+36 items]']);
  });

  it('ends deep nesting and cycles with a marker', () => {
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const bounded = JSON.stringify(boundLogValue(cycle));
    expect(bounded).toContain('"[nested too deep]"');
    expect(bounded.length).toBeLessThan(400);
  });

  it('errors become copies of the same class with message, stack and fields cut; toJSON values by their JSON', () => {
    class HostError extends Error {
      readonly code = 'FF_ERR_X';
      readonly context = { url: `http://host/${long(2000)}` };
    }
    const error = new HostError(`GET http://host/${long(3000, 'p')}: HTTP 500`, {
      cause: new Error(long(1500)),
    });
    const bounded = boundLogValue(error) as HostError & { cause: Error };
    expect(bounded).toBeInstanceOf(HostError);
    expect(bounded).not.toBe(error);
    expect(bounded.message).toBe(truncateForLog(error.message));
    expect(bounded.message.endsWith(`…[+${error.message.length - LOG_STRING_MAX_CHARS} chars]`)).toBe(true);
    expect(bounded.stack).toBe(truncateForLog(error.stack!));
    expect(bounded.code).toBe('FF_ERR_X');
    expect(bounded.context.url).toBe(truncateForLog(error.context.url));
    expect(bounded.cause.message).toBe(cut(1500));
    expect(error.message).toHaveLength(3000 + 26);
    expect(boundLogValue(new URL(`http://host/${long(2000)}`))).toBe(
      truncateForLog(`http://host/${long(2000)}`),
    );
    expect(boundLogValue(Buffer.from([1, 2]))).toEqual({ type: 'Buffer', data: [1, 2] });
  });
});

describe('createRootLogger: every line bounded', () => {
  it('cuts strings in a call’s fields, its message and a child’s bindings (at every depth of children)', () => {
    const { logger, records, lines } = capture();
    const url = `http://video.example/${long(8000, 'u')}`;
    const child = logger.child({ challenge_id: long(60_000, 'i') }).child({ target: url });
    child.info({ event: 'answer', video: url, list: [url] }, `fetching ${url}`);
    const [record] = records();
    expect(record).toMatchObject({
      challenge_id: cut(60_000, 'i'),
      target: truncateForLog(url),
      video: truncateForLog(url),
      list: [truncateForLog(url)],
      msg: truncateForLog(`fetching ${url}`),
      event: 'answer',
      level: 30,
    });
    expect(lines[0]!.length).toBeLessThan(6 * (LOG_STRING_MAX_CHARS + 20) + 200);
  });

  it('an error logged alone keeps its place under err and its message as msg, both cut', () => {
    const { logger, records } = capture();
    logger.error(new Error(long(5000, 'e')));
    logger.warn({ err: new Error(long(3000, 'w')) }, 'with a message');
    const [alone, inField] = records() as Array<{ msg: string; err: { message: string; type: string } }>;
    expect(alone!.msg).toBe(cut(5000, 'e'));
    expect(alone!.err).toMatchObject({ type: 'Error', message: cut(5000, 'e') });
    expect(inField!.msg).toBe('with a message');
    expect(inField!.err.message).toBe(cut(3000, 'w'));
  });

  it('short lines are written exactly as pino writes them', () => {
    const { logger, records } = capture();
    logger
      .child({ stage: 'decode', run: 'r1' })
      .info({ event: 'first-frame', frameNumber: 0 }, 'first-frame');
    expect(records()).toEqual([
      expect.objectContaining({
        stage: 'decode',
        run: 'r1',
        event: 'first-frame',
        frameNumber: 0,
        msg: 'first-frame',
      }),
    ]);
  });
});
