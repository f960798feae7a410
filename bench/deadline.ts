// run: npx tsx bench/deadline.ts [--runs N] [--concurrency 1,4] [--budget 3] [--resolution 10]
//                                [--compare DIR] [--root DIR] [--server-node-arg ARG …] [--max-minutes 20]
//                                [--compute-nice N[,M]] [--spare-runtime yes|no[,yes|no]]
//
// Before/after in one run, e.g. against the commit before a change:
//   git archive <commit> | (mkdir -p /tmp/ff-before && tar -x -C /tmp/ff-before)
//   ln -s "$PWD/node_modules" "$PWD/models" /tmp/ff-before/
//   npx tsx bench/deadline.ts --compare /tmp/ff-before
//
// Is the challenge server on time under load? The real server (src/server) runs in a child process with
// the soccer profile, the bundled soccer models and TIME_BUDGET_S = --budget; this process serves the
// bundled 720p bench clip (1280×720, 30 s, 15 MB: longer than any budget, so the budget ends every run)
// through the network simulator at the seeds' link (1 660 000 B/s per response, 100 ms to first byte),
// and sends challenges: one alone, then N at once, for each N of --concurrency, --runs times.
//
// Per run it prints, for each server:
//   late        answer time minus the budget, by this process's clock, from sending the request to the
//               whole answer received: the worst and the best of the run's challenges (target ≤ 100 ms);
//   run − budget the server's own run time (Server-Timing `run`) minus the budget, worst of the run;
//   timer       how late the budget sink's deadline timer fired (its `deadline` event after `budget-start`
//               plus the budget), worst of the run;
//   teardown    from that event to the sink's `end` (upstream torn down: download aborted, decoder freed),
//               worst of the run;
//   loop max/p99 the event loop's longest delay and its 99th percentile in the server's process while the
//               run's challenges were in flight (perf_hooks.monitorEventLoopDelay at --resolution ms; the
//               histogram records whole timer intervals, so the resolution is subtracted: a loop that is
//               never blocked reads 0) (target ≤ 50 ms);
//   own max/p99 the same delays counted in the server's main-thread CPU time (Linux schedstat) instead of
//               wall time: what its own work would cost on an idle machine, comparable under load;
//   worst       the interval with the longest loop delay split into the main thread's CPU time, its time
//               waiting for a core (run queue) and its time asleep (blocked, e.g. on a lock, or idle), ms;
//   client max  the loop delay of this process (netsim and client): if it is large, the machine is too busy
//               for the wall-time figures above to be trusted.
// Then the medians over runs and pass/fail: every challenge answered (any status: an answer without
// results is still on time or late) with every run's worst lateness ≤ 100 ms, and every run's loop max
// ≤ 50 ms (exit status 0 when this checkout's server passes, 1 when not). With --compare DIR a second
// server runs from another checkout (its src/ is what runs; node_modules and models linked in): both answer
// the same runs, taking turns, so that both see the same machine load; --compute-nice N[,M] sets the nice
// value of the servers' threads but the event loop's (default 10, as `serve`; M for the compare server,
// default N: `--compare . --compute-nice 10,0` measures the priority alone); --spare-runtime yes,no likewise
// keeps libuv's pool and V8's workers at the event loop's priority or lowers them too (src/core/thread-priority.ts); --root DIR picks the first one
// (default: this checkout). --server-node-arg passes options to the servers' node (e.g.
// --cpu-prof --cpu-prof-dir=/tmp/prof). Loopback only; the whole benchmark is bounded (each challenge is
// abandoned after budget + 20 s, the process exits after --max-minutes) and stops its children on exit.
import { positiveOptions } from './options.js';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerComputeThreads } from '../src/core/thread-priority.js';
import type { PreparedPipeline } from '../src/pipelines/runner.js';
import { watchMainThread } from './loop-watch.js';
import { serverTiming } from './server-timing.js';

const RATE_BYTES_PER_SEC = 1_660_000;
const TTFB_MS = 100;
const LOOP_TARGET_MS = 50;
const LATE_TARGET_MS = 100;
const HERE = fileURLToPath(import.meta.url);
const REPO = resolve(HERE, '..', '..');

/** The event loop's delays over a window, in ms (resolution already subtracted). */
interface LoopDelay {
  maxMs: number;
  p99Ms: number;
  meanMs: number;
  samples: number;
  /**
   * The same delays counted in the main thread's own CPU time (Linux schedstat), not wall time: what the
   * thread's work alone would have delayed the loop by on an idle machine. Time spent waiting for a core
   * (the machine busy with other processes) is left out, so this stays comparable under load; a thread
   * that blocks without running (a lock, a synchronous wait) is not counted here but is in `maxMs`.
   * Undefined where /proc/<pid>/task/<tid>/schedstat cannot be read.
   */
  ownMaxMs?: number;
  ownP99Ms?: number;
  /** The interval with the longest wall-time delay, split into running, waiting for a core and sleeping. */
  worst?: LoopSplit;
}

/** `cpu/wait/slept` of the worst interval, in whole ms. */
function splitText(split: LoopSplit | undefined): string {
  return split ? [split.cpuMs, split.waitMs, split.sleptMs].map((ms) => ms.toFixed(0)).join('/') : '-';
}

/** One sampling interval of the main thread: how late it ended and where its time went (ms). */
interface LoopSplit {
  lateMs: number;
  cpuMs: number;
  waitMs: number;
  sleptMs: number;
}

/** Where the time after the deadline went, per run, from the budget sink's events in the server. */
interface DeadlineTimes {
  /** The deadline event after budget-start + budget: how late the sink's timer fired. */
  timerLateMs: number;
  /** The sink's end event after its deadline event: tearing the run down (download, decoder) and answering. */
  teardownMs: number;
}

type ToServer = { type: 'reset' } | { type: 'report' };
type FromServer =
  | { type: 'ready'; url: string; setupMs: number; pipeline: string }
  | { type: 'reset' }
  | { type: 'report'; loop: LoopDelay; deadlines: DeadlineTimes[] }
  | { type: 'failed'; message: string };

function delays(histogram: IntervalHistogram, resolutionMs: number): LoopDelay {
  const ms = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs);
  return histogram.count === 0
    ? { maxMs: 0, p99Ms: 0, meanMs: 0, samples: 0 }
    : {
        maxMs: ms(histogram.max),
        p99Ms: ms(histogram.percentile(99)),
        meanMs: ms(histogram.mean),
        samples: histogram.count,
      };
}

/**
 * Samples the main thread's schedstat at every tick of a `resolutionMs` timer. For each interval between two
 * ticks: the wall time beyond the interval asked for, and how much of the interval the thread spent running
 * (CPU) and waiting for a core (the run queue); the rest it slept, i.e. it was blocked (a lock, a synchronous
 * wait) or idle. `ownMaxMs` is the CPU beyond the interval; the worst interval by wall time is split into its
 * three parts, so that a late loop can be told apart: its own work, no core free, or blocked.
 * Undefined where schedstat is not available.
 */
function ownWorkSampler(resolutionMs: number) {
  const path = `/proc/${process.pid}/task/${process.pid}/schedstat`;
  const read = () => {
    const [cpu, wait] = readFileSync(path, 'utf8').split(' ').map(Number);
    return { at: performance.now(), cpuMs: cpu! / 1e6, waitMs: wait! / 1e6 };
  };
  try {
    read();
  } catch {
    return undefined;
  }
  let own: number[] = [];
  let worst: LoopSplit | undefined;
  let last = read();
  const timer = setInterval(() => {
    const now = read();
    const wallMs = now.at - last.at;
    const cpuMs = now.cpuMs - last.cpuMs;
    const waitMs = now.waitMs - last.waitMs;
    own.push(Math.max(0, cpuMs - resolutionMs));
    if (!worst || wallMs - resolutionMs > worst.lateMs) {
      worst = { lateMs: wallMs - resolutionMs, cpuMs, waitMs, sleptMs: Math.max(0, wallMs - cpuMs - waitMs) };
    }
    last = now;
  }, resolutionMs);
  timer.unref();
  return {
    reset: () => {
      own = [];
      worst = undefined;
      last = read();
    },
    read: (): Pick<LoopDelay, 'ownMaxMs' | 'ownP99Ms' | 'worst'> => {
      const sorted = [...own].sort((a, b) => a - b);
      return {
        ownMaxMs: sorted.at(-1) ?? 0,
        ownP99Ms: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0,
        ...(worst ? { worst } : {}),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The server's side: a child process started by the benchmark with `--role server`.

async function serve(
  root: string,
  budgetS: number,
  concurrency: number,
  resolutionMs: number,
  computeNice: number,
  spareRuntime: boolean,
) {
  // As `firstframe serve --compute-nice` does, from this checkout whatever the root (so that --compare can
  // measure the same code with another value).
  lowerComputeThreads({ nice: computeNice, spareRuntime });
  if (process.env['FIRSTFRAME_WATCH_MAIN'] === '1') watchMainThread();
  const load = (path: string) => import(pathToFileURL(resolve(root, path)).href);
  const { readEnvConfig } = (await load('src/core/config.ts')) as typeof import('../src/core/config.js');
  const { loadPipeline } = (await load('src/pipelines/load.ts')) as typeof import('../src/pipelines/load.js');
  const { startServer } = (await load('src/server/server.ts')) as typeof import('../src/server/server.js');
  const { preparePipeline } = (await load(
    'src/pipelines/runner.ts',
  )) as typeof import('../src/pipelines/runner.js');
  const send = (message: FromServer) => process.send!(message);
  // The pipeline reads no other variable than the budget from here: a miner's environment must not
  // change what is measured.
  const env = readEnvConfig({ TIME_BUDGET_S: String(budgetS) });
  // Prepared as `serve` prepares it (every batch size warmed up).
  const prepared = await preparePipeline(loadPipeline({ profile: 'soccer', env }), { warmBatchSizes: true });
  // Each run's budget events, seen through a tee around the server's own event sink.
  let deadlines: DeadlineTimes[] = [];
  const watched: PreparedPipeline = {
    ...prepared,
    run: (target, runOptions = {}) => {
      let startedAt: number | undefined;
      let budgetMs = 0;
      let deadlineAt: number | undefined;
      return prepared.run(target, {
        ...runOptions,
        onEvent: (event) => {
          runOptions.onEvent?.(event);
          if (event.stage !== 'sink') return;
          if (event.name === 'budget-start') {
            startedAt = event.at;
            budgetMs = Number(event.data?.['budgetMs'] ?? 0);
          } else if (event.name === 'deadline') {
            deadlineAt = event.at;
          } else if (event.name === 'end' && startedAt !== undefined && deadlineAt !== undefined) {
            deadlines.push({
              timerLateMs: deadlineAt - startedAt - budgetMs,
              teardownMs: event.at - deadlineAt,
            });
          }
        },
      });
    },
  };
  const server = await startServer({
    pipeline: watched,
    allowPrivate: true,
    concurrency,
    queue: concurrency,
    processMetrics: false,
    keepWarm: false,
  });
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const ownWork = ownWorkSampler(resolutionMs);
  process.on('message', (message: ToServer) => {
    if (message.type === 'reset') {
      histogram.reset();
      ownWork?.reset();
      deadlines = [];
      send({ type: 'reset' });
    } else if (message.type === 'report') {
      send({ type: 'report', loop: { ...delays(histogram, resolutionMs), ...ownWork?.read() }, deadlines });
    }
  });
  // The benchmark gone (ended, killed): nothing is left running.
  process.once('disconnect', () => {
    void server
      .close({ graceMs: 0 })
      .then(() => prepared.release())
      .finally(() => process.exit(0));
  });
  send({
    type: 'ready',
    url: server.url,
    setupMs: server.prepared.setupMs,
    pipeline: server.prepared.pipeline.name,
  });
}

// ---------------------------------------------------------------------------------------------------
// The benchmark's side.

interface ServerHandle {
  label: string;
  root: string;
  child: ChildProcess;
  url: string;
  setupMs: number;
  ask(message: ToServer): Promise<FromServer>;
}

interface Answer {
  status: number;
  frames: number;
  lateMs: number;
  runLateMs: number | undefined;
  error?: string;
}

interface RunFigures {
  answers: Answer[];
  loop: LoopDelay;
  clientLoop: LoopDelay;
  deadlines: DeadlineTimes[];
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      role: { type: 'string', default: 'bench' },
      root: { type: 'string', default: REPO },
      runs: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '1,4' },
      budget: { type: 'string', default: '3' },
      resolution: { type: 'string', default: '10' },
      compare: { type: 'string' },
      'server-node-arg': { type: 'string', multiple: true, default: [] },
      'max-minutes': { type: 'string', default: '20' },
      'compute-nice': { type: 'string', default: '10' },
      'spare-runtime': { type: 'string', default: 'yes' },
    },
    strict: true,
  });
  const problems: string[] = [];
  const positive = positiveOptions(problems);
  const runs = positive('runs', values.runs, true);
  const budgetS = positive('budget', values.budget, false);
  const resolutionMs = positive('resolution', values.resolution, true);
  const maxMinutes = positive('max-minutes', values['max-minutes'], false);
  const concurrency = values.concurrency.split(',').map((part) => positive('concurrency', part, true));
  const nice = values['compute-nice'].split(',').map((part) => {
    const value = Number(part);
    if (!(Number.isInteger(value) && value >= 0 && value <= 19)) {
      problems.push(`--compute-nice: expected integers from 0 to 19, got ${JSON.stringify(part)}`);
    }
    return value;
  });
  const spare = values['spare-runtime'].split(',').map((part) => {
    if (part !== 'yes' && part !== 'no') {
      problems.push(`--spare-runtime: expected yes or no, got ${JSON.stringify(part)}`);
    }
    return part === 'yes';
  });
  if (resolutionMs > 10) problems.push(`--resolution: expected 10 ms or finer, got ${resolutionMs}`);
  if (problems.length > 0) {
    console.error(`bench/deadline: ${problems.join('; ')}`);
    process.exit(2);
  }
  return {
    role: values.role,
    root: resolve(values.root),
    runs,
    budgetS,
    resolutionMs,
    maxMinutes,
    concurrency,
    compare: values.compare === undefined ? undefined : resolve(values.compare),
    serverNodeArgs: values['server-node-arg'],
    computeNice: nice[0]!,
    compareComputeNice: nice[1] ?? nice[0]!,
    spareRuntime: spare[0]!,
    compareSpareRuntime: spare[1] ?? spare[0]!,
  };
}

type Options = ReturnType<typeof readOptions>;

async function startChild(label: string, root: string, options: Options): Promise<ServerHandle> {
  const child = fork(
    HERE,
    [
      '--role',
      'server',
      '--root',
      root,
      '--budget',
      String(options.budgetS),
      '--concurrency',
      String(Math.max(...options.concurrency)),
      '--resolution',
      String(options.resolutionMs),
      '--compute-nice',
      String(label === 'compare' ? options.compareComputeNice : options.computeNice),
      '--spare-runtime',
      (label === 'compare' ? options.compareSpareRuntime : options.spareRuntime) ? 'yes' : 'no',
    ],
    {
      execArgv: ['--import', 'tsx', ...options.serverNodeArgs],
      // As bin/firstframe and the pm2 file run `serve`: each open demuxer holds a libuv thread while it
      // waits for bytes, and with libuv's default of 4, four challenges at once left none for decoding (one
      // frame each in 3 s).
      env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const waiters: Array<(message: FromServer) => void> = [];
  const ready = new Promise<Extract<FromServer, { type: 'ready' }>>((resolveReady, rejectReady) => {
    child.once('exit', (code, signal) =>
      rejectReady(new Error(`${label} server exited (${signal ?? code}) before it was ready`)),
    );
    child.on('message', (message: FromServer) => {
      if (message.type === 'ready') resolveReady(message);
      else if (message.type === 'failed') rejectReady(new Error(`${label} server: ${message.message}`));
      else waiters.shift()?.(message);
    });
  });
  const started = await ready;
  child.on('exit', (code, signal) => {
    if (!stopping)
      console.error(`bench/deadline: the ${label} server exited (${signal ?? code}) during the run`);
  });
  return {
    label,
    root,
    child,
    url: started.url,
    setupMs: started.setupMs,
    ask: (message) =>
      new Promise((resolveAnswer, rejectAnswer) => {
        // A server that died or hangs ends the benchmark instead of stalling it.
        const timer = setTimeout(
          () => rejectAnswer(new Error(`the ${label} server did not answer ${message.type}`)),
          30_000,
        );
        const gone = () => rejectAnswer(new Error(`the ${label} server exited`));
        child.once('exit', gone);
        waiters.push((reply) => {
          clearTimeout(timer);
          child.off('exit', gone);
          resolveAnswer(reply);
        });
        child.send(message);
      }),
  };
}

let stopping = false;

async function challenge(
  server: ServerHandle,
  videoUrl: string,
  id: string,
  budgetS: number,
): Promise<Answer> {
  const startedAt = performance.now();
  const budgetMs = budgetS * 1000;
  try {
    const response = await fetch(`${server.url}/soccer/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        challenge_id: id,
        type: 'gsr',
        video_url: videoUrl,
        created_at: new Date().toISOString(),
      }),
      signal: AbortSignal.timeout(budgetMs + 20_000),
    });
    const body = (await response.json()) as { frames?: unknown[]; error?: { code?: string } };
    const lateMs = performance.now() - startedAt - budgetMs;
    const run = serverTiming(response.headers.get('server-timing'))['run'];
    return {
      status: response.status,
      frames: body.frames?.length ?? 0,
      lateMs,
      runLateMs: run === undefined ? undefined : run - budgetMs,
      ...(body.error?.code ? { error: body.error.code } : {}),
    };
  } catch (error) {
    return {
      status: 0,
      frames: 0,
      lateMs: performance.now() - startedAt - budgetMs,
      runLateMs: undefined,
      error: (error as Error).name,
    };
  }
}

async function measureRun(
  server: ServerHandle,
  videoUrl: string,
  concurrency: number,
  tag: string,
  budgetS: number,
  clientLoop: IntervalHistogram,
  resolutionMs: number,
): Promise<RunFigures> {
  await server.ask({ type: 'reset' });
  clientLoop.reset();
  const answers = await Promise.all(
    Array.from({ length: concurrency }, (_, index) =>
      challenge(server, videoUrl, `${tag}-${index}`, budgetS),
    ),
  );
  const client = delays(clientLoop, resolutionMs);
  const report = await server.ask({ type: 'report' });
  if (report.type !== 'report')
    throw new Error(`unexpected reply ${report.type} from the ${server.label} server`);
  return { answers, loop: report.loop, clientLoop: client, deadlines: report.deadlines };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const fmt = (value: number | undefined, width = 6) =>
  (value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(0)).padStart(width);
const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

async function bench(options: Options): Promise<boolean> {
  const { defaultFixtureDir, makeFixtures } = await import('../src/fixtures/make.js');
  const { startNetSim } = await import('../src/sim/netsim.js');
  const set = await makeFixtures(defaultFixtureDir(), { profile: 'bench' });
  const clip = set.clips['bench-faststart'];
  if (!clip) throw new Error(`no bench-faststart clip in ${set.dir}`);
  const sim = await startNetSim({ root: set.dir, rateBytesPerSec: RATE_BYTES_PER_SEC, ttfbMs: TTFB_MS });
  const videoUrl = sim.urlFor(`/${clip.file.split('/').pop()!}`);
  const servers: ServerHandle[] = [];
  const clientLoop = monitorEventLoopDelay({ resolution: options.resolutionMs });
  clientLoop.enable();
  try {
    servers.push(await startChild('this', options.root, options));
    if (options.compare) servers.push(await startChild('compare', options.compare, options));
    console.log(
      `bench/deadline: soccer profile, ${options.budgetS} s budget, ${clip.width}×${clip.height} ` +
        `${(clip.frames / clip.fps).toFixed(0)} s clip (${(clip.bytes / 1e6).toFixed(1)} MB) at ` +
        `${RATE_BYTES_PER_SEC} B/s, ${TTFB_MS} ms TTFB; ${options.runs} runs of ${options.concurrency.join(', ')} ` +
        `challenge(s) at once; loop resolution ${options.resolutionMs} ms; ${availableParallelism()} cores, ` +
        `load average ${load()}`,
    );
    for (const server of servers) {
      const nice = server.label === 'compare' ? options.compareComputeNice : options.computeNice;
      const spared = (server.label === 'compare' ? options.compareSpareRuntime : options.spareRuntime)
        ? 'yes'
        : 'no';
      console.log(
        `  ${server.label.padEnd(7)} ${server.root} (set-up ${server.setupMs.toFixed(0)} ms, compute nice ${nice}, runtime threads spared: ${spared})`,
      );
      // Warm-up (JIT, first connections), not counted.
      await challenge(server, videoUrl, `warm-${server.label}`, options.budgetS);
    }
    console.log(
      'server   at-once  run  ok/n  frames   late max   min  run−budget  timer  teardown   loop max   p99   own max   p99   worst: cpu/wait/slept   client max',
    );
    const figures = new Map<string, RunFigures[]>();
    for (let run = 1; run <= options.runs; run += 1) {
      for (const concurrency of options.concurrency) {
        for (const server of servers) {
          const result = await measureRun(
            server,
            videoUrl,
            concurrency,
            `${server.label}-c${concurrency}-r${run}`,
            options.budgetS,
            clientLoop,
            options.resolutionMs,
          );
          const key = `${server.label}\u0000${concurrency}`;
          figures.set(key, [...(figures.get(key) ?? []), result]);
          const ok = result.answers.filter((answer) => answer.status === 200);
          const late = result.answers.map((answer) => answer.lateMs);
          const runLate = result.answers.flatMap((answer) =>
            answer.runLateMs === undefined ? [] : [answer.runLateMs],
          );
          const errors = result.answers.flatMap((answer) => (answer.error ? [answer.error] : []));
          console.log(
            `${server.label.padEnd(8)} ${String(concurrency).padStart(7)} ${String(run).padStart(4)}  ` +
              `${ok.length}/${result.answers.length}  ${fmt(median(ok.map((answer) => answer.frames)), 6)}  ` +
              `${fmt(Math.max(...late), 9)} ${fmt(Math.min(...late), 5)}  ${fmt(Math.max(...runLate), 10)}  ` +
              `${fmt(Math.max(...result.deadlines.map((d) => d.timerLateMs)), 5)} ` +
              `${fmt(Math.max(...result.deadlines.map((d) => d.teardownMs)), 9)}  ` +
              `${fmt(result.loop.maxMs, 9)} ${fmt(result.loop.p99Ms, 5)}  ${fmt(result.loop.ownMaxMs, 8)} ` +
              `${fmt(result.loop.ownP99Ms, 5)}  ${splitText(result.loop.worst).padStart(22)}  ` +
              `${fmt(result.clientLoop.maxMs, 11)}` +
              (errors.length > 0 ? `  errors: ${errors.join(', ')}` : ''),
          );
        }
      }
    }
    console.log(`load average after: ${load()}`);
    console.log(
      `medians over ${options.runs} runs (worst run in brackets); pass: every answer ≤ ${LATE_TARGET_MS} ms ` +
        `late and every loop max ≤ ${LOOP_TARGET_MS} ms`,
    );
    let allPass = true;
    for (const server of servers) {
      for (const concurrency of options.concurrency) {
        const runs = figures.get(`${server.label}\u0000${concurrency}`) ?? [];
        const worstLate = runs.map((run) => Math.max(...run.answers.map((answer) => answer.lateMs)));
        const loopMax = runs.map((run) => run.loop.maxMs);
        const loopP99 = runs.map((run) => run.loop.p99Ms);
        const ownMax = runs.map((run) => run.loop.ownMaxMs ?? Number.NaN);
        // Every challenge must get an answer in time; one without results (a 503 when nothing was inferred
        // within the budget) is still an answer, and is counted beside it.
        const unanswered = runs.some((run) => run.answers.some((answer) => answer.status === 0));
        const answers = runs.flatMap((run) => run.answers);
        const not200 = answers.filter((answer) => answer.status !== 200 && answer.status !== 0).length;
        const latePass = !unanswered && Math.max(...worstLate) <= LATE_TARGET_MS;
        const loopPass = Math.max(...loopMax) <= LOOP_TARGET_MS;
        if (server.label === 'this') allPass &&= latePass && loopPass;
        console.log(
          `  ${server.label.padEnd(7)} ${concurrency} at once: late ${fmt(median(worstLate), 0)} ms ` +
            `(${fmt(Math.max(...worstLate), 0)}) ${latePass ? 'PASS' : 'FAIL'} ≤ ${LATE_TARGET_MS} ms` +
            `${unanswered ? ' (some challenges got no answer)' : ''}` +
            `${not200 > 0 ? ` (${not200} of ${answers.length} answers not 200)` : ''}; loop max ${fmt(median(loopMax), 0)} ms ` +
            `(${fmt(Math.max(...loopMax), 0)}), p99 ${fmt(median(loopP99), 0)} ms ` +
            `${loopPass ? 'PASS' : 'FAIL'} ≤ ${LOOP_TARGET_MS} ms; own work max ${fmt(median(ownMax), 0)} ms ` +
            `(${fmt(Math.max(...ownMax), 0)})`,
        );
      }
    }
    return allPass;
  } finally {
    stopping = true;
    clientLoop.disable();
    for (const server of servers) server.child.disconnect();
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolveExit) => {
            if (server.child.exitCode !== null) return resolveExit();
            const kill = setTimeout(() => server.child.kill('SIGKILL'), 5000);
            server.child.once('exit', () => {
              clearTimeout(kill);
              resolveExit();
            });
          }),
      ),
    );
    await sim.close();
  }
}

const options = readOptions();
if (options.role === 'server') {
  await serve(
    options.root,
    options.budgetS,
    Math.max(...options.concurrency),
    options.resolutionMs,
    options.computeNice,
    options.spareRuntime,
  ).catch((error: unknown) => {
    process.send?.({
      type: 'failed',
      message: String((error as Error)?.stack ?? error),
    } satisfies FromServer);
    process.exit(1);
  });
} else {
  const guard = setTimeout(() => {
    console.error(`bench/deadline: still running after ${options.maxMinutes} min; giving up`);
    process.exit(3);
  }, options.maxMinutes * 60_000);
  guard.unref();
  const pass = await bench(options);
  process.exit(pass ? 0 : 1);
}
