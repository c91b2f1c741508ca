import { tf } from '../backend.js';

export type Variant = 'qkv' | 'qv';

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
 * Multi-head attention with a leading run axis R. `xq` holds the query positions (possibly a subset),
 * `x` all positions. Scores are Q·Kᵀ·scale in the standard variant and Q·Vᵀ·scale in the keyless one.
 * `mask` is additive, [Sq, N]. Call inside tf.tidy.
 *
 * The products are regrouped, exactly in algebra and up to float rounding in practice:
 *   Q·Kᵀ = (xq·W_Q)·(x·W_K)ᵀ = (xq·W_Q·W_Kᵀ)·xᵀ      softmax·(x·W_V) = (softmax·x)·W_V
 * so only the few query rows are projected, never every key and value. With one query row out of
 * nine (lookup) that removes the model's largest batched products.
 */
export function attention(xq: tf.Tensor, x: tf.Tensor, p: AttentionParams, heads: number, scale: number, mask: tf.Tensor | null): AttentionResult {
  const [R, B, Sq, d] = xq.shape as number[];
  const N = x.shape[2] as number;
  const H = heads;
  const wMatch = p.wK ?? p.wV; // keyless: match against the values themselves
  const match = tf.matMul(perHead(p.wQ, H), perHead(wMatch, H), false, true); // [R, H, d, d] = W_Q,h·W_K,hᵀ
  // Tiled, not broadcast, over heads: tfjs's batched product broadcasts only a batch of 1, on the whole batch.
  const queries = H === 1 ? tf.reshape(xq, [R, 1, B * Sq, d]) : tf.tile(tf.reshape(xq, [R, 1, B * Sq, d]), [1, H, 1, 1]); // [R, H, B·Sq, d]
  const probe = tf.matMul(queries, match); // [R, H, B·Sq, d]
  const rows = tf.reshape(H === 1 ? probe : tf.transpose(tf.reshape(probe, [R, H, B, Sq, d]), [0, 2, 1, 3, 4]), [R * B, H * Sq, d]); // [R·B, H·Sq, d]
  const keys = tf.reshape(x, [R * B, N, d]); // [R·B, N, d]
  let logits = tf.mul(tf.matMul(rows, keys, false, true), scale); // [R·B, H·Sq, N]
  if (mask) logits = tf.add(logits, H === 1 ? mask : tf.tile(mask, [H, 1]));
  const weights = tf.softmax(logits); // [R·B, H·Sq, N]
  const mixed = tf.matMul(weights, keys); // [R·B, H·Sq, d]: softmax·x, before W_V
  const byHead = H === 1 ? tf.reshape(mixed, [R, 1, B * Sq, d]) : tf.reshape(tf.transpose(tf.reshape(mixed, [R, B, H, Sq, d]), [0, 2, 1, 3, 4]), [R, H, B * Sq, d]); // [R, H, B·Sq, d]
  const valued = tf.matMul(byHead, perHead(p.wV, H)); // [R, H, B·Sq, dh]
  const out = H === 1 ? tf.reshape(valued, [R, B, Sq, d]) : tf.reshape(tf.transpose(tf.reshape(valued, [R, H, B, Sq, d / H]), [0, 2, 3, 1, 4]), [R, B, Sq, d]); // [R, B, Sq, d]
  const shape5 = [R, B, H, Sq, N];
  return { out, weights: tf.reshape(weights, shape5), logits: tf.reshape(logits, shape5) };
}

/** W [R, d, H·dh] → [R, H, d, dh]: each head's columns as its own matrix. */
function perHead(w: tf.Tensor, heads: number): tf.Tensor {
  const [R, d, width] = w.shape as number[];
  if (heads === 1) return tf.reshape(w, [R, 1, d, width]);
  return tf.transpose(tf.reshape(w, [R, d, heads, width / heads]), [0, 2, 1, 3]);
}

/** x [R, B, S, d] · W [R, d, d] → [R, B, S, d]: a projection, e.g. the Q, K and V that `explain` shows. */
export function project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [R, B, S, d] = x.shape as number[];
  return tf.reshape(tf.matMul(tf.reshape(x, [R, B * S, d]), w), [R, B, S, w.shape[2] as number]);
}

/** Additive causal mask for query positions [start, start+Sq) over N keys: key j is visible iff j ≤ i. */
export function causalMask(start: number, Sq: number, N: number): tf.Tensor {
  const values = new Float32Array(Sq * N);
  for (let i = 0; i < Sq; i++) for (let j = start + i + 1; j < N; j++) values[i * N + j] = MASKED;
  return tf.tensor2d(values, [Sq, N]);
}
