/**
 * The kernel's exponential two lanes at a time (exp2), with kernelExp's bits in each lane: both of the kernel's ways
 * take their exponentials in pairs through it (fused.ts: two scores or two classes of one run; lanes.ts: one entry
 * of two runs). It lives apart from exp.ts, whose exports reach the module's, because a v128 cannot cross into JavaScript.
 */
import { kernelExp, EXP_TABLE } from './exp';

const InvLn2N: f64 = reinterpret<f64>(0x3ff71547652b82fe) * 128;
const NegLn2hiN = reinterpret<f64>(0xbf762e42fefa0000);
const NegLn2loN = reinterpret<f64>(0xbd0cf79abc9e3b3a);
const Shift = reinterpret<f64>(0x4338000000000000);
const C2 = reinterpret<f64>(0x3fdffffffffffdbd);
const C3 = reinterpret<f64>(0x3fc555555555543c);
const C4 = reinterpret<f64>(0x3fa55555cf172b91);
const C5 = reinterpret<f64>(0x3f81111167a4d017);

/**
 * kernelExp in both lanes, bit for bit: the same operations in the same order as Math.exp's common path
 * (std/assembly/util/math.ts, exp_lut), two lanes at a time. Where either lane needs one of its special cases
 * (|x| ≥ 512, ∞, NaN), both lanes take kernelExp itself.
 */
function exp2(x: v128): v128 {
  const abstop = v128.and(i64x2.shr_u(x, 52), i64x2.splat(0x7ff));
  if (v128.any_true(i64x2.ge_s(abstop, i64x2.splat(0x408))))
    return f64x2.replace_lane(f64x2.splat(kernelExp(f64x2.extract_lane(x, 0))), 1, kernelExp(f64x2.extract_lane(x, 1)));
  // x = k·ln2/128 + r, |r| ≤ ln2/256; e^x = 2^(k/128) · e^r ≈ scale · (1 + tmp).
  const z = f64x2.mul(f64x2.splat(InvLn2N), x);
  const ki = f64x2.add(z, f64x2.splat(Shift));
  const kd = f64x2.sub(ki, f64x2.splat(Shift));
  const r = f64x2.add(f64x2.add(x, f64x2.mul(kd, f64x2.splat(NegLn2hiN))), f64x2.mul(kd, f64x2.splat(NegLn2loN)));
  const at0 = EXP_TABLE + ((<usize>(i64x2.extract_lane(ki, 0) & 127)) << 4);
  const at1 = EXP_TABLE + ((<usize>(i64x2.extract_lane(ki, 1) & 127)) << 4);
  const entry0 = v128.load(at0); // tail, sbits of lane 0
  const entry1 = v128.load(at1);
  const tail = v128.shuffle<u64>(entry0, entry1, 0, 2);
  const scale = i64x2.add(v128.shuffle<u64>(entry0, entry1, 1, 3), i64x2.shl(ki, 45));
  const r2 = f64x2.mul(r, r);
  const tmp = f64x2.add(
    f64x2.add(f64x2.add(tail, r), f64x2.mul(r2, f64x2.add(f64x2.splat(C2), f64x2.mul(r, f64x2.splat(C3))))),
    f64x2.mul(f64x2.mul(r2, r2), f64x2.add(f64x2.splat(C4), f64x2.mul(r, f64x2.splat(C5)))),
  );
  return f64x2.add(scale, f64x2.mul(scale, tmp)); // 1 below 2^-54, where kernelExp returns 1 without computing
}

/** exp2, reachable from the kernel's other files (an exported function may not take a v128: AS112). */
export class ExpPair {
  static of(x: v128): v128 {
    return exp2(x);
  }
}

/** exp2 from JavaScript, for the test that holds it to kernelExp lane by lane. */
export function kernelExpPair(x0: f64, x1: f64, lane: i32): f64 {
  const y = exp2(f64x2.replace_lane(f64x2.splat(x0), 1, x1));
  return lane == 0 ? f64x2.extract_lane(y, 0) : f64x2.extract_lane(y, 1);
}
