import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/redis-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at once: on the 2-core CI machine vitest's default ran one at a time (535 s for the
    // suite; 372 s with two). Every test waits for events with timeouts, none for a fixed time.
    maxWorkers: 2,
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.vitest-report.json' }]] : ['default'],
  },
});
