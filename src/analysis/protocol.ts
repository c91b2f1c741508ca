/**
 * The protocol fixed in src/metrics/METRICS.md before any result was seen: the significance level, the
 * scale sweep's learning rate, the failed-stratum rule, what counts as learned, and how runs are grouped into
 * series. Plain values (the accuracy target comes from metrics/summary.ts, which computes steps_to_acc), so the
 * sweep (which plans runs) and the report (which judges them) share one definition without the sweep importing the report.
 */

import { shownModulePath } from '../modulePath.js';

/** The significance level of every test. */
export const ALPHA = 0.05;

/** The scale sweep's learning rate, fixed in METRICS.md before any result was seen. */
export const SCALE_LR = 1e-2;

/**
 * A learning rate is a failed stratum when either variant's median final eval accuracy there is below this
 * (METRICS.md, 2026-12-02): attention that never learned the task has no matching to judge.
 */
export const FAILED_ACCURACY = 0.5;

/**
 * The accuracy a run must reach on the fixed eval set, at some logged step, to count as having learned the task
 * (METRICS.md, 2026-12-04): `steps_to_acc`'s 95%, defined once where steps_to_acc is computed. A seed that learns
 * at no swept learning rate is named and set aside from LR sensitivity; the LR window counts, per seed, the rates
 * at which it learned.
 */
export { ACC_TARGET as LEARNED_ACCURACY } from '../metrics/summary.js';

/** Whether a run learned: it reached LEARNED_ACCURACY at some logged step (its summary's `steps_to_acc` is set). */
export const learned = (summary: { steps_to_acc?: number | null }): boolean => typeof summary.steps_to_acc === 'number';

/** The baseline every other variant is compared against. */
export const BASELINE = 'qkv';

/** The compared variant is the attention and its QK-norm switch together (`qv+qknorm`), so both vary within a series. */
export const VARIES_WITHIN_SERIES: ReadonlySet<string> = new Set(['name', 'train.seed', 'train.lr', 'model.attention', 'model.qkNorm']);

/**
 * A config as dotted keys (`model.dModel`), the keys that series are told apart by. The top-level `modules` (which
 * code a user's variant or task is) is left out: model.attention and task.kind already tell those runs apart. A
 * module path reads as shownModulePath writes it, so reports do not carry the machine's directories.
 */
export function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) if (prefix || k !== 'modules') flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = typeof value === 'string' ? shownModulePath(value) : value;
  return out;
}

/** A series' label: its values of the keys that differ between series, e.g. "dModel=16". */
export function seriesLabel(flatConfig: Record<string, unknown>, differingKeys: string[]): string {
  return differingKeys.map((k) => `${k.split('.').at(-1)}=${flatConfig[k]}`).join(', ');
}
