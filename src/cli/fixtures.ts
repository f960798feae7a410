/**
 * `firstframe fixtures [--out DIR] [--profile test|bench] [--force] [--json]`: makes the synthetic
 * test or benchmark clips (see `src/fixtures/make.ts`) and lists them.
 */

import { isFirstframeError } from '../core/errors.js';
import { defaultFixtureDir, makeFixtures, type FixtureProfile, type FixtureSet } from '../fixtures/make.js';
import { parseCommand, reportUsage, type CommandSpec, type OptionSpecs } from './args.js';

export const FIXTURES_COMMAND = {
  name: 'fixtures',
  usage: '[--out DIR] [--profile test|bench] [--force] [--json]',
  description: 'Makes synthetic soccer clips with ground truth (needs ffmpeg).',
  options: {
    out: {
      type: 'string',
      value: 'DIR',
      description:
        "where to write them (default: $FIRSTFRAME_CACHE/fixtures when that is set; else .fixtures in a development checkout; else the user's cache, $XDG_CACHE_HOME/firstframe/fixtures or ~/.cache/firstframe/fixtures)",
    },
    profile: {
      type: 'string',
      value: 'NAME',
      description: 'test: 640x360, 4 s, every container (default); bench: 1280x720, 30 s, ~4 Mbit/s',
    },
    force: { type: 'boolean', description: 're-encode even when the set is already there' },
    json: { type: 'boolean', description: 'print the fixture set as JSON instead of a table' },
  },
} as const satisfies CommandSpec<OptionSpecs>;

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
  const parsed = parseCommand(FIXTURES_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const problems = [...parsed.problems];
  const profile = values.profile ?? 'test';
  if (profile !== 'test' && profile !== 'bench') {
    problems.push(`--profile: expected "test" or "bench", got ${JSON.stringify(profile)}`);
  }
  if (values.out === '') problems.push('--out: expected a directory');
  if (problems.length > 0) return reportUsage(FIXTURES_COMMAND, problems, io.stderr);

  let set: FixtureSet;
  try {
    set = await makeFixtures(values.out ?? defaultFixtureDir(), {
      profile: profile as FixtureProfile,
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
