import { defineConfig } from 'vitest/config';

/**
 * Files that touch no process-wide state: no tfjs backend, no working directory, no signal handlers, no child
 * processes, no module mocks. They share their processes (isolate: false), so each does not pay a fork's start and
 * imports again: 21 files took about 0.5 s of start each on a 2-core machine, mostly at the end of the run (issue 29).
 */
const SHARED = [
  'test/analysis/*.test.ts',
  'test/config.test.ts',
  'test/docs.test.ts',
  'test/errors.test.ts',
  'test/metrics/*.test.ts',
  'test/model/flops.test.ts',
  'test/modulePath.test.ts',
  'test/report/charts/specs.test.ts',
  'test/report/data/build.test.ts',
  'test/report/html/html.test.ts',
  'test/report/text/terminal.test.ts',
  'test/rng.test.ts',
  'test/runs/checkpoint.test.ts',
  'test/runs/groupSpec.test.ts',
  'test/stats/*.test.ts',
  'test/sweep/*.test.ts',
  'test/tasks/tasks.test.ts',
  'test/train/engine.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default in a run is one worker fewer than the cores: on a 2-core machine the files ran one at a time
    // (vitest 'tests' 144 s of a 169 s run). Two forks keep both cores busy; the end-to-end files spawn CLIs of their
    // own, so the machine is oversubscribed at times, which the kill and interrupt tests size their runs for.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // One process per test file: each file picks its own tfjs backend (gradients.test.ts uses cpu), and tfjs'
        // global engine state (variable names, tensor counts) never crosses files.
        test: {
          name: 'isolated',
          include: ['test/**/*.test.ts'],
          exclude: SHARED,
          // The tiny finished sweep several end-to-end files share, trained once (test/globalSetup.ts).
          globalSetup: ['test/globalSetup.ts'],
        },
      },
      { extends: true, test: { name: 'shared', include: SHARED, isolate: false } },
    ],
  },
});
