import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError, codes } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { decodeSs58, keyHex } from './ss58.js';

/*
 * A metagraph snapshot: which hotkeys hold how much stake, from a JSON file an operator keeps fresh (a cron
 * job with btcli or fiber's fetch_nodes). The file is one object, hotkey (SS58) → stake (a number):
 *
 *     { "5F…": 120345.5, "5G…": 2100 }
 *
 * It is read at start (a file that cannot be read is a configuration error) and again whenever its
 * modification time or size changes, checked at most once a second. A later version that cannot be read
 * is logged and the last good one is kept: a half-written file must not lock every validator out.
 */

export interface MetagraphOptions {
  file: string;
  /** Least stake a validator must hold; default 0 (listed is enough). */
  minStake?: number;
  logger?: Logger;
  /** How often the file's status is looked at, at most; default 1000 ms. */
  recheckMs?: number;
}

export interface Metagraph {
  /** Why the validator (by public key hex) may not send challenges, or undefined when it may. */
  refusal(publicKeyHex: string): Promise<string | undefined>;
  /** Hotkeys in the snapshot in use. */
  size(): number;
}

/** The snapshot's stakes by public key hex, or every problem with the file's content. */
function parseSnapshot(text: string, file: string): Map<string, number> | string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return [`${file}: not JSON (${(error as Error).message})`];
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return [`${file}: expected an object of hotkey → stake`];
  }
  const stakes = new Map<string, number>();
  const problems: string[] = [];
  for (const [hotkey, stake] of Object.entries(json)) {
    let key: string;
    try {
      key = keyHex(decodeSs58(hotkey).publicKey);
    } catch (error) {
      problems.push(`${file}: ${(error as Error).message}`);
      continue;
    }
    if (typeof stake !== 'number' || !Number.isFinite(stake) || stake < 0) {
      problems.push(`${file}: ${hotkey}: expected a stake >= 0, got ${JSON.stringify(stake)}`);
      continue;
    }
    stakes.set(key, stake);
  }
  return problems.length > 0 ? problems.slice(0, 20) : stakes;
}

/**
 * Loads a snapshot and keeps it current.
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) when the file cannot be read or parsed at start.
 */
export function loadMetagraph(options: MetagraphOptions): Metagraph {
  const { file, logger } = options;
  const minStake = options.minStake ?? 0;
  const recheckMs = options.recheckMs ?? 1000;
  let text: string;
  let signature: string;
  try {
    const status = statSync(file);
    signature = `${status.mtimeMs}:${status.size}:${status.ino}`;
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(codes.config.invalidOption, [
      `metagraph: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    ]);
  }
  const first = parseSnapshot(text, file);
  if (Array.isArray(first)) throw new ConfigError(codes.config.invalidOption, first);
  let stakes = first;
  let checkedAt = -Infinity;
  let refreshing: Promise<void> | undefined;

  const refresh = async () => {
    try {
      const status = await stat(file);
      const now = `${status.mtimeMs}:${status.size}:${status.ino}`;
      if (now === signature) return;
      const parsed = parseSnapshot(await readFile(file, 'utf8'), file);
      signature = now;
      if (Array.isArray(parsed)) {
        logger?.warn({ event: 'metagraph-unreadable', file, problems: parsed }, 'metagraph snapshot kept');
        return;
      }
      stakes = parsed;
      logger?.info({ event: 'metagraph-reloaded', file, hotkeys: stakes.size }, 'metagraph reloaded');
    } catch (error) {
      logger?.warn({ event: 'metagraph-unreadable', file, err: (error as Error).message }, 'metagraph kept');
    }
  };

  return {
    async refusal(publicKeyHex) {
      if (performance.now() - checkedAt >= recheckMs) {
        checkedAt = performance.now();
        refreshing ??= refresh().finally(() => (refreshing = undefined));
      }
      if (refreshing) await refreshing;
      const stake = stakes.get(publicKeyHex);
      if (stake === undefined) return 'not in the metagraph snapshot';
      if (stake < minStake) return `stake ${stake} is below the ${minStake} required`;
      return undefined;
    },
    size: () => stakes.size,
  };
}
