/**
 * The attention layer in tfjs, with a leading run axis R: R independent runs in one computation. Two forms
 * of the same function: the textbook one, which projects Q, K and V, and the regrouped one that the tfjs
 * model trains with. test/model/attention.test.ts checks both against hand-computed numbers and each other.
 */
import { tf } from '../backend.js';
import type { Variant } from './schema.js';
import { MASKED, RMS_EPS } from './numerics.js';
import type { VariantDefinition } from './variants.js';
import { UserError, firstLine } from '../errors.js';

export type { Variant };

/** Projection matrices of one attention layer, each [R, d, d] (all heads side by side), and the QK-norm gains. */
export interface AttentionParams {
  /** What the queries are matched against: qkv x·W_K, qv x·W_V, qx x, qq x·W_Q (model/schema.ts, VARIANTS), or a user's module. */
  variant: Variant | string;
  /** A user's variant (model/variants.ts): its definition, path and this layer's extra parameters [R, ...shape]. */
  user?: { definition: VariantDefinition; path: string; params: Record<string, tf.Tensor> };
  wQ: tf.Tensor;
  /** Only qkv has W_K. */
  wK: tf.Tensor | null;
  wV: tf.Tensor;
  /** RMSNorm gains [R, 1, d] on the query and key sides of the score; null without QK-norm. */
  qNorm: tf.Tensor | null;
  kNorm: tf.Tensor | null;
}

/** The key projection of a variant, [R, d, d]; null for qx, whose keys are x itself. */
function keyWeights(p: AttentionParams): tf.Tensor | null {
  if (p.variant === 'qkv') return p.wK!;
  if (p.variant === 'qv') return p.wV;
  if (p.variant === 'qq') return p.wQ;
  return null;
}

/** RMSNorm over each head's dh columns of t [R·B·H, S, dh], times the gain [R, 1, d]. */
function rmsNormHeads(t: tf.Tensor, gain: tf.Tensor, R: number, heads: number): tf.Tensor {
  const [RBH, S, dh] = t.shape as number[];
  const normed = tf.mul(t, tf.rsqrt(tf.add(tf.mean(tf.square(t), -1, true), RMS_EPS))); // [R·B·H, S, dh]
  const g = tf.reshape(gain, [R, 1, heads, 1, dh]); // [R, 1, H, 1, dh]: each head's slice of the gain
  return tf.reshape(tf.mul(tf.reshape(normed, [R, RBH / (R * heads), heads, S, dh]), g), [RBH, S, dh]);
}

export interface AttentionResult {
  out: tf.Tensor; // [R, B, Sq, d]
  weights: tf.Tensor; // [R, B, H, Sq, N] softmax over the last axis
  logits: tf.Tensor; // [R, B, H, Sq, N] scaled scores, masked entries at MASKED
  /** [R·B·H, N, dh] the values, where a user's variant computes its own (they are then not x·W_V): the value norms read them. */
  ownValues?: tf.Tensor;
}

export { MASKED }; // model/numerics.ts

/**
 * Textbook multi-head attention. `xq` [R, B, Sq, d] holds the query positions (possibly a subset), `x`
 * [R, B, N, d] all positions; `mask` is additive [Sq, N]. Call inside tf.tidy.
 *
 *   Q = xq·W_Q    K = x·W_K (qv: x·W_V, qx: x, qq: x·W_Q)    V = x·W_V
 *   with QK-norm: Q_h ← g_q,h · Q_h / rms(Q_h),  K_h ← g_k,h · K_h / rms(K_h)   (V is never normed)
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
  let q = splitHeads(project(xq, p.wQ), heads); // [R·B·H, Sq, dh]
  let v: tf.Tensor;
  let k: tf.Tensor;
  if (p.user) {
    ({ keys: k, values: v } = userKeysAndValues(x, p, heads));
  } else {
    v = splitHeads(project(x, p.wV), heads); // [R·B·H, N, dh]
    const wKey = keyWeights(p);
    k = wKey === p.wV ? v : splitHeads(wKey ? project(x, wKey) : x, heads); // [R·B·H, N, dh]
  }
  if (p.qNorm && p.kNorm) {
    q = rmsNormHeads(q, p.qNorm, R, heads); // [R·B·H, Sq, dh]
    k = rmsNormHeads(k, p.kNorm, R, heads); // [R·B·H, N, dh]: a normed copy; in qv the returned values stay raw
  }
  let logits = tf.mul(tf.matMul(q, k, false, true), scale); // [R·B·H, Sq, N]
  if (mask) logits = tf.add(logits, mask);
  const weights = tf.softmax(logits); // [R·B·H, Sq, N]
  const out = mergeHeads(tf.matMul(weights, v), R, B, heads); // [R, B, Sq, d]
  const shape5 = [R, B, heads, Sq, N];
  const result: AttentionResult = { out, weights: tf.reshape(weights, shape5), logits: tf.reshape(logits, shape5) };
  if (p.user?.definition.values) result.ownValues = v; // already computed: no work added to a training step
  return result;
}

/** A user variant's keys and values (x·W_V unless it computes its own), each checked to be [R, B, N, d], split into heads. */
function userKeysAndValues(x: tf.Tensor, p: AttentionParams, heads: number): { keys: tf.Tensor; values: tf.Tensor } {
  const { definition, path, params } = p.user!;
  const d = x.shape[3] as number;
  const context = { tf, x, wQ: p.wQ, wV: p.wV, params, dModel: d, heads };
  const checked = (what: 'keys' | 'values', t: unknown): tf.Tensor => {
    if (!(t instanceof tf.Tensor))
      throw new UserError(`variant module ${path}: ${what}() must return a tensor made with the tf it is given, got ${typeof t}`);
    if (t.shape.join() !== x.shape.join())
      throw new UserError(
        `variant module ${path}: ${what}() returned shape [${t.shape.join(', ')}], expected [R, B, N, d] = [${x.shape.join(', ')}]`,
      );
    return splitHeads(t, heads); // [R·B·H, N, dh]
  };
  const call = (what: 'keys' | 'values', f: (c: typeof context) => unknown): tf.Tensor => {
    let out: unknown;
    try {
      out = f(context);
    } catch (err) {
      throw new UserError(`variant module ${path}: ${what}() threw: ${firstLine(err)}`);
    }
    return checked(what, out);
  };
  const keys = call('keys', (c) => definition.keys(c));
  const values = definition.values ? call('values', (c) => definition.values!(c)) : splitHeads(project(x, p.wV), heads);
  return { keys, values };
}

/**
 * The same function, regrouped: exact in algebra, equal up to float rounding in practice.
 *
 *   Q_h·K_hᵀ = (xq·W_Q,h·W_K,hᵀ)·xᵀ          softmax·V_h = (softmax·x)·W_V,h
 *
 * (W_K,h is the variant's key projection: W_V,h for qv, W_Q,h for qq, and for qx the identity's columns of head
 * h.) Only the few query rows meet a d×d matrix; the keys and values are never projected. With one query row out
 * of nine (lookup) that removes the largest batched products, which wasm runs slowly. QK-norm makes the score
 * nonlinear in x, so with it this takes the textbook path.
 */
export function attention(xq: tf.Tensor, x: tf.Tensor, p: AttentionParams, heads: number, scale: number, mask: tf.Tensor | null): AttentionResult {
  if (p.qNorm || p.user) return textbookAttention(xq, x, p, heads, scale, mask); // a user's keys need not be linear in x
  const [R, B, Sq, d] = xq.shape as number[];
  const N = x.shape[2] as number;
  const H = heads;
  const wKey = keyWeights(p) ?? tf.tile(tf.reshape(tf.eye(d), [1, d, d]), [R, 1, 1]); // [R, d, d]
  const match = tf.matMul(perHead(p.wQ, H), perHead(wKey, H), false, true); // [R, H, d, d]: W_Q,h·W_K,hᵀ
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
