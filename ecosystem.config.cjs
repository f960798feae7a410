/* global module */
// pm2 process file for the SN44 challenge server: `pm2 start ecosystem.config.cjs`, `pm2 reload firstframe`.
//
// Stopping: pm2 sends SIGINT (kill_signal); `firstframe serve` closes its port at once, lets in-flight
// challenges finish for FIRSTFRAME_GRACE_S seconds (then answers them with the frames done), releases the
// models and exits 0. kill_timeout is that grace period plus 5 s for the release; only past it does pm2
// send SIGKILL. Keep the two in step when changing either.
//
// Starting: the models are loaded and warmed up before the port opens, which takes a few seconds (longer
// on a cold GPU); the server then calls process.send('ready'), and wait_ready makes pm2 wait for it
// (listen_timeout at most) before it counts the process as up, so a reload never routes traffic to a
// process still loading.
const graceS = 15;

module.exports = {
  apps: [
    {
      name: 'firstframe',
      script: 'bin/firstframe',
      // Your own operators: a plugin module exporting `operators` (defineOperator definitions), named by
      // --plugin (repeatable; relative to cwd) or by the pipeline document's `plugins:` list, e.g.
      //   args: ['serve', '--pipeline', './my-pipeline.yaml', '--plugin', './my-operators.js'],
      // Plain node imports .js/.mjs plugins; a .ts one needs a TypeScript loader (interpreter_args: '--import tsx').
      args: ['serve', '--profile', 'soccer'],
      interpreter: 'node',
      // One process: the model session is shared by all challenges inside it, and a second process
      // would load a second copy of the models onto the same GPU.
      exec_mode: 'fork',
      instances: 1,
      kill_signal: 'SIGINT',
      kill_timeout: (graceS + 5) * 1000,
      wait_ready: true,
      listen_timeout: 120_000,
      autorestart: true,
      min_uptime: 10_000,
      max_restarts: 10,
      restart_delay: 2_000,
      // JSON log lines (pino) go to stderr; pm2 keeps them in its error log.
      merge_logs: true,
      env: {
        NODE_ENV: 'production',
        // Each running decode holds a libuv thread while it waits for bytes (bin/firstframe sets the same).
        UV_THREADPOOL_SIZE: '16',
        // glibc's allocator as firstframe wants it, read at the process's start: one heap for all threads,
        // freed memory kept, so that a challenge's first decoder does not fault its pages in on the clock
        // (src/core/allocator.cts; bin/firstframe can only set part of it once the process runs).
        GLIBC_TUNABLES:
          'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728',
        FIRSTFRAME_PORT: '8000',
        FIRSTFRAME_HOST: '0.0.0.0',
        FIRSTFRAME_GRACE_S: String(graceS),
        FIRSTFRAME_CONCURRENCY: '2',
        FIRSTFRAME_QUEUE: '8',
        LOG_LEVEL: 'info',
        // Set in the environment pm2 is started from, never here: MINER_HOTKEY and VALIDATOR_HOTKEYS (serve
        // refuses to start without MINER_HOTKEY unless --no-verify is given), FIRSTFRAME_ALLOW_HOSTS.
        // The miners' pipeline variables (TIME_BUDGET_S, BATCH_SIZE, DEVICE, …) are read as for `run`.
      },
    },
  ],
};
