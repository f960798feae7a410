#!/usr/bin/env node
// firstframe's install scripts, the same for a checkout (`npm ci`) and for an app that depends on firstframe,
// wherever npm puts beamcoder and onnxruntime-node (hoisted next to firstframe or nested in it):
//
//   node scripts/postinstall.mjs patch   package.json `preinstall`: patch beamcoder, quiet onnxruntime-node
//   node scripts/postinstall.mjs         package.json `postinstall`: the same if not done, then build beamcoder
//
// npm runs every package's preinstall, then every package's install, then every postinstall (arborist's
// rebuild, after all packages are unpacked). So in an app, the preinstall patches beamcoder before beamcoder's
// own `install` script (`node-gyp rebuild`) builds it, and edits onnxruntime-node's postinstall before it runs.
// The postinstall builds beamcoder only when there is no build newer than the patched sources: a checkout
// denies beamcoder's own scripts (package.json `allowScripts`), and an app's policy may too. Both steps can
// run any number of times: a patch already applied is recognised by applying it backwards (dry run).

import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const BEAMCODER_VERSION = '0.7.1';
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireHere = createRequire(join(packageRoot, 'package.json'));

class InstallError extends Error {}

const say = (line) => process.stderr.write(`firstframe install: ${line}\n`);

/** The folder of a dependency as Node resolves it from firstframe (hoisted or nested), or undefined. */
function dependencyDir(name) {
  try {
    return dirname(requireHere.resolve(`${name}/package.json`));
  } catch (error) {
    if (error?.code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

function beamcoderDir() {
  const dir = dependencyDir('beamcoder');
  if (dir === undefined)
    throw new InstallError(`beamcoder is not installed where ${packageRoot} can load it`);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (version !== BEAMCODER_VERSION) {
    throw new InstallError(`${dir} is beamcoder ${version}; patches/ is for ${BEAMCODER_VERSION}`);
  }
  return dir;
}

/**
 * Applies patches/beamcoder+0.7.1.patch with patch-package's own parser (the file mixes CRLF and LF lines,
 * kept byte for byte). Its paths are `node_modules/beamcoder/…`, so they are applied from the folder that
 * holds the node_modules beamcoder is in. Returns the patched files (absolute paths).
 */
function patchBeamcoder(dir) {
  const { parsePatchFile } = requireHere('patch-package/dist/patch/parse.js');
  const { executeEffects } = requireHere('patch-package/dist/patch/apply.js');
  const { reversePatch } = requireHere('patch-package/dist/patch/reverse.js');
  const patchFile = join(packageRoot, 'patches', `beamcoder+${BEAMCODER_VERSION}.patch`);
  const effects = parsePatchFile(readFileSync(patchFile).toString());
  const cwd = dirname(dirname(dir));
  const files = effects.filter((effect) => effect.type === 'patch').map((effect) => join(cwd, effect.path));
  const where = relative(process.cwd(), dir) || '.';
  try {
    executeEffects(effects, { dryRun: true, cwd, bestEffort: false });
  } catch (forwardError) {
    try {
      executeEffects(reversePatch(effects), { dryRun: true, cwd, bestEffort: false });
      return files; // already applied
    } catch {
      throw new InstallError(
        `${patchFile} applies to ${where} neither forwards nor backwards (${forwardError.message}): ` +
          `reinstall beamcoder (remove ${dir}, then npm install)`,
      );
    }
  }
  executeEffects(effects, { dryRun: false, cwd, bestEffort: false });
  say(`patched beamcoder in ${where}`);
  return files;
}

const ORT_FLAG_NAMES = [
  'ONNXRUNTIME_NODE_INSTALL',
  'npm_config_onnxruntime_node_install',
  'ONNXRUNTIME_NODE_INSTALL_CUDA',
  'npm_config_onnxruntime_node_install_cuda',
];
const ORT_MARK = '// firstframe: no CUDA download unless asked';

/**
 * onnxruntime-node's postinstall downloads its CUDA binaries (hundreds of MB, from outside the npm registry)
 * on Linux x64 unless a flag says otherwise, and fails the whole install without a route to that host. Only
 * an app's own environment or .npmrc can set the flag, so its script gets one line that defaults it to
 * `skip`; a flag that is set (`ONNXRUNTIME_NODE_INSTALL=cuda12`) still wins. The CPU build ships in the package.
 */
function quietOnnxruntimeInstall() {
  const dir = dependencyDir('onnxruntime-node');
  const script = dir && join(dir, 'script', 'install.js');
  let text;
  try {
    text = readFileSync(script, 'utf8');
  } catch {
    say(
      `onnxruntime-node's install script not found (${script ?? 'no onnxruntime-node'}): nothing to change`,
    );
    return;
  }
  if (text.includes(ORT_MARK)) return;
  const line =
    `${ORT_MARK} (README, "GPU").\n` +
    `if (!${JSON.stringify(ORT_FLAG_NAMES)}.some((name) => process.env[name])) ` +
    `process.env.ONNXRUNTIME_NODE_INSTALL = 'skip';\n`;
  // After the 'use strict' directive, which must stay the first statement.
  const directive = /^'use strict';\r?\n/m.exec(text);
  const at = directive ? directive.index + directive[0].length : 0;
  writeFileSync(script, text.slice(0, at) + line + text.slice(at));
}

const mtimeMs = (file) => {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
};

/** Builds beamcoder unless build/Release/beamcoder.node is newer than every patched source. */
function buildBeamcoder(dir, patchedFiles) {
  const built = mtimeMs(join(dir, 'build', 'Release', 'beamcoder.node'));
  const newestSource = Math.max(...patchedFiles.map((file) => mtimeMs(file) ?? Infinity));
  if (built !== undefined && built > newestSource) return;
  // npm gives lifecycle scripts its own node-gyp (npm_config_node_gyp, and `node-gyp` on PATH).
  const nodeGyp = process.env.npm_config_node_gyp;
  const [command, args] = nodeGyp ? [process.execPath, [nodeGyp]] : ['node-gyp', []];
  args.push('rebuild', '-j', String(availableParallelism()));
  say(`building beamcoder in ${relative(process.cwd(), dir) || '.'} (about a minute)`);
  const result = spawnSync(command, args, { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new InstallError(`cannot run node-gyp: ${result.error.message}`);
  if (result.status !== 0) {
    throw new InstallError(
      `node-gyp rebuild failed in ${dir} (exit ${result.status ?? result.signal}); it needs FFmpeg's ` +
        'development packages, pkg-config, make and g++ (README, "Install")',
    );
  }
}

function main(step) {
  if (step !== undefined && step !== 'patch') throw new InstallError(`unknown step ${JSON.stringify(step)}`);
  quietOnnxruntimeInstall();
  const dir = beamcoderDir();
  const patchedFiles = patchBeamcoder(dir);
  if (step === undefined) buildBeamcoder(dir, patchedFiles);
}

try {
  main(process.argv[2]);
} catch (error) {
  if (!(error instanceof InstallError)) throw error;
  say(error.message);
  process.exitCode = 1;
}
