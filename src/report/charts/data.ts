/**
 * Reshapes ReportData into the flat rows the chart specs plot. Pure and deterministic: every
 * grouping is sorted, so the same data always yields the same rows in the same order.
 */
import { meanOf, stdOf } from '../../stats/describe.js';
import type { CurvePoint, FinalPoint, ReportData } from '../data/types.js';

// 'en' is fixed so the order does not depend on the machine's locale; numeric so dModel=16 < dModel=128.
const natural = new Intl.Collator('en', { numeric: true }).compare;

/** Variants in display order: qkv, qv, then any others alphabetically, so colours are the same in every chart. */
export function variantOrder(data: ReportData): string[] {
  const all = new Set<string>();
  for (const p of data.curves) all.add(p.variant);
  for (const p of data.finals) all.add(p.variant);
  for (const h of data.heatmaps) all.add(h.variant);
  const known = ['qkv', 'qv'].filter((v) => all.has(v));
  const rest = [...all].filter((v) => !known.includes(v)).sort(natural);
  return [...known, ...rest];
}

/** Distinct series in natural order ('' sorts first). */
export function seriesOrder(points: { series: string }[]): string[] {
  return [...new Set(points.map((p) => p.series))].sort(natural);
}

/** Distinct values ascending. */
export function distinctSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

const byCurveKey = (a: CurveAgg, b: CurveAgg) => natural(a.series, b.series) || natural(a.variant, b.variant) || a.lr - b.lr || a.step - b.step;

export interface CurveAgg {
  series: string;
  variant: string;
  lr: number;
  step: number;
  mean: number;
  lo: number;
  hi: number;
}

/**
 * Per (series, variant, lr, step): mean, min and max of `pick` over seeds. Non-finite values
 * (a diverged run's NaN or Infinity loss) are dropped, since a log axis cannot place them.
 */
export function aggregateCurves(curves: CurvePoint[], pick: (p: CurvePoint) => number): CurveAgg[] {
  const groups = groupBy(curves, (p) => JSON.stringify([p.series, p.variant, p.lr, p.step]));
  const out: CurveAgg[] = [];
  for (const pts of groups.values()) {
    const xs = pts.map(pick).filter(Number.isFinite);
    if (xs.length === 0) continue;
    const { series, variant, lr, step } = pts[0];
    out.push({ series, variant, lr, step, mean: meanOf(xs), lo: Math.min(...xs), hi: Math.max(...xs) });
  }
  return out.sort(byCurveKey);
}

export interface FinalAgg {
  series: string;
  variant: string;
  lr: number;
  mean: number;
  lo: number; // mean − std, floored at 0
  hi: number; // mean + std
  min: number; // over seeds: the bar a log axis can draw (mean − std may be ≤ 0)
  max: number;
  seeds: number;
}

/** Per (series, variant, lr): mean ± sample std of the final eval loss over seeds. */
export function aggregateFinals(finals: FinalPoint[]): FinalAgg[] {
  const groups = groupBy(finals, (p) => JSON.stringify([p.series, p.variant, p.lr]));
  const out: FinalAgg[] = [];
  for (const pts of groups.values()) {
    const xs = pts.map((p) => p.final_eval_loss).filter(Number.isFinite);
    if (xs.length === 0) continue;
    const m = meanOf(xs);
    const s = stdOf(xs); // sample std, 0 for one seed: no spread to show
    const { series, variant, lr } = pts[0];
    // A loss is never negative, so a bar reaching below 0 would show a value no run can have.
    out.push({ series, variant, lr, mean: m, lo: Math.max(0, m - s), hi: m + s, min: Math.min(...xs), max: Math.max(...xs), seeds: xs.length });
  }
  return out.sort((a, b) => natural(a.series, b.series) || natural(a.variant, b.variant) || a.lr - b.lr);
}

/** Finite final points sorted by series, variant, lr and seed, so the seed dots come out in a fixed order. */
export function orderedFinals(finals: FinalPoint[]): FinalPoint[] {
  return finals
    .filter((p) => Number.isFinite(p.final_eval_loss))
    .sort((a, b) => natural(a.series, b.series) || natural(a.variant, b.variant) || a.lr - b.lr || a.seed - b.seed);
}

/** Makes labels unique (an ordinal axis merges equal labels) by numbering repeats: "q", "q (2)". */
export function uniqueLabels(labels: string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    return n === 1 ? l : `${l} (${n})`;
  });
}
