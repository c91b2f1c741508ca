/**
 * The model's parameters without TensorFlow.js: every path's shape and initialiser, per-run initial values
 * from the run's seeded streams, and stacking of R runs on a leading run axis as typed arrays. The fused
 * kernel, checkpoints and resume use only these, so none of them loads TensorFlow.js.
 */
import { Stream } from '../rng.js';
import type { Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { isModulePath, paramShape, userVariant, type ParamInit } from './variants.js';

export interface ParamSpec {
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
    if (isModulePath(cfg.attention)) {
      for (const [name, p] of Object.entries(userVariant(cfg.attention).params ?? {}))
        specs.set(`layer${l}/attn/${name}`, { shape: paramShape(p, { dModel: d, heads: cfg.heads }), draw: initialiser(p.init, bound) });
    }
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

/** A user variant's initialiser (model/variants.ts, ParamInit) as a draw from the parameter's stream. */
function initialiser(init: ParamInit, bound: number): (rng: Stream) => number {
  if (typeof init === 'number') return () => init;
  if (init === 'linear') return (rng) => (rng.uniform() * 2 - 1) * bound;
  if (init === 'normal') return (rng) => rng.normal();
  return init === 'ones' ? () => 1 : () => 0;
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

/** Parameter values of R runs, stacked [R, ...] per path, as stackRuns lays them out: what the fused kernels read and write. */
export type StackedParams = Map<string, Float32Array>;

/** The per-run values of R runs stacked on a leading run axis, by path, without their shapes: stackRuns for the fused kernels. */
export function stackedValues(cfg: ModelConfig, layout: Layout, perRun: Map<string, Float32Array>[]): StackedParams {
  return new Map([...stackRuns(cfg, layout, perRun)].map(([path, { values }]) => [path, values]));
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

/** The parameter at `path`; a missing one is a bug (a typo in a W_K path would silently make QKV keyless). */
export function param<T>(params: Map<string, T>, path: string): T {
  const value = params.get(path);
  if (value === undefined) throw new Error(`no parameter '${path}' (have: ${[...params.keys()].join(', ')})`);
  return value;
}
