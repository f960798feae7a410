/**
 * The run's byte budget in the sources: every body byte of every request is charged as it arrives, and the
 * request that passes the limit is aborted with the budget's error.
 */

import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import type { Dispatcher } from 'undici';
import { FirstframeError } from '../../src/core/errors.js';
import { byteBudget, type ByteBudget } from '../../src/sources/budget.js';
import { createDispatcher } from '../../src/sources/dispatcher.js';
import { fileSource } from '../../src/sources/file.js';
import { httpSource, type HttpStrategy } from '../../src/sources/http.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';

const SIZE = 600_000;
const body = randomBytes(SIZE);

let sim: NetSim;
let dispatcher: Dispatcher;

beforeAll(async () => {
  sim = await startNetSim({ files: { '/clip.mp4': body } });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await dispatcher?.destroy();
});

/** The error a source ends with; fails the test if it completes instead. */
async function errorOf(observable: Observable<unknown>): Promise<FirstframeError> {
  try {
    await lastValueFrom(observable);
  } catch (error) {
    expect(error).toBeInstanceOf(FirstframeError);
    return error as FirstframeError;
  }
  throw new Error('expected the source to error');
}

function budgetOf(limit: number | undefined): ByteBudget {
  return byteBudget(
    limit,
    ({ limit: max, used, range }) =>
      new FirstframeError('FF_ERR_LIMIT_BYTES', `${used} > ${max}${range ? ` (${range})` : ''}`, { used }),
  );
}

describe('byteBudget', () => {
  it('counts every charge, throws past the limit and on every charge after, never counts a stream twice', () => {
    const budget = budgetOf(100);
    budget.take(60);
    budget.atLeast(50); // a stream whose 50 bytes were charged already
    expect(budget.used).toBe(60);
    budget.atLeast(90);
    expect(budget.used).toBe(90);
    expect(() => budget.take(11, { range: 'bytes=5-' })).toThrow('101 > 100 (bytes=5-)');
    expect(() => budget.take(0)).toThrow('101 > 100 (bytes=5-)');
  });

  it('without a limit it only counts', () => {
    const budget = budgetOf(undefined);
    budget.take(1e12);
    expect(budget.used).toBe(1e12);
  });
});

describe('httpSource with a budget', () => {
  it.each<[HttpStrategy, Record<string, unknown>]>([
    ['stream', {}],
    ['full', {}],
  ])(
    '%s: FF_ERR_LIMIT_BYTES at the limit, and the connection closed by the client',
    async (strategy, extra) => {
      dispatcher = createDispatcher();
      const budget = budgetOf(250_000);
      // The server stalls after 400 kB and keeps the response open until the client closes it.
      const url = sim.urlFor('/clip.mp4', { stallAfterBytes: 400_000 });
      const error = await errorOf(httpSource(url, { dispatcher, strategy, budget, ...extra }));
      expect(error.code).toBe('FF_ERR_LIMIT_BYTES');
      expect(budget.used).toBeGreaterThan(250_000);
      expect(budget.used).toBeLessThanOrEqual(250_000 + 64 * 1024);
      const record = await sim.waitForRequestEnd(sim.requests[sim.requests.length - 1]!.id, 2000);
      expect(['stalled-closed', 'client-closed']).toContain(record.outcome);
    },
  );

  it('ranges: windows are charged one after another; the one that passes the limit is aborted', async () => {
    dispatcher = createDispatcher();
    const budget = budgetOf(250_000);
    const before = sim.requests.length;
    const error = await errorOf(
      httpSource(sim.urlFor('/clip.mp4'), { dispatcher, strategy: 'ranges', windowBytes: 200_000, budget }),
    );
    expect(error.code).toBe('FF_ERR_LIMIT_BYTES');
    expect(error.message).toContain('(bytes=200000-399999)');
    expect(budget.used).toBeLessThanOrEqual(250_000 + 64 * 1024);
    expect(sim.requests.slice(before).map((r) => r.rangeHeader)).toEqual([
      'bytes=0-199999',
      'bytes=200000-399999',
    ]);
  });

  it('fetchRange is charged to the same budget', async () => {
    dispatcher = createDispatcher();
    const budget = budgetOf(undefined);
    const chunks = await lastValueFrom(
      httpSource(sim.urlFor('/clip.mp4'), {
        dispatcher,
        strategy: 'partial',
        partialBytes: 1000,
        budget,
      }).pipe(toArray()),
    );
    await lastValueFrom(chunks[0]!.resource.fetchRange!({ start: 500_000 }).pipe(toArray()));
    expect(budget.used).toBe(1000 + 100_000);
  });
});

describe('fileSource with a budget', () => {
  it('charges every chunk read, fetchRange too, and stops at the limit', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ff-budget-')), 'clip.bin');
    writeFileSync(file, body);
    const budget = budgetOf(SIZE + 1000);
    const chunks = await lastValueFrom(fileSource(file, { budget }).pipe(toArray()));
    expect(budget.used).toBe(SIZE);
    const error = await errorOf(chunks[0]!.resource.fetchRange!({ start: 0 }));
    expect(error.code).toBe('FF_ERR_LIMIT_BYTES');
    expect(budget.used).toBe(SIZE + 64 * 1024);
  });
});
