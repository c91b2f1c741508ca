/**
 * What loads TensorFlow.js (dependency-cruiser, run by `npm run lint` beside .dependency-cruiser.cjs).
 * Only what runs when a module is imported counts here: type-only imports are erased by the compiler, and a
 * dynamic import() is a deliberate lazy load (the sweep's parent imports the worker code only when it trains
 * in-process), so both are left out. The design rules in .dependency-cruiser.cjs still see every import.
 */

/** Where TensorFlow.js enters: the package itself and the one module that picks its backend. */
const TFJS = '^(node_modules/@tensorflow/|src/backend\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-tfjs-outside-engines',
      comment:
        'TensorFlow.js takes seconds to load and picks a backend on import. Config checks, tasks, statistics, ' +
        'run files, the sweep planner, the analysis, the report, the eval metrics, the fused kernels and their ' +
        'engine must work (and fail fast) without it, so none of them may load it, directly or through another ' +
        'module. Only the tfjs graph and its engine load it, lazily, when a group trains on the graph (src/backend.ts is ' +
        'the one place that imports it); the trainer, the run writer and the commands that train must not.',
      severity: 'error',
      from: {
        path: [
          '^src/stats/',
          '^src/tasks/',
          '^src/sweep/',
          '^src/report/',
          '^src/files/',
          '^src/records/',
          '^src/analysis/',
          '^src/config\\.ts$',
          '^src/metrics/',
          '^src/model/kernel\\.ts$',
          '^src/model/regrouped\\.ts$',
          '^src/train/engine\\.ts$',
          '^src/train/fusedEngine\\.ts$',
          '^src/train/adam\\.ts$',
          '^src/model/paramSpecs\\.ts$',
          '^src/train/schedule\\.ts$',
          '^src/train/trainer\\.ts$',
          '^src/runs/',
        ],
        // The sweep's worker side trains groups: loading TensorFlow.js is its job.
        pathNot: ['^src/sweep/job\\.ts$', '^src/sweep/worker\\.ts$'],
      },
      to: { path: TFJS, reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { dynamic: true },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
