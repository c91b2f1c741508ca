/** The tensor side of the claims' figures: value norms ‖x_j·W_V,h‖ per head and the trace slice, against hand computation. */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { claimTensors, readClaims, type ClaimTensors } from '../../src/metrics/claims.js';
import type { ModelConfig } from '../../src/model/schema.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const CFG: ModelConfig = { attention: 'qv', qkNorm: false, dModel: 2, heads: 2, layers: 1, embStd: 1, initScale: 1, inputScale: 1 };

describe('claimTensors', () => {
  it('computes per-head value norms of the layer input and slices the first k examples', () => {
    // R = 1, B = 2, N = 3, d = 2, two heads of width 1. W_V = [[1, 2], [3, 4]]: head 0 reads column 0, head 1 column 1.
    const x = [
      [1, 0],
      [0, 1],
      [1, 1],
      /* example 1 */ [2, 0],
      [0, -1],
      [1, -1],
    ];
    const wV = [
      [1, 2],
      [3, 4],
    ];
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
    const weights = Array.from({ length: 2 * 2 * 1 * 3 }, (_, i) => [0.2, 0.3, 0.5][i % 3]); // [R, B, H, S=1, N]
    const before = tf.memory().numTensors;
    const layerInput = tf.tensor(x.flat(), [1, 2, 3, 2]);
    const w = tf.tensor(weights, [1, 2, 2, 1, 3]);
    const wVTensor = tf.tensor(wV.flat(), [1, 2, 2]);
    let kept!: ClaimTensors;
    tf.tidy(() => {
      kept = claimTensors([{ weights: w }], CFG, 1, { x: layerInput, wV: wVTensor });
    });
    expect(Array.from(kept.norms!.dataSync())).toEqual(want.flat(2).map((v) => expect.closeTo(v, 6)));
    expect(kept.trace.shape).toEqual([1, 1, 2, 1, 3]);
    const [readout] = readClaims(
      kept,
      { count: 2, features: new Int32Array(0), targets: new Int32Array(2), sources: Int32Array.from([0, 0]) },
      { positions: 3, inputVocab: 1, featuresPerPosition: 1, outputVocab: 1, contentPositions: 2, queryStart: 2, queryCount: 1, causal: false },
    );
    expect(readout.trace).toEqual([0.2, 0.3, 0.5, 0.2, 0.3, 0.5].map((v) => expect.closeTo(v, 6)));
    // Wrong positions 1 and 2 only: fewer than 3, so no row has a ρ.
    expect(readout.valueNorm?.rows).toBe(0);
    tf.dispose([layerInput, w, wVTensor]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
