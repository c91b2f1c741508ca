/**
 * The kernel's regrouped one-layer pass (AssemblyScript, part of dist/model/kernel.wasm, see kernel.ts): every variant
 * without QK-norm. Until 2026-12-05 it was the WebAssembly build of a typed-array kernel (src/model/fused.ts, since
 * removed), operation for operation and in the same order, for the regrouped score stage. It exists for speed only: wasm has no typed-array bounds checks
 * and no deoptimisation guards, and where several independent sums run side by side (logits, W_unembed's and
 * W_V's gradients, x̄, the embedding and score-gradient loops, dot products that share a vector) it works two lanes
 * at a time with f64x2, each lane keeping its own sum's order. No sum is
 * split or reassociated, exp is the function both kernels share (exp.ts) and log is Math.log (imported), so its results are
 * bit-identical to that kernel; test/model/regrouped.test.ts now holds it to the tfjs graph.
 *
 * Memory: the JavaScript side (src/model/regrouped.ts) lays out parameters and gradients (float32, stacked
 * [R, ...]), the batch (int32), the outputs, and a float64 scratch area, and passes pointers.
 */

// Every exponential and logarithm equals the typed-array kernel's: exponentials by kernelExp (exp.ts), two at a time
// through ExpPair (expPair.ts) with the same bits, the one logarithm per row by JavaScript's Math.log (imported).
import { kernelExp } from './exp';
import { ExpPair } from './expPair';
import { STORE, START_FROM, ADD_AFTER } from './sums';
export { kernelExp };
declare function jsLog(x: f64): f64;

const MASKED: f64 = -1e9;
const LN_EPS: f64 = 1e-5;
const F32_MAX: f64 = 3.4028234663852886e38;

// ---- shapes (setDims) ----------------------------------------------------------------------------------------
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
let s: f64 = 0;

// ---- float64 scratch (laid out by setDims from `scratch`) ---------------------------------------------------
let x: usize = 0; // [N, d]
let a: usize = 0; // [N]
let p: usize = 0; // [H, S, N]
let xbar: usize = 0; // [H, S, d]
let o: usize = 0; // [dh]
let y: usize = 0; // [d]
let z: usize = 0; // [d]
let cls: usize = 0; // [C]
let clsExp: usize = 0; // [C]
let g: usize = 0; // [d]
let gx: usize = 0; // [N, d]
let gxbar: usize = 0; // [d]
let gp: usize = 0; // [N]
let gtable: usize = 0; // [V, d]
let gpos: usize = 0; // [N, d]
let ggamma: usize = 0; // [d]
let gbeta: usize = 0; // [d]
let gunembed: usize = 0; // [d, C]
let gwvAcc: usize = 0; // [d, d]
let m: usize = 0; // [H, d, d]
let tu: usize = 0; // [H, V, d]
let pu: usize = 0; // [H, N, d]
let gtu: usize = 0; // [H, V, d]
let gpu: usize = 0; // [H, N, d]
let u: usize = 0; // [H, S, d]
let gu: usize = 0; // [d]
let gm: usize = 0; // [d, d]
let unembedT: usize = 0; // [C, d] W_unembedᵀ, promoted: the backward pass's g = W_unembed · δ as sums over rows
let wvT: usize = 0; // [d, d] W_Vᵀ, likewise for x̄'s gradient
let mT: usize = 0; // [H, d, d] M_hᵀ, for the tables' gradients through M_h as sums over rows
let wkT: usize = 0; // [dh, d] W_K,hᵀ, for M_h = W_Q,h · W_K,hᵀ as sums over rows
let accQ: usize = 0; // [dh] one row of W_Q's gradient before it is added
let accK: usize = 0; // [dh] likewise for W_K's

// ---- the current run's parameters (float32 pointers, element offsets) ----------------------------------------
let table: usize = 0;
let pos: usize = 0;
let wq: usize = 0;
let wk: usize = 0;
let wv: usize = 0;
let gamma: usize = 0;
let beta: usize = 0;
let unembed: usize = 0;
let tableAt: i32 = 0;
let posAt: i32 = 0;
let wAt: i32 = 0;
let vecAt: i32 = 0;
let unembedAt: i32 = 0;
let feats: usize = 0; // int32, this run's batch
let featsAt: i32 = 0;
let targets: usize = 0;
let weightsOut: usize = 0; // float32 outputs, 0 when not asked for
let logitsOut: usize = 0;
let inputsOut: usize = 0;
let r: i32 = 0;
let B: i32 = 0;
let invRows: f64 = 0;
let invStd: f64 = 0;
let sumExp: f64 = 0;
let lossSum: f64 = 0;
let correct: f64 = 0;
let backward: bool = false;

function ld(ptr: usize, i: i32): f64 {
  return load<f64>(ptr + ((<usize>i) << 3));
}
function st(ptr: usize, i: i32, v: f64): void {
  store<f64>(ptr + ((<usize>i) << 3), v);
}
function lf(ptr: usize, i: i32): f64 {
  return <f64>load<f32>(ptr + ((<usize>i) << 2));
}
function sf(ptr: usize, i: i32, v: f64): void {
  store<f32>(ptr + ((<usize>i) << 2), <f32>v);
}
function li(ptr: usize, i: i32): i32 {
  return load<i32>(ptr + ((<usize>i) << 2));
}
function zero(ptr: usize, n: i32): void {
  memory.fill(ptr, 0, (<usize>n) << 3);
}
// Two lanes of entries i and i + 1: float64 scratch, and float32 parameters promoted exactly. Elementwise loops use
// them two entries at a time; each entry's own operations and their order stay those of the scalar loop.
function ld2(ptr: usize, i: i32): v128 {
  return v128.load(ptr + ((<usize>i) << 3));
}
function st2(ptr: usize, i: i32, v: v128): void {
  v128.store(ptr + ((<usize>i) << 3), v);
}
/**
 * Two dot products that share one vector v (float64, from vAt): lane 0 with rows[at0, at0 + n), lane 1 with
 * rows[at1, at1 + n) of float64 scratch. Each lane sums in the scalar loop's order, from 0.
 */
function dotPair(v: usize, vAt: i32, rows: usize, at0: i32, at1: i32, n: i32): v128 {
  let acc = f64x2.splat(0);
  // By pointer: a term costs its three loads and no index arithmetic.
  let pv = v + ((<usize>vAt) << 3);
  let p0 = rows + ((<usize>at0) << 3);
  let p1 = rows + ((<usize>at1) << 3);
  const end = pv + ((<usize>n) << 3);
  for (; pv < end; pv += 8) {
    acc = f64x2.add(acc, f64x2.mul(v128.load64_splat(pv), f64x2.replace_lane(v128.load64_splat(p0), 1, load<f64>(p1))));
    p0 += 8;
    p1 += 8;
  }
  return acc;
}

/** Where static data ends: the JavaScript side lays out its blocks from here. */
export function heapBase(): usize {
  return __heap_base;
}

let at: usize = 0;
/** The next n float64 of scratch, 16 bytes after the previous block. */
function take(n: i32): usize {
  const ptr = at;
  at += ((<usize>n) << 3) + 16;
  return ptr;
}

/** Shapes of the group, and the scratch area's start; returns the scratch bytes used. */
export function setDims(d_: i32, H_: i32, N_: i32, F_: i32, V_: i32, C_: i32, S_: i32, qStart_: i32, causal_: bool, s_: f64, scratch: usize): usize {
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
  at = scratch;
  x = take(N * d);
  a = take(N);
  p = take(H * S * N);
  xbar = take(H * S * d);
  o = take(dh);
  y = take(d);
  z = take(d);
  cls = take(C);
  clsExp = take(C);
  g = take(d);
  gx = take(N * d);
  gxbar = take(d);
  gp = take(N);
  gtable = take(V * d);
  gpos = take(N * d);
  ggamma = take(d);
  gbeta = take(d);
  gunembed = take(d * C);
  gwvAcc = take(d * d);
  m = take(H * d * d);
  tu = take(H * V * d);
  pu = take(H * N * d);
  gtu = take(H * V * d);
  gpu = take(H * N * d);
  u = take(H * S * d);
  gu = take(d);
  gm = take(d * d);
  unembedT = take(C * d);
  wvT = take(d * d);
  mT = take(H * d * d);
  wkT = take(dh * d);
  accQ = take(dh);
  accK = take(dh);
  return at - scratch;
}

/** Parameter pointers (float32, stacked [R, ...]); the key projection is whichever the variant uses. */
export function setParams(table_: usize, pos_: usize, wq_: usize, wk_: usize, wv_: usize, gamma_: usize, beta_: usize, unembed_: usize): void {
  table = table_;
  pos = pos_;
  wq = wq_;
  wk = wk_;
  wv = wv_;
  gamma = gamma_;
  beta = beta_;
  unembed = unembed_;
}

let gTable: usize = 0;
let gPos: usize = 0;
let gWq: usize = 0;
let gWk: usize = 0;
let gWv: usize = 0;
let gGamma: usize = 0;
let gBeta: usize = 0;
let gUnembed: usize = 0;

/** Gradient pointers, same layout; a variant's key gradient may alias W_V's or W_Q's. */
export function setGrads(table_: usize, pos_: usize, wq_: usize, wk_: usize, wv_: usize, gamma_: usize, beta_: usize, unembed_: usize): void {
  gTable = table_;
  gPos = pos_;
  gWq = wq_;
  gWk = wk_;
  gWv = wv_;
  gGamma = gamma_;
  gBeta = beta_;
  gUnembed = unembed_;
}

/**
 * One pass over R runs. feats/targets point at run 0's batch and step by featsStride/targetsStride bytes per run
 * (0: one shared batch). loss/correct: float64 [R]. weights/logits/inputs: float32 outputs or 0.
 */
export function pass(
  R: i32,
  B_: i32,
  feats_: usize,
  featsStride: usize,
  targets_: usize,
  targetsStride: usize,
  withGrads: bool,
  weights_: usize,
  logits_: usize,
  inputs_: usize,
  lossOut: usize,
  correctOut: usize,
): void {
  B = B_;
  invRows = 1 / <f64>(B_ * S);
  backward = withGrads;
  weightsOut = weights_;
  logitsOut = logits_;
  inputsOut = inputs_;
  for (r = 0; r < R; r++) {
    feats = feats_ + <usize>r * featsStride;
    targets = targets_ + <usize>r * targetsStride;
    startRun();
    for (let b = 0; b < B; b++) example(b);
    st(lossOut, r, lossSum * invRows);
    st(correctOut, r, correct * invRows);
    if (backward) finishRun();
  }
}

function startRun(): void {
  tableAt = r * V * d;
  posAt = r * N * d;
  wAt = r * d * d;
  vecAt = r * d;
  unembedAt = r * d * C;
  lossSum = 0;
  correct = 0;
  if (backward) {
    zero(gtable, V * d);
    zero(gpos, N * d);
    zero(ggamma, d);
    zero(gbeta, d);
    zero(gunembed, d * C);
    zero(gwvAcc, d * d);
  }
  // M_h = W_Q,h · W_K,hᵀ and the projected tables, as sums over rows (vecMat) in the order of the scalar loops.
  for (let h = 0; h < H; h++) {
    const mAt = h * d * d;
    for (let e = 0; e < dh; e++) for (let j = 0; j < d; j++) st(wkT, e * d + j, lf(wk, wAt + j * d + h * dh + e));
    for (let i = 0; i < d; i++)
      vecMat<f32, f64>(m + ((<usize>(mAt + i * d)) << 3), wq + ((<usize>(wAt + i * d + h * dh)) << 2), 1, dh, wkT, 0, d, d, STORE);
    if (backward) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) st(mT, mAt + j * d + i, ld(m, mAt + i * d + j)); // read by finishRun only
    projectRows(table, tableAt, V, mAt, tu, h * V * d);
    projectRows(pos, posAt, N, mAt, pu, h * N * d);
  }
  if (backward) {
    zero(gtu, H * V * d);
    zero(gpu, H * N * d);
    for (let c = 0; c < d; c++) {
      for (let k = 0; k < C; k++) st(unembedT, k * d + c, lf(unembed, unembedAt + c * C + k));
      for (let e = 0; e < d; e++) st(wvT, e * d + c, lf(wv, wAt + c * d + e));
    }
  }
}

function projectRows(rows: usize, rowsAt: i32, n: i32, mAt: i32, out: usize, outAt: i32): void {
  for (let i = 0; i < n; i++)
    vecMat<f32, f64>(out + ((<usize>(outAt + i * d)) << 3), rows + ((<usize>(rowsAt + i * d)) << 2), 1, d, m, mAt, d, d, STORE);
}

function example(b: i32): void {
  featsAt = b * N * F;
  embedForward(b);
  // With one supervised row, one head, two features and full attention (lookup), each position's input gradient is
  // complete once the score gradient is added, so it goes straight to the tables (scatterScores) instead of through
  // gx: the same adds in the same order, without storing and reloading N·d entries an example.
  const direct = backward && S == 1 && H == 1 && F == 2 && !causal;
  if (backward && !direct) zero(gx, N * d);
  for (let i = 0; i < S; i++) {
    const t = qStart + i;
    const visible = causal ? t + 1 : N;
    attendForward(b, i, t, visible);
    normForward();
    readoutForward(b, i);
    if (!backward) continue;
    readoutBackward(b, i);
    normBackward(t, !direct);
    attendBackward(i, t, visible, direct);
  }
  if (backward && !direct) embedBackward();
}

function embedForward(b: i32): void {
  const ss = f64x2.splat(s);
  for (let j = 0; j < N; j++) {
    const xRow = j * d;
    const posRow = posAt + j * d;
    if (F == 2) {
      const row0 = tableAt + li(feats, featsAt + 2 * j) * d;
      const row1 = tableAt + li(feats, featsAt + 2 * j + 1) * d;
      // Pairs by pointer (float64 x, float32 rows): no index arithmetic a pair.
      let px = x + ((<usize>xRow) << 3);
      let pp = pos + ((<usize>posRow) << 2);
      let p0 = table + ((<usize>row0) << 2);
      let p1 = table + ((<usize>row1) << 2);
      const pairsEnd = px + ((<usize>(d & ~1)) << 3);
      for (; px < pairsEnd; px += 16) {
        const sum = f64x2.add(f64x2.add(pairAt<f32>(pp, 0), pairAt<f32>(p0, 0)), pairAt<f32>(p1, 0));
        v128.store(px, f64x2.mul(ss, sum));
        pp += 8;
        p0 += 8;
        p1 += 8;
      }
      if (d & 1) store<f64>(px, s * (<f64>load<f32>(pp) + <f64>load<f32>(p0) + <f64>load<f32>(p1)));
    } else if (F == 1) {
      const row0 = tableAt + li(feats, featsAt + j) * d;
      let c = 0;
      for (; c + 2 <= d; c += 2) st2(x, xRow + c, f64x2.mul(ss, f64x2.add(load2<f32>(pos, posRow + c), load2<f32>(table, row0 + c))));
      for (; c < d; c++) st(x, xRow + c, s * (lf(pos, posRow + c) + lf(table, row0 + c)));
    } else {
      for (let c = 0; c < d; c++) st(x, xRow + c, lf(pos, posRow + c));
      for (let f = 0; f < F; f++) {
        const row = tableAt + li(feats, featsAt + j * F + f) * d;
        for (let c = 0; c < d; c++) st(x, xRow + c, ld(x, xRow + c) + lf(table, row + c));
      }
      for (let c = 0; c < d; c++) st(x, xRow + c, ld(x, xRow + c) * s);
    }
  }
  if (inputsOut != 0) {
    const at = (r * B + b) * N * d;
    for (let k = 0; k < N * d; k++) sf(inputsOut, at + k, ld(x, k));
  }
}

function embedBackward(): void {
  const ss = f64x2.splat(s);
  for (let j = 0; j < N; j++) {
    const xRow = j * d;
    if (F == 2) {
      const row0 = li(feats, featsAt + 2 * j) * d;
      const row1 = li(feats, featsAt + 2 * j + 1) * d;
      let c = 0;
      for (; c + 2 <= d; c += 2) {
        // row0 and row1 are whole rows, equal or disjoint: row1's load sees row0's store, as in the scalar loop.
        const gc = f64x2.mul(ss, ld2(gx, xRow + c));
        st2(gpos, xRow + c, f64x2.add(ld2(gpos, xRow + c), gc));
        st2(gtable, row0 + c, f64x2.add(ld2(gtable, row0 + c), gc));
        st2(gtable, row1 + c, f64x2.add(ld2(gtable, row1 + c), gc));
      }
      for (; c < d; c++) {
        const gc = s * ld(gx, xRow + c);
        st(gpos, xRow + c, ld(gpos, xRow + c) + gc);
        st(gtable, row0 + c, ld(gtable, row0 + c) + gc);
        st(gtable, row1 + c, ld(gtable, row1 + c) + gc);
      }
    } else {
      for (let c = 0; c < d; c++) {
        const gc = s * ld(gx, xRow + c);
        st(gpos, xRow + c, ld(gpos, xRow + c) + gc);
        for (let f = 0; f < F; f++) {
          const at = li(feats, featsAt + j * F + f) * d + c;
          st(gtable, at, ld(gtable, at) + gc);
        }
      }
    }
  }
}

/** a += k · b over n entries, two lanes at a time where both pointers allow; each entry's sum keeps its order. */
function axpy(dst: usize, k: f64, src: usize, n: i32): void {
  const kk = f64x2.splat(k);
  const pairsEnd = dst + ((<usize>(n & ~1)) << 3);
  let pd = dst;
  let ps = src;
  for (; pd < pairsEnd; pd += 16) {
    v128.store(pd, f64x2.add(v128.load(pd), f64x2.mul(kk, v128.load(ps))));
    ps += 16;
  }
  if (n & 1) store<f64>(pd, load<f64>(pd) + k * load<f64>(ps));
}

/**
 * Two entries as float64 (float64 scratch, or float32 parameters promoted exactly) at a byte address plus a constant
 * offset, for loops that walk their arrays by pointer; and one entry in both lanes.
 */
function pairAt<T>(ptr: usize, offset: usize): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(ptr + offset));
  return v128.load(ptr + offset);
}
function splatAt<T>(ptr: usize): v128 {
  if (sizeof<T>() == 4) return f64x2.splat(<f64>load<f32>(ptr));
  return v128.load64_splat(ptr);
}

/** pairAt and splatAt by index: entries i and i + 1 of m, and entry i of v in both lanes. */
function load2<T>(m: usize, i: i32): v128 {
  return pairAt<T>(m + <usize>i * sizeof<T>(), 0);
}
function splatOf<T>(v: usize, i: i32): v128 {
  return splatAt<T>(v + <usize>i * sizeof<T>());
}

/**
 * out[k] (mode) Σ_c v[c · vStride] · M[c, k] for k < n, c < rows, M's rows `stride` apart from entry mAt of m; v and m
 * are float64 scratch or float32 parameters (TV, TM). Each sum starts at 0 (or, START_FROM, at out[k]) and adds its
 * terms in the order of c, as a scalar loop does, but in registers: four outputs at a time in two, so two chains are
 * in flight. ADD_AFTER then adds the sum to out[k], as `out[k] += Σ` does.
 */
function vecMat<TV, TM>(out: usize, v: usize, vStride: i32, rows: i32, m: usize, mAt: i32, stride: i32, n: i32, mode: i32): void {
  // The four-output loop walks v and M by pointers (a byte step each), so a term costs its loads and no index arithmetic.
  const vStep = <usize>vStride * sizeof<TV>();
  const mStep = <usize>stride * sizeof<TM>();
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    let acc0 = mode == START_FROM ? ld2(out, k) : f64x2.splat(0);
    let acc1 = mode == START_FROM ? ld2(out, k + 2) : f64x2.splat(0);
    let pv = v;
    let pm = m + <usize>(mAt + k) * sizeof<TM>();
    for (let c = 0; c < rows; c++) {
      const vc = splatAt<TV>(pv);
      acc0 = f64x2.add(acc0, f64x2.mul(vc, pairAt<TM>(pm, 0)));
      acc1 = f64x2.add(acc1, f64x2.mul(vc, pairAt<TM>(pm, 2 * sizeof<TM>())));
      pv += vStep;
      pm += mStep;
    }
    if (mode == ADD_AFTER) {
      acc0 = f64x2.add(ld2(out, k), acc0);
      acc1 = f64x2.add(ld2(out, k + 2), acc1);
    }
    st2(out, k, acc0);
    st2(out, k + 2, acc1);
  }
  for (; k + 2 <= n; k += 2) {
    let acc = mode == START_FROM ? ld2(out, k) : f64x2.splat(0);
    for (let c = 0; c < rows; c++) acc = f64x2.add(acc, f64x2.mul(splatOf<TV>(v, c * vStride), load2<TM>(m, mAt + c * stride + k)));
    st2(out, k, mode == ADD_AFTER ? f64x2.add(ld2(out, k), acc) : acc);
  }
  for (; k < n; k++) {
    let acc: f64 = mode == START_FROM ? ld(out, k) : 0;
    for (let c = 0; c < rows; c++)
      acc += <f64>load<TV>(v + <usize>(c * vStride) * sizeof<TV>()) * <f64>load<TM>(m + <usize>(mAt + c * stride + k) * sizeof<TM>());
    st(out, k, mode == ADD_AFTER ? ld(out, k) + acc : acc);
  }
}

/** dst += src over n entries, two lanes at a time; each entry's sum keeps its order. */
function addInto(dst: usize, src: usize, n: i32): void {
  let c = 0;
  for (; c + 2 <= n; c += 2) st2(dst, c, f64x2.add(ld2(dst, c), ld2(src, c)));
  for (; c < n; c++) st(dst, c, ld(dst, c) + ld(src, c));
}

/** dst *= k over n entries, two lanes at a time. */
function scaleBy(dst: usize, k: f64, n: i32): void {
  let c = 0;
  const kk = f64x2.splat(k);
  for (; c + 2 <= n; c += 2) st2(dst, c, f64x2.mul(ld2(dst, c), kk));
  for (; c < n; c++) st(dst, c, ld(dst, c) * k);
}

function attendForward(b: i32, i: i32, t: i32, visible: i32): void {
  memory.copy(y, x + ((<usize>(t * d)) << 3), (<usize>d) << 3);
  for (let h = 0; h < H; h++) {
    const max = scoresForward(h, i, t, visible);
    if (!(Math.abs(max) < F32_MAX)) lossSum = NaN;
    const pRow = (h * S + i) * N;
    softmaxForward(max, visible, pRow);
    if (weightsOut != 0 && logitsOut != 0) {
      const outRow = (((r * B + b) * H + h) * S + i) * N;
      for (let j = 0; j < N; j++) {
        sf(weightsOut, outRow + j, ld(p, pRow + j));
        sf(logitsOut, outRow + j, j < visible ? ld(a, j) : MASKED);
      }
    }
    const xbarRow = (h * S + i) * d;
    const xb = xbar + ((<usize>xbarRow) << 3);
    vecMat<f64, f64>(xb, p + ((<usize>pRow) << 3), 1, visible, x, 0, d, d, STORE); // x̄ = Σ_j p_j x_j
    vecMat<f64, f32>(o, xb, 1, d, wv, wAt + h * dh, d, dh, STORE); // o = x̄ · W_V,h
    addInto(y + ((<usize>(h * dh)) << 3), o, dh);
  }
}

function scoresForward(h: i32, i: i32, t: i32, visible: i32): f64 {
  const uRow = (h * S + i) * d;
  const uAt = u + ((<usize>uRow) << 3);
  memory.copy(uAt, pu + ((<usize>((h * N + t) * d)) << 3), (<usize>d) << 3);
  for (let f = 0; f < F; f++) addInto(uAt, tu + ((<usize>((h * V + li(feats, featsAt + t * F + f)) * d)) << 3), d);
  scaleBy(uAt, s, d);
  let max: f64 = -Infinity;
  let j = 0;
  for (; j + 2 <= visible; j += 2) {
    const dots = dotPair(u, uRow, x, j * d, (j + 1) * d, d);
    const a0 = f64x2.extract_lane(dots, 0) * scale;
    const a1 = f64x2.extract_lane(dots, 1) * scale;
    st(a, j, a0);
    st(a, j + 1, a1);
    if (a0 > max) max = a0;
    if (a1 > max) max = a1;
  }
  for (; j < visible; j++) {
    let dot: f64 = 0;
    for (let c = 0; c < d; c++) dot += ld(u, uRow + c) * ld(x, j * d + c);
    const aj = dot * scale;
    st(a, j, aj);
    if (aj > max) max = aj;
  }
  return max;
}

function softmaxForward(max: f64, visible: i32, pRow: i32): void {
  const pAt = p + ((<usize>pRow) << 3);
  let j = 0;
  for (const maxes = f64x2.splat(max); j + 2 <= visible; j += 2) st2(pAt, j, ExpPair.of(f64x2.sub(ld2(a, j), maxes)));
  for (; j < visible; j++) st(pAt, j, kernelExp(ld(a, j) - max));
  let sum: f64 = 0;
  for (j = 0; j < visible; j++) sum += ld(pAt, j);
  j = 0;
  for (const sums = f64x2.splat(sum); j + 2 <= visible; j += 2) st2(pAt, j, f64x2.div(ld2(pAt, j), sums));
  for (; j < visible; j++) st(pAt, j, ld(pAt, j) / sum);
  for (let j = visible; j < N; j++) st(p, pRow + j, 0);
}

function normForward(): void {
  let mean: f64 = 0;
  for (let c = 0; c < d; c++) mean += ld(y, c);
  mean /= <f64>d;
  let variance: f64 = 0;
  for (let c = 0; c < d; c++) variance += (ld(y, c) - mean) * (ld(y, c) - mean);
  if (!(variance < F32_MAX)) lossSum = NaN;
  variance /= <f64>d;
  invStd = 1 / Math.sqrt(variance + LN_EPS);
  let c = 0;
  const means = f64x2.splat(mean);
  const invStds = f64x2.splat(invStd);
  for (; c + 2 <= d; c += 2) {
    const yc = f64x2.mul(f64x2.sub(ld2(y, c), means), invStds);
    st2(y, c, yc);
    st2(z, c, f64x2.add(f64x2.mul(yc, load2<f32>(gamma, vecAt + c)), load2<f32>(beta, vecAt + c)));
  }
  for (; c < d; c++) {
    const yc = (ld(y, c) - mean) * invStd;
    st(y, c, yc);
    st(z, c, yc * lf(gamma, vecAt + c) + lf(beta, vecAt + c));
  }
}

function readoutForward(b: i32, i: i32): void {
  vecMat<f64, f32>(cls, z, 1, d, unembed, unembedAt, C, C, STORE);
  // The first largest logit, without a branch per class (the comparison is the same, so is a NaN's effect).
  let best = 0;
  let top = ld(cls, 0);
  for (let k = 1; k < C; k++) {
    const v = ld(cls, k);
    const more = v > top;
    best = select<i32>(k, best, more);
    top = select<f64>(v, top, more);
  }
  if (!(Math.abs(top) < F32_MAX)) lossSum = NaN;
  let k = 0;
  for (const tops = f64x2.splat(top); k + 2 <= C; k += 2) st2(clsExp, k, ExpPair.of(f64x2.sub(ld2(cls, k), tops)));
  for (; k < C; k++) st(clsExp, k, kernelExp(ld(cls, k) - top));
  let sum: f64 = 0;
  for (k = 0; k < C; k++) sum += ld(clsExp, k);
  const target = li(targets, b * S + i);
  sumExp = sum;
  lossSum += jsLog(sum) + top - ld(cls, target);
  if (best == target) correct++;
}

function readoutBackward(b: i32, i: i32): void {
  const target = li(targets, b * S + i);
  // (e_k / Σ − [k = target]) · 1/rows: off the target the subtraction of 0 is exact, so pairs compute it without it.
  let k = 0;
  const sums = f64x2.splat(sumExp);
  const invs = f64x2.splat(invRows);
  for (; k + 2 <= C; k += 2) st2(cls, k, f64x2.mul(f64x2.div(ld2(clsExp, k), sums), invs));
  for (; k < C; k++) st(cls, k, (ld(clsExp, k) / sumExp - 0.0) * invRows);
  st(cls, target, (ld(clsExp, target) / sumExp - 1.0) * invRows);
  for (let c = 0; c < d; c++) axpy(gunembed + ((<usize>(c * C)) << 3), ld(z, c), cls, C);
  vecMat<f64, f64>(g, cls, 1, C, unembedT, 0, d, d, STORE); // g_c = Σ_k δ_k W_unembed[c, k]
}

function normBackward(t: i32, intoGx: bool): void {
  let meanG: f64 = 0;
  let meanGy: f64 = 0;
  for (let c = 0; c < d; c++) {
    const gc = ld(g, c);
    const yc = ld(y, c);
    st(ggamma, c, ld(ggamma, c) + gc * yc);
    st(gbeta, c, ld(gbeta, c) + gc);
    const gn = gc * lf(gamma, vecAt + c);
    st(g, c, gn);
    meanG += gn;
    meanGy += gn * yc;
  }
  meanG /= <f64>d;
  meanGy /= <f64>d;
  const gxAt = gx + ((<usize>(t * d)) << 3);
  const meanGs = f64x2.splat(meanG);
  const meanGys = f64x2.splat(meanGy);
  const invStds = f64x2.splat(invStd);
  let c = 0;
  for (; c + 2 <= d; c += 2) {
    const gc = f64x2.mul(f64x2.sub(f64x2.sub(ld2(g, c), meanGs), f64x2.mul(ld2(y, c), meanGys)), invStds);
    st2(g, c, gc);
    if (intoGx) st2(gxAt, c, f64x2.add(ld2(gxAt, c), gc));
  }
  for (; c < d; c++) {
    const gc = (ld(g, c) - meanG - ld(y, c) * meanGy) * invStd;
    st(g, c, gc);
    if (intoGx) st(gxAt, c, ld(gxAt, c) + gc);
  }
}

function attendBackward(i: i32, t: i32, visible: i32, direct: bool): void {
  for (let h = 0; h < H; h++) {
    const pRow = (h * S + i) * N;
    const xbarRow = (h * S + i) * d;
    for (let c = 0; c < d; c++) axpy(gwvAcc + ((<usize>(c * d + h * dh)) << 3), ld(xbar, xbarRow + c), g + ((<usize>(h * dh)) << 3), dh);
    vecMat<f64, f64>(gxbar, g + ((<usize>(h * dh)) << 3), 1, dh, wvT, h * dh * d, d, d, STORE); // ∂x̄_c = Σ_e g_h,e W_V[c, h·dh + e]
    let j = 0;
    for (; j + 2 <= visible; j += 2) st2(gp, j, dotPair(gxbar, 0, x, j * d, (j + 1) * d, d));
    for (; j < visible; j++) {
      let acc: f64 = 0;
      for (let c = 0; c < d; c++) acc += ld(gxbar, c) * ld(x, j * d + c);
      st(gp, j, acc);
    }
    let dot: f64 = 0;
    for (let k = 0; k < visible; k++) dot += ld(p, pRow + k) * ld(gp, k);
    const pAt = p + ((<usize>pRow) << 3);
    j = 0;
    for (const dots = f64x2.splat(dot), scales = f64x2.splat(scale); j + 2 <= visible; j += 2)
      st2(a, j, f64x2.mul(f64x2.mul(ld2(pAt, j), f64x2.sub(ld2(gp, j), dots)), scales));
    for (; j < visible; j++) st(a, j, ld(pAt, j) * (ld(gp, j) - dot) * scale);
    if (direct) scatterScores(i, t, pRow);
    else scoresBackward(h, i, t, visible, pRow);
  }
}

function scoresBackward(h: i32, i: i32, t: i32, visible: i32, pRow: i32): void {
  const uRow = (h * S + i) * d;
  zero(gu, d);
  for (let j = 0; j < visible; j++) {
    const ga = ld(a, j);
    const pj = ld(p, pRow + j);
    const ga2 = f64x2.splat(ga);
    const pj2 = f64x2.splat(pj);
    let c = 0;
    for (; c + 2 <= d; c += 2) {
      st2(gu, c, f64x2.add(ld2(gu, c), f64x2.mul(ga2, ld2(x, j * d + c))));
      st2(gx, j * d + c, f64x2.add(ld2(gx, j * d + c), f64x2.add(f64x2.mul(ga2, ld2(u, uRow + c)), f64x2.mul(pj2, ld2(gxbar, c)))));
    }
    for (; c < d; c++) {
      st(gu, c, ld(gu, c) + ga * ld(x, j * d + c));
      st(gx, j * d + c, ld(gx, j * d + c) + (ga * ld(u, uRow + c) + pj * ld(gxbar, c)));
    }
  }
  axpy(gpu + ((<usize>((h * N + t) * d)) << 3), s, gu, d);
  for (let f = 0; f < F; f++) axpy(gtu + ((<usize>((h * V + li(feats, featsAt + t * F + f)) * d)) << 3), s, gu, d);
}

/**
 * scoresBackward then embedBackward for one head's one supervised row under full attention (example's `direct`):
 * position j's input gradient, g (the residual's, at t) + (∂a_j · u + p_j · ∂x̄), scaled by s and added to its
 * position's and its two features' rows. gx held exactly these sums (zeroed, then g added at t, then the score
 * term), and a zero's sign never reaches an accumulator that starts at +0, so every accumulator takes the same values
 * in the same order. It stays apart from scoresBackward: one function with a `direct` flag in its inner loop measured
 * 0-4% slower on every regrouped shape.
 */
function scatterScores(i: i32, t: i32, pRow: i32): void {
  const uRow = i * d;
  const ss = f64x2.splat(s);
  zero(gu, d);
  for (let j = 0; j < N; j++) {
    const xRow = j * d;
    const row0 = li(feats, featsAt + 2 * j) * d;
    const row1 = li(feats, featsAt + 2 * j + 1) * d;
    const ga = ld(a, j);
    const pj = ld(p, pRow + j);
    const ga2 = f64x2.splat(ga);
    const pj2 = f64x2.splat(pj);
    let c = 0;
    for (; c + 2 <= d; c += 2) {
      st2(gu, c, f64x2.add(ld2(gu, c), f64x2.mul(ga2, ld2(x, xRow + c))));
      let gxc = f64x2.add(f64x2.mul(ga2, ld2(u, uRow + c)), f64x2.mul(pj2, ld2(gxbar, c)));
      if (j == t) gxc = f64x2.add(ld2(g, c), gxc);
      const gc = f64x2.mul(ss, gxc);
      st2(gpos, xRow + c, f64x2.add(ld2(gpos, xRow + c), gc));
      st2(gtable, row0 + c, f64x2.add(ld2(gtable, row0 + c), gc));
      st2(gtable, row1 + c, f64x2.add(ld2(gtable, row1 + c), gc));
    }
    for (; c < d; c++) {
      st(gu, c, ld(gu, c) + ga * ld(x, xRow + c));
      let gxc = ga * ld(u, uRow + c) + pj * ld(gxbar, c);
      if (j == t) gxc = ld(g, c) + gxc;
      const gc = s * gxc;
      st(gpos, xRow + c, ld(gpos, xRow + c) + gc);
      st(gtable, row0 + c, ld(gtable, row0 + c) + gc);
      st(gtable, row1 + c, ld(gtable, row1 + c) + gc);
    }
  }
  axpy(gpu + ((<usize>(t * d)) << 3), s, gu, d);
  for (let f = 0; f < F; f++) axpy(gtu + ((<usize>(li(feats, featsAt + t * F + f) * d)) << 3), s, gu, d);
}

function finishRun(): void {
  for (let k = 0; k < d * d; k++) sf(gWv, wAt + k, ld(gwvAcc, k));
  for (let k = 0; k < d * C; k++) sf(gUnembed, unembedAt + k, ld(gunembed, k));
  memory.fill(gWq + ((<usize>wAt) << 2), 0, (<usize>(d * d)) << 2);
  if (gWk != gWv) memory.fill(gWk + ((<usize>wAt) << 2), 0, (<usize>(d * d)) << 2);
  // Through M_h: its gradient, then the tables' and W_Q's and W_K's, as sums over rows (vecMat) in the scalar order.
  for (let h = 0; h < H; h++) {
    const mAt = h * d * d;
    for (let i = 0; i < d; i++) {
      const gmRow = gm + ((<usize>(i * d)) << 3); // ∂M[i, j] = Σ_row table[row, i] ∂tu[row, j], then the positions' rows
      vecMat<f32, f64>(gmRow, table + ((<usize>(tableAt + i)) << 2), d, V, gtu, h * V * d, d, d, STORE);
      vecMat<f32, f64>(gmRow, pos + ((<usize>(posAt + i)) << 2), d, N, gpu, h * N * d, d, d, START_FROM);
    }
    for (let row = 0; row < V; row++)
      // ∂table[row, i] += Σ_j ∂tu[row, j] M[i, j]
      vecMat<f64, f64>(gtable + ((<usize>(row * d)) << 3), gtu + ((<usize>((h * V + row) * d)) << 3), 1, d, mT, mAt, d, d, ADD_AFTER);
    for (let row = 0; row < N; row++)
      vecMat<f64, f64>(gpos + ((<usize>(row * d)) << 3), gpu + ((<usize>((h * N + row) * d)) << 3), 1, d, mT, mAt, d, d, ADD_AFTER);
    for (let i = 0; i < d; i++) {
      // ∂W_Q[i, h·dh + e] += Σ_j ∂M[i, j] W_K[j, h·dh + e];  ∂W_K[i, h·dh + e] += Σ_j ∂M[j, i] W_Q[j, h·dh + e]
      vecMat<f64, f32>(accQ, gm + ((<usize>(i * d)) << 3), 1, d, wk, wAt + h * dh, d, dh, STORE);
      vecMat<f64, f32>(accK, gm + ((<usize>i) << 3), d, d, wq, wAt + h * dh, d, dh, STORE);
      // Entry by entry, W_Q's add before W_K's: where the two gradients are one array (qq), as in the scalar loop.
      for (let e = 0; e < dh; e++) {
        const at = wAt + i * d + h * dh + e;
        sf(gWq, at, lf(gWq, at) + ld(accQ, e));
        sf(gWk, at, lf(gWk, at) + ld(accK, e));
      }
    }
  }
  for (let k = 0; k < V * d; k++) sf(gTable, tableAt + k, ld(gtable, k));
  for (let k = 0; k < N * d; k++) sf(gPos, posAt + k, ld(gpos, k));
  for (let k = 0; k < d; k++) {
    sf(gGamma, vecAt + k, ld(ggamma, k));
    sf(gBeta, vecAt + k, ld(gbeta, k));
  }
}
