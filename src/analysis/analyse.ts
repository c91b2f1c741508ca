/**
 * Turns loaded runs into the comparison of src/metrics/METRICS.md: runs are grouped by every config key except
 * the seed; the learning rate is the swept axis of LR sensitivity, and model.attention the compared variant.
 */
import type { LoadedRun } from '../runs/readRun.js';
import { meanOf, medianOf, stdOf } from '../stats/describe.js';
import { lrSensitivity } from '../stats/sensitivity.js';
import { mannWhitneyGreater } from '../stats/ranks.js';
import { holm } from '../stats/multiple.js';
import { variantIsolates, variantLabel } from '../model/schema.js';

import { ALPHA, BASELINE, FAILED_ACCURACY, VARIES_WITHIN_SERIES, flatten, learned, seriesLabel } from './protocol.js';

export { ALPHA, BASELINE, flatten, seriesLabel }; // the protocol lives in src/analysis/protocol.ts

/** A run's variant: its attention, with "+qknorm" when QK-norm is on. */
export const variantOf = (run: LoadedRun): string => variantLabel(run.config.model, run.config.modules);

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
  /** What the variant isolates (model/schema.ts, variantIsolates), for the tables. */
  isolates: string;
  lrs: number[];
  perLr: PerLr[];
  sensitivity: { seed: number; value: number }[]; // seeds that learned somewhere and ran at every swept LR
  sensMean: number;
  sensStd: number;
  diverged: number;
  incompleteSeeds: number[]; // seeds without a run at every swept LR: left out of the sensitivity and the window
  /** Per seed (with a run at every swept LR): how many of the swept rates it learned at (reached LEARNED_ACCURACY). */
  window: { seed: number; rates: number }[];
  /** Seeds that learned at no swept rate: named, and set aside from LR sensitivity (METRICS.md, 2026-12-04). */
  neverLearned: number[];
}

export interface Comparison {
  holds: boolean; // p (p_holm where there is one) below ALPHA, and the ratio of means pointing the same way
  ratio: number; // mean QV / mean QKV
  p: number;
  u: number;
  qv: number[];
  qkv: number[];
  /** With two or more series, this series' call is one of `family`: Holm across them (METRICS.md, changed 2026-12-06). */
  p_holm?: number;
  family?: number;
}

/** One variant against qkv on per-seed LR sensitivity, both ways; Holm across the variants of a series, per direction. */
export interface VariantComparison extends Comparison {
  variant: string;
  isolates: string;
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

/**
 * The LR window of QV against QKV: per seed, the number of swept rates at which it learned, every seed counted
 * (a seed that never learned has 0). `p`: QV's window is narrower (one-sided exact Mann–Whitney); `p_opposite`: wider.
 */
export interface WindowComparison {
  qv: number[];
  qkv: number[];
  lrs: number; // the swept rates a window is out of
  meanQv: number;
  meanQkv: number;
  u: number; // QKV's windows above QV's
  p: number;
  p_opposite: number;
  /** 'narrower' / 'wider' only when the test is significant and the means point the same way (never against its effect). */
  reading: 'narrower' | 'wider' | 'not shown';
  /** Holm across the series' windows, each direction, with two or more series (as Comparison's). */
  p_holm?: number;
  p_holm_opposite?: number;
  family?: number;
}

export interface SeriesAnalysis {
  label: string; // '' when every run shares all settings but seed, lr and attention
  settings: Record<string, unknown>; // this series' values of the keys that differ between series
  dModel: number;
  variants: VariantAnalysis[];
  /** Keyless less stable? (LR sensitivity over the seeds that learned somewhere); null when it cannot be computed. */
  verdict: Comparison | null;
  /** The variants (qkv, qv) none of whose seeds learned at any rate: the headline then says so instead of a verdict. */
  didNotLearn: string[];
  window: WindowComparison | null;
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
  return { common, differing, series: correctedAcrossSeries(series), warnings };
}

/**
 * Each series makes its own calls (the stability verdict, the LR window, the entropy comparison): with several
 * series, each call is one of as many as there are series that make it, so each is Holm-adjusted across them and
 * read from the adjusted p (METRICS.md, "Changed on 2026-12-06"). One series is left exactly as it was.
 */
function correctedAcrossSeries(series: SeriesAnalysis[]): SeriesAnalysis[] {
  const across = <T>(items: (T | null)[], p: (t: T) => number): (number | null)[] =>
    items.filter((t) => t !== null).length < 2 ? items.map(() => null) : holm(items.map((t) => (t === null ? null : p(t))));
  const familyOf = (items: unknown[]) => items.filter((t) => t !== null).length;
  const verdicts = series.map((s) => s.verdict);
  const entropies = series.map((s) => s.entropy);
  const windows = series.map((s) => s.window);
  const [pVerdict, pEntropy] = [across(verdicts, (c) => c.p), across(entropies, (c) => c.p)];
  const [pNarrower, pWider] = [across(windows, (w) => w.p), across(windows, (w) => w.p_opposite)];
  const adjusted = <C extends Comparison>(c: C | null, q: number | null, family: number): C | null =>
    c && q !== null ? { ...c, p_holm: q, family, holds: holdsAt(q, c.ratio) } : c;
  const [verdictFamily, entropyFamily, windowFamily] = [familyOf(verdicts), familyOf(entropies), familyOf(windows)];
  return series.map((s, i) => {
    const w = s.window;
    const window: WindowComparison | null =
      w && pNarrower[i] !== null
        ? {
            ...w,
            p_holm: pNarrower[i]!,
            p_holm_opposite: pWider[i]!,
            family: windowFamily,
            reading: windowReading(pNarrower[i]!, pWider[i]!, w.meanQv, w.meanQkv),
          }
        : w;
    return { ...s, verdict: adjusted(s.verdict, pVerdict[i], verdictFamily), entropy: adjusted(s.entropy, pEntropy[i], entropyFamily), window };
  });
}

/** A one-sided call holds only where the test is significant and the means point the same way: never against its effect. */
const holdsAt = (p: number, ratio: number): boolean => p < ALPHA && ratio > 1;

const windowReading = (pNarrower: number, pWider: number, meanQv: number, meanQkv: number): WindowComparison['reading'] =>
  pNarrower < ALPHA && meanQv < meanQkv ? 'narrower' : pWider < ALPHA && meanQv > meanQkv ? 'wider' : 'not shown';

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
  // A variant none of whose seeds learned anywhere has no LR sensitivity to compare: the headline says it did not learn.
  const didNotLearn = [qkv, qv].filter((v): v is VariantAnalysis => !!v && v.window.length > 0 && v.neverLearned.length === v.window.length);
  const window = qkv && qv && qkv.window.length && qv.window.length ? compareWindows(qv, qkv) : null;
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
  } else if (didNotLearn.length) {
    // no verdict: the headline names the variant that never learned
  } else if (runs.length) {
    warnings.push(
      `${label || 'runs'}: the verdict needs both variants (qkv and qv) with ≥ 2 learning rates; found ` +
        `${variants.map((v) => `${v.variant} at ${v.lrs.length} LR(s)`).join(', ')}`,
    );
  }
  return {
    label,
    settings,
    dModel: runs[0].config.model.dModel,
    variants,
    verdict,
    didNotLearn: didNotLearn.map((v) => v.variant),
    window,
    entropy,
    againstBaseline: againstBaseline(variants),
  };
}

/** QV's LR window against QKV's, both directions; the reading never points against the means. */
function compareWindows(qv: VariantAnalysis, qkv: VariantAnalysis): WindowComparison {
  const [x, y] = [qv.window.map((w) => w.rates), qkv.window.map((w) => w.rates)];
  const narrower = mannWhitneyGreater(y, x);
  const wider = mannWhitneyGreater(x, y);
  const [meanQv, meanQkv] = [meanOf(x), meanOf(y)];
  const reading = windowReading(narrower.p, wider.p, meanQv, meanQkv);
  return { qv: x, qkv: y, lrs: qv.lrs.length, meanQv, meanQkv, u: narrower.u, p: narrower.p, p_opposite: wider.p, reading };
}

/**
 * Each variant's per-seed LR sensitivity above qkv's (one-sided exact test), Holm-adjusted across the variants that
 * can be tested; a variant (or qkv) with no seed that learned anywhere reads 'did not learn', untested.
 */
function againstBaseline(variants: VariantAnalysis[]): VariantComparison[] {
  const base = variants.find((v) => v.variant === BASELINE);
  if (!base?.window.length) return [];
  const others = variants.filter((v) => v !== base && v.window.length);
  const testable = others.filter((v) => v.sensitivity.length && base.sensitivity.length);
  const values = (v: VariantAnalysis) => v.sensitivity.map((s) => s.value);
  const tests = testable.map((v) => compareGreater(values(v), values(base)));
  const opposite = testable.map((v) => mannWhitneyGreater(values(base), values(v)).p);
  const adjusted = holm(tests.map((t) => t.p));
  const adjustedOpposite = holm(opposite);
  return others.map((v): VariantComparison => {
    const i = testable.indexOf(v);
    if (i < 0)
      return {
        variant: v.variant,
        isolates: v.isolates,
        holds: false,
        ratio: NaN,
        p: NaN,
        u: NaN,
        qv: values(v),
        qkv: values(base),
        p_holm: NaN,
        p_opposite: NaN,
        p_holm_opposite: NaN,
        reading: 'did not learn',
      };
    const t = tests[i];
    return {
      ...t,
      variant: v.variant,
      isolates: v.isolates,
      p_holm: adjusted[i]!,
      p_opposite: opposite[i],
      p_holm_opposite: adjustedOpposite[i]!,
      reading: readingOf(t.ratio, adjusted[i]!, adjustedOpposite[i]!, learnedSomewhere(v) && learnedSomewhere(base)),
    };
  });
}

function compareGreater(x: number[], y: number[]): Comparison {
  const test = mannWhitneyGreater(x, y);
  const ratio = meanOf(x) / meanOf(y);
  return { holds: holdsAt(test.p, ratio), ratio, p: test.p, u: test.u, qv: x, qkv: y };
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
  const window: { seed: number; rates: number }[] = [];
  const neverLearned: number[] = [];
  if (lrs.length >= 2) {
    for (const seed of seeds) {
      const mine = runs.filter((r) => r.config.train.seed === seed);
      const byLr = lrs.map((lr) => mine.find((r) => r.config.train.lr === lr));
      if (byLr.some((r) => !r)) {
        incompleteSeeds.push(seed);
        continue;
      }
      const rates = byLr.filter((r) => learned(r!.summary)).length;
      window.push({ seed, rates });
      if (rates === 0) {
        // LR sensitivity is the loss lost away from the seed's best rate; with no trained rate there is no best to lose from.
        neverLearned.push(seed);
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
    isolates: variantIsolates(runs[0].config.model, runs[0].config.modules),
    lrs,
    perLr,
    sensitivity,
    sensMean: meanOf(values),
    sensStd: stdOf(values),
    diverged: runs.filter((r) => r.summary.status === 'diverged').length,
    incompleteSeeds,
    window,
    neverLearned,
  };
}
