/**
 * Users' modules through the executable: an ablation that mixes qkv, qv and the example variant; a study on the
 * example task; a module in a folder outside the repository, with its own config; the bad-input cases of issue 28
 * (one line naming the module, exit 2, nothing written); a changed module refused on resume and on sweep re-use;
 * and `check`. Tiny runs: the figures are not under test here, the plumbing is.
 */
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, expectOneLineError, runCli, useTempRoot, REPO } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';

const fresh = useTempRoot('qkv-extend-');
const SLOW = 120_000;
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
/** A lookup small enough to learn in 40 steps (as the shared tiny sweep), so the verdict has seeds that learned. */
const TINY = ['train.steps=40', 'train.logEvery=20', 'eval.size=64', 'task.slots=2', 'task.keyVocab=4', 'task.valueVocab=2'].flatMap((s) => [
  '--set',
  s,
]);

describe('users’ modules end to end', () => {
  it(
    'an ablation compares qkv, qv and the example variant: every figure and report covers the module by its name',
    async () => {
      const cwd = fresh('ablation');
      const r = await runCli(
        ['ablation', join(REPO, 'examples', 'tempered.yaml'), '--seeds', '0-1', '--set', 'train.steps=40', ...TINY, '--out', 'out'],
        cwd,
      );
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).toContain('sweep: note: variant tempered (');
      const verdict = json(join(cwd, 'out', 'verdict.json'));
      expect(verdict.runs).toBe(30);
      expect(verdict.series).toHaveLength(1); // the module's record does not split the runs into series
      expect(verdict.series[0].against_qkv.map((c: { variant: string }) => c.variant)).toEqual(['qv', 'tempered']);
      const md = readFileSync(join(cwd, 'out', 'report.md'), 'utf8');
      expect(md).toContain('tempered');
      expect(md).toContain('is scale control all the key buys?');
      // The legends name what the module isolates, from the record its runs' config.json keep.
      expect(readFileSync(join(cwd, 'out', 'report.html'), 'utf8')).toContain('tempered: keyless Q–V with a learned score temperature');
      expect(existsSync(join(cwd, 'out', 'loss-curves.png'))).toBe(true);
      const run = join(cwd, 'out', 'runs', 'attention-tempered_lr-0.001_seed-0');
      const config = json(join(run, 'config.json'));
      expect(config.model.attention).toBe(join(REPO, 'examples', 'variants', 'tempered.ts'));
      expect(config.modules[config.model.attention]).toMatchObject({ name: 'tempered', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(json(join(run, 'summary.json')).kernel).toBe('tfjs');
      expect(['node', 'wasm', 'cpu'], 'the graph records the tfjs backend it loaded').toContain(json(join(run, 'summary.json')).backend);
      expect(json(join(cwd, 'out', 'runs', 'attention-qv_lr-0.001_seed-0', 'summary.json')).kernel).toBe('fused');
      expect(json(join(cwd, 'out', 'runs', 'attention-qv_lr-0.001_seed-0', 'summary.json')).backend).toBe('none');
    },
    SLOW,
  );

  it(
    'a study on the example task trains on the fused kernel, writes its eval set and records the module',
    async () => {
      const cwd = fresh('induction');
      const sets = ['train.steps=40', 'train.logEvery=20', 'eval.size=32', 'task.options.length=6'].flatMap((s) => ['--set', s]);
      const r = await runCli(['train', join(REPO, 'examples', 'induction.yaml'), ...sets, '--seeds', '0-1', '--out', 'run'], cwd);
      expect(r.status, explain(r)).toBe(0);
      const config = json(join(cwd, 'run', 'induction-qkv-s0', 'config.json'));
      expect(config.task.options).toEqual({ length: 6, vocab: 16 }); // --set over the file's options
      expect(config.modules[config.task.kind].name).toBe('induction');
      expect(json(join(cwd, 'run', 'induction-qkv-s0', 'summary.json')).kernel).toBe('fused');
      const data = readdirSync(join(cwd, 'data'));
      expect(data).toEqual([expect.stringMatching(/^induction-[0-9a-f]{12}-n32-seed1234\.jsonl$/)]);
      const first = JSON.parse(readFileSync(join(cwd, 'data', data[0]), 'utf8').split('\n')[0]);
      expect(first.tokens).toHaveLength(6);
    },
    SLOW,
  );

  it(
    'a variant module in a folder outside the repository, with its own config, trains and compares',
    async () => {
      const cwd = fresh('outside');
      mkdirSync(join(cwd, 'study', 'variants'), { recursive: true });
      // No node_modules here: `qkv-lab` in the module is the kit that runs it.
      writeFileSync(
        join(cwd, 'study', 'variants', 'halved.ts'),
        [
          "import { defineVariant } from 'qkv-lab';",
          'export default defineVariant({',
          "  name: 'halved',",
          "  isolates: 'qkv with keys halved: a fixed temperature of 2',",
          "  params: { w_k2: { shape: ({ dModel }) => [dModel, dModel], init: 'linear' } },",
          '  keys: ({ tf, x, params }) => {',
          '    const [R, B, N, d] = x.shape;',
          '    return tf.mul(tf.reshape(tf.matMul(tf.reshape(x, [R, B * N, d]), params.w_k2), [R, B, N, d]), 0.5);',
          '  },',
          '});',
        ].join('\n'),
      );
      writeFileSync(
        join(cwd, 'study', 'sweep.yaml'),
        `name: halved\nbase: ${JSON.stringify(join(REPO, 'configs', 'lookup.yaml'))}\ngrid:\n` +
          '  model.attention: [qkv, qv, ./variants/halved.ts]\n  train.lr: [0.003, 0.03]\n  train.seed: [0, 1]\n',
      );
      const r = await runCli(['sweep', 'study/sweep.yaml', ...TINY, '--workers', '1', '--out', 'runs'], cwd);
      expect(r.status, explain(r)).toBe(0);
      const c = await runCli(['compare', 'runs', '--no-charts', '--out', 'report'], cwd);
      expect(c.status, explain(c)).toBe(0);
      expect(c.stdout).toMatch(/halved vs qkv: LR sensitivity ratio/);
      expect(json(join(cwd, 'runs', 'attention-halved_lr-0.003_seed-0', 'config.json')).modules).toHaveProperty(
        [join(cwd, 'study', 'variants', 'halved.ts'), 'name'],
        'halved',
      );

      // The module changes: the finished runs are not reused, and --resume refuses, each in one line.
      appendFileSync(join(cwd, 'study', 'variants', 'halved.ts'), '\n// edited\n');
      const again = await runCli(['sweep', 'study/sweep.yaml', ...TINY, '--workers', '1', '--out', 'runs'], cwd);
      expectOneLineError(again);
      expect(again.stderr).toMatch(/attention-halved_lr-0\.\d+_seed-\d was trained with an earlier .*halved\.ts \(its content has changed since\)/);
      const resume = await runCli(['train', '--resume', join(cwd, 'runs', 'attention-halved_lr-0.003_seed-0')], cwd);
      expectOneLineError(resume);
      expect(resume.stderr).toMatch(/halved\.ts has changed since this run was trained/);
    },
    SLOW,
  );

  // In-process but for one case, which keeps the executable's exit code and line under test: a refusal ends before any
  // training, so a subprocess per case would only pay Node's and TensorFlow.js's start-up again.
  it.each([
    ['a missing file', 'model.attention=./variants/missing.ts', /variant module not found: .*missing\.ts/],
    ['a module that exports nothing valid', 'model.attention=./variants/nothing.ts', /nothing\.ts exports no definition/],
    ['a module that throws on import', 'model.attention=./variants/throws.ts', /throws\.ts threw on import: the lab notebook is missing/],
    ['a variant whose keys have the wrong shape', 'model.attention=./variants/wrong-shape.ts', /wrong-shape\.ts: keys\(\) returned shape/],
    ['a task whose examples break its layout', 'task.kind=./variants/bad-task.ts', /bad-task\.ts: example 0 breaks its layout/],
  ])(
    '%s: one line naming the module, exit 2, nothing written',
    async (_what, set, message) => {
      const cwd = fresh('bad');
      cpSync(join(REPO, 'test', 'fixtures', 'modules'), join(cwd, 'variants'), { recursive: true });
      const args = ['train', join(REPO, 'configs', 'lookup.yaml'), '--set', set, '--out', 'run'];
      const r = set.includes('throws') ? await runCli(args, cwd) : await runInProcess(args, cwd);
      expectOneLineError(r);
      expect(r.stderr).toMatch(message);
      expect(readdirSync(cwd)).toEqual(['variants']); // no run directory, no data directory
    },
    SLOW,
  );

  it(
    'check: the example variant passes; a module with a broken gradient is one line and exit 2',
    async () => {
      const cwd = fresh('check');
      const ok = await runCli(['check', join(REPO, 'examples', 'variants', 'tempered.ts')], cwd);
      expect(ok.status, explain(ok)).toBe(0);
      expect(ok.stdout).toMatch(/gradients: autodiff agrees with central differences/);
      expect(ok.stdout.trim().split('\n').at(-1)).toBe('check: ok');
      const bad = await runInProcess(['check', join(REPO, 'test', 'fixtures', 'modules', 'wrong-gradient.ts')], cwd);
      expectOneLineError(bad);
      expect(bad.stderr).toMatch(/gain\[0\] is 0\.00 by autodiff/);
      expect(existsSync(join(cwd, 'data'))).toBe(false);
    },
    SLOW,
  );
});
