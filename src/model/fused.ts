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
 *   x_j   = s · (Σ_f table[feature_jf] + pos_j)                 embed
 *   q_i   = x_t · W_Q      k_j = x_j · W_K      v_j = x_j · W_V  project (k_j per variant: model/schema.ts)
 *   a_ij  = q_i,h · k_j,h / √dh                                  score
 *   p_ij  = softmax_j(a_ij), j ≤ t when causal                   softmax
 *   o_i,h = Σ_j p_ij v_j,h, heads side by side                   mix
 *   z_i   = LayerNorm(x_t + o_i)                                 residual + norm
 *   logits_i = z_i · W_unembed,  loss = mean cross-entropy       unembed, loss
 *
 * Each stage below is a forward and a backward function. Two stages are regrouped, which is exact in algebra
 * (tested to float rounding):
 *
 *   score: a_ij = u_i,h · x_j / √dh  with u_i,h = x_t · M_h,  M_h = W_Q,h · W_K,hᵀ
 *   mix:   o_i,h = x̄_i,h · W_V,h     with x̄_i,h = Σ_j p_ij x_j
 *
 * so no key or value is projected: per example the work is the raw x_j, a few dot products with them, and two
 * small products per query row. Since x_t is a sum of table rows, u_i,h is a sum of rows of the projected
 * tables table·M_h and pos·M_h, made once per step. The variant only changes M_h's second factor (W_K, W_V,
 * W_Q or the identity). QK-norm makes the score nonlinear in x, so with it the score stage is explicit (keys
 * projected per example and RMS-normed); the mix stays regrouped, since values are never normed. The two score
 * stages are one small strategy each (RegroupedScores, NormedScores).
 *
 * Numbers are computed in float64 and stored in float32, so results equal the float32 tfjs graph to rounding,
 * not bit for bit. Every function here is deterministic.
 */
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { param, type StackedParams } from './paramSpecs.js';
import { MASKED, LN_EPS, RMS_EPS, F32_MAX } from './numerics.js';
import { WasmPass, wasmSupports, kernelExp } from './fusedWasm.js';

export type { StackedParams };

/** What one pass over a batch yields per run; attention arrays only when asked for (evaluation). */
export interface FusedPass {
  loss: Float64Array; // [R] mean cross-entropy
  correct: Float64Array; // [R] fraction of supervised positions whose argmax is the target
  weights?: Float32Array; // [R, B, H, S, N] attention weights of the supervised rows
  logits?: Float32Array; // [R, B, H, S, N] scaled scores; masked entries hold MASKED
  inputs?: Float32Array; // [R, B, N, d] the layer's input x, when asked for (the claims' value norms)
}

/** Shapes, fixed for a group. */
interface Dims {
  readonly d: number;
  readonly H: number;
  readonly dh: number; // d / H
  readonly N: number; // positions
  readonly F: number; // features per position
  readonly V: number; // embedding table rows
  readonly C: number; // classes
  readonly S: number; // supervised rows
  readonly qStart: number;
  readonly causal: boolean;
  readonly scale: number; // 1/√dh
  readonly s: number; // input scale
}

/**
 * Everything the stages read and write for the current run and example: the run's parameters with their
 * offsets into the stacked arrays, the example's buffers, and the run's gradient accumulators. One object
 * shape for every call, so V8 compiles the stages once.
 */
interface State {
  dims: Dims;
  // The current run: parameters and their offsets (named strides into the stacked [R, ...] arrays).
  r: number;
  table: Float32Array;
  tableAt: number; // r · V · d
  pos: Float32Array;
  posAt: number; // r · N · d
  wq: Float32Array;
  wv: Float32Array;
  wk: Float32Array; // the variant's key projection: W_K, W_V, W_Q or the identity
  wAt: number; // r · d · d
  gamma: Float32Array;
  beta: Float32Array;
  gainQ: Float32Array;
  gainK: Float32Array;
  vecAt: number; // r · d: LayerNorm and QK-norm gains
  unembed: Float32Array;
  unembedAt: number; // r · d · C
  // The current batch.
  B: number;
  invRows: number; // 1 / (B · S)
  feats: Int32Array;
  featsAt: number; // b · N · F
  targets: Int32Array;
  backward: boolean;
  weightsOut: Float32Array | null;
  logitsOut: Float32Array | null;
  inputsOut: Float32Array | null;
  // One example's forward buffers.
  x: Float64Array; // [N, d] the layer input
  a: Float64Array; // [N] one row's scores, and in backward their gradient
  p: Float64Array; // [H, S, N] attention weights
  xbar: Float64Array; // [H, S, d] x̄ = Σ_j p_j x_j
  o: Float64Array; // [dh] one head's x̄ · W_V,h
  y: Float64Array; // [d] the residual sum, then its normalised form
  invStd: number;
  z: Float64Array; // [d] after the LayerNorm gain and bias
  cls: Float64Array; // [C] logits, then their gradient
  clsExp: Float64Array; // [C] exp(logit − max)
  sumExp: number; // Σ clsExp, kept for the backward
  // One example's backward buffers.
  g: Float64Array; // [d] ∂loss/∂(x_t + o)
  gx: Float64Array; // [N, d] ∂loss/∂x
  gxbar: Float64Array; // [d]
  gp: Float64Array; // [N]
  // The run's accumulators over the batch.
  gtable: Float64Array; // [V, d]
  gpos: Float64Array; // [N, d]
  ggamma: Float64Array;
  gbeta: Float64Array;
  gunembed: Float64Array; // [d, C] Σ over the batch's rows of z ⊗ ∂logits, added row by row as each is known
  gwv: Float64Array; // [d, d] Σ over the rows of x̄_h ⊗ ∂o_h per head (head h's columns), likewise
  lossSum: number;
  correct: number;
}

/** How the scores are formed and how their gradient splits: the only stage the variants and QK-norm change. */
interface ScoreStage {
  /** Once per run and step: what the run's scores need (projected tables, or nothing). */
  startRun(st: State): void;
  /** Once per example, after the embedding: per-example keys (QK-norm). */
  startExample(st: State): void;
  /** Row i (position t), head h: the scaled scores of the visible keys into st.a; returns their max. */
  forward(st: State, h: number, i: number, t: number, visible: number): number;
  /**
   * With ∂loss/∂a in st.a: adds the score's share of ∂x to st.gx, together with the values' share p_j ∂x̄
   * (weights from st.p at pRow, ∂x̄ in st.gxbar), and feeds the stage's own accumulators.
   */
  backward(st: State, h: number, i: number, t: number, visible: number, pRow: number): void;
  /** Once per example, after every row's backward. */
  finishExample(st: State): void;
  /** Writes the gradients of W_Q and the key projection (and the QK-norm gains) for the run. */
  finishRun(st: State, gwq: Float32Array, gwk: Float32Array, grads: StackedParams): void;
}

/**
 * The fused model for a group of R runs that share one shape. `params` and `grads` are stacked [R, ...]
 * per path; the kernel reads the former and overwrites the latter.
 */
export class FusedModel {
  private readonly dims: Dims;
  private readonly st: State;
  private readonly scores: ScoreStage;
  /** qx's key "projection": the identity, [R, d, d], so it takes the same path as the others. */
  private readonly eye: Float32Array | null;
  /** Where a fixed key projection's gradient goes (qx): a scratch sink. */
  private readonly sink: Float32Array | null;
  /** The same pass compiled to WebAssembly (bit-identical, faster), where it computes the model. */
  private readonly wasm: WasmPass | null;
  /** Which code computes the passes: 'wasm' (assembly/fused.ts) or 'js' (this file, the reference). */
  readonly code: 'wasm' | 'js';

  /** `code: 'js'` keeps the typed-array kernel even where the wasm one would compute the model (the tests' reference). */
  constructor(
    private readonly cfg: ModelConfig,
    private readonly layout: Layout,
    readonly R: number,
    code: 'auto' | 'js' = 'auto',
  ) {
    if (cfg.layers !== 1) throw new Error(`model/fused.ts computes one layer, not ${cfg.layers}; model/fusedDeep.ts computes more`);
    const d = cfg.dModel;
    const H = cfg.heads;
    this.dims = {
      d,
      H,
      dh: d / H,
      N: layout.positions,
      F: layout.featuresPerPosition,
      V: layout.inputVocab,
      C: layout.outputVocab,
      S: layout.queryCount,
      qStart: layout.queryStart,
      causal: layout.causal,
      scale: 1 / Math.sqrt(d / H),
      s: cfg.inputScale,
    };
    const { N, C, S } = this.dims;
    const f64 = (n: number) => new Float64Array(n);
    const none = new Float32Array(0);
    this.eye = cfg.attention === 'qx' ? new Float32Array(R * d * d) : null;
    for (let r = 0; this.eye && r < R; r++) for (let i = 0; i < d; i++) this.eye[r * d * d + i * d + i] = 1;
    this.sink = this.eye ? new Float32Array(R * d * d) : null;
    this.st = {
      dims: this.dims,
      r: 0,
      table: none,
      tableAt: 0,
      pos: none,
      posAt: 0,
      wq: none,
      wv: none,
      wk: none,
      wAt: 0,
      gamma: none,
      beta: none,
      gainQ: none,
      gainK: none,
      vecAt: 0,
      unembed: none,
      unembedAt: 0,
      B: 0,
      invRows: 0,
      feats: new Int32Array(0),
      featsAt: 0,
      targets: new Int32Array(0),
      backward: false,
      weightsOut: null,
      logitsOut: null,
      inputsOut: null,
      x: f64(N * d),
      a: f64(N),
      p: f64(H * S * N),
      xbar: f64(H * S * d),
      o: f64(d / H),
      y: f64(d),
      invStd: 0,
      z: f64(d),
      cls: f64(C),
      clsExp: f64(C),
      sumExp: 0,
      g: f64(d),
      gx: f64(N * d),
      gxbar: f64(d),
      gp: f64(N),
      gtable: f64(this.dims.V * d),
      gpos: f64(N * d),
      ggamma: f64(d),
      gbeta: f64(d),
      gunembed: f64(d * C),
      gwv: f64(d * d),
      lossSum: 0,
      correct: 0,
    };
    this.scores = cfg.qkNorm ? new NormedScores(this.dims) : new RegroupedScores(this.dims);
    this.wasm = code === 'auto' && wasmSupports(cfg) ? new WasmPass(cfg, layout, R) : null;
    this.code = this.wasm ? 'wasm' : 'js';
  }

  /**
   * Loss per run on `batches[r]` (or one shared batch); with `grads`, also the gradient of each run's loss
   * with respect to its own parameters; with `attention`, the supervised rows' weights and scores; with
   * `inputs`, the layer's input x.
   */
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention = false, inputs = false): FusedPass {
    if (this.wasm) return this.wasm.pass(params, batches, grads, attention, inputs);
    const { R } = this;
    const { N, S, H, d } = this.dims;
    const B = batches[0].count;
    const out: FusedPass = { loss: new Float64Array(R), correct: new Float64Array(R) };
    if (attention) {
      out.weights = new Float32Array(R * B * H * S * N);
      out.logits = new Float32Array(R * B * H * S * N);
    }
    if (inputs) out.inputs = new Float32Array(R * B * N * d);
    const st = this.st;
    for (let r = 0; r < R; r++) {
      this.startRun(r, params, batches[batches.length === 1 ? 0 : r], grads !== undefined, out);
      for (let b = 0; b < B; b++) example(st, this.scores, b);
      out.loss[r] = st.lossSum * st.invRows;
      out.correct[r] = st.correct * st.invRows;
      if (grads) this.finishRun(grads);
    }
    return out;
  }

  /** Points the state at run r and its batch, and lets the score stage prepare the run. */
  private startRun(r: number, params: StackedParams, batch: Encoded, backward: boolean, out: FusedPass): void {
    const st = this.st;
    const { d, N, V, C, S } = this.dims;
    st.r = r;
    st.table = param(params, 'embed/table');
    st.tableAt = r * V * d;
    st.pos = param(params, 'embed/pos');
    st.posAt = r * N * d;
    st.wq = param(params, 'layer0/attn/w_q');
    st.wv = param(params, 'layer0/attn/w_v');
    st.wk = this.keyWeights(params);
    st.wAt = r * d * d;
    st.gamma = param(params, 'layer0/ln/gamma');
    st.beta = param(params, 'layer0/ln/beta');
    if (this.cfg.qkNorm) {
      st.gainQ = param(params, 'layer0/attn/q_norm');
      st.gainK = param(params, 'layer0/attn/k_norm');
    }
    st.vecAt = r * d;
    st.unembed = param(params, 'unembed/w');
    st.unembedAt = r * d * C;
    st.B = batch.count;
    st.invRows = 1 / (batch.count * S);
    st.feats = batch.features;
    st.targets = batch.targets;
    st.backward = backward;
    st.weightsOut = out.weights ?? null;
    st.logitsOut = out.logits ?? null;
    st.inputsOut = out.inputs ?? null;
    st.lossSum = 0;
    st.correct = 0;
    if (backward) {
      for (const acc of [st.gtable, st.gpos, st.ggamma, st.gbeta, st.gunembed, st.gwv]) acc.fill(0);
    }
    this.scores.startRun(st);
  }

  /**
   * The variant's key projection (model/schema.ts, VARIANTS): W_K (qkv), W_V (qv), W_Q (qq) or the identity
   * (qx). Looked up in `params`, or in `grads` for where its gradient goes; a variant's key gradient adds to
   * the parameter's own (qv's to W_V's value gradient, qq's to W_Q's query gradient).
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
      default:
        // Config validation and the trainer keep users' variants on the tfjs graph.
        throw new Error(`the fused kernel computes the built-in variants only, not ${this.cfg.attention}`);
    }
  }

  /** From the run's accumulators to each parameter's gradient. */
  private finishRun(grads: StackedParams): void {
    const st = this.st;
    const { d, C, V } = this.dims;
    const { r, wAt } = st;
    const gwq = param(grads, 'layer0/attn/w_q');
    const gwv = param(grads, 'layer0/attn/w_v');
    const gwk = this.keyWeights(grads, true);
    for (let i = 0; i < d * d; i++) gwv[wAt + i] = st.gwv[i]; // W_V's, written first: qv's key gradient adds to it
    const gunembed = param(grads, 'unembed/w');
    for (let i = 0; i < d * C; i++) gunembed[st.unembedAt + i] = st.gunembed[i];
    gwq.fill(0, wAt, wAt + d * d);
    if (gwk !== gwv) gwk.fill(0, wAt, wAt + d * d); // W_V's gradient already holds its value part
    this.scores.finishRun(st, gwq, gwk, grads);
    const gtable = param(grads, 'embed/table');
    for (let i = 0; i < V * d; i++) gtable[st.tableAt + i] = st.gtable[i];
    param(grads, 'embed/pos').set(st.gpos, st.posAt);
    param(grads, 'layer0/ln/gamma').set(st.ggamma, r * d);
    param(grads, 'layer0/ln/beta').set(st.gbeta, r * d);
  }
}

// ---- the example: the stages in order ---------------------------------------------------------------------

/** Forward, and with st.backward backward, for example b of the state's run; accumulates into st. */
function example(st: State, scores: ScoreStage, b: number): void {
  const { N, S, F, qStart, causal } = st.dims;
  st.featsAt = b * N * F;
  embedForward(st, b);
  if (st.backward) st.gx.fill(0);
  scores.startExample(st);
  for (let i = 0; i < S; i++) {
    const t = qStart + i;
    const visible = causal ? t + 1 : N;
    attendForward(st, scores, b, i, t, visible); // st.y = x_t + o
    normForward(st); // st.y normalised, st.z after gain and bias
    readoutForward(st, b, i); // logits, loss, accuracy
    if (!st.backward) continue;
    readoutBackward(st, b, i); // st.cls = ∂logits, st.g = ∂z
    normBackward(st, t); // st.g = ∂(x_t + o); the residual's share into st.gx
    attendBackward(st, scores, i, t, visible);
  }
  if (!st.backward) return;
  scores.finishExample(st);
  embedBackward(st);
}

// ---- embed ------------------------------------------------------------------------------------------------

/** x_j = s · (its table rows + its position row). Tasks have one or two features per position: those get a loop each. */
function embedForward(st: State, b: number): void {
  const { d, N, F, s } = st.dims;
  const { x, table, tableAt, pos, posAt, feats, featsAt } = st;
  for (let j = 0; j < N; j++) {
    const xRow = j * d;
    const posRow = posAt + j * d;
    if (F === 2) {
      const row0 = tableAt + feats[featsAt + 2 * j] * d;
      const row1 = tableAt + feats[featsAt + 2 * j + 1] * d;
      for (let c = 0; c < d; c++) x[xRow + c] = s * (pos[posRow + c] + table[row0 + c] + table[row1 + c]);
    } else if (F === 1) {
      const row0 = tableAt + feats[featsAt + j] * d;
      for (let c = 0; c < d; c++) x[xRow + c] = s * (pos[posRow + c] + table[row0 + c]);
    } else {
      for (let c = 0; c < d; c++) x[xRow + c] = pos[posRow + c];
      for (let f = 0; f < F; f++) {
        const row = tableAt + feats[featsAt + j * F + f] * d;
        for (let c = 0; c < d; c++) x[xRow + c] += table[row + c];
      }
      for (let c = 0; c < d; c++) x[xRow + c] *= s;
    }
  }
  if (st.inputsOut !== null) st.inputsOut.set(x, (st.r * st.B + b) * N * d);
}

/** x_j was s · (a sum of table rows + a position row): ∂x into their accumulators. */
function embedBackward(st: State): void {
  const { d, N, F, s } = st.dims;
  const { gx, gtable, gpos, feats, featsAt } = st;
  for (let j = 0; j < N; j++) {
    const xRow = j * d;
    if (F === 2) {
      const row0 = feats[featsAt + 2 * j] * d;
      const row1 = feats[featsAt + 2 * j + 1] * d;
      for (let c = 0; c < d; c++) {
        const gc = s * gx[xRow + c];
        gpos[xRow + c] += gc;
        gtable[row0 + c] += gc;
        gtable[row1 + c] += gc;
      }
    } else {
      for (let c = 0; c < d; c++) {
        const gc = s * gx[xRow + c];
        gpos[xRow + c] += gc;
        for (let f = 0; f < F; f++) gtable[feats[featsAt + j * F + f] * d + c] += gc;
      }
    }
  }
}

// ---- attend: score (a strategy), softmax, mix --------------------------------------------------------------

/** Row i, every head: scores, softmax, x̄ and o = x̄ · W_V added to the residual st.y = x_t. */
function attendForward(st: State, scores: ScoreStage, b: number, i: number, t: number, visible: number): void {
  const { d, H, dh, N, S } = st.dims;
  const { x, y, a, p, xbar, o, wv, wAt } = st;
  for (let c = 0; c < d; c++) y[c] = x[t * d + c]; // the residual input
  for (let h = 0; h < H; h++) {
    const max = scores.forward(st, h, i, t, visible);
    if (!(Math.abs(max) < F32_MAX)) st.lossSum = NaN; // float32 would have overflowed
    const pRow = (h * S + i) * N;
    softmaxForward(a, max, visible, N, p, pRow);
    if (st.weightsOut !== null && st.logitsOut !== null) {
      const outRow = (((st.r * st.B + b) * H + h) * S + i) * N;
      for (let j = 0; j < N; j++) {
        st.weightsOut[outRow + j] = p[pRow + j];
        st.logitsOut[outRow + j] = j < visible ? a[j] : MASKED;
      }
    }
    // mix: x̄ = Σ_j p_j x_j, then o_h = x̄ · W_V,h into head h's columns of the residual.
    // Both loops run their inner index over contiguous memory (x_j's row, W_V's row); each sum keeps its order.
    const xbarRow = (h * S + i) * d;
    xbar.fill(0, xbarRow, xbarRow + d);
    for (let j = 0; j < visible; j++) {
      const pj = p[pRow + j];
      for (let c = 0; c < d; c++) xbar[xbarRow + c] += pj * x[j * d + c];
    }
    o.fill(0);
    for (let c = 0; c < d; c++) {
      const xc = xbar[xbarRow + c];
      const wRow = wAt + c * d + h * dh;
      for (let e = 0; e < dh; e++) o[e] += xc * wv[wRow + e];
    }
    for (let e = 0; e < dh; e++) y[h * dh + e] += o[e];
  }
}

/** p = softmax(a) over the first `visible` entries, 0 beyond, into p from pRow. */
function softmaxForward(a: Float64Array, max: number, visible: number, N: number, p: Float64Array, pRow: number): void {
  let sum = 0;
  for (let j = 0; j < visible; j++) {
    const e = kernelExp(a[j] - max);
    p[pRow + j] = e;
    sum += e;
  }
  for (let j = 0; j < visible; j++) p[pRow + j] /= sum;
  for (let j = visible; j < N; j++) p[pRow + j] = 0;
}

/** Row i, every head, with st.g = ∂(x_t + o): back through the mix and the softmax, then the score stage. */
function attendBackward(st: State, scores: ScoreStage, i: number, t: number, visible: number): void {
  const { d, H, dh, N, S, scale } = st.dims;
  const { x, g, gxbar, gp, a, p, xbar, gwv, wv, wAt } = st;
  for (let h = 0; h < H; h++) {
    const pRow = (h * S + i) * N;
    const xbarRow = (h * S + i) * d;
    // mix: o_h = x̄ · W_V,h. W_V's gradient is the outer product x̄_h ⊗ ∂o_h, summed over the batch's rows as they come.
    for (let c = 0; c < d; c++) {
      const xc = xbar[xbarRow + c];
      const wRow = wAt + c * d + h * dh;
      const gRow = c * d + h * dh;
      let acc = 0;
      for (let e = 0; e < dh; e++) {
        const ge = g[h * dh + e];
        gwv[gRow + e] += xc * ge;
        acc += wv[wRow + e] * ge;
      }
      gxbar[c] = acc;
    }
    // x̄ = Σ p_j x_j: ∂p_j = ∂x̄ · x_j. (The values' share of ∂x_j, p_j ∂x̄, is added by the score stage in
    // its own pass over x_j, so x is walked once.)
    let dot = 0;
    for (let j = 0; j < visible; j++) {
      let acc = 0;
      for (let c = 0; c < d; c++) acc += gxbar[c] * x[j * d + c];
      gp[j] = acc;
      dot += p[pRow + j] * acc;
    }
    // softmax: ∂a_j = p_j (∂p_j − Σ p ∂p), times the score's scale, into st.a for the score stage.
    for (let j = 0; j < visible; j++) a[j] = p[pRow + j] * (gp[j] - dot) * scale;
    scores.backward(st, h, i, t, visible, pRow);
  }
}

// ---- residual + norm ------------------------------------------------------------------------------------------

/** LayerNorm of st.y (biased variance, as tf.moments): st.y becomes the normalised row, st.z the output. */
function normForward(st: State): void {
  const { d } = st.dims;
  const { y, z, gamma, beta, vecAt } = st;
  let mean = 0;
  for (let c = 0; c < d; c++) mean += y[c];
  mean /= d;
  let variance = 0;
  for (let c = 0; c < d; c++) variance += (y[c] - mean) * (y[c] - mean);
  if (!(variance < F32_MAX)) st.lossSum = NaN; // float32 would have overflowed
  variance /= d;
  const invStd = 1 / Math.sqrt(variance + LN_EPS);
  st.invStd = invStd;
  for (let c = 0; c < d; c++) {
    y[c] = (y[c] - mean) * invStd;
    z[c] = y[c] * gamma[vecAt + c] + beta[vecAt + c];
  }
}

/** With st.g = ∂z: the gain and bias gradients, then st.g = ∂(x_t + o), and the residual's share into ∂x_t. */
function normBackward(st: State, t: number): void {
  const { d } = st.dims;
  const { y, g, gamma, vecAt, ggamma, gbeta, gx, invStd } = st;
  let meanG = 0;
  let meanGy = 0;
  for (let c = 0; c < d; c++) {
    ggamma[c] += g[c] * y[c];
    gbeta[c] += g[c];
    const gn = g[c] * gamma[vecAt + c];
    g[c] = gn;
    meanG += gn;
    meanGy += gn * y[c];
  }
  meanG /= d;
  meanGy /= d;
  for (let c = 0; c < d; c++) {
    g[c] = (g[c] - meanG - y[c] * meanGy) * invStd;
    gx[t * d + c] += g[c]; // the residual branch
  }
}

// ---- unembed + loss -----------------------------------------------------------------------------------------

/** logits = z · W_unembed, cross-entropy against the target, and whether the argmax hits it. */
function readoutForward(st: State, b: number, i: number): void {
  const { d, C, S } = st.dims;
  const { z, cls, clsExp, unembed, unembedAt } = st;
  // Row by row of W_unembed, so the inner loop is contiguous; each logit still sums over c in order.
  cls.fill(0);
  for (let c = 0; c < d; c++) {
    const zc = z[c];
    const row = unembedAt + c * C;
    for (let k = 0; k < C; k++) cls[k] += zc * unembed[row + k];
  }
  let best = 0;
  for (let k = 1; k < C; k++) if (cls[k] > cls[best]) best = k;
  const top = cls[best];
  if (!(Math.abs(top) < F32_MAX)) st.lossSum = NaN; // float32 would have overflowed
  let sumExp = 0;
  for (let k = 0; k < C; k++) {
    clsExp[k] = kernelExp(cls[k] - top);
    sumExp += clsExp[k];
  }
  const target = st.targets[b * S + i];
  st.sumExp = sumExp;
  st.lossSum += Math.log(sumExp) + top - cls[target];
  if (best === target) st.correct++;
}

/** ∂logits (softmax − one-hot, over the batch's rows) into st.cls, and st.g = ∂z; W_unembed's gradient z ⊗ ∂logits summed as rows come. */
function readoutBackward(st: State, b: number, i: number): void {
  const { d, C, S } = st.dims;
  const { z, cls, clsExp, sumExp, g, unembed, unembedAt, gunembed, invRows } = st;
  const target = st.targets[b * S + i];
  for (let k = 0; k < C; k++) cls[k] = (clsExp[k] / sumExp - (k === target ? 1 : 0)) * invRows;
  for (let c = 0; c < d; c++) {
    const zc = z[c];
    const row = c * C;
    let acc = 0;
    for (let k = 0; k < C; k++) {
      const gk = cls[k];
      gunembed[row + k] += zc * gk;
      acc += unembed[unembedAt + row + k] * gk;
    }
    g[c] = acc;
  }
}

// ---- score: regrouped (every variant without QK-norm) ----------------------------------------------------------

/**
 * a_j = u · x_j / √dh with u = x_t · M_h, M_h = W_Q,h · W_K,hᵀ. Since x_t is s · (a sum of table and position
 * rows), u is s · (a sum of rows of table·M_h and pos·M_h), projected once per run and step; backward collects
 * ∂u into those projected rows and turns them into ∂M_h, ∂table, ∂pos, ∂W_Q and ∂W_K once per step.
 */
class RegroupedScores implements ScoreStage {
  private readonly m: Float64Array; // [H, d, d] M_h of the current run
  private readonly tu: Float64Array; // [H, V, d] table · M_h
  private readonly pu: Float64Array; // [H, N, d] pos · M_h
  private readonly gtu: Float64Array; // their gradients
  private readonly gpu: Float64Array;
  private readonly u: Float64Array; // [H, S, d] of the current example
  private readonly gu: Float64Array; // [d]
  private readonly gm: Float64Array; // [d, d]

  constructor(private readonly dims: Dims) {
    const { d, H, V, N, S } = dims;
    this.m = new Float64Array(H * d * d);
    this.tu = new Float64Array(H * V * d);
    this.pu = new Float64Array(H * N * d);
    this.gtu = new Float64Array(H * V * d);
    this.gpu = new Float64Array(H * N * d);
    this.u = new Float64Array(H * S * d);
    this.gu = new Float64Array(d);
    this.gm = new Float64Array(d * d);
  }

  startRun(st: State): void {
    const { d, H, dh, V, N } = this.dims;
    const { wq, wk, wAt } = st;
    for (let h = 0; h < H; h++) {
      const mAt = h * d * d;
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let e = 0; e < dh; e++) acc += wq[wAt + i * d + h * dh + e] * wk[wAt + j * d + h * dh + e];
          this.m[mAt + i * d + j] = acc;
        }
      }
      projectRows(st.table, st.tableAt, V, this.m, mAt, d, this.tu, h * V * d);
      projectRows(st.pos, st.posAt, N, this.m, mAt, d, this.pu, h * N * d);
    }
    if (st.backward) {
      this.gtu.fill(0);
      this.gpu.fill(0);
    }
  }

  startExample(): void {}

  forward(st: State, h: number, i: number, t: number, visible: number): number {
    const { d, F, V, N, S, scale, s } = this.dims;
    const { x, a, feats, featsAt } = st;
    const { u, tu, pu } = this;
    const uRow = (h * S + i) * d;
    for (let c = 0; c < d; c++) u[uRow + c] = pu[(h * N + t) * d + c];
    for (let f = 0; f < F; f++) {
      const tuRow = (h * V + feats[featsAt + t * F + f]) * d;
      for (let c = 0; c < d; c++) u[uRow + c] += tu[tuRow + c];
    }
    for (let c = 0; c < d; c++) u[uRow + c] *= s;
    let max = -Infinity;
    for (let j = 0; j < visible; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += u[uRow + c] * x[j * d + c];
      a[j] = dot * scale;
      if (a[j] > max) max = a[j];
    }
    return max;
  }

  backward(st: State, h: number, i: number, t: number, visible: number, pRow: number): void {
    const { d, F, V, N, S, s } = this.dims;
    const { x, a, p, gx, gxbar, feats, featsAt } = st;
    const { u, gu, gtu, gpu } = this;
    const uRow = (h * S + i) * d;
    gu.fill(0);
    for (let j = 0; j < visible; j++) {
      const ga = a[j]; // ∂loss/∂(u·x_j), the scale already in
      const pj = p[pRow + j];
      for (let c = 0; c < d; c++) {
        gu[c] += ga * x[j * d + c];
        gx[j * d + c] += ga * u[uRow + c] + pj * gxbar[c];
      }
    }
    // u was s · (a sum of rows of table·M_h and pos·M_h).
    for (let c = 0; c < d; c++) gpu[(h * N + t) * d + c] += s * gu[c];
    for (let f = 0; f < F; f++) {
      const tuRow = (h * V + feats[featsAt + t * F + f]) * d;
      for (let c = 0; c < d; c++) gtu[tuRow + c] += s * gu[c];
    }
  }

  finishExample(): void {}

  finishRun(st: State, gwq: Float32Array, gwk: Float32Array): void {
    const { d, H, dh, V, N } = this.dims;
    const { table, tableAt, pos, posAt, wq, wk, wAt, gtable, gpos } = st;
    const { m, gm, gtu, gpu } = this;
    for (let h = 0; h < H; h++) {
      // ∂M_h from the projected rows' gradients, and the rows' own share through M_h.
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let row = 0; row < V; row++) acc += table[tableAt + row * d + i] * gtu[(h * V + row) * d + j];
          for (let row = 0; row < N; row++) acc += pos[posAt + row * d + i] * gpu[(h * N + row) * d + j];
          gm[i * d + j] = acc;
        }
      }
      for (let row = 0; row < V; row++) {
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += gtu[(h * V + row) * d + j] * m[(h * d + i) * d + j];
          gtable[row * d + i] += acc;
        }
      }
      for (let row = 0; row < N; row++) {
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += gpu[(h * N + row) * d + j] * m[(h * d + i) * d + j];
          gpos[row * d + i] += acc;
        }
      }
      // M_h = W_Q,h · W_K,hᵀ: its gradient splits into W_Q,h's and W_K,h's.
      for (let i = 0; i < d; i++) {
        for (let e = 0; e < dh; e++) {
          let accQ = 0;
          let accK = 0;
          for (let j = 0; j < d; j++) {
            accQ += gm[i * d + j] * wk[wAt + j * d + h * dh + e];
            accK += gm[j * d + i] * wq[wAt + j * d + h * dh + e];
          }
          gwq[wAt + i * d + h * dh + e] += accQ;
          gwk[wAt + i * d + h * dh + e] += accK;
        }
      }
    }
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

// ---- score: explicit, with QK-norm ---------------------------------------------------------------------------------

/**
 * q = x_t·W_Q,h   q̂ = g_Q,h ⊙ q / rms(q)   k_j = x_j·W_K,h   k̂_j = g_K,h ⊙ k_j / rms(k_j)   a_j = q̂·k̂_j / √dh
 * with rms(z) = √(mean(z²) + ε). Keys are projected once per example; ∂k̂_j is summed over the example's rows and
 * taken back through the keys' RMSNorm and projection once every row is done. RMSNorm's backward, for n = z / rms(z)
 * and upstream γ on g ⊙ n: ∂g = γ ⊙ n,  ∂z = (γ ⊙ g − n · mean(γ ⊙ g ⊙ n)) / rms(z).
 */
class NormedScores implements ScoreStage {
  private readonly q: Float64Array; // [H, S, dh] raw queries of the current example
  private readonly rq: Float64Array; // [H, S] their RMS
  private readonly qh: Float64Array; // [H, S, dh] normed queries, gain applied
  private readonly k: Float64Array; // [H, N, dh] raw keys
  private readonly rk: Float64Array; // [H, N]
  private readonly kh: Float64Array; // [H, N, dh]
  private readonly gkh: Float64Array; // [H, N, dh] ∂k̂, summed over the example's rows
  private readonly gwq: Float64Array; // [d, d] the run's accumulators
  private readonly gwk: Float64Array;
  private readonly ggainQ: Float64Array; // [d]
  private readonly ggainK: Float64Array;
  private readonly gz: Float64Array; // [dh] scratch: ∂ of a raw query or key
  private readonly gup: Float64Array; // [dh] scratch: ∂ of a normed query

  constructor(private readonly dims: Dims) {
    const { d, H, dh, N, S } = dims;
    const f64 = (n: number) => new Float64Array(n);
    this.q = f64(H * S * dh);
    this.rq = f64(H * S);
    this.qh = f64(H * S * dh);
    this.k = f64(H * N * dh);
    this.rk = f64(H * N);
    this.kh = f64(H * N * dh);
    this.gkh = f64(H * N * dh);
    this.gwq = f64(d * d);
    this.gwk = f64(d * d);
    this.ggainQ = f64(d);
    this.ggainK = f64(d);
    this.gz = f64(dh);
    this.gup = f64(dh);
  }

  startRun(st: State): void {
    if (st.backward) for (const acc of [this.gwq, this.gwk, this.ggainQ, this.ggainK]) acc.fill(0);
  }

  startExample(st: State): void {
    const { d, H, dh, N } = this.dims;
    const { x, wk, wAt, gainK, vecAt } = st;
    const { k, rk, kh } = this;
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < N; j++) {
        const kRow = (h * N + j) * dh;
        const rms = project(x, j * d, wk, wAt, h * dh, d, dh, k, kRow);
        rk[h * N + j] = rms;
        for (let e = 0; e < dh; e++) kh[kRow + e] = (gainK[vecAt + h * dh + e] * k[kRow + e]) / rms;
      }
    }
    if (st.backward) this.gkh.fill(0);
  }

  forward(st: State, h: number, i: number, t: number, visible: number): number {
    const { d, dh, N, S, scale } = this.dims;
    const { x, a, wq, wAt, gainQ, vecAt } = st;
    const { q, rq, qh, kh } = this;
    const qRow = (h * S + i) * dh;
    const rms = project(x, t * d, wq, wAt, h * dh, d, dh, q, qRow);
    rq[h * S + i] = rms;
    for (let e = 0; e < dh; e++) qh[qRow + e] = (gainQ[vecAt + h * dh + e] * q[qRow + e]) / rms;
    let max = -Infinity;
    for (let j = 0; j < visible; j++) {
      let dot = 0;
      for (let e = 0; e < dh; e++) dot += qh[qRow + e] * kh[(h * N + j) * dh + e];
      a[j] = dot * scale;
      if (a[j] > max) max = a[j];
    }
    return max;
  }

  backward(st: State, h: number, i: number, t: number, visible: number, pRow: number): void {
    const { d, dh, N, S } = this.dims;
    const { x, a, p, gx, gxbar, wq, wAt, gainQ, vecAt } = st;
    const { q, rq, qh, kh, gkh, gwq, ggainQ, gz, gup } = this;
    const qRow = (h * S + i) * dh;
    for (let j = 0; j < visible; j++) {
      const pj = p[pRow + j];
      for (let c = 0; c < d; c++) gx[j * d + c] += pj * gxbar[c]; // the values' share
    }
    // ∂q̂ = Σ_j ∂a_j k̂_j now; ∂k̂_j += ∂a_j q̂, finished once every row has added its share.
    for (let e = 0; e < dh; e++) {
      let acc = 0;
      for (let j = 0; j < visible; j++) acc += a[j] * kh[(h * N + j) * dh + e];
      gup[e] = acc;
    }
    for (let j = 0; j < visible; j++) for (let e = 0; e < dh; e++) gkh[(h * N + j) * dh + e] += a[j] * qh[qRow + e];
    rmsBackward(q, qRow, rq[h * S + i], gup, 0, gainQ, vecAt + h * dh, ggainQ, h * dh, dh, gz);
    unproject(x, t * d, wq, wAt, h * dh, d, dh, gz, gwq, gx, t * d);
  }

  finishExample(st: State): void {
    const { d, H, dh, N } = this.dims;
    const { x, gx, wk, wAt, gainK, vecAt } = st;
    const { k, rk, gkh, gwk, ggainK, gz } = this;
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < N; j++) {
        const kRow = (h * N + j) * dh;
        rmsBackward(k, kRow, rk[h * N + j], gkh, kRow, gainK, vecAt + h * dh, ggainK, h * dh, dh, gz);
        unproject(x, j * d, wk, wAt, h * dh, d, dh, gz, gwk, gx, j * d);
      }
    }
  }

  finishRun(st: State, gwq: Float32Array, gwk: Float32Array, grads: StackedParams): void {
    const { d } = this.dims;
    const { wAt, vecAt } = st;
    for (let i = 0; i < d * d; i++) {
      gwq[wAt + i] += this.gwq[i];
      gwk[wAt + i] += this.gwk[i];
    }
    const gainQ = param(grads, 'layer0/attn/q_norm');
    const gainK = param(grads, 'layer0/attn/k_norm');
    for (let i = 0; i < d; i++) {
      gainQ[vecAt + i] = this.ggainQ[i];
      gainK[vecAt + i] = this.ggainK[i];
    }
  }
}

/** out[outAt + e] = Σ_c x[xAt + c] · W[wAt + c·d + col + e] for e < dh (head h's columns from `col`); returns rms(out). */
function project(
  x: Float64Array,
  xAt: number,
  w: Float32Array,
  wAt: number,
  col: number,
  d: number,
  dh: number,
  out: Float64Array,
  outAt: number,
): number {
  let sq = 0;
  for (let e = 0; e < dh; e++) {
    let acc = 0;
    for (let c = 0; c < d; c++) acc += x[xAt + c] * w[wAt + c * d + col + e];
    out[outAt + e] = acc;
    sq += acc * acc;
  }
  return Math.sqrt(sq / dh + RMS_EPS);
}

/** The backward of `project` for upstream gz [dh]: gW[c·d + col + e] += x_c · gz_e, and gx[gxAt + c] += Σ_e W · gz_e. */
function unproject(
  x: Float64Array,
  xAt: number,
  w: Float32Array,
  wAt: number,
  col: number,
  d: number,
  dh: number,
  gz: Float64Array,
  gw: Float64Array,
  gx: Float64Array,
  gxAt: number,
): void {
  for (let c = 0; c < d; c++) {
    let acc = 0;
    for (let e = 0; e < dh; e++) {
      gw[c * d + col + e] += x[xAt + c] * gz[e];
      acc += w[wAt + c * d + col + e] * gz[e];
    }
    gx[gxAt + c] += acc;
  }
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
