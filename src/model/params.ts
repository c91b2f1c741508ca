/**
 * The model's parameters: every path's shape and initialiser, per-run initial values from the run's seeded
 * streams, and stacking of R runs on a leading run axis (typed arrays, or tfjs variables for the graph).
 */
import { tf } from '../backend.js';
import { Stream } from '../rng.js';
import type { Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';

/** Parameters keyed by path (`layer0/attn/w_q`), never by tfjs variable name, which is process-global. */
export type Params = Map<string, tf.Variable>;

interface ParamSpec {
  shape: number[]; // per run, without the R axis
  draw: (rng: Stream) => number;
}

/** Every parameter's shape and initialiser. Only qkv has a `w_k`; QK-norm adds two gains per layer. */
export function paramSpecs(cfg: ModelConfig, layout: Layout): Map<string, ParamSpec> {
  const d = cfg.dModel;
  const bound = cfg.initScale / Math.sqrt(d);
  const uniform = (b: number) => (rng: Stream) => (rng.uniform() * 2 - 1) * b;
  const specs = new Map<string, ParamSpec>();
  specs.set('embed/table', { shape: [layout.inputVocab, d], draw: (rng) => rng.normal() * cfg.embStd });
  specs.set('embed/pos', { shape: [layout.positions, d], draw: (rng) => rng.normal() * cfg.embStd });
  for (let l = 0; l < cfg.layers; l++) {
    specs.set(`layer${l}/attn/w_q`, { shape: [d, d], draw: uniform(bound) });
    if (cfg.attention === 'qkv') specs.set(`layer${l}/attn/w_k`, { shape: [d, d], draw: uniform(bound) });
    specs.set(`layer${l}/attn/w_v`, { shape: [d, d], draw: uniform(bound) });
    if (cfg.qkNorm) {
      specs.set(`layer${l}/attn/q_norm`, { shape: [1, d], draw: () => 1 }); // RMSNorm gains, per head dimension (heads side by side)
      specs.set(`layer${l}/attn/k_norm`, { shape: [1, d], draw: () => 1 });
    }
    specs.set(`layer${l}/ln/gamma`, { shape: [1, d], draw: () => 1 });
    specs.set(`layer${l}/ln/beta`, { shape: [1, d], draw: () => 0 });
  }
  specs.set('unembed/w', { shape: [d, layout.outputVocab], draw: uniform(1 / Math.sqrt(d)) });
  return specs;
}

/** Initial values for one run: each parameter from its own stream, so runs with one seed share every common parameter. */
export function initialValues(cfg: ModelConfig, layout: Layout, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, spec] of paramSpecs(cfg, layout)) {
    const rng = Stream.derive(seed, `init/${path}`);
    const values = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = spec.draw(rng);
    out.set(path, values);
  }
  return out;
}

/** Stacks per-run values (by parameter path) into one Float32Array per path with a leading run axis [R, ...]. */
export function stackRuns(
  cfg: ModelConfig,
  layout: Layout,
  perRun: Map<string, Float32Array>[],
): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [path, spec] of paramSpecs(cfg, layout)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const stacked = new Float32Array(perRun.length * size);
    perRun.forEach((values, r) => {
      const v = values.get(path);
      if (!v || v.length !== size) throw new Error(`parameter ${path}: expected ${size} values for run ${r}`);
      stacked.set(v, r * size);
    });
    out.set(path, { shape: [perRun.length, ...spec.shape], values: stacked });
  }
  return out;
}

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

/** The parameter at `path`; a missing one is a bug (a typo in a W_K path would silently make QKV keyless). */
export function param<T>(params: Map<string, T>, path: string): T {
  const value = params.get(path);
  if (value === undefined) throw new Error(`no parameter '${path}' (have: ${[...params.keys()].join(', ')})`);
  return value;
}
