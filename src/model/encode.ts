/** Batches as model input for the tfjs graph: one-hot feature sums and one-hot targets. */
import { tf } from '../backend.js';
import type { Layout, Encoded } from '../tasks/types.js';

/** Features [count, N, F] → one-hot sums [1 or R, count·N, inputVocab]; several batches stack on the run axis. */
export function oneHotInput(batches: readonly Encoded[], layout: Layout): tf.Tensor {
  const rows = batches[0].count * layout.positions;
  const V = layout.inputVocab;
  const F = layout.featuresPerPosition;
  const values = new Float32Array(batches.length * rows * V);
  batches.forEach((batch, r) => {
    const base = r * rows * V;
    for (let row = 0; row < rows; row++) {
      for (let f = 0; f < F; f++) values[base + row * V + batch.features[row * F + f]] += 1;
    }
  });
  return tf.tensor3d(values, [batches.length, rows, V]);
}

/** Target classes as one-hot [1 or R, count·S, outputVocab], for the cross-entropy. */
export function oneHotTargets(batches: readonly Encoded[], layout: Layout): tf.Tensor {
  const rows = batches[0].count * layout.queryCount;
  const C = layout.outputVocab;
  const values = new Float32Array(batches.length * rows * C);
  batches.forEach((batch, r) => {
    for (let row = 0; row < rows; row++) values[(r * rows + row) * C + batch.targets[row]] = 1;
  });
  return tf.tensor3d(values, [batches.length, rows, C]);
}
