/** What the kernel-equivalence tests share: the tfjs graph's reference values, and the float32-rounding tolerance against them. */
import { expect } from 'vitest';
import { tf } from '../../src/backend.js';
import { VARIANTS, type ModelConfig } from '../../src/model/schema.js';
import { forward, crossEntropy } from '../../src/model/transformer.js';
import { makeParams, disposeParams } from '../../src/model/params.js';
import { oneHotInput, oneHotTargets } from '../../src/model/encode.js';
import type { AnyTask } from '../../src/tasks/index.js';
import type { Encoded } from '../../src/tasks/types.js';

/**
 * The tfjs graph is float32 throughout, the fused kernels accumulate in float64: they differ by float32 rounding a
 * few operations deep, ~1e-6 relative. 2e-4 relative (+ 1e-6 absolute) leaves room for that while a wrong term (a
 * missing scale, a dropped residual branch, a transposed head) is off by far more.
 */
const REL = 2e-4;
const ABS = 1e-6;

/** Every element within tolerance of the tfjs value; the message names the worst offender. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (REL * Math.abs(want[i]) + ABS);
    if (excess > worst) [worst, at] = [excess, i];
  }
  expect(at, `${what}: element ${at} got ${got[at]}, tfjs ${want[at]}`).toBe(-1);
}

/** A zero array per parameter path, for a kernel to write gradients into. */
export const zerosLike = (params: Map<string, Float32Array>): Map<string, Float32Array> =>
  new Map([...params].map(([path, values]) => [path, new Float32Array(values.length)]));

/** What the tfjs graph computes for R runs on their batches: the reference every fused kernel is held to. */
export interface Reference {
  loss: number[]; // [R]
  grads: Map<string, Float32Array>; // by parameter path, stacked [R, ...]
  weights: Float32Array[]; // per layer [R, B, H, rows, N]
  logits: Float32Array[]; // per layer, the scaled scores
  inputs: Float32Array; // [R, B, N, d] the last layer's input
}

/** The tfjs graph's loss, gradients (autodiff) and every layer's attention for R runs, each on its own batch. Call after initBackend. */
export function tfjsReference(model: ModelConfig, task: AnyTask, perRun: Map<string, Float32Array>[], batches: Encoded[], B: number): Reference {
  const params = makeParams(model, task.layout, perRun);
  const pathOf = new Map([...params].map(([path, v]) => [v.name, path]));
  try {
    let result: Reference | undefined;
    tf.tidy(() => {
      const input = oneHotInput(batches, task.layout);
      const targets = oneHotTargets(batches, task.layout);
      const { logits, layers, layerInputs } = forward(params, model, task.layout, input, B);
      const { grads } = tf.variableGrads(
        () => tf.sum(crossEntropy(forward(params, model, task.layout, input, B).logits, targets)) as tf.Scalar,
        [...params.values()],
      );
      result = {
        loss: Array.from(crossEntropy(logits, targets).dataSync()),
        grads: new Map(Object.entries(grads).map(([name, g]) => [pathOf.get(name)!, g.dataSync() as Float32Array])),
        weights: layers.map((l) => l.weights.dataSync() as Float32Array),
        logits: layers.map((l) => l.logits.dataSync() as Float32Array),
        inputs: layerInputs.at(-1)!.dataSync() as Float32Array,
      };
    });
    return result!;
  } finally {
    disposeParams(params);
  }
}

/**
 * Every built-in model shape the kernel must compute: each variant × QK-norm × 1–3 layers × full attention (`full`,
 * e.g. lookup) and causal (`causal`, e.g. copy), two heads at two layers. A name and the model overrides per shape.
 */
export function everyShape(full: AnyTask, causal: AnyTask): [string, AnyTask, Partial<ModelConfig>][] {
  const shapes: [string, AnyTask, Partial<ModelConfig>][] = [];
  for (const attention of Object.keys(VARIANTS))
    for (const qkNorm of [false, true])
      for (const layers of [1, 2, 3])
        for (const [mask, task] of [
          ['full', full],
          ['causal', causal],
        ] as const)
          shapes.push([
            `${attention}${qkNorm ? '+qknorm' : ''}, ${layers} layer(s)${layers === 2 ? ', 2 heads' : ''}, ${mask}`,
            task,
            { attention, qkNorm, layers, heads: layers === 2 ? 2 : 1 },
          ]);
  return shapes;
}
