/**
 * The statistics of the claims table (METRICS.md, "The seed's claims"): the stratified exact Mann–Whitney test
 * (per-LR U statistics summed, permutations within each LR), Holm's step-down correction, and a seeded percentile
 * bootstrap. Written here because no well-kept npm package offers the exact stratified test; simple-statistics
 * supplies the means and quantiles.
 */
import { quantileSorted } from 'simple-statistics';
import { Stream } from '../rng.js';
import { meanOf, uStatistic } from './stats.js';

/** One stratum (one learning rate): the claimed-greater group x (QV) and the other group y (QKV). */
export interface Stratum {
  x: readonly number[];
  y: readonly number[];
}

/**
 * The exact null distribution of 2U for one stratum, ties included: U = Σ midrank(x) − n(n+1)/2, so 2U is an
 * integer, and the count of each value over all C(n+m, n) splits comes from a subset-sum recursion on the
 * doubled midranks (no enumeration of the splits). Index = 2U, value = probability.
 */
export function uNullDistribution(n: number, m: number, pooled: readonly number[]): number[] {
  const ranks2 = doubledMidranks(pooled); // 2·midrank, integers
  const maxSum = ranks2.reduce((a, b) => a + b, 0);
  // ways[k][s]: subsets of size k with Σ 2·rank = s, built item by item.
  let ways: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(maxSum + 1).fill(0));
  ways[0][0] = 1;
  for (const r of ranks2) {
    const next = ways.map((row) => [...row]);
    for (let k = 1; k <= n; k++) for (let s = r; s <= maxSum; s++) next[k][s] += ways[k - 1][s - r];
    ways = next;
  }
  const offset = n * (n + 1); // 2 · n(n+1)/2
  const total = ways[n].reduce((a, b) => a + b, 0);
  const dist = new Array<number>(2 * n * m + 1).fill(0);
  ways[n].forEach((count, s) => {
    if (count) dist[s - offset] += count / total;
  });
  return dist;
}

function doubledMidranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) out[order[k][1]] = i + j + 2; // 2 · ((i+1 + j+1) / 2)
    i = j + 1;
  }
  return out;
}

function convolve(a: number[], b: number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  for (let i = 0; i < a.length; i++) if (a[i]) for (let j = 0; j < b.length; j++) out[i + j] += a[i] * b[j];
  return out;
}

export interface StratifiedResult {
  u: number; // Σ U over strata (x over y)
  pairs: number; // Σ n·m
  p: number; // P(T ≥ observed): x tends to exceed y
  pOpposite: number; // P(T ≤ observed): y tends to exceed x
}

/** The stratified exact test: T = Σ U over strata; its null permutes labels within each stratum. Empty strata are skipped. */
export function stratifiedMannWhitney(strata: readonly Stratum[]): StratifiedResult {
  const used = strata.filter((s) => s.x.length > 0 && s.y.length > 0);
  if (!used.length) return { u: NaN, pairs: 0, p: NaN, pOpposite: NaN };
  let dist = [1];
  let u = 0;
  let pairs = 0;
  for (const s of used) {
    dist = convolve(dist, uNullDistribution(s.x.length, s.y.length, [...s.x, ...s.y]));
    u += uStatistic(s.x, s.y);
    pairs += s.x.length * s.y.length;
  }
  const observed = Math.round(2 * u);
  const tail = (from: number, to: number) =>
    Math.min(
      1,
      dist.slice(from, to + 1).reduce((a, b) => a + b, 0),
    );
  return { u, pairs, p: tail(observed, dist.length - 1), pOpposite: tail(0, observed) };
}

/**
 * The fewest seed pairs (summed over strata) that must be ordered the claimed way for the stratified test to
 * reach p < alpha, assuming no ties; null when even all pairs would not. `sizes` = per stratum [n, m].
 */
export function pairsNeeded(sizes: readonly [number, number][], alpha: number): { needed: number | null; pairs: number; minP: number } {
  let dist = [1];
  let pairs = 0;
  for (const [n, m] of sizes) {
    dist = convolve(
      dist,
      uNullDistribution(
        n,
        m,
        Array.from({ length: n + m }, (_, i) => i),
      ),
    );
    pairs += n * m;
  }
  let tail = 0;
  let needed: number | null = null;
  for (let t2 = dist.length - 1; t2 >= 0; t2--) {
    tail += dist[t2];
    if (tail >= alpha) break;
    if (t2 % 2 === 0) needed = t2 / 2;
  }
  return { needed, pairs, minP: dist[dist.length - 1] };
}

/** Holm's step-down adjustment; null entries (untested) stay null and do not count in the family. */
export function holm(ps: readonly (number | null)[]): (number | null)[] {
  const tested = ps.map((p, i) => ({ p, i })).filter((e): e is { p: number; i: number } => e.p !== null && Number.isFinite(e.p));
  tested.sort((a, b) => a.p - b.p);
  const out: (number | null)[] = ps.map(() => null);
  let running = 0;
  tested.forEach((e, rank) => {
    running = Math.max(running, Math.min(1, (tested.length - rank) * e.p));
    out[e.i] = running;
  });
  return out;
}

export type EffectKind = 'ratio' | 'difference';

/** The effect over strata: QV against QKV of the stratum-averaged means (METRICS.md). */
export function effectOf(strata: readonly Stratum[], kind: EffectKind): { qv: number; qkv: number; effect: number } {
  const used = strata.filter((s) => s.x.length && s.y.length);
  const qv = meanOf(used.map((s) => meanOf(s.x)));
  const qkv = meanOf(used.map((s) => meanOf(s.y)));
  return { qv, qkv, effect: kind === 'ratio' ? qv / qkv : qv - qkv };
}

export const BOOTSTRAP_RESAMPLES = 2000;

/** 95% percentile bootstrap of the effect, resampling seeds with replacement within each (variant, stratum) cell. */
export function bootstrapCi(strata: readonly Stratum[], kind: EffectKind, label: string, resamples = BOOTSTRAP_RESAMPLES): [number, number] | null {
  const used = strata.filter((s) => s.x.length && s.y.length);
  if (!used.length) return null;
  const rng = Stream.derive(0, `bootstrap/${label}`);
  const draw = (xs: readonly number[]) => Array.from({ length: xs.length }, () => xs[rng.int(0, xs.length - 1)]);
  const effects: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const e = effectOf(
      used.map((s) => ({ x: draw(s.x), y: draw(s.y) })),
      kind,
    ).effect;
    if (Number.isFinite(e)) effects.push(e);
  }
  if (!effects.length) return null;
  effects.sort((a, b) => a - b);
  return [quantileSorted(effects, 0.025), quantileSorted(effects, 0.975)];
}
