import { describe, expect, it } from 'vitest';
import { stratifiedMannWhitney, uNullDistribution, pairsNeeded, mannWhitneyGreater, stratifiedSignedRank } from '../../src/stats/ranks.js';
import { holm } from '../../src/stats/multiple.js';
import { bootstrapCi, effectOf } from '../../src/stats/bootstrap.js';

/** Brute force, written independently: every split within every stratum, T = Σ U, p = share with T ≥ observed. */
function bruteForce(strata: { x: number[]; y: number[] }[]): { p: number; pOpposite: number } {
  const u = (xs: number[], ys: number[]) => xs.reduce((acc, a) => acc + ys.reduce((s, b) => s + (a > b ? 1 : a === b ? 0.5 : 0), 0), 0);
  const splits = strata.map(({ x, y }) => {
    const pooled = [...x, ...y];
    const out: number[] = [];
    for (let mask = 0; mask < 1 << pooled.length; mask++) {
      const inX = pooled.filter((_, i) => mask & (1 << i));
      if (inX.length === x.length)
        out.push(
          u(
            inX,
            pooled.filter((_, i) => !(mask & (1 << i))),
          ),
        );
    }
    return out;
  });
  const observed = strata.reduce((a, s) => a + u(s.x, s.y), 0);
  let total = 0;
  let atLeast = 0;
  let atMost = 0;
  const walk = (i: number, sum: number) => {
    if (i === splits.length) {
      total++;
      if (sum >= observed - 1e-9) atLeast++;
      if (sum <= observed + 1e-9) atMost++;
      return;
    }
    for (const v of splits[i]) walk(i + 1, sum + v);
  };
  walk(0, 0);
  return { p: atLeast / total, pOpposite: atMost / total };
}

describe('stratified exact Mann–Whitney', () => {
  it('matches brute-force enumeration on small strata, ties included', () => {
    const cases = [
      [
        { x: [3, 5, 7], y: [1, 2, 4] },
        { x: [0.5, 0.9], y: [0.1, 0.7, 0.8] },
      ],
      [
        { x: [1, 1, 2], y: [1, 2, 2] },
        { x: [4, 4], y: [4, 3] },
        { x: [9], y: [1, 9] },
      ],
      [{ x: [2, 3], y: [5, 6] }],
    ];
    for (const strata of cases) {
      const got = stratifiedMannWhitney(strata);
      const want = bruteForce(strata);
      expect(got.p).toBeCloseTo(want.p, 12);
      expect(got.pOpposite).toBeCloseTo(want.pOpposite, 12);
    }
  });

  it('with one stratum equals the plain exact test', () => {
    const x = [0.61, 0.7, 0.55, 0.9, 0.66];
    const y = [0.5, 0.58, 0.57, 0.6, 0.59];
    expect(stratifiedMannWhitney([{ x, y }]).p).toBeCloseTo(mannWhitneyGreater(x, y).p, 12);
    expect(stratifiedMannWhitney([{ x, y }]).pOpposite).toBeCloseTo(mannWhitneyGreater(y, x).p, 12);
  });

  it('reaches 1/252 per stratum at 5 vs 5, and the product over strata when every pair is ordered', () => {
    const s = { x: [6, 7, 8, 9, 10], y: [1, 2, 3, 4, 5] };
    expect(stratifiedMannWhitney([s]).p).toBeCloseTo(1 / 252, 15);
    expect(stratifiedMannWhitney([s, s]).p).toBeCloseTo(1 / 252 ** 2, 15);
    const dist = uNullDistribution(5, 5, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(dist.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('says how many seed pairs the test needs', () => {
    // One 5 vs 5 stratum: P(U ≥ 21) = 10/252 < 0.05 and P(U ≥ 20) = 14/252 ≥ 0.05 (hand count of the U distribution).
    const one = pairsNeeded([[5, 5]], 0.05);
    expect(one).toEqual({ needed: 21, pairs: 25, minP: 1 / 252 });
    expect(pairsNeeded([[2, 2]], 0.05).needed).toBeNull(); // the best p is 1/6
  });
});

/**
 * Brute force for the signed-rank test, written independently: within each stratum rank |x| with midranks (by
 * counting, not sorting), then flip every sign of every stratum in all 2^n ways; W = Σ ranks of the positives.
 */
function bruteSignedRank(samples: number[][]): { w: number; p: number; pOpposite: number } {
  const kept = samples.map((xs) => xs.filter((x) => x !== 0)).filter((xs) => xs.length);
  const ranks = kept.map((xs) =>
    xs.map((x) => {
      const a = Math.abs(x);
      const below = xs.filter((v) => Math.abs(v) < a).length;
      const same = xs.filter((v) => Math.abs(v) === a).length;
      return below + (same + 1) / 2;
    }),
  );
  const all = ranks.flat();
  const observed = kept.flat().reduce((acc, x, i) => acc + (x > 0 ? all[i] : 0), 0);
  let atLeast = 0;
  let atMost = 0;
  const total = 2 ** all.length;
  for (let mask = 0; mask < total; mask++) {
    let w = 0;
    for (let i = 0; i < all.length; i++) if (mask & (1 << i)) w += all[i];
    if (w >= observed - 1e-9) atLeast++;
    if (w <= observed + 1e-9) atMost++;
  }
  return { w: observed, p: atLeast / total, pOpposite: atMost / total };
}

describe('stratified exact Wilcoxon signed-rank (is a statistic above 0?)', () => {
  it('matches brute force over every sign flip, ties and zeros included', () => {
    const cases = [
      [[0.3, -0.1, 0.2, 0.5, 0.4]],
      [
        [0.02, -0.01, 0.05],
        [-0.3, -0.2, 0.1, 0.1],
      ],
      [
        [1, -1, 2, 0, 3],
        [-0.5, 0.5, 0.25],
      ],
    ];
    for (const samples of cases) {
      const got = stratifiedSignedRank(samples);
      const want = bruteSignedRank(samples);
      expect(got.w).toBeCloseTo(want.w, 12);
      expect(got.p).toBeCloseTo(want.p, 12);
      expect(got.pOpposite).toBeCloseTo(want.pOpposite, 12);
    }
  });

  it('five positive values: p = 1/32, the smallest one stratum of 5 can give; five negative: p = 1', () => {
    expect(stratifiedSignedRank([[0.1, 0.2, 0.3, 0.4, 0.5]]).p).toBeCloseTo(1 / 32, 15);
    expect(stratifiedSignedRank([[-0.1, -0.2, -0.3, -0.4, -0.5]]).p).toBe(1);
  });

  it('values around 0 give no evidence either way, and an empty input gives NaN', () => {
    const r = stratifiedSignedRank([[0.1, -0.1, 0.2, -0.2]]);
    expect(r.p).toBeGreaterThan(0.5);
    expect(r.pOpposite).toBeGreaterThan(0.5);
    expect(stratifiedSignedRank([[], [0]]).p).toBeNaN();
  });
});

describe('Holm', () => {
  it('adjusts known p values step-down and keeps them monotone', () => {
    // sorted .01 .02 .03 .04 → ×4 ×3 ×2 ×1 = .04 .06 .06 (max with .06) .06
    const adj = holm([0.03, 0.01, 0.04, 0.02]);
    expect(adj[1]).toBeCloseTo(0.04, 12);
    expect(adj[3]).toBeCloseTo(0.06, 12);
    expect(adj[0]).toBeCloseTo(0.06, 12);
    expect(adj[2]).toBeCloseTo(0.06, 12);
    expect(holm([0.5, null, 0.01])).toEqual([0.5, null, 0.02]);
    expect(holm([0.9, 0.8])).toEqual([1, 1]); // .8 × 2 caps at 1, and .9 may not fall below it
  });
});

describe('bootstrap interval', () => {
  const strata = [
    { x: [1.2, 1.4, 1.1, 1.6, 1.3], y: [1.0, 1.05, 0.95, 1.1, 1.0] },
    { x: [0.5, 0.7, 0.6, 0.65, 0.55], y: [0.5, 0.52, 0.48, 0.51, 0.49] },
  ];
  it('is deterministic and covers the point estimate', () => {
    const a = bootstrapCi(strata, 'ratio', 'test');
    const b = bootstrapCi(strata, 'ratio', 'test');
    expect(a).toEqual(b);
    const point = effectOf(strata, 'ratio').effect;
    expect(a![0]).toBeLessThanOrEqual(point);
    expect(a![1]).toBeGreaterThanOrEqual(point);
    expect(a![0]).toBeGreaterThan(1); // every QV value is above its QKV stratum's mean here
    const d = bootstrapCi(strata, 'difference', 'test')!;
    expect(d[0]).toBeLessThanOrEqual(effectOf(strata, 'difference').effect);
    expect(d[1]).toBeGreaterThanOrEqual(effectOf(strata, 'difference').effect);
  });
  it('collapses to the point for constant cells', () => {
    expect(bootstrapCi([{ x: [2, 2], y: [1, 1] }], 'ratio', 'const')).toEqual([2, 2]);
  });
});
