/**
 * The model with any number of layers, forward and backward, written out over typed arrays: the fast kernel
 * for the shapes model/fused.ts does not compute (more than one layer, e.g. MQAR's two). It is the textbook
 * layer, with keys and values projected for the whole batch at once; the one-layer kernel's regrouping (scores
 * through the projected embedding table) does not carry past layer 1, whose output is no longer a sum of table rows.
 * The tfjs formulation in transformer.ts stays the reference: test/model/fusedDeep.test.ts checks values and
 * gradients against it, and finite differences.
 *
 * Per example, with X_0 = s · (Σ_f table[feature_jf] + pos_j)  [N, d], for layer l = 0 … L−1 and its query
 * rows i (all N positions, except the last layer: only the supervised rows, t = queryStart + i):
 *
 *   Q = X[rows]·W_Q   K = X·W_K (per variant: x·W_V, x, x·W_Q)   V = X·W_V        project
 *   with QK-norm: Q_h ← g_q,h · Q_h / rms(Q_h),  K_h ← g_k,h · K_h / rms(K_h)        (V is never normed)
 *   a_ij = Q_i,h · K_j,h / √dh,  p = softmax_j(a), j ≤ t when causal                  score, softmax
 *   Y_i = X_t + [Σ_j p_ij V_j,h]_h,   X_{l+1},i = LayerNorm(Y_i)                      mix, residual + norm
 *   logits = X_L · W_unembed,  loss = mean cross-entropy over the supervised rows     unembed, loss
 *
 * Numbers are computed in float64 and stored in float32, as in model/fused.ts; every function is
 * deterministic. No TensorFlow.js is loaded here.
 */
import type { Encoded, Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { param, type StackedParams } from './paramSpecs.js';
import { MASKED, LN_EPS, RMS_EPS, F32_MAX } from './numerics.js';
import { matmul, matmulAddTransposed, matmulTransposedAdd } from './dense.js';

export type { StackedParams };

/** One layer's attention over the pass, when asked for (evaluation). */
export interface LayerAttention {
  weights: Float32Array; // [R, B, H, rows, N]: rows = N for every layer but the last, S for the last
  logits: Float32Array; // [R, B, H, rows, N] scaled scores; masked entries hold MASKED
}

/** What one pass over a batch yields per run. */
export interface DeepPass {
  loss: Float64Array; // [R] mean cross-entropy
  correct: Float64Array; // [R] fraction of supervised positions whose argmax is the target
  layers?: LayerAttention[]; // per layer
  inputs?: Float32Array; // [R, B, N, d] the last layer's input, when asked for (the claims' value norms)
}

/** A run's copy of one layer's parameters in float64, and (same shape) their gradient accumulators over the batch. */
interface LayerParams {
  wq: Float64Array; // [d, d]
  wk: Float64Array | null; // [d, d] only qkv
  wv: Float64Array; // [d, d]
  gainQ: Float64Array | null; // [d] QK-norm
  gainK: Float64Array | null;
  gamma: Float64Array; // [d]
  beta: Float64Array; // [d]
}

/**
 * One layer's activations over the whole batch (B examples, their rows one after another), and their
 * gradients. Rows of the query side: every position, or in the last layer only the S supervised ones.
 */
interface LayerBuffers {
  rows: number; // query rows per example: N, or S in the last layer
  start: number; // the first query row's position: 0, or queryStart in the last layer
  x: Float64Array; // [B·N, d] the layer's input (the previous layer's out)
  xq: Float64Array; // [B·rows, d] the query rows' input: x itself when rows = N, else gathered from it
  q: Float64Array; // [B·rows, d] Q before QK-norm
  qn: Float64Array; // [B·rows, d] after it (q itself without QK-norm)
  qInv: Float64Array; // [B·rows, H] 1 / rms
  k: Float64Array; // [B·N, d] K before QK-norm: its own buffer (qkv, qq), v (qv) or x (qx)
  kn: Float64Array; // [B·N, d] after it
  kInv: Float64Array; // [B·N, H]
  v: Float64Array; // [B·N, d]
  p: Float64Array; // [B, H, rows, N] attention weights
  yhat: Float64Array; // [B·rows, d] the normalised residual sum
  invStd: Float64Array; // [B·rows]
  out: Float64Array; // [B·rows, d] the layer's output: the next layer's x, or the readout's input
  gx: Float64Array; // [B·N, d] ∂loss/∂x
  gxq: Float64Array; // [B·rows, d] ∂loss/∂xq (gx itself when rows = N)
  gq: Float64Array; // [B·rows, d] ∂loss/∂q (raw)
  gqn: Float64Array; // [B·rows, d] ∂loss/∂qn (gq itself without QK-norm)
  gk: Float64Array; // [B·N, d] ∂loss/∂k (raw)
  gkn: Float64Array; // [B·N, d]
  gv: Float64Array; // [B·N, d]
}

/**
 * The fused model of any depth for a group of R runs that share one shape. `params` and `grads` are stacked
 * [R, ...] per path; the kernel reads the former and overwrites the latter. Each layer works on the whole
 * batch at once, so the projections are three products of [B·N, d] by [d, d] (model/dense.ts), and only the
 * attention itself runs per example.
 */
export class DeepFusedModel {
  private readonly L: number;
  private readonly d: number;
  private readonly H: number;
  private readonly dh: number;
  private readonly N: number;
  private readonly S: number;
  private readonly C: number;
  private readonly scale: number;
  private readonly layers: LayerParams[];
  private readonly layerGrads: LayerParams[];
  private buffers: LayerBuffers[] = [];
  private capacity = 0; // examples the buffers hold
  private logits = new Float64Array(0); // [B·S, C], then their gradient
  private gOut = new Float64Array(0); // [B·S, d] ∂loss/∂(the last layer's out)
  private readonly table: Float64Array; // [V, d]
  private readonly pos: Float64Array; // [N, d]
  private readonly unembed: Float64Array; // [d, C]
  private readonly gtable: Float64Array;
  private readonly gpos: Float64Array;
  private readonly gunembed: Float64Array;
  private readonly y: Float64Array; // [d] one row's residual sum, then its gradient
  private readonly gp: Float64Array; // [N] one row's ∂loss/∂p
  private lossSum = 0;
  private correct = 0;

  constructor(
    private readonly cfg: ModelConfig,
    private readonly layout: Layout,
    readonly R: number,
  ) {
    const d = cfg.dModel;
    const { positions: N, queryCount: S, outputVocab: C, inputVocab: V } = layout;
    this.L = cfg.layers;
    this.d = d;
    this.H = cfg.heads;
    this.dh = d / cfg.heads;
    this.N = N;
    this.S = S;
    this.C = C;
    this.scale = 1 / Math.sqrt(d / cfg.heads);
    const f64 = (n: number) => new Float64Array(n);
    const layerParams = (): LayerParams => ({
      wq: f64(d * d),
      wk: cfg.attention === 'qkv' ? f64(d * d) : null,
      wv: f64(d * d),
      gainQ: cfg.qkNorm ? f64(d) : null,
      gainK: cfg.qkNorm ? f64(d) : null,
      gamma: f64(d),
      beta: f64(d),
    });
    this.layers = Array.from({ length: cfg.layers }, layerParams);
    this.layerGrads = Array.from({ length: cfg.layers }, layerParams);
    this.table = f64(V * d);
    this.pos = f64(N * d);
    this.unembed = f64(d * C);
    this.gtable = f64(V * d);
    this.gpos = f64(N * d);
    this.gunembed = f64(d * C);
    this.y = f64(d);
    this.gp = f64(N);
  }

  /** Buffers for B examples, kept for the largest batch seen (training and evaluation batches alternate). */
  private ensureCapacity(B: number): void {
    if (B <= this.capacity) return;
    const { d, H, N, S, C, cfg } = this;
    const f64 = (n: number) => new Float64Array(n);
    this.buffers = [];
    let x = f64(B * N * d);
    for (let l = 0; l < this.L; l++) {
      const last = l === this.L - 1;
      const rows = last ? S : N;
      const q = f64(B * rows * d);
      const v = f64(B * N * d);
      const k = cfg.attention === 'qv' ? v : cfg.attention === 'qx' ? x : f64(B * N * d);
      const gx = f64(B * N * d);
      const gq = f64(B * rows * d);
      const gk = f64(B * N * d);
      const out = f64(B * rows * d);
      this.buffers.push({
        rows,
        start: last ? this.layout.queryStart : 0,
        x,
        xq: rows === N ? x : f64(B * rows * d),
        q,
        qn: cfg.qkNorm ? f64(B * rows * d) : q,
        qInv: f64(B * rows * H),
        k,
        kn: cfg.qkNorm ? f64(B * N * d) : k,
        kInv: f64(B * N * H),
        v,
        p: f64(B * H * rows * N),
        yhat: f64(B * rows * d),
        invStd: f64(B * rows),
        out,
        gx,
        gxq: rows === N ? gx : f64(B * rows * d),
        gq,
        gqn: cfg.qkNorm ? f64(B * rows * d) : gq,
        gk,
        gkn: cfg.qkNorm ? f64(B * N * d) : gk,
        gv: f64(B * N * d),
      });
      x = out; // the next layer reads this layer's output
    }
    this.logits = f64(B * S * C);
    this.gOut = f64(B * S * d);
    this.capacity = B;
  }

  /**
   * Loss per run on `batches[r]` (or one shared batch); with `grads`, also the gradient of each run's loss
   * with respect to its own parameters; with `attention`, every layer's weights and scores; with `inputs`,
   * the last layer's input.
   */
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention = false, inputs = false): DeepPass {
    const { R, N, S, H, d } = this;
    const B = batches[0].count;
    this.ensureCapacity(B);
    const out: DeepPass = { loss: new Float64Array(R), correct: new Float64Array(R) };
    if (attention) {
      out.layers = this.buffers.map((buf) => ({
        weights: new Float32Array(R * B * H * buf.rows * N),
        logits: new Float32Array(R * B * H * buf.rows * N),
      }));
    }
    if (inputs) out.inputs = new Float32Array(R * B * N * d);
    const invRows = 1 / (B * S);
    for (let r = 0; r < R; r++) {
      const batch = batches[batches.length === 1 ? 0 : r];
      this.loadRun(params, r);
      this.lossSum = 0;
      this.correct = 0;
      this.embed(batch, B);
      for (let l = 0; l < this.L; l++) {
        const record = out.layers ? out.layers[l] : null;
        this.layerForward(l, B, record, record ? r * B * H * this.buffers[l].rows * N : 0);
      }
      if (out.inputs) out.inputs.set(this.buffers[this.L - 1].x.subarray(0, B * N * d), r * B * N * d);
      this.readout(batch, B, grads ? invRows : 0);
      out.loss[r] = this.lossSum * invRows;
      out.correct[r] = this.correct * invRows;
      if (!grads) continue;
      for (let l = this.L - 1; l >= 0; l--) this.layerBackward(l, B, l === this.L - 1 ? this.gOut : this.buffers[l + 1].gx);
      this.embedBackward(batch, B);
      this.storeGrads(grads, r);
    }
    return out;
  }

  // ---- parameters: one run's slice in, its gradients out --------------------------------------------------

  /** The parameter paths of layer l and what each is in LayerParams. */
  private layerPaths(l: number): [keyof LayerParams, string][] {
    const at = `layer${l}/attn`;
    return [
      ['wq', `${at}/w_q`],
      ['wk', `${at}/w_k`],
      ['wv', `${at}/w_v`],
      ['gainQ', `${at}/q_norm`],
      ['gainK', `${at}/k_norm`],
      ['gamma', `layer${l}/ln/gamma`],
      ['beta', `layer${l}/ln/beta`],
    ];
  }

  /** Copies run r's parameters in, and zeroes its gradient accumulators. */
  private loadRun(params: StackedParams, r: number): void {
    const copy = (to: Float64Array, path: string) => {
      const from = param(params, path);
      const at = r * to.length;
      for (let i = 0; i < to.length; i++) to[i] = from[at + i];
    };
    copy(this.table, 'embed/table');
    copy(this.pos, 'embed/pos');
    copy(this.unembed, 'unembed/w');
    this.layers.forEach((layer, l) => {
      for (const [key, path] of this.layerPaths(l)) if (layer[key]) copy(layer[key] as Float64Array, path);
    });
    for (const g of [this.gtable, this.gpos, this.gunembed]) g.fill(0);
    for (const layer of this.layerGrads) for (const g of Object.values(layer)) g?.fill(0);
  }

  private storeGrads(grads: StackedParams, r: number): void {
    const store = (from: Float64Array, path: string) => {
      const to = param(grads, path);
      const at = r * from.length;
      for (let i = 0; i < from.length; i++) to[at + i] = from[i];
    };
    store(this.gtable, 'embed/table');
    store(this.gpos, 'embed/pos');
    store(this.gunembed, 'unembed/w');
    this.layerGrads.forEach((layer, l) => {
      for (const [key, path] of this.layerPaths(l)) if (layer[key]) store(layer[key] as Float64Array, path);
    });
  }

  // ---- embed ---------------------------------------------------------------------------------------------

  /** X_0 = s · (each position's table rows + its position row), for the whole batch. */
  private embed(batch: Encoded, B: number): void {
    const { d, N, table, pos } = this;
    const F = this.layout.featuresPerPosition;
    const s = this.cfg.inputScale;
    const x = this.buffers[0].x;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < N; j++) {
        const at = (b * N + j) * d;
        for (let c = 0; c < d; c++) x[at + c] = pos[j * d + c];
        for (let f = 0; f < F; f++) {
          const row = batch.features[(b * N + j) * F + f] * d;
          for (let c = 0; c < d; c++) x[at + c] += table[row + c];
        }
        if (s !== 1) for (let c = 0; c < d; c++) x[at + c] *= s;
      }
    }
  }

  private embedBackward(batch: Encoded, B: number): void {
    const { d, N, gtable, gpos } = this;
    const F = this.layout.featuresPerPosition;
    const s = this.cfg.inputScale;
    const gx = this.buffers[0].gx;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < N; j++) {
        const at = (b * N + j) * d;
        for (let c = 0; c < d; c++) {
          const g = s * gx[at + c];
          gpos[j * d + c] += g;
          for (let f = 0; f < F; f++) gtable[batch.features[(b * N + j) * F + f] * d + c] += g;
        }
      }
    }
  }

  // ---- one layer -------------------------------------------------------------------------------------------

  /** Layer l over the batch; with `record`, its weights and scores go there from `recordAt`. */
  private layerForward(l: number, B: number, record: LayerAttention | null, recordAt: number): void {
    const { d, H, dh, N, scale, y } = this;
    const buf = this.buffers[l];
    const w = this.layers[l];
    const { rows, start, x, xq, q, qn, k, kn, v, p, yhat, invStd, out } = buf;
    const causal = this.layout.causal;
    if (xq !== x) {
      for (let b = 0; b < B; b++) xq.set(x.subarray((b * N + start) * d, (b * N + start + rows) * d), b * rows * d);
    }
    matmul(xq, w.wq, q, B * rows, d, d); // [B·rows, d]
    matmul(x, w.wv, v, B * N, d, d); // [B·N, d]
    if (this.cfg.attention === 'qkv')
      matmul(x, w.wk!, k, B * N, d, d); // [B·N, d]
    else if (this.cfg.attention === 'qq') matmul(x, w.wq, k, B * N, d, d);
    if (w.gainQ && w.gainK) {
      rmsNormForward(q, qn, buf.qInv, w.gainQ, B * rows, H, dh);
      rmsNormForward(k, kn, buf.kInv, w.gainK, B * N, H, dh);
    }
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < rows; i++) {
        const row = b * rows + i;
        const visible = causal ? start + i + 1 : N;
        for (let c = 0; c < d; c++) y[c] = xq[row * d + c]; // the residual input
        for (let h = 0; h < H; h++) {
          const pRow = ((b * H + h) * rows + i) * N;
          let max = -Infinity;
          for (let j = 0; j < visible; j++) {
            const kRow = (b * N + j) * d;
            let acc = 0;
            for (let e = h * dh; e < (h + 1) * dh; e++) acc += qn[row * d + e] * kn[kRow + e];
            const a = acc * scale;
            p[pRow + j] = a;
            if (a > max) max = a;
          }
          if (!(Math.abs(max) < F32_MAX)) this.lossSum = NaN; // float32 would have overflowed
          if (record) for (let j = 0; j < N; j++) record.logits[recordAt + pRow + j] = j < visible ? p[pRow + j] : MASKED;
          let sum = 0;
          for (let j = 0; j < visible; j++) {
            const e = Math.exp(p[pRow + j] - max);
            p[pRow + j] = e;
            sum += e;
          }
          for (let j = 0; j < visible; j++) p[pRow + j] /= sum;
          for (let j = visible; j < N; j++) p[pRow + j] = 0;
          for (let j = 0; j < visible; j++) {
            const pj = p[pRow + j];
            const vRow = (b * N + j) * d;
            for (let e = h * dh; e < (h + 1) * dh; e++) y[e] += pj * v[vRow + e];
          }
        }
        // LayerNorm (biased variance, as tf.moments), then gain and bias.
        let mean = 0;
        for (let c = 0; c < d; c++) mean += y[c];
        mean /= d;
        let variance = 0;
        for (let c = 0; c < d; c++) variance += (y[c] - mean) * (y[c] - mean);
        if (!(variance < F32_MAX)) this.lossSum = NaN; // float32 would have overflowed
        const inv = 1 / Math.sqrt(variance / d + LN_EPS);
        invStd[row] = inv;
        for (let c = 0; c < d; c++) {
          const n = (y[c] - mean) * inv;
          yhat[row * d + c] = n;
          out[row * d + c] = n * w.gamma[c] + w.beta[c];
        }
      }
    }
    if (record) record.weights.set(p.subarray(0, B * H * rows * N), recordAt);
  }

  /** With ∂loss/∂out of layer l in `gOut` [B·rows, d]: the layer's parameter gradients, and ∂loss/∂x into buf.gx. */
  private layerBackward(l: number, B: number, gOut: Float64Array): void {
    const { d, H, dh, N, scale, gp } = this;
    const gy = this.y;
    const buf = this.buffers[l];
    const w = this.layers[l];
    const g = this.layerGrads[l];
    const { rows, start, x, xq, qn, kn, v, p, yhat, invStd, gx, gxq, gq, gqn, gk, gkn, gv } = buf;
    const causal = this.layout.causal;
    gx.fill(0, 0, B * N * d);
    if (gxq !== gx) gxq.fill(0, 0, B * rows * d);
    gqn.fill(0, 0, B * rows * d);
    gkn.fill(0, 0, B * N * d);
    gv.fill(0, 0, B * N * d);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < rows; i++) {
        const row = b * rows + i;
        const visible = causal ? start + i + 1 : N;
        // LayerNorm: ∂γ, ∂β, then ∂Y = (∂ŷ − mean ∂ŷ − ŷ · mean(∂ŷ ŷ)) / std, with ∂ŷ = γ ∂out.
        let meanG = 0;
        let meanGy = 0;
        for (let c = 0; c < d; c++) {
          const go = gOut[row * d + c];
          const n = yhat[row * d + c];
          g.gamma[c] += go * n;
          g.beta[c] += go;
          const gn = go * w.gamma[c];
          gy[c] = gn;
          meanG += gn;
          meanGy += gn * n;
        }
        meanG /= d;
        meanGy /= d;
        for (let c = 0; c < d; c++) {
          gy[c] = (gy[c] - meanG - yhat[row * d + c] * meanGy) * invStd[row];
          gxq[row * d + c] += gy[c]; // the residual branch
        }
        for (let h = 0; h < H; h++) {
          const pRow = ((b * H + h) * rows + i) * N;
          // mix: Y_h += Σ_j p_j V_j,h, so ∂p_j = ∂Y_h · V_j,h and ∂V_j,h += p_j ∂Y_h.
          let dot = 0;
          for (let j = 0; j < visible; j++) {
            const pj = p[pRow + j];
            const vRow = (b * N + j) * d;
            let acc = 0;
            for (let e = h * dh; e < (h + 1) * dh; e++) {
              acc += gy[e] * v[vRow + e];
              gv[vRow + e] += pj * gy[e];
            }
            gp[j] = acc;
            dot += pj * acc;
          }
          // softmax and score: ∂a_j = p_j (∂p_j − Σ p ∂p); a_j = scale · qn_i,h · kn_j,h.
          for (let j = 0; j < visible; j++) {
            const ga = p[pRow + j] * (gp[j] - dot) * scale;
            if (ga === 0) continue;
            const kRow = (b * N + j) * d;
            for (let e = h * dh; e < (h + 1) * dh; e++) {
              gqn[row * d + e] += ga * kn[kRow + e];
              gkn[kRow + e] += ga * qn[row * d + e];
            }
          }
        }
      }
    }
    if (w.gainQ && w.gainK) {
      rmsNormBackward(buf.q, gqn, buf.qInv, w.gainQ, gq, g.gainQ!, B * rows, H, dh);
      rmsNormBackward(buf.k, gkn, buf.kInv, w.gainK, gk, g.gainK!, B * N, H, dh);
    }
    // The keys' gradient goes where the variant's keys came from (model/schema.ts, VARIANTS).
    switch (this.cfg.attention) {
      case 'qkv':
        matmulTransposedAdd(x, gk, g.wk!, B * N, d, d);
        matmulAddTransposed(gk, w.wk!, gx, B * N, d, d);
        break;
      case 'qv':
        for (let i = 0; i < B * N * d; i++) gv[i] += gk[i];
        break;
      case 'qq':
        matmulTransposedAdd(x, gk, g.wq, B * N, d, d);
        matmulAddTransposed(gk, w.wq, gx, B * N, d, d);
        break;
      case 'qx':
        for (let i = 0; i < B * N * d; i++) gx[i] += gk[i];
        break;
    }
    matmulTransposedAdd(x, gv, g.wv, B * N, d, d); // ∂W_V = xᵀ ∂V
    matmulAddTransposed(gv, w.wv, gx, B * N, d, d); // ∂x += ∂V W_Vᵀ
    matmulTransposedAdd(xq, gq, g.wq, B * rows, d, d);
    matmulAddTransposed(gq, w.wq, gxq, B * rows, d, d);
    if (gxq !== gx) {
      for (let b = 0; b < B; b++) {
        const from = b * rows * d;
        const to = (b * N + start) * d;
        for (let c = 0; c < rows * d; c++) gx[to + c] += gxq[from + c];
      }
    }
  }

  // ---- unembed + loss ----------------------------------------------------------------------------------------

  /** Logits, loss and accuracy of the supervised rows; with `invRows` > 0, ∂loss/∂out into this.gOut and ∂W_unembed. */
  private readout(batch: Encoded, B: number, invRows: number): void {
    const { d, C, S, logits, unembed } = this;
    const z = this.buffers[this.L - 1].out;
    matmul(z, unembed, logits, B * S, d, C); // [B·S, C]
    for (let row = 0; row < B * S; row++) {
      const at = row * C;
      let best = 0;
      for (let k = 1; k < C; k++) if (logits[at + k] > logits[at + best]) best = k;
      const top = logits[at + best];
      if (!(Math.abs(top) < F32_MAX)) this.lossSum = NaN; // float32 would have overflowed
      let sumExp = 0;
      for (let k = 0; k < C; k++) sumExp += Math.exp(logits[at + k] - top);
      const target = batch.targets[row];
      this.lossSum += Math.log(sumExp) + top - logits[at + target];
      if (best === target) this.correct++;
      if (invRows === 0) continue;
      for (let k = 0; k < C; k++) logits[at + k] = (Math.exp(logits[at + k] - top) / sumExp - (k === target ? 1 : 0)) * invRows;
    }
    if (invRows === 0) return;
    matmulTransposedAdd(z, logits, this.gunembed, B * S, d, C); // ∂W_unembed = zᵀ ∂logits
    this.gOut.fill(0, 0, B * S * d);
    matmulAddTransposed(logits, unembed, this.gOut, B * S, d, C); // ∂z = ∂logits W_unembedᵀ
  }
}

// ---- QK-norm ----------------------------------------------------------------------------------------------------

/** Per row and head: y = gain · u / rms(u), rms(u) = √(mean u² + ε). Keeps 1/rms per row and head. */
function rmsNormForward(u: Float64Array, y: Float64Array, inv: Float64Array, gain: Float64Array, rows: number, H: number, dh: number): void {
  const d = H * dh;
  for (let i = 0; i < rows; i++) {
    for (let h = 0; h < H; h++) {
      let ms = 0;
      for (let e = h * dh; e < (h + 1) * dh; e++) ms += u[i * d + e] * u[i * d + e];
      const r = 1 / Math.sqrt(ms / dh + RMS_EPS);
      inv[i * H + h] = r;
      for (let e = h * dh; e < (h + 1) * dh; e++) y[i * d + e] = gain[e] * u[i * d + e] * r;
    }
  }
}

/** From ∂y to ∂u (into gu) and ∂gain (added): ∂u_e = r g_e ∂y_e − u_e r³ Σ_k g_k ∂y_k u_k / dh. */
function rmsNormBackward(
  u: Float64Array,
  gy: Float64Array,
  inv: Float64Array,
  gain: Float64Array,
  gu: Float64Array,
  gGain: Float64Array,
  rows: number,
  H: number,
  dh: number,
): void {
  const d = H * dh;
  for (let i = 0; i < rows; i++) {
    for (let h = 0; h < H; h++) {
      const r = inv[i * H + h];
      let dot = 0;
      for (let e = h * dh; e < (h + 1) * dh; e++) {
        const at = i * d + e;
        gGain[e] += gy[at] * u[at] * r;
        dot += gain[e] * gy[at] * u[at];
      }
      const k = (r * r * r * dot) / dh;
      for (let e = h * dh; e < (h + 1) * dh; e++) {
        const at = i * d + e;
        gu[at] = r * gain[e] * gy[at] - u[at] * k;
      }
    }
  }
}
