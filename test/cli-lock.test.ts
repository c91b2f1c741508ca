/**
 * One writer per run (issue 21), end to end through the built CLI: two sweeps into one --out at once, and two
 * `--shard 1/2` and two `--shard 2/2` jobs at once, give exactly what one sweep gives, each run trained once;
 * a sweep's locks left by a SIGKILL on a machine we cannot see (a lost node) hold until they go stale, and are
 * then taken over; `train --resume` on a run another process holds refuses; `compare` lists runs being
 * written as in progress, never as damaged.
 *
 * The tiny sweep of test/cli-sweep.test.ts: lookup at 40 steps, attention × lr × seed = 2 × 2 × 2.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LOOKUP, CLI, explain, expectOneLineError, runCli, startCli, useTempRoot, type Result } from './helpers/cli.js';
import { TINY_SWEEP } from './helpers/shared.js';
import { metricsWithoutTiming } from './helpers/runFiles.js';
import { OWNER_FILE, inspectLock, isLockEntry, lockReportDir, tryLock, type RunLock } from '../src/runs/lock.js';

const SLOW = 90_000;
// The same tiny sweep as the shared reference (test/globalSetup.ts), so the concurrent sweeps can be compared with it.
const SETS = TINY_SWEEP.sets;
const GRID = TINY_SWEEP.grid;
const RUNS = ['qkv', 'qv'].flatMap((a) => ['0.003', '0.03'].flatMap((lr) => [0, 1].map((s) => `attention-${a}_lr-${lr}_seed-${s}`)));

const cli = (args: string[], cwd: string, env: Record<string, string> = {}) => runCli(args, cwd, { env, killAfterMs: SLOW - 5_000 });
const status = (dir: string) => (existsSync(join(dir, 'status')) ? readFileSync(join(dir, 'status'), 'utf8').trim() : null);
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

// Scheduler variables from the machine running the tests must not shard these sweeps.
for (const v of ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX']) delete process.env[v];

const fresh = useTempRoot('qkv-cli-lock-');

function writeSweep(dir: string, grid = GRID): string {
  const path = join(dir, 'tiny.yaml');
  writeFileSync(path, `name: tiny\nbase: ${JSON.stringify(LOOKUP)}\n${grid}`);
  return path;
}

/** Every file under `dir` by relative path, as bytes (hex). */
function snapshot(dir: string): Record<string, string> {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('hex')]));
}

/** How many runs a sweep trained, from its closing line ("8/8 runs finished"); 0 when it trained none. */
function trained(r: Result): number {
  const m = /(\d+)\/\d+ runs finished/.exec(r.stderr);
  return m ? Number(m[1]) : 0;
}
/** How many runs a sweep left to another process, from its one line saying so. */
function heldBack(r: Result): number {
  const m = /sweep: (\d+) run\(s\) are being written by another process \(pid \d+@/.exec(r.stderr);
  return m ? Number(m[1]) : 0;
}

/** Every run finished once: completed, its metrics.csv equal to the uninterrupted sweep's (timing aside), no lock left. */
function expectLikeOneSweep(runs: string, reference: string): void {
  for (const name of RUNS) {
    expect(status(join(runs, name)), name).toBe('completed');
    expect(metricsWithoutTiming(join(runs, name)), `${name}/metrics.csv`).toBe(metricsWithoutTiming(join(reference, name)));
    expect(readdirSync(join(runs, name)).filter(isLockEntry), `${name}: lock released`).toEqual([]);
  }
}

// The uninterrupted sweep every concurrent one must equal: the tiny sweep test/globalSetup.ts trained once, read only here.
let reference: Promise<string>;
beforeAll(() => {
  const { runs, first } = inject('tinySweep');
  reference = first.status === 0 ? Promise.resolve(runs) : Promise.reject(new Error(`the reference sweep failed:\n${first.stderr}`));
  reference.catch(() => {});
});

describe('two writers, one --out', () => {
  it(
    'two sweeps started together give exactly what one sweep gives: every run trained once, by one of them',
    async () => {
      const cwd = fresh('twice');
      const sweep = writeSweep(cwd);
      const runs = join(cwd, 'runs');
      const args = ['sweep', sweep, ...SETS, '--workers', '2', '--out', runs];
      const both = await Promise.all([cli(args, cwd), cli(args, cwd)]);
      for (const r of both) {
        expect(r.status, explain(r)).toBe(0);
        expect(r.stdout.trim()).toBe(runs);
        const finished = /(\d+) run\(s\) already finished, skipped/.exec(r.stderr);
        // Each run is trained here, left to the other sweep, or found finished by it: nothing else.
        expect(trained(r) + heldBack(r) + (finished ? Number(finished[1]) : 0), r.stderr).toBe(RUNS.length);
      }
      expect(trained(both[0]) + trained(both[1]), `${both[0].stderr}\n---\n${both[1].stderr}`).toBe(RUNS.length);
      expectLikeOneSweep(runs, await reference);
    },
    SLOW,
  );

  it(
    'two --shard 1/2 and two --shard 2/2 jobs started together give what one sweep gives, each run trained once',
    async () => {
      const cwd = fresh('shards-twice');
      const sweep = writeSweep(cwd);
      const runs = join(cwd, 'runs');
      const shard = (s: string) => cli(['sweep', sweep, ...SETS, '--workers', '1', '--shard', s, '--out', runs], cwd);
      const all = await Promise.all([shard('1/2'), shard('2/2'), shard('1/2'), shard('2/2')]);
      for (const r of all) {
        expect(r.status, explain(r)).toBe(0);
        expect(r.stderr).toMatch(/shard [12]\/2: 4 of 8 runs/);
      }
      expect(
        all.reduce((n, r) => n + trained(r), 0),
        all.map((r) => r.stderr).join('\n---\n'),
      ).toBe(RUNS.length);
      expectLikeOneSweep(runs, await reference);
    },
    SLOW,
  );
});

/**
 * Two runs of one group (seeds 0 and 1), long enough that a kill lands while they train: the sweep the stale-lock and
 * takeover tests interrupt, and its uninterrupted reference, trained once for all of them.
 */
const TWO_RUNS = { grid: 'grid:\n  train.seed: [0, 1]\n', names: ['seed-0', 'seed-1'] };
const twoRunArgs = (sweep: string) => [
  ...['sweep', sweep, '--set', 'train.steps=400', '--set', 'train.checkpointEvery=20', '--set', 'eval.size=64', '--workers', '1'],
];
let twoRunReference: Promise<string> | undefined;
function twoRunsReference(): Promise<string> {
  twoRunReference ??= (async () => {
    const cwd = fresh('two-runs-reference');
    const ref = join(cwd, 'reference');
    const r = await cli([...twoRunArgs(writeSweep(cwd, TWO_RUNS.grid)), '--out', ref], cwd);
    if (r.status !== 0) throw new Error(`the reference sweep failed:\n${explain(r)}`);
    return ref;
  })();
  return twoRunReference;
}

/**
 * Starts the sweep `args` into `runs` in its own process group, waits until every run of TWO_RUNS has a checkpoint,
 * and SIGKILLs the group, as a scheduler's kill of a job would; fails if the sweep ended first.
 */
async function killMidSweep(args: string[], runs: string, cwd: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...args, '--out', runs], { cwd, detached: true, stdio: 'ignore' });
  const closed = new Promise<string | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  while (!TWO_RUNS.names.every((n) => existsSync(join(runs, n, 'checkpoint', 'checkpoint.json'))) && child.exitCode === null)
    await new Promise((r) => setTimeout(r, 20));
  process.kill(-child.pid!, 'SIGKILL');
  expect(await closed, 'the sweep ended by itself before the kill').toBe('SIGKILL');
  return child;
}

describe('a stale lock', () => {
  it(
    "a SIGKILLed sweep's locks, as a lost node leaves them, hold until they go stale (QKV_LAB_LOCK_STALE_MS), then are taken over in one line",
    async () => {
      const cwd = fresh('lost-node');
      const sweep = writeSweep(cwd, TWO_RUNS.grid);
      const runs = join(cwd, 'runs');
      const names = TWO_RUNS.names;
      const args = twoRunArgs(sweep);
      const ref = await twoRunsReference();

      const child = await killMidSweep(args, runs, cwd);

      // As if it ran on a node that is now lost: its pid cannot be checked from here, only the lock's age.
      for (const n of names) {
        const path = join(runs, n, OWNER_FILE);
        writeFileSync(path, JSON.stringify({ ...json(path), host: 'lost-node' }));
      }
      const before = Object.fromEntries(names.map((n) => [n, snapshot(join(runs, n))]));
      const early = await cli([...args, '--out', runs], cwd);
      expect(early.status, explain(early)).toBe(0);
      expect(early.stderr).toContain(
        `sweep: 2 run(s) are being written by another process (pid ${child.pid}@lost-node), skipped while it holds them: ${names.join(', ')}`,
      );
      expect(early.stderr).toContain(`sweep: 2 run(s) still in progress in another process (pid ${child.pid}@lost-node): ${names.join(', ')}`);
      for (const n of names) expect(snapshot(join(runs, n)), `${n} untouched while held`).toEqual(before[n]);

      // Nobody refreshes them: with a 2 s stale time they are stale soon after.
      while (names.some((n) => !inspectLock(join(runs, n), 2_000)?.stale)) await new Promise((r) => setTimeout(r, 50));
      const late = await cli([...args, '--out', runs], cwd, { QKV_LAB_LOCK_STALE_MS: '2000' });
      expect(late.status, explain(late)).toBe(0);
      const tookOver = late.stderr.split('\n').filter((l) => l.includes('took over'));
      expect(tookOver, late.stderr).toEqual([
        expect.stringMatching(
          new RegExp(
            `^sweep: took over the stale lock\\(s\\) of 2 run\\(s\\) left by pid ${child.pid}@lost-node \\(not refreshed ` +
              `for \\d+ s; its holder is gone\\): ${names.join(', ')}$`,
          ),
        ),
      ]);
      expect(late.stderr).toContain('2 unfinished run(s) continue from their checkpoints');
      for (const n of names) {
        expect(status(join(runs, n)), n).toBe('completed');
        expect(metricsWithoutTiming(join(runs, n)), n).toBe(metricsWithoutTiming(join(ref, n)));
        expect(readdirSync(join(runs, n)).filter(isLockEntry)).toEqual([]);
      }
    },
    SLOW,
  );
});

/** A copy of the reference sweep, and locks this test process takes on some of its runs, as another writer would. */
async function heldCopy(name: string, held: string[]): Promise<{ runs: string; locks: RunLock[] }> {
  const runs = join(fresh(name), 'runs');
  cpSync(await reference, runs, { recursive: true });
  const locks: RunLock[] = [];
  for (const run of held) {
    const attempt = await tryLock(join(runs, run), 'test');
    if (attempt.kind !== 'locked') throw new Error(`${run} is held already`);
    locks.push(attempt.lock);
  }
  return { runs, locks };
}

describe('a run another process holds', () => {
  it(
    '`train --resume` on it: one line naming the holder, exit 2, nothing written; once released, the same resume finishes it',
    async () => {
      const [name] = RUNS;
      const { runs, locks } = await heldCopy('resume-held', [name]);
      const dir = join(runs, name);
      writeFileSync(join(dir, 'status'), 'interrupted\n'); // as a run stopped at its last checkpoint (step 40)
      const before = snapshot(dir);
      const r = await cli(['train', '--resume', dir], runs);
      expectOneLineError(r);
      expect(r.stderr).toMatch(
        new RegExp(
          `^qkv-lab: --resume: ${dir} is being written by another process \\(pid ${process.pid}@${hostname()}, test ` +
            `since [0-9T:.-]+Z\\); let it finish, or stop it first\\n$`,
        ),
      );
      expect(snapshot(dir)).toEqual(before);
      locks.forEach((l) => l.releaseSync());
      const resumed = await cli(['train', '--resume', dir], runs);
      expect(resumed.status, explain(resumed)).toBe(0);
      expect(status(dir)).toBe('completed');
      expect(readdirSync(dir).filter(isLockEntry)).toEqual([]);
    },
    SLOW,
  );

  it(
    '`compare` while runs are being written: they are listed as in progress, never as damaged; the finished ones are compared',
    async () => {
      const [midRun, midWrite] = RUNS;
      const { runs, locks } = await heldCopy('compare-held', [midRun, midWrite]);
      // One run in the middle of training, one caught between two of its first writes (config.json, not yet status).
      writeFileSync(join(runs, midRun, 'status'), 'running\n');
      writeFileSync(
        join(runs, midRun, 'metrics.csv'),
        readFileSync(join(runs, midRun, 'metrics.csv'), 'utf8')
          .split('\n')
          .slice(0, 3)
          .join('\n') + '\n0.5,',
      );
      for (const f of readdirSync(join(runs, midWrite)))
        if (f !== 'config.json' && !isLockEntry(f)) rmSync(join(runs, midWrite, f), { recursive: true });
      const out = join(runs, '..', 'report');
      const r = await cli(['compare', runs, '--no-charts', '--out', out], runs);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).not.toMatch(/skipped|damaged|unfinished/);
      const line =
        `compare: warning: 2 run(s) still in progress in another process, left out until they finish: ` +
        `${join(runs, midRun)} (pid ${process.pid}@${hostname()}), ${join(runs, midWrite)} (pid ${process.pid}@${hostname()})`;
      expect(r.stderr.split('\n')).toContain(line);
      const verdict = json(join(out, 'verdict.json'));
      expect([verdict.runs, verdict.runs_skipped, verdict.runs_in_progress]).toEqual([6, 0, 2]);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      expect(md).toContain('computed without 2 run(s) still in progress');
      expect(md).toContain(`- \`${join(runs, midWrite)} (pid ${process.pid}@${hostname()})\``);

      // The lock is what tells them apart: without it, the same files read as unfinished and damaged.
      locks.forEach((l) => l.releaseSync());
      const after = await cli(['compare', runs, '--no-charts', '--out', join(runs, '..', 'report-after')], runs);
      expect(after.status, explain(after)).toBe(0);
      expect(after.stderr).toContain(`compare: warning: skipped ${join(runs, midWrite)}: status is missing`);
      expect(after.stderr).toContain(`compare: warning: left out unfinished run ${join(runs, midRun)} (running)`);
    },
    SLOW,
  );
});

describe('one writer per report directory', () => {
  it(
    '`compare` into a report directory another process is writing waits for it, then writes its whole report',
    async () => {
      const { runs } = await heldCopy('report-held', []);
      const out = join(runs, '..', 'report');
      const held = await lockReportDir(out); // as a second shard of the same ablation, writing its report
      const { child, done } = startCli(['compare', runs, '--no-charts', '--out', out], runs, { killAfterMs: SLOW - 5_000 });
      const waiting =
        `compare: waiting for pid ${process.pid}@${hostname()}, which is writing a report into ${out} ` +
        '(its lock is taken over once it has not been refreshed for 10 minutes)';
      let stderr = '';
      const told = new Promise<void>((saw) => child.stderr!.on('data', (s: string) => (stderr += s).includes(waiting) && saw()));
      const finished = done.then((r) => Promise.reject(new Error(`compare did not wait for the report lock:\n${explain(r)}`)));
      await Promise.race([told, finished]);
      finished.catch(() => {});
      await new Promise((wait) => setTimeout(wait, 500));
      expect(readdirSync(out).filter((f) => !isLockEntry(f))).toEqual([]); // nothing written while the other holds it
      held.releaseSync();
      const r = await done;
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('compare: waiting'))).toEqual([waiting]); // said once
      expect(json(join(out, 'verdict.json')).runs).toBe(8);
      expect(existsSync(join(out, 'report.md'))).toBe(true);
      expect(readdirSync(out).filter(isLockEntry)).toEqual([]);
    },
    SLOW,
  );

  it('a refused compare leaves no report directory behind, nor the parents it made, and no lock', async () => {
    const dir = fresh('report-refused');
    const r = await cli(['compare', dir, '--out', 'new/deeper/report'], dir);
    expectOneLineError(r);
    expect(r.stderr).toMatch(/no run directories found under/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a report written into a run's own directory: the report's lock is not the run's, so the run is compared", async () => {
    const { runs } = await heldCopy('report-in-run', []);
    const run = join(runs, RUNS[0]);
    const r = await cli(['compare', run, '--no-charts', '--out', run], runs);
    expect(r.status, explain(r)).toBe(0);
    expect([json(join(run, 'verdict.json')).runs, json(join(run, 'verdict.json')).runs_in_progress]).toEqual([1, 0]);
    expect(readdirSync(run).filter(isLockEntry)).toEqual([]);
  });
});

describe('a sweep finishes what it can (issue 29)', () => {
  const { grid, names } = TWO_RUNS;
  const args = twoRunArgs;

  function expectFinishedLike(runs: string, ref: string): void {
    for (const n of names) {
      expect(status(join(runs, n)), n).toBe('completed');
      expect(metricsWithoutTiming(join(runs, n)), n).toBe(metricsWithoutTiming(join(ref, n)));
      expect(readdirSync(join(runs, n)).filter(isLockEntry), `${n}: no lock left`).toEqual([]);
    }
  }

  it(
    "SIGKILL of a sweep's process group, then the same command at once: every run is finished, none left locked",
    async () => {
      const cwd = fresh('killed-restart');
      const sweep = writeSweep(cwd, grid);
      const [runs, ref] = [join(cwd, 'runs'), await twoRunsReference()];
      await killMidSweep(args(sweep), runs, cwd);
      const again = await cli([...args(sweep), '--out', runs], cwd); // at once: its workers may not have exited yet
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).not.toContain('no longer held');
      expectFinishedLike(runs, ref);
    },
    SLOW,
  );

  it(
    'a run whose holder on this machine dies while the sweep runs is taken over and trained before the sweep exits',
    async () => {
      const cwd = fresh('holder-dies');
      const sweep = writeSweep(cwd, grid);
      const [runs, ref] = [join(cwd, 'runs'), await twoRunsReference()];
      // Another process holds seed-0 (as a killed sweep's worker that has not exited yet) and dies a moment later.
      const lockModule = pathToFileURL(join(dirname(CLI), 'runs', 'lock.js')).href;
      mkdirSync(join(runs, 'seed-0'), { recursive: true });
      const script =
        `const { tryLock } = await import(${JSON.stringify(lockModule)}); ` +
        `await tryLock(${JSON.stringify(join(runs, 'seed-0'))}, 'sweep'); console.log('locked'); setInterval(() => {}, 1000);`;
      const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
      const { child, done } = startCli([...args(sweep), '--out', runs], cwd, { killAfterMs: SLOW - 5_000 });
      let stderr = '';
      child.stderr!.on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('being written by another process')) holder.kill('SIGKILL');
      });
      const r = await done;
      expect(holder.signalCode, 'the holder was killed once the sweep saw it').toBe('SIGKILL');
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).toContain('sweep: 1 run(s) another process held were left unfinished by it; taking them over: seed-0');
      expectFinishedLike(runs, ref);
    },
    SLOW,
  );
});
