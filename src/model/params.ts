/**
 * The model's parameters as tfjs variables with a leading run axis [R, ...], for the tfjs graph. Shapes,
 * initial values and stacking as typed arrays live in paramSpecs.ts, which does not load TensorFlow.js.
 */
import { tf } from '../backend.js';
import type { Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { stackRuns } from './paramSpecs.js';

export { paramSpecs, initialValues, stackRuns, stackedValues, param, type ParamSpec } from './paramSpecs.js';

/** Parameters keyed by path (`layer0/attn/w_q`), never by tfjs variable name, which is process-global. */
export type Params = Map<string, tf.Variable>;

/** Splits [R, ...] variables back into per-run values, e.g. for a checkpoint. */
export function unstackRuns(vars: Map<string, tf.Variable>): Map<string, Float32Array>[] {
  const perRun: Map<string, Float32Array>[] = [];
  for (const [path, v] of vars) {
    const all = v.dataSync() as Float32Array;
    const R = v.shape[0] as number;
    const size = all.length / R;
    for (let r = 0; r < R; r++) (perRun[r] ??= new Map()).set(path, all.slice(r * size, (r + 1) * size));
  }
  return perRun;
}

/** Variables with a leading run axis [R, ...] from per-run values. */
export function makeParams(cfg: ModelConfig, layout: Layout, perRun: Map<string, Float32Array>[]): Params {
  const params: Params = new Map();
  for (const [path, { shape, values }] of stackRuns(cfg, layout, perRun)) {
    params.set(
      path,
      tf.tidy(() => tf.variable(tf.tensor(values, shape))),
    ); // tidy frees the tensor the variable copied
  }
  return params;
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}
