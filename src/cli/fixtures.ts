/**
 * `firstframe fixtures [--out DIR] [--profile test|bench] [--force] [--json]`: makes the synthetic
 * test or benchmark clips (see `src/fixtures/make.ts`) and lists them.
 */

import { isFirstframeError } from '../core/errors.js';
import { defaultFixtureDir, makeFixtures, type FixtureProfile, type FixtureSet } from '../fixtures/make.js';
import { parseCommandArgs } from './args.js';

export const FIXTURES_USAGE = `usage: firstframe fixtures [--out DIR] [--profile test|bench] [--force] [--json]

Makes synthetic soccer clips with ground truth (needs ffmpeg).
  --out DIR        where to write them (default: .fixtures in the package)
  --profile NAME   test: 640x360, 4 s, every container (default); bench: 1280x720, 30 s, ~4 Mbit/s
  --force          re-encode even when the set is already there
  --json           print the fixture set as JSON instead of a table`;

/**
 * Runs the command.
 *
 * @param argv the arguments after `fixtures`
 * @returns the exit status: 0 done, 1 making the clips failed, 2 bad usage
 */
export async function fixturesCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const parsed = parseCommandArgs(
    'fixtures',
    FIXTURES_USAGE,
    argv,
    {
      out: { type: 'string' },
      profile: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const profile = values.profile ?? 'test';
  if (profile !== 'test' && profile !== 'bench') {
    io.stderr.write(
      `firstframe fixtures: --profile: expected "test" or "bench", got "${profile}"\n${FIXTURES_USAGE}\n`,
    );
    return 2;
  }
  if (values.out === '') {
    io.stderr.write(`firstframe fixtures: --out: expected a directory\n${FIXTURES_USAGE}\n`);
    return 2;
  }

  let set: FixtureSet;
  try {
    set = await makeFixtures(values.out ?? defaultFixtureDir(), {
      profile: profile satisfies FixtureProfile,
      force: values.force ?? false,
      log: (line) => io.stderr.write(`${line}\n`),
    });
  } catch (err) {
    const code = isFirstframeError(err) ? ` [${err.code}]` : '';
    io.stderr.write(`firstframe fixtures${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  io.stdout.write(values.json ? `${JSON.stringify(set, null, 2)}\n` : formatTable(set));
  return 0;
}

function formatTable(set: FixtureSet): string {
  const header = ['name', 'layout', 'size', 'frames', 'bytes'];
  const rows = Object.values(set.clips).map((clip) => [
    clip.name,
    clip.layout,
    `${clip.width}x${clip.height}`,
    String(clip.frames),
    String(clip.bytes),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  // Numbers right-aligned, text left-aligned.
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) =>
        column >= 3 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return `${[`fixtures in ${set.dir}`, line(header), ...rows.map(line)].join('\n')}\n`;
}
