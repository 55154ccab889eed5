import { defineConfig } from 'vitest/config';

// The Redis failover suites (`npm run test:failover`): each starts its own Sentinel or Cluster topology and
// the whole product as separate processes, so they run one file at a time, outside the default `npm test`.
export default defineConfig({
  test: {
    include: ['tests/failover/**/*.failover.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
