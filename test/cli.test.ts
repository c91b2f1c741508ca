/**
 * End to end through the built CLI (`node dist/cli.js`), each command run in a fresh temp dir as cwd so that
 * runs/ and data/ land there. `npm test` rebuilds dist/ in its pretest step.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { LOOKUP, explain, expectOneLineError as expectOneLine, runCli, useTempRoot, type Result } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';

const SLOW = 60_000;

/** The columns of src/metrics/METRICS.md, in order. */
const COLUMNS =
  'step,lr,train_loss,eval_loss,eval_acc,attn_entropy,attn_entropy_norm,attn_max_logit,retrieval_mass,scaffold_share,' +
  'grad_norm,grad_norm_wq,grad_norm_wk,grad_norm_wv,elapsed_s,steps_per_s';

/** Runs the CLI asynchronously in `cwd`, killed if still running 5 s before the test's timeout. */
const cli = (args: string[], cwd: string) => runCli(args, cwd, { killAfterMs: SLOW - 5_000 });

const fresh = useTempRoot('qkv-cli-');

function readCsv(path: string): { header: string; rows: Record<string, string>[] } {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = header.split(',');
  return { header, rows: lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [cols[i], v]))) };
}

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

describe('train', () => {
  it(
    'writes config.json, metrics.csv (METRICS.md columns), summary.json and attention.json',
    async () => {
      const cwd = fresh('train');
      const out = join(cwd, 'out', 'run');
      const r = await cli(['train', LOOKUP, '--set', 'train.steps=60', '--set', 'train.logEvery=20', '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['attention.json', 'config.json', 'metrics.csv', 'summary.json']));

      const config = json(join(out, 'config.json')) as { train: { steps: number; logEvery: number; lr: number }; model: { attention: string } };
      expect(config.train.steps).toBe(60);
      expect(config.train.logEvery).toBe(20);
      expect(config.train.lr).toBe(0.01); // from configs/lookup.yaml
      expect(config.model.attention).toBe('qkv');

      const csv = readCsv(join(out, 'metrics.csv'));
      expect(csv.header).toBe(COLUMNS);
      expect(csv.rows.map((row) => Number(row.step))).toEqual([0, 20, 40, 60]);
      for (const row of csv.rows) {
        for (const col of COLUMNS.split(',')) expect(Number.isFinite(Number(row[col])) && row[col] !== '', `${col} = '${row[col]}'`).toBe(true);
      }
      expect(Number(csv.rows[0].lr)).toBeCloseTo(0.01 / 50, 12); // warmup 50: step 0 runs at base/50
      expect(Number(csv.rows[3].lr)).toBeCloseTo(0.01 * Math.min(1, 61 / 50), 12);
      // Row 0 is the initialisation: near chance on 16 values (ln 16 = 2.77).
      expect(Math.abs(Number(csv.rows[0].eval_loss) - Math.log(16))).toBeLessThan(1);

      const summary = json(join(out, 'summary.json'));
      expect(summary.status).toBe('completed');
      expect(summary.backend, 'the kernel loads no tfjs backend').toBe('none');
      expect(summary.kernel_impl).toBe('wasm, regrouped one-layer pass');
      expect(summary.precision).toBe('float64');
      expect(summary.steps).toBe(60);
      expect(summary.final_eval_loss).toBe(Number(csv.rows[3].eval_loss));
      expect(summary.init_eval_loss).toBe(Number(csv.rows[0].eval_loss));
      expect(readFileSync(join(out, 'status'), 'utf8').trim()).toBe('completed');

      // The fixed eval set landed in <cwd>/data, and the summary records its hash.
      const dataFiles = readdirSync(join(cwd, 'data'));
      expect(dataFiles).toEqual(['lookup-s8-k16-v16-n512-seed1234.jsonl']);
      const sha = createHash('sha256')
        .update(readFileSync(join(cwd, 'data', dataFiles[0])))
        .digest('hex');
      expect(summary.eval_sha256).toBe(sha);
      expect(existsSync(join(cwd, 'runs'))).toBe(false); // --out was given

      const attention = json(join(out, 'attention.json')) as {
        snapshots: { step: number; layers: { examples: number[][][][]; mean: number[][][] }[] }[];
      };
      expect(attention.snapshots.map((s) => s.step)).toEqual([0, 40, 60]); // first, middle, last logged step
      const mean = attention.snapshots[0].layers[0].mean; // [head][query row][key]
      expect(mean[0][0]).toHaveLength(9); // 8 slots + the query
      expect(mean[0][0].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);

      expect(r.stdout).toContain(out);
      expect(r.stdout).toMatch(/completed/);
    },
    SLOW,
  );

  it(
    'a keyless (qv) run leaves grad_norm_wk empty on every row',
    async () => {
      const cwd = fresh('qv');
      const out = join(cwd, 'run');
      const r = await cli(
        [
          'train',
          LOOKUP,
          '--set',
          'model.attention=qv',
          '--set',
          'train.steps=20',
          '--set',
          'train.logEvery=10',
          '--set',
          'eval.size=64',
          '--out',
          out,
        ],
        cwd,
      );
      expect(r.status, explain(r)).toBe(0);
      const csv = readCsv(join(out, 'metrics.csv'));
      expect(csv.header).toBe(COLUMNS);
      expect(csv.rows).toHaveLength(3);
      for (const row of csv.rows) {
        expect(row.grad_norm_wk).toBe('');
        expect(Number(row.grad_norm_wq)).toBeGreaterThan(0);
        expect(Number(row.grad_norm_wv)).toBeGreaterThan(0);
      }
      const summary = json(join(out, 'summary.json'));
      expect(summary.attention).toBe('qv');
      expect(summary.status).toBe('completed');
    },
    SLOW,
  );

  it(
    '--seeds 0,1 makes one directory per seed',
    async () => {
      const cwd = fresh('seeds');
      const out = join(cwd, 'group');
      const r = await cli(
        ['train', LOOKUP, '--seeds', '0,1', '--set', 'train.steps=10', '--set', 'train.logEvery=5', '--set', 'eval.size=64', '--out', out],
        cwd,
      );
      expect(r.status, explain(r)).toBe(0);
      const dirs = readdirSync(out).sort();
      expect(dirs).toEqual(['lookup-qkv-s0', 'lookup-qkv-s1']);
      const summaries = dirs.map((d) => json(join(out, d, 'summary.json')));
      expect(summaries.map((s) => s.seed)).toEqual([0, 1]);
      expect(summaries.map((s) => s.status)).toEqual(['completed', 'completed']);
      expect(summaries.map((s) => s.group_size)).toEqual([2, 2]);
      expect(summaries[0].final_eval_loss).not.toBe(summaries[1].final_eval_loss);
      for (const d of dirs) expect(readCsv(join(out, d, 'metrics.csv')).header).toBe(COLUMNS);
    },
    SLOW,
  );

  it(
    'without --out, a run directory appears under <cwd>/runs',
    async () => {
      const cwd = fresh('default-out');
      const r = await cli(['train', LOOKUP, '--set', 'train.steps=5', '--set', 'train.logEvery=5', '--set', 'eval.size=32'], cwd);
      expect(r.status, explain(r)).toBe(0);
      const runs = readdirSync(join(cwd, 'runs'));
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatch(/^lookup-qkv-\d{8}-\d{6}-\d{3}$/);
      expect(json(join(cwd, 'runs', runs[0], 'summary.json')).status).toBe('completed');
    },
    SLOW,
  );

  it(
    'training twice into the same --out exits 2 and leaves the first run untouched',
    async () => {
      const cwd = fresh('clash');
      const out = join(cwd, 'run');
      const args = ['train', LOOKUP, '--set', 'train.steps=5', '--set', 'train.logEvery=5', '--set', 'eval.size=32', '--out', out];
      const first = await cli(args, cwd);
      expect(first.status, explain(first)).toBe(0);
      // every file, the checkpoint's included, by relative path
      const snapshot = () =>
        Object.fromEntries(
          (readdirSync(out, { recursive: true }) as string[])
            .filter((f) => statSync(join(out, f)).isFile())
            .map((f) => [f, readFileSync(join(out, f), 'latin1')]),
        );
      const before = snapshot();
      const second = await cli(args, cwd);
      expect(second.status, explain(second)).toBe(2);
      expectOneLineError(second);
      expect(second.stderr).toContain(out);
      expect(snapshot()).toEqual(before);
    },
    SLOW,
  );
});

describe('explain and data', () => {
  it(
    'explain prints the seed document\'s example: QKV attends to "sat", QV to "cat", 0.7311',
    async () => {
      const r = await cli(['explain'], fresh('explain'));
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout).toContain('src/seed-document.md'); // names the document, not "the seed", which reads as a random seed
      expect(r.stdout).toContain('0.7311');
      expect(r.stdout).toContain('0.2689');
      expect(r.stdout).toContain('2.7311'); // QKV output for cat
      const lines = r.stdout.split('\n');
      const qkv = lines.filter((l) => l.startsWith('Q–K–V:'));
      const qv = lines.filter((l) => l.startsWith('Q–V'));
      expect(qkv.length).toBeGreaterThanOrEqual(1);
      expect(qv.length).toBeGreaterThanOrEqual(1);
      expect(qkv[0]).toContain('attends mostly to "sat"');
      expect(qkv[0]).toContain('0.7311');
      expect(qv[0]).toContain('attends mostly to "cat"');
      expect(qv[0]).toContain('0.7311');
      // The scaled (1/√2) section: 1/(1 + e^(−1/√2)) = 0.6698.
      expect(r.stdout).toContain('0.6698');
    },
    SLOW,
  );

  it(
    'data <config> writes the eval set as .jsonl in <cwd>/data',
    async () => {
      const cwd = fresh('data');
      const r = await cli(['data', LOOKUP, '--set', 'eval.size=100'], cwd);
      expect(r.status, explain(r)).toBe(0);
      const files = readdirSync(join(cwd, 'data'));
      expect(files).toEqual(['lookup-s8-k16-v16-n100-seed1234.jsonl']);
      const path = join(cwd, 'data', files[0]);
      const lines = readFileSync(path, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(100);
      for (const line of lines) {
        const ex = JSON.parse(line) as { keys: number[]; values: number[]; slot: number };
        expect(ex.keys).toHaveLength(8);
        expect(new Set(ex.keys).size).toBe(8);
      }
      const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
      expect(r.stdout).toContain(sha);
      // Rewriting gives the same bytes.
      const again = await cli(['data', LOOKUP, '--set', 'eval.size=100'], cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha);
    },
    SLOW,
  );
});

/** The shared one-line error checks, and the line ends with a newline. */
function expectOneLineError(r: Result): void {
  expectOneLine(r);
  expect(r.stderr.endsWith('\n')).toBe(true);
}

describe.concurrent('bad input: exit 2, one line on stderr, no stack, no run directory', () => {
  let bad: string;
  beforeAll(() => {
    bad = fresh('bad');
    mkdirSync(join(bad, 'cfg'));
    writeFileSync(join(bad, 'cfg', 'malformed.yaml'), 'name: broken\ntrain:\n  lr: [1, 2\n  steps: 3\n');
  });

  const cases: [string, (dir: string) => string[], RegExp][] = [
    ['unknown key', () => [LOOKUP, '--set', 'train.lrr=1e-3'], /train\.lrr.*train\.lr/],
    ['wrong type', () => [LOOKUP, '--set', 'train.steps=many'], /train\.steps/],
    ['negative learning rate', () => [LOOKUP, '--set', 'train.lr=-1'], /train\.lr/],
    ['missing config file', (dir) => [join(dir, 'cfg', 'nope.yaml')], /nope\.yaml/],
    ['malformed YAML file', (dir) => [join(dir, 'cfg', 'malformed.yaml')], /malformed\.yaml.*malformed YAML/],
    ['unknown attention variant', () => [LOOKUP, '--set', 'model.attention=qk'], /model\.attention.*qkv/],
    ['unknown CLI flag', () => [LOOKUP, '--bogus-flag', '1'], /bogus/],
  ];

  it.each(cases)(
    '%s',
    async (name, args, pattern) => {
      const cwd = join(bad, name.replace(/\W+/g, '-'));
      mkdirSync(cwd);
      const out = join(cwd, 'out', 'run');
      // In-process (main from src/cli.ts): a bad config is refused before anything loads; the usage errors below run the executable.
      const r = await runInProcess(['train', ...args(bad), '--out', out], cwd);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(r.stderr).toMatch(/^qkv-lab: /);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out), `${out} must not be created`).toBe(false);
      expect(existsSync(join(cwd, 'out')), 'nothing under the --out parent either').toBe(false);
      expect(existsSync(join(cwd, 'runs')), '<cwd>/runs must not be created').toBe(false);
      expect(r.stdout).toBe('');
    },
    SLOW,
  );

  it(
    'without --out, a bad config creates no <cwd>/runs either',
    async () => {
      const cwd = join(bad, 'no-out');
      mkdirSync(cwd);
      const r = await runInProcess(['train', LOOKUP, '--set', 'model.attention=qk'], cwd);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(existsSync(join(cwd, 'runs'))).toBe(false);
    },
    SLOW,
  );

  it.each([
    ['an unknown command', ['trian', LOOKUP]],
    ['no command at all', []],
    ['train without its config argument', ['train']],
    ['an invalid --backend choice', ['explain', '--backend', 'gpu']],
    ['an unknown flag on explain', ['explain', '--bogus']],
  ])(
    'usage error, %s: exit 2 with one line',
    async (name, args) => {
      // In this process (a usage error ends in yargs, before any command runs); the first case also through the
      // executable, which must print the same line with the same exit code.
      const r = await runInProcess(args, bad);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(r.stderr).toMatch(/^qkv-lab: /);
      if (name !== 'an unknown command') return;
      const executable = await cli(args, bad);
      expect([executable.status, executable.stderr], explain(executable)).toEqual([r.status, r.stderr]);
    },
    SLOW,
  );
});

describe('npx qkv-lab (the README commands)', () => {
  it('the package bin is executable, so `npx qkv-lab` runs on a fresh clone', async () => {
    const repo = join(LOOKUP, '..', '..');
    const bin = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).bin['qkv-lab'] as string;
    expect(statSync(join(repo, bin)).mode & 0o111, `${bin} must be executable`).not.toBe(0);
    const r = await new Promise<Result>((resolve) => {
      const child = spawn('npx', ['--no-install', 'qkv-lab', '--help'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, killed: false }));
    });
    expect(r.status, explain(r)).toBe(0);
    expect(r.stdout).toContain('ablation <config>');
  }, 60_000);
});
