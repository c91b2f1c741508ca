/**
 * The statistics behind the verdict (src/metrics/METRICS.md): the one-sided exact Mann–Whitney U test, LR
 * sensitivity and the sample standard deviation. Every expected value here is worked out by hand or by an
 * independent brute-force count written in this file, never taken from the implementation's output.
 */
import { describe, expect, it } from 'vitest';
import { mannWhitneyGreater, uStatistic, stratifiedMannWhitney } from '../../src/stats/ranks.js';
import { lrSensitivity } from '../../src/stats/sensitivity.js';
import { stdOf, meanOf } from '../../src/stats/describe.js';

/**
 * Independent reference: enumerate every n-subset of the pooled indices as a bitmask and compute U from
 * mid-ranks (U = R_x − n(n+1)/2), a different formula from the pairwise count the implementation uses.
 */
function bruteForceGreater(x: number[], y: number[]): { u: number; p: number; splits: number } {
  const pooled = [...x, ...y];
  const n = x.length;
  const N = pooled.length;
  const sorted = [...pooled].sort((a, b) => a - b);
  const midRank = (v: number) => {
    const first = sorted.indexOf(v); // 0-based position of the first copy
    const last = sorted.lastIndexOf(v);
    return (first + last) / 2 + 1;
  };
  const ranks = pooled.map(midRank);
  const uOf = (mask: number) => {
    let r = 0;
    for (let i = 0; i < N; i++) if (mask & (1 << i)) r += ranks[i];
    return r - (n * (n + 1)) / 2;
  };
  const observed = uOf((1 << n) - 1); // x occupies indices 0..n-1
  let splits = 0;
  let atLeast = 0;
  for (let mask = 0; mask < 1 << N; mask++) {
    let bits = 0;
    for (let m = mask; m; m >>= 1) bits += m & 1;
    if (bits !== n) continue;
    splits++;
    if (uOf(mask) >= observed - 1e-9) atLeast++;
  }
  return { u: observed, p: atLeast / splits, splits };
}

/** erfc by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), independent of the code under test. */
function erfc(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-a * a);
  return sign > 0 ? y : 2 - y;
}

/** A small deterministic generator (mulberry32), so the "random" case is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mannWhitneyGreater (one-sided exact)', () => {
  it('5 vs 5, every x above every y: U = 25 and p = 1/252, the smallest possible', () => {
    const r = mannWhitneyGreater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]);
    expect(r.u).toBe(25); // 5 × 5 pairs, x wins all of them
    expect(r.splits).toBe(252); // C(10, 5)
    expect(r.p).toBe(1 / 252); // only the observed split reaches U = 25
  });

  it('order inside each sample does not matter', () => {
    const r = mannWhitneyGreater([9, 6, 10, 8, 7], [3, 5, 1, 4, 2]);
    expect(r.u).toBe(25);
    expect(r.p).toBe(1 / 252);
  });

  it('5 vs 5 reversed (every x below every y): U = 0 and p = 1', () => {
    const r = mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
    expect(r.u).toBe(0);
    expect(r.p).toBe(1); // every split has U ≥ 0
  });

  it('identical samples (all ties): U = n·m/2 and p = 1', () => {
    const r = mannWhitneyGreater([0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5]);
    expect(r.u).toBe(12.5); // 25 pairs, each a tie worth 1/2
    expect(r.p).toBe(1); // every split is all ties, so U = 12.5 in every one
  });

  it('x = [3, 5], y = [1, 4]: U = 3, p = 2/6 by hand', () => {
    // Pooled {1, 3, 4, 5}; U(x over y) = #pairs where x wins: 3>1, 5>1, 5>4 (3<4) → U = 3.
    // The C(4, 2) = 6 ways to pick the "x" group, with U of that group over the rest:
    //   {1,3} vs {4,5}: 0      {1,4} vs {3,5}: 1 (4>3)      {1,5} vs {3,4}: 2 (5>3, 5>4)
    //   {3,4} vs {1,5}: 2      {3,5} vs {1,4}: 3            {4,5} vs {1,3}: 4
    // U ≥ 3 in 2 of 6 splits → p = 1/3.
    const r = mannWhitneyGreater([3, 5], [1, 4]);
    expect(r.u).toBe(3);
    expect(r.splits).toBe(6);
    expect(r.p).toBeCloseTo(1 / 3, 15);
  });

  it('ties across groups, x = [2, 2], y = [1, 2]: U = 3, p = 1/2 by hand', () => {
    // Pairs: 2>1 (1), 2=2 (½), 2>1 (1), 2=2 (½) → U = 3.
    // Pooled {2a, 2b, 1, 2c}: the 3 splits that put the 1 in the x group give x = {1, 2} vs {2, 2}: U = 0 + ½ + ½ = 1;
    // the 3 splits without it give x = {2, 2} vs {1, 2}: U = 3. So p = 3/6.
    const r = mannWhitneyGreater([2, 2], [1, 2]);
    expect(r.u).toBe(3);
    expect(r.p).toBeCloseTo(1 / 2, 15);
  });

  it('1 vs 1: p = 1/2 when x wins, 1 when it loses', () => {
    expect(mannWhitneyGreater([2], [1]).p).toBe(0.5);
    expect(mannWhitneyGreater([1], [2]).p).toBe(1);
  });

  it('uStatistic counts pairs, ties as one half', () => {
    expect(uStatistic([1, 2, 3], [2])).toBe(1.5); // 3>2 (1), 2=2 (½), 1<2 (0)
    expect(uStatistic([], [1])).toBe(0);
  });

  it('random 4 vs 4 cases agree with an independent brute-force count', () => {
    const rand = mulberry32(20240501);
    for (let trial = 0; trial < 25; trial++) {
      // Rounded to one decimal on a small range, so some trials have ties inside and across groups.
      const draw = () => Math.round(rand() * 20) / 10;
      const x = Array.from({ length: 4 }, draw);
      const y = Array.from({ length: 4 }, draw);
      const expected = bruteForceGreater(x, y);
      expect(expected.splits).toBe(70); // C(8, 4)
      const got = mannWhitneyGreater(x, y);
      expect(got.u, `x=${x} y=${y}`).toBeCloseTo(expected.u, 12);
      expect(got.p, `x=${x} y=${y}`).toBeCloseTo(expected.p, 12);
      expect(got.splits).toBe(70);
    }
  });

  it('unequal sizes (3 vs 5) agree with the brute-force count', () => {
    const x = [0.31, 0.12, 0.44];
    const y = [0.05, 0.12, 0.2, 0.08, 0.5];
    const expected = bruteForceGreater(x, y);
    expect(expected.splits).toBe(56); // C(8, 3)
    const got = mannWhitneyGreater(x, y);
    expect(got.u).toBeCloseTo(expected.u, 12);
    expect(got.p).toBeCloseTo(expected.p, 12);
  });

  it('p of "x greater" and p of "y greater" cover every split, counting the equal-U splits twice', () => {
    // P(U ≥ u) + P(U' ≥ n·m − u) = 1 + P(U = u): checked on a tie-free case against a direct count.
    const x = [0.9, 0.2, 0.7, 0.4];
    const y = [0.5, 0.1, 0.8, 0.3];
    const a = mannWhitneyGreater(x, y);
    const b = mannWhitneyGreater(y, x);
    expect(a.u + b.u).toBe(16);
    const bf = bruteForceGreater(x, y);
    expect(a.p).toBeCloseTo(bf.p, 12);
    expect(b.p).toBeCloseTo(bruteForceGreater(y, x).p, 12);
    expect(a.p + b.p).toBeGreaterThan(1);
  });

  it('an empty sample gives NaN, not a verdict', () => {
    expect(mannWhitneyGreater([], [1, 2]).p).toBeNaN();
    expect(mannWhitneyGreater([1], []).p).toBeNaN();
  });

  it('answers 13 vs 13 (C(26, 13) ≈ 1.04e7 splits, which the old enumerator refused): every x above every y gives 1/C(26, 13)', () => {
    const big = Array.from({ length: 13 }, (_, i) => i);
    const r = mannWhitneyGreater(
      big.map((v) => v + 100),
      big,
    );
    expect(r.u).toBe(169);
    expect(r.p).toBeCloseTo(1 / 10400600, 15);
  });

  it('50 vs 50 seeds × 5 strata: p agrees with the normal approximation of Σ U to within 0.005', () => {
    const rnd = mulberry32(11);
    const strata = Array.from({ length: 5 }, () => ({
      x: Array.from({ length: 50 }, () => rnd() + 0.04),
      y: Array.from({ length: 50 }, () => rnd()),
    }));
    const r = stratifiedMannWhitney(strata);
    // Without ties, each U has mean n·m/2 and variance n·m(n+m+1)/12; the strata are independent.
    const mean = 5 * 1250;
    const sd = Math.sqrt((5 * 2500 * 101) / 12);
    const z = (r.u - 0.5 - mean) / sd; // continuity-corrected upper tail
    const normalUpper = 0.5 * erfc(z / Math.SQRT2);
    expect(r.p).toBeGreaterThan(0.001); // a case where the approximation is accurate, not a far tail
    expect(Math.abs(r.p - normalUpper)).toBeLessThan(0.005);
  });
});

describe('lrSensitivity (Wortsman et al. 2023)', () => {
  it('is the mean over η of min(ℓ(η), ℓ₀) − min_η ℓ(η): a hand example', () => {
    // ℓ₀ = 2. Losses at 4 learning rates: 0.5, 1.0, 3.0 (worse than init: capped at 2), NaN (diverged: counts as 2).
    // Capped: [0.5, 1.0, 2.0, 2.0]; best 0.5; gaps [0, 0.5, 1.5, 1.5]; mean 3.5 / 4 = 0.875.
    expect(lrSensitivity([0.5, 1.0, 3.0, NaN], 2)).toBeCloseTo(0.875, 12);
  });

  it('counts +Infinity and −Infinity losses (diverged) as ℓ₀ too', () => {
    expect(lrSensitivity([0.5, 1.0, 3.0, Infinity], 2)).toBeCloseTo(0.875, 12);
    // −∞ is not a better loss: it is a diverged run, so it becomes ℓ₀ = 2. Capped [0.5, 2]; gaps [0, 1.5]; mean 0.75.
    expect(lrSensitivity([0.5, -Infinity], 2)).toBeCloseTo(0.75, 12);
  });

  it('a loss above ℓ₀ counts as ℓ₀, not more', () => {
    // Capped [1, 2]; gaps [0, 1]; mean 0.5. Without the cap it would be (0 + 9) / 2 = 4.5.
    expect(lrSensitivity([1, 10], 2)).toBeCloseTo(0.5, 12);
  });

  it('is 0 when every learning rate reaches the same loss', () => {
    expect(lrSensitivity([0.7, 0.7, 0.7], 2.77)).toBe(0);
  });

  it('is 0 when every run diverged (all count as ℓ₀)', () => {
    expect(lrSensitivity([NaN, Infinity, NaN], 2.77)).toBe(0);
  });

  it('does not depend on the order of the learning rates', () => {
    expect(lrSensitivity([3.0, NaN, 1.0, 0.5], 2)).toBeCloseTo(0.875, 12);
  });
});

describe('meanOf and stdOf', () => {
  it('stdOf is the sample standard deviation (n − 1)', () => {
    // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; 5 / 3 → √(5/3) = 1.2910 (population: √1.25 = 1.1180).
    expect(stdOf([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    // [2, 4]: mean 3, deviations² 1 + 1 = 2, / (2 − 1) → √2.
    expect(stdOf([2, 4])).toBeCloseTo(Math.SQRT2, 12);
  });

  it('stdOf: 0 for one value, NaN for none', () => {
    expect(stdOf([3.5])).toBe(0);
    expect(stdOf([])).toBeNaN();
  });

  it('meanOf: the mean, NaN for none', () => {
    expect(meanOf([1, 2, 6])).toBe(3);
    expect(meanOf([])).toBeNaN();
  });
});
