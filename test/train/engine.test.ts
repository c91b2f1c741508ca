/** measureEval, the eval figures both engines share: the attention snapshots (first examples and the mean) per run and layer. */
import { describe, expect, it } from 'vitest';
import { measureEval, type EngineSpec } from '../../src/train/engine.js';
import { Stream } from '../../src/rng.js';
import type { Layout } from '../../src/tasks/types.js';

const LAYOUT: Layout = {
  positions: 4,
  inputVocab: 10,
  featuresPerPosition: 2,
  outputVocab: 4,
  contentPositions: 3,
  queryStart: 3,
  queryCount: 1,
  causal: false,
};

describe('measureEval snapshots', () => {
  it('per run and layer: the first k examples as they are, and the mean over the eval set, read with nested indices', () => {
    const [R, B, H, N, k] = [2, 3, 2, LAYOUT.positions, 2];
    const rng = Stream.derive(11, 'test/snapshots');
    // Nested [R][B][H][rows][N]; layer 0 holds every row (N), the last only the supervised one.
    const nested = (rows: number) =>
      Array.from({ length: R }, () =>
        Array.from({ length: B }, () =>
          Array.from({ length: H }, () => Array.from({ length: rows }, () => Array.from({ length: N }, () => rng.uniform()))),
        ),
      );
    const layers = [nested(N), nested(LAYOUT.queryCount)];
    const spec = {
      model: { attention: 'qkv', qkNorm: false, dModel: 4, heads: H, layers: 2, embStd: 1, initScale: 1, inputScale: 1 },
      layout: LAYOUT,
      initial: [],
      evalSet: { count: B, features: new Int32Array(B * N * 2), targets: new Int32Array(B), sources: new Int32Array(B) },
      snapshotExamples: k,
    } as unknown as EngineSpec;
    const flat = (w: number[][][][][]) => Float32Array.from(w.flat(4));
    const result = measureEval(spec, R, true, {
      loss: [1, 2],
      acc: [0.5, 0.25],
      layers: layers.map((w) => ({ weights: flat(w), logits: flat(w) })),
      values: null,
    });
    expect(result.snapshots).toHaveLength(R);
    for (let r = 0; r < R; r++) {
      layers.forEach((w, l) => {
        const snap = result.snapshots![r][l];
        expect(snap.examples).toHaveLength(k);
        for (let e = 0; e < k; e++) expect(snap.examples[e]).toEqual(w[r][e].map((h) => h.map((row) => row.map(Math.fround))));
        const mean = w[r][0].map((h, hi) => h.map((row, i) => row.map((_, j) => w[r].reduce((a, ex) => a + Math.fround(ex[hi][i][j]), 0) / B)));
        snap.mean.forEach((h, hi) => h.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(mean[hi][i][j], 6))));
      });
    }
    expect(
      measureEval(spec, R, false, { loss: [1, 2], acc: [0, 0], layers: layers.map((w) => ({ weights: flat(w), logits: flat(w) })), values: null })
        .snapshots,
    ).toBeNull();
  });
});
