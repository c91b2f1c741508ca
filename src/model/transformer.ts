/**
 * The whole model in tfjs, for R runs at once: every parameter has a leading run axis, so R independent
 * runs (different seeds and learning rates, same shapes) train as one batched computation. Gradients come
 * from tfjs autodiff. This is the reference formulation; the WebAssembly kernel (model/kernel.ts) computes every
 * built-in model faster and is tested against it.
 *
 *   x = onehot(features) · table + pos                    embeddings (wasm has no gather gradient)
 *   for each layer: x = LayerNorm(x + Attention(x))       the last layer only at the supervised positions
 *   logits = x · W_unembed
 */
import { tf } from '../backend.js';
import type { Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { attention, causalMask, type AttentionParams, type AttentionResult } from './attention.js';
import { param, type Params } from './params.js';
import { LN_EPS } from './numerics.js';
import { isModulePath, userVariant } from './variants.js';

export interface ForwardResult {
  logits: tf.Tensor; // [R, B·S, outputVocab]
  layers: AttentionResult[]; // per layer; weights/logits cover the supervised query rows in the last layer
  layerInputs: tf.Tensor[]; // per layer, the x it reads [R, B, N, d] (value norms for the claims)
}

/** The forward pass for R runs on a batch of B examples. Call inside tf.tidy. */
export function forward(params: Params, cfg: ModelConfig, layout: Layout, input: tf.Tensor, B: number): ForwardResult {
  const R = param(params, 'embed/table').shape[0] as number;
  const { positions: N, queryStart, queryCount: S } = layout;
  const d = cfg.dModel;
  const pos = tf.reshape(param(params, 'embed/pos'), [R, 1, N, d]); // [R, 1, N, d]
  let x = tf.add(tf.reshape(embed(input, param(params, 'embed/table')), [R, B, N, d]), pos); // [R, B, N, d]
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
    const attn = attention(xq, x, layerParams(params, cfg, l), cfg.heads, 1 / Math.sqrt(d / cfg.heads), mask);
    layers.push(attn);
    x = layerNorm(tf.add(xq, attn.out), param(params, `layer${l}/ln/gamma`), param(params, `layer${l}/ln/beta`)); // [R, B, Sq, d]
  }
  const logits = tf.matMul(tf.reshape(x, [R, B * S, d]), param(params, 'unembed/w')); // [R, B·S, C]
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

function layerParams(params: Params, cfg: ModelConfig, l: number): AttentionParams {
  const at = `layer${l}/attn`;
  const user = isModulePath(cfg.attention) ? userVariant(cfg.attention) : null;
  return {
    ...(user && {
      user: {
        definition: user,
        path: cfg.attention,
        params: Object.fromEntries(Object.keys(user.params ?? {}).map((name) => [name, param(params, `${at}/${name}`)])),
      },
    }),
    variant: cfg.attention,
    wQ: param(params, `${at}/w_q`),
    wK: cfg.attention === 'qkv' ? param(params, `${at}/w_k`) : null, // only qkv has W_K
    wV: param(params, `${at}/w_v`),
    qNorm: cfg.qkNorm ? param(params, `${at}/q_norm`) : null,
    kNorm: cfg.qkNorm ? param(params, `${at}/k_norm`) : null,
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
