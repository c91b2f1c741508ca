/**
 * sweep, compare and ablation end to end through the built CLI (`node dist/cli.js`), each in a temp dir as
 * cwd so that data/ lands there. Build first with `npx tsc -p .` (`npm test` does it in its pretest step).
 *
 * The tiny sweep: lookup (configs/lookup.yaml) at 40 steps, model.attention × train.lr × train.seed = 2 × 2 × 2.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { htmlLinks, markdownLinks } from './helpers/links.js';
import { CLI, LOOKUP, REPO, explain, expectOneLineError as expectOneLine, runCli, useTempRoot, type Result } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';
import { TINY_SWEEP } from './helpers/shared.js';
import { metricsWithoutTiming } from './helpers/runFiles.js';
import { inspectLock, isLockEntry } from '../src/runs/lock.js';

const SLOW = 90_000;
// The tiny sweep's overrides: the same as the shared sweep test/globalSetup.ts trains.
const SETS = TINY_SWEEP.sets;
const TINY_GRID = { 'model.attention': ['qkv', 'qv'], 'train.lr': [0.003, 0.03], 'train.seed': [0, 1] };
/** Run directory names of the tiny sweep, in plan order (first grid key slowest). */
const TINY_RUNS = ['qkv', 'qv'].flatMap((a) => ['0.003', '0.03'].flatMap((lr) => [0, 1].map((s) => `attention-${a}_lr-${lr}_seed-${s}`)));

/** Runs the CLI asynchronously in `cwd` with `env` added, killed if still running 5 s before the test's timeout. */
const cli = (args: string[], cwd: string, env: Record<string, string> = {}) => runCli(args, cwd, { env, killAfterMs: SLOW - 5_000 });

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const status = (dir: string) => (existsSync(join(dir, 'status')) ? readFileSync(join(dir, 'status'), 'utf8').trim() : null);

// Scheduler variables from the machine running the tests must not shard these sweeps.
for (const v of ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX']) delete process.env[v];

const fresh = useTempRoot('qkv-cli-sweep-');

/** Writes a sweep file with an absolute base (so it can live anywhere) and the given grid, as YAML flow lists. */
function writeSweep(dir: string, grid: Record<string, unknown[]> | string, name = 'tiny'): string {
  const body =
    typeof grid === 'string'
      ? grid
      : Object.entries(grid)
          .map(([k, v]) => `  ${k}: [${v.join(', ')}]`)
          .join('\n');
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `name: ${name}\nbase: ${JSON.stringify(LOOKUP)}\ngrid:${typeof grid === 'string' ? ' ' : '\n'}${body}\n`);
  return path;
}

/** metrics.csv bytes and mtime of each run directory under `dir`. */
function snapshot(dir: string, names: string[]): Map<string, { bytes: Buffer; mtimeMs: number; summary: Buffer }> {
  return new Map(
    names.map((n) => {
      const csv = join(dir, n, 'metrics.csv');
      return [n, { bytes: readFileSync(csv), mtimeMs: statSync(csv).mtimeMs, summary: readFileSync(join(dir, n, 'summary.json')) }];
    }),
  );
}

function expectUnchanged(dir: string, before: ReturnType<typeof snapshot>): void {
  for (const [name, old] of before) {
    const csv = join(dir, name, 'metrics.csv');
    expect(statSync(csv).mtimeMs, `${name}/metrics.csv mtime`).toBe(old.mtimeMs);
    expect(readFileSync(csv).equals(old.bytes), `${name}/metrics.csv bytes`).toBe(true);
    expect(readFileSync(join(dir, name, 'summary.json')).equals(old.summary), `${name}/summary.json bytes`).toBe(true);
  }
}

/** The shared one-line error checks, and the line starts with the program's name. */
function expectOneLineError(r: Result): void {
  expectOneLine(r);
  expect(r.stderr).toMatch(/^qkv-lab: /);
}

/** One-sided exact Mann–Whitney p by enumerating every split of the pooled values (written independently of src/). */
function exactGreaterP(x: number[], y: number[]): { u: number; p: number } {
  const pooled = [...x, ...y];
  const u = (xs: number[], ys: number[]) => xs.reduce((acc, a) => acc + ys.reduce((s, b) => s + (a > b ? 1 : a === b ? 0.5 : 0), 0), 0);
  const observed = u(x, y);
  let total = 0;
  let atLeast = 0;
  for (let mask = 0; mask < 1 << pooled.length; mask++) {
    const inX = pooled.filter((_, i) => mask & (1 << i));
    if (inX.length !== x.length) continue;
    total++;
    if (
      u(
        inX,
        pooled.filter((_, i) => !(mask & (1 << i))),
      ) >= observed
    )
      atLeast++;
  }
  return { u: observed, p: atLeast / total };
}

// The unsharded tiny sweep, trained once for every test file by test/globalSetup.ts; this file owns that copy
// (its tests check what the sweep printed and that a second sweep leaves the runs as they were).
let baseSweep: Promise<{ cwd: string; runs: string; first: Result }> | undefined;
function tinySweep() {
  baseSweep ??= Promise.resolve().then(() => {
    const { cwd, runs, first } = inject('tinySweep');
    return { cwd, runs, first: { ...first, signal: null, killed: false } };
  });
  return baseSweep;
}
let baseCompare: Promise<{ out: string; result: Result; seconds: number }> | undefined;
function tinyCompare() {
  baseCompare ??= (async () => {
    const { cwd, runs, first } = await tinySweep();
    expect(first.status, explain(first)).toBe(0);
    const out = join(cwd, 'report');
    const started = Date.now();
    const result = await cli(['compare', runs, '--out', out], cwd);
    return { out, result, seconds: (Date.now() - started) / 1000 };
  })();
  return baseCompare;
}

describe('sweep', () => {
  it(
    'trains every run of the grid: one directory per run, each completed',
    async () => {
      const { runs, first } = await tinySweep();
      expect(first.status, explain(first)).toBe(0);
      expect(first.stdout.trim()).toBe(runs); // prints the runs directory
      // Piped (not a terminal), a sweep shorter than a minute says only how big it is and how it ended.
      expect(first.stderr.trim().split('\n')).toEqual([
        // 2 vs 2 seeds: said before anything trains.
        'sweep: warning: with 2 QV vs 2 QKV seeds the smallest possible p is 1/6 (≥ 0.05), so the verdict cannot hold ' +
          'whatever the data; use at least 4 seeds per variant (4 vs 4 allows p = 1/70)',
        'sweep: 8 runs in 2 group(s), 320 run-steps; a progress line at most once a minute',
        expect.stringMatching(/^sweep: 2\/2 groups ended, 8\/8 runs finished \(8 completed\) in \d+ s$/),
      ]);
      expect(
        readdirSync(runs)
          .filter((f) => !f.endsWith('.json'))
          .sort(),
      ).toEqual([...TINY_RUNS].sort());
      for (const name of TINY_RUNS) {
        const dir = join(runs, name);
        expect(status(dir), name).toBe('completed');
        const summary = json(join(dir, 'summary.json'));
        expect(summary.status).toBe('completed');
        expect(summary.steps).toBe(40);
        const config = json(join(dir, 'config.json'));
        const [, attention, lr, seed] = /^attention-(\w+)_lr-([\d.]+)_seed-(\d)$/.exec(name)!;
        expect([config.model.attention, config.train.lr, config.train.seed]).toEqual([attention, Number(lr), Number(seed)]);
        expect(config.train.steps).toBe(40); // --set reached every run
        expect(config.eval.size).toBe(64);
        const steps = readFileSync(join(dir, 'metrics.csv'), 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => Number(l.split(',')[0]));
        expect(steps).toEqual([0, 20, 40]);
      }
      expect(json(join(runs, 'sweep.json')).runs).toEqual(TINY_RUNS);
    },
    SLOW,
  );

  it(
    're-running the same sweep skips every run and rewrites no metrics',
    async () => {
      const { cwd, runs, first } = await tinySweep();
      expect(first.status, explain(first)).toBe(0);
      const before = snapshot(runs, TINY_RUNS);
      const sweep = join(cwd, 'tiny.yaml');
      const again = await cli(['sweep', sweep, ...SETS, '--workers', '2', '--out', runs], cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).toMatch(/8 run\(s\) already finished, skipped/);
      expect(again.stderr).not.toMatch(/group \d+\/\d+/); // nothing trained
      expectUnchanged(runs, before);
      for (const name of TINY_RUNS) expect(status(join(runs, name))).toBe('completed');
    },
    SLOW,
  );

  it(
    'a run left unfinished without a checkpoint is named and trained again from step 0, to the same metrics',
    async () => {
      const { cwd, runs, first } = await tinySweep();
      expect(first.status, explain(first)).toBe(0);
      const copy = join(fresh('restart'), 'runs');
      cpSync(runs, copy, { recursive: true });
      const [victim, ...others] = TINY_RUNS;
      const original = metricsWithoutTiming(join(copy, victim));
      // As if killed before its first checkpoint: no checkpoint, status not finished.
      rmSync(join(copy, victim, 'checkpoint'), { recursive: true, force: true });
      writeFileSync(join(copy, victim, 'status'), 'interrupted\n');
      const before = snapshot(copy, others);
      const again = await cli(['sweep', join(cwd, 'tiny.yaml'), ...SETS, '--workers', '2', '--out', copy], cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).toContain(`1 unfinished run(s) had no usable checkpoint and start again from step 0: ${victim}`);
      expect(status(join(copy, victim))).toBe('completed');
      expect(metricsWithoutTiming(join(copy, victim))).toBe(original);
      expectUnchanged(copy, before);
    },
    SLOW,
  );

  it(
    're-running into the same --out with a different config is refused, and the runs are kept',
    async () => {
      const { cwd, runs, first } = await tinySweep();
      expect(first.status, explain(first)).toBe(0);
      const before = snapshot(runs, TINY_RUNS);
      const r = await cli(['sweep', join(cwd, 'tiny.yaml'), ...SETS, '--set', 'train.warmup=10', '--workers', '2', '--out', runs], cwd);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(r.stderr).toContain(runs);
      expectUnchanged(runs, before);
    },
    SLOW,
  );

  it(
    'SIGKILL mid-sweep, then re-run: it completes, and runs finished before the kill are kept as they were',
    async () => {
      const cwd = fresh('kill');
      // More steps, so that the second group is still training when the first one has finished.
      const sweep = writeSweep(cwd, TINY_GRID, 'killme');
      const runs = join(cwd, 'runs');
      const args = [
        'sweep',
        sweep,
        '--set',
        'train.steps=200',
        '--set',
        'train.logEvery=20',
        '--set',
        'eval.size=64',
        '--workers',
        '1',
        '--out',
        runs,
      ];
      const child = spawn(process.execPath, [CLI, ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.stdout.resume();
      const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ code, signal })),
      );
      const killGroup = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const completedNow = () => TINY_RUNS.filter((n) => status(join(runs, n)) === 'completed');
      let exited = false;
      void closed.then(() => (exited = true));
      try {
        const deadline = Date.now() + 60_000;
        while (!exited && completedNow().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        killGroup();
      } finally {
        killGroup();
      }
      const end = await closed;
      expect(end.signal, `the sweep ended by itself before the kill:\n${stderr}`).toBe('SIGKILL');

      const done = completedNow();
      expect(done.length, 'at least one run finished before the kill').toBeGreaterThan(0);
      expect(done.length, 'the kill must interrupt the sweep, not come after it').toBeLessThan(TINY_RUNS.length);
      const before = snapshot(runs, done);

      // The killed sweep's locks stay behind, naming it, on every run it had not finished. Its pid no longer
      // runs on this machine, so they are stale at once, and the re-run takes them over, saying so in one line.
      const unfinished = TINY_RUNS.filter((n) => !done.includes(n));
      for (const name of unfinished)
        expect(inspectLock(join(runs, name)), `${name}: lock left by the killed sweep`).toMatchObject({ owner: { pid: child.pid }, stale: true });

      const resumed = await cli(args, cwd);
      expect(resumed.status, explain(resumed)).toBe(0);
      expect(resumed.stderr).toContain(`${done.length} run(s) already finished, skipped`);
      const tookOver = resumed.stderr.split('\n').filter((l) => l.includes('took over'));
      expect(tookOver, resumed.stderr).toEqual([
        expect.stringMatching(
          new RegExp(
            `^sweep: took over the stale lock\\(s\\) of ${unfinished.length} run\\(s\\) left by pid ${child.pid}@\\S+ \\(its process is no longer running\\): `,
          ),
        ),
      ]);
      for (const name of TINY_RUNS) {
        expect(status(join(runs, name)), name).toBe('completed');
        const steps = readFileSync(join(runs, name, 'metrics.csv'), 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => Number(l.split(',')[0]));
        expect(steps, `${name}: one row per logged step, no leftovers of the killed attempt`).toEqual(Array.from({ length: 11 }, (_, i) => i * 20));
      }
      for (const name of unfinished) expect(readdirSync(join(runs, name)).filter(isLockEntry), `${name}: lock released`).toEqual([]);
      expectUnchanged(runs, before);
    },
    SLOW,
  );

  it(
    'shards 1/2 and 2/2 into one --out give the same verdict.json as the unsharded sweep',
    async () => {
      const reference = await tinyCompare();
      expect(reference.result.status, explain(reference.result)).toBe(0);

      const cwd = fresh('shards');
      const sweep = writeSweep(cwd, TINY_GRID);
      const runs = join(cwd, 'runs');
      // One worker per shard: sharding does not depend on the workers, and each worker is a process start. The two
      // shards run at once, as two jobs of a cluster would.
      const [one, two] = await Promise.all(
        ['1/2', '2/2'].map((shard) => cli(['sweep', sweep, ...SETS, '--workers', '1', '--shard', shard, '--out', runs], cwd)),
      );
      expect(one.status, explain(one)).toBe(0);
      expect(one.stderr).toMatch(/shard 1\/2: 4 of 8 runs/);
      expect(two.status, explain(two)).toBe(0);
      expect(two.stderr).toMatch(/shard 2\/2: 4 of 8 runs/);
      expect(two.stderr).not.toMatch(/already finished/); // the shards are disjoint
      for (const name of TINY_RUNS) expect(status(join(runs, name)), name).toBe('completed');

      const out = join(cwd, 'report');
      const cmp = await cli(['compare', runs, '--no-charts', '--out', out], cwd); // verdict.json does not depend on charts (the compare tests below)
      expect(cmp.status, explain(cmp)).toBe(0);
      const sharded = readFileSync(join(out, 'verdict.json'), 'utf8');
      const unsharded = readFileSync(join(reference.out, 'verdict.json'), 'utf8');
      expect(sharded).toBe(unsharded);
    },
    SLOW,
  );
});

describe('compare', () => {
  it(
    'writes report.md, report.html and verdict.json; the verdict matches an independent computation from summary.json',
    async () => {
      const { runs } = await tinySweep();
      const { out, result } = await tinyCompare();
      expect(result.status, explain(result)).toBe(0);
      expect(result.stdout).toContain('Verdict');
      for (const f of ['report.md', 'report.html', 'verdict.json']) expect(existsSync(join(out, f)), f).toBe(true);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      const charts = [...md.matchAll(/!\[[^\]]*\]\(([^)]+\.png)\)/g)].map((m) => m[1]);
      expect(charts.length, 'report.md shows the charts').toBeGreaterThan(0);
      for (const png of charts) expect(existsSync(join(out, png)), `chart ${png} in report.md`).toBe(true);
      expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<html/i);

      const text = readFileSync(join(out, 'verdict.json'), 'utf8');
      expect(text).not.toContain(fresh.root); // no paths: shards and reruns must compare byte for byte
      const verdict = json(join(out, 'verdict.json'));
      expect(typeof verdict.holds).toBe('boolean');
      expect(typeof verdict.ratio).toBe('number');
      expect(typeof verdict.p).toBe('number');
      expect(Array.isArray(verdict.per_seed.qkv)).toBe(true);
      expect(Array.isArray(verdict.per_seed.qv)).toBe(true);
      expect(verdict.runs).toBe(8);

      // LR sensitivity per seed, from the runs' own summaries (src/metrics/METRICS.md): a seed that reached 95% at no
      // learning rate (steps_to_acc null at both) is set aside and named, not counted as stable (2026-12-04).
      const summaries = TINY_RUNS.map((n) => json(join(runs, n, 'summary.json')));
      const expected: Record<string, { seed: number; value: number }[]> = {};
      const neverLearned: Record<string, number[]> = {};
      for (const variant of ['qkv', 'qv']) {
        const bySeed = [0, 1].map((seed) => {
          const mine = summaries.filter((s) => s.attention === variant && s.seed === seed);
          expect(mine).toHaveLength(2);
          // ℓ₀ from the smallest-LR run (all runs of a seed should agree on it: see the next test).
          const init = [...mine].sort((a, b) => a.lr - b.lr)[0].init_eval_loss as number;
          const losses = mine.map((s) => (s.status === 'diverged' || !Number.isFinite(s.final_eval_loss) ? init : Math.min(s.final_eval_loss, init)));
          const best = Math.min(...losses);
          const learned = mine.some((s) => typeof s.steps_to_acc === 'number');
          return { seed, learned, value: losses.reduce((a, l) => a + (l - best), 0) / losses.length };
        });
        expected[variant] = bySeed.filter((s) => s.learned).map(({ seed, value }) => ({ seed, value }));
        neverLearned[variant] = bySeed.filter((s) => !s.learned).map((s) => s.seed);
      }
      // The tiny sweep is sized so that both paths are taken: seeds that learned, and one that did not (helpers/shared.ts).
      expect(neverLearned.qkv.length + neverLearned.qv.length).toBeGreaterThan(0);
      expect(expected.qkv.length * expected.qv.length).toBeGreaterThan(0);
      expect(verdict.series[0].never_learned).toEqual(neverLearned);
      for (const variant of ['qkv', 'qv']) {
        expect(verdict.per_seed[variant].map((s: { seed: number }) => s.seed)).toEqual(expected[variant].map((s) => s.seed));
        verdict.per_seed[variant].forEach((s: { value: number }, i: number) => expect(s.value).toBeCloseTo(expected[variant][i].value, 10));
      }
      const mean = (xs: { value: number }[]) => xs.reduce((a, x) => a + x.value, 0) / xs.length;
      expect(verdict.ratio).toBeCloseTo(mean(expected.qv) / mean(expected.qkv), 10);
      const test = exactGreaterP(
        expected.qv.map((s) => s.value),
        expected.qkv.map((s) => s.value),
      );
      expect(verdict.p).toBeCloseTo(test.p, 12);
      expect(verdict.holds).toBe(test.p < 0.05);
      // With so few seeds the smallest possible p is 1/C(n + m, n) ≥ 1/6: the verdict cannot hold here.
      const [n, m] = [expected.qv.length, expected.qkv.length];
      const orderings = [...Array(n + m).keys()].reduce((c, i) => (i < n ? (c * (n + m - i)) / (i + 1) : c), 1);
      expect(verdict.holds).toBe(false);
      expect(verdict.verdict).toBe('not shown at this setting');
      expect(md).toContain('not shown at this setting');
      expect(md).toContain(`smallest possible p is 1/${orderings}`); // beside the verdict, since no data could have made it hold
      expect(result.stdout).toContain(`smallest possible p is 1/${orderings}`);
      for (const [variant, seeds] of Object.entries(neverLearned))
        if (seeds.length)
          expect(md).toContain(`${variant.toUpperCase()}: ${seeds.length} of 2 seeds (${seeds.join(', ')}) never learned at any rate`);
    },
    SLOW,
  );

  it(
    '--no-charts: the same verdict.json, tables and data, no chart drawn, and the report says so',
    async () => {
      const { cwd, runs } = await tinySweep();
      const { out: charted, result: first } = await tinyCompare();
      expect(first.status, explain(first)).toBe(0);
      // Written over a copy of the charted report: the charts it no longer shows leave with it.
      const out = join(cwd, 'report-no-charts');
      cpSync(charted, out, { recursive: true });
      const r = await cli(['compare', runs, '--no-charts', '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout).toBe(first.stdout.replace(charted, out));
      const files = readdirSync(out);
      expect(files.filter((f) => f.endsWith('.png'))).toEqual([]);
      expect(files.filter((f) => !f.endsWith('.png')).sort()).toEqual(
        readdirSync(charted)
          .filter((f) => !f.endsWith('.png'))
          .sort(),
      );
      for (const f of ['verdict.json', 'runs.csv', 'metrics_long.csv'])
        expect(readFileSync(join(out, f), 'utf8'), f).toBe(readFileSync(join(charted, f), 'utf8'));
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      expect(md).not.toMatch(/\.png\)/);
      expect(md).toContain('## Charts\n\nNot drawn: this report was written without its charts (`--no-charts`)');
      // Everything above the charts is the charted report's, word for word.
      const before = (text: string) => text.slice(0, text.indexOf('## Charts'));
      expect(before(md)).toBe(before(readFileSync(join(charted, 'report.md'), 'utf8')));
      expect(readFileSync(join(out, 'report.html'), 'utf8')).not.toContain('<svg');
    },
    SLOW,
  );

  it(
    'every link in report.md and report.html points at a file in the report directory',
    async () => {
      const { out, result } = await tinyCompare();
      expect(result.status, explain(result)).toBe(0);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      const links = [...markdownLinks(md), ...htmlLinks(html)];
      for (const cited of ['METRICS.md', 'seed-document.md', 'runs.csv', 'metrics_long.csv']) expect(links, `report links ${cited}`).toContain(cited);
      expect(links.filter((l) => !existsSync(join(out, l)))).toEqual([]);
      expect(md + html).not.toMatch(/shared\//);
      // The copies are the repository's documents, not stubs.
      expect(readFileSync(join(out, 'METRICS.md'), 'utf8')).toBe(readFileSync(join(REPO, 'src', 'metrics', 'METRICS.md'), 'utf8'));
    },
    SLOW,
  );

  it(
    "runs.csv has one row per run directory and metrics_long.csv every logged row, with the run's identity",
    async () => {
      const { runs } = await tinySweep();
      const { out, result } = await tinyCompare();
      expect(result.status, explain(result)).toBe(0);
      const table = (f: string) => parseCsv(readFileSync(join(out, f)), { columns: true }) as Record<string, string>[];
      const perRun = table('runs.csv');
      expect(perRun.map((r) => r.dir).sort()).toEqual(TINY_RUNS.map((n) => `../runs/${n}`).sort());
      for (const row of perRun) {
        const dir = join(out, row.dir);
        const config = json(join(dir, 'config.json'));
        const summary = json(join(dir, 'summary.json'));
        expect([row.variant, Number(row['train.lr']), Number(row['train.seed'])]).toEqual([
          config.model.attention,
          config.train.lr,
          config.train.seed,
        ]);
        expect(Number(row['model.dModel'])).toBe(config.model.dModel); // config keys, flattened
        expect(Number(row['train.steps'])).toBe(40);
        for (const key of ['final_eval_loss', 'final_eval_acc', 'spikes', 'roughness', 'init_eval_loss', 'steps_to_acc']) {
          expect(row[key], `${row.dir} ${key}`).toBe(summary[key] === null ? '' : String(summary[key]));
        }
        expect(row.status).toBe(summary.status);
      }
      const long = table('metrics_long.csv');
      const header = readFileSync(join(runs, TINY_RUNS[0], 'metrics.csv'), 'utf8')
        .split('\n')[0]
        .split(',');
      expect(Object.keys(long[0])).toEqual(['dir', 'variant', 'attention', 'qk_norm', 'train.lr', 'train.seed', ...header]);
      let total = 0;
      for (const name of TINY_RUNS) {
        const lines = readFileSync(join(runs, name, 'metrics.csv'), 'utf8')
          .trim()
          .split('\n')
          .slice(1);
        const mine = long.filter((r) => r.dir === `../runs/${name}`);
        expect(
          mine.map((r) => header.map((h) => r[h]).join(',')),
          name,
        ).toEqual(lines); // every row, byte for byte
        total += lines.length;
      }
      expect(long).toHaveLength(total);
    },
    SLOW,
  );

  it(
    'ℓ₀ (init_eval_loss, row 0 of metrics.csv) is the loss at initialisation: the same at every LR of a seed',
    async () => {
      // src/metrics/METRICS.md: row 0 is measured before update 0, so it cannot depend on the learning rate.
      const { runs, first } = await tinySweep();
      expect(first.status, explain(first)).toBe(0);
      const summaries = TINY_RUNS.map((n) => ({ name: n, ...json(join(runs, n, 'summary.json')) }));
      for (const variant of ['qkv', 'qv']) {
        for (const seed of [0, 1]) {
          const mine = summaries.filter((s) => s.attention === variant && s.seed === seed);
          const row0 = mine.map((s) =>
            Number(
              readFileSync(join(runs, s.name, 'metrics.csv'), 'utf8')
                .split('\n')[1]
                .split(',')[3],
            ),
          );
          expect(row0, `${variant} seed ${seed}: row-0 eval_loss at lr ${mine.map((s) => s.lr).join(' and ')}`).toEqual([row0[0], row0[0]]);
          expect(mine.map((s) => s.init_eval_loss)).toEqual([row0[0], row0[0]]);
        }
      }
    },
    SLOW,
  );
});

describe('ablation', () => {
  it(
    '--check exits 0 when the verdict holds and 1 when it does not, as verdict.json says',
    async () => {
      const cwd = fresh('ablation');
      const sweep = writeSweep(cwd, TINY_GRID);
      const out = join(cwd, 'abl');
      // The shared tiny sweep's finished runs, which the ablation reuses (the same config): what is checked here is
      // --check, compare and the report, not training again.
      cpSync((await tinySweep()).runs, join(out, 'runs'), { recursive: true });
      const r = await cli(['ablation', sweep, ...SETS, '--workers', '2', '--check', '--no-charts', '--out', out], cwd);
      expect(r.stderr).toContain('8 run(s) already finished, skipped');
      expect(
        readdirSync(out).filter((f) => f.endsWith('.png')),
        '--no-charts reaches the ablation’s report',
      ).toEqual([]);
      expect([0, 1], explain(r)).toContain(r.status);
      for (const f of ['report.md', 'report.html', 'verdict.json']) expect(existsSync(join(out, f)), f).toBe(true);
      expect(
        readdirSync(join(out, 'runs'))
          .filter((f) => !f.endsWith('.json'))
          .sort(),
      ).toEqual([...TINY_RUNS].sort());
      const verdict = json(join(out, 'verdict.json'));
      expect(typeof verdict.holds).toBe('boolean');
      expect(r.status, explain(r)).toBe(verdict.holds ? 0 : 1);
      expect(r.stdout).toMatch(/check: /);
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      if (verdict.holds) expect(md).toContain('keyless is less stable');
      else expect(md).toContain('not shown at this setting');
    },
    SLOW,
  );
});

describe.concurrent('bad sweep input through the CLI: exit 2, one stderr line, no stack, nothing created', () => {
  let bad: string;
  beforeAll(() => {
    bad = fresh('bad');
  });

  const cases: [string, string, Record<string, unknown[]> | string, string[], RegExp, Record<string, string>?][] = [
    ['empty grid', 'sweep', '{}', [], /grid.*empty/],
    ['unknown grid key', 'sweep', { 'train.lrr': [1] }, [], /train\.lrr.*'train\.lr'/],
    ['non-list grid value', 'sweep', '\n  train.lr: 0.01', [], /train\.lr.*list/],
    [
      'ablation with a single learning rate',
      'ablation',
      { 'model.attention': ['qkv', 'qv'], 'train.lr': [0.01], 'train.seed': [0, 1] },
      [],
      /train\.lr.*at least 2/,
    ],
    ['ablation without the keyless variant', 'ablation', { 'model.attention': ['qkv'], 'train.lr': [0.01, 0.1] }, [], /model\.attention/],
    ['--shard 3/2', 'sweep', { 'train.seed': [0, 1] }, ['--shard', '3/2'], /--shard.*3\/2/],
    ['JOB_COMPLETION_INDEX without --shards', 'sweep', { 'train.seed': [0, 1] }, [], /JOB_COMPLETION_INDEX.*--shards/, { JOB_COMPLETION_INDEX: '0' }],
    ['--workers 0', 'sweep', { 'train.seed': [0, 1] }, ['--workers', '0'], /--workers/],
  ];

  it.each(cases)(
    '%s',
    async (name, command, grid, flags, pattern, env) => {
      const cwd = join(bad, name.replace(/\W+/g, '-'));
      mkdirSync(cwd);
      const sweep = writeSweep(cwd, grid);
      const out = join(cwd, 'out');
      // A refusal before any run: in-process (main from src/cli.ts), but the case that needs its own environment.
      const args = [command, sweep, ...SETS, ...flags, '--out', out];
      const r = env ? await cli(args, cwd, env) : await runInProcess(args, cwd);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out), `${out} must not be created`).toBe(false);
      expect(existsSync(join(cwd, 'runs'))).toBe(false);
    },
    SLOW,
  );
});

describe('edge cases', () => {
  it(
    'a shard that gets no runs (2 shards of a 1-run sweep) exits 0 and trains nothing',
    async () => {
      const cwd = fresh('empty-shard');
      const sweep = writeSweep(cwd, { 'train.seed': [0] });
      const out = join(cwd, 'runs');
      const r = await cli(['sweep', sweep, ...SETS, '--workers', '1', '--shard', '2/2', '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).toMatch(/shard 2\/2: 0 of 1 runs/);
      expect(existsSync(join(out, 'seed-0'))).toBe(false);
    },
    SLOW,
  );
});
