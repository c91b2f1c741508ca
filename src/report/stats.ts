/**
 * The statistics behind the verdict. Means and deviations come from simple-statistics; the exact one-sided
 * Mann–Whitney U p-value is computed here because no well-kept npm package offers the exact (all rank
 * permutations) test, and at 5 vs 5 seeds the normal approximation is too coarse to trust.
 */
import { mean, sampleStandardDeviation } from 'simple-statistics';

/** Above this many rank permutations the enumeration is refused rather than silently approximated. */
const MAX_PERMUTATIONS = 5_000_000;

export function meanOf(xs: readonly number[]): number {
  return xs.length ? mean([...xs]) : NaN;
}

/** Sample standard deviation (n − 1); 0 for a single value, NaN for none. */
export function stdOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return xs.length === 1 ? 0 : sampleStandardDeviation([...xs]);
}

/** U statistic of x over y: pairs where x wins, ties counting one half. */
export function uStatistic(x: readonly number[], y: readonly number[]): number {
  let u = 0;
  for (const a of x) for (const b of y) u += a > b ? 1 : a === b ? 0.5 : 0;
  return u;
}

/**
 * One-sided exact Mann–Whitney U test of "x tends to exceed y": the share of all C(n+m, n) ways to split
 * the pooled values into groups of n and m whose U is at least the observed one (ties handled exactly).
 */
export function mannWhitneyGreater(x: readonly number[], y: readonly number[]): { u: number; p: number; permutations: number } {
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) return { u: NaN, p: NaN, permutations: 0 };
  const pooled = [...x, ...y];
  const permutations = binomial(n + m, n);
  if (permutations > MAX_PERMUTATIONS) throw new Error(`exact Mann–Whitney U: ${n} vs ${m} samples need ${permutations} permutations`);
  const observed = uStatistic(x, y);
  let atLeast = 0;
  const chosen: number[] = [];
  const visit = (start: number) => {
    if (chosen.length === n) {
      const inX = new Set(chosen);
      const gx = chosen.map((i) => pooled[i]);
      const gy = pooled.filter((_, i) => !inX.has(i));
      if (uStatistic(gx, gy) >= observed - 1e-9) atLeast++;
      return;
    }
    for (let i = start; i <= n + m - (n - chosen.length); i++) {
      chosen.push(i);
      visit(i + 1);
      chosen.pop();
    }
  };
  visit(0);
  return { u: observed, p: atLeast / permutations, permutations };
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * LR sensitivity of one seed (Wortsman et al. 2023): mean over the swept η of min(ℓ(η), ℓ₀) − min_η ℓ(η),
 * where a diverged run's ℓ(η) is ℓ₀. Higher means less stable.
 */
export function lrSensitivity(finalLosses: readonly number[], initLoss: number): number {
  const capped = finalLosses.map((l) => Math.min(Number.isFinite(l) ? l : initLoss, initLoss));
  const best = Math.min(...capped);
  return meanOf(capped.map((l) => l - best));
}
