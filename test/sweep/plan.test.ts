/**
 * Sweep planning: grid expansion, base configs, --set overrides, grouping, sharding and the shard index from
 * flags or scheduler variables. Sweep files are written to a temp dir; nothing here trains.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSweep, groupRuns, spreadOver, shardRuns, resolveShard, MAX_GROUP, type PlannedRun } from '../../src/sweep/plan.js';
import { planSweep, comparesQkvWithQv } from '../../src/sweep/plan.js';
import { UserError } from '../../src/errors.js';
import { loadConfigFile, resolveConfig } from '../../src/config.js';
import { loadClaimsPlan } from '../../src/sweep/claimsPlan.js';

// Created at load time: describe blocks below plan sweeps while the tests are collected.
const root = mkdtempSync(join(tmpdir(), 'qkv-plan-'));
let n = 0;

/** Writes a sweep file (and optionally other files) into a fresh dir; returns the sweep path. */
function sweepFile(text: string, extra: Record<string, string> = {}, at = 'sweep.yaml'): string {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir);
  for (const [rel, content] of Object.entries(extra)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  const path = join(dir, at);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const BASE = `name: tiny
task:
  kind: lookup
  slots: 4
  keyVocab: 8
  valueVocab: 8
model:
  attention: qkv
  dModel: 8
train:
  steps: 30
  lr: 0.01
  seed: 0
eval:
  size: 32
`;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Asserts that `fn` throws a UserError whose one-line message matches every pattern. */
function expectUserError(fn: () => unknown, ...patterns: RegExp[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a UserError').toBeInstanceOf(UserError);
  const message = (caught as Error).message;
  expect(message, 'one line').not.toContain('\n');
  for (const p of patterns) expect(message).toMatch(p);
  return message;
}

const STD_GRID = `grid:
  model.attention: [qkv, qv]
  train.lr: [0.001, 0.01, 0.1]
  train.seed: [0, 1]
`;

describe('loadSweep: grid expansion', () => {
  it('expands the cartesian product in file order: first key slowest, last key fastest', () => {
    const path = sweepFile(`name: s1\nbase: base.yaml\n${STD_GRID}`, { 'base.yaml': BASE });
    const plan = loadSweep(path, []);
    expect(plan.name).toBe('s1');
    expect(plan.runs).toHaveLength(2 * 3 * 2);
    const expected: [string, number, number][] = [];
    for (const attention of ['qkv', 'qv']) for (const lr of [0.001, 0.01, 0.1]) for (const seed of [0, 1]) expected.push([attention, lr, seed]);
    expect(plan.runs.map((r) => [r.config.model.attention, r.config.train.lr, r.config.train.seed])).toEqual(expected);
    expect(plan.runs[0].name).toBe('attention-qkv_lr-0.001_seed-0');
    expect(plan.runs[1].name).toBe('attention-qkv_lr-0.001_seed-1');
    expect(plan.runs.at(-1)!.name).toBe('attention-qv_lr-0.1_seed-1');
    expect(plan.grid).toEqual({ 'model.attention': ['qkv', 'qv'], 'train.lr': [0.001, 0.01, 0.1], 'train.seed': [0, 1] });
  });

  it('follows the order of the keys in the file, not a sorted order', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.seed: [5, 3]\n  model.attention: [qv, qkv]\n`, { 'base.yaml': BASE });
    const plan = loadSweep(path, []);
    expect(plan.runs.map((r) => r.name)).toEqual(['seed-5_attention-qv', 'seed-5_attention-qkv', 'seed-3_attention-qv', 'seed-3_attention-qkv']);
    expect(plan.runs.map((r) => [r.config.train.seed, r.config.model.attention])).toEqual([
      [5, 'qv'],
      [5, 'qkv'],
      [3, 'qv'],
      [3, 'qkv'],
    ]);
    expect(plan.name).toBe('sweep'); // the default name
  });

  it('gives every run a unique name, also when two keys share their last segment', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.seed: [0, 1]\n  eval.seed: [0, 1]\n  train.lr: [0.01, 0.1]\n`, { 'base.yaml': BASE });
    const plan = loadSweep(path, []);
    const names = plan.runs.map((r) => r.name);
    expect(names).toHaveLength(8);
    expect(new Set(names).size).toBe(8);
    // 'seed' alone would be ambiguous: each name must tell train.seed and eval.seed apart.
    for (const r of plan.runs) {
      expect(r.name).toContain(`train.seed-${r.config.train.seed}`);
      expect(r.name).toContain(`eval.seed-${r.config.eval.seed}`);
    }
  });

  it('never plans two runs with the same name (duplicate grid values: [0.001, 1e-3])', () => {
    // 0.001 and 1e-3 are the same number: two runs named lr-0.001 would share one run directory.
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.lr: [0.001, 1e-3]\n`, { 'base.yaml': BASE });
    let plan: ReturnType<typeof loadSweep>;
    try {
      plan = loadSweep(path, []);
    } catch (err) {
      expect(err).toBeInstanceOf(UserError); // refusing the grid is fine
      return;
    }
    expect(new Set(plan.runs.map((r) => r.name)).size).toBe(plan.runs.length);
  });

  it('each run config is a fully validated config (defaults filled in)', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.seed: [0]\n`, { 'base.yaml': BASE });
    const [run] = loadSweep(path, []).runs;
    expect(run.config.train.warmup).toBe(50); // default from the train schema
    expect(run.config.model.heads).toBe(1);
    expect(run.config.task.slots).toBe(4); // from the base file
    expect(run.config.name).toBe('tiny');
  });
});

describe('loadSweep: base and overrides', () => {
  it('reads a relative base path relative to the sweep file, not the working directory', () => {
    const path = sweepFile(`base: ../configs/base.yaml\n${STD_GRID}`, { 'configs/base.yaml': BASE }, 'sweeps/s.yaml');
    const plan = loadSweep(path, []);
    expect(plan.runs).toHaveLength(12);
    expect(plan.runs.every((r) => r.config.task.slots === 4 && r.config.train.steps === 30)).toBe(true);
  });

  it('accepts an inline base', () => {
    const path = sweepFile(`base:\n  task: {kind: lookup, slots: 3, keyVocab: 6}\n  train: {steps: 17}\ngrid:\n  train.lr: [0.01, 0.03]\n`);
    const plan = loadSweep(path, []);
    expect(plan.runs).toHaveLength(2);
    for (const r of plan.runs) {
      expect(r.config.task.slots).toBe(3);
      expect(r.config.task.keyVocab).toBe(6);
      expect(r.config.train.steps).toBe(17);
    }
    expect(plan.runs.map((r) => r.config.train.lr)).toEqual([0.01, 0.03]);
  });

  it('--set overrides apply to the base, and grid values win over them', () => {
    const path = sweepFile(`base: base.yaml\n${STD_GRID}`, { 'base.yaml': BASE });
    const plan = loadSweep(path, ['train.steps=7', 'train.lr=0.5', 'model.attention=qv', 'eval.size=16']);
    for (const r of plan.runs) {
      expect(r.config.train.steps).toBe(7);
      expect(r.config.eval.size).toBe(16);
    }
    // train.lr and model.attention are swept: the grid's values, not the --set ones.
    expect(new Set(plan.runs.map((r) => r.config.train.lr))).toEqual(new Set([0.001, 0.01, 0.1]));
    expect(plan.runs.filter((r) => r.config.model.attention === 'qkv')).toHaveLength(6);
    expect(plan.runs.some((r) => r.config.train.lr === 0.5)).toBe(false);
  });

  it("does not let one run's grid values leak into the next run's config", () => {
    const path = sweepFile(`base: base.yaml\n${STD_GRID}`, { 'base.yaml': BASE });
    const plan = loadSweep(path, []);
    plan.runs[0].config.train.steps = 999;
    expect(plan.runs[1].config.train.steps).toBe(30);
  });

  it('a bad --set is a UserError naming the key', () => {
    const path = sweepFile(`base: base.yaml\n${STD_GRID}`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, ['train.stepz=3']), /train\.stepz/);
  });
});

describe('loadSweep: bad sweep configs are one-line UserErrors', () => {
  it('an empty grid', () => {
    const path = sweepFile(`base: base.yaml\ngrid: {}\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /grid/, /empty/);
  });

  it('an unknown key in the grid names it and suggests the right one', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.lrr: [1]\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /train\.lrr/, /'train\.lr'/);
  });

  it('a grid value that is not a list', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.lr: 0.01\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /train\.lr/, /list/);
  });

  it('an empty list in the grid', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.lr: []\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /train\.lr/);
  });

  it('a grid value the config rejects names the key', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  model.attention: [qkv, qk]\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /model\.attention/);
  });

  it('a missing base file names the file', () => {
    const path = sweepFile(`base: no-such-base.yaml\ngrid:\n  train.lr: [0.01]\n`);
    expectUserError(() => loadSweep(path, []), /no-such-base\.yaml/, /not found/);
  });

  it('an unknown top-level key names it', () => {
    const path = sweepFile(`base: base.yaml\nworkers: 4\ngrid:\n  train.lr: [0.01]\n`, { 'base.yaml': BASE });
    expectUserError(() => loadSweep(path, []), /workers/, /unknown/);
  });

  it('a missing sweep file names the file', () => {
    expectUserError(() => loadSweep(join(root, 'nope', 'sweep.yaml'), []), /sweep\.yaml/);
  });
});

/** A plan with `attention × lrs × seeds` runs on the BASE config, for grouping and sharding. */
function plan(attention: string[], lrs: number[], seeds: number[]): PlannedRun[] {
  const list = (xs: unknown[]) => `[${xs.join(', ')}]`;
  const path = sweepFile(`base: base.yaml\ngrid:\n  model.attention: ${list(attention)}\n  train.lr: ${list(lrs)}\n  train.seed: ${list(seeds)}\n`, {
    'base.yaml': BASE,
  });
  return loadSweep(path, []).runs;
}

describe('groupRuns', () => {
  it('puts qkv and qv in separate groups, and every lr and seed of one variant in one group', () => {
    const runs = plan(['qkv', 'qv'], [0.001, 0.01, 0.1], [0, 1, 2]);
    const groups = groupRuns(runs);
    expect(groups).toHaveLength(2);
    for (const g of groups) {
      expect(new Set(g.map((r) => r.config.model.attention)).size).toBe(1);
      expect(g).toHaveLength(9);
      expect(new Set(g.map((r) => `${r.config.train.lr}/${r.config.train.seed}`)).size).toBe(9);
    }
    // Within a variant's group, ordered by seed, else plan order.
    const bySeed = ['qkv', 'qv'].flatMap((v) =>
      [0, 1, 2].flatMap((seed) => runs.filter((r) => r.config.model.attention === v && r.config.train.seed === seed)),
    );
    expect(groups.flat().map((r) => r.name)).toEqual(bySeed.map((r) => r.name));
  });

  it('on the tfjs graph keeps plan order, as a graph run is not shown to be bit-independent of its place in a group', () => {
    const list = (xs: unknown[]) => `[${xs.join(', ')}]`;
    const path = sweepFile(`base: base.yaml\ngrid:\n  train.lr: ${list([0.001, 0.01])}\n  train.seed: ${list([0, 1, 2])}\n`, { 'base.yaml': BASE });
    const runs = loadSweep(path, ['train.kernel=tfjs']).runs;
    expect(
      groupRuns(runs)
        .flat()
        .map((r) => r.name),
    ).toEqual(runs.map((r) => r.name));
    const onKernel = loadSweep(path, []).runs;
    expect(
      groupRuns(onKernel)
        .flat()
        .map((r) => r.name),
    ).not.toEqual(onKernel.map((r) => r.name)); // where the kernel reorders
  });

  it("keeps a seed's runs in one group where groups are split, so each seed's batches are drawn once per group", () => {
    const groups = groupRuns(loadSweep(fileURLToPath(new URL('../../configs/ablation.yaml', import.meta.url)), []).runs);
    expect(groups.map((g) => g.length)).toEqual([50, 50, 50, 50]);
    for (const g of groups) expect(new Set(g.map((r) => r.config.train.seed)).size).toBe(10); // 10 seeds × 5 rates
  });

  it('separates runs that differ in anything but seed and lr', () => {
    const path = sweepFile(`base: base.yaml\ngrid:\n  model.dModel: [4, 8]\n  train.seed: [0, 1]\n`, { 'base.yaml': BASE });
    const groups = groupRuns(loadSweep(path, []).runs);
    expect(groups.map((g) => g.map((r) => r.config.model.dModel))).toEqual([
      [4, 4],
      [8, 8],
    ]);
  });

  it(`respects MAX_GROUP (${MAX_GROUP}): no group is larger, and no run is lost or repeated`, () => {
    const seeds = Array.from({ length: 130 }, (_, i) => i);
    const runs = plan(['qkv'], [0.01], seeds);
    const groups = groupRuns(runs);
    expect(groups.length).toBe(Math.ceil(130 / MAX_GROUP));
    for (const g of groups) expect(g.length).toBeLessThanOrEqual(MAX_GROUP);
    expect(groups.flat().map((r) => r.name)).toEqual(runs.map((r) => r.name));
  });

  it('exactly MAX_GROUP runs stay one group; one more makes two', () => {
    expect(
      groupRuns(
        plan(
          ['qv'],
          [0.01],
          Array.from({ length: MAX_GROUP }, (_, i) => i),
        ),
      ),
    ).toHaveLength(1);
    const over = groupRuns(
      plan(
        ['qv'],
        [0.01],
        Array.from({ length: MAX_GROUP + 1 }, (_, i) => i),
      ),
    );
    expect(over).toHaveLength(2);
    for (const g of over) expect(g.length).toBeLessThanOrEqual(MAX_GROUP);
  });
});

describe('spreadOver', () => {
  it('splits groups until every worker has one, without losing runs', () => {
    const runs = plan(['qkv', 'qv'], [0.01, 0.1], [0, 1]);
    const units = spreadOver(groupRuns(runs), 4);
    expect(units).toHaveLength(4);
    expect(
      units
        .flat()
        .map((r) => r.name)
        .sort(),
    ).toEqual(runs.map((r) => r.name).sort());
  });

  it('with nothing left to do (every run already finished) returns no units', () => {
    // runSweep calls spreadOver(groupRuns(todo), workers) with todo = [] when a sweep is re-run after it finished.
    expect(spreadOver([], 1)).toEqual([]);
    expect(spreadOver([], 2)).toEqual([]);
  });
});

describe('shardRuns', () => {
  const runs = plan(['qkv', 'qv'], [0.001, 0.003, 0.01, 0.03, 0.1], [0, 1, 2]);
  const names = runs.map((r) => r.name);

  it.each([1, 2, 3, 4, 5, 7, 30, 40])('%i shards: the union is every run, with no overlap', (count) => {
    const shards = Array.from({ length: count }, (_, i) => shardRuns(runs, { index: i + 1, count }).map((r) => r.name));
    const all = shards.flat();
    expect(all).toHaveLength(names.length); // no run in two shards
    expect(new Set(all).size).toBe(names.length);
    expect([...all].sort()).toEqual([...names].sort());
  });

  it('is deterministic: the same plan, loaded twice, shards the same way', () => {
    const again = plan(['qkv', 'qv'], [0.001, 0.003, 0.01, 0.03, 0.1], [0, 1, 2]);
    for (let i = 1; i <= 4; i++) {
      expect(shardRuns(again, { index: i, count: 4 }).map((r) => r.name)).toEqual(shardRuns(runs, { index: i, count: 4 }).map((r) => r.name));
    }
  });

  it('2 shards of a two-variant sweep keep each variant whole (one batched group per shard)', () => {
    const one = shardRuns(runs, { index: 1, count: 2 });
    const two = shardRuns(runs, { index: 2, count: 2 });
    expect(new Set(one.map((r) => r.config.model.attention)).size).toBe(1);
    expect(new Set(two.map((r) => r.config.model.attention)).size).toBe(1);
    expect(one).toHaveLength(15);
    expect(two).toHaveLength(15);
  });

  it('1 shard is the whole plan', () => {
    expect(
      shardRuns(runs, { index: 1, count: 1 })
        .map((r) => r.name)
        .sort(),
    ).toEqual([...names].sort());
  });
});

describe('resolveShard', () => {
  const none = {} as NodeJS.ProcessEnv;

  it('--shard i/n', () => {
    expect(resolveShard('2/4', undefined, none)).toEqual({ index: 2, count: 4 });
    expect(resolveShard('1/1', undefined, none)).toEqual({ index: 1, count: 1 });
    expect(resolveShard('4/4', undefined, none)).toEqual({ index: 4, count: 4 });
  });

  it.each(['3/2', '0/2', 'x', '1/0', '2', '1/2/3', '-1/2', ' 1/2', '1.5/2', ''])('--shard %j is a UserError', (flag) => {
    expectUserError(() => resolveShard(flag, undefined, none), /--shard/);
  });

  it('the flag wins over scheduler variables', () => {
    expect(resolveShard('1/3', undefined, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3' })).toEqual({ index: 1, count: 3 });
  });

  it('no flag and no variables: no sharding', () => {
    expect(resolveShard(undefined, undefined, none)).toBeNull();
    expect(resolveShard(undefined, 1, none)).toBeNull();
  });

  it('Slurm array without SLURM_ARRAY_TASK_MIN: ids 0..n−1 map to shards 1..n', () => {
    expect(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 1, count: 4 });
    expect(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 4, count: 4 });
    expectUserError(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), /SLURM_ARRAY_TASK_ID/);
  });

  it('Slurm array with SLURM_ARRAY_TASK_MIN=1 (--array=1-4): ids 1..n map to shards 1..n', () => {
    const env = (id: string) => ({ SLURM_ARRAY_TASK_ID: id, SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' });
    expect(resolveShard(undefined, undefined, env('1'))).toEqual({ index: 1, count: 4 });
    expect(resolveShard(undefined, undefined, env('4'))).toEqual({ index: 4, count: 4 });
    expectUserError(() => resolveShard(undefined, undefined, env('0')), /SLURM_ARRAY_TASK_ID/);
    expectUserError(() => resolveShard(undefined, undefined, env('5')), /SLURM_ARRAY_TASK_ID/);
  });

  it('Slurm: a non-numeric task id is a UserError', () => {
    expectUserError(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: 'abc', SLURM_ARRAY_TASK_COUNT: '4' }), /SLURM_ARRAY_TASK_ID/);
  });

  it('JOB_COMPLETION_INDEX (0-based) with --shards', () => {
    expect(resolveShard(undefined, 3, { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 3 });
    expect(resolveShard(undefined, 3, { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 3, count: 3 });
    expectUserError(() => resolveShard(undefined, 3, { JOB_COMPLETION_INDEX: '3' }), /JOB_COMPLETION_INDEX/);
  });

  it('JOB_COMPLETION_INDEX without --shards is a UserError that asks for --shards', () => {
    expectUserError(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '0' }), /JOB_COMPLETION_INDEX/, /--shards/);
  });

  it('--shards N with no index from anywhere is a UserError', () => {
    expectUserError(() => resolveShard(undefined, 4, none), /--shards/);
  });
});

describe('grid key model.variant', () => {
  it('sets model.attention and model.qkNorm together, so QK-norm can go with some attentions only', () => {
    const plan = planSweep({ name: 'm', base: {}, grid: { 'model.variant': ['qkv', 'qx', 'qv+qknorm'] } }, '/x/m.yaml', []);
    expect(plan.runs.map((r) => [r.config.model.attention, r.config.model.qkNorm])).toEqual([
      ['qkv', false],
      ['qx', false],
      ['qv', true],
    ]);
    expect(comparesQkvWithQv(plan)).toBe(false); // qv only with QK-norm: no plain qv to compare
  });

  it('refuses a label that is not a variant, naming the closest', () => {
    expect(() => planSweep({ name: 'm', base: {}, grid: { 'model.variant': ['qkv', 'qv+qknrm'] } }, '/x/m.yaml', [])).toThrow(
      /grid\.model\.variant lists 'qv\+qknrm', not a variant; did you mean 'qv\+qknorm'\?/,
    );
  });
});

describe('the shipped configs', () => {
  // Every file in configs/ is what a README or study page tells a user to run: each must load and plan as written,
  // a sweep into one run per combination of its grid (a claims config into its learning-rate and input-scale sweeps).
  const dir = fileURLToPath(new URL('../../configs/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  const product = (grid: Record<string, unknown[]>) => Object.values(grid).reduce((n, values) => n * values.length, 1);

  it('are all here', () => expect(files.length).toBeGreaterThanOrEqual(15));

  it.each(files)('%s loads and plans', (file) => {
    const path = join(dir, file);
    const values = loadConfigFile(path);
    if (!('grid' in values)) {
      expect(resolveConfig(values).train.steps).toBeGreaterThan(0);
      return;
    }
    if ('scale' in values) {
      const claims = loadClaimsPlan(path, []);
      expect(claims.lr.runs).toHaveLength(product(claims.lr.grid));
      expect(claims.scale.runs).toHaveLength(product(claims.scale.grid));
      return;
    }
    const plan = loadSweep(path, []);
    expect(plan.runs).toHaveLength(product(plan.grid));
    expect(plan.name).toBe(file.replace(/\.yaml$/, ''));
  });
});
