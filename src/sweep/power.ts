/** Before a sweep trains: does each series have enough seeds for the verdict to be able to hold at all? */
import { flatten, seriesLabel } from '../report/analyse.js';
import { seedCountWarning } from '../report/power.js';
import type { PlannedRun } from './plan.js';
import { variantLabel } from '../model/schema.js';

const WITHIN_SERIES = new Set(['name', 'train.seed', 'train.lr', 'model.attention', 'model.qkNorm']);

/** One warning per series (runs alike but for seed, lr and attention) whose QV vs QKV seed counts cannot reach p < 0.05. */
export function seedCountWarnings(runs: PlannedRun[]): string[] {
  const flat = runs.map((r) => flatten(r.config));
  const keys = [...new Set(flat.flatMap(Object.keys))].filter((k) => !WITHIN_SERIES.has(k));
  const differing = keys.filter((k) => new Set(flat.map((f) => JSON.stringify(f[k]))).size > 1);
  const series = new Map<string, { qv: Set<number>; qkv: Set<number> }>();
  runs.forEach((run, i) => {
    const label = seriesLabel(flat[i], differing);
    const entry = series.get(label) ?? { qv: new Set<number>(), qkv: new Set<number>() };
    const variant = variantLabel(run.config.model);
    if (variant === 'qv' || variant === 'qkv') entry[variant].add(run.config.train.seed);
    series.set(label, entry);
  });
  return [...series.entries()].flatMap(([label, s]) => {
    if (s.qv.size === 0 || s.qkv.size === 0) return []; // no comparison planned: nothing to warn about
    const warning = seedCountWarning(s.qv.size, s.qkv.size, label);
    return warning ? [warning] : [];
  });
}
