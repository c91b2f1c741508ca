/**
 * Exact rank tests, by dynamic programming over the null distribution (never by enumerating splits, so any seed
 * count works): the one-sided Mann–Whitney U test, its stratified form (U summed over strata, labels permuted
 * within each stratum), and the stratified Wilcoxon signed-rank test of "values tend to be above 0". Ties are
 * handled exactly through doubled midranks, which are integers. Written here because no well-kept npm package
 * offers exact stratified rank tests; the normal approximation is too coarse at 5 seeds.
 */

/** One stratum (e.g. one learning rate): the claimed-greater group x and the other group y. */
export interface Stratum {
  x: readonly number[];
  y: readonly number[];
}

/** U statistic of x over y: pairs where x wins, ties counting one half. */
export function uStatistic(x: readonly number[], y: readonly number[]): number {
  let u = 0;
  for (const a of x) for (const b of y) u += a > b ? 1 : a === b ? 0.5 : 0;
  return u;
}

/** C(n, k) as a float: exact up to 2^53, and a close float beyond. */
export function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/** The smallest p the one-sided exact Mann–Whitney test can give with n vs m samples: 1 / C(n + m, n). */
export function smallestP(n: number, m: number): number {
  return n > 0 && m > 0 ? 1 / binomial(n + m, n) : 1;
}

/** 2 · midrank of each value (1-based ranks, ties share their average), so every entry is an integer. */
export function doubledMidranks(values: readonly number[]): number[] {
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

const sizedCache = new Map<string, Float64Array>();

/**
 * Counts of subsets of exactly `size` of the integer `weights`, by their sum: out[s] = number of subsets with
 * Σ = s. A 0/1 knapsack in place (sizes descending), skipping sizes that can no longer reach `size`.
 * Memoised on the multiset of weights, since tie-free strata of one size share it.
 */
function sizedSubsetSums(weights: readonly number[], size: number): Float64Array {
  const key = `${size}|${[...weights].sort((a, b) => a - b).join(',')}`;
  const hit = sizedCache.get(key);
  if (hit) return hit;
  const total = weights.reduce((a, b) => a + b, 0);
  const width = total + 1;
  const ways = new Float64Array((size + 1) * width); // ways[k·width + s]
  ways[0] = 1;
  let reach = 0;
  weights.forEach((w, i) => {
    reach += w;
    const kMin = Math.max(1, size - (weights.length - 1 - i));
    for (let k = Math.min(i + 1, size); k >= kMin; k--) {
      const row = k * width;
      const below = (k - 1) * width - w;
      for (let s = reach; s >= w; s--) ways[row + s] += ways[below + s];
    }
  });
  const out = ways.slice(size * width, (size + 1) * width);
  if (sizedCache.size > 256) sizedCache.clear();
  sizedCache.set(key, out);
  return out;
}

/** Probabilities over the integer lattice 0, 1, …: the null distribution of a doubled rank statistic. */
type Lattice = Float64Array;

/** The exact null distribution of 2U for one stratum, ties included; index = 2U, value = probability. */
function uLattice(n: number, m: number, pooled: readonly number[]): Lattice {
  const counts = sizedSubsetSums(doubledMidranks(pooled), n);
  const offset = n * (n + 1); // Σ 2·rank of the x group = 2U + n(n+1)
  let total = 0;
  for (const c of counts) total += c;
  const dist = new Float64Array(2 * n * m + 1);
  counts.forEach((c, s) => {
    if (c) dist[s - offset] += c / total;
  });
  return dist;
}

/** As uLattice, as a plain array (for tests and the power text). */
export function uNullDistribution(n: number, m: number, pooled: readonly number[]): number[] {
  return Array.from(uLattice(n, m, pooled));
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The greatest common divisor of the indices that carry probability (2 for tie-free U, 1 with ties). */
function latticeStep(dist: Lattice): number {
  let g = 0;
  for (let i = 1; i < dist.length && g !== 1; i++) if (dist[i]) g = gcd(g, i);
  return g || 1;
}

/**
 * The distribution of the sum of independent lattice variables, with their common step factored out first (it
 * halves the work for tie-free strata). Returns the convolved distribution and the step its indices are in.
 */
function convolveAll(dists: readonly Lattice[]): { dist: Lattice; step: number } {
  const step = dists.map(latticeStep).reduce(gcd);
  let acc: Lattice = Float64Array.of(1);
  for (const d of dists) {
    const b = new Float64Array(Math.floor((d.length - 1) / step) + 1);
    for (let i = 0; i < b.length; i++) b[i] = d[i * step];
    const out = new Float64Array(acc.length + b.length - 1);
    for (let i = 0; i < acc.length; i++) {
      const a = acc[i];
      if (!a) continue;
      for (let j = 0; j < b.length; j++) out[i + j] += a * b[j];
    }
    acc = out;
  }
  return { dist: acc, step };
}

/** P(T ≥ t) and P(T ≤ t) for an observed doubled statistic on a convolved lattice. */
function tails(dist: Lattice, step: number, observed2: number): { upper: number; lower: number } {
  const at = Math.round(observed2 / step);
  let upper = 0;
  let lower = 0;
  for (let i = 0; i < dist.length; i++) {
    if (i >= at) upper += dist[i];
    if (i <= at) lower += dist[i];
  }
  // A tail that holds the whole support is exactly 1, not 1 minus rounding.
  return { upper: at <= 0 ? 1 : Math.min(1, upper), lower: at >= dist.length - 1 ? 1 : Math.min(1, lower) };
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
  const { dist, step } = convolveAll(used.map((s) => uLattice(s.x.length, s.y.length, [...s.x, ...s.y])));
  const u = used.reduce((acc, s) => acc + uStatistic(s.x, s.y), 0);
  const pairs = used.reduce((acc, s) => acc + s.x.length * s.y.length, 0);
  const { upper, lower } = tails(dist, step, 2 * u);
  return { u, pairs, p: upper, pOpposite: lower };
}

/** The one-sided exact Mann–Whitney U test of "x tends to exceed y" (one stratum); NaN p for an empty group. */
export function mannWhitneyGreater(x: readonly number[], y: readonly number[]): { u: number; p: number; splits: number } {
  const r = stratifiedMannWhitney([{ x, y }]);
  return { u: r.u, p: r.p, splits: x.length && y.length ? binomial(x.length + y.length, x.length) : 0 };
}

/**
 * The fewest seed pairs (summed over strata) that must be ordered the claimed way for the stratified test to
 * reach p < alpha, assuming no ties; null when even all pairs would not. `sizes` = per stratum [n, m].
 */
export function pairsNeeded(sizes: readonly [number, number][], alpha: number): { needed: number | null; pairs: number; minP: number } {
  const used = sizes.filter(([n, m]) => n > 0 && m > 0);
  const pairs = used.reduce((acc, [n, m]) => acc + n * m, 0);
  if (!used.length) return { needed: null, pairs: 0, minP: 1 };
  const { dist, step } = convolveAll(
    used.map(([n, m]) =>
      uLattice(
        n,
        m,
        Array.from({ length: n + m }, (_, i) => i),
      ),
    ),
  );
  let tail = 0;
  let needed: number | null = null;
  for (let i = dist.length - 1; i >= 0; i--) {
    tail += dist[i];
    if (tail >= alpha) break;
    if ((i * step) % 2 === 0) needed = (i * step) / 2;
  }
  return { needed, pairs, minP: dist[dist.length - 1] };
}

export interface SignedRankResult {
  w: number; // Σ over strata of W+ (sum of the ranks of |x| over the positive values)
  n: number; // values that entered (zeros are dropped, as Wilcoxon's test does)
  p: number; // P(W ≥ observed): the values tend to be above 0
  pOpposite: number; // P(W ≤ observed): the values tend to be below 0
}

/** The exact null of 2W+ for one sample: each value's sign is + or − with probability ½, independently. */
function signedRankLattice(values: readonly number[]): Lattice {
  const ranks2 = doubledMidranks(values.map(Math.abs));
  const total = ranks2.reduce((a, b) => a + b, 0);
  let dist: Lattice = new Float64Array(total + 1);
  dist[0] = 1;
  for (const r of ranks2) {
    const next = new Float64Array(total + 1);
    for (let s = 0; s <= total; s++) {
      if (!dist[s]) continue;
      next[s] += dist[s] / 2;
      next[s + r] += dist[s] / 2;
    }
    dist = next;
  }
  return dist;
}

/**
 * The stratified exact Wilcoxon signed-rank test of "the values tend to be above 0": W = Σ over strata of W+,
 * ranks taken within each stratum; the null flips every sign independently. Zeros are dropped. Empty strata are skipped.
 */
export function stratifiedSignedRank(samples: readonly (readonly number[])[]): SignedRankResult {
  const used = samples.map((xs) => xs.filter((x) => x !== 0)).filter((xs) => xs.length > 0);
  if (!used.length) return { w: NaN, n: 0, p: NaN, pOpposite: NaN };
  let w2 = 0;
  for (const xs of used) {
    const ranks2 = doubledMidranks(xs.map(Math.abs));
    xs.forEach((x, i) => {
      if (x > 0) w2 += ranks2[i];
    });
  }
  const { dist, step } = convolveAll(used.map(signedRankLattice));
  const { upper, lower } = tails(dist, step, w2);
  return { w: w2 / 2, n: used.reduce((a, xs) => a + xs.length, 0), p: upper, pOpposite: lower };
}
