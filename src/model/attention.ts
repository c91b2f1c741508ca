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
  q: tf.Tensor; // [R*B*H, Sq, dh]
  k: tf.Tensor; // [R*B*H, N, dh]; the same tensor as v when keyless
  v: tf.Tensor; // [R*B*H, N, dh]
}

/** Additive mask value: exp underflows to exactly 0, and it never wins a max over real logits. */
export const MASKED = -1e9;

/**
 * Multi-head attention with a leading run axis R. `xq` holds the query positions (possibly a subset),
 * `xkv` all positions. Scores are Q·Kᵀ·scale in the standard variant and Q·Vᵀ·scale in the keyless one.
 * `mask` is additive, [Sq, N]. Call inside tf.tidy.
 */
export function attention(xq: tf.Tensor, xkv: tf.Tensor, p: AttentionParams, heads: number, scale: number, mask: tf.Tensor | null): AttentionResult {
  const [R, B, Sq, d] = xq.shape as number[];
  const N = xkv.shape[2] as number;
  const q = splitHeads(project(xq, p.wQ), heads); // [R*B*H, Sq, dh]
  const v = splitHeads(project(xkv, p.wV), heads); // [R*B*H, N, dh]
  const k = p.wK ? splitHeads(project(xkv, p.wK), heads) : v; // keyless: match against the values themselves
  let logits = tf.mul(tf.matMul(q, k, false, true), scale); // [R*B*H, Sq, N]
  if (mask) logits = tf.add(logits, mask);
  const weights = tf.softmax(logits); // [R*B*H, Sq, N]
  const mixed = tf.matMul(weights, v); // [R*B*H, Sq, dh]
  const out = mergeHeads(mixed, [R, B, Sq, d], heads); // [R, B, Sq, d]
  const shape5 = [R, B, heads, Sq, N];
  return { out, weights: tf.reshape(weights, shape5), logits: tf.reshape(logits, shape5), q, k, v };
}

/** x [R, B, S, d] · W [R, d, d] → [R, B, S, d]. */
function project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [R, B, S, d] = x.shape as number[];
  return tf.reshape(tf.matMul(tf.reshape(x, [R, B * S, d]), w), [R, B, S, w.shape[2] as number]);
}

/** [R, B, S, H·dh] → [R·B·H, S, dh]; a plain reshape for one head (the default), saving a transpose. */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [R, B, S, d] = x.shape as number[];
  const dh = d / heads;
  if (heads === 1) return tf.reshape(x, [R * B, S, dh]);
  return tf.reshape(tf.transpose(tf.reshape(x, [R, B, S, heads, dh]), [0, 1, 3, 2, 4]), [R * B * heads, S, dh]);
}

/** [R·B·H, S, dh] → [R, B, S, H·dh]. */
function mergeHeads(x: tf.Tensor, [R, B, S, d]: number[], heads: number): tf.Tensor {
  if (heads === 1) return tf.reshape(x, [R, B, S, d]);
  return tf.reshape(tf.transpose(tf.reshape(x, [R, B, heads, S, d / heads]), [0, 1, 3, 2, 4]), [R, B, S, d]);
}

/** Additive causal mask for query positions [start, start+Sq) over N keys: key j is visible iff j ≤ i. */
export function causalMask(start: number, Sq: number, N: number): tf.Tensor {
  const values = new Float32Array(Sq * N);
  for (let i = 0; i < Sq; i++) for (let j = start + i + 1; j < N; j++) values[i * N + j] = MASKED;
  return tf.tensor2d(values, [Sq, N]);
}
