import { defineConfig } from 'vitest/config';

// One process per test file (forks): each file picks its own tfjs backend (gradients.test.ts uses cpu),
// and tfjs' global engine state (variable names, tensor counts) never crosses files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The tiny finished sweep several end-to-end files share, trained once (test/globalSetup.ts).
    globalSetup: ['test/globalSetup.ts'],
  },
});
