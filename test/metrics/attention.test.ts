/** attentionStats on hand-made attention weights and logits; every expectation is computed by hand. */
import { describe, expect, it } from 'vitest';
import { attentionStats } from '../../src/metrics/attention.js';
import { MASKED } from '../../src/model/numerics.js';
import type { Layout } from '../../src/tasks/types.js';
import { Stream } from '../../src/rng.js';

const ln = Math.log;

/** Lookup-like: 4 positions (3 slots + the query), full attention, one supervised row (the last). */
const LOOKUP: Layout = {
  positions: 4,
  inputVocab: 10,
  featuresPerPosition: 3,
  outputVocab: 4,
  contentPositions: 3,
  queryStart: 3,
  queryCount: 1,
  causal: false,
};
/** Copy-like: 3 tokens then 3 outputs, causal; supervised rows 3, 4, 5 see 4, 5, 6 keys. */
const COPY: Layout = {
  positions: 6,
  inputVocab: 12,
  featuresPerPosition: 2,
  outputVocab: 4,
  contentPositions: 3,
  queryStart: 3,
  queryCount: 3,
  causal: true,
};

type W = number[][][][][]; // [R][B][H][rows][N]

interface Stats {
  entropy: number[];
  entropyNorm: number[];
  maxLogit: number[];
  retrieval: number[][]; // [layer][run]
  scaffold: number[]; // [run]
}

/**
 * Runs attentionStats on per-layer weights (and logits; by default ln(w), masked where w = 0 on a causal
 * row's hidden keys). `sources` is [B][S], the correct key position per supervised row.
 */
function stats(layout: Layout, layers: { weights: W; logits?: W }[], sources: number[][]): Stats {
  const [R, B, H] = shapeOf(layers[0].weights);
  const arrays = layers.map(({ weights, logits }) => {
    const w = Float32Array.from(weights.flat(4));
    const l = logits ? Float32Array.from(logits.flat(4)) : w.map((p) => (p > 0 ? Math.log(p) : MASKED));
    return { weights: w, logits: l };
  });
  return attentionStats(arrays, layout, sources.flat(), { R, B, H });
}

function shapeOf(x: W): number[] {
  return [x.length, x[0].length, x[0][0].length, x[0][0][0].length, x[0][0][0][0].length];
}

/** One run, one head: [B][rows][N] → [1][B][1][rows][N]. */
const single = (rowsPerExample: number[][][]): W => [rowsPerExample.map((rows) => [rows])];

const finite = (s: Stats) => [...s.entropy, ...s.entropyNorm, ...s.maxLogit, ...s.retrieval.flat()].every(Number.isFinite);

describe('entropy (full attention)', () => {
  it('a uniform row has entropy ln N and normalised entropy 1', () => {
    const s = stats(LOOKUP, [{ weights: single([[[0.25, 0.25, 0.25, 0.25]]]) }], [[0]]);
    expect(s.entropy[0]).toBeCloseTo(ln(4), 5); // 1.386294
    expect(s.entropyNorm[0]).toBeCloseTo(1, 5);
  });

  it('a one-hot row has entropy 0 (0·ln0 = 0), and nothing is NaN', () => {
    const s = stats(LOOKUP, [{ weights: single([[[0, 0, 1, 0]]]), logits: single([[[-3, -2, 5, 0]]]) }], [[2]]);
    expect(finite(s)).toBe(true);
    expect(s.entropy[0]).toBe(0);
    expect(s.entropyNorm[0]).toBe(0);
    expect(s.retrieval[0][0]).toBeCloseTo(1, 6);
  });

  it('half-half over two keys: ln 2 nats, normalised ln2/ln4 = 0.5; averaged over examples', () => {
    const s = stats(LOOKUP, [{ weights: single([[[0.5, 0.5, 0, 0]], [[0, 0, 0, 1]]]) }], [[0], [3]]);
    expect(s.entropy[0]).toBeCloseTo(ln(2) / 2, 5); // mean of ln2 and 0
    expect(s.entropyNorm[0]).toBeCloseTo(0.25, 5); // mean of 0.5 and 0
  });

  it('statistics are per run: R = 2 runs get their own values', () => {
    const weights: W = [[[[[0.25, 0.25, 0.25, 0.25]]]], [[[[1, 0, 0, 0]]]]];
    const s = stats(LOOKUP, [{ weights }], [[0]]);
    expect(s.entropy[0]).toBeCloseTo(ln(4), 5);
    expect(s.entropy[1]).toBe(0);
    expect(s.retrieval[0][0]).toBeCloseTo(0.25, 6);
    expect(s.retrieval[0][1]).toBeCloseTo(1, 6);
  });

  it('averages over heads', () => {
    // Head 0 uniform (ln 4), head 1 one-hot (0): mean ln4/2, normalised 0.5.
    const weights: W = [[[[[0.25, 0.25, 0.25, 0.25]], [[0, 1, 0, 0]]]]];
    const s = stats(LOOKUP, [{ weights }], [[1]]);
    expect(s.entropy[0]).toBeCloseTo(ln(4) / 2, 5);
    expect(s.entropyNorm[0]).toBeCloseTo(0.5, 5);
    expect(s.retrieval[0][0]).toBeCloseTo((0.25 + 1) / 2, 6);
  });
});

describe('entropy (causal attention)', () => {
  // Supervised rows 3, 4, 5 may attend to 4, 5, 6 keys.
  const uniformVisible = [
    [0.25, 0.25, 0.25, 0.25, 0, 0],
    [0.2, 0.2, 0.2, 0.2, 0.2, 0],
    [1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6],
  ];

  it('uniform over the visible keys is normalised entropy 1 on every row', () => {
    const s = stats(COPY, [{ weights: single([uniformVisible]) }], [[0, 1, 2]]);
    expect(finite(s)).toBe(true);
    expect(s.entropy[0]).toBeCloseTo((ln(4) + ln(5) + ln(6)) / 3, 5);
    expect(s.entropyNorm[0]).toBeCloseTo(1, 5);
  });

  it('each row is normalised by ln(its own number of visible keys), not ln N', () => {
    // The same half-half row everywhere: ln 2 nats; normalised ln2/ln4, ln2/ln5, ln2/ln6.
    const half = [0.5, 0.5, 0, 0, 0, 0];
    const s = stats(COPY, [{ weights: single([[half, half, half]]) }], [[0, 1, 2]]);
    expect(s.entropy[0]).toBeCloseTo(ln(2), 5);
    expect(s.entropyNorm[0]).toBeCloseTo((ln(2) / ln(4) + ln(2) / ln(5) + ln(2) / ln(6)) / 3, 5); // 0.40917
    expect(s.entropyNorm[0]).not.toBeCloseTo(ln(2) / ln(6), 3); // what dividing by ln N would give
  });
});

describe('retrieval mass', () => {
  it('lookup: the weight on the slot holding the queried key, averaged over examples', () => {
    const weights = single([[[0.1, 0.2, 0.6, 0.1]], [[0.7, 0.1, 0.1, 0.1]], [[0.05, 0.05, 0.1, 0.8]]]);
    const s = stats(LOOKUP, [{ weights }], [[2], [0], [1]]);
    expect(s.retrieval).toHaveLength(1);
    expect(s.retrieval[0][0]).toBeCloseTo((0.6 + 0.7 + 0.05) / 3, 6); // 0.45: not the max weight, the correct one
  });

  it('copy: output row i is scored on input token i', () => {
    const rows = [
      [0.7, 0.1, 0.1, 0.1, 0, 0],
      [0.1, 0.5, 0.1, 0.1, 0.2, 0],
      [0.1, 0.1, 0.3, 0.1, 0.2, 0.2],
    ];
    const s = stats(COPY, [{ weights: single([rows]) }], [[0, 1, 2]]);
    expect(s.retrieval[0][0]).toBeCloseTo((0.7 + 0.5 + 0.3) / 3, 6);
  });
});

describe('self/scaffold share', () => {
  it('lookup: the weight the query puts on itself (the query slot, position 3), averaged over examples', () => {
    const weights = single([[[0.1, 0.2, 0.6, 0.1]], [[0.1, 0.1, 0.1, 0.7]], [[0.05, 0.05, 0.1, 0.8]]]);
    const s = stats(LOOKUP, [{ weights }], [[2], [0], [1]]);
    expect(s.scaffold[0]).toBeCloseTo((0.1 + 0.7 + 0.8) / 3, 6);
    // retrieval + scaffold + wrong content mass = 1 for every row, so wrong content mass is what is left.
    expect(1 - s.retrieval[0][0] - s.scaffold[0]).toBeCloseTo((0.3 + 0.2 + 0.15) / 3, 6);
  });

  it('two layers: the share is the last layer’s (the one whose output is read), not a mean over layers', () => {
    const first = single([
      [
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
        [0, 0, 0.1, 0.9], // the query row of layer 1: mostly itself
      ],
    ]);
    const last = single([[[0.1, 0.2, 0.6, 0.1]]]);
    const s = stats(LOOKUP, [{ weights: first }, { weights: last }], [[2]]);
    expect(s.scaffold[0]).toBeCloseTo(0.1, 6);
    expect(s.retrieval[1][0]).toBeCloseTo(0.6, 6);
  });

  it('copy: the weight on output slots (positions ≥ T = 3), which causal rows see more of as they go', () => {
    const rows = [
      [0.7, 0.1, 0.1, 0.1, 0, 0],
      [0.1, 0.5, 0.1, 0.1, 0.2, 0],
      [0.1, 0.1, 0.3, 0.1, 0.2, 0.2],
    ];
    const s = stats(COPY, [{ weights: single([rows]) }], [[0, 1, 2]]);
    expect(s.scaffold[0]).toBeCloseTo((0.1 + 0.3 + 0.5) / 3, 6);
  });
});

describe('max logit', () => {
  it('ignores masked entries: all visible logits negative, the max is the largest visible one', () => {
    // Masked cells hold MASKED + score, as attention() produces them. Every visible logit is negative, so a max
    // that let a masked cell count as 0 (or that took the max before masking) would give a different answer.
    const logits = single([
      [
        [-2, -1, -0.5, -3, MASKED + 4, MASKED + 9],
        [-1, -4, -2, -1, -2.5, MASKED + 3],
        [-1, -1, -1, -1, -1, -0.75],
      ],
    ]);
    const weights = single([
      [
        [0.25, 0.25, 0.25, 0.25, 0, 0],
        [0.2, 0.2, 0.2, 0.2, 0.2, 0],
        [1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6],
      ],
    ]);
    const s = stats(COPY, [{ weights, logits }], [[0, 1, 2]]);
    expect(s.maxLogit[0]).toBeCloseTo(-0.5, 6);
  });

  it('is NaN when a score is NaN (a diverged run), in any layer, whatever the other scores', () => {
    const weights = single([[[0.25, 0.25, 0.25, 0.25]]]);
    expect(stats(LOOKUP, [{ weights, logits: single([[[1, NaN, 3, 2]]]) }], [[0]]).maxLogit[0]).toBeNaN();
    const first = single([
      [
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
        [0.25, 0.25, 0.25, 0.25],
      ],
    ]);
    const firstLogits = single([
      [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [NaN, 0, 0, 0],
      ],
    ]);
    const s = stats(
      LOOKUP,
      [
        { weights: first, logits: firstLogits },
        { weights, logits: single([[[1, 9, 3, 2]]]) },
      ],
      [[0]],
    );
    expect(s.maxLogit[0]).toBeNaN();
  });

  it('is a max over examples, heads and rows; per run', () => {
    const weights: W = [
      [
        [[[0.25, 0.25, 0.25, 0.25]], [[0.25, 0.25, 0.25, 0.25]]],
        [[[0.25, 0.25, 0.25, 0.25]], [[0.25, 0.25, 0.25, 0.25]]],
      ],
      [
        [[[0.25, 0.25, 0.25, 0.25]], [[0.25, 0.25, 0.25, 0.25]]],
        [[[0.25, 0.25, 0.25, 0.25]], [[0.25, 0.25, 0.25, 0.25]]],
      ],
    ];
    const logits: W = [
      [
        [[[1, 2, 3, 4]], [[0, 0, 0, 0]]],
        [[[0, 9, 0, 0]], [[0, 0, 0, 0]]],
      ], // run 0: 9 in example 1, head 0
      [
        [[[0, 0, 0, 0]], [[0, 0, 0, 7.5]]],
        [[[-1, -1, -1, -1]], [[0, 0, 0, 0]]],
      ], // run 1: 7.5 in example 0, head 1
    ];
    const s = stats(LOOKUP, [{ weights, logits }], [[0], [0]]);
    expect(s.maxLogit[0]).toBeCloseTo(9, 6);
    expect(s.maxLogit[1]).toBeCloseTo(7.5, 6);
  });
});

describe('several layers', () => {
  it('earlier layers are read at the supervised rows only; entropy averages layers; retrieval is per layer', () => {
    // Layer 0 covers all 4 positions as queries ([N][N]); only its last row (position 3) is supervised.
    // Its other rows are one-hot on the wrong key, with a huge logit: they must be ignored.
    const layer0 = single([
      [
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
        [0.25, 0.25, 0.25, 0.25],
      ],
    ]);
    const logits0 = single([
      [
        [0, 100, 0, 0],
        [0, 0, 100, 0],
        [0, 0, 0, 100],
        [1, 1, 1, 1],
      ],
    ]);
    const layer1 = single([[[0, 0, 1, 0]]]);
    const logits1 = single([[[0, 0, 2, 0]]]);
    const s = stats(
      LOOKUP,
      [
        { weights: layer0, logits: logits0 },
        { weights: layer1, logits: logits1 },
      ],
      [[2]],
    );
    expect(s.entropy[0]).toBeCloseTo((ln(4) + 0) / 2, 5);
    expect(s.entropyNorm[0]).toBeCloseTo(0.5, 5);
    expect(s.maxLogit[0]).toBeCloseTo(2, 6); // not 100 from layer 0's unsupervised rows
    expect(s.retrieval).toHaveLength(2);
    expect(s.retrieval[0][0]).toBeCloseTo(0.25, 6);
    expect(s.retrieval[1][0]).toBeCloseTo(1, 6);
  });
});

describe('indexing: several runs, examples, heads and supervised rows, two layers', () => {
  it('matches a reference over nested arrays (copy: 3 supervised rows of 6; layer 0 holds all 6 rows)', () => {
    // Random rows (each sums to 1 over its visible keys) for R = 2, B = 2, H = 2, read with nested indices, so a wrong
    // stride or row offset in the flat arrays shows.
    const rng = Stream.derive(3, 'test/attention-indexing');
    const [R, B, H, N, S, q0] = [2, 2, 2, COPY.positions, COPY.queryCount, COPY.queryStart];
    const row = (visible: number) => {
      const raw = Array.from({ length: N }, (_, j) => (j < visible ? 0.1 + rng.uniform() : 0));
      const sum = raw.reduce((a, b) => a + b, 0);
      return raw.map((v) => v / sum);
    };
    const layer = (rows: number, first: number): W =>
      Array.from({ length: R }, () =>
        Array.from({ length: B }, () => Array.from({ length: H }, () => Array.from({ length: rows }, (_, i) => row(first + i + 1)))),
      );
    const lower = layer(N, 0); // every position's row; causal row t sees t + 1 keys
    const last = layer(S, q0); // the supervised rows only
    const logitsOf = (w: W): W =>
      w.map((b) => b.map((h) => h.map((rows) => rows.map((r) => r.map((p) => (p > 0 ? Math.log(p) + rng.uniform() : MASKED))))));
    const lowerLogits = logitsOf(lower);
    const lastLogits = logitsOf(last);
    const sources = [
      [0, 1, 2],
      [2, 0, 1],
    ];
    const s = stats(
      COPY,
      [
        { weights: lower, logits: lowerLogits },
        { weights: last, logits: lastLogits },
      ],
      sources,
    );
    const supervised = (w: W, l: number, r: number, b: number, h: number, i: number) => (l === 0 ? w[r][b][h][q0 + i] : w[r][b][h][i]);
    for (let r = 0; r < R; r++) {
      const perLayer = [lower, last].map((w, l) => {
        let entropy = 0;
        let hit = 0;
        for (let b = 0; b < B; b++)
          for (let h = 0; h < H; h++)
            for (let i = 0; i < S; i++) {
              const p = supervised(w, l, r, b, h, i);
              entropy -= p.reduce((a, v) => (v > 0 ? a + v * Math.log(v) : a), 0);
              hit += p[sources[b][i]];
            }
        return { entropy: entropy / (B * H * S), retrieval: hit / (B * H * S) };
      });
      let scaffold = 0;
      let top = -Infinity;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < S; i++) {
            scaffold += last[r][b][h][i].slice(COPY.contentPositions).reduce((a, v) => a + v, 0);
            top = Math.max(top, ...supervised(lowerLogits, 0, r, b, h, i), ...supervised(lastLogits, 1, r, b, h, i));
          }
      expect(s.entropy[r]).toBeCloseTo((perLayer[0].entropy + perLayer[1].entropy) / 2, 5);
      expect(s.retrieval[0][r]).toBeCloseTo(perLayer[0].retrieval, 5);
      expect(s.retrieval[1][r]).toBeCloseTo(perLayer[1].retrieval, 5);
      expect(s.scaffold[r]).toBeCloseTo(scaffold / (B * H * S), 5);
      expect(s.maxLogit[r]).toBeCloseTo(Math.fround(top), 4);
    }
  });
});
