import { tf } from '../backend.js';
import type { AttentionResult } from '../model/attention.js';
import type { Layout, Encoded } from '../tasks/types.js';

/**
 * Attention statistics of src/metrics/METRICS.md, per run ([R] tensors), measured on the supervised query rows.
 * Call inside tf.tidy.
 */
export interface AttentionStats {
  entropy: tf.Tensor; // mean −Σ p ln p, nats, 0·ln0 = 0
  entropyNorm: tf.Tensor; // the same with each row divided by ln(keys it may attend to)
  maxLogit: tf.Tensor; // the largest scaled pre-softmax score over unmasked entries
  retrieval: tf.Tensor[]; // per layer: mean weight on the correct source position
  scaffold: tf.Tensor; // the last layer's mean weight on scaffold positions (≥ layout.contentPositions: the query slot, output slots, MQAR's queries)
}

/** Constants the statistics need, built once per eval set. */
export interface StatsInputs {
  sources: tf.Tensor; // [1, B, 1, S, N] one-hot of the correct source position
  invLogKeys: tf.Tensor; // [S] 1/ln(visible keys) per supervised row; 0 where only one key is visible
  scaffoldMask: tf.Tensor; // [N] 1 at scaffold positions (≥ contentPositions), 0 at content positions
}

export function statsInputs(evalSet: Encoded, layout: Layout): StatsInputs {
  const { positions: N, queryStart, queryCount: S, causal } = layout;
  const B = evalSet.count;
  const src = new Float32Array(B * S * N);
  for (let i = 0; i < B * S; i++) src[i * N + evalSet.sources[i]] = 1;
  const keys = Array.from({ length: S }, (_, i) => (causal ? queryStart + i + 1 : N));
  return {
    sources: tf.tensor(src, [1, B, 1, S, N]),
    invLogKeys: tf.tensor1d(keys.map((k) => (k > 1 ? 1 / Math.log(k) : 0))),
    scaffoldMask: tf.tensor1d(Array.from({ length: N }, (_, j) => (j >= layout.contentPositions ? 1 : 0))),
  };
}

/** What the statistics read of a layer: its weights and scaled scores over the supervised rows. */
export type AttentionLayer = Pick<AttentionResult, 'weights' | 'logits'>;

export function attentionStats(layers: AttentionLayer[], layout: Layout, inputs: StatsInputs): AttentionStats {
  const { queryStart, queryCount: S } = layout;
  const entropies: tf.Tensor[] = [];
  const normed: tf.Tensor[] = [];
  const maxima: tf.Tensor[] = [];
  const retrieval: tf.Tensor[] = [];
  const scaffold: tf.Tensor[] = [];
  layers.forEach((layer, l) => {
    const queryRows = (t: tf.Tensor) => (l === layers.length - 1 ? t : tf.slice(t, [0, 0, 0, queryStart, 0], [-1, -1, -1, S, -1]));
    const w = queryRows(layer.weights); // [R, B, H, S, N]
    const plogp = tf.where(tf.greater(w, 0), tf.mul(w, tf.log(w)), tf.zerosLike(w));
    const rowEntropy = tf.neg(tf.sum(plogp, -1)); // [R, B, H, S]
    entropies.push(tf.mean(rowEntropy, [1, 2, 3]));
    normed.push(tf.mean(tf.mul(rowEntropy, inputs.invLogKeys), [1, 2, 3]));
    // Masked entries hold MASKED (−1e9) and every row sees at least one key, so they never win the max.
    maxima.push(tf.max(queryRows(layer.logits), [1, 2, 3, 4]));
    retrieval.push(tf.mean(tf.sum(tf.mul(w, inputs.sources), -1), [1, 2, 3]));
    scaffold.push(tf.mean(tf.sum(tf.mul(w, inputs.scaffoldMask), -1), [1, 2, 3]));
  });
  const meanOver = (xs: tf.Tensor[]) => tf.div(tf.addN(xs), xs.length);
  return {
    entropy: meanOver(entropies),
    entropyNorm: meanOver(normed),
    maxLogit: tf.max(tf.stack(maxima), 0),
    retrieval,
    scaffold: scaffold[scaffold.length - 1], // the layer whose output is read, as the claims' other statistics (METRICS.md)
  };
}
