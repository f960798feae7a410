import { defineConfig } from 'vitest/config';

export default defineConfig({
  // TypeScript in .cts files too (src/core/allocator.cts: CommonJS so that bin/firstframe can require it).
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ },
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers (simulator, nginx) and real decoders; keep them in
    // separate processes but never more than the machine's two cores.
    pool: 'forks',
    maxWorkers: 2,
    // Two test files run at once on the machine's two CPUs; a prepared pipeline's placement
    // (src/core/cpu-placement.ts) would confine each file's process to one of them.
    // test/core/cpu-placement.test.ts checks placement in processes of its own, without this.
    env: { FIRSTFRAME_CORES: 'shared' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
