/**
 * Turns loaded runs into the comparison of src/metrics/METRICS.md: runs are grouped by every config key except
 * the seed; the learning rate is the swept axis of LR sensitivity, and model.attention the compared variant.
 */
import type { LoadedRun } from './collect.js';
import { meanOf, medianOf, stdOf } from '../../stats/describe.js';
import { lrSensitivity } from '../../stats/sensitivity.js';
import { mannWhitneyGreater } from '../../stats/ranks.js';
import { holm } from '../../stats/multiple.js';
import { variantLabel } from '../../model/schema.js';

import { ALPHA, BASELINE, FAILED_ACCURACY, VARIES_WITHIN_SERIES, flatten, seriesLabel } from '../../analysis/protocol.js';

export { ALPHA, BASELINE, flatten, seriesLabel }; // the protocol lives in src/analysis/protocol.ts

/** A run's variant: its attention, with "+qknorm" when QK-norm is on. */
export const variantOf = (run: LoadedRun): string => variantLabel(run.config.model);

export interface PerLr {
  lr: number;
  runs: number;
  finalLoss: { mean: number; std: number }; // std over seeds is the "seed spread"
  finalAcc: { mean: number; std: number };
  medianAcc: number; // median final eval accuracy over seeds: below FAILED_ACCURACY, training failed at this LR
  spikes: number; // mean per run
  roughness: number; // mean per run
  stepsToAcc: number | null; // mean over the runs that reached it
  reached: number; // runs that reached the accuracy target
  diverged: number;
}

export interface VariantAnalysis {
  variant: string;
  lrs: number[];
  perLr: PerLr[];
  sensitivity: { seed: number; value: number }[];
  sensMean: number;
  sensStd: number;
  diverged: number;
  incompleteSeeds: number[]; // seeds without a run at every swept LR: left out of the sensitivity
}

export interface Comparison {
  holds: boolean;
  ratio: number; // mean QV / mean QKV
  p: number;
  u: number;
  qv: number[];
  qkv: number[];
}

/** One variant against qkv on per-seed LR sensitivity, both ways; Holm across the variants of a series, per direction. */
export interface VariantComparison extends Comparison {
  variant: string;
  p_holm: number; // less stable than qkv
  p_opposite: number; // more stable than qkv
  p_holm_opposite: number;
  /**
   * The reading, decided once here: a Holm-significant direction whose ratio of means points the same way, else
   * inconsistent; 'did not learn' when the variant (or qkv) failed at every learning rate, where LR sensitivity
   * measures no training at all (a flat loss reads as "stable"). Added 2026-12-02 (METRICS.md).
   */
  reading: 'less stable' | 'more stable' | 'inconsistent' | 'not shown' | 'did not learn';
}

/** Whether a variant learned the task at some learning rate (median final accuracy at least FAILED_ACCURACY there). */
const learnedSomewhere = (v: VariantAnalysis) => v.perLr.some((p) => p.medianAcc >= FAILED_ACCURACY);

function readingOf(ratio: number, pHolm: number, pHolmOpposite: number, learned: boolean): VariantComparison['reading'] {
  if (!learned) return 'did not learn';
  if (pHolm < ALPHA) return ratio > 1 ? 'less stable' : 'inconsistent';
  if (pHolmOpposite < ALPHA) return ratio < 1 ? 'more stable' : 'inconsistent';
  return 'not shown';
}

export interface SeriesAnalysis {
  label: string; // '' when every run shares all settings but seed, lr and attention
  settings: Record<string, unknown>; // this series' values of the keys that differ between series
  dModel: number;
  variants: VariantAnalysis[];
  verdict: Comparison | null; // keyless less stable? (LR sensitivity)
  entropy: (Comparison & { lr: number }) | null; // keyless sharpens less? (final normalised entropy at the smallest LR)
  /** Every variant but qkv against qkv (qv included), with Holm across them; empty without qkv. */
  againstBaseline: VariantComparison[];
}

export interface Analysis {
  common: Record<string, unknown>; // settings shared by every run
  differing: Record<string, unknown[]>; // keys whose values differ between series: the config diff
  series: SeriesAnalysis[];
  warnings: string[];
}

/** The loss LR sensitivity uses: the final eval loss, or ℓ₀ for a diverged run (METRICS.md). */
export const finalLoss = (run: LoadedRun): number =>
  (run.summary.status === 'diverged' || !Number.isFinite(run.summary.final_eval_loss) ? run.summary.init_eval_loss : run.summary.final_eval_loss) ??
  NaN;

/** ℓ₀, the eval loss at initialisation; NaN when a run logged no row (it then spoils its seed's figure visibly). */
export const initLoss = (run: LoadedRun): number => run.summary.init_eval_loss ?? NaN;

export function analyse(runs: LoadedRun[]): Analysis {
  const flat = runs.map((r) => flatten(r.config));
  const keys = [...new Set(flat.flatMap(Object.keys))].sort();
  const differing: Record<string, unknown[]> = {};
  const common: Record<string, unknown> = {};
  for (const key of keys) {
    if (VARIES_WITHIN_SERIES.has(key)) continue;
    const values = [...new Set(flat.map((f) => JSON.stringify(f[key])))].map((v) => (v === undefined ? undefined : JSON.parse(v)));
    if (values.length > 1) differing[key] = values;
    else common[key] = values[0];
  }
  const bySeries = new Map<string, LoadedRun[]>();
  runs.forEach((run, i) => {
    const label = seriesLabel(flat[i], Object.keys(differing));
    bySeries.set(label, [...(bySeries.get(label) ?? []), run]);
  });
  const warnings: string[] = [];
  const series = [...bySeries.entries()].map(([label, members]) => analyseSeries(label, members, Object.keys(differing), warnings));
  series.sort((a, b) => a.dModel - b.dModel || a.label.localeCompare(b.label));
  return { common, differing, series, warnings };
}

function analyseSeries(label: string, runs: LoadedRun[], differingKeys: string[], warnings: string[]): SeriesAnalysis {
  const settings = Object.fromEntries(differingKeys.map((k) => [k, flatten(runs[0].config)[k]]));
  const variants = [...new Set(runs.map(variantOf))].sort().map((v) =>
    analyseVariant(
      v,
      runs.filter((r) => variantOf(r) === v),
      label,
      warnings,
    ),
  );
  const qkv = variants.find((v) => v.variant === BASELINE);
  const qv = variants.find((v) => v.variant === 'qv');
  let verdict: Comparison | null = null;
  let entropy: SeriesAnalysis['entropy'] = null;
  if (qkv && qv && qkv.sensitivity.length && qv.sensitivity.length) {
    verdict = compareGreater(
      qv.sensitivity.map((s) => s.value),
      qkv.sensitivity.map((s) => s.value),
    );
    const lr = Math.min(...qkv.lrs.filter((l) => qv.lrs.includes(l)));
    const finalEntropy = (v: string) =>
      runs
        .filter((r) => variantOf(r) === v && r.config.train.lr === lr && r.summary.status === 'completed')
        .map((r) => r.rows.at(-1)!.attn_entropy_norm ?? NaN);
    const [a, b] = [finalEntropy('qv'), finalEntropy('qkv')];
    if (a.length && b.length) entropy = { ...compareGreater(a, b), lr };
  } else if (runs.length) {
    warnings.push(
      `${label || 'runs'}: the verdict needs both variants (qkv and qv) with ≥ 2 learning rates; found ` +
        `${variants.map((v) => `${v.variant} at ${v.lrs.length} LR(s)`).join(', ')}`,
    );
  }
  return { label, settings, dModel: runs[0].config.model.dModel, variants, verdict, entropy, againstBaseline: againstBaseline(variants) };
}

/** Each variant's per-seed LR sensitivity above qkv's (one-sided exact test), Holm-adjusted across the variants. */
function againstBaseline(variants: VariantAnalysis[]): VariantComparison[] {
  const base = variants.find((v) => v.variant === BASELINE);
  if (!base?.sensitivity.length) return [];
  const others = variants.filter((v) => v !== base && v.sensitivity.length);
  const tests = others.map((v) =>
    compareGreater(
      v.sensitivity.map((s) => s.value),
      base.sensitivity.map((s) => s.value),
    ),
  );
  const opposite = others.map(
    (v) =>
      mannWhitneyGreater(
        base.sensitivity.map((s) => s.value),
        v.sensitivity.map((s) => s.value),
      ).p,
  );
  const adjusted = holm(tests.map((t) => t.p));
  const adjustedOpposite = holm(opposite);
  return tests.map((t, i) => ({
    ...t,
    variant: others[i].variant,
    p_holm: adjusted[i]!,
    p_opposite: opposite[i],
    p_holm_opposite: adjustedOpposite[i]!,
    reading: readingOf(t.ratio, adjusted[i]!, adjustedOpposite[i]!, learnedSomewhere(others[i]) && learnedSomewhere(base)),
  }));
}

function compareGreater(x: number[], y: number[]): Comparison {
  const test = mannWhitneyGreater(x, y);
  return { holds: test.p < ALPHA, ratio: meanOf(x) / meanOf(y), p: test.p, u: test.u, qv: x, qkv: y };
}

function analyseVariant(variant: string, runs: LoadedRun[], label: string, warnings: string[]): VariantAnalysis {
  const lrs = [...new Set(runs.map((r) => r.config.train.lr))].sort((a, b) => a - b);
  const seeds = [...new Set(runs.map((r) => r.config.train.seed))].sort((a, b) => a - b);
  const perLr = lrs.map((lr): PerLr => {
    const at = runs.filter((r) => r.config.train.lr === lr);
    const losses = at.map(finalLoss);
    const reached = at.map((r) => r.summary.steps_to_acc).filter((s): s is number => typeof s === 'number');
    return {
      lr,
      runs: at.length,
      finalLoss: { mean: meanOf(losses), std: stdOf(losses) },
      finalAcc: { mean: meanOf(at.map((r) => r.summary.final_eval_acc ?? 0)), std: stdOf(at.map((r) => r.summary.final_eval_acc ?? 0)) },
      medianAcc: medianOf(at.map((r) => r.summary.final_eval_acc ?? 0)),
      spikes: meanOf(at.map((r) => r.summary.spikes)),
      roughness: meanOf(at.map((r) => r.summary.roughness).filter((x) => typeof x === 'number')),
      stepsToAcc: reached.length ? meanOf(reached) : null,
      reached: reached.length,
      diverged: at.filter((r) => r.summary.status === 'diverged').length,
    };
  });
  const sensitivity: { seed: number; value: number }[] = [];
  const incompleteSeeds: number[] = [];
  if (lrs.length >= 2) {
    for (const seed of seeds) {
      const mine = runs.filter((r) => r.config.train.seed === seed);
      const byLr = lrs.map((lr) => mine.find((r) => r.config.train.lr === lr));
      if (byLr.some((r) => !r)) {
        incompleteSeeds.push(seed);
        continue;
      }
      sensitivity.push({
        seed,
        value: lrSensitivity(
          byLr.map((r) => finalLoss(r!)),
          initLoss(byLr[0]!),
        ),
      });
    }
    if (incompleteSeeds.length)
      warnings.push(
        `${label || variant}: ${variant} seeds ${incompleteSeeds.join(', ')} lack a run at some learning rate and are left out of LR sensitivity`,
      );
  }
  const values = sensitivity.map((s) => s.value);
  return {
    variant,
    lrs,
    perLr,
    sensitivity,
    sensMean: meanOf(values),
    sensStd: stdOf(values),
    diverged: runs.filter((r) => r.summary.status === 'diverged').length,
    incompleteSeeds,
  };
}
