/**
 * A sweep: a base config and a grid of dotted keys with lists. Expands to runs, groups runs that can
 * train as one batched computation, and slices the work deterministically for sharding.
 */
import { trainsOnGraph } from '../train/trainer.js';
import { dirname, resolve, join } from 'node:path';
import { z } from 'zod';
import { loadConfigFile, applyOverrides, setPath, validate, configSchema, shapeKey, type Config } from '../config.js';
import { UserError } from '../errors.js';
import { closest } from 'fastest-levenshtein';
import { VARIANTS, variantLabel } from '../model/schema.js';
import { isModulePath, moduleStem, splitQkNorm } from '../modulePath.js';

const scalar = z.union([z.number(), z.string(), z.boolean()]);

const sweepSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, dot, dash or underscore')
      .default('sweep'), // the default output dir is runs/<name>
    base: z.union([z.string(), z.record(z.unknown())]), // a config file (relative to the sweep file) or an inline config
    grid: z.record(z.array(scalar, { invalid_type_error: 'must be a list, e.g. [1e-3, 1e-2]' }).min(1, 'must list at least one value')),
  })
  .strict();

/** Most runs one batched group holds: beyond this, per-step work is large enough that batching gains little. */
export const MAX_GROUP = 64;

export interface PlannedRun {
  name: string; // unique within the sweep, from the grid values: attention-qv_lr-0.01_seed-3
  config: Config;
}

export interface SweepPlan {
  name: string;
  grid: Record<string, (string | number | boolean)[]>;
  runs: PlannedRun[];
}

export function loadSweep(path: string, sets: readonly string[], seeds?: readonly number[]): SweepPlan {
  return planSweep(loadConfigFile(path), path, sets, seeds);
}

/**
 * A sweep from a file's values already loaded (the claims config adds a section); `path` places a relative base.
 * `seeds` (from --seeds) replaces the grid's train.seed, or adds it, so a replication on fresh seeds is one flag.
 */
export function planSweep(values: Record<string, unknown>, path: string, sets: readonly string[], seeds?: readonly number[]): SweepPlan {
  const raw = validate(sweepSchema, values, '');
  if (seeds) raw.grid['train.seed'] = [...seeds];
  if (Object.keys(raw.grid).length === 0) throw new UserError(`${path}: grid is empty; list at least one key, e.g. train.seed: [0, 1, 2]`);
  const base = typeof raw.base === 'string' ? loadConfigFile(resolve(dirname(path), raw.base)) : raw.base;
  const withSets = applyOverrides(base, sets);
  const keys = Object.keys(raw.grid);
  for (const key of keys) {
    const seen = new Set<string>();
    for (const value of raw.grid[key]) {
      if (seen.has(String(value))) throw new UserError(`${path}: grid.${key} lists ${value} twice; each value must be distinct`);
      seen.add(String(value));
    }
  }
  const runs: PlannedRun[] = [];
  const short = shortNames(keys);
  for (const combo of cartesian(keys.map((k) => raw.grid[k]))) {
    const values = structuredClone(withSets);
    keys.forEach((k, i) => (k === VARIANT_KEY ? setVariant(values, combo[i], path) : setPath(values, k, combo[i], 'grid')));
    let config: Config;
    try {
      config = validate(configSchema, values);
    } catch (err) {
      throw new UserError(`${path}: grid: ${(err as Error).message}`);
    }
    runs.push({ name: keys.map((k, i) => `${short[i]}-${nameOf(combo[i])}`).join('_'), config });
  }
  const names = new Set<string>();
  for (const run of runs) {
    if (names.has(run.name))
      throw new UserError(`${path}: two grid entries give runs the same name, ${run.name}; give the modules different file names`);
    names.add(run.name);
  }
  return { name: raw.name, grid: raw.grid, runs };
}

/**
 * A grid key for studies whose variants are not a full product: `model.variant: [qkv, qv, qx, qq, qkv+qknorm]`
 * sets model.attention and model.qkNorm together, so QK-norm can go with some attentions only.
 */
export const VARIANT_KEY = 'model.variant';

/** A grid value as it reads in a run's name: a module's path by its file name (tempered for /…/variants/tempered.ts). */
function nameOf(value: string | number | boolean): string | number | boolean {
  if (typeof value !== 'string') return value;
  const { variant, qkNorm } = splitQkNorm(value);
  return isModulePath(variant) ? moduleStem(variant) + (qkNorm ? '+qknorm' : '') : value;
}

function setVariant(values: Record<string, unknown>, label: unknown, path: string): void {
  const { variant, qkNorm } = splitQkNorm(String(label));
  const names = Object.keys(VARIANTS);
  if (!isModulePath(variant) && !names.includes(variant)) {
    const valid = [...names, ...names.map((n) => `${n}+qknorm`)];
    throw new UserError(`${path}: grid.${VARIANT_KEY} lists '${label}', not a variant; did you mean '${closest(String(label), valid)}'?`);
  }
  setPath(values, 'model.attention', variant, 'grid');
  setPath(values, 'model.qkNorm', qkNorm, 'grid');
}

/** Whether the plan compares qkv with qv (by model.attention or model.variant), as the verdict needs. */
export function comparesQkvWithQv(plan: SweepPlan): boolean {
  const labels = new Set(plan.runs.map((r) => variantLabel(r.config.model, r.config.modules)));
  return labels.has('qkv') && labels.has('qv');
}

/** The last segment of each key, or the whole path where two keys would share it. */
function shortNames(keys: string[]): string[] {
  const last = keys.map((k) => k.split('.').at(-1)!);
  return keys.map((k, i) => (last.filter((l) => l === last[i]).length > 1 ? k : last[i]));
}

function cartesian<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((prefix) => list.map((x) => [...prefix, x])), [[]]);
}

/**
 * Work units: runs of one shape (and one starting step, when resuming), at most MAX_GROUP per unit. On the kernel a
 * shape's runs are ordered by seed (else plan order), so the runs of one seed share a unit and a group draws each
 * seed's batches once a step for all of its learning rates (runs/groupSpec.ts): in the default ablation, 10 seeds per
 * group of 50 instead of 20. A kernel run's figures do not depend on its group or its place in it, bit for bit
 * (test/model/kernel.test.ts, test/train/engines.test.ts). The tfjs graph is held to that only within float32 rounding
 * (test/train/batched.test.ts), so its groups keep plan order, as they had before.
 */
export function groupRuns(runs: PlannedRun[], startStep: (run: PlannedRun) => number = () => 0): PlannedRun[][] {
  const byShape = new Map<string, PlannedRun[]>();
  for (const run of runs) {
    const key = `${shapeKey(run.config)}@${startStep(run)}`;
    byShape.set(key, [...(byShape.get(key) ?? []), run]);
  }
  // Array.prototype.sort is stable: runs of one seed keep their plan order.
  const bySeed = (group: PlannedRun[]) =>
    trainsOnGraph(group[0].config.model, group[0].config.train.kernel) ? group : [...group].sort((a, b) => a.config.train.seed - b.config.train.seed);
  const even = (group: PlannedRun[]) => chunk(group, Math.ceil(group.length / Math.ceil(group.length / MAX_GROUP)));
  return [...byShape.values()].map(bySeed).flatMap(even);
}

/** Splits units in halves until there are at least `workers` of them, so every worker has something to do. */
export function spreadOver(units: PlannedRun[][], workers: number): PlannedRun[][] {
  const out = [...units];
  while (out.length > 0 && out.length < workers) {
    const largest = out.reduce((best, u, i) => (u.length > out[best].length ? i : best), 0);
    if (out[largest].length < 2) break;
    const [a, b] = chunk(out[largest], Math.ceil(out[largest].length / 2));
    out.splice(largest, 1, a, b);
  }
  return out;
}

function chunk<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export interface Shard {
  index: number; // 1-based
  count: number;
}

/** The runs of shard i of n: whole groups where possible, so a shard batches as well as the full sweep does. */
export function shardRuns(runs: PlannedRun[], shard: Shard): PlannedRun[] {
  const units = spreadOver(groupRuns(runs), shard.count);
  return units.filter((_, i) => i % shard.count === shard.index - 1).flat();
}

/** --shard i/n, else Slurm array variables, else a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with --shards. */
export function resolveShard(flag: string | undefined, shards: number | undefined, env: NodeJS.ProcessEnv): Shard | null {
  if (flag !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(flag);
    if (!m || Number(m[2]) < 1 || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]))
      throw new UserError(`--shard expects i/n with 1 ≤ i ≤ n, got '${flag}'`);
    return { index: Number(m[1]), count: Number(m[2]) };
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_TASK_COUNT !== undefined) {
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    const step = Number(env.SLURM_ARRAY_TASK_STEP ?? 1); // --array=0-10:2 numbers tasks 0, 2, 4, …
    return checkedShard((Number(env.SLURM_ARRAY_TASK_ID) - min) / step + 1, Number(env.SLURM_ARRAY_TASK_COUNT), 'SLURM_ARRAY_TASK_ID');
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (!shards) throw new UserError("JOB_COMPLETION_INDEX is set: pass --shards N (the Job's completions) too");
    return checkedShard(Number(env.JOB_COMPLETION_INDEX) + 1, shards, 'JOB_COMPLETION_INDEX');
  }
  if (shards !== undefined && shards !== 1) throw new UserError('--shards needs --shard i/n or JOB_COMPLETION_INDEX');
  return null;
}

function checkedShard(index: number, count: number, source: string): Shard {
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 1 || index > count)
    throw new UserError(`${source} gives shard ${index} of ${count}, which is out of range`);
  return { index, count };
}

export function runDir(sweepDir: string, run: PlannedRun): string {
  return join(sweepDir, run.name);
}
