/**
 * e^x computed inside the kernel, bit for bit as V8 computes Math.exp (the method and coefficients of fdlibm's
 * e_exp.c, Sun Microsystems 1993, "freely granted ... provided that this notice is preserved", which V8 ports
 * in src/base/ieee754.cc). Calling JavaScript's Math.exp from wasm cost 8 ns a call against 5 ns here, and the
 * kernel takes two exponentials per score and per class: about 250 million per worker in the default ablation.
 * test/model/fusedWasm.test.ts checks it against Math.exp on every kind of input the kernel can see.
 *
 * Method: reduce x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split into a high part whose products with k are exact and a
 * low part), approximate e^r by a degree-5 rational form in r², then scale by 2^k.
 */

const LN2_HI: f64 = 6.9314718036912381649e-1; // 0x3FE62E42 FEE00000
const LN2_LO: f64 = 1.90821492927058770002e-10; // 0x3DEA39EF 35793C76
const INV_LN2: f64 = 1.442695040888963387; // 0x3FF71547 652B82FE
const P1: f64 = 1.66666666666666019037e-1;
const P2: f64 = -2.77777777770155933842e-3;
const P3: f64 = 6.61375632143793436117e-5;
const P4: f64 = -1.6533902205465251539e-6;
const P5: f64 = 4.13813679705723846039e-8;
const OVERFLOW_AT: f64 = 7.09782712893383973096e2; // above: +∞
const UNDERFLOW_AT: f64 = -7.4513321910194110842e2; // below: 0
const TWO_M1000: f64 = 9.3326361850321887899e-302; // 2^-1000
const TWO_1023: f64 = 8.988465674311579539e307; // 2^1023

function highWord(x: f64): u32 {
  return <u32>(reinterpret<u64>(x) >> 32);
}

function withHighWord(high: u32): f64 {
  return reinterpret<f64>((<u64>high) << 32);
}

export function expV8(x: f64): f64 {
  const bits = highWord(x);
  const negative: i32 = <i32>(bits >> 31);
  const hx = bits & 0x7fffffff; // high word of |x|
  if (hx >= 0x40862e42) {
    // |x| ≥ 709.78…: NaN, ±∞, or past the range of a double.
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | (<u32>reinterpret<u64>(x))) != 0) return x + x; // NaN
      return negative ? 0.0 : x;
    }
    if (x > OVERFLOW_AT) return Infinity;
    if (x < UNDERFLOW_AT) return 0.0;
  }
  let hi: f64 = 0;
  let lo: f64 = 0;
  let k: i32 = 0;
  if (hx > 0x3fd62e42) {
    // |x| > ln2/2: reduce.
    if (hx < 0x3ff0a2b2) {
      // |x| < 1.5·ln2: k = ±1
      if (x == 1.0) return 2.718281828459045; // V8 returns the correctly rounded e here
      hi = negative ? x + LN2_HI : x - LN2_HI;
      lo = negative ? -LN2_LO : LN2_LO;
      k = negative ? -1 : 1;
    } else {
      k = <i32>(INV_LN2 * x + (negative ? -0.5 : 0.5));
      const t = <f64>k;
      hi = x - t * LN2_HI; // exact
      lo = t * LN2_LO;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000) {
    // |x| < 2^-28
    return 1.0 + x;
  }
  const t = x * x;
  const c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const y = 1.0 - (lo - (x * c) / (2.0 - c) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * TWO_1023;
    return y * withHighWord(<u32>(0x3ff00000 + (k << 20)));
  }
  return y * withHighWord(<u32>(0x3ff00000 + ((k + 1000) << 20))) * TWO_M1000;
}
