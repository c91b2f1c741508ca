/**
 * Runs once before every test file: the tiny finished sweep that test/cli-sweep.test.ts and test/cli-lock.test.ts
 * both need (2 variants × 2 learning rates × 2 seeds, 40 steps), trained once through the built CLI instead of once
 * per file. Files that change runs copy them first; cli-sweep.test.ts owns this copy and checks it is left as it was.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CLI, LOOKUP, TINY_SWEEP } from './helpers/shared.js';

export interface TinySweep {
  cwd: string; // holds tiny.yaml
  runs: string; // the finished runs
  first: { status: number | null; stdout: string; stderr: string }; // what the sweep printed
}

declare module 'vitest' {
  export interface ProvidedContext {
    tinySweep: TinySweep;
  }
}

export default function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), 'qkv-shared-'));
  const cwd = join(root, 'sweep');
  mkdirSync(cwd);
  const sweep = join(cwd, 'tiny.yaml');
  writeFileSync(sweep, `name: tiny\nbase: ${JSON.stringify(LOOKUP)}\n${TINY_SWEEP.grid}`);
  const runs = join(cwd, 'runs');
  // Scheduler variables from the machine running the tests must not shard the sweep.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const v of ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX']) delete env[v];
  const r = spawnSync(process.execPath, [CLI, 'sweep', sweep, ...TINY_SWEEP.sets, '--workers', '2', '--out', runs], { cwd, env, encoding: 'utf8' });
  project.provide('tinySweep', { cwd, runs, first: { status: r.status, stdout: r.stdout, stderr: r.stderr } });
  return () => rmSync(root, { recursive: true, force: true });
}
