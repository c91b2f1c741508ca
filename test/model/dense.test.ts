/** The tiled products against the plain triple loop: equal bit for bit (same summation order), edges included. */
import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/rng.js';
import { matmul, matmulAddTransposed, matmulTransposedAdd } from '../../src/model/dense.js';

const random = (n: number, rng: Stream) => Float64Array.from({ length: n }, () => rng.normal());

// Sizes on and off the 4 × 4 tile, including a dimension of 1 and one below a tile.
const SHAPES: [number, number, number][] = [
  [8, 8, 8],
  [13, 7, 5],
  [1, 3, 9],
  [4, 16, 16],
  [21, 16, 3],
  [6, 1, 4],
];

describe('dense products', () => {
  it.each(SHAPES)('M %i, k %i, n %i: matmul = A·W', (M, k, n) => {
    const rng = Stream.derive(M * 100 + k * 10 + n, 'dense');
    const A = random(M * k, rng);
    const W = random(k * n, rng);
    const C = new Float64Array(M * n).fill(NaN); // overwritten, not accumulated
    matmul(A, W, C, M, k, n);
    const want = new Float64Array(M * n);
    for (let i = 0; i < M; i++) for (let c = 0; c < n; c++) for (let q = 0; q < k; q++) want[i * n + c] += A[i * k + q] * W[q * n + c];
    expect(Array.from(C)).toEqual(Array.from(want));
  });

  it.each(SHAPES)('M %i, k %i, n %i: matmulAddTransposed adds G·Wᵀ', (M, k, n) => {
    const rng = Stream.derive(M * 100 + k * 10 + n, 'dense-bt');
    const G = random(M * n, rng);
    const W = random(k * n, rng);
    const start = random(M * k, rng);
    const C = start.slice();
    matmulAddTransposed(G, W, C, M, k, n);
    for (let i = 0; i < M; i++) {
      for (let q = 0; q < k; q++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += G[i * n + c] * W[q * n + c];
        expect(C[i * k + q]).toBe(start[i * k + q] + s);
      }
    }
  });

  it.each(SHAPES)('M %i, k %i, n %i: matmulTransposedAdd adds Aᵀ·G', (M, k, n) => {
    const rng = Stream.derive(M * 100 + k * 10 + n, 'dense-at');
    const A = random(M * k, rng);
    const G = random(M * n, rng);
    const start = random(k * n, rng);
    const C = start.slice();
    matmulTransposedAdd(A, G, C, M, k, n);
    for (let q = 0; q < k; q++) {
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let i = 0; i < M; i++) s += A[i * k + q] * G[i * n + c];
        expect(C[q * n + c]).toBe(start[q * n + c] + s);
      }
    }
  });
});
