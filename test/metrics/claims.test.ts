import { describe, expect, it } from 'vitest';
import { valueNormFigures, rankCorrelation, meanTotalVariation, attentionVolatility, claimReadouts, valueNorms } from '../../src/metrics/claims.js';
import { Stream } from '../../src/rng.js';

/** One lookup-shaped eval set: B examples, 1 head, 1 supervised row at position 8 of 9, non-causal. */
const SHAPE = { B: 0, H: 1, S: 1, N: 9, queryStart: 8, causal: false, content: 8 };

function softmaxRow(logits: number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

describe('value-norm ρ', () => {
  it('is 1 when the weights on wrong positions are proportional to the value norms', () => {
    const rng = Stream.derive(1, 'test/value-norm');
    const B = 20;
    const weights: number[] = [];
    const norms: number[] = [];
    const sources: number[] = [];
    for (let b = 0; b < B; b++) {
      const n = Array.from({ length: 9 }, () => 0.1 + rng.uniform());
      const src = b % 8;
      // The correct source gets a large weight and the query slot (8) an arbitrary one: both must be left out.
      const raw = n.map((x, j) => (j === src ? 50 : j === 8 ? 40 * rng.uniform() : x));
      const z = raw.reduce((a, c) => a + c, 0);
      weights.push(...raw.map((x) => x / z));
      norms.push(...n);
      sources.push(src);
    }
    const f = valueNormFigures(weights, norms, sources, { ...SHAPE, B });
    expect(f.rows).toBe(B);
    expect(f.rho).toBeCloseTo(1, 12);
    expect(f.top_hit).toBe(1);
    expect(f.chance).toBeCloseTo(1 / 7, 12); // 7 wrong memory slots: the query slot is not a candidate
  });

  it('is near 0, with a hit rate near chance, when the weights are independent of the norms', () => {
    const rng = Stream.derive(2, 'test/value-norm');
    const B = 4000;
    const weights: number[] = [];
    const norms: number[] = [];
    const sources: number[] = [];
    for (let b = 0; b < B; b++) {
      weights.push(...softmaxRow(Array.from({ length: 9 }, () => rng.normal())));
      norms.push(...Array.from({ length: 9 }, () => rng.uniform()));
      sources.push(rng.int(0, 7));
    }
    const f = valueNormFigures(weights, norms, sources, { ...SHAPE, B });
    // Mean of 4000 per-row ρ with sd ≈ 0.38 each: the mean's sd is ≈ 0.006.
    expect(Math.abs(f.rho!)).toBeLessThan(0.03);
    expect(Math.abs(f.top_hit! - 1 / 8)).toBeLessThan(0.03);
  });

  it('is −1 for a reversed order and uses average ranks for ties', () => {
    expect(rankCorrelation([3, 2, 1], [1, 2, 3])).toBeCloseTo(-1, 12);
    // Hand-computed: ranks of x = [1.5, 1.5, 3, 4], of y = [1, 2, 3, 4]; Pearson of the ranks = 0.9486832980505138.
    expect(rankCorrelation([1, 1, 2, 3], [1, 2, 3, 4])).toBeCloseTo(0.9486832980505138, 12);
    expect(rankCorrelation([1, 1, 1], [1, 2, 3])).toBeNull(); // a constant side: ρ is undefined, not 0
    expect(rankCorrelation([1, 2], [1, 2])).toBeNull();
  });

  it('leaves out the query slot (lookup): a heavily attended, large-norm query slot does not count', () => {
    // 4 memory slots and the query slot at 4; source 0. Candidates 1, 2, 3: weights .1 .2 .3, norms 3 2 1 → ρ = −1.
    // Counted as a wrong position (the old definition), the query slot (weight .35, norm 10) would make ρ = 0.2.
    const weights = [0.05, 0.1, 0.2, 0.3, 0.35];
    const norms = [1, 3, 2, 1, 10];
    const f = valueNormFigures(weights, norms, [0], { B: 1, H: 1, S: 1, N: 5, queryStart: 4, causal: false, content: 4 });
    expect(f.rows).toBe(1);
    expect(f.rho).toBeCloseTo(-1, 12);
    expect(f.top_hit).toBe(0);
    expect(f.chance).toBeCloseTo(1 / 3, 12);
  });

  it('leaves out output slots (copy): causal rows count only the input tokens, minus their source', () => {
    // T = 4 input tokens, output slots 4 and 5 (queryStart 4, S 2); norms per position 5 3 2 1 10 10.
    // Row 0 (source 0) sees 0..4: candidates 1 2 3 with weights .1 .2 .3 → ρ = −1, top hit no.
    // Row 1 (source 1) sees 0..5: candidates 0 2 3 with weights .3 .2 .1 → ρ = +1, top hit yes.
    const weights = [0.05, 0.1, 0.2, 0.3, 0.35, 0, /* row 1 */ 0.3, 0.05, 0.2, 0.1, 0.2, 0.15];
    const norms = [5, 3, 2, 1, 10, 10];
    const f = valueNormFigures(weights, norms, [0, 1], { B: 1, H: 1, S: 2, N: 6, queryStart: 4, causal: true, content: 4 });
    expect(f.rows).toBe(2);
    expect(f.rho).toBeCloseTo(0, 12);
    expect(f.top_hit).toBe(0.5);
    expect(f.chance).toBeCloseTo(1 / 3, 12);
  });
});

describe('attention volatility', () => {
  it('is 0 for frozen attention', () => {
    const w = [0.2, 0.3, 0.5, 0.1, 0.1, 0.8];
    const trace = [0, 20, 40, 60, 80, 100].map((step) => ({ step, weights: w }));
    expect(attentionVolatility(trace, 100, 3)).toBe(0);
  });

  it('averages ½Σ|p − q| over rows and over the pairs in the second half only', () => {
    expect(meanTotalVariation([1, 0, 0.5, 0.5], [0, 1, 0.5, 0.5], 2)).toBe(0.5); // rows: TV 1 and 0
    const a = [1, 0];
    const b = [0.5, 0.5];
    const c = [0, 1];
    // steps 0..100, second half pairs: (50,75) TV .5, (75,100) TV .5; the pair (0,50) starts before 50 and is left out.
    const trace = [
      { step: 0, weights: c },
      { step: 50, weights: a },
      { step: 75, weights: b },
      { step: 100, weights: c },
    ];
    expect(attentionVolatility(trace, 100, 2)).toBeCloseTo(0.5, 12);
    expect(attentionVolatility([{ step: 0, weights: a }], 100, 2)).toBeNull();
  });
});

describe('claim readouts', () => {
  // R = 1, B = 2, N = 3, d = 2, two heads of width 1. W_V = [[1, 2], [3, 4]]: head 0 reads column 0, head 1 column 1.
  const x = [
    [1, 0],
    [0, 1],
    [1, 1],
    /* example 1 */ [2, 0],
    [0, -1],
    [1, -1],
  ];
  const wV = [1, 2, 3, 4];
  const inputs = { x: Float32Array.from(x.flat()), wV: Float32Array.from(wV) };

  it('value norms are per head: ‖x_j·W_V,h‖, by hand', () => {
    // x·W_V rows: [1,2] [3,4] [4,6] | [2,4] [-3,-4] [-2,-2] → head 0 norms |first|, head 1 |second|.
    const want = [
      [
        [1, 3, 4],
        [2, 4, 6],
      ],
      [
        [2, 3, 2],
        [4, 4, 2],
      ],
    ]; // [B][H][N]
    expect(Array.from(valueNorms(inputs, 0, { B: 2, H: 2, N: 3, d: 2 }))).toEqual(want.flat(2));
  });

  it('each run’s value-norm figures come from its own weights, layer input and W_V (R = 2, different everything)', () => {
    // Lookup-shaped: 4 content slots and the query slot, 3 examples, one head of width 2, one supervised row.
    const layout = {
      positions: 5,
      inputVocab: 1,
      featuresPerPosition: 1,
      outputVocab: 1,
      contentPositions: 4,
      queryStart: 4,
      queryCount: 1,
      causal: false,
    };
    const [R, B, N, d] = [2, 3, 5, 2];
    const rng = Stream.derive(5, 'test/value-norms');
    const x = Array.from({ length: R * B * N * d }, () => rng.uniform() * 2 - 1); // [R, B, N, d]
    const wV = Array.from({ length: R * d * d }, () => rng.uniform() * 2 - 1); // [R, d, d]
    const weights = Float32Array.from({ length: R * B * N }, () => rng.uniform()); // [R, B, H=1, S=1, N]
    const sources = [0, 3, 1];
    const inputs = { x: Float32Array.from(x), wV: Float32Array.from(wV) };
    const readouts = claimReadouts(weights, { R, B, H: 1, d }, 1, inputs, sources, layout);
    for (let r = 0; r < R; r++) {
      // ‖x_j·W_V‖ for run r, by nested loops over its own slices.
      const norms = Array.from({ length: B * N }, (_, bn) => {
        const xs = inputs.x.subarray((r * B * N + bn) * d, (r * B * N + bn + 1) * d);
        const w = inputs.wV.subarray(r * d * d, (r + 1) * d * d);
        const v = [0, 1].map((c) => xs[0] * w[c] + xs[1] * w[d + c]);
        return Math.hypot(v[0], v[1]);
      });
      const want = valueNormFigures(weights.subarray(r * B * N, (r + 1) * B * N), norms, sources, {
        B,
        H: 1,
        S: 1,
        N,
        queryStart: 4,
        causal: false,
        content: 4,
      });
      expect(want.rows).toBe(B); // every row has 3 wrong content slots: each has a ρ
      expect(readouts[r].valueNorm!.rho).toBeCloseTo(want.rho!, 12);
      expect(readouts[r].valueNorm!.top_hit).toBe(want.top_hit);
    }
    expect(readouts[0].valueNorm!.rho).not.toBeCloseTo(readouts[1].valueNorm!.rho!, 6); // so a swap of runs would show
  });

  it('the trace is the first k examples of each run; value-norm figures only when inputs are given', () => {
    const layout = {
      positions: 3,
      inputVocab: 1,
      featuresPerPosition: 1,
      outputVocab: 1,
      contentPositions: 2,
      queryStart: 2,
      queryCount: 1,
      causal: false,
    };
    // Two runs, their weights [R=2, B=2, H=2, S=1, N=3]: run 0 repeats [0.2, 0.3, 0.5], run 1 [0.6, 0.3, 0.1].
    const weights = Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i < 12 ? [0.2, 0.3, 0.5] : [0.6, 0.3, 0.1])[i % 3]);
    const two = { x: Float32Array.from([...inputs.x, ...inputs.x]), wV: Float32Array.from([...wV, ...wV]) };
    const [run0, run1] = claimReadouts(weights, { R: 2, B: 2, H: 2, d: 2 }, 1, two, [0, 0], layout);
    expect(run0.trace).toEqual([0.2, 0.3, 0.5, 0.2, 0.3, 0.5].map((v) => expect.closeTo(v, 6)));
    expect(run1.trace).toEqual([0.6, 0.3, 0.1, 0.6, 0.3, 0.1].map((v) => expect.closeTo(v, 6)));
    // Content positions 0 and 1 minus the source 0 leave one candidate: fewer than 3, so no row has a ρ.
    expect(run0.valueNorm?.rows).toBe(0);
    expect(claimReadouts(weights, { R: 2, B: 2, H: 2, d: 2 }, 1, null, [0, 0], layout)[0].valueNorm).toBeNull();
  });
});
