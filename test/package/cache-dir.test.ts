/**
 * Where generated models and fixtures go (src/core/cache-dir.ts): the checkout's own folders in development,
 * the user's cache for an installed package, `FIRSTFRAME_CACHE` above both.
 */

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { generatedDir, isDevelopmentCheckout, packageRoot, userCacheDir } from '../../src/core/cache-dir.js';
import { defaultFixtureDir } from '../../src/fixtures/make.js';
import { defaultModelDir } from '../../src/models/generate.js';
import { repoRoot } from '../support/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'ff-cache-dir-'));
const checkout = join(scratch, 'firstframe');
const installed = join(scratch, 'app', 'node_modules', 'firstframe');
mkdirSync(checkout, { recursive: true });
mkdirSync(installed, { recursive: true });

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('userCacheDir', () => {
  it('takes FIRSTFRAME_CACHE first, resolved from the working directory', () => {
    expect(userCacheDir({ FIRSTFRAME_CACHE: '/srv/ff', XDG_CACHE_HOME: '/x', HOME: '/home/u' })).toBe(
      '/srv/ff',
    );
    expect(userCacheDir({ FIRSTFRAME_CACHE: 'rel' })).toBe(join(process.cwd(), 'rel'));
  });

  it('then an absolute XDG_CACHE_HOME, then ~/.cache', () => {
    expect(userCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/home/u' })).toBe('/x/firstframe');
    expect(userCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/firstframe');
    expect(userCacheDir({ FIRSTFRAME_CACHE: '', XDG_CACHE_HOME: '', HOME: '/home/u' })).toBe(
      '/home/u/.cache/firstframe',
    );
  });
});

describe('generatedDir', () => {
  const env = { XDG_CACHE_HOME: '/x', HOME: '/home/u' };

  it('keeps a checkout’s own folders', () => {
    expect(isDevelopmentCheckout(checkout)).toBe(true);
    expect(generatedDir('fixtures', { packageRoot: checkout, env })).toBe(join(checkout, '.fixtures'));
    expect(generatedDir('models', { packageRoot: checkout, env })).toBe(
      join(checkout, 'models', 'generated'),
    );
  });

  it('sends an installed package’s to the user cache', () => {
    expect(isDevelopmentCheckout(installed)).toBe(false);
    expect(generatedDir('fixtures', { packageRoot: installed, env })).toBe('/x/firstframe/fixtures');
    expect(generatedDir('models', { packageRoot: installed, env })).toBe('/x/firstframe/models');
  });

  it('sends a folder that does not exist (so cannot be written) to the user cache', () => {
    expect(isDevelopmentCheckout(join(scratch, 'gone'))).toBe(false);
    expect(generatedDir('models', { packageRoot: join(scratch, 'gone'), env })).toBe('/x/firstframe/models');
  });

  it('lets FIRSTFRAME_CACHE win in a checkout too', () => {
    const withCache = { ...env, FIRSTFRAME_CACHE: '/srv/ff' };
    expect(generatedDir('fixtures', { packageRoot: checkout, env: withCache })).toBe('/srv/ff/fixtures');
    expect(generatedDir('models', { packageRoot: installed, env: withCache })).toBe('/srv/ff/models');
  });

  it('finds this checkout as the package, and the defaults follow it', () => {
    expect(packageRoot()).toBe(repoRoot.replace(/\/$/, ''));
    const expected = process.env.FIRSTFRAME_CACHE
      ? [join(userCacheDir(), 'fixtures'), join(userCacheDir(), 'models')]
      : [join(packageRoot(), '.fixtures'), join(packageRoot(), 'models', 'generated')];
    expect([defaultFixtureDir(), defaultModelDir()]).toEqual(expected);
  });
});
