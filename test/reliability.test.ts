/**
 * Reliability end to end: SIGKILL at random moments then --resume gives the uninterrupted metrics;
 * Ctrl-C (SIGINT) leaves valid files, no run lock, and a resume command that works, for train and for sweep;
 * a diverging run is marked and its batch-mates and sweep carry on; two trains started together
 * never share a directory.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stream } from '../src/rng.js';
import { LOOKUP, REPO, explain, runCli as run, startCli as start, useTempRoot } from './helpers/cli.js';
import { metricsWithoutTiming } from './helpers/runFiles.js';
import { isLockEntry } from '../src/runs/lock.js';

const DIVERGE = join(REPO, 'test', 'fixtures', 'diverge.yaml');
const SLOW = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `path` exists (the run has started writing), or fails after `ms`. */
async function waitFor(path: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${path}`);
    await sleep(20);
  }
}

/** Every run's metrics.csv must parse: a header and whole rows with as many cells. */
function expectValidFiles(dir: string): void {
  const [header, ...rows] = readFileSync(join(dir, 'metrics.csv'), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const width = header.split(',').length;
  for (const row of rows) expect(row.split(',').length).toBe(width);
  expect(['running', 'interrupted', 'completed', 'diverged']).toContain(readFileSync(join(dir, 'status'), 'utf8').trim());
  if (existsSync(join(dir, 'summary.json'))) JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
}

const fresh = useTempRoot('qkv-reliability-');

// Long enough that a kill 0.1–0.7 s after the first row lands mid-run: a lone fused run trains several thousand
// steps/s, so 400 steps once finished before the first kill ("0 kills"), and 3000 came close after the kernel sped up.
const SHORT = ['--set', 'train.steps=8000', '--set', 'train.logEvery=50', '--set', 'train.checkpointEvery=100', '--set', 'eval.size=64'];

/**
 * The uninterrupted run of LOOKUP with SHORT, which the SIGKILL and SIGINT tests both compare against: started by the
 * first to need it, beside its own interrupted run (it only has to finish), and trained once for both.
 */
let uninterrupted: Promise<string> | undefined;
function uninterruptedRun(): Promise<string> {
  uninterrupted ??= (async () => {
    const dir = join(fresh('reference'), 'run');
    const r = await run(['train', LOOKUP, ...SHORT, '--out', dir], fresh.root);
    if (r.status !== 0) throw new Error(`the uninterrupted run failed:\n${explain(r)}`);
    return dir;
  })();
  uninterrupted.catch(() => {}); // awaited by each test; a failure is reported there
  return uninterrupted;
}

describe('kill -9 and resume', () => {
  it(
    'three SIGKILLs at random moments, each followed by --resume: the final metrics.csv equals an uninterrupted run',
    async () => {
      const cwd = fresh('kill');
      const referenceDone = uninterruptedRun();

      const dir = join(cwd, 'killed');
      const rng = Stream.derive(7, 'kill-moments'); // seeded, so a failure can be replayed
      let proc = start(['train', LOOKUP, ...SHORT, '--out', dir], cwd);
      let kills = 0;
      // Three kills, not five: each costs a process start and a resume, and the third already resumes a resumed resume.
      for (let attempt = 0; attempt < 8 && kills < 3; attempt++) {
        await waitFor(join(dir, 'metrics.csv'));
        await sleep(100 + rng.int(0, 600));
        const alive = proc.child.exitCode === null;
        proc.child.kill('SIGKILL');
        const r = await proc.done;
        if (alive && r.signal === 'SIGKILL') kills++;
        expectValidFiles(dir);
        if (readFileSync(join(dir, 'status'), 'utf8').trim() === 'completed') break;
        if (!existsSync(join(dir, 'checkpoint', 'checkpoint.json'))) {
          // killed before the first checkpoint: nothing to resume, so start again from scratch
          rmSync(dir, { recursive: true, force: true });
          proc = start(['train', LOOKUP, ...SHORT, '--out', dir], cwd);
          continue;
        }
        proc = start(['train', '--resume', dir], cwd);
      }
      const last = await proc.done;
      if (readFileSync(join(dir, 'status'), 'utf8').trim() !== 'completed') {
        const r = await run(['train', '--resume', dir], cwd);
        expect(r.status, explain(r)).toBe(0);
      } else {
        expect([0, null]).toContain(last.status);
      }
      expect(kills).toBeGreaterThanOrEqual(2);
      const reference = await referenceDone;
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(reference));
      const summary = (d: string) => {
        const { wall_s: _w, ...rest } = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'));
        return rest;
      };
      expect(summary(dir)).toEqual(summary(reference));
    },
    SLOW,
  );
});

describe('Ctrl-C', () => {
  it(
    'SIGINT during train: exit 130, status interrupted, valid files, and the printed resume command finishes the run',
    async () => {
      const cwd = fresh('sigint');
      const dir = join(cwd, 'run');
      // SHORT's 8000 steps: the run must still be training 0.3 s after its first row (1200 steps once finished before the SIGINT).
      const args = ['train', LOOKUP, ...SHORT, '--out', dir];
      const referenceDone = uninterruptedRun();
      const proc = start(args, cwd);
      await waitFor(join(dir, 'metrics.csv'));
      await sleep(300);
      proc.child.kill('SIGINT');
      const r = await proc.done;
      expect(r.status, explain(r)).toBe(130);
      expect(readFileSync(join(dir, 'status'), 'utf8').trim()).toBe('interrupted');
      expectValidFiles(dir);
      expect(readdirSync(dir).filter(isLockEntry), 'the lock is released').toEqual([]);
      const resume = /resume with: npx qkv-lab (train --resume \S+)/.exec(r.stdout);
      expect(resume, r.stdout).not.toBeNull();
      const finished = await run(resume![1].split(' '), cwd);
      expect(finished.status, explain(finished)).toBe(0);
      expect(readFileSync(join(dir, 'status'), 'utf8').trim()).toBe('completed');
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(await referenceDone));
    },
    SLOW,
  );

  it(
    'SIGINT during a sweep with two workers: exit 130, runs interrupted with valid files; re-running completes them',
    async () => {
      const cwd = fresh('sweep-sigint');
      const sweep = join(cwd, 'sweep.yaml');
      writeFileSync(sweep, `name: s\nbase: ${LOOKUP}\ngrid:\n  model.attention: [qkv, qv]\n  train.seed: [0, 1]\n`);
      const out = join(cwd, 'runs');
      const args = [
        'sweep',
        sweep,
        '--set',
        'train.steps=3000',
        '--set',
        'eval.size=64',
        '--set',
        'train.checkpointEvery=100',
        '--workers',
        '2',
        '--out',
        out,
      ];
      const proc = start(args, cwd);
      await waitFor(join(out, 'attention-qv_seed-1', 'metrics.csv'));
      await waitFor(join(out, 'attention-qkv_seed-1', 'metrics.csv'));
      await sleep(300);
      proc.child.kill('SIGINT');
      const r = await proc.done;
      expect(r.status, explain(r)).toBe(130);
      expect(r.stderr).toMatch(/run the same command again/);
      const dirs = readdirSync(out).filter((d) => d.startsWith('attention-'));
      expect(dirs).toHaveLength(4);
      for (const d of dirs) {
        expectValidFiles(join(out, d));
        expect(readFileSync(join(out, d, 'status'), 'utf8').trim()).toBe('interrupted');
        expect(readdirSync(join(out, d)).filter(isLockEntry), `${d}: the lock is released`).toEqual([]);
      }
      const again = await run(args, cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).toMatch(/continue from their checkpoints/);
      for (const d of dirs) expect(readFileSync(join(out, d, 'status'), 'utf8').trim()).toBe('completed');
    },
    SLOW,
  );
});

describe('divergence', () => {
  it(
    'diverging runs are marked with their step; batch-mates at a sane lr complete, and the sweep and report go on',
    async () => {
      const cwd = fresh('diverge');
      const out = join(cwd, 'runs');
      // test/fixtures/diverge.yaml: lr 1e9 on huge initial weights overflows the attention logits.
      const r = await run(['train', DIVERGE, '--seeds', '0,1', '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      const summaries = readdirSync(out).map((d) => JSON.parse(readFileSync(join(out, d, 'summary.json'), 'utf8')));
      for (const s of summaries) {
        expect(s.status).toBe('diverged');
        expect(Number.isInteger(s.diverged_at)).toBe(true);
      }
      const sweep = join(cwd, 'sweep.yaml');
      writeFileSync(sweep, `name: d\nbase: ${DIVERGE}\ngrid:\n  model.attention: [qkv, qv]\n  train.lr: [1.0e-3, 1.0e+9]\n  train.seed: [0, 1]\n`);
      // Charts included: the diverged runs pass through them too.
      const ablation = await run(['ablation', sweep, '--out', join(cwd, 'ablation'), '--workers', '1'], cwd);
      expect(ablation.status, explain(ablation)).toBe(0);
      const runs = readdirSync(join(cwd, 'ablation', 'runs')).filter((d) => d.startsWith('attention-'));
      const status = (d: string) => readFileSync(join(cwd, 'ablation', 'runs', d, 'status'), 'utf8').trim();
      expect(runs.filter((d) => d.includes('lr-1000000000')).map(status)).toEqual(['diverged', 'diverged', 'diverged', 'diverged']);
      expect(runs.filter((d) => d.includes('lr-0.001')).map(status)).toEqual(['completed', 'completed', 'completed', 'completed']);
      const report = readFileSync(join(cwd, 'ablation', 'report.md'), 'utf8');
      expect(report).toMatch(/\| qkv \| 1000000000 \| 2 \|[^\n]*\| 2 \|$/m); // per-LR row: 2 runs, 2 diverged
      // per-variant diverged count: LR sensitivity, per seed, never learned, LR window, then diverged runs
      expect(report).toMatch(/\| qv \| [^|]+\| [^|]+\| [^|]+\| [^|]+\| 2 \|$/m);
    },
    SLOW,
  );
});

describe('concurrency', () => {
  it(
    'two trains started together with the same config never write to the same directory',
    async () => {
      const cwd = fresh('concurrent');
      const args = ['train', LOOKUP, '--set', 'train.steps=20', '--set', 'eval.size=32'];
      const [a, b] = await Promise.all([run(args, cwd), run(args, cwd)]);
      expect(a.status, explain(a)).toBe(0);
      expect(b.status, explain(b)).toBe(0);
      const dirs = readdirSync(join(cwd, 'runs'));
      expect(dirs).toHaveLength(2);
      for (const d of dirs) expect(readFileSync(join(cwd, 'runs', d, 'status'), 'utf8').trim()).toBe('completed');
      expect(a.stdout.split('\n')[0]).not.toBe(b.stdout.split('\n')[0]);
    },
    SLOW,
  );
});
