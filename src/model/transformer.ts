/**
 * The whole model, for R runs at once: every parameter has a leading run axis, so R independent
 * runs (different seeds and learning rates, same shapes) train as one batched computation.
 *
 *   x = onehot(features) · table + pos                    embeddings (no gather: wasm has no gather gradient)
 *   for each layer: x = LayerNorm(x + Attention(x))       the last layer only at the supervised positions
 *   logits = x · W_unembed
 */
import { tf } from '../backend.js';
import { Stream } from '../rng.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { attention, causalMask, type AttentionResult } from './attention.js';

/** Parameters keyed by path (`layer0/attn/w_q`), never by tfjs variable name, which is process-global. */
export type Params = Map<string, tf.Variable>;

interface ParamSpec {
  shape: number[]; // per run, without the R axis
  draw: (rng: Stream) => number;
}

const LN_EPS = 1e-5; // PyTorch's LayerNorm default, as in the reference

/** Every parameter's shape and initialiser. The keyless variant simply has no `w_k`. */
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
export function stackRuns(cfg: ModelConfig, layout: Layout, perRun: Map<string, Float32Array>[]): Map<string, { shape: number[]; values: Float32Array }> {
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
    params.set(path, tf.tidy(() => tf.variable(tf.tensor(values, shape)))); // tidy frees the tensor the variable copied
  }
  return params;
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}

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

export interface ForwardResult {
  logits: tf.Tensor; // [R, B·S, outputVocab]
  layers: AttentionResult[]; // per layer; weights/logits cover the supervised query rows in the last layer
  layerInputs: tf.Tensor[]; // per layer, the x it reads [R, B, N, d] (value norms for the claims)
}

/** The forward pass for R runs on a batch of B examples. Call inside tf.tidy. */
export function forward(params: Params, cfg: ModelConfig, layout: Layout, input: tf.Tensor, B: number): ForwardResult {
  const R = params.get('embed/table')!.shape[0] as number;
  const { positions: N, queryStart, queryCount: S } = layout;
  const d = cfg.dModel;
  const pos = tf.reshape(params.get('embed/pos')!, [R, 1, N, d]); // [R, 1, N, d]
  let x = tf.add(tf.reshape(embed(input, params.get('embed/table')!), [R, B, N, d]), pos); // [R, B, N, d]
  if (cfg.inputScale !== 1) x = tf.mul(x, cfg.inputScale); // skipped at 1, so default runs keep their exact floats
  const layers: AttentionResult[] = [];
  const layerInputs: tf.Tensor[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    layerInputs.push(x);
    const last = l === cfg.layers - 1;
    // The last layer's output is only read at the supervised positions, so only those rows are queried.
    const xq = last ? tf.slice(x, [0, 0, queryStart, 0], [R, B, S, d]) : x; // [R, B, Sq, d]
    const start = last ? queryStart : 0;
    const mask = layout.causal ? causalMask(start, xq.shape[2] as number, N) : null;
    const attn = attention(xq, x, layerParams(params, l), cfg.heads, 1 / Math.sqrt(d / cfg.heads), mask);
    layers.push(attn);
    x = layerNorm(tf.add(xq, attn.out), params.get(`layer${l}/ln/gamma`)!, params.get(`layer${l}/ln/beta`)!); // [R, B, Sq, d]
  }
  const logits = tf.matMul(tf.reshape(x, [R, B * S, d]), params.get('unembed/w')!); // [R, B·S, C]
  return { logits, layers, layerInputs };
}

/**
 * one-hot [R or 1, rows, V] · table [R, V, d] → [R, rows, d]. When every run reads the same input (the eval
 * set), the runs' tables sit side by side in one 2-D product, which wasm runs far faster than a broadcast
 * batched product.
 */
function embed(input: tf.Tensor, table: tf.Tensor): tf.Tensor {
  const [R, V, d] = table.shape as number[];
  const rows = input.shape[1] as number;
  if (input.shape[0] === R) return tf.matMul(input, table); // [R, rows, d]
  const sideBySide = tf.reshape(tf.transpose(table, [1, 0, 2]), [V, R * d]); // [V, R·d]
  const all = tf.matMul(tf.reshape(input, [rows, V]), sideBySide); // [rows, R·d]
  return tf.transpose(tf.reshape(all, [rows, R, d]), [1, 0, 2]); // [R, rows, d]
}

function layerParams(params: Params, l: number) {
  return {
    wQ: params.get(`layer${l}/attn/w_q`)!,
    wK: params.get(`layer${l}/attn/w_k`) ?? null,
    wV: params.get(`layer${l}/attn/w_v`)!,
  };
}

/** LayerNorm over the last axis; gamma, beta [R, 1, d] broadcast over batch and positions. */
function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const [R, , , d] = x.shape as number[];
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LN_EPS)));
  return tf.add(tf.mul(normed, tf.reshape(gamma, [R, 1, 1, d])), tf.reshape(beta, [R, 1, 1, d]));
}

/** Mean cross-entropy per run [R] over all supervised positions; `targets` is one-hot [R or 1, B·S, C]. */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  const rows = logits.shape[1] as number;
  return tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), targets), [1, 2])), rows); // [R]
}
