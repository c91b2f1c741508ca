import { defineConfig } from 'vitest/config';

// One process per test file (forks): each file picks its own tfjs backend (gradients.test.ts uses cpu),
// and tfjs' global engine state (variable names, tensor counts) never crosses files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default in a run is one worker fewer than the cores: on a 2-core machine the files ran one at a time
    // (vitest 'tests' 144 s of a 169 s run). Two forks keep both cores busy; the end-to-end files spawn CLIs of their
    // own, so the machine is oversubscribed at times, which the kill and interrupt tests size their runs for.
    maxWorkers: 2,
    // The tiny finished sweep several end-to-end files share, trained once (test/globalSetup.ts).
    globalSetup: ['test/globalSetup.ts'],
  },
});
