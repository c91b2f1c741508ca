/**
 * The bench's SIMD ceiling (src/bench.ts): float64 multiply-adds two lanes at a time (f64x2), the instructions the
 * wasm kernel uses, over two cache-resident arrays with four accumulators so the adds do not wait on each other.
 * Compiled by `npm run build` to dist/ceiling.wasm. Not part of any result.
 */
export function heapBase(): usize {
  return __heap_base;
}

/** reps passes of Σ a[i]·b[i] over n float64 (n a multiple of 8) at a and b; returns the sum, so nothing is elided. */
export function dotF64x2(a: usize, b: usize, n: i32, reps: i32): f64 {
  let total: f64 = 0;
  for (let r = 0; r < reps; r++) {
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let s2 = f64x2.splat(0);
    let s3 = f64x2.splat(0);
    for (let i = 0; i < n; i += 8) {
      const at = (<usize>i) << 3;
      s0 = f64x2.add(s0, f64x2.mul(v128.load(a + at), v128.load(b + at)));
      s1 = f64x2.add(s1, f64x2.mul(v128.load(a + at + 16), v128.load(b + at + 16)));
      s2 = f64x2.add(s2, f64x2.mul(v128.load(a + at + 32), v128.load(b + at + 32)));
      s3 = f64x2.add(s3, f64x2.mul(v128.load(a + at + 48), v128.load(b + at + 48)));
    }
    const s = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
    total += f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  }
  return total;
}

/**
 * The same sum with one accumulator: each lane is one chain of dependent adds, the order a sum kept in the scalar
 * order must follow (every kernel sum is), so each add waits for the one before. Its rate is the bound for such sums
 * unless independent ones are interleaved; the kernel's are short (d_model 8 terms) and several run side by side.
 */
export function dotF64x2Chain(a: usize, b: usize, n: i32, reps: i32): f64 {
  let total: f64 = 0;
  for (let r = 0; r < reps; r++) {
    let s = f64x2.splat(0);
    for (let i = 0; i < n; i += 2) {
      const at = (<usize>i) << 3;
      s = f64x2.add(s, f64x2.mul(v128.load(a + at), v128.load(b + at)));
    }
    total += f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  }
  return total;
}
