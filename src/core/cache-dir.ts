/**
 * Where firstframe writes what it generates: the synthetic fixtures and the generated models.
 *
 * A development checkout keeps them in its own folder (`.fixtures/`, `models/generated/`), where
 * scripts/setup.sh, the tests and the benches find them. An installed package must not write into itself: npm
 * replaces its folder on every update, and node_modules may be read-only. There they go to the user's cache:
 * `$FIRSTFRAME_CACHE`, else `$XDG_CACHE_HOME/firstframe`, else `~/.cache/firstframe`. `FIRSTFRAME_CACHE`, when
 * set, wins everywhere, a checkout included.
 */

import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type GeneratedKind = 'fixtures' | 'models';

export interface GeneratedDirOptions {
  /** The package's folder (default: the one holding this module, found by its package.json). */
  packageRoot?: string;
  env?: NodeJS.ProcessEnv;
}

/** The folder of the firstframe package this module belongs to, whether it runs from `src/` or `dist/`. */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(here, '..', '..');
  }
}

/** `$FIRSTFRAME_CACHE`, else `$XDG_CACHE_HOME/firstframe` (an absolute one, as the XDG spec says), else `~/.cache/firstframe`. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FIRSTFRAME_CACHE) return resolve(env.FIRSTFRAME_CACHE);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'firstframe');
  return join(env.HOME || homedir(), '.cache', 'firstframe');
}

/** A checkout being developed: not inside any node_modules, and writable by this process. */
export function isDevelopmentCheckout(root: string): boolean {
  if (root.split(sep).includes('node_modules')) return false;
  try {
    accessSync(root, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where generated files of `kind` are written and looked for. */
export function generatedDir(kind: GeneratedKind, options: GeneratedDirOptions = {}): string {
  const env = options.env ?? process.env;
  const root = options.packageRoot ?? packageRoot();
  if (!env.FIRSTFRAME_CACHE && isDevelopmentCheckout(root)) {
    return kind === 'fixtures' ? join(root, '.fixtures') : join(root, 'models', 'generated');
  }
  return join(userCacheDir(env), kind);
}
