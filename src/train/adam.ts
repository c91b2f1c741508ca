/** Adam's constants and the typed-array Adam of the fused engine (no TensorFlow.js; the tensor version is tfjsAdam.ts). */
export const BETA1 = 0.9;
export const BETA2 = 0.999;
export const EPS = 1e-8; // PyTorch's default, as in the reference

/**
 * Adam over typed arrays stacked [R, ...] per path, for the fused engine (the same update as tfjsAdam.ts): one loop per parameter,
 * no tensors. Moments are stored in float32, as the tensor version stores them.
 */
export class TypedAdam {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();

  constructor(
    private readonly params: Map<string, Float32Array>,
    private readonly R: number,
    moments?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> },
  ) {
    for (const [path, p] of params) {
      this.m.set(path, moments?.m.get(path)?.slice() ?? new Float32Array(p.length));
      this.v.set(path, moments?.v.get(path)?.slice() ?? new Float32Array(p.length));
    }
  }

  /** Applies update number `t` (1-based) with run r's learning rate lrs[r]. */
  update(grads: Map<string, Float32Array>, lrs: readonly number[], t: number): void {
    const bc1 = 1 - BETA1 ** t;
    const bc2 = 1 - BETA2 ** t;
    for (const [path, p] of this.params) {
      const g = grads.get(path)!;
      const m = this.m.get(path)!;
      const v = this.v.get(path)!;
      const size = p.length / this.R;
      for (let r = 0; r < this.R; r++) {
        const lr = lrs[r];
        for (let i = r * size; i < (r + 1) * size; i++) {
          m[i] = m[i] * BETA1 + g[i] * (1 - BETA1);
          v[i] = v[i] * BETA2 + g[i] * g[i] * (1 - BETA2);
          p[i] -= (m[i] / bc1 / (Math.sqrt(v[i] / bc2) + EPS)) * lr;
        }
      }
    }
  }
}
