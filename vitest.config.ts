import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Native kernels use their own thread pool; more than two test processes only oversubscribes.
    maxWorkers: 2,
  },
});
