/**
 * The single-layer model, forward and backward, written out over typed arrays: a fused kernel for this
 * model's shapes. At these sizes (d = 8, nine positions) a training step is a few hundred thousand
 * multiply-adds per run, so the tfjs graph spends its time dispatching ~330 kernels and in wasm's slow
 * batched products (profiled: 36 of 49 ms at R = 25). This file does the same arithmetic in plain loops.
 * The tfjs formulation in transformer.ts stays the reference: test/model/fused.test.ts checks values and
 * gradients against it, and it serves every shape this kernel does not (more than one layer).
 *
 * The textbook layer, per example, for query row i (position t = queryStart + i) and head h:
 *
 *   x_j   = s · (Σ_f table[feature_jf] + pos_j)                 embedding, s = the input scale
 *   q_i   = x_t · W_Q      k_j = x_j · W_K      v_j = x_j · W_V  (keyless: k_j = v_j, W_K absent)
 *   a_ij  = q_i,h · k_j,h / √dh        p_ij = softmax_j(a_ij)    j ≤ t when causal
 *   o_i,h = Σ_j p_ij v_j,h                                        heads side by side
 *   z_i   = LayerNorm(x_t + o_i)        logits_i = z_i · W_unembed      loss = mean CE
 *
 * is computed regrouped, which is exact in algebra (tested to float rounding):
 *
 *   a_ij  = u_i,h · x_j / √dh   with u_i,h = x_t · M_h,  M_h = W_Q,h · W_K,hᵀ  (keyless: W_V,h)
 *   o_i,h = x̄_i,h · W_V,h       with x̄_i,h = Σ_j p_ij x_j
 *
 * so no key or value is ever projected: per example the work is the raw x_j, a few dot products with them,
 * and two small products per query row. And since x_t is a sum of table rows, u_i,h is a sum of rows of
 * the projected tables table·M_h and pos·M_h, computed once per step. Backward runs the same way in
 * reverse, and the gradients of the projected tables are turned into those of W_Q, W_K, W_V once per step.
 *
 * The variant only changes M_h's second factor (keyWeights: W_K, W_V, W_Q or the identity). QK-norm makes the
 * score nonlinear in x, so with it the scores take an explicit path at the end of this file (keys projected per
 * example, RMS-normed, then matched); the values stay regrouped, since they are never normed.
 *
 * Numbers are computed in float64 and stored in float32, so results equal the float32 tfjs graph to
 * rounding, not bit for bit. Every function here is deterministic.
 */
import type { Layout, Encoded } from '../tasks/types.js';
import { fusedSupports, fusedRefusal, type ModelConfig } from './schema.js';
import { param } from './paramSpecs.js';

/** Parameter values of R runs, stacked [R, ...] per path, as stackRuns lays them out. */
export type StackedParams = Map<string, Float32Array>;

/** What one pass over a batch yields per run; attention arrays only when asked for (evaluation). */
export interface FusedPass {
  loss: Float64Array; // [R] mean cross-entropy
  correct: Float64Array; // [R] fraction of supervised positions whose argmax is the target
  weights?: Float32Array; // [R, B, H, S, N] attention weights of the supervised rows
  logits?: Float32Array; // [R, B, H, S, N] scaled scores; masked entries hold MASKED
  inputs?: Float32Array; // [R, B, N, d] the layer's input x, when asked for (the claims' value norms)
}

/** Masked scores, as in the tfjs graph: exp underflows to 0 and they never win a max. */
const MASKED = -1e9;
const LN_EPS = 1e-5; // as in transformer.ts
/**
 * The largest float32. The tfjs graph stores every intermediate in float32, where a value past this is
 * infinite and the loss turns NaN: that is what "diverged" means. This kernel works in float64, so it checks
 * the quantities that overflow first (squared LayerNorm deviations, scores) against the float32 limit.
 */
const F32_MAX = 3.4028234663852886e38;

export { fusedSupports };

/**
 * One run's parameters, offsets and buffers, as `example` reads them. One object shape for every call, and
 * every field read into a local at the top of `example`, so V8 compiles it once and never deoptimises it.
 */
interface Ctx {
  d: number;
  H: number;
  dh: number;
  s: number;
  N: number;
  F: number;
  C: number;
  qStart: number;
  S: number;
  causal: boolean;
  scale: number;
  invRows: number;
  backward: boolean;
  r: number;
  B: number;
  table: Float32Array;
  pos: Float32Array;
  tAt: number;
  pAt: number;
  wv: Float32Array;
  wAt: number;
  gamma: Float32Array;
  beta: Float32Array;
  lnAt: number;
  unembed: Float32Array;
  uAt: number;
  tu: Float64Array;
  pu: Float64Array; // [H, V, d], [H, N, d]: table·M_h, pos·M_h
  feats: Int32Array;
  targets: Int32Array;
  weightsOut: Float32Array | null;
  logitsOut: Float32Array | null;
  inputsOut: Float32Array | null;
  x: Float64Array;
  u: Float64Array;
  xbar: Float64Array;
  p: Float64Array;
  a: Float64Array;
  y: Float64Array;
  z: Float64Array;
  cls: Float64Array;
  clsExp: Float64Array;
  g: Float64Array;
  gx: Float64Array;
  gxbar: Float64Array;
  gu: Float64Array;
  gp: Float64Array;
  gtu: Float64Array;
  gpu: Float64Array;
  gtable: Float64Array;
  gpos: Float64Array;
  ggamma: Float64Array;
  gbeta: Float64Array;
  zRows: Float64Array;
  gclsRows: Float64Array;
  xbarRows: Float64Array;
  gRows: Float64Array; // per supervised row of the batch, for the outer-product gradients
  lossSum: number;
  correct: number;
  /** QK-norm: the explicit score path (qkNormScores / qkNormBackward) instead of the regrouped one. */
  norm: QkNormStage | null;
}

/**
 * QK-norm's stage: scores from explicitly projected, RMS-normed queries and keys, since the normed score is no
 * longer bilinear in x and cannot be regrouped. Values stay on the regrouped path (x̄ · W_V), as they are never normed.
 */
interface QkNormStage {
  wq: Float32Array; // [R, d, d] W_Q
  wk: Float32Array; // [R, d, d] the variant's key projection (W_K, W_V, W_Q or the identity)
  gainQ: Float32Array; // [R, 1, d]
  gainK: Float32Array;
  q: Float64Array; // [H, S, dh] raw queries of the current example
  rq: Float64Array; // [H, S] their RMS
  qh: Float64Array; // [H, S, dh] normed queries (gain applied)
  k: Float64Array; // [H, N, dh] raw keys of the current example
  rk: Float64Array; // [H, N]
  kh: Float64Array; // [H, N, dh]
  gkh: Float64Array; // [H, N, dh] ∂loss/∂k̂, summed over the example's rows
  gwq: Float64Array; // [d, d] per-run accumulators
  gwk: Float64Array;
  ggainQ: Float64Array; // [d]
  ggainK: Float64Array;
  gz: Float64Array; // [dh] scratch: ∂ of the raw query or key
  gup: Float64Array; // [dh] scratch: ∂ of the normed query
}

/**
 * The fused model for a group of R runs that share one shape. `params` and `grads` are stacked [R, ...]
 * per path; the kernel reads the former and overwrites the latter.
 */
export class FusedModel {
  private readonly ctx: Ctx;
  private readonly m: Float64Array; // [H, d, d] M_h of the current run
  /** qx's key "projection": the identity, [R, d, d], so M_h = W_Q,h · I_hᵀ takes the same path as the others. */
  private readonly eye: Float32Array | null;
  /** Where a variant's key projection gets no gradient (qx: the identity is fixed), a scratch sink. */
  private readonly sink: Float32Array | null;

  constructor(
    private readonly cfg: ModelConfig,
    private readonly layout: Layout,
    readonly R: number,
  ) {
    if (!fusedSupports(cfg)) throw new Error(`the fused kernel cannot compute ${fusedRefusal(cfg)}`);
    const { positions: N, inputVocab: V, featuresPerPosition: F, outputVocab: C, queryStart, queryCount: S, causal } = layout;
    const d = cfg.dModel;
    const H = cfg.heads;
    const f64 = (n: number) => new Float64Array(n);
    const none = new Float32Array(0);
    this.m = f64(H * d * d);
    this.eye = cfg.attention === 'qx' ? new Float32Array(R * d * d) : null;
    for (let r = 0; this.eye && r < R; r++) for (let i = 0; i < d; i++) this.eye[r * d * d + i * d + i] = 1;
    this.sink = this.eye ? new Float32Array(R * d * d) : null;
    this.ctx = {
      d,
      H,
      dh: d / H,
      s: cfg.inputScale,
      N,
      F,
      C,
      qStart: queryStart,
      S,
      causal,
      scale: 1 / Math.sqrt(d / H),
      invRows: 0,
      backward: false,
      r: 0,
      B: 0,
      table: none,
      pos: none,
      tAt: 0,
      pAt: 0,
      wv: none,
      wAt: 0,
      gamma: none,
      beta: none,
      lnAt: 0,
      unembed: none,
      uAt: 0,
      tu: f64(H * V * d),
      pu: f64(H * N * d),
      feats: new Int32Array(0),
      targets: new Int32Array(0),
      weightsOut: null,
      logitsOut: null,
      inputsOut: null,
      x: f64(N * d),
      u: f64(H * S * d),
      xbar: f64(H * S * d),
      p: f64(H * S * N),
      a: f64(N),
      y: f64(S * d),
      z: f64(d),
      cls: f64(C),
      clsExp: f64(C),
      g: f64(d),
      gx: f64(N * d),
      gxbar: f64(d),
      gu: f64(d),
      gp: f64(N),
      gtu: f64(H * V * d),
      gpu: f64(H * N * d),
      gtable: f64(V * d),
      gpos: f64(N * d),
      ggamma: f64(d),
      gbeta: f64(d),
      zRows: f64(0),
      gclsRows: f64(0),
      xbarRows: f64(0),
      gRows: f64(0),
      lossSum: 0,
      correct: 0,
      norm: cfg.qkNorm
        ? {
            wq: none,
            wk: none,
            gainQ: none,
            gainK: none,
            q: f64(H * S * (d / H)),
            rq: f64(H * S),
            qh: f64(H * S * (d / H)),
            k: f64(H * N * (d / H)),
            rk: f64(H * N),
            kh: f64(H * N * (d / H)),
            gkh: f64(H * N * (d / H)),
            gwq: f64(d * d),
            gwk: f64(d * d),
            ggainQ: f64(d),
            ggainK: f64(d),
            gz: f64(d / H),
            gup: f64(d / H),
          }
        : null,
    };
  }

  /**
   * Loss per run on `batches[r]` (or one shared batch); with `grads`, also the gradient of each run's loss
   * with respect to its own parameters; with `attention`, the supervised rows' weights and scores; with
   * `inputs`, the layer's input x.
   */
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention = false, inputs = false): FusedPass {
    const { R } = this;
    const B = batches[0].count;
    const { queryCount: S, positions: N } = this.layout;
    const out: FusedPass = { loss: new Float64Array(R), correct: new Float64Array(R) };
    if (attention) {
      out.weights = new Float32Array(R * B * this.cfg.heads * S * N);
      out.logits = new Float32Array(R * B * this.cfg.heads * S * N);
    }
    if (inputs) out.inputs = new Float32Array(R * B * N * this.cfg.dModel);
    for (let r = 0; r < R; r++) {
      const batch = batches[batches.length === 1 ? 0 : r];
      this.startRun(r, params, batch, grads !== undefined, out);
      const ctx = this.ctx;
      for (let b = 0; b < B; b++) example(ctx, b);
      out.loss[r] = ctx.lossSum * ctx.invRows;
      out.correct[r] = ctx.correct * ctx.invRows;
      if (grads) this.finishGrads(r, params, grads);
    }
    return out;
  }

  /** Points the context at run r and projects its tables: M_h, table·M_h and pos·M_h. */
  private startRun(r: number, params: StackedParams, batch: Encoded, backward: boolean, out: FusedPass): void {
    const c = this.ctx;
    const { d, H, dh, N, S } = c;
    const V = this.layout.inputVocab;
    c.r = r;
    c.B = batch.count;
    c.invRows = 1 / (batch.count * S);
    c.backward = backward;
    c.table = param(params, 'embed/table');
    c.pos = param(params, 'embed/pos');
    c.wv = param(params, 'layer0/attn/w_v');
    c.gamma = param(params, 'layer0/ln/gamma');
    c.beta = param(params, 'layer0/ln/beta');
    c.unembed = param(params, 'unembed/w');
    c.tAt = r * V * d;
    c.pAt = r * N * d;
    c.wAt = r * d * d;
    c.lnAt = r * d;
    c.uAt = r * d * c.C;
    c.feats = batch.features;
    c.targets = batch.targets;
    c.weightsOut = out.weights ?? null;
    c.logitsOut = out.logits ?? null;
    c.inputsOut = out.inputs ?? null;
    c.lossSum = 0;
    c.correct = 0;
    const wq = param(params, 'layer0/attn/w_q');
    const wm = this.keyWeights(params);
    if (c.norm) {
      c.norm.wq = wq;
      c.norm.wk = wm;
      c.norm.gainQ = param(params, 'layer0/attn/q_norm');
      c.norm.gainK = param(params, 'layer0/attn/k_norm');
      if (backward) for (const a of [c.norm.gwq, c.norm.gwk, c.norm.ggainQ, c.norm.ggainK]) a.fill(0);
    }
    const m = this.m;
    for (let h = 0; h < H && !c.norm; h++) {
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let e = 0; e < dh; e++) acc += wq[c.wAt + i * d + h * dh + e] * wm[c.wAt + j * d + h * dh + e];
          m[(h * d + i) * d + j] = acc;
        }
      }
      projectRows(c.table, c.tAt, V, m, h * d * d, d, c.tu, h * V * d);
      projectRows(c.pos, c.pAt, N, m, h * d * d, d, c.pu, h * N * d);
    }
    if (backward) {
      for (const a of [c.gtu, c.gpu, c.gtable, c.gpos, c.ggamma, c.gbeta]) a.fill(0);
      const rows = batch.count * S;
      if (c.zRows.length < rows * d) {
        c.zRows = new Float64Array(rows * d);
        c.gclsRows = new Float64Array(rows * c.C);
        c.xbarRows = new Float64Array(rows * H * d);
        c.gRows = new Float64Array(rows * d);
      }
    }
  }

  /**
   * The variant's key projection W_M, M_h = W_Q,h · W_M,hᵀ (model/schema.ts, VARIANTS): W_K (qkv), W_V (qv),
   * W_Q (qq) or the identity (qx). Looked up in `params`, or in `grads` for where its gradient goes; a
   * variant's gradient adds to the parameter's own (qv's to W_V's value gradient, qq's to W_Q's query gradient).
   */
  private keyWeights(stacked: StackedParams, isGrad = false): Float32Array {
    switch (this.cfg.attention) {
      case 'qkv':
        return param(stacked, 'layer0/attn/w_k');
      case 'qv':
        return param(stacked, 'layer0/attn/w_v');
      case 'qq':
        return param(stacked, 'layer0/attn/w_q');
      case 'qx':
        return isGrad ? this.sink! : this.eye!;
    }
  }

  /** From the per-step accumulators to each parameter's gradient, for run r. */
  private finishGrads(r: number, params: StackedParams, grads: StackedParams): void {
    const c = this.ctx;
    const { d, H, dh, N, C } = c;
    const V = this.layout.inputVocab;
    const wq = param(params, 'layer0/attn/w_q');
    const wm = this.keyWeights(params);
    const gwq = param(grads, 'layer0/attn/w_q');
    const gwv = param(grads, 'layer0/attn/w_v');
    const gwm = this.keyWeights(grads, true);
    const { gtable, gpos, table, pos, tAt, pAt, wAt } = c;
    const m = this.m;
    // The outer-product gradients, summed over the batch's rows at once: W_V's (x̄ ⊗ g) and the unembedding's (z ⊗ ∂scores).
    const rows = c.B * c.S;
    const { zRows, gclsRows, xbarRows, gRows } = c;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < d; i++) {
        for (let e = 0; e < dh; e++) {
          let acc = 0;
          for (let row = 0; row < rows; row++) acc += xbarRows[(row * H + h) * d + i] * gRows[row * d + h * dh + e];
          gwv[wAt + i * d + h * dh + e] = acc;
        }
      }
    }
    const gunembed = param(grads, 'unembed/w');
    for (let i = 0; i < d; i++) {
      for (let k = 0; k < C; k++) {
        let acc = 0;
        for (let row = 0; row < rows; row++) acc += zRows[row * d + i] * gclsRows[row * C + k];
        gunembed[r * d * C + i * C + k] = acc;
      }
    }
    gwq.fill(0, wAt, wAt + d * d);
    if (gwm !== gwv) gwm.fill(0, wAt, wAt + d * d); // W_V's gradient already holds its value part
    const gm = new Float64Array(d * d);
    for (let h = 0; h < H; h++) {
      // u = x·M_h was a sum of rows of table·M_h and pos·M_h: M_h's gradient, and the rows' share.
      gm.fill(0);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let row = 0; row < V; row++) acc += table[tAt + row * d + i] * c.gtu[(h * V + row) * d + j];
          for (let row = 0; row < N; row++) acc += pos[pAt + row * d + i] * c.gpu[(h * N + row) * d + j];
          gm[i * d + j] = acc;
        }
      }
      for (let row = 0; row < V; row++) {
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += c.gtu[(h * V + row) * d + j] * m[(h * d + i) * d + j];
          gtable[row * d + i] += acc;
        }
      }
      for (let row = 0; row < N; row++) {
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += c.gpu[(h * N + row) * d + j] * m[(h * d + i) * d + j];
          gpos[row * d + i] += acc;
        }
      }
      // M_h = W_Q,h · W_M,hᵀ: its gradient splits into W_Q,h's and W_M,h's.
      for (let i = 0; i < d; i++) {
        for (let e = 0; e < dh; e++) {
          let accQ = 0;
          let accM = 0;
          for (let j = 0; j < d; j++) {
            accQ += gm[i * d + j] * wm[wAt + j * d + h * dh + e];
            accM += gm[j * d + i] * wq[wAt + j * d + h * dh + e];
          }
          gwq[wAt + i * d + h * dh + e] += accQ;
          gwm[wAt + i * d + h * dh + e] += accM;
        }
      }
    }
    if (c.norm) {
      // The explicit path's W_Q and key-projection gradients (the M_h path above contributed zeros).
      for (let i = 0; i < d * d; i++) {
        gwq[wAt + i] += c.norm.gwq[i];
        gwm[wAt + i] += c.norm.gwk[i];
      }
      for (let i = 0; i < d; i++) {
        param(grads, 'layer0/attn/q_norm')[r * d + i] = c.norm.ggainQ[i];
        param(grads, 'layer0/attn/k_norm')[r * d + i] = c.norm.ggainK[i];
      }
    }
    for (let i = 0; i < V * d; i++) param(grads, 'embed/table')[tAt + i] = gtable[i];
    param(grads, 'embed/pos').set(gpos, pAt);
    param(grads, 'layer0/ln/gamma').set(c.ggamma, r * d);
    param(grads, 'layer0/ln/beta').set(c.gbeta, r * d);
  }
}

/** rows [n, d] (from `rowsAt`) · M [d, d] (from `mAt`) → out [n, d] (from `outAt`). */
function projectRows(rows: Float32Array, rowsAt: number, n: number, m: Float64Array, mAt: number, d: number, out: Float64Array, outAt: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let e = 0; e < d; e++) acc += rows[rowsAt + i * d + e] * m[mAt + e * d + j];
      out[outAt + i * d + j] = acc;
    }
  }
}

/** Forward, and with ctx.backward backward, for example b of the context's run; accumulates into ctx. */
function example(ctx: Ctx, b: number): void {
  const { d, H, dh, s, N, F, C, qStart, S, causal, scale, invRows, backward, r, B, table, pos, tAt, pAt, wv, wAt, gamma, beta, lnAt, unembed, uAt } =
    ctx;
  const { tu, pu, feats, targets, weightsOut, logitsOut, inputsOut, x, u, xbar, p, a, y, z, cls, clsExp, g, gx, gxbar, gu, gp, norm } = ctx;
  const { gtu, gpu, gtable, gpos, ggamma, gbeta, zRows, gclsRows, xbarRows, gRows } = ctx;
  const V = tu.length / (H * d);
  const fAt = b * N * F;

  // x_j for every position: s · (sum of its table rows + its position row). Tasks have one or two
  // features per position, so those get a loop without an inner feature loop.
  for (let j = 0; j < N; j++) {
    const xAt = j * d;
    const posAt = pAt + j * d;
    if (F === 2) {
      const r0 = tAt + feats[fAt + 2 * j] * d;
      const r1 = tAt + feats[fAt + 2 * j + 1] * d;
      for (let c = 0; c < d; c++) x[xAt + c] = s * (pos[posAt + c] + table[r0 + c] + table[r1 + c]);
    } else if (F === 1) {
      const r0 = tAt + feats[fAt + j] * d;
      for (let c = 0; c < d; c++) x[xAt + c] = s * (pos[posAt + c] + table[r0 + c]);
    } else {
      for (let c = 0; c < d; c++) x[xAt + c] = pos[posAt + c];
      for (let f = 0; f < F; f++) {
        const at = tAt + feats[fAt + j * F + f] * d;
        for (let c = 0; c < d; c++) x[xAt + c] += table[at + c];
      }
      for (let c = 0; c < d; c++) x[xAt + c] *= s;
    }
  }
  if (inputsOut !== null) inputsOut.set(x, (r * B + b) * N * d);
  if (backward) gx.fill(0);
  if (norm !== null) qkNormKeys(ctx, norm);

  for (let i = 0; i < S; i++) {
    const t = qStart + i;
    const visible = causal ? t + 1 : N;
    for (let c = 0; c < d; c++) y[c] = x[t * d + c]; // the residual input
    for (let h = 0; h < H; h++) {
      const uh = (h * S + i) * d;
      let max = -Infinity;
      if (norm !== null) {
        max = qkNormScores(ctx, norm, h, i, t, visible);
      } else {
        // u = x_t · M_h, as a sum of projected rows.
        for (let c = 0; c < d; c++) u[uh + c] = pu[(h * N + t) * d + c];
        for (let f = 0; f < F; f++) {
          const at = (h * V + feats[fAt + t * F + f]) * d;
          for (let c = 0; c < d; c++) u[uh + c] += tu[at + c];
        }
        for (let c = 0; c < d; c++) u[uh + c] *= s;
        // Scores, softmax over the visible keys, and x̄ = Σ_j p_j x_j.
        for (let j = 0; j < visible; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += u[uh + c] * x[j * d + c];
          a[j] = dot * scale;
          if (a[j] > max) max = a[j];
        }
      }
      if (!(Math.abs(max) < F32_MAX)) ctx.lossSum = NaN; // float32 would have overflowed
      const pRow = (h * S + i) * N;
      let sum = 0;
      for (let j = 0; j < visible; j++) {
        const e = Math.exp(a[j] - max);
        p[pRow + j] = e;
        sum += e;
      }
      for (let j = 0; j < visible; j++) p[pRow + j] /= sum;
      for (let j = visible; j < N; j++) p[pRow + j] = 0;
      if (weightsOut !== null && logitsOut !== null) {
        const at = (((r * B + b) * H + h) * S + i) * N;
        for (let j = 0; j < N; j++) {
          weightsOut[at + j] = p[pRow + j];
          logitsOut[at + j] = j < visible ? a[j] : MASKED;
        }
      }
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j < visible; j++) acc += p[pRow + j] * x[j * d + c];
        xbar[uh + c] = acc;
      }
      // o_h = x̄ · W_V,h, added to the residual in head h's columns.
      for (let e = 0; e < dh; e++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += xbar[uh + c] * wv[wAt + c * d + h * dh + e];
        y[h * dh + e] += acc;
      }
    }
    // LayerNorm (biased variance, as tf.moments), then the unembedding and cross-entropy.
    let mean = 0;
    for (let c = 0; c < d; c++) mean += y[c];
    mean /= d;
    let variance = 0;
    for (let c = 0; c < d; c++) variance += (y[c] - mean) * (y[c] - mean);
    if (!(variance < F32_MAX)) ctx.lossSum = NaN; // float32 would have overflowed
    variance /= d;
    const invStd = 1 / Math.sqrt(variance + LN_EPS);
    for (let c = 0; c < d; c++) {
      y[c] = (y[c] - mean) * invStd; // y now holds the normalised row
      z[c] = y[c] * gamma[lnAt + c] + beta[lnAt + c];
    }
    for (let k = 0; k < C; k++) {
      let acc = 0;
      for (let c = 0; c < d; c++) acc += z[c] * unembed[uAt + c * C + k];
      cls[k] = acc;
    }
    let best = 0;
    for (let k = 1; k < C; k++) if (cls[k] > cls[best]) best = k;
    const top = cls[best];
    if (!(Math.abs(top) < F32_MAX)) ctx.lossSum = NaN; // float32 would have overflowed
    let sumExp = 0;
    for (let k = 0; k < C; k++) {
      clsExp[k] = Math.exp(cls[k] - top);
      sumExp += clsExp[k];
    }
    const target = targets[b * S + i];
    ctx.lossSum += Math.log(sumExp) + top - cls[target];
    if (best === target) ctx.correct++;
    if (!backward) continue;

    // Back through cross-entropy, the unembedding and LayerNorm, to g = ∂loss/∂(x_t + o).
    const row = b * S + i;
    for (let k = 0; k < C; k++) {
      cls[k] = (clsExp[k] / sumExp - (k === target ? 1 : 0)) * invRows;
      gclsRows[row * C + k] = cls[k];
    }
    let meanG = 0;
    let meanGy = 0;
    for (let c = 0; c < d; c++) {
      zRows[row * d + c] = z[c];
      let acc = 0;
      for (let k = 0; k < C; k++) acc += unembed[uAt + c * C + k] * cls[k];
      ggamma[c] += acc * y[c];
      gbeta[c] += acc;
      const gn = acc * gamma[lnAt + c];
      g[c] = gn;
      meanG += gn;
      meanGy += gn * y[c];
    }
    meanG /= d;
    meanGy /= d;
    for (let c = 0; c < d; c++) {
      g[c] = (g[c] - meanG - y[c] * meanGy) * invStd;
      gRows[row * d + c] = g[c];
      gx[t * d + c] += g[c]; // the residual branch
    }
    for (let h = 0; h < H; h++) {
      const uh = (h * S + i) * d;
      const pRow = (h * S + i) * N;
      // o_h = x̄ · W_V,h
      for (let c = 0; c < d; c++) {
        xbarRows[(row * H + h) * d + c] = xbar[uh + c];
        let acc = 0;
        for (let e = 0; e < dh; e++) acc += wv[wAt + c * d + h * dh + e] * g[h * dh + e];
        gxbar[c] = acc;
      }
      // x̄ = Σ p_j x_j and the softmax.
      let dot = 0;
      for (let j = 0; j < visible; j++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += gxbar[c] * x[j * d + c];
        gp[j] = acc;
        dot += p[pRow + j] * acc;
      }
      if (norm !== null) {
        for (let j = 0; j < visible; j++) {
          const pj = p[pRow + j];
          a[j] = pj * (gp[j] - dot) * scale; // ∂loss/∂(q̂·k̂_j), kept in the scores' buffer
          for (let c = 0; c < d; c++) gx[j * d + c] += pj * gxbar[c]; // the values' branch
        }
        qkNormRowBackward(ctx, norm, h, i, t, visible);
        continue;
      }
      gu.fill(0);
      for (let j = 0; j < visible; j++) {
        const pj = p[pRow + j];
        const ga = pj * (gp[j] - dot) * scale; // ∂loss/∂(u·x_j)
        for (let c = 0; c < d; c++) {
          gu[c] += ga * x[j * d + c];
          gx[j * d + c] += ga * u[uh + c] + pj * gxbar[c];
        }
      }
      // u was s · (a sum of rows of table·M_h and pos·M_h).
      for (let c = 0; c < d; c++) gpu[(h * N + t) * d + c] += s * gu[c];
      for (let f = 0; f < F; f++) {
        const at = (h * V + feats[fAt + t * F + f]) * d;
        for (let c = 0; c < d; c++) gtu[at + c] += s * gu[c];
      }
    }
  }
  if (!backward) return;
  if (norm !== null) qkNormKeysBackward(ctx, norm);
  // x_j was s · (a sum of table rows + a position row).
  for (let j = 0; j < N; j++) {
    const xAt = j * d;
    if (F === 2) {
      const r0 = feats[fAt + 2 * j] * d;
      const r1 = feats[fAt + 2 * j + 1] * d;
      for (let c = 0; c < d; c++) {
        const gc = s * gx[xAt + c];
        gpos[xAt + c] += gc;
        gtable[r0 + c] += gc;
        gtable[r1 + c] += gc;
      }
    } else {
      for (let c = 0; c < d; c++) {
        const gc = s * gx[xAt + c];
        gpos[xAt + c] += gc;
        for (let f = 0; f < F; f++) gtable[feats[fAt + j * F + f] * d + c] += gc;
      }
    }
  }
}

// ---- QK-norm: the explicit score path -----------------------------------------------------------------------
// q = x_t·W_Q,h   q̂ = g_Q,h ⊙ q / rms(q)   k_j = x_j·W_K,h   k̂_j = g_K,h ⊙ k_j / rms(k_j)   a_j = q̂·k̂_j / √dh
// with rms(z) = √(mean(z²) + ε). RMSNorm's backward, for n = z / rms(z) and upstream gradient γ on g ⊙ n:
//   ∂g = γ ⊙ n      ∂z = (γ ⊙ g − n · mean(γ ⊙ g ⊙ n)) / rms(z)

const RMS_EPS = 1e-6; // as in model/attention.ts

/** Raw keys, their RMS and the normed keys of every position and head of the current example. */
function qkNormKeys(ctx: Ctx, n: QkNormStage): void {
  const { d, H, dh, N, x, wAt, lnAt, backward } = ctx;
  const { wk, gainK, k, rk, kh } = n;
  for (let h = 0; h < H; h++) {
    for (let j = 0; j < N; j++) {
      const kAt = (h * N + j) * dh;
      let sq = 0;
      for (let e = 0; e < dh; e++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += x[j * d + c] * wk[wAt + c * d + h * dh + e];
        k[kAt + e] = acc;
        sq += acc * acc;
      }
      const rms = Math.sqrt(sq / dh + RMS_EPS);
      rk[h * N + j] = rms;
      for (let e = 0; e < dh; e++) kh[kAt + e] = (gainK[lnAt + h * dh + e] * k[kAt + e]) / rms;
    }
  }
  if (backward) n.gkh.fill(0);
}

/** Query row i (position t), head h: the normed query and its scores against the visible keys into ctx.a; returns their max. */
function qkNormScores(ctx: Ctx, n: QkNormStage, h: number, i: number, t: number, visible: number): number {
  const { d, dh, S, N, x, a, scale, wAt, lnAt } = ctx;
  const { wq, gainQ, q, rq, qh, kh } = n;
  const qAt = (h * S + i) * dh;
  let sq = 0;
  for (let e = 0; e < dh; e++) {
    let acc = 0;
    for (let c = 0; c < d; c++) acc += x[t * d + c] * wq[wAt + c * d + h * dh + e];
    q[qAt + e] = acc;
    sq += acc * acc;
  }
  const rms = Math.sqrt(sq / dh + RMS_EPS);
  rq[h * S + i] = rms;
  for (let e = 0; e < dh; e++) qh[qAt + e] = (gainQ[lnAt + h * dh + e] * q[qAt + e]) / rms;
  let max = -Infinity;
  for (let j = 0; j < visible; j++) {
    let dot = 0;
    for (let e = 0; e < dh; e++) dot += qh[qAt + e] * kh[(h * N + j) * dh + e];
    a[j] = dot * scale;
    if (a[j] > max) max = a[j];
  }
  return max;
}

/** RMSNorm backward for one vector z (from zAt, its rms r) and upstream γ (from upAt): adds ∂gain, writes ∂z to `out`. */
function rmsBackward(
  z: Float64Array,
  zAt: number,
  r: number,
  up: Float64Array,
  upAt: number,
  gain: Float32Array,
  gainAt: number,
  ggain: Float64Array,
  ggAt: number,
  dh: number,
  out: Float64Array,
): void {
  let mean = 0;
  for (let e = 0; e < dh; e++) {
    const nz = z[zAt + e] / r;
    ggain[ggAt + e] += up[upAt + e] * nz;
    mean += up[upAt + e] * gain[gainAt + e] * nz;
  }
  mean /= dh;
  for (let e = 0; e < dh; e++) out[e] = (up[upAt + e] * gain[gainAt + e] - (z[zAt + e] / r) * mean) / r;
}

/** Row i, head h, with ∂loss/∂a_j in ctx.a: back through the score to the normed query (now) and keys (accumulated). */
function qkNormRowBackward(ctx: Ctx, n: QkNormStage, h: number, i: number, t: number, visible: number): void {
  const { d, dh, S, N, x, a, gx, wAt, lnAt } = ctx;
  const { wq, gainQ, q, rq, qh, kh, gkh, gwq, ggainQ, gz, gup } = n;
  const qAt = (h * S + i) * dh;
  // ∂q̂ = Σ_j ∂a_j k̂_j now; ∂k̂_j += ∂a_j q̂, finished once every row has added its share.
  for (let e = 0; e < dh; e++) {
    let acc = 0;
    for (let j = 0; j < visible; j++) acc += a[j] * kh[(h * N + j) * dh + e];
    gup[e] = acc;
  }
  for (let j = 0; j < visible; j++) for (let e = 0; e < dh; e++) gkh[(h * N + j) * dh + e] += a[j] * qh[qAt + e];
  rmsBackward(q, qAt, rq[h * S + i], gup, 0, gainQ, lnAt + h * dh, ggainQ, h * dh, dh, gz);
  // q = x_t · W_Q,h
  for (let c = 0; c < d; c++) {
    let acc = 0;
    for (let e = 0; e < dh; e++) {
      gwq[c * d + h * dh + e] += x[t * d + c] * gz[e];
      acc += wq[wAt + c * d + h * dh + e] * gz[e];
    }
    gx[t * d + c] += acc;
  }
}

/** After every row of the example: back through the keys' RMSNorm and projection, into the key weights and x_j. */
function qkNormKeysBackward(ctx: Ctx, n: QkNormStage): void {
  const { d, H, dh, N, x, gx, wAt, lnAt } = ctx;
  const { wk, gainK, k, rk, gkh, gwk, ggainK, gz } = n;
  for (let h = 0; h < H; h++) {
    for (let j = 0; j < N; j++) {
      const kAt = (h * N + j) * dh;
      rmsBackward(k, kAt, rk[h * N + j], gkh, kAt, gainK, lnAt + h * dh, ggainK, h * dh, dh, gz);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let e = 0; e < dh; e++) {
          gwk[c * d + h * dh + e] += x[j * d + c] * gz[e];
          acc += wk[wAt + c * d + h * dh + e] * gz[e];
        }
        gx[j * d + c] += acc;
      }
    }
  }
}
