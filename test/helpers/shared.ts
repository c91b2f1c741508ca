/**
 * Paths, the CLI runner, and the tiny sweep and finished run shared by test/globalSetup.ts and the tests, without
 * vitest's test API (globalSetup runs outside a test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI. `npm test` builds it in its pretest step. */
export const CLI = join(REPO, 'dist', 'cli.js');
/** configs/lookup.yaml: the small lookup task most end-to-end tests train on. */
export const LOOKUP = join(REPO, 'configs', 'lookup.yaml');

/** The tiny sweep: its grid (YAML) and the overrides that keep it to 40 steps. */
export const TINY_SWEEP = {
  grid: 'grid:\n  model.attention: [qkv, qv]\n  train.lr: [0.003, 0.03]\n  train.seed: [0, 1]\n',
  // A lookup small enough to learn in 40 steps at lr 0.03 (2 slots, 4 keys, 2 values; chance 1/2), so the verdict's
  // figures are computed from seeds that learned: qkv seeds 0, 1 and qv seed 0 reach 95% there, qv seed 1 (0.94) does
  // not and is set aside (METRICS.md, 2026-12-04). At lr 0.003 nothing learns.
  sets: [
    ...['--set', 'train.steps=40', '--set', 'train.logEvery=20', '--set', 'eval.size=64'],
    ...['--set', 'task.slots=2', '--set', 'task.keyVocab=4', '--set', 'task.valueVocab=2'],
  ],
};

/**
 * The finished run (test/globalSetup.ts trains it once): 20 steps, a row every 5, checkpoints at 10 and 20, so a
 * damaged newest checkpoint has a previous one to fall back on. Tests that change it copy it first.
 */
export const FINISHED_RUN = {
  sets: ['--set', 'train.steps=20', '--set', 'train.logEvery=5', '--set', 'train.checkpointEvery=10', '--set', 'eval.size=32'],
};

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the killAfterMs timer fired and SIGKILLed the process (a hang). */
  killed: boolean;
}

export interface CliOptions {
  /** Extra environment variables, on top of process.env and NO_COLOR=1; an undefined value unsets one. */
  env?: Record<string, string | undefined>;
  /** SIGKILL the process after this many ms and mark the result `killed`. No timer when omitted. */
  killAfterMs?: number;
}

/**
 * Starts `node dist/cli.js ...args` in `cwd` with stdout and stderr piped and collected. `done` settles when the
 * process has closed (and rejects only if it could not be spawned).
 */
export function startCli(args: string[], cwd: string, { env = {}, killAfterMs }: CliOptions = {}): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killed = false;
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer =
    killAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, killAfterMs);
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, killed });
    });
  });
  return { child, done };
}

/** Runs the CLI asynchronously in `cwd`, so that independent cases can overlap. */
export function runCli(args: string[], cwd: string, opts?: CliOptions): Promise<Result> {
  return startCli(args, cwd, opts).done;
}
