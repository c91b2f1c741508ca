/**
 * Adam against values worked out by hand, for both implementations (tensor ops for the tfjs engine, the kernel's
 * assembly/adam.ts for the fused one), two runs with their own learning rates side by side.
 *
 * Run 0: p = 0.5, lr 0.1. Step 1, g = 0.2: m = 0.1·0.2 = 0.02, v = 0.001·0.04 = 4e-5, m̂ = 0.02/0.1 = 0.2,
 *   v̂ = 4e-5/0.001 = 0.04, p = 0.5 − 0.1·0.2/(0.2 + 1e-8) = 0.400000005.
 *   Step 2, g = −0.1: m = 0.9·0.02 − 0.01 = 0.008, v = 0.999·4e-5 + 1e-5 = 4.996e-5, bias corrections
 *   1 − 0.9² = 0.19 and 1 − 0.999² = 0.001999, step = (0.008/0.19)/(√(4.996e-5/0.001999) + 1e-8) = 0.266337,
 *   p = 0.400000005 − 0.0266337 = 0.3733663.
 * Run 1: p = −1, lr 0.01. Step 1, g = −3: m̂ = −3, v̂ = 9, p = −1 + 0.01·3/(3 + 1e-8) = −0.99.
 *   Step 2, g = 0: m = −0.27, v = 0.008991, step = (−0.27/0.19)/(√(0.008991/0.001999) + 1e-8) = −0.670058,
 *   p = −0.99 + 0.00670058 = −0.98329942.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { TypedAdam, BETA1, BETA2, EPS } from '../../src/train/adam.js';
import { Stream } from '../../src/rng.js';
import { BatchedAdam } from '../../src/train/tfjsAdam.js';

const START = [0.5, -1];
const LRS = [0.1, 0.01];
const GRADS = [
  [0.2, -3],
  [-0.1, 0],
];
const AFTER = [
  [0.400000005, -0.99],
  [0.3733663, -0.98329942],
];

beforeAll(async () => {
  await initBackend('cpu');
});

describe('Adam, one and two steps', () => {
  it('typed-array Adam (fused engine)', () => {
    const p = new Float32Array(START);
    const adam = new TypedAdam(new Map([['w', p]]), 2);
    GRADS.forEach((g, t) => {
      adam.update(new Map([['w', new Float32Array(g)]]), LRS, t + 1);
      AFTER[t].forEach((want, r) => expect(p[r], `step ${t + 1} run ${r}`).toBeCloseTo(want, 6));
    });
  });

  it('tensor Adam (tfjs engine)', () => {
    const w = tf.variable(tf.tensor1d(START));
    const adam = new BatchedAdam(new Map([['w', w]]));
    GRADS.forEach((g, t) => {
      tf.tidy(() => adam.update({ w: tf.tensor1d(g) }, tf.tensor1d(LRS), t + 1));
      const got = w.dataSync();
      AFTER[t].forEach((want, r) => expect(got[r], `step ${t + 1} run ${r}`).toBeCloseTo(want, 6));
    });
    adam.dispose();
    w.dispose();
  });
});

/** The update as a float64 loop over Float32Arrays (the kernel engine's Adam until 2026-12-05): the bits TypedAdam keeps. */
function loopAdam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, R: number, lrs: number[], t: number): void {
  const bc1 = 1 - BETA1 ** t;
  const bc2 = 1 - BETA2 ** t;
  const size = p.length / R;
  for (let r = 0; r < R; r++)
    for (let i = r * size; i < (r + 1) * size; i++) {
      m[i] = m[i] * BETA1 + g[i] * (1 - BETA1);
      v[i] = v[i] * BETA2 + g[i] * g[i] * (1 - BETA2);
      p[i] -= (m[i] / bc1 / (Math.sqrt(v[i] / bc2) + EPS)) * lrs[r];
    }
}

describe("the kernel's Adam (assembly/adam.ts)", () => {
  it('equals the float64 loop bit for bit: odd and even sizes, three runs, gradients of every scale, resumed moments', () => {
    const rng = Stream.derive(5, 'adam-test');
    const R = 3;
    const lrs = [1e-3, 3e-2, 1];
    const sizes = { a: 1, b: 7, c: 64, d: 49 }; // per run; odd sizes put later runs' pairs off alignment and leave a scalar tail, and each run has its own rate
    const fresh = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
    const start = new Map(Object.entries(sizes).map(([path, n]) => [path, fresh(R * n, 1)]));
    const moments = {
      m: new Map([...start].map(([k, p]) => [k, fresh(p.length, 0.1)])),
      v: new Map([...start].map(([k, p]) => [k, fresh(p.length, 0.1).map(Math.abs)])),
    };
    const kernel = new Map([...start].map(([k, p]) => [k, p.slice()]));
    const loop = {
      p: new Map([...start].map(([k, p]) => [k, p.slice()])),
      m: new Map([...moments.m].map(([k, x]) => [k, x.slice()])),
      v: new Map([...moments.v].map(([k, x]) => [k, x.slice()])),
    };
    const adam = new TypedAdam(kernel, R, moments);
    for (let t = 1; t <= 40; t++) {
      const scale = 10 ** ((t % 9) - 6); // 1e-6 … 1e2
      const grads = new Map([...start].map(([k, p]) => [k, fresh(p.length, scale)]));
      adam.update(grads, lrs, t);
      for (const [k, g] of grads) loopAdam(loop.p.get(k)!, g, loop.m.get(k)!, loop.v.get(k)!, R, lrs, t);
    }
    for (const k of start.keys()) {
      expect(Buffer.from(kernel.get(k)!.buffer).equals(Buffer.from(loop.p.get(k)!.buffer)), `${k}: parameters`).toBe(true);
      expect(Buffer.from(adam.m.get(k)!.slice().buffer).equals(Buffer.from(loop.m.get(k)!.buffer)), `${k}: m`).toBe(true);
      expect(Buffer.from(adam.v.get(k)!.slice().buffer).equals(Buffer.from(loop.v.get(k)!.buffer)), `${k}: v`).toBe(true);
    }
  });
});
