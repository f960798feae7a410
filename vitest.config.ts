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
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
