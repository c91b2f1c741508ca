import type { Layout } from '../tasks/types.js';

/**
 * Attention statistics of src/metrics/METRICS.md, per run, measured on the supervised query rows. Plain loops
 * over typed arrays: both engines hand their attention over as arrays, so neither needs TensorFlow.js to be
 * measured and both are measured by the same arithmetic (float64 sums, each figure rounded to float32 like the
 * losses it is logged beside).
 */
export interface AttentionStats {
  entropy: number[]; // mean −Σ p ln p, nats, 0·ln0 = 0
  entropyNorm: number[]; // the same with each row divided by ln(keys it may attend to)
  maxLogit: number[]; // the largest scaled pre-softmax score over unmasked entries
  retrieval: number[][]; // [layer][run]: mean weight on the correct source position
  scaffold: number[]; // [run] the last layer's mean weight on scaffold positions (≥ layout.contentPositions)
}

/**
 * One layer's attention over the eval set, row-major [R, B, H, rows, N]. A layer below the last holds every
 * position's row (rows = N); the last holds only the supervised rows (rows = layout.queryCount).
 */
export interface LayerArrays {
  weights: Float32Array; // softmax over the last axis
  logits: Float32Array; // scaled scores; masked entries hold MASKED (−1e9), which never win over a visible score
}

/** The shape the arrays share: R runs, B eval examples, H heads. */
export interface EvalShape {
  R: number;
  B: number;
  H: number;
}

/** `sources` [B, S] is the correct source position of each supervised row. */
export function attentionStats(layers: LayerArrays[], layout: Layout, sources: ArrayLike<number>, shape: EvalShape): AttentionStats {
  const { positions: N, queryStart, queryCount: S, causal, contentPositions } = layout;
  const { R, B, H } = shape;
  const invLogKeys = Array.from({ length: S }, (_, i) => {
    const keys = causal ? queryStart + i + 1 : N;
    return keys > 1 ? 1 / Math.log(keys) : 0;
  });
  const rowsMeasured = B * H * S;
  const L = layers.length;
  const entropy = new Array<number>(R).fill(0);
  const entropyNorm = new Array<number>(R).fill(0);
  const maxLogit = new Array<number>(R).fill(-Infinity);
  const retrieval = layers.map(() => new Array<number>(R).fill(0));
  const scaffold = new Array<number>(R).fill(0);
  layers.forEach(({ weights, logits }, l) => {
    const last = l === L - 1;
    const rows = last ? S : N;
    const firstRow = last ? 0 : queryStart; // where the supervised rows start in this layer's arrays
    for (let r = 0; r < R; r++) {
      let ent = 0;
      let entNorm = 0;
      let top = -Infinity;
      let hit = 0;
      let scaf = 0;
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          for (let i = 0; i < S; i++) {
            const at = ((((r * B + b) * H + h) * rows + firstRow + i) * N) as number;
            let rowEntropy = 0;
            for (let j = 0; j < N; j++) {
              const p = weights[at + j];
              if (p > 0) rowEntropy -= p * Math.log(p);
              // A NaN score makes the max NaN: a diverged run's row says so.
              if (logits[at + j] > top || Number.isNaN(logits[at + j])) top = logits[at + j];
            }
            ent += rowEntropy;
            entNorm += rowEntropy * invLogKeys[i];
            hit += weights[at + sources[b * S + i]];
            if (last) for (let j = contentPositions; j < N; j++) scaf += weights[at + j];
          }
        }
      }
      entropy[r] += ent / rowsMeasured / L;
      entropyNorm[r] += entNorm / rowsMeasured / L;
      if (top > maxLogit[r] || Number.isNaN(top)) maxLogit[r] = top;
      retrieval[l][r] = Math.fround(hit / rowsMeasured);
      if (last) scaffold[r] = Math.fround(scaf / rowsMeasured); // the layer whose output is read (METRICS.md)
    }
  });
  return {
    entropy: entropy.map(Math.fround),
    entropyNorm: entropyNorm.map(Math.fround),
    maxLogit,
    retrieval,
    scaffold,
  };
}
