/** Before a sweep trains: does each series have enough seeds for the verdict to be able to hold at all? */
import { VARIES_WITHIN_SERIES, flatten, seriesLabel } from '../analysis/protocol.js';
import { seedCountWarning } from '../analysis/power.js';
import type { PlannedRun } from './plan.js';
import { variantLabel } from '../model/schema.js';

/** One warning per series (runs alike but for seed, lr and attention) whose QV vs QKV seed counts cannot reach p < 0.05. */
export function seedCountWarnings(runs: PlannedRun[]): string[] {
  const flat = runs.map((r) => flatten(r.config));
  const keys = [...new Set(flat.flatMap(Object.keys))].filter((k) => !VARIES_WITHIN_SERIES.has(k));
  const differing = keys.filter((k) => new Set(flat.map((f) => JSON.stringify(f[k]))).size > 1);
  const series = new Map<string, { qv: Set<number>; qkv: Set<number> }>();
  runs.forEach((run, i) => {
    const label = seriesLabel(flat[i], differing);
    const entry = series.get(label) ?? { qv: new Set<number>(), qkv: new Set<number>() };
    const variant = variantLabel(run.config.model, run.config.modules);
    if (variant === 'qv' || variant === 'qkv') entry[variant].add(run.config.train.seed);
    series.set(label, entry);
  });
  return [...series.entries()].flatMap(([label, s]) => {
    if (s.qv.size === 0 || s.qkv.size === 0) return []; // no comparison planned: nothing to warn about
    const warning = seedCountWarning(s.qv.size, s.qkv.size, label);
    return warning ? [warning] : [];
  });
}
