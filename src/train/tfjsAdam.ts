import { tf } from '../backend.js';
import type { Params } from '../model/params.js';
import { BETA1, BETA2, EPS } from './adam.js';

/**
 * Adam with a per-run learning rate: parameters are [R, ...], and `lr` is [R], so R runs with different
 * learning rates share one update. PyTorch's formulation: p −= lr · m̂ / (√v̂ + ε).
 */
export class BatchedAdam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  /** `moments` restores m and v (stacked [R, ...] values by path) from a checkpoint; otherwise they start at 0. */
  constructor(
    private readonly params: Params,
    moments?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> },
  ) {
    for (const [path, p] of params) {
      // tidy frees the tensor tf.variable copied from; without it, it would outlive the optimizer
      const start = (saved?: Float32Array) => tf.tidy(() => tf.variable(saved ? tf.tensor(saved, p.shape) : tf.zerosLike(p), false));
      this.m.set(path, start(moments?.m.get(path)));
      this.v.set(path, start(moments?.v.get(path)));
    }
  }

  /** Applies update number `t` (1-based). Call inside tf.tidy. */
  update(grads: Record<string, tf.Tensor>, lr: tf.Tensor, t: number): void {
    const bc1 = 1 - BETA1 ** t;
    const bc2 = 1 - BETA2 ** t;
    for (const [path, p] of this.params) {
      const g = grads[path];
      const m = this.m.get(path)!;
      const v = this.v.get(path)!;
      m.assign(tf.add(tf.mul(m, BETA1), tf.mul(g, 1 - BETA1)));
      v.assign(tf.add(tf.mul(v, BETA2), tf.mul(tf.square(g), 1 - BETA2)));
      const step = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), EPS));
      const lrR = tf.reshape(lr, [lr.shape[0], ...new Array(p.rank - 1).fill(1)]); // [R, 1, …]
      p.assign(tf.sub(p, tf.mul(step, lrR)));
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}
