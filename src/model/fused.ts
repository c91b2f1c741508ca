/**
 * The single-layer model, forward and backward, written out over typed arrays: a fused kernel for this
 * model's shapes. At these sizes (d = 8, nine positions) a training step is a few hundred thousand
 * multiply-adds per run, so the tfjs graph spends its time dispatching ~330 kernels and in wasm's slow
 * batched products (profiled: 36 of 49 ms at R = 25). This file does the same arithmetic in plain loops.
 * The tfjs formulation in transformer.ts stays the reference: test/model/fused.test.ts checks values and
 * gradients against it, and it serves every shape this kernel does not (more than one layer).
 *
 * The maths, per example, for query row i (position t = queryStart + i) and head h:
 *
 *   x_j   = s · (Σ_f table[feature_jf] + pos_j)                 embedding, s = model.inputScale
 *   q_i   = x_t · W_Q      k_j = x_j · W_K      v_j = x_j · W_V  (keyless: k_j = v_j)
 *   a_ij  = q_i,h · k_j,h / √dh        p_ij = softmax_j(a_ij)    j ≤ t when causal
 *   o_i,h = Σ_j p_ij v_j,h                                        heads side by side
 *   z_i   = LayerNorm(x_t + o_i)        logits_i = z_i · W_unembed      loss = mean CE
 *
 * One exact shortcut, by linearity: x_j · W = s · (Σ_f (table·W)[feature_jf] + (pos·W)_j). So the tables
 * are projected once per step (33 + 9 rows) instead of every token (128 × 9 rows), and a projection per
 * token becomes a sum of a few projected rows. The backward pass runs the same shortcut in reverse.
 *
 * Numbers are computed in float64 and stored in float32, so results equal the float32 tfjs graph to
 * rounding, not bit for bit. Every function here is deterministic.
 */
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';

/** Parameter values of R runs, stacked [R, ...] per path, as stackRuns lays them out. */
export type StackedParams = Map<string, Float32Array>;

/** What one pass over a batch yields per run; attention arrays only when asked for (evaluation). */
export interface FusedPass {
  loss: Float64Array; // [R] mean cross-entropy
  correct: Float64Array; // [R] fraction of supervised positions whose argmax is the target
  weights?: Float32Array; // [R, B, H, S, N] attention weights of the supervised rows
  logits?: Float32Array; // [R, B, H, S, N] scaled scores; masked entries hold MASKED
}

/** Masked scores, as in the tfjs graph: exp underflows to 0 and they never win a max. */
const MASKED = -1e9;
const LN_EPS = 1e-5; // as in transformer.ts

/** Whether this kernel computes the given model: one layer, any heads, either variant, causal or not. */
export function fusedSupports(cfg: ModelConfig): boolean {
  return cfg.layers === 1;
}

/** Buffers for one run's pass, reused across runs and steps: no allocation on the hot path. */
class Scratch {
  readonly tq: Float64Array; // table·W_Q [Vin, d]
  readonly tk: Float64Array; // table·W_K (keyless: unused, keys are the values)
  readonly tv: Float64Array; // table·W_V
  readonly pq: Float64Array; // pos·W_Q [N, d]
  readonly pk: Float64Array;
  readonly pv: Float64Array;
  readonly gtq: Float64Array; // gradients of the projected tables
  readonly gtk: Float64Array;
  readonly gtv: Float64Array;
  readonly gpq: Float64Array;
  readonly gpk: Float64Array;
  readonly gpv: Float64Array;
  readonly gtable: Float64Array; // gradient of table and pos through the residual
  readonly gpos: Float64Array;
  readonly k: Float64Array; // [N, d] one example's keys
  readonly v: Float64Array; // [N, d] values
  readonly gk: Float64Array;
  readonly gv: Float64Array;
  readonly q: Float64Array; // [d] one query row
  readonly gq: Float64Array;
  readonly y: Float64Array; // [d] residual sum, then its normalised form
  readonly o: Float64Array; // [d] attention output
  readonly g: Float64Array; // [d] gradient flowing back through the row
  readonly gz: Float64Array;
  readonly p: Float64Array; // [H, N] the row's weights per head
  readonly gpRow: Float64Array; // [N] gradient of one head's weights
  readonly z: Float64Array; // [d] the LayerNorm output
  readonly cls: Float64Array; // [C] class scores, then their gradient
  readonly clsExp: Float64Array; // [C] exp(score − max)
  readonly gunembed: Float64Array; // [d, C]
  readonly ggamma: Float64Array;
  readonly gbeta: Float64Array;

  constructor(layout: Layout, d: number, heads: number) {
    const { inputVocab: V, positions: N, outputVocab: C } = layout;
    const f = (n: number) => new Float64Array(n);
    this.tq = f(V * d); this.tk = f(V * d); this.tv = f(V * d);
    this.pq = f(N * d); this.pk = f(N * d); this.pv = f(N * d);
    this.gtq = f(V * d); this.gtk = f(V * d); this.gtv = f(V * d);
    this.gpq = f(N * d); this.gpk = f(N * d); this.gpv = f(N * d);
    this.gtable = f(V * d); this.gpos = f(N * d);
    this.k = f(N * d); this.v = f(N * d); this.gk = f(N * d); this.gv = f(N * d);
    this.q = f(d); this.gq = f(d); this.y = f(d); this.o = f(d); this.g = f(d); this.gz = f(d);
    this.p = f(heads * N);
    this.gpRow = f(N);
    this.cls = f(C);
    this.clsExp = f(C);
    this.z = f(d);
    this.gunembed = f(d * C); this.ggamma = f(d); this.gbeta = f(d);
  }
}

/** rows [n, d] · W [d, d] (run r's slice at `wAt`) → out [n, d]. */
function projectRows(rows: Float32Array, rowsAt: number, n: number, w: Float32Array, wAt: number, d: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      let acc = 0;
      for (let e = 0; e < d; e++) acc += rows[rowsAt + i * d + e] * w[wAt + e * d + c];
      out[i * d + c] = acc;
    }
  }
}

/**
 * The fused model for a group of R runs that share one shape. `params` and `grads` are stacked [R, ...]
 * per path; the kernel reads the former and overwrites the latter.
 */
export class FusedModel {
  readonly R: number;
  private readonly d: number;
  private readonly H: number;
  private readonly dh: number;
  private readonly keyless: boolean;
  private readonly inputScale: number;
  private readonly scratch: Scratch;

  constructor(private readonly cfg: ModelConfig, private readonly layout: Layout, R: number, inputScale = 1) {
    if (!fusedSupports(cfg)) throw new Error(`the fused kernel computes one layer, not ${cfg.layers}`);
    this.R = R;
    this.d = cfg.dModel;
    this.H = cfg.heads;
    this.dh = cfg.dModel / cfg.heads;
    this.keyless = cfg.attention === 'qv';
    this.inputScale = inputScale;
    this.scratch = new Scratch(layout, this.d, this.H);
  }

  /**
   * Loss per run on `batches[r]` (or one shared batch); with `grads`, also the gradient of each run's loss
   * with respect to its own parameters; with `attention`, the supervised rows' weights and scores.
   */
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention = false): FusedPass {
    const { R } = this;
    const B = batches[0].count;
    const { queryCount: S, positions: N } = this.layout;
    const out: FusedPass = { loss: new Float64Array(R), correct: new Float64Array(R) };
    if (attention) {
      out.weights = new Float32Array(R * B * this.H * S * N);
      out.logits = new Float32Array(R * B * this.H * S * N);
    }
    for (let r = 0; r < R; r++) this.passRun(r, params, batches[batches.length === 1 ? 0 : r], grads, out);
    return out;
  }

  private passRun(r: number, params: StackedParams, batch: Encoded, grads: StackedParams | undefined, out: FusedPass): void {
    const { d, H, dh, keyless, inputScale: s } = this;
    const { positions: N, inputVocab: V, featuresPerPosition: F, outputVocab: C, queryStart, queryCount: S, causal } = this.layout;
    const B = batch.count;
    const sc = this.scratch;
    const table = params.get('embed/table')!;
    const pos = params.get('embed/pos')!;
    const wq = params.get('layer0/attn/w_q')!;
    const wk = keyless ? null : params.get('layer0/attn/w_k')!;
    const wv = params.get('layer0/attn/w_v')!;
    const gamma = params.get('layer0/ln/gamma')!;
    const beta = params.get('layer0/ln/beta')!;
    const unembed = params.get('unembed/w')!;
    const tAt = r * V * d;
    const pAt = r * N * d;
    const wAt = r * d * d;
    const lnAt = r * d;
    const uAt = r * d * C;
    projectRows(table, tAt, V, wq, wAt, d, sc.tq);
    projectRows(pos, pAt, N, wq, wAt, d, sc.pq);
    projectRows(table, tAt, V, wv, wAt, d, sc.tv);
    projectRows(pos, pAt, N, wv, wAt, d, sc.pv);
    if (wk) {
      projectRows(table, tAt, V, wk, wAt, d, sc.tk);
      projectRows(pos, pAt, N, wk, wAt, d, sc.pk);
    }
    const tk = wk ? sc.tk : sc.tv; // keyless: match against the values themselves
    const pk = wk ? sc.pk : sc.pv;
    const backward = grads !== undefined;
    if (backward) {
      for (const a of [sc.gtq, sc.gtk, sc.gtv, sc.gpq, sc.gpk, sc.gpv, sc.gtable, sc.gpos, sc.gunembed, sc.ggamma, sc.gbeta]) a.fill(0);
    }
    const gtk = wk ? sc.gtk : sc.gtv;
    const gpk = wk ? sc.gpk : sc.gpv;
    const scale = 1 / Math.sqrt(dh);
    const invRows = 1 / (B * S);
    const { k, v, gk, gv, q, gq, y, o, g, gz, p, gpRow, z, cls, clsExp, tq, tv, pq, pv, gtq, gtv, gpq, gpv, gtable, gpos, gunembed, ggamma, gbeta } = sc;
    const feats = batch.features;
    const targets = batch.targets;
    const weightsOut = out.weights ?? null;
    const logitsOut = out.logits ?? null;
    const lossOut = out.loss;
    const correctOut = out.correct;
    const ctx: ExampleContext = { d, H, dh, s, N, F, C, queryStart, S, causal, scale, invRows, backward, table, pos, tAt, pAt, gamma, beta, unembed, lnAt, uAt, tk, pk, gtk, gpk, k, v, gk, gv, q, gq, y, o, g, gz, p, gpRow, z, cls, clsExp, tq, tv, pq, pv, gtq, gtv, gpq, gpv, gtable, gpos, gunembed, ggamma, gbeta, feats, targets, weightsOut, logitsOut, r, B, lossSum: 0, correct: 0 };
    for (let b = 0; b < B; b++) example(ctx, b);
    lossOut[r] = ctx.lossSum * invRows;
    correctOut[r] = ctx.correct * invRows;
    if (grads) this.writeGrads(r, params, grads);
  }

  /** From the projected tables' gradients to the parameters': the product rule through table·W. */
  private writeGrads(r: number, params: StackedParams, grads: StackedParams): void {
    const { d, keyless } = this;
    const { positions: N, inputVocab: V, outputVocab: C } = this.layout;
    const sc = this.scratch;
    const table = params.get('embed/table')!;
    const pos = params.get('embed/pos')!;
    const tAt = r * V * d;
    const pAt = r * N * d;
    const wAt = r * d * d;
    const gTable = grads.get('embed/table')!;
    const gPos = grads.get('embed/pos')!;
    const projections: [string, Float64Array, Float64Array][] = [['layer0/attn/w_q', sc.gtq, sc.gpq], ['layer0/attn/w_v', sc.gtv, sc.gpv]];
    if (!keyless) projections.push(['layer0/attn/w_k', sc.gtk, sc.gpk]);
    const gTableAll = sc.gtable; // residual part, then each projection's part added below
    const gPosAll = sc.gpos;
    for (const [path, gt, gp] of projections) {
      const w = params.get(path)!;
      const gw = grads.get(path)!;
      for (let a = 0; a < d; a++) {
        for (let c = 0; c < d; c++) {
          let acc = 0;
          for (let row = 0; row < V; row++) acc += table[tAt + row * d + a] * gt[row * d + c];
          for (let j = 0; j < N; j++) acc += pos[pAt + j * d + a] * gp[j * d + c];
          gw[wAt + a * d + c] = acc;
        }
      }
      for (let row = 0; row < V; row++) {
        for (let a = 0; a < d; a++) {
          let acc = 0;
          for (let c = 0; c < d; c++) acc += gt[row * d + c] * w[wAt + a * d + c];
          gTableAll[row * d + a] += acc;
        }
      }
      for (let j = 0; j < N; j++) {
        for (let a = 0; a < d; a++) {
          let acc = 0;
          for (let c = 0; c < d; c++) acc += gp[j * d + c] * w[wAt + a * d + c];
          gPosAll[j * d + a] += acc;
        }
      }
    }
    gTable.set(gTableAll.subarray(0, V * d), tAt);
    gPos.set(gPosAll.subarray(0, N * d), pAt);
    grads.get('layer0/ln/gamma')!.set(sc.ggamma, r * d);
    grads.get('layer0/ln/beta')!.set(sc.gbeta, r * d);
    grads.get('unembed/w')!.set(sc.gunembed, r * d * C);
  }
}

/** One run's tensors and offsets, as `example` reads them; one object shape for every call. */
interface ExampleContext {
  d: number; H: number; dh: number; s: number; N: number; F: number; C: number; queryStart: number; S: number; causal: boolean;
  scale: number; invRows: number; backward: boolean; r: number; B: number;
  table: Float32Array; pos: Float32Array; tAt: number; pAt: number; gamma: Float32Array; beta: Float32Array; unembed: Float32Array; lnAt: number; uAt: number;
  tk: Float64Array; pk: Float64Array; gtk: Float64Array; gpk: Float64Array;
  k: Float64Array; v: Float64Array; gk: Float64Array; gv: Float64Array; q: Float64Array; gq: Float64Array; y: Float64Array; o: Float64Array;
  g: Float64Array; gz: Float64Array; p: Float64Array; gpRow: Float64Array; z: Float64Array; cls: Float64Array; clsExp: Float64Array;
  tq: Float64Array; tv: Float64Array; pq: Float64Array; pv: Float64Array; gtq: Float64Array; gtv: Float64Array; gpq: Float64Array; gpv: Float64Array;
  gtable: Float64Array; gpos: Float64Array; gunembed: Float64Array; ggamma: Float64Array; gbeta: Float64Array;
  feats: Int32Array; targets: Int32Array; weightsOut: Float32Array | null; logitsOut: Float32Array | null;
  lossSum: number; correct: number;
}

/**
 * Forward (and, with ctx.backward, backward) for example b of one run, accumulating into ctx. A function of
 * its own, called per example, so V8 optimises it whole: as one loop inside passRun it was compiled on-stack
 * mid-loop and deoptimised at every call's end.
 */
function example(ctx: ExampleContext, b: number): void {
  const { d, H, dh, s, N, F, C, queryStart, S, causal, scale, invRows, backward, table, pos, tAt, pAt, gamma, beta, unembed, lnAt, uAt, tk, pk, gtk, gpk, k, v, gk, gv, q, gq, y, o, g, gz, p, gpRow, z, cls, clsExp, tq, tv, pq, pv, gtq, gtv, gpq, gpv, gtable, gpos, gunembed, ggamma, gbeta, feats, targets, weightsOut, logitsOut, r, B } = ctx;
  const fAt = b * N * F;
  // Keys and values of every position: sums of projected rows.
  for (let j = 0; j < N; j++) {
    for (let c = 0; c < d; c++) {
      let kc = pk[j * d + c];
      let vc = pv[j * d + c];
      for (let f = 0; f < F; f++) {
        const row = feats[fAt + j * F + f] * d + c;
        kc += tk[row];
        vc += tv[row];
      }
      k[j * d + c] = s * kc;
      v[j * d + c] = s * vc;
    }
  }
  if (backward) {
    gk.fill(0);
    gv.fill(0);
  }
  for (let i = 0; i < S; i++) {
    const t = queryStart + i;
    const visible = causal ? t + 1 : N;
    // The query row and the residual input x_t.
    for (let c = 0; c < d; c++) {
      let qc = pq[t * d + c];
      let xc = pos[pAt + t * d + c];
      for (let f = 0; f < F; f++) {
        const row = feats[fAt + t * F + f];
        qc += tq[row * d + c];
        xc += table[tAt + row * d + c];
      }
      q[c] = s * qc;
      y[c] = s * xc;
    }
    // Scores, softmax and the mix, head by head.
    for (let h = 0; h < H; h++) {
      const hAt = h * dh;
      const pRow = h * N;
      let max = -Infinity;
      for (let j = 0; j < visible; j++) {
        let dot = 0;
        for (let e = 0; e < dh; e++) dot += q[hAt + e] * k[j * d + hAt + e];
        const a = dot * scale;
        p[pRow + j] = a;
        if (a > max) max = a;
      }
      if (logitsOut) {
        const at = (((r * B + b) * H + h) * S + i) * N;
        for (let j = 0; j < N; j++) logitsOut[at + j] = j < visible ? p[pRow + j] : MASKED;
      }
      let z = 0;
      for (let j = 0; j < visible; j++) {
        const ex = Math.exp(p[pRow + j] - max);
        p[pRow + j] = ex;
        z += ex;
      }
      for (let j = 0; j < visible; j++) p[pRow + j] /= z;
      for (let j = visible; j < N; j++) p[pRow + j] = 0;
      if (weightsOut) {
        const at = (((r * B + b) * H + h) * S + i) * N;
        for (let j = 0; j < N; j++) weightsOut[at + j] = p[pRow + j];
      }
      for (let e = 0; e < dh; e++) {
        let acc = 0;
        for (let j = 0; j < visible; j++) acc += p[pRow + j] * v[j * d + hAt + e];
        o[hAt + e] = acc;
      }
    }
    // Residual, LayerNorm (biased variance, as tf.moments), unembedding.
    let mean = 0;
    for (let c = 0; c < d; c++) {
      y[c] += o[c];
      mean += y[c];
    }
    mean /= d;
    let variance = 0;
    for (let c = 0; c < d; c++) variance += (y[c] - mean) * (y[c] - mean);
    variance /= d;
    const invStd = 1 / Math.sqrt(variance + LN_EPS);
    for (let c = 0; c < d; c++) y[c] = (y[c] - mean) * invStd; // y is now the normalised row n
    for (let c = 0; c < d; c++) z[c] = y[c] * gamma[lnAt + c] + beta[lnAt + c];
    cls.fill(0);
    for (let c = 0; c < d; c++) {
      const zc = z[c];
      for (let cl = 0; cl < C; cl++) cls[cl] += zc * unembed[uAt + c * C + cl];
    }
    let best = 0;
    let clsMax = -Infinity;
    for (let cl = 0; cl < C; cl++) {
      if (cls[cl] > clsMax) {
        clsMax = cls[cl];
        best = cl;
      }
    }
    let sumExp = 0;
    for (let cl = 0; cl < C; cl++) {
      const e = Math.exp(cls[cl] - clsMax);
      clsExp[cl] = e;
      sumExp += e;
    }
    const target = targets[b * S + i];
    ctx.lossSum += Math.log(sumExp) + clsMax - cls[target];
    if (best === target) ctx.correct++;
    if (!backward) continue;

    // Backward through cross-entropy, unembedding and LayerNorm.
    for (let cl = 0; cl < C; cl++) cls[cl] = (clsExp[cl] / sumExp - (cl === target ? 1 : 0)) * invRows;
    let meanGn = 0;
    let meanGnN = 0;
    for (let c = 0; c < d; c++) {
      const zc = z[c];
      let acc = 0;
      for (let cl = 0; cl < C; cl++) {
        gunembed[c * C + cl] += zc * cls[cl];
        acc += unembed[uAt + c * C + cl] * cls[cl];
      }
      ggamma[c] += acc * y[c];
      gbeta[c] += acc;
      gz[c] = acc * gamma[lnAt + c]; // gradient of the normalised row
      meanGn += gz[c];
      meanGnN += gz[c] * y[c];
    }
    meanGn /= d;
    meanGnN /= d;
    for (let c = 0; c < d; c++) g[c] = (gz[c] - meanGn - y[c] * meanGnN) * invStd; // gradient of the residual sum
    // The residual branch reaches the embedding of position t directly.
    for (let c = 0; c < d; c++) {
      const gc = s * g[c];
      gpos[t * d + c] += gc;
      for (let f = 0; f < F; f++) gtable[feats[fAt + t * F + f] * d + c] += gc;
    }
    // Back through the mix and the softmax, head by head.
    gq.fill(0);
    for (let h = 0; h < H; h++) {
      const hAt = h * dh;
      const pRow = h * N;
      let dot = 0;
      for (let j = 0; j < visible; j++) {
        let gp = 0;
        for (let e = 0; e < dh; e++) {
          gp += g[hAt + e] * v[j * d + hAt + e];
          gv[j * d + hAt + e] += p[pRow + j] * g[hAt + e];
        }
        gpRow[j] = gp;
        dot += p[pRow + j] * gp;
      }
      for (let j = 0; j < visible; j++) {
        const ga = p[pRow + j] * (gpRow[j] - dot) * scale; // back through softmax and the 1/√dh
        for (let e = 0; e < dh; e++) {
          gq[hAt + e] += ga * k[j * d + hAt + e];
          gk[j * d + hAt + e] += ga * q[hAt + e];
        }
      }
    }
    for (let c = 0; c < d; c++) {
      const gc = s * gq[c];
      gpq[t * d + c] += gc;
      for (let f = 0; f < F; f++) gtq[feats[fAt + t * F + f] * d + c] += gc;
    }
  }
  if (!backward) return;
  // Keys and values were sums of projected rows: their gradients scatter back onto those rows.
  for (let j = 0; j < N; j++) {
    for (let c = 0; c < d; c++) {
      const gkc = s * gk[j * d + c];
      const gvc = s * gv[j * d + c];
      gpk[j * d + c] += gkc;
      gpv[j * d + c] += gvc;
      for (let f = 0; f < F; f++) {
        const row = feats[fAt + j * F + f] * d + c;
        gtk[row] += gkc;
        gtv[row] += gvc;
      }
    }
  }
}
