import { spawn, type ChildProcess } from 'node:child_process';

/** How a child process ended. */
export interface ChildResult {
  /** Exit code, or null when it was killed or could not start. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** From spawn to exit. */
  readonly ms: number;
  /** The spawn itself failed (e.g. ENOENT). */
  readonly error?: Error;
  readonly timedOut: boolean;
}

// The children alive right now, process-wide: a benchmark interrupted by SIGINT, or a process leaving by
// process.exit(), must not leave an ffmpeg or a python behind. This is the one piece of module state here,
// because 'exit' is a process-wide event and only synchronous work runs in its handlers.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every child started by {@link runChild} that is still running (SIGKILL), synchronously. */
export function killChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

/** The process ids of the children still running. */
export function liveChildPids(): number[] {
  return [...live].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
}

/**
 * Runs a command to its end, collecting its output; never rejects. The child is killed (SIGKILL) when
 * `signal` aborts, after `timeoutMs`, and when this process exits.
 */
export function runChild(
  command: string,
  args: readonly string[],
  options: { signal?: AbortSignal; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildResult> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killChildren);
  }
  const startedAt = performance.now();
  return new Promise((resolve) => {
    if (options.signal?.aborted) {
      resolve({
        code: null,
        signal: null,
        stdout: '',
        stderr: '',
        ms: 0,
        timedOut: false,
        error: new Error('aborted'),
      });
      return;
    }
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    // Only the end of stderr matters (an error message), and ffmpeg can print a lot.
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-8000)));
    const kill = () => child.kill('SIGKILL');
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => ((timedOut = true), kill()), options.timeoutMs);
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (error) => (spawnError = error));
    child.once('close', (code, signal) => {
      const ms = performance.now() - startedAt;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, ms, timedOut, ...(spawnError ? { error: spawnError } : {}) });
    });
  });
}
