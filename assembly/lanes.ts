/**
 * The kernel for every built-in model, several runs at a time: each number of the model is a vector of one number per
 * run, two float64s (f64x2) or four float32s (f32x4), lanesPass taking the width, and every instruction does the same step
 * of every run. The code is written once, generic over the lane type T (f64 or f32). Any number of layers, every
 * variant (qkv, qv, qx, qq), QK-norm, causal or full attention, any number of heads. It is the textbook layer:
 * Q, K and V projected for the whole batch, then scores, softmax and mix per example.
 *
 * Each lane computes in the scalar order: every sum starts at 0 and adds its terms in the order of the loops below,
 * no sum is split across lanes, and nothing crosses from one lane to the other. So a run's figures do not depend on
 * which runs share its vector, or on its lane (test/model/kernel.test.ts checks alone against in a group, bit for bit).
 * Where the runs differ in control (their batch's tokens and targets), a lane loads its own value (gatherLanes) or
 * adds through a mask. Exponentials are exp2 (kernelExp's bits, two float64 lanes at once; float32 lanes widened to
 * float64 and rounded back) and logarithms JavaScript's Math.log (imported), lane by lane.
 *
 * Per example, with X_0 = s · (Σ_f table[feature_jf] + pos_j)  [N, d], for layer l = 0 … L−1 and its query rows
 * (all N positions, except the last layer: only the S supervised rows, t = queryStart + i):
 *
 *   Q = X[rows]·W_Q   K = X·W_K (qv: X·W_V, qx: X, qq: X·W_Q)   V = X·W_V        project
 *   with QK-norm: Q_h ← g_q,h · Q_h / rms(Q_h),  K_h ← g_k,h · K_h / rms(K_h)     (V is never normed)
 *   a_ij = Q_i,h · K_j,h / √dh,  p = softmax_j(a), j ≤ t when causal               score, softmax
 *   Y_i = X_t + [Σ_j p_ij V_j,h]_h,   X_{l+1},i = LayerNorm(Y_i)                   mix, residual + norm
 *   (values regrouped: [Σ_j p_ij V_j,h] = (Σ_j p_ij X_j) · W_V,h, where that is less work, see lanesShape)
 *   logits = X_L · W_unembed,  loss = mean cross-entropy over the supervised rows  unembed, loss
 *
 * Layer 0's input is a sum of embedding rows, so its projections are too: X_0,j·W = s · (pos_j·W + Σ_f table_f·W).
 * Where the V + N embedding rows are fewer than the batch's rows (lanesUsesTables), the kernel projects them once a
 * pass and adds the projected rows per example (N·F·d adds instead of N·d·d multiply-adds); the backward pass sums
 * the rows' gradients per table row and projects them back once, as assembly/fused.ts does with its projected tables.
 *
 * Memory (laid out by src/model/kernel.ts): parameters and gradients as vectors, in the order of paramSpecs
 * (src/model/paramSpecs.ts); each run's batch as int32; attention records and inputs as float32, lane 0's block
 * then lane 1's, and so on; and the scratch area below.
 */
import { ExpPair } from './expPair';
import { STORE, START_FROM, ADD_AFTER } from './sums';

declare function jsLog(x: f64): f64;

const MASKED: f64 = -1e9;
const LN_EPS: f64 = 1e-5;
const RMS_EPS: f64 = 1e-6;
const F32_MAX: f64 = 3.4028234663852886e38;
const QKV = 0;
const QV = 1;
const QX = 2;
const QQ = 3;

// ---- shapes (lanesShape) -------------------------------------------------------------------------------------
let L: i32 = 0;
let d: i32 = 0;
let H: i32 = 0;
let dh: i32 = 0;
let N: i32 = 0;
let F: i32 = 0;
let V: i32 = 0;
let C: i32 = 0;
let S: i32 = 0;
let qStart: i32 = 0;
let causal: bool = false;
let scale: f64 = 0;
let s: f64 = 1;
let variant: i32 = 0;
let qkNorm: bool = false;

// ---- per layer: buffer pointers and parameter offsets, in a table in the scratch area ----------------------------
const X = 0; // [B·N, d] the layer's input (the previous layer's OUT)
const XQ = 1; // [B·rows, d] the query rows' input (X itself when rows = N)
const Q = 2; // [B·rows, d] Q before QK-norm
const QN = 3; // after it (Q itself without QK-norm)
const QINV = 4; // [B·rows, H] 1 / rms
const K = 5; // [B·N, d] K before QK-norm: its own buffer (qkv, qq), V (qv) or X (qx)
const KN = 6;
const KINV = 7; // [B·N, H]
const VV = 8; // [B·N, d]
const P = 9; // [B, H, rows, N] attention weights
const YHAT = 10; // [B·rows, d] the normalised residual sum
const INVSTD = 11; // [B·rows]
const OUT = 12; // [B·rows, d]
const GX = 13;
const GXQ = 14;
const GQ = 15;
const GQN = 16;
const GK = 17;
const GKN = 18;
const GV = 19;
const ROWS = 20;
const START = 21;
const WQ = 22; // parameter offsets (vectors) from the parameter block's start
const WK = 23;
const WV = 24;
const GAINQ = 25;
const GAINK = 26;
const GAMMA = 27;
const BETA = 28;
const REC_W = 29; // float32 attention records of this layer, or 0
const REC_A = 30;
const MIX_X = 31; // 1 where the layer mixes inputs and then projects them (values regrouped), else 0
const XBAR = 32; // [B·rows, H, d] with MIX_X: Σ_j p_ij x_j per row and head
const FIELDS = 34;

let layerTable: usize = 0;
let TABLE: i32 = 0;
let POS: i32 = 0;
let UNEMBED: i32 = 0;
let paramCount: i32 = 0;
let logits: usize = 0; // [Bmax·S, C], then their gradient
let classExp: usize = 0; // [C] one row's e^(logit − max), for its sum and then its gradient
let gOut: usize = 0; // [Bmax·S, d]
let y: usize = 0; // [d] one row's residual sum, then its gradient
let gp: usize = 0; // [N]
let gxbar: usize = 0; // [d] its gradient
// One example's rows in layerBackward, for the sums over its rows after them: ∂Y per row, and ∂a per head and row.
let gyRows: usize = 0; // [N, d]
let gaRows: usize = 0; // [H, N, N]
// Layer 0's projections through the embedding tables: table·W [V, d] and pos·W [N, d] per projection, and their
// gradients; K's are Q's for qq, and a projection layer 0 does not make has none (0).
let tableQ: usize = 0;
let posQ: usize = 0;
let gTableQ: usize = 0;
let gPosQ: usize = 0;
let tableK: usize = 0;
let posK: usize = 0;
let gTableK: usize = 0;
let gPosK: usize = 0;
let tableV: usize = 0;
let posV: usize = 0;
let gTableV: usize = 0;
let gPosV: usize = 0;

// ---- the pass in progress -------------------------------------------------------------------------------------------
let prm: usize = 0;
let grd: usize = 0;
let feats: usize = 0; // lane k's batch features at feats + k·featsStride (int32)
let featsStride: usize = 0;
let targets: usize = 0; // likewise
let targetsStride: usize = 0;
let tables: bool = false; // layer 0 projects through the embedding tables in this pass (lanesUsesTables)
let lossSum: v128 = v128.splat<i64>(0);
let correct: v128 = v128.splat<i64>(0);

function field(l: i32, f: i32): usize {
  return load<usize>(layerTable + ((<usize>(l * FIELDS + f)) << 2));
}
function setField(l: i32, f: i32, v: usize): void {
  store<usize>(layerTable + ((<usize>(l * FIELDS + f)) << 2), v);
}
function w(l: i32, f: i32): usize {
  return prm + (field(l, f) << 4);
}
function gw(l: i32, f: i32): usize {
  return grd + (field(l, f) << 4);
}

function ld(p: usize, i: i32): v128 {
  return v128.load(p + ((<usize>i) << 4));
}
function st(p: usize, i: i32, v: v128): void {
  v128.store(p + ((<usize>i) << 4), v);
}
function acc<T>(p: usize, i: i32, v: v128): void {
  v128.store(p + ((<usize>i) << 4), v128.add<T>(v128.load(p + ((<usize>i) << 4)), v));
}
function splat<T>(x: f64): v128 {
  return v128.splat<T>(<T>x);
}
function zero(p: usize, n: i32): void {
  memory.fill(p, 0, (<usize>n) << 4);
}
/** How many runs a vector holds: two float64s or four float32s. */
function lanes<T>(): i32 {
  return 16 / <i32>sizeof<T>();
}
/** Lane k's int32 at index i of a per-lane block (features or targets). */
function laneI32(block: usize, stride: usize, k: i32, i: i32): i32 {
  return load<i32>(block + stride * k + ((<usize>i) << 2));
}
/** All ones in lane k, zeros elsewhere. */
function laneMask<T>(k: i32): v128 {
  if (sizeof<T>() == 8) return k == 0 ? i64x2(-1, 0) : i64x2(0, -1);
  return k == 0 ? i32x4(-1, 0, 0, 0) : k == 1 ? i32x4(0, -1, 0, 0) : k == 2 ? i32x4(0, 0, -1, 0) : i32x4(0, 0, 0, -1);
}
/** Lane k from the vector at pk: where the runs read different rows (their own tokens or targets). */
function gatherLanes<T>(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  const width = <usize>sizeof<T>();
  if (width == 8) return v128.bitselect(v128.load(p0), v128.load(p1), i64x2(-1, 0));
  let v = v128.load(p0);
  v = v128.load_lane<T>(p1 + width, v, 1);
  if (width == 4) {
    v = v128.load_lane<T>(p2 + 2 * width, v, 2);
    v = v128.load_lane<T>(p3 + 3 * width, v, 3);
  }
  return v;
}
/** The address of lane k's row `index` of a table of d-vectors at `table`, where lane k reads `index` from `block`. */
function laneRow(table: usize, block: usize, stride: usize, k: i32, i: i32, width: i32): usize {
  return table + ((<usize>(laneI32(block, stride, k, i) * width)) << 4);
}
/** JavaScript's Math.log, lane by lane (float32 lanes: of the float32 value, rounded back to float32). */
function logLanes<T>(v: v128): v128 {
  if (sizeof<T>() == 8) return f64x2.replace_lane(f64x2.splat(jsLog(f64x2.extract_lane(v, 0))), 1, jsLog(f64x2.extract_lane(v, 1)));
  let r = f32x4.splat(<f32>jsLog(<f64>f32x4.extract_lane(v, 0)));
  r = f32x4.replace_lane(r, 1, <f32>jsLog(<f64>f32x4.extract_lane(v, 1)));
  r = f32x4.replace_lane(r, 2, <f32>jsLog(<f64>f32x4.extract_lane(v, 2)));
  return f32x4.replace_lane(r, 3, <f32>jsLog(<f64>f32x4.extract_lane(v, 3)));
}
/**
 * The kernel's exponential lane by lane: exp2's bits (kernelExp's) for float64 lanes; for float32 lanes, exp2 of
 * each lane's value widened to float64, rounded to float32 (a lane's result depends on its own value only).
 */
function expLanes<T>(x: v128): v128 {
  if (sizeof<T>() == 8) return ExpPair.of(x);
  const low = f32x4.demote_f64x2_zero(ExpPair.of(f64x2.promote_low_f32x4(x)));
  const high = f32x4.demote_f64x2_zero(ExpPair.of(f64x2.promote_low_f32x4(v128.shuffle<u32>(x, x, 2, 3, 0, 1))));
  return v128.shuffle<u32>(low, high, 0, 1, 4, 5);
}
/** NaN in the lanes where `finite` is false: float32 would have overflowed there, which is what "diverged" means. */
function flagOverflow<T>(finite: v128): void {
  lossSum = v128.bitselect(lossSum, splat<T>(NaN), finite);
}
/** Every lane to float32, lane k at entry i of the block at p + k·block bytes. */
function record<T>(p: usize, block: usize, i: i32, v: v128): void {
  const at = p + ((<usize>i) << 2);
  if (sizeof<T>() == 8) {
    store<f32>(at, <f32>f64x2.extract_lane(v, 0));
    store<f32>(at + block, <f32>f64x2.extract_lane(v, 1));
  } else {
    store<f32>(at, f32x4.extract_lane(v, 0));
    store<f32>(at + block, f32x4.extract_lane(v, 1));
    store<f32>(at + 2 * block, f32x4.extract_lane(v, 2));
    store<f32>(at + 3 * block, f32x4.extract_lane(v, 3));
  }
}

/** dst[e] += k · src[e] for e < n, walked by pointer (no index arithmetic an entry). */
function addScaled<T>(dst: usize, k: v128, src: usize, n: i32): void {
  const end = dst + ((<usize>n) << 4);
  for (let ps = src; dst < end; dst += 16) {
    v128.store(dst, v128.add<T>(v128.load(dst), v128.mul<T>(k, v128.load(ps))));
    ps += 16;
  }
}

/** Where static data ends: the JavaScript side lays out its blocks from here. */
export function lanesHeapBase(): usize {
  return __heap_base;
}

let at: usize = 0;
function take(n: i32): usize {
  const ptr = at;
  at += ((<usize>n) << 4) + 16;
  return ptr;
}

/**
 * The group's shapes, and scratch for batches of up to Bmax examples from `scratch`; returns the scratch bytes.
 * variant: 0 qkv, 1 qv, 2 qx, 3 qq.
 */
export function lanesShape(
  L_: i32,
  d_: i32,
  H_: i32,
  N_: i32,
  F_: i32,
  V_: i32,
  C_: i32,
  S_: i32,
  qStart_: i32,
  causal_: bool,
  s_: f64,
  variant_: i32,
  qkNorm_: bool,
  Bmax: i32,
  scratch: usize,
): usize {
  L = L_;
  d = d_;
  H = H_;
  dh = d_ / H_;
  N = N_;
  F = F_;
  V = V_;
  C = C_;
  S = S_;
  qStart = qStart_;
  causal = causal_;
  scale = 1 / Math.sqrt(<f64>d_ / <f64>H_);
  s = s_;
  variant = variant_;
  qkNorm = qkNorm_;
  layerTable = scratch;
  at = (scratch + (((<usize>(L * FIELDS)) << 2) + 15)) & ~(<usize>15);
  // Parameter offsets, in paramSpecs' order.
  let off: i32 = 0;
  TABLE = off;
  off += V * d;
  POS = off;
  off += N * d;
  for (let l = 0; l < L; l++) {
    setField(l, WQ, off);
    off += d * d;
    if (variant == QKV) {
      setField(l, WK, off);
      off += d * d;
    }
    setField(l, WV, off);
    off += d * d;
    if (variant == QV) setField(l, WK, field(l, WV));
    if (variant == QQ) setField(l, WK, field(l, WQ));
    if (qkNorm) {
      setField(l, GAINQ, off);
      off += d;
      setField(l, GAINK, off);
      off += d;
    }
    setField(l, GAMMA, off);
    off += d;
    setField(l, BETA, off);
    off += d;
  }
  UNEMBED = off;
  off += d * C;
  paramCount = off;
  // Activations, per layer.
  let x = take(Bmax * N * d);
  for (let l = 0; l < L; l++) {
    const last = l == L - 1;
    const rows = last ? S : N;
    setField(l, ROWS, rows);
    const startRow: i32 = last ? qStart : 0;
    setField(l, START, <usize>startRow);
    setField(l, X, x);
    setField(l, XQ, rows == N ? x : take(Bmax * rows * d));
    const q = take(Bmax * rows * d);
    setField(l, Q, q);
    setField(l, QN, qkNorm ? take(Bmax * rows * d) : q);
    setField(l, QINV, take(Bmax * rows * H));
    // Values regrouped: the last layer needs its values only mixed, at its S rows, so mixing the inputs first and
    // projecting the S·H mixtures, S·H·(N + dh)·d multiply-adds, beats projecting all N values, N·d·d, for few
    // queries. qv's keys are its values, so it projects them anyway. Either way is the same model; this is speed.
    const mixX = last && variant != QV && S * H * (N + dh) < N * d;
    setField(l, MIX_X, mixX ? 1 : 0);
    setField(l, XBAR, mixX ? take(Bmax * rows * H * d) : 0);
    const v: usize = mixX ? 0 : take(Bmax * N * d);
    setField(l, VV, v);
    const k = variant == QV ? v : variant == QX ? x : take(Bmax * N * d);
    setField(l, K, k);
    setField(l, KN, qkNorm ? take(Bmax * N * d) : k);
    setField(l, KINV, take(Bmax * N * H));
    setField(l, P, take(Bmax * H * rows * N));
    setField(l, YHAT, take(Bmax * rows * d));
    setField(l, INVSTD, take(Bmax * rows));
    const out = take(Bmax * rows * d);
    setField(l, OUT, out);
    const gx = take(Bmax * N * d);
    setField(l, GX, gx);
    setField(l, GXQ, rows == N ? gx : take(Bmax * rows * d));
    const gq = take(Bmax * rows * d);
    setField(l, GQ, gq);
    setField(l, GQN, qkNorm ? take(Bmax * rows * d) : gq);
    const gk = take(Bmax * N * d);
    setField(l, GK, gk);
    setField(l, GKN, qkNorm ? take(Bmax * N * d) : gk);
    setField(l, GV, mixX ? 0 : take(Bmax * N * d));
    setField(l, REC_W, 0);
    setField(l, REC_A, 0);
    x = out; // the next layer reads this layer's output
  }
  logits = take(Bmax * S * C);
  classExp = take(C);
  gOut = take(Bmax * S * d);
  y = take(d);
  gp = take(N);
  gxbar = take(d);
  gyRows = take(N * d);
  gaRows = take(H * N * N);
  tableQ = take(V * d);
  posQ = take(N * d);
  gTableQ = take(V * d);
  gPosQ = take(N * d);
  const ownK = variant == QKV;
  tableK = ownK ? take(V * d) : variant == QQ ? tableQ : 0;
  posK = ownK ? take(N * d) : variant == QQ ? posQ : 0;
  gTableK = ownK ? take(V * d) : variant == QQ ? gTableQ : 0;
  gPosK = ownK ? take(N * d) : variant == QQ ? gPosQ : 0;
  const ownV = field(0, MIX_X) == 0;
  tableV = ownV ? take(V * d) : 0;
  posV = ownV ? take(N * d) : 0;
  gTableV = ownV ? take(V * d) : 0;
  gPosV = ownV ? take(N * d) : 0;
  return at - scratch;
}

/** How many numbers a run's parameters hold: the JavaScript side checks its layout against it. */
export function lanesParamCount(): i32 {
  return paramCount;
}

/** Whether layer l mixes its inputs before projecting values (the regrouped values of lanesShape): for the tests. */
export function lanesRegroupsValues(l: i32): bool {
  return field(l, MIX_X) != 0;
}

/**
 * Whether layer 0 projects through the embedding tables for a batch of B examples: when the table rows it projects
 * (V + N for each of its projections) are fewer than the example rows it would project (B per query row, key and
 * value). A task with a large vocabulary and a small batch projects its examples' rows instead.
 */
export function lanesUsesTables(B: i32): bool {
  const projectsValues = field(0, MIX_X) == 0;
  const projectsKeys = variant == QKV || variant == QQ;
  const own = 1 + (projectsValues ? 1 : 0) + (variant == QKV ? 1 : 0); // qq's keys use Q's tables
  const rows = <i32>field(0, ROWS) + (projectsValues ? N : 0) + (projectsKeys ? N : 0);
  return <i64>own * <i64>(V + N) < <i64>B * <i64>rows;
}

/** Where layer l's float32 attention records go in the next pass ([width, B, H, rows, N] each, lane 0's first), or 0. */
export function lanesRecord(l: i32, weights: usize, scores: usize): void {
  setField(l, REC_W, weights);
  setField(l, REC_A, scores);
}

/**
 * The layout of lanesPass's arguments: 2 since each lane's batch is at a base plus a stride and the width is an
 * argument. The JavaScript side refuses a module without it (one built before), which would read them wrongly.
 */
export function lanesLayout(): i32 {
  return 2;
}

/**
 * One pass of `width` runs over their batches: 2 in float64 lanes (f64x2), 4 in float32 lanes (f32x4). B examples
 * each; features and targets int32, lane k's at feats + k·featsStride and targets + k·targetsStride (the same block
 * for a shared batch). params: vectors; grads: vectors, overwritten, or 0 for no backward. inputs: float32
 * [width, B, N, d] of the last layer's input, or 0. loss and correct: one vector each, of the lanes' type.
 */
export function lanesPass(
  width: i32,
  B: i32,
  params: usize,
  grads: usize,
  feats_: usize,
  featsStride_: usize,
  targets_: usize,
  targetsStride_: usize,
  inputs: usize,
  lossOut: usize,
  correctOut: usize,
): void {
  prm = params;
  grd = grads;
  feats = feats_;
  featsStride = featsStride_;
  targets = targets_;
  targetsStride = targetsStride_;
  if (width == 4) passLanes<f32>(B, inputs, lossOut, correctOut);
  else passLanes<f64>(B, inputs, lossOut, correctOut);
}

function passLanes<T>(B: i32, inputs: usize, lossOut: usize, correctOut: usize): void {
  const grads = grd;
  lossSum = splat<T>(0);
  correct = splat<T>(0);
  const invRows: f64 = 1 / <f64>(B * S);
  tables = lanesUsesTables(B);
  embed<T>(B);
  for (let l = 0; l < L; l++) layerForward<T>(l, B);
  if (inputs != 0) {
    const x = field(L - 1, X);
    const n = B * N * d;
    for (let i = 0; i < n; i++) record<T>(inputs, (<usize>n) << 2, i, ld(x, i));
  }
  readout<T>(B, grads != 0 ? invRows : 0);
  v128.store(lossOut, v128.mul<T>(lossSum, splat<T>(invRows)));
  v128.store(correctOut, v128.mul<T>(correct, splat<T>(invRows)));
  if (grads == 0) return;
  zero(grads + ((<usize>TABLE) << 4), V * d);
  zero(grads + ((<usize>POS) << 4), N * d);
  for (let l = 0; l < L; l++) {
    const first = field(l, WQ);
    zero(grads + (first << 4), <i32>(field(l, BETA) + d - first));
  }
  // (UNEMBED's gradient is written, not added, by readout's backward below.)
  readoutBackward<T>(B);
  for (let l = L - 1; l >= 0; l--) layerBackward<T>(l, B, l == L - 1 ? gOut : field(l + 1, GX));
  embedBackward<T>(B);
}

// ---- embed -------------------------------------------------------------------------------------------------------

function embed<T>(B: i32): void {
  gatherRows<T>(prm + ((<usize>TABLE) << 4), prm + ((<usize>POS) << 4), field(0, X), B, N, 0);
}

function embedBackward<T>(B: i32): void {
  scatterRows<T>(field(0, GX), grd + ((<usize>TABLE) << 4), grd + ((<usize>POS) << 4), B, N, 0);
}

// ---- one layer ------------------------------------------------------------------------------------------------------

function layerForward<T>(l: i32, B: i32): void {
  const rows = <i32>field(l, ROWS);
  const start = <i32>field(l, START);
  const x = field(l, X);
  const xq = field(l, XQ);
  const q = field(l, Q);
  const qn = field(l, QN);
  const k = field(l, K);
  const kn = field(l, KN);
  const v = field(l, VV);
  const p = field(l, P);
  const yhat = field(l, YHAT);
  const invStd = field(l, INVSTD);
  const out = field(l, OUT);
  const recW = field(l, REC_W);
  const recA = field(l, REC_A);
  const recBlock = (<usize>(B * H * rows * N)) << 2;
  const mixX = field(l, MIX_X) != 0;
  const xbar = field(l, XBAR);
  const wv = w(l, WV);
  if (xq != x) {
    for (let b = 0; b < B; b++) memory.copy(xq + ((<usize>(b * rows * d)) << 4), x + ((<usize>((b * N + start) * d)) << 4), (<usize>(rows * d)) << 4);
  }
  if (l == 0 && tables) {
    projectTables<T>(w(0, WQ), tableQ, posQ);
    gatherRows<T>(tableQ, posQ, q, B, rows, start);
    if (!mixX) {
      projectTables<T>(wv, tableV, posV);
      gatherRows<T>(tableV, posV, v, B, N, 0);
    }
    if (variant == QKV) projectTables<T>(w(0, WK), tableK, posK);
    if (variant == QKV || variant == QQ) gatherRows<T>(tableK, posK, k, B, N, 0);
  } else {
    matmul<T>(xq, w(l, WQ), q, B * rows, d, d);
    if (!mixX) matmul<T>(x, wv, v, B * N, d, d);
    if (variant == QKV) matmul<T>(x, w(l, WK), k, B * N, d, d);
    else if (variant == QQ) matmul<T>(x, w(l, WQ), k, B * N, d, d);
  }
  if (qkNorm) {
    rmsNormForward<T>(q, qn, field(l, QINV), w(l, GAINQ), B * rows);
    rmsNormForward<T>(k, kn, field(l, KINV), w(l, GAINK), B * N);
  }
  const sc = splat<T>(scale);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < rows; i++) {
      const row = b * rows + i;
      const visible = causal ? start + i + 1 : N;
      for (let c = 0; c < d; c++) st(y, c, ld(xq, row * d + c)); // the residual input
      for (let h = 0; h < H; h++) {
        const pRow = ((b * H + h) * rows + i) * N;
        let max = splat<T>(-Infinity);
        // q·k_j for every visible j, summed over the head's entries in order; then scaled.
        rowDots<T>(kn + ((<usize>(b * N * d + h * dh)) << 4), d, qn + ((<usize>(row * d + h * dh)) << 4), dh, p + ((<usize>pRow) << 4), visible);
        for (let j = 0; j < visible; j++) {
          const a = v128.mul<T>(ld(p, pRow + j), sc);
          st(p, pRow + j, a);
          max = v128.bitselect(a, max, v128.gt<T>(a, max));
        }
        flagOverflow<T>(v128.lt<T>(v128.abs<T>(max), splat<T>(F32_MAX)));
        if (recA != 0) for (let j = 0; j < N; j++) record<T>(recA, recBlock, pRow + j, j < visible ? ld(p, pRow + j) : splat<T>(MASKED));
        let sum = splat<T>(0);
        for (let j = 0; j < visible; j++) {
          const e = expLanes<T>(v128.sub<T>(ld(p, pRow + j), max));
          st(p, pRow + j, e);
          sum = v128.add<T>(sum, e);
        }
        for (let j = 0; j < visible; j++) st(p, pRow + j, v128.div<T>(ld(p, pRow + j), sum));
        for (let j = visible; j < N; j++) st(p, pRow + j, splat<T>(0));
        if (mixX) {
          // x̄ = Σ_j p_j X_j, then o = x̄ · W_V[:, head] (each entry summed over c in order), Y_h += o.
          // Each sum is kept in a register over its terms, in the order of j (or c), from 0 as zeroing and adding did.
          const xb = xbar + ((<usize>((row * H + h) * d)) << 4);
          weightedSums<T>(p + ((<usize>pRow) << 4), 1, x + ((<usize>(b * N * d)) << 4), d, visible, xb, d, STORE);
          weightedSums<T>(xb, 1, wv + ((<usize>(h * dh)) << 4), d, d, y + ((<usize>(h * dh)) << 4), dh, ADD_AFTER);
        } else {
          // Y_e += Σ_j p_j V_j,e, each entry's sum in a register, its terms in the order of j.
          weightedSums<T>(
            p + ((<usize>pRow) << 4),
            1,
            v + ((<usize>(b * N * d + h * dh)) << 4),
            d,
            visible,
            y + ((<usize>(h * dh)) << 4),
            dh,
            START_FROM,
          );
        }
      }
      // LayerNorm (biased variance, as tf.moments), then gain and bias.
      let mean = splat<T>(0);
      for (let c = 0; c < d; c++) mean = v128.add<T>(mean, ld(y, c));
      mean = v128.div<T>(mean, splat<T>(<f64>d));
      let variance = splat<T>(0);
      for (let c = 0; c < d; c++) {
        const dev = v128.sub<T>(ld(y, c), mean);
        variance = v128.add<T>(variance, v128.mul<T>(dev, dev));
      }
      flagOverflow<T>(v128.lt<T>(variance, splat<T>(F32_MAX)));
      const inv = v128.div<T>(splat<T>(1), v128.sqrt<T>(v128.add<T>(v128.div<T>(variance, splat<T>(<f64>d)), splat<T>(LN_EPS))));
      st(invStd, row, inv);
      const gamma = w(l, GAMMA);
      const beta = w(l, BETA);
      for (let c = 0; c < d; c++) {
        const n = v128.mul<T>(v128.sub<T>(ld(y, c), mean), inv);
        st(yhat, row * d + c, n);
        st(out, row * d + c, v128.add<T>(v128.mul<T>(n, ld(gamma, c)), ld(beta, c)));
      }
    }
  }
  if (recW != 0) for (let i = 0; i < B * H * rows * N; i++) record<T>(recW, recBlock, i, ld(p, i));
}

function layerBackward<T>(l: i32, B: i32, gOutL: usize): void {
  const rows = <i32>field(l, ROWS);
  const start = <i32>field(l, START);
  const x = field(l, X);
  const xq = field(l, XQ);
  const qn = field(l, QN);
  const kn = field(l, KN);
  const v = field(l, VV);
  const p = field(l, P);
  const yhat = field(l, YHAT);
  const invStd = field(l, INVSTD);
  const gx = field(l, GX);
  const gxq = field(l, GXQ);
  const gq = field(l, GQ);
  const gqn = field(l, GQN);
  const gk = field(l, GK);
  const gkn = field(l, GKN);
  const gv = field(l, GV);
  const mixX = field(l, MIX_X) != 0;
  const xbar = field(l, XBAR);
  const wv = w(l, WV);
  const gWv = gw(l, WV);
  const gamma = w(l, GAMMA);
  const gGamma = gw(l, GAMMA);
  const gBeta = gw(l, BETA);
  const dd = splat<T>(<f64>d);
  const sc = splat<T>(scale);
  zero(gx, B * N * d);
  if (gxq != gx) zero(gxq, B * rows * d);
  zero(gqn, B * rows * d);
  // gkn and gv need no zeroing: each example's sums over its rows store every entry (below).
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < rows; i++) {
      const row = b * rows + i;
      const visible = causal ? start + i + 1 : N;
      const gy = gyRows + ((<usize>(i * d)) << 4);
      // LayerNorm: ∂γ, ∂β, then ∂Y = (∂ŷ − mean ∂ŷ − ŷ · mean(∂ŷ ŷ)) / std, with ∂ŷ = γ ∂out.
      let meanG = splat<T>(0);
      let meanGy = splat<T>(0);
      for (let c = 0; c < d; c++) {
        const go = ld(gOutL, row * d + c);
        const n = ld(yhat, row * d + c);
        acc<T>(gGamma, c, v128.mul<T>(go, n));
        acc<T>(gBeta, c, go);
        const gn = v128.mul<T>(go, ld(gamma, c));
        st(gy, c, gn);
        meanG = v128.add<T>(meanG, gn);
        meanGy = v128.add<T>(meanGy, v128.mul<T>(gn, n));
      }
      meanG = v128.div<T>(meanG, dd);
      meanGy = v128.div<T>(meanGy, dd);
      const inv = ld(invStd, row);
      for (let c = 0; c < d; c++) {
        const gc = v128.mul<T>(v128.sub<T>(v128.sub<T>(ld(gy, c), meanG), v128.mul<T>(ld(yhat, row * d + c), meanGy)), inv);
        st(gy, c, gc);
        acc<T>(gxq, row * d + c, gc); // the residual branch
      }
      for (let h = 0; h < H; h++) {
        const pRow = ((b * H + h) * rows + i) * N;
        let dot = splat<T>(0);
        if (mixX) {
          // Y_h += x̄ · W_V,h with x̄ = Σ_j p_j X_j: ∂x̄ = W_V,h ∂Y_h, ∂W_V,h += x̄ ⊗ ∂Y_h, ∂p_j = ∂x̄ · X_j, ∂X_j += p_j ∂x̄.
          const xb = xbar + ((<usize>((row * H + h) * d)) << 4);
          const head = wv + ((<usize>(h * dh)) << 4);
          const gyHead = gy + ((<usize>(h * dh)) << 4);
          for (let c = 0; c < d; c++) addScaled<T>(gWv + ((<usize>(c * d + h * dh)) << 4), ld(xb, c), gyHead, dh);
          rowDots<T>(head, d, gy + ((<usize>(h * dh)) << 4), dh, gxbar, d); // ∂x̄_c = Σ_e W_V[c, h·dh + e] ∂Y_e
          rowDots<T>(x + ((<usize>(b * N * d)) << 4), d, gxbar, d, gp, visible); // ∂p_j = Σ_c X_j,c ∂x̄_c
          for (let j = 0; j < visible; j++) {
            const pj = ld(p, pRow + j);
            addScaled<T>(gx + ((<usize>((b * N + j) * d)) << 4), pj, gxbar, d);
            dot = v128.add<T>(dot, v128.mul<T>(pj, ld(gp, j)));
          }
        } else {
          // mix: Y_h += Σ_j p_j V_j,h, so ∂p_j = ∂Y_h · V_j,h (and ∂V_j,h = Σ_i p_ij ∂Y_i,h, once the rows are done).
          rowDots<T>(v + ((<usize>(b * N * d + h * dh)) << 4), d, gy + ((<usize>(h * dh)) << 4), dh, gp, visible);
          for (let j = 0; j < visible; j++) dot = v128.add<T>(dot, v128.mul<T>(ld(p, pRow + j), ld(gp, j)));
        }
        // softmax and score: ∂a_j = p_j (∂p_j − Σ p ∂p); a_j = scale · qn_i,h · kn_j,h.
        // ∂a into gp (and the example's gaRows), then ∂qn, a sum over j in a register (and ∂kn_j = Σ_i ∂a_ij qn_i once
        // the rows are done); each entry's terms in the order they were.
        const ga = gaRows + ((<usize>((h * rows + i) * N)) << 4);
        for (let j = 0; j < visible; j++) {
          const gaj = v128.mul<T>(v128.mul<T>(ld(p, pRow + j), v128.sub<T>(ld(gp, j), dot)), sc);
          st(gp, j, gaj);
          st(ga, j, gaj);
        }
        weightedSums<T>(gp, 1, kn + ((<usize>(b * N * d + h * dh)) << 4), d, visible, gqn + ((<usize>(row * d + h * dh)) << 4), dh, START_FROM);
      }
    }
    // The example's sums over its rows, each in registers from 0 in ascending row, as adding row by row did:
    // ∂V_j,h = Σ_i p_ij ∂Y_i,h and ∂kn_j,h = Σ_i ∂a_ij qn_i,h, over the rows i that see position j.
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < N; j++) {
        const i0 = causal ? max(0, j - start) : 0;
        const to = (<usize>((b * N + j) * d + h * dh)) << 4;
        if (!mixX) {
          const pAt = p + ((<usize>(((b * H + h) * rows + i0) * N + j)) << 4);
          weightedSums<T>(pAt, N, gyRows + ((<usize>(i0 * d + h * dh)) << 4), d, rows - i0, gv + to, dh, STORE);
        }
        const gaAt = gaRows + ((<usize>((h * rows + i0) * N + j)) << 4);
        weightedSums<T>(gaAt, N, qn + ((<usize>((b * rows + i0) * d + h * dh)) << 4), d, rows - i0, gkn + to, dh, STORE);
      }
    }
  }
  if (qkNorm) {
    rmsNormBackward<T>(field(l, Q), gqn, field(l, QINV), w(l, GAINQ), gq, gw(l, GAINQ), B * rows);
    rmsNormBackward<T>(field(l, K), gkn, field(l, KINV), w(l, GAINK), gk, gw(l, GAINK), B * N);
  }
  if (l == 0 && tables) {
    // Through the projected tables: each row's gradient into its table rows, then back through W once.
    zeroTables(gTableQ, gPosQ);
    if (gTableK != 0 && gTableK != gTableQ) zeroTables(gTableK, gPosK);
    if (gTableV != 0) zeroTables(gTableV, gPosV);
    if (variant == QKV || variant == QQ) scatterRows<T>(gk, gTableK, gPosK, B, N, 0);
    else if (variant == QV) for (let i = 0; i < B * N * d; i++) acc<T>(gv, i, ld(gk, i));
    else for (let i = 0; i < B * N * d; i++) acc<T>(gx, i, ld(gk, i));
    if (!mixX) scatterRows<T>(gv, gTableV, gPosV, B, N, 0);
    scatterRows<T>(gq, gTableQ, gPosQ, B, rows, start);
    tablesBackward<T>(w(0, WQ), gw(0, WQ), gTableQ, gPosQ);
    if (variant == QKV) tablesBackward<T>(w(0, WK), gw(0, WK), gTableK, gPosK);
    if (!mixX) tablesBackward<T>(wv, gWv, gTableV, gPosV);
  } else {
    // The keys' gradient goes where the variant's keys came from.
    if (variant == QKV) {
      matmulTransposedAdd<T>(x, gk, gw(l, WK), B * N, d, d);
      matmulAddTransposed<T>(gk, w(l, WK), gx, B * N, d, d);
    } else if (variant == QV) {
      for (let i = 0; i < B * N * d; i++) acc<T>(gv, i, ld(gk, i));
    } else if (variant == QQ) {
      matmulTransposedAdd<T>(x, gk, gw(l, WQ), B * N, d, d);
      matmulAddTransposed<T>(gk, w(l, WQ), gx, B * N, d, d);
    } else {
      for (let i = 0; i < B * N * d; i++) acc<T>(gx, i, ld(gk, i));
    }
    if (!mixX) {
      matmulTransposedAdd<T>(x, gv, gWv, B * N, d, d); // ∂W_V = xᵀ ∂V
      matmulAddTransposed<T>(gv, wv, gx, B * N, d, d); // ∂x += ∂V W_Vᵀ
    }
    matmulTransposedAdd<T>(xq, gq, gw(l, WQ), B * rows, d, d);
    matmulAddTransposed<T>(gq, w(l, WQ), gxq, B * rows, d, d);
  }
  if (gxq != gx) {
    for (let b = 0; b < B; b++) {
      const from = b * rows * d;
      const to = (b * N + start) * d;
      for (let c = 0; c < rows * d; c++) acc<T>(gx, to + c, ld(gxq, from + c));
    }
  }
}

// ---- layer 0's projections through the embedding tables ----------------------------------------------------------

/** table·W and pos·W: every embedding row projected once a pass. */
function projectTables<T>(W: usize, table: usize, pos: usize): void {
  matmul<T>(prm + ((<usize>TABLE) << 4), W, table, V, d, d);
  matmul<T>(prm + ((<usize>POS) << 4), W, pos, N, d, d);
}

/** out[b, i] = s · (pos_j + Σ_f table[feature_jf]), j = start + i: the embedding (embed), or its projection. */
function gatherRows<T>(table: usize, pos: usize, out: usize, B: i32, rows: i32, start: i32): void {
  const ss = splat<T>(s);
  const four = lanes<T>() == 4;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < rows; i++) {
      const j = start + i;
      const row = (b * rows + i) * d;
      for (let f = 0; f < F; f++) {
        // Each lane's own table row, walked by pointer; a lane of float32 lanes past the second reads lane 0's row when
        // there are two lanes (where gatherLanes never reads it).
        const at = (b * N + j) * F + f;
        let p0 = laneRow(table, feats, featsStride, 0, at, d);
        let p1 = laneRow(table, feats, featsStride, 1, at, d);
        let p2 = four ? laneRow(table, feats, featsStride, 2, at, d) : p0;
        let p3 = four ? laneRow(table, feats, featsStride, 3, at, d) : p0;
        let po = out + ((<usize>row) << 4);
        let pp = pos + ((<usize>(j * d)) << 4);
        const end = po + ((<usize>d) << 4);
        // pos + the first feature's row, then each further feature's row added in order, then · s; one feature (MQAR,
        // copy) keeps each entry in a register. Each case its own loop: a test inside one slowed MQAR's pass by 2%.
        const last = f == F - 1;
        if (f == 0 && last) {
          for (; po < end; po += 16) {
            let v = v128.add<T>(v128.load(pp), gatherLanes<T>(p0, p1, p2, p3));
            if (s != 1) v = v128.mul<T>(v, ss);
            v128.store(po, v);
            pp += 16;
            p0 += 16;
            p1 += 16;
            p2 += 16;
            p3 += 16;
          }
          continue;
        }
        for (; po < end; po += 16) {
          v128.store(po, v128.add<T>(f == 0 ? v128.load(pp) : v128.load(po), gatherLanes<T>(p0, p1, p2, p3)));
          pp += 16;
          p0 += 16;
          p1 += 16;
          p2 += 16;
          p3 += 16;
        }
        if (last && s != 1) for (let c = 0; c < d; c++) st(out, row + c, v128.mul<T>(ld(out, row + c), ss));
      }
    }
  }
}

/** The gradient of gatherRows' rows (g [B·rows, d]) into its table's and positions' gradients. */
function scatterRows<T>(g: usize, gTable: usize, gPos: usize, B: i32, rows: i32, start: i32): void {
  const ss = splat<T>(s);
  const four = lanes<T>() == 4;
  const m0 = laneMask<T>(0);
  const m1 = laneMask<T>(1);
  const m2 = laneMask<T>(2);
  const m3 = laneMask<T>(3);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < rows; i++) {
      const j = start + i;
      const row = (b * rows + i) * d;
      const end = g + ((<usize>(row + d)) << 4);
      // The position's add (with the first feature's), then each lane's own row: each lane adds to its own run's row
      // and the other lanes add +0, which leaves a sum that started at +0 as it was. Every entry takes its adds in the
      // order of the features, and the rows are read once.
      for (let f = 0; f < F; f++) {
        const at = (b * N + j) * F + f;
        let p0 = laneRow(gTable, feats, featsStride, 0, at, d);
        let p1 = laneRow(gTable, feats, featsStride, 1, at, d);
        let p2 = four ? laneRow(gTable, feats, featsStride, 2, at, d) : 0;
        let p3 = four ? laneRow(gTable, feats, featsStride, 3, at, d) : 0;
        let pp = gPos + ((<usize>(j * d)) << 4);
        for (let pg = g + ((<usize>row) << 4); pg < end; pg += 16) {
          const gc = v128.mul<T>(ss, v128.load(pg));
          if (f == 0) {
            v128.store(pp, v128.add<T>(v128.load(pp), gc));
            pp += 16;
          }
          v128.store(p0, v128.add<T>(v128.load(p0), v128.and(gc, m0)));
          v128.store(p1, v128.add<T>(v128.load(p1), v128.and(gc, m1)));
          if (four) {
            v128.store(p2, v128.add<T>(v128.load(p2), v128.and(gc, m2)));
            v128.store(p3, v128.add<T>(v128.load(p3), v128.and(gc, m3)));
            p2 += 16;
            p3 += 16;
          }
          p0 += 16;
          p1 += 16;
        }
      }
    }
  }
}

function zeroTables(table: usize, pos: usize): void {
  zero(table, V * d);
  zero(pos, N * d);
}

/** From the projected rows' gradients: ∂W += tableᵀ ∂(table·W) + posᵀ ∂(pos·W), and ∂table, ∂pos through W. */
function tablesBackward<T>(W: usize, gW: usize, gTable: usize, gPos: usize): void {
  matmulTransposedAdd<T>(prm + ((<usize>TABLE) << 4), gTable, gW, V, d, d);
  matmulTransposedAdd<T>(prm + ((<usize>POS) << 4), gPos, gW, N, d, d);
  matmulAddTransposed<T>(gTable, W, grd + ((<usize>TABLE) << 4), V, d, d);
  matmulAddTransposed<T>(gPos, W, grd + ((<usize>POS) << 4), N, d, d);
}

/**
 * out[i] = Σ_e rows[i·stride + e] · v[e] for i < n, e < len, each sum from 0 in ascending e; four rows at a time, so
 * four independent sums are in flight (one sum alone waits on each add).
 */
function rowDots<T>(rows: usize, stride: i32, v: usize, len: i32, out: usize, n: i32): void {
  // The four-row loop walks the rows and v by pointer: a term costs its loads and no index arithmetic.
  const rowBytes = (<usize>stride) << 4;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let s0 = splat<T>(0);
    let s1 = splat<T>(0);
    let s2 = splat<T>(0);
    let s3 = splat<T>(0);
    let p0 = rows + ((<usize>(i * stride)) << 4);
    let p1 = p0 + rowBytes;
    let p2 = p1 + rowBytes;
    let p3 = p2 + rowBytes;
    const vEnd = v + ((<usize>len) << 4);
    for (let pv = v; pv < vEnd; pv += 16) {
      const ve = v128.load(pv);
      s0 = v128.add<T>(s0, v128.mul<T>(v128.load(p0), ve));
      s1 = v128.add<T>(s1, v128.mul<T>(v128.load(p1), ve));
      s2 = v128.add<T>(s2, v128.mul<T>(v128.load(p2), ve));
      s3 = v128.add<T>(s3, v128.mul<T>(v128.load(p3), ve));
      p0 += 16;
      p1 += 16;
      p2 += 16;
      p3 += 16;
    }
    st(out, i, s0);
    st(out, i + 1, s1);
    st(out, i + 2, s2);
    st(out, i + 3, s3);
  }
  for (; i < n; i++) {
    let s0 = splat<T>(0);
    for (let e = 0; e < len; e++) s0 = v128.add<T>(s0, v128.mul<T>(ld(rows, i * stride + e), ld(v, e)));
    st(out, i, s0);
  }
}

/**
 * out[e] ← Σ_j wt[j·wtStride] · rows[j·stride + e] for e < n, j < len, each sum in ascending j, kept as `mode` says; four
 * entries at a time, so four independent sums are in flight and each weight is loaded once for them (rowDots' transpose).
 */
function weightedSums<T>(wt: usize, wtStride: i32, rows: usize, stride: i32, len: i32, out: usize, n: i32, mode: i32): void {
  // The four-entry loop walks the weights and the rows by pointer, as rowDots does.
  const wtStep = (<usize>wtStride) << 4;
  const rowStep = (<usize>stride) << 4;
  let e = 0;
  for (; e + 4 <= n; e += 4) {
    const from = mode == START_FROM;
    let s0 = from ? ld(out, e) : splat<T>(0);
    let s1 = from ? ld(out, e + 1) : splat<T>(0);
    let s2 = from ? ld(out, e + 2) : splat<T>(0);
    let s3 = from ? ld(out, e + 3) : splat<T>(0);
    let pw = wt;
    let pr = rows + ((<usize>e) << 4);
    for (let j = 0; j < len; j++) {
      const wj = v128.load(pw);
      s0 = v128.add<T>(s0, v128.mul<T>(wj, v128.load(pr)));
      s1 = v128.add<T>(s1, v128.mul<T>(wj, v128.load(pr, 16)));
      s2 = v128.add<T>(s2, v128.mul<T>(wj, v128.load(pr, 32)));
      s3 = v128.add<T>(s3, v128.mul<T>(wj, v128.load(pr, 48)));
      pw += wtStep;
      pr += rowStep;
    }
    if (mode == ADD_AFTER) {
      acc<T>(out, e, s0);
      acc<T>(out, e + 1, s1);
      acc<T>(out, e + 2, s2);
      acc<T>(out, e + 3, s3);
    } else {
      st(out, e, s0);
      st(out, e + 1, s1);
      st(out, e + 2, s2);
      st(out, e + 3, s3);
    }
  }
  for (; e < n; e++) {
    let sum = mode == START_FROM ? ld(out, e) : splat<T>(0);
    for (let j = 0; j < len; j++) sum = v128.add<T>(sum, v128.mul<T>(ld(wt, j * wtStride), ld(rows, j * stride + e)));
    if (mode == ADD_AFTER) acc<T>(out, e, sum);
    else st(out, e, sum);
  }
}

// ---- unembed + loss ----------------------------------------------------------------------------------------------

/** Logits, loss and accuracy of the supervised rows; with invRows > 0, the logits' gradient in their place. */
function readout<T>(B: i32, invRows: f64): void {
  const z = field(L - 1, OUT);
  matmul<T>(z, prm + ((<usize>UNEMBED) << 4), logits, B * S, d, C);
  const ir = splat<T>(invRows);
  for (let row = 0; row < B * S; row++) {
    const rowAt = row * C;
    let top = ld(logits, rowAt);
    let best = splat<T>(0); // the argmax's class, as a float (exact: classes are few)
    for (let k = 1; k < C; k++) {
      const lk = ld(logits, rowAt + k);
      const better = v128.gt<T>(lk, top);
      top = v128.bitselect(lk, top, better);
      best = v128.bitselect(splat<T>(<f64>k), best, better);
    }
    flagOverflow<T>(v128.lt<T>(v128.abs<T>(top), splat<T>(F32_MAX)));
    let sumExp = splat<T>(0);
    for (let k = 0; k < C; k++) {
      const e = expLanes<T>(v128.sub<T>(ld(logits, rowAt + k), top));
      st(classExp, k, e);
      sumExp = v128.add<T>(sumExp, e);
    }
    const t0 = laneI32(targets, targetsStride, 0, row);
    const t1 = laneI32(targets, targetsStride, 1, row);
    const four = lanes<T>() == 4;
    const t2 = four ? laneI32(targets, targetsStride, 2, row) : t0;
    const t3 = four ? laneI32(targets, targetsStride, 3, row) : t0;
    const at = logits + ((<usize>rowAt) << 4);
    const targetLogit = gatherLanes<T>(at + ((<usize>t0) << 4), at + ((<usize>t1) << 4), at + ((<usize>t2) << 4), at + ((<usize>t3) << 4));
    lossSum = v128.add<T>(lossSum, v128.sub<T>(v128.add<T>(logLanes<T>(sumExp), top), targetLogit));
    let target = sizeof<T>() == 8 ? f64x2.replace_lane(f64x2.splat(<f64>t0), 1, <f64>t1) : f32x4.splat(0);
    if (four) {
      target = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(<f32>t0), 1, <f32>t1), 2, <f32>t2), 3, <f32>t3);
    }
    correct = v128.add<T>(correct, v128.and(v128.eq<T>(best, target), splat<T>(1)));
    if (invRows == 0) continue;
    for (let k = 0; k < C; k++) {
      const hit = v128.and(v128.eq<T>(splat<T>(<f64>k), target), splat<T>(1));
      st(logits, rowAt + k, v128.mul<T>(v128.sub<T>(v128.div<T>(ld(classExp, k), sumExp), hit), ir));
    }
  }
}

function readoutBackward<T>(B: i32): void {
  const z = field(L - 1, OUT);
  zero(grd + ((<usize>UNEMBED) << 4), d * C);
  matmulTransposedAdd<T>(z, logits, grd + ((<usize>UNEMBED) << 4), B * S, d, C); // ∂W_unembed = zᵀ ∂logits
  zero(gOut, B * S * d);
  matmulAddTransposed<T>(logits, prm + ((<usize>UNEMBED) << 4), gOut, B * S, d, C); // ∂z = ∂logits W_unembedᵀ
}

// ---- QK-norm ---------------------------------------------------------------------------------------------------------

/** Per row and head: out = gain · u / rms(u), rms(u) = √(mean u² + ε). Keeps 1/rms per row and head. */
function rmsNormForward<T>(u: usize, out: usize, inv: usize, gain: usize, rows: i32): void {
  const ddh = splat<T>(<f64>dh);
  for (let i = 0; i < rows; i++) {
    for (let h = 0; h < H; h++) {
      let ms = splat<T>(0);
      for (let e = h * dh; e < (h + 1) * dh; e++) ms = v128.add<T>(ms, v128.mul<T>(ld(u, i * d + e), ld(u, i * d + e)));
      const r = v128.div<T>(splat<T>(1), v128.sqrt<T>(v128.add<T>(v128.div<T>(ms, ddh), splat<T>(RMS_EPS))));
      st(inv, i * H + h, r);
      for (let e = h * dh; e < (h + 1) * dh; e++) st(out, i * d + e, v128.mul<T>(v128.mul<T>(ld(gain, e), ld(u, i * d + e)), r));
    }
  }
}

/** From ∂out to ∂u (into gu) and ∂gain (added): ∂u_e = r g_e ∂out_e − u_e r³ Σ_k g_k ∂out_k u_k / dh. */
function rmsNormBackward<T>(u: usize, gy: usize, inv: usize, gain: usize, gu: usize, gGain: usize, rows: i32): void {
  const ddh = splat<T>(<f64>dh);
  for (let i = 0; i < rows; i++) {
    for (let h = 0; h < H; h++) {
      const r = ld(inv, i * H + h);
      let dot = splat<T>(0);
      for (let e = h * dh; e < (h + 1) * dh; e++) {
        const g = ld(gy, i * d + e);
        const ue = ld(u, i * d + e);
        acc<T>(gGain, e, v128.mul<T>(v128.mul<T>(g, ue), r));
        dot = v128.add<T>(dot, v128.mul<T>(v128.mul<T>(ld(gain, e), g), ue));
      }
      const k = v128.div<T>(v128.mul<T>(v128.mul<T>(v128.mul<T>(r, r), r), dot), ddh);
      for (let e = h * dh; e < (h + 1) * dh; e++) {
        const at = i * d + e;
        st(gu, at, v128.sub<T>(v128.mul<T>(v128.mul<T>(r, ld(gain, e)), ld(gy, at)), v128.mul<T>(ld(u, at), k)));
      }
    }
  }
}

// ---- dense products of vectors: each entry summed from 0 in ascending shared index; tiles of 2 × 4 entries share their loads

/** C[M, n] = A[M, k] · W[k, n]. */
function matmul<T>(A: usize, W: usize, Cm: usize, M: i32, k: i32, n: i32): void {
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const a = i * k;
    let c = 0;
    for (; c + 4 <= n; c += 4) {
      let s0 = splat<T>(0);
      let s1 = splat<T>(0);
      let s2 = splat<T>(0);
      let s3 = splat<T>(0);
      let t0 = splat<T>(0);
      let t1 = splat<T>(0);
      let t2 = splat<T>(0);
      let t3 = splat<T>(0);
      // A's two rows and W's four columns by pointer: a term costs its loads and no index arithmetic.
      let pa = A + ((<usize>a) << 4);
      let pw = W + ((<usize>c) << 4);
      const aEnd = pa + ((<usize>k) << 4);
      const rowA = (<usize>k) << 4;
      const rowW = (<usize>n) << 4;
      for (; pa < aEnd; pa += 16) {
        const x = v128.load(pa);
        const x1 = v128.load(pa + rowA);
        const w0 = v128.load(pw);
        const w1 = v128.load(pw, 16);
        const w2 = v128.load(pw, 32);
        const w3 = v128.load(pw, 48);
        pw += rowW;
        s0 = v128.add<T>(s0, v128.mul<T>(x, w0));
        s1 = v128.add<T>(s1, v128.mul<T>(x, w1));
        s2 = v128.add<T>(s2, v128.mul<T>(x, w2));
        s3 = v128.add<T>(s3, v128.mul<T>(x, w3));
        t0 = v128.add<T>(t0, v128.mul<T>(x1, w0));
        t1 = v128.add<T>(t1, v128.mul<T>(x1, w1));
        t2 = v128.add<T>(t2, v128.mul<T>(x1, w2));
        t3 = v128.add<T>(t3, v128.mul<T>(x1, w3));
      }
      const o = i * n + c;
      st(Cm, o, s0);
      st(Cm, o + 1, s1);
      st(Cm, o + 2, s2);
      st(Cm, o + 3, s3);
      st(Cm, o + n, t0);
      st(Cm, o + n + 1, t1);
      st(Cm, o + n + 2, t2);
      st(Cm, o + n + 3, t3);
    }
    for (; c < n; c++) {
      matmulEntry<T>(A, W, Cm, i, c, k, n);
      matmulEntry<T>(A, W, Cm, i + 1, c, k, n);
    }
  }
  for (; i < M; i++) for (let c = 0; c < n; c++) matmulEntry<T>(A, W, Cm, i, c, k, n);
}

function matmulEntry<T>(A: usize, W: usize, Cm: usize, i: i32, c: i32, k: i32, n: i32): void {
  let s0 = splat<T>(0);
  for (let kk = 0; kk < k; kk++) s0 = v128.add<T>(s0, v128.mul<T>(ld(A, i * k + kk), ld(W, kk * n + c)));
  st(Cm, i * n + c, s0);
}

/** C[M, k] += G[M, n] · W[k, n]ᵀ: the gradient that flows back through a product with W. */
function matmulAddTransposed<T>(G: usize, W: usize, Cm: usize, M: i32, k: i32, n: i32): void {
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const g = i * n;
    let q = 0;
    for (; q + 4 <= k; q += 4) {
      let s0 = splat<T>(0);
      let s1 = splat<T>(0);
      let s2 = splat<T>(0);
      let s3 = splat<T>(0);
      let t0 = splat<T>(0);
      let t1 = splat<T>(0);
      let t2 = splat<T>(0);
      let t3 = splat<T>(0);
      // G's two rows and W's four rows by pointer, as in matmul.
      const rowBytes = (<usize>n) << 4;
      let pg = G + ((<usize>g) << 4);
      let pw = W + ((<usize>(q * n)) << 4);
      const gEnd = pg + rowBytes;
      for (; pg < gEnd; pg += 16) {
        const x = v128.load(pg);
        const x1 = v128.load(pg + rowBytes);
        const v0 = v128.load(pw);
        const v1 = v128.load(pw + rowBytes);
        const v2 = v128.load(pw + 2 * rowBytes);
        const v3 = v128.load(pw + 3 * rowBytes);
        pw += 16;
        s0 = v128.add<T>(s0, v128.mul<T>(x, v0));
        s1 = v128.add<T>(s1, v128.mul<T>(x, v1));
        s2 = v128.add<T>(s2, v128.mul<T>(x, v2));
        s3 = v128.add<T>(s3, v128.mul<T>(x, v3));
        t0 = v128.add<T>(t0, v128.mul<T>(x1, v0));
        t1 = v128.add<T>(t1, v128.mul<T>(x1, v1));
        t2 = v128.add<T>(t2, v128.mul<T>(x1, v2));
        t3 = v128.add<T>(t3, v128.mul<T>(x1, v3));
      }
      const o = i * k + q;
      acc<T>(Cm, o, s0);
      acc<T>(Cm, o + 1, s1);
      acc<T>(Cm, o + 2, s2);
      acc<T>(Cm, o + 3, s3);
      acc<T>(Cm, o + k, t0);
      acc<T>(Cm, o + k + 1, t1);
      acc<T>(Cm, o + k + 2, t2);
      acc<T>(Cm, o + k + 3, t3);
    }
    for (; q < k; q++) {
      addTransposedEntry<T>(G, W, Cm, i, q, k, n);
      addTransposedEntry<T>(G, W, Cm, i + 1, q, k, n);
    }
  }
  for (; i < M; i++) for (let q = 0; q < k; q++) addTransposedEntry<T>(G, W, Cm, i, q, k, n);
}

function addTransposedEntry<T>(G: usize, W: usize, Cm: usize, i: i32, q: i32, k: i32, n: i32): void {
  let s0 = splat<T>(0);
  for (let c = 0; c < n; c++) s0 = v128.add<T>(s0, v128.mul<T>(ld(G, i * n + c), ld(W, q * n + c)));
  acc<T>(Cm, i * k + q, s0);
}

/** C[k, n] += A[M, k]ᵀ · G[M, n]: a weight's gradient, summed over M rows in order. */
function matmulTransposedAdd<T>(A: usize, G: usize, Cm: usize, M: i32, k: i32, n: i32): void {
  let q = 0;
  for (; q + 2 <= k; q += 2) {
    let c = 0;
    for (; c + 4 <= n; c += 4) {
      let s0 = splat<T>(0);
      let s1 = splat<T>(0);
      let s2 = splat<T>(0);
      let s3 = splat<T>(0);
      let t0 = splat<T>(0);
      let t1 = splat<T>(0);
      let t2 = splat<T>(0);
      let t3 = splat<T>(0);
      // A's two columns and G's four columns by pointer, a row at a time, as in matmul.
      let pa = A + ((<usize>q) << 4);
      let pg = G + ((<usize>c) << 4);
      const rowA = (<usize>k) << 4;
      const rowG = (<usize>n) << 4;
      for (let i = 0; i < M; i++) {
        const x = v128.load(pa);
        const x1 = v128.load(pa, 16);
        const v0 = v128.load(pg);
        const v1 = v128.load(pg, 16);
        const v2 = v128.load(pg, 32);
        const v3 = v128.load(pg, 48);
        pa += rowA;
        pg += rowG;
        s0 = v128.add<T>(s0, v128.mul<T>(x, v0));
        s1 = v128.add<T>(s1, v128.mul<T>(x, v1));
        s2 = v128.add<T>(s2, v128.mul<T>(x, v2));
        s3 = v128.add<T>(s3, v128.mul<T>(x, v3));
        t0 = v128.add<T>(t0, v128.mul<T>(x1, v0));
        t1 = v128.add<T>(t1, v128.mul<T>(x1, v1));
        t2 = v128.add<T>(t2, v128.mul<T>(x1, v2));
        t3 = v128.add<T>(t3, v128.mul<T>(x1, v3));
      }
      const o = q * n + c;
      acc<T>(Cm, o, s0);
      acc<T>(Cm, o + 1, s1);
      acc<T>(Cm, o + 2, s2);
      acc<T>(Cm, o + 3, s3);
      acc<T>(Cm, o + n, t0);
      acc<T>(Cm, o + n + 1, t1);
      acc<T>(Cm, o + n + 2, t2);
      acc<T>(Cm, o + n + 3, t3);
    }
    for (; c < n; c++) {
      transposedAddEntry<T>(A, G, Cm, q, c, M, k, n);
      transposedAddEntry<T>(A, G, Cm, q + 1, c, M, k, n);
    }
  }
  for (; q < k; q++) for (let c = 0; c < n; c++) transposedAddEntry<T>(A, G, Cm, q, c, M, k, n);
}

function transposedAddEntry<T>(A: usize, G: usize, Cm: usize, q: i32, c: i32, M: i32, k: i32, n: i32): void {
  let s0 = splat<T>(0);
  for (let i = 0; i < M; i++) s0 = v128.add<T>(s0, v128.mul<T>(ld(A, i * k + q), ld(G, i * n + c)));
  acc<T>(Cm, q * n + c, s0);
}
