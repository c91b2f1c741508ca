/**
 * Runs once before every test file, through the built CLI, instead of once per file:
 * - the tiny finished sweep that test/cli-sweep.test.ts and test/cli-lock.test.ts both need (2 variants × 2 learning
 *   rates × 2 seeds, 40 steps); cli-sweep.test.ts owns this copy and checks it is left as it was;
 * - the finished run that test/faults.test.ts and test/fuzz-disk.test.ts resume copies of and compare against.
 * Both train at once, on the two cores. Files that change runs copy them first.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { FINISHED_RUN, LOOKUP, TINY_SWEEP, runCli, type Result } from './helpers/shared.js';

export interface TinySweep {
  cwd: string; // holds tiny.yaml
  runs: string; // the finished runs
  first: Result; // what the sweep printed
}

export interface FinishedRun {
  dir: string;
  printed: Result; // what train printed
}

declare module 'vitest' {
  export interface ProvidedContext {
    tinySweep: TinySweep;
    finishedRun: FinishedRun;
  }
}

export default async function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), 'qkv-shared-'));
  const cwd = join(root, 'sweep');
  mkdirSync(cwd);
  const sweep = join(cwd, 'tiny.yaml');
  writeFileSync(sweep, `name: tiny\nbase: ${JSON.stringify(LOOKUP)}\n${TINY_SWEEP.grid}`);
  const runs = join(cwd, 'runs');
  const run = join(root, 'finished');
  // Scheduler variables from the machine running the tests must not shard the sweep.
  const env = Object.fromEntries(
    ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX'].map((v) => [v, undefined]),
  );
  const [first, printed] = await Promise.all([
    runCli(['sweep', sweep, ...TINY_SWEEP.sets, '--workers', '2', '--out', runs], cwd, { env }),
    runCli(['train', LOOKUP, ...FINISHED_RUN.sets, '--out', run], root, { env }),
  ]);
  project.provide('tinySweep', { cwd, runs, first });
  project.provide('finishedRun', { dir: run, printed });
  return () => rmSync(root, { recursive: true, force: true });
}
