import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Run after the others, one file at a time: the tests that start the product on its default HTTP port
 * (8080) on purpose, so no other test's product takes the port from under them, and the tests of Telegram's
 * per-chat message budget, which count messages per time window and failed once with another file
 * competing for the 2 cores.
 */
const SERIAL_FILES = [
  'tests/e2e/http-port.test.ts',
  'tests/e2e/npm-start.test.ts',
  'tests/integration/telegram-flood.test.ts',
  'tests/integration/telegram-previews.test.ts',
  // These flush Redis's script cache (a restart's lost scripts), which adds round trips to the files
  // that count them (admission, delivery, lock-checked take) when both run at once on the shared server.
  'tests/integration/admission-round-trips.test.ts',
  'tests/integration/job-ending-batch.test.ts',
  'tests/integration/pipeline-delivery.test.ts',
  'tests/integration/pipeline-records.test.ts',
];

const shared = {
  globalSetup: ['tests/helpers/redis-global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 30_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    // Two test files at once: on the 2-core CI machine vitest's default ran one at a time (535 s for the
    // suite; about 360 s with two). Every test waits for events with timeouts, none for a fixed time.
    maxWorkers: 2,
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.vitest-report.json' }]] : ['default'],
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['tests/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...SERIAL_FILES],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'serial',
          include: SERIAL_FILES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
