/**
 * Faults from the environment, end to end through the built CLI: a full disk (a real tiny tmpfs where this
 * runs as root, else ENOSPC injected at the write layer with QKV_LAB_TEST_ENOSPC), in train and in a sweep;
 * compare over a folder with one damaged run among good ones; a damaged newest checkpoint that falls back
 * to the previous one. A full disk must end in one line and exit 1, a run marked interrupted that keeps its
 * last good checkpoint and no lock, and a resume that finishes it bit-identically to an uninterrupted run.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOKUP, explain, expectOneLineError, runCli, startCli, useTempRoot, type Result } from './helpers/cli.js';
import { metricsWithoutTiming } from './helpers/runFiles.js';
import { FINISHED_RUN } from './helpers/shared.js';
import { isLockEntry } from '../src/runs/lock.js';
import { analyseRuns } from '../src/commands/compare.js';
import { runInProcess } from './helpers/inProcess.js';

const SLOW = 120_000;
/** The shared finished run's settings (test/globalSetup.ts): 20 steps, checkpoints at 10 and 20. */
const SHORT = FINISHED_RUN.sets;

const cli = (args: string[], cwd: string, env: Record<string, string> = {}) => runCli(args, cwd, { env, killAfterMs: SLOW - 10_000 });
const text = (path: string) => readFileSync(path, 'utf8');
const status = (dir: string) => (existsSync(join(dir, 'status')) ? text(join(dir, 'status')).trim() : null);
const json = (path: string) => JSON.parse(text(path));

/** Every file under `dir` by relative path, as bytes (hex). */
function snapshot(dir: string): Record<string, string> {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('hex')]));
}

/** stderr without the plain progress lines a run prints while training ("lookup step 5/20 …"). */
const messageLines = (r: Result) => r.stderr.split('\n').filter((l) => l !== '' && !/^\S+ step \d+\/\d+ /.test(l));

/** An environment fault: exit 1, one line naming the file and the cause, no stack trace, no "internal error". */
function expectEnvironmentLine(r: Result, file: RegExp): string {
  const lines = messageLines(r);
  expect(r.status, explain(r)).toBe(1);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^qkv-lab: cannot write /);
  expect(lines[0]).toMatch(/no space left on device \(ENOSPC\)/);
  expect(lines[0]).toMatch(file);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stderr).not.toMatch(/internal error/);
  return lines[0];
}

/** Whether a tmpfs can be mounted here (root in a container that allows it); probed once, at collection time. */
function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'qkv-mount-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=12k', 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
    if (mounted) spawnSync('umount', [dir], { stdio: 'ignore' });
    return mounted;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const MOUNT = canMountTmpfs();
const NO_MOUNT = '(skipped: mounting a tmpfs needs root and a system that permits it; the ENOSPC-injection tests cover the same code)';

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
}
const umount = (dir: string) => spawnSync('umount', [dir], { stdio: 'ignore' });

/** Writes zeros into `path` until the file system is full. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

const fresh = useTempRoot('qkv-faults-');
/** An uninterrupted SHORT run, trained once by test/globalSetup.ts: the reference every resumed run must equal. Read only. */
let reference: Promise<string>;

beforeAll(() => {
  const { dir, printed } = inject('finishedRun');
  reference = printed.status === 0 ? Promise.resolve(dir) : Promise.reject(new Error(`the reference run failed:\n${printed.stderr}`));
  reference.catch(() => {});
});

describe('a full disk during train (ENOSPC injected at the write layer)', () => {
  it(
    'a checkpoint write fails: exit 1 with one line naming the file, status interrupted, the last good checkpoint ' +
      'kept; after room is made, --resume finishes bit-identically',
    async () => {
      const cwd = fresh('ckpt-enospc');
      const dir = join(cwd, 'run');
      // Checkpoint files: step 10's safetensors and checkpoint.json succeed; step 20's safetensors fails.
      const r = await cli(['train', LOOKUP, ...SHORT, '--out', dir], cwd, { QKV_LAB_TEST_ENOSPC: '2:checkpoint' });
      const line = expectEnvironmentLine(r, /run\/checkpoint\/step-00000020\.safetensors/);
      expect(line).toContain(`continue with: npx qkv-lab train --resume ${dir}`);
      expect(status(dir)).toBe('interrupted');
      const summary = json(join(dir, 'summary.json'));
      expect(summary.status).toBe('interrupted');
      expect(summary.error).toMatch(/ENOSPC/);
      expect(summary, 'a run that ends partway still records what computed it').toMatchObject({ kernel: 'fused', precision: 'float64' });
      expect(json(join(dir, 'checkpoint', 'checkpoint.json')).step).toBe(10);
      expect(readdirSync(join(dir, 'checkpoint')).sort()).toEqual(['checkpoint.json', 'step-00000010.safetensors']); // no temp file left behind
      expect(readdirSync(dir).filter(isLockEntry), 'the lock is released').toEqual([]);

      const resumed = await cli(['train', '--resume', dir], cwd);
      expect(resumed.status, explain(resumed)).toBe(0);
      expect(resumed.stderr).toContain('from step 10');
      expect(status(dir)).toBe('completed');
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(await reference));
    },
    SLOW,
  );

  it(
    'an attention.json write fails at the step-20 checkpoint: the checkpoint stays at 10, and the resumed run measures ' +
      'the same attention volatility as an uninterrupted one (the claims trace has no gap)',
    async () => {
      const cwd = fresh('attention-enospc');
      const dir = join(cwd, 'run');
      // attention.json is written at the step-0 snapshot, the step-10 checkpoint, the step-10 snapshot, then at the
      // step-20 checkpoint, which fails. Written after that checkpoint (as before 2026-12-02), it left checkpoint 20
      // beside a trace that ended at step 10, and the resumed run paired step 10 with step 20 (volatility reads the
      // pairs from step 10 on).
      const r = await cli(['train', LOOKUP, ...SHORT, '--out', dir], cwd, { QKV_LAB_TEST_ENOSPC: '3:attention.json' });
      expectEnvironmentLine(r, /run\/attention\.json/);
      expect(status(dir)).toBe('interrupted');
      expect(json(join(dir, 'checkpoint', 'checkpoint.json')).step).toBe(10);
      const resumed = await cli(['train', '--resume', dir], cwd);
      expect(resumed.status, explain(resumed)).toBe(0);
      const { wall_s: _a, ...summary } = json(join(dir, 'summary.json'));
      const { wall_s: _b, ...uninterrupted } = json(join(await reference, 'summary.json'));
      expect(summary.attn_volatility).toBeGreaterThan(0);
      expect(summary).toEqual(uninterrupted);
    },
    SLOW,
  );

  it(
    'a metrics.csv append fails after the step-20 checkpoint: exit 1, one line, interrupted; --resume finishes bit-identically',
    async () => {
      const cwd = fresh('csv-enospc');
      const dir = join(cwd, 'run');
      // Rows 0, 5, 10 and 15 are appended; row 20, written after the step-20 checkpoint, fails.
      const r = await cli(['train', LOOKUP, ...SHORT, '--out', dir], cwd, { QKV_LAB_TEST_ENOSPC: '4:metrics.csv' });
      expectEnvironmentLine(r, /run\/metrics\.csv/);
      expect(status(dir)).toBe('interrupted');
      expect(json(join(dir, 'checkpoint', 'checkpoint.json')).step).toBe(20);
      const resumed = await cli(['train', '--resume', dir], cwd);
      expect(resumed.status, explain(resumed)).toBe(0);
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(await reference));
    },
    SLOW,
  );

  it(
    "in a sweep, a worker's disk error stops the sweep with that line and exit 1; finished runs stay finished; a " +
      'run damaged meanwhile is refused in one line (exit 2); the same command then finishes the rest',
    async () => {
      const cwd = fresh('sweep-enospc');
      const sweep = join(cwd, 's.yaml');
      writeFileSync(sweep, `name: s\nbase: ${JSON.stringify(LOOKUP)}\ngrid:\n  model.attention: [qkv, qv]\n  train.seed: [0, 1]\n`);
      const out = join(cwd, 'runs');
      const args = ['sweep', sweep, ...SHORT, '--workers', '2', '--out', out];
      // Two groups (qkv, qv) on two workers; the qv worker's step-20 checkpoint of seed 1 fails.
      const r = await cli(args, cwd, { QKV_LAB_TEST_ENOSPC: '2:attention-qv_seed-1/checkpoint' });
      expect(r.status, explain(r)).toBe(1);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('qkv-lab:'));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(
        /cannot write \S+attention-qv_seed-1\/checkpoint\/step-00000020\.safetensors: no space left on device \(ENOSPC\); the sweep stopped/,
      );
      expect(
        r.stderr
          .split('\n')
          .filter((l) => l !== '')
          .every((l) => l.startsWith('sweep: ') || l.startsWith('qkv-lab: ')),
        r.stderr,
      ).toBe(true);
      expect(r.stderr).not.toContain('    at ');
      expect(r.stderr).not.toMatch(/internal error/);
      expect(status(join(out, 'attention-qkv_seed-0'))).toBe('completed');
      expect(status(join(out, 'attention-qkv_seed-1'))).toBe('completed');
      expect(status(join(out, 'attention-qv_seed-0'))).toBe('interrupted');
      expect(status(join(out, 'attention-qv_seed-1'))).toBe('interrupted');
      for (const name of readdirSync(out).filter((f) => f.startsWith('attention-')))
        expect(readdirSync(join(out, name)).filter(isLockEntry), `${name}: the lock is released`).toEqual([]);
      const finished = snapshot(join(out, 'attention-qkv_seed-0'));

      // A row before the kept checkpoint damaged on the way: the group cannot continue; one line and exit 2, no stack trace.
      const csv = join(out, 'attention-qv_seed-1', 'metrics.csv');
      const intact = readFileSync(csv);
      writeFileSync(csv, intact.toString('utf8').replace(/\n5,[^\n]*/, '\n5,oops'));
      const refused = await cli(args, cwd);
      expect(refused.status, explain(refused)).toBe(2);
      const refusal = refused.stderr.split('\n').filter((l) => l.startsWith('qkv-lab:'));
      // qv seed 0 kept its step-20 checkpoint, seed 1 its step-10 one: separate groups, so seed 0 finishes meanwhile.
      expect(refusal, refused.stderr).toEqual([
        `qkv-lab: 1 run(s) could not continue from their run directories (the reasons are above): ${join(out, 'attention-qv_seed-1')}`,
      ]);
      expect(status(join(out, 'attention-qv_seed-0'))).toBe('completed');
      expect(refused.stderr).toMatch(/attention-qv_seed-1: metrics\.csv line 3 is malformed/);
      expect(refused.stderr).not.toContain('    at ');
      expect(refused.stderr).not.toMatch(/internal error/);
      writeFileSync(csv, intact);

      const again = await cli(args, cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).toContain('3 run(s) already finished, skipped');
      expect(again.stderr).toContain('1 unfinished run(s) continue from their checkpoints');
      for (const name of ['attention-qv_seed-0', 'attention-qv_seed-1']) expect(status(join(out, name)), name).toBe('completed');
      expect(snapshot(join(out, 'attention-qkv_seed-0'))).toEqual(finished);
    },
    SLOW,
  );
});

describe('a real full disk: a tiny tmpfs', () => {
  it.skipIf(!MOUNT)(
    `train into a 12 KB tmpfs: exit 1 with one line naming what could not be written, status interrupted ${MOUNT ? '' : NO_MOUNT}`,
    async () => {
      const cwd = fresh('tmpfs-12k');
      const disk = join(cwd, 'disk');
      mountTmpfs(disk, '12k');
      try {
        const dir = join(disk, 'run');
        const r = await cli(['train', LOOKUP, ...SHORT, '--out', dir], cwd);
        expectEnvironmentLine(r, new RegExp(`${disk}/run/`));
        expect(readdirSync(dir).filter(isLockEntry), 'the lock is released on a full disk too').toEqual([]);
        expect(messageLines(r)[0]).toMatch(
          /no checkpoint was written yet; once there is room, train again|continue with: npx qkv-lab train --resume/,
        );
        expect(status(dir)).toBe('interrupted');
      } finally {
        umount(disk);
      }
    },
    SLOW,
  );

  it.skipIf(!MOUNT)(
    `the disk fills up mid-run: exit 1, one line, interrupted with a valid checkpoint; freeing the space and ` +
      `--resume finish bit-identically ${MOUNT ? '' : NO_MOUNT}`,
    async () => {
      const cwd = fresh('tmpfs-fill');
      const disk = join(cwd, 'disk');
      mountTmpfs(disk, '2m');
      try {
        const dir = join(disk, 'run');
        const long = ['--set', 'train.steps=100', '--set', 'train.logEvery=5', '--set', 'train.checkpointEvery=10', '--set', 'eval.size=32'];
        const ref = join(cwd, 'reference');
        const referenceDone = cli(['train', LOOKUP, ...long, '--out', ref], cwd); // uninterrupted, beside the one that fills the disk
        const proc = startCli(['train', LOOKUP, ...long, '--out', dir], cwd, { killAfterMs: SLOW - 10_000 });
        const until = Date.now() + 60_000;
        while (!existsSync(join(dir, 'checkpoint', 'checkpoint.json')) && proc.child.exitCode === null && Date.now() < until)
          await new Promise((res) => setTimeout(res, 20));
        fillDisk(join(disk, 'filler'));
        const r = await proc.done;
        expectEnvironmentLine(r, new RegExp(`${disk}/run/`));
        expect(status(dir)).toBe('interrupted');
        rmSync(join(disk, 'filler')); // free the space
        const resumed = await cli(['train', '--resume', dir], cwd);
        expect(resumed.status, explain(resumed)).toBe(0);
        expect((await referenceDone).status).toBe(0);
        expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(ref));
      } finally {
        umount(disk);
      }
    },
    SLOW,
  );
});

describe('a damaged newest checkpoint', () => {
  /** A copy of the reference run, marked interrupted so --resume reaches its checkpoints (newest 20, previous 10). */
  async function interruptedCopy(name: string): Promise<string> {
    const dir = join(fresh(name), 'run');
    cpSync(await reference, dir, { recursive: true });
    writeFileSync(join(dir, 'status'), 'interrupted\n');
    return dir;
  }

  it(
    'a truncated newest checkpoint: resume says so in one line, falls back to the previous one and finishes bit-identically',
    async () => {
      const dir = await interruptedCopy('fallback');
      const index = json(join(dir, 'checkpoint', 'checkpoint.json'));
      expect([index.step, index.previous.step]).toEqual([20, 10]);
      const newest = join(dir, 'checkpoint', index.file);
      truncateSync(newest, Math.floor(statSync(newest).size / 2));
      const r = await cli(['train', '--resume', dir], fresh.root);
      expect(r.status, explain(r)).toBe(0);
      const said = messageLines(r).filter((l) => /falling back/.test(l));
      expect(said, r.stderr).toHaveLength(1);
      expect(said[0]).toMatch(
        new RegExp(
          /checkpoint at step 20 is corrupt \(step-00000020\.safetensors has \d+ bytes, checkpoint\.json records \d+\); /.source +
            /falling back to the previous one, at step 10/.source,
        ),
      );
      expect(r.stderr).toContain('resuming');
      expect(r.stderr).toContain('from step 10');
      expect(status(dir)).toBe('completed');
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(await reference));
      const after = json(join(dir, 'checkpoint', 'checkpoint.json'));
      expect([after.step, after.previous.step]).toEqual([20, 10]); // step 20 written again, whole
    },
    SLOW,
  );

  it(
    'a newest checkpoint with one flipped byte fails its SHA-256 and falls back too',
    async () => {
      const dir = await interruptedCopy('flip');
      const newest = join(dir, 'checkpoint', json(join(dir, 'checkpoint', 'checkpoint.json')).file);
      const bytes = readFileSync(newest);
      bytes[bytes.length - 3] ^= 0x01; // inside the tensor data: the file still parses, only the checksum can tell
      writeFileSync(newest, bytes);
      const r = await cli(['train', '--resume', dir], fresh.root);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).toMatch(/does not match the SHA-256 in checkpoint\.json\); falling back to the previous one, at step 10/);
      expect(metricsWithoutTiming(dir)).toBe(metricsWithoutTiming(await reference));
    },
    SLOW,
  );

  it(
    'both checkpoints damaged: one line, exit 2, and the run directory (metrics.csv included) left as it was',
    async () => {
      const dir = await interruptedCopy('both');
      const index = json(join(dir, 'checkpoint', 'checkpoint.json'));
      truncateSync(join(dir, 'checkpoint', index.file), 100);
      writeFileSync(join(dir, 'checkpoint', index.previous.file), 'garbage');
      const before = snapshot(dir);
      const r = await cli(['train', '--resume', dir], fresh.root);
      expectOneLineError(r);
      expect(r.stderr).toMatch(/cannot resume: the checkpoint at step 20 is corrupt .*, and the previous one, at step 10, is corrupt/);
      expect(snapshot(dir)).toEqual(before);
    },
    SLOW,
  );
});

describe('compare over a folder with one damaged run among good ones', () => {
  let sweep: Promise<{ cwd: string; runs: string }>;
  beforeAll(() => {
    const cwd = fresh('compare');
    const file = join(cwd, 's.yaml');
    writeFileSync(
      file,
      `name: s\nbase: ${JSON.stringify(LOOKUP)}\ngrid:\n  model.attention: [qkv, qv]\n  train.lr: [0.003, 0.03]\n  train.seed: [0, 1]\n`,
    );
    const runs = join(cwd, 'runs');
    sweep = cli(
      ['sweep', file, '--set', 'train.steps=20', '--set', 'train.logEvery=5', '--set', 'eval.size=32', '--workers', '2', '--out', runs],
      cwd,
    ).then((r) => {
      if (r.status !== 0) throw new Error(`the sweep failed:\n${explain(r)}`);
      return { cwd, runs };
    });
    sweep.catch(() => {});
  });

  it(
    'a short last line in one metrics.csv: that run is skipped with one warning naming it, the report lists it beside the verdict, --strict exits 2',
    async () => {
      const { cwd, runs: pristine } = await sweep;
      const runs = join(cwd, 'damaged-runs'); // a copy: the other tests keep the pristine sweep
      cpSync(pristine, runs, { recursive: true });
      const cleanVerdict = JSON.parse(JSON.stringify(analyseRuns([runs]).verdict)); // the undamaged copy's verdict, in-process: only its figures are needed
      // Seeds judged: those with LR sensitivity and those set aside as never learned (nothing learns in 20 steps).
      const judged = (v: { per_seed: { qv: { seed: number }[] }; series: { never_learned: { qv: number[] } }[] }) =>
        [...v.per_seed.qv.map((s) => s.seed), ...v.series[0].never_learned.qv].sort();
      expect([cleanVerdict.runs, cleanVerdict.runs_skipped, judged(cleanVerdict)]).toEqual([8, 0, [0, 1]]);

      const damaged = join(runs, 'attention-qv_lr-0.03_seed-1');
      const csv = join(damaged, 'metrics.csv');
      truncateSync(csv, statSync(csv).size - 7); // the last row loses its end and its newline
      const before = snapshot(runs);
      const r = await cli(['compare', runs, '--no-charts', '--out', join(cwd, 'report')], cwd);
      expect(r.status, explain(r)).toBe(0);
      const warnings = r.stderr.split('\n').filter((l) => l.includes('skipped'));
      expect(warnings).toEqual([`compare: warning: skipped ${damaged}: metrics.csv is truncated (its last line is cut short)`]);
      expect(r.stderr).not.toContain('    at ');
      const verdict = json(join(cwd, 'report', 'verdict.json'));
      expect([verdict.runs, verdict.runs_skipped]).toEqual([7, 1]);
      expect(judged(verdict)).toEqual([0]); // seed 1 of qv lost a learning rate: computed without it
      const md = text(join(cwd, 'report', 'report.md'));
      const verdictAt = md.indexOf('**Verdict');
      const beside = md.indexOf('computed without 1 skipped run(s)');
      expect(verdictAt).toBeGreaterThan(-1);
      expect(beside).toBeGreaterThan(verdictAt);
      expect(beside).toBeLessThan(md.indexOf('<details>')); // beside the verdict, before the settings
      expect(md).toContain(`- \`${damaged}\`: metrics.csv is truncated`);
      expect(text(join(cwd, 'report', 'report.html'))).toContain('Runs left out');
      expect(snapshot(runs)).toEqual(before); // compare changes no run's files

      const strict = await runInProcess(['compare', runs, '--strict', '--out', join(cwd, 'strict')], cwd); // a refusal: no subprocess needed
      expectOneLineError(strict);
      expect(strict.stderr).toContain(`--strict: 1 run(s) damaged; ${damaged}: metrics.csv is truncated`);
      expect(existsSync(join(cwd, 'strict', 'report.md'))).toBe(false);
    },
    SLOW,
  );

  it(
    'a run the sweep planned but never started is counted and named as not started',
    async () => {
      const { cwd, runs } = await sweep;
      const copy = join(cwd, 'planned');
      cpSync(runs, copy, { recursive: true });
      const missing = join(copy, 'attention-qkv_lr-0.03_seed-0');
      rmSync(missing, { recursive: true });
      mkdirSync(missing); // as a sweep stopped early leaves it: created, never written
      const r = await cli(['compare', copy, '--no-charts', '--out', join(cwd, 'planned-report')], cwd);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).toContain(`compare: warning: 1 planned run(s) not started: ${missing}`);
      const md = text(join(cwd, 'planned-report', 'report.md'));
      expect(md).toContain('computed without 1 planned run(s) not started');
      expect(md).toContain(`- \`${missing}\``);
      expect(json(join(cwd, 'planned-report', 'verdict.json')).runs_not_started).toBe(1);
    },
    SLOW,
  );

  it('an empty folder is still exit 2 with one line', async () => {
    const cwd = fresh('empty');
    mkdirSync(join(cwd, 'nothing'));
    const r = await cli(['compare', join(cwd, 'nothing')], cwd);
    expectOneLineError(r);
    expect(r.stderr).toMatch(/no run directories found/);
  });
});
