/**
 * The WebAssembly kernel (assembly/kernel.ts, built by `npm run build` into dist/model/kernel.wasm) and its lane
 * path from JavaScript: every built-in model, two runs per f64x2 or, with train.precision float32, four per f32x4
 * (assembly/lanes.ts). This file lays out the module's memory, copies each vector's parameters in (float32 → float64,
 * exact, or float32 as they are) and its gradients, losses and attention back out. A group of R runs is ⌈R/W⌉
 * vectors of W runs, one after another; a short last vector is filled with copies of its first run, whose results
 * are dropped. test/model/kernel.test.ts holds it to the tfjs graph. The kernel's other way, the regrouped one-layer
 * pass, is model/regrouped.ts.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../errors.js';
import type { Encoded, Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { paramSpecs, param, type StackedParams } from './paramSpecs.js';

/** The built module, next to the compiled kernel.js (src/model and dist/model are at the same depth, so tests find it too). */
const WASM = fileURLToPath(new URL('../../dist/model/kernel.wasm', import.meta.url));
let compiled: WebAssembly.Module | null | undefined;

/** What this build's module imports; a module that imports anything else is left from another build. */
const IMPORTS = { fused: { jsLog: Math.log }, lanes: { jsLog: Math.log } };
/**
 * The layout of lanesPass's arguments in this build, as the module's lanesLayout() returns it: a module without it (one
 * built before the lanes took their width, and a base and a stride per lane for their batches) or with another would
 * read them wrongly, so it is refused too.
 */
const LAYOUT = 2;

/**
 * The compiled module, or null where it was not built. A module left from another build (an `npm run build` that
 * stopped after tsc) is refused in one line (exit 1), not used.
 */
function wasmModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = existsSync(WASM) ? checkedModule(WASM) : null;
  return compiled;
}

/**
 * The module built at `path`, refused in one line where it imports anything but this build's imports or lays out the
 * lanes' arguments otherwise (checked on one throwaway instance, 0.2 ms).
 */
function checkedModule(path: string): WebAssembly.Module {
  const module = new WebAssembly.Module(readFileSync(path));
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
  const expected = Object.entries(IMPORTS).flatMap(([name, fns]) => Object.keys(fns).map((fn) => `${name}.${fn}`));
  if (imports.sort().join() !== expected.sort().join())
    throw new EnvironmentError(`${path} is from another build (it imports ${imports.join(', ')}); run npm run build`);
  const layout = new WebAssembly.Instance(module, IMPORTS).exports.lanesLayout;
  const found = typeof layout === 'function' ? (layout as () => number)() : null;
  if (found !== LAYOUT) {
    const has = found === null ? 'no lanesLayout' : `argument layout ${found}`;
    throw new EnvironmentError(`${path} is from another build (it has ${has}; this build's layout is ${LAYOUT}); run npm run build`);
  }
  return module;
}

/**
 * For `npm run bench -- --ab`: kernel instances made after this call come from the module built at `path` (another
 * build of assembly/kernel.ts), or again from this build's when `path` is undefined. Each is compiled once, so that
 * V8's tiering up of its functions happens once.
 */
export function useKernelBuild(path?: string): void {
  if (!builds.has(undefined)) builds.set(undefined, wasmModule());
  if (path !== undefined && !builds.has(path)) builds.set(path, checkedModule(path));
  compiled = builds.get(path);
}
const builds = new Map<string | undefined, WebAssembly.Module | null>();

/** Whether the kernel is built (npm run build, which npm ci runs). */
export function kernelBuilt(): boolean {
  return wasmModule() !== null;
}

/** A fresh instance of the kernel module, with its own memory. */
export function kernelInstance(): WebAssembly.Exports {
  const module = wasmModule();
  if (!module) throw new EnvironmentError(`${WASM} is missing; run npm run build`);
  return new WebAssembly.Instance(module, IMPORTS).exports;
}

interface ExpExports {
  kernelExp(x: number): number;
  kernelExpPair(x0: number, x1: number, lane: number): number;
}
let expInstance: ExpExports | undefined;
const expExports = (): ExpExports => (expInstance ??= kernelInstance() as unknown as ExpExports);

/** The kernel's exponential (assembly/exp.ts), for the test that holds it to Math.exp. */
export function kernelExp(x: number): number {
  return expExports().kernelExp(x);
}

/** Lane `lane` of the lane path's two-lane exponential of (x0, x1), for the test that holds it to kernelExp. */
export function kernelExpPair(x0: number, x1: number, lane: 0 | 1): number {
  return expExports().kernelExpPair(x0, x1, lane);
}

export type { StackedParams };

/** One layer's attention over the pass, when asked for (evaluation). */
export interface LayerAttention {
  weights: Float32Array; // [R, B, H, rows, N]: rows = N for every layer but the last, S for the last
  logits: Float32Array; // [R, B, H, rows, N] scaled scores; masked entries hold MASKED
}

/**
 * An evaluation's attention arrays, kept from one evaluation to the next when the caller asks (`reuse`). A fresh array
 * pays a page fault per 4 KB at its first write: measured here, 46-51 ms to copy 16 MB (a 10-run MQAR evaluation's
 * attention) into fresh arrays and under 1 ms into the same arrays again. Only a caller that is done with the last
 * call's arrays may reuse them (the engine's evaluation, whose measures copy what they keep).
 */
export class AttentionOut {
  private kept: LayerAttention[] = [];

  /** Arrays of `sizes[l]` floats per layer: the kept ones where their sizes match and `reuse`, else new ones. */
  arrays(sizes: number[], reuse: boolean): LayerAttention[] {
    const fresh = (n: number): LayerAttention => ({ weights: new Float32Array(n), logits: new Float32Array(n) });
    if (!reuse) return sizes.map(fresh);
    this.kept = sizes.map((n, l) => (this.kept[l]?.weights.length === n ? this.kept[l] : fresh(n)));
    return this.kept;
  }
}

/** What one pass over a batch yields per run. */
export interface KernelPass {
  loss: Float64Array; // [R] mean cross-entropy
  correct: Float64Array; // [R] fraction of supervised positions whose argmax is the target
  layers?: LayerAttention[]; // per layer
  inputs?: Float32Array; // [R, B, N, d] the last layer's input, when asked for (the claims' value norms)
}

interface LaneExports {
  memory: WebAssembly.Memory;
  lanesHeapBase(): number;
  lanesShape(
    L: number,
    d: number,
    H: number,
    N: number,
    F: number,
    V: number,
    C: number,
    S: number,
    qStart: number,
    causal: number,
    s: number,
    variant: number,
    qkNorm: number,
    Bmax: number,
    scratch: number,
  ): number;
  lanesParamCount(): number;
  lanesRecord(l: number, weights: number, scores: number): void;
  lanesRegroupsValues(l: number): number;
  lanesUsesTables(B: number): number;
  /** One pass of a vector's `width` runs: lane k's features at feats + k·featsStride, its targets likewise. */
  lanesPass(
    width: number,
    B: number,
    params: number,
    grads: number,
    feats: number,
    featsStride: number,
    targets: number,
    targetsStride: number,
    inputs: number,
    loss: number,
    correct: number,
  ): void;
}

/** The lane path's arithmetic: float64, two runs per f64x2 (the kit's results so far), or float32, four per f32x4. */
export type Precision = 'float64' | 'float32';

/** The variant's number in assembly/lanes.ts. */
const VARIANT_CODE: Record<string, number> = { qkv: 0, qv: 1, qx: 2, qq: 3 };

export class LaneKernel {
  private readonly ex: LaneExports;
  private readonly paths: { path: string; size: number; at: number }[];
  private readonly P: number; // numbers per run's parameters
  private readonly rows: number[]; // query rows per layer
  private Bmax = 0;
  private readonly attentionOut = new AttentionOut();
  private ptr!: {
    params: number;
    grads: number;
    feats: number; // lane k's at feats + k·featsStride
    featsStride: number;
    targets: number;
    targetsStride: number;
    rec: number[];
    inputs: number;
    loss: number;
    correct: number;
  };
  private readonly W: number; // runs per vector

  /** For R runs of one shape; the memory is laid out for the largest batch seen (training and evaluation alternate). */
  constructor(
    private readonly cfg: ModelConfig,
    private readonly layout: Layout,
    readonly R: number,
    readonly precision: Precision = 'float64',
  ) {
    if (VARIANT_CODE[cfg.attention] === undefined) throw new Error(`the kernel computes the built-in variants, not ${cfg.attention}`);
    this.ex = kernelInstance() as unknown as LaneExports;
    this.W = precision === 'float32' ? 4 : 2;
    let at = 0;
    this.paths = [...paramSpecs(cfg, layout)].map(([path, spec]) => {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const entry = { path, size, at };
      at += size;
      return entry;
    });
    this.P = at;
    this.rows = Array.from({ length: cfg.layers }, (_, l) => (l === cfg.layers - 1 ? layout.queryCount : layout.positions));
  }

  /** Lays out scratch and blocks for batches of up to Bmax examples. */
  private layOut(Bmax: number): void {
    const { cfg, layout } = this;
    const { positions: N, featuresPerPosition: F, inputVocab: V, outputVocab: C, queryCount: S, queryStart, causal } = layout;
    const d = cfg.dModel;
    const scratch = align(this.ex.lanesHeapBase());
    const scratchBytes = this.ex.lanesShape(
      cfg.layers,
      d,
      cfg.heads,
      N,
      F,
      V,
      C,
      S,
      queryStart,
      causal ? 1 : 0,
      cfg.inputScale,
      VARIANT_CODE[cfg.attention],
      cfg.qkNorm ? 1 : 0,
      Bmax,
      scratch,
    );
    if (this.P !== this.ex.lanesParamCount()) throw new Error(`kernel layout: ${this.ex.lanesParamCount()} parameters, paramSpecs has ${this.P}`);
    const blocks = new MemoryBlocks(this.ex.memory, scratch + scratchBytes);
    const W = this.W;
    const featsStride = align(4 * Bmax * N * F);
    const targetsStride = align(4 * Bmax * S);
    this.ptr = {
      params: blocks.take(16 * this.P),
      grads: blocks.take(16 * this.P),
      feats: blocks.take(W * featsStride),
      featsStride,
      targets: blocks.take(W * targetsStride),
      targetsStride,
      rec: this.rows.flatMap((rows) => [blocks.take(4 * W * Bmax * cfg.heads * rows * N), blocks.take(4 * W * Bmax * cfg.heads * rows * N)]),
      inputs: blocks.take(4 * W * Bmax * N * d),
      loss: blocks.take(16),
      correct: blocks.take(16),
    };
    blocks.reach();
    this.Bmax = Bmax;
  }

  /** Whether the last layer mixes its inputs before projecting values (lanesShape's regrouped values), for the tests. */
  regroupsValues(): boolean {
    if (this.Bmax === 0) this.layOut(1);
    return this.ex.lanesRegroupsValues(this.cfg.layers - 1) !== 0;
  }

  /** Whether layer 0 projects through the embedding tables for a batch of B (lanesUsesTables), for the tests. */
  usesTables(B: number): boolean {
    if (this.Bmax === 0) this.layOut(1);
    return this.ex.lanesUsesTables(B) !== 0;
  }

  /**
   * Loss per run on `batches[r]` (or one shared batch); with `grads`, each run's gradient; with `attention`, every
   * layer's weights and scores (into the last call's arrays with `reuse`, see AttentionOut); with `inputs`, the last
   * layer's input.
   */
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention = false, inputs = false, reuse = false): KernelPass {
    const B = batches[0].count;
    if (B > this.Bmax) this.layOut(B);
    const { R, cfg, layout, ptr, ex } = this;
    const { positions: N, featuresPerPosition: F, queryCount: S } = layout;
    const H = cfg.heads;
    const d = cfg.dModel;
    const out: KernelPass = { loss: new Float64Array(R), correct: new Float64Array(R) };
    if (attention)
      out.layers = this.attentionOut.arrays(
        this.rows.map((rows) => R * B * H * rows * N),
        reuse,
      );
    if (inputs) out.inputs = new Float32Array(R * B * N * d);
    this.rows.forEach((_, l) => ex.lanesRecord(l, attention ? ptr.rec[2 * l] : 0, attention ? ptr.rec[2 * l + 1] : 0));
    const buf = ex.memory.buffer;
    const W = this.W;
    const Floats = this.precision === 'float32' ? Float32Array : Float64Array;
    const vectors = new Floats(buf, ptr.params, W * this.P);
    const gradVectors = new Floats(buf, ptr.grads, W * this.P);
    for (let r0 = 0; r0 < R; r0 += W) {
      // A group's last vector, when it is short, is filled with copies of its first run, whose results are dropped.
      const lanes = Array.from({ length: W }, (_, lane) => (r0 + lane < R ? r0 + lane : r0));
      for (const { path, size, at } of this.paths) {
        const values = param(params, path);
        lanes.forEach((r, lane) => {
          const from = r * size;
          for (let i = 0; i < size; i++) vectors[W * (at + i) + lane] = values[from + i];
        });
      }
      const shared = batches.length === 1;
      lanes.forEach((r, lane) => {
        const batch = batches[shared ? 0 : r];
        new Int32Array(buf, ptr.feats + lane * ptr.featsStride, B * N * F).set(batch.features.subarray(0, B * N * F));
        new Int32Array(buf, ptr.targets + lane * ptr.targetsStride, B * S).set(batch.targets.subarray(0, B * S));
      });
      ex.lanesPass(
        W,
        B,
        ptr.params,
        grads ? ptr.grads : 0,
        ptr.feats,
        ptr.featsStride,
        ptr.targets,
        ptr.targetsStride,
        inputs ? ptr.inputs : 0,
        ptr.loss,
        ptr.correct,
      );
      const loss = new Floats(buf, ptr.loss, W);
      const correct = new Floats(buf, ptr.correct, W);
      lanes.forEach((r, lane) => {
        if (lane > 0 && r === r0) return; // a copy's
        out.loss[r] = loss[lane];
        out.correct[r] = correct[lane];
        if (grads) {
          for (const { path, size, at } of this.paths) {
            const to = param(grads, path);
            const from = r * size;
            for (let i = 0; i < size; i++) to[from + i] = gradVectors[W * (at + i) + lane];
          }
        }
        out.layers?.forEach((layer, l) => {
          const n = B * H * this.rows[l] * N;
          layer.weights.set(new Float32Array(buf, ptr.rec[2 * l] + 4 * lane * n, n), r * n);
          layer.logits.set(new Float32Array(buf, ptr.rec[2 * l + 1] + 4 * lane * n, n), r * n);
        });
        if (out.inputs) out.inputs.set(new Float32Array(buf, ptr.inputs + 4 * lane * B * N * d, B * N * d), r * B * N * d);
      });
    }
    return out;
  }
}

/** n rounded up to 16 bytes, the alignment of every block the kernel reads as v128. */
export function align(n: number): number {
  return Math.ceil(n / 16) * 16;
}

/** Blocks laid out one after another in a kernel instance's memory, each 16-byte aligned, from `start`. */
export class MemoryBlocks {
  private next: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    start: number,
  ) {
    this.next = align(start);
  }

  /** The next block of `bytes`. */
  take(bytes: number): number {
    const at = this.next;
    this.next = align(this.next + bytes);
    return at;
  }

  /** Grows the memory, if it must, to hold every block taken so far. */
  reach(): void {
    const short = this.next - this.memory.buffer.byteLength;
    if (short > 0) this.memory.grow(Math.ceil(short / 65536));
  }
}
