/**
 * Adam for the kernel's engine (src/train/adam.ts lays out its memory): R runs' parameters of one path, stacked
 * [R, size], each run with its own learning rate. PyTorch's formulation, as src/train/tfjsAdam.ts writes it:
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  p ← p − lr · (m / bc1) / (√(v / bc2) + ε)
 * Parameters, gradients and moments are float32; each entry is computed in float64 in that order and rounded to
 * float32 where it is stored, as JavaScript computes `m[i] = m[i] * BETA1 + g[i] * (1 - BETA1)` on a Float32Array.
 * Entries are independent, so two go through one f64x2 with the same bits.
 */
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

function load2(ptr: usize, i: i32): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(ptr + ((<usize>i) << 2)));
}
/** Rounds both lanes to float32 and stores them at entries i and i + 1; returns them as float64 again. */
function store2(ptr: usize, i: i32, x: v128): v128 {
  const rounded = f32x4.demote_f64x2_zero(x);
  store<i64>(ptr + ((<usize>i) << 2), i64x2.extract_lane(rounded, 0));
  return f64x2.promote_low_f32x4(rounded);
}

export function adamUpdate(p: usize, g: usize, m: usize, v: usize, size: i32, R: i32, lrs: usize, bc1: f64, bc2: f64): void {
  const b1 = f64x2.splat(BETA1);
  const c1 = f64x2.splat(1 - BETA1);
  const b2 = f64x2.splat(BETA2);
  const c2 = f64x2.splat(1 - BETA2);
  const bc1s = f64x2.splat(bc1);
  const bc2s = f64x2.splat(bc2);
  const eps = f64x2.splat(EPS);
  for (let r = 0; r < R; r++) {
    const lr = load<f64>(lrs + ((<usize>r) << 3));
    const lrs2 = f64x2.splat(lr);
    const end = (r + 1) * size;
    let i = r * size;
    for (; i + 2 <= end; i += 2) {
      const gi = load2(g, i);
      const mi = store2(m, i, f64x2.add(f64x2.mul(load2(m, i), b1), f64x2.mul(gi, c1)));
      const vi = store2(v, i, f64x2.add(f64x2.mul(load2(v, i), b2), f64x2.mul(f64x2.mul(gi, gi), c2)));
      const step = f64x2.div(f64x2.div(mi, bc1s), f64x2.add(f64x2.sqrt(f64x2.div(vi, bc2s)), eps));
      store2(p, i, f64x2.sub(load2(p, i), f64x2.mul(step, lrs2)));
    }
    for (; i < end; i++) {
      const at = (<usize>i) << 2;
      const gi = <f64>load<f32>(g + at);
      const mi = <f64>(<f32>(<f64>load<f32>(m + at) * BETA1 + gi * (1 - BETA1)));
      const vi = <f64>(<f32>(<f64>load<f32>(v + at) * BETA2 + gi * gi * (1 - BETA2)));
      store<f32>(m + at, <f32>mi);
      store<f32>(v + at, <f32>vi);
      store<f32>(p + at, <f32>(<f64>load<f32>(p + at) - (mi / bc1 / (Math.sqrt(vi / bc2) + EPS)) * lr));
    }
  }
}
