/** Adam's constants and the kernel engine's Adam (no TensorFlow.js; the tensor version is tfjsAdam.ts). */
import { kernelInstance, MemoryBlocks } from '../model/kernel.js';
export const BETA1 = 0.9;
export const BETA2 = 0.999;
export const EPS = 1e-8; // PyTorch's default, as in the reference

interface AdamExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  adamUpdate(p: number, g: number, m: number, v: number, size: number, R: number, lrs: number, bc1: number, bc2: number): void;
}

/**
 * Adam over parameters stacked [R, ...] per path, for the kernel's engine (the same update as tfjsAdam.ts, with the
 * bits of a float64 loop over Float32Arrays): assembly/adam.ts computes it, two entries per f64x2, in a kernel instance
 * of its own. The moments live in that instance's memory for good (m and v are views of it, which stay valid because
 * the memory is laid out once and never grows); each update copies the parameters and gradients in and the
 * parameters back out. Moments are float32, as the tensor version stores them.
 */
export class TypedAdam {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  private readonly ex: AdamExports;
  private readonly slots: { path: string; size: number; p: Float32Array; g: Float32Array; at: { p: number; g: number; m: number; v: number } }[];
  private readonly lrs: Float64Array;

  constructor(
    private readonly params: Map<string, Float32Array>,
    private readonly R: number,
    moments?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> },
  ) {
    this.ex = kernelInstance() as unknown as AdamExports;
    const blocks = new MemoryBlocks(this.ex.memory, this.ex.heapBase());
    const taken = [...params].map(([path, p]) => ({
      path,
      length: p.length,
      at: { p: blocks.take(4 * p.length), g: blocks.take(4 * p.length), m: blocks.take(4 * p.length), v: blocks.take(4 * p.length) },
    }));
    const lrsAt = blocks.take(8 * R);
    blocks.reach();
    const buf = this.ex.memory.buffer;
    const view = (at: number, length: number) => new Float32Array(buf, at, length);
    this.slots = taken.map(({ path, length, at }) => {
      this.m.set(path, view(at.m, length));
      this.v.set(path, view(at.v, length));
      if (moments) {
        this.m.get(path)!.set(moments.m.get(path)!);
        this.v.get(path)!.set(moments.v.get(path)!);
      }
      return { path, size: length / R, p: view(at.p, length), g: view(at.g, length), at };
    });
    this.lrs = new Float64Array(buf, lrsAt, R);
  }

  /** Applies update number `t` (1-based) with run r's learning rate lrs[r]. */
  update(grads: Map<string, Float32Array>, lrs: readonly number[], t: number): void {
    const bc1 = 1 - BETA1 ** t;
    const bc2 = 1 - BETA2 ** t;
    this.lrs.set(lrs);
    for (const { path, size, p, g, at } of this.slots) {
      const params = this.params.get(path)!;
      p.set(params);
      g.set(grads.get(path)!);
      this.ex.adamUpdate(at.p, at.g, at.m, at.v, size, this.R, this.lrs.byteOffset, bc1, bc2);
      params.set(p);
    }
  }
}
