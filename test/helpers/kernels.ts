/** What the kernel-equivalence tests share: the float32-rounding tolerance against the tfjs graph, and stacked parameters. */
import { expect } from 'vitest';

/**
 * The tfjs graph is float32 throughout, the fused kernels accumulate in float64: they differ by float32 rounding a
 * few operations deep, ~1e-6 relative. 2e-4 relative (+ 1e-6 absolute) leaves room for that while a wrong term (a
 * missing scale, a dropped residual branch, a transposed head) is off by far more.
 */
const REL = 2e-4;
const ABS = 1e-6;

/** Every element within tolerance of the tfjs value; the message names the worst offender. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (REL * Math.abs(want[i]) + ABS);
    if (excess > worst) [worst, at] = [excess, i];
  }
  expect(at, `${what}: element ${at} got ${got[at]}, tfjs ${want[at]}`).toBe(-1);
}

/** A zero array per parameter path, for a kernel to write gradients into. */
export const zerosLike = (params: Map<string, Float32Array>): Map<string, Float32Array> =>
  new Map([...params].map(([path, values]) => [path, new Float32Array(values.length)]));
