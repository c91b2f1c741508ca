/**
 * The attention layer in tfjs, with a leading run axis R: R independent runs in one computation. Two forms
 * of the same function: the textbook one, which projects Q, K and V, and the regrouped one that the tfjs
 * model trains with. test/model/attention.test.ts checks both against hand-computed numbers and each other.
 */
import { tf } from '../backend.js';
import type { ModelConfig } from './schema.js';

/** `qkv` is standard attention, `qv` keyless: scores = Q·Vᵀ, and W_K does not exist. */
export type Variant = ModelConfig['attention'];

/** Projection matrices of one attention layer, each [R, d, d] (all heads side by side). */
export interface AttentionParams {
  wQ: tf.Tensor;
  /** null in the keyless variant: W_K does not exist there. */
  wK: tf.Tensor | null;
  wV: tf.Tensor;
}

export interface AttentionResult {
  out: tf.Tensor; // [R, B, Sq, d]
  weights: tf.Tensor; // [R, B, H, Sq, N] softmax over the last axis
  logits: tf.Tensor; // [R, B, H, Sq, N] scaled scores, masked entries at MASKED
}

/** Additive mask value: exp underflows to exactly 0, and it never wins a max over real logits. */
export const MASKED = -1e9;

/**
 * Textbook multi-head attention. `xq` [R, B, Sq, d] holds the query positions (possibly a subset), `x`
 * [R, B, N, d] all positions; `mask` is additive [Sq, N]. Call inside tf.tidy.
 *
 *   Q = xq·W_Q    K = x·W_K (keyless: K = V)    V = x·W_V
 *   weights = softmax(Q_h·K_hᵀ·scale + mask)    out_h = weights·V_h    out = [out_1 … out_H]
 */
export function textbookAttention(
  xq: tf.Tensor,
  x: tf.Tensor,
  p: AttentionParams,
  heads: number,
  scale: number,
  mask: tf.Tensor | null,
): AttentionResult {
  const [R, B, Sq] = xq.shape as number[];
  const N = x.shape[2] as number;
  const q = splitHeads(project(xq, p.wQ), heads); // [R·B·H, Sq, dh]
  const v = splitHeads(project(x, p.wV), heads); // [R·B·H, N, dh]
  const k = p.wK ? splitHeads(project(x, p.wK), heads) : v; // [R·B·H, N, dh]
  let logits = tf.mul(tf.matMul(q, k, false, true), scale); // [R·B·H, Sq, N]
  if (mask) logits = tf.add(logits, mask);
  const weights = tf.softmax(logits); // [R·B·H, Sq, N]
  const out = mergeHeads(tf.matMul(weights, v), R, B, heads); // [R, B, Sq, d]
  const shape5 = [R, B, heads, Sq, N];
  return { out, weights: tf.reshape(weights, shape5), logits: tf.reshape(logits, shape5) };
}

/**
 * The same function, regrouped: exact in algebra, equal up to float rounding in practice.
 *
 *   Q_h·K_hᵀ = (xq·W_Q,h·W_K,hᵀ)·xᵀ          softmax·V_h = (softmax·x)·W_V,h
 *
 * Only the few query rows meet a d×d matrix; the keys and values are never projected. With one query row
 * out of nine (lookup) that removes the largest batched products, which wasm runs slowly.
 */
export function attention(xq: tf.Tensor, x: tf.Tensor, p: AttentionParams, heads: number, scale: number, mask: tf.Tensor | null): AttentionResult {
  const [R, B, Sq, d] = xq.shape as number[];
  const N = x.shape[2] as number;
  const H = heads;
  const match = tf.matMul(perHead(p.wQ, H), perHead(p.wK ?? p.wV, H), false, true); // [R, H, d, d]: W_Q,h·W_K,hᵀ (keyless: W_V,h)
  // Tiled, not broadcast, over heads: tfjs's batched product broadcasts only a batch of 1, on the whole batch.
  const queries = tf.tile(tf.reshape(xq, [R, 1, B * Sq, d]), [1, H, 1, 1]); // [R, H, B·Sq, d]
  const probes = headsInsideExamples(tf.matMul(queries, match), B); // [R·B, H·Sq, d]: xq·W_Q,h·W_K,hᵀ
  const keys = tf.reshape(x, [R * B, N, d]); // [R·B, N, d]: the raw inputs stand in for K and V
  let logits = tf.mul(tf.matMul(probes, keys, false, true), scale); // [R·B, H·Sq, N]
  if (mask) logits = tf.add(logits, tf.tile(mask, [H, 1]));
  const weights = tf.softmax(logits); // [R·B, H·Sq, N]
  const mixed = headsOutsideExamples(tf.matMul(weights, keys), R, H); // [R, H, B·Sq, d]: softmax·x, before W_V
  const valued = tf.matMul(mixed, perHead(p.wV, H)); // [R, H, B·Sq, dh]
  const out = tf.reshape(tf.transpose(tf.reshape(valued, [R, H, B, Sq, d / H]), [0, 2, 3, 1, 4]), [R, B, Sq, d]); // [R, B, Sq, d]: heads side by side
  const shape5 = [R, B, H, Sq, N];
  return { out, weights: tf.reshape(weights, shape5), logits: tf.reshape(logits, shape5) };
}

/** x [R, B, S, d] · W [R, d, d'] → [R, B, S, d']: a projection, e.g. the Q, K and V that `explain` shows. */
export function project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [R, B, S, d] = x.shape as number[];
  return tf.reshape(tf.matMul(tf.reshape(x, [R, B * S, d]), w), [R, B, S, w.shape[2] as number]);
}

/** [R, B, S, H·dh] → [R·B·H, S, dh]: each head of each example as its own matrix. */
function splitHeads(t: tf.Tensor, heads: number): tf.Tensor {
  const [R, B, S, width] = t.shape as number[];
  return tf.reshape(tf.transpose(tf.reshape(t, [R, B, S, heads, width / heads]), [0, 1, 3, 2, 4]), [R * B * heads, S, width / heads]);
}

/** [R·B·H, S, dh] → [R, B, S, H·dh]: heads side by side again. */
function mergeHeads(t: tf.Tensor, R: number, B: number, heads: number): tf.Tensor {
  const [, S, dh] = t.shape as number[];
  return tf.reshape(tf.transpose(tf.reshape(t, [R, B, heads, S, dh]), [0, 1, 3, 2, 4]), [R, B, S, heads * dh]);
}

/** W [R, d, H·dh] → [R, H, d, dh]: each head's columns as its own matrix. */
function perHead(w: tf.Tensor, heads: number): tf.Tensor {
  const [R, d, width] = w.shape as number[];
  return tf.transpose(tf.reshape(w, [R, d, heads, width / heads]), [0, 2, 1, 3]);
}

/** [R, H, B·S, c] → [R·B, H·S, c]: every head's rows of one example together, to meet that example's keys. */
function headsInsideExamples(t: tf.Tensor, B: number): tf.Tensor {
  const [R, H, rows, c] = t.shape as number[];
  return tf.reshape(tf.transpose(tf.reshape(t, [R, H, B, rows / B, c]), [0, 2, 1, 3, 4]), [R * B, H * (rows / B), c]);
}

/** [R·B, H·S, c] → [R, H, B·S, c]: the inverse, to meet each head's weights. */
function headsOutsideExamples(t: tf.Tensor, R: number, H: number): tf.Tensor {
  const [RB, HS, c] = t.shape as number[];
  const B = RB / R;
  return tf.reshape(tf.transpose(tf.reshape(t, [R, B, H, HS / H, c]), [0, 2, 1, 3, 4]), [R, H, B * (HS / H), c]);
}

/** Additive causal mask for query positions [start, start+Sq) over N keys: key j is visible iff j ≤ i. */
export function causalMask(start: number, Sq: number, N: number): tf.Tensor {
  const values = new Float32Array(Sq * N);
  for (let i = 0; i < Sq; i++) for (let j = start + i + 1; j < N; j++) values[i * N + j] = MASKED;
  return tf.tensor2d(values, [Sq, N]);
}
