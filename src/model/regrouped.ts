/**
 * The kernel's regrouped one-layer pass (assembly/fused.ts) from JavaScript, for one layer without QK-norm, where it
 * is faster than the lanes: its scores go through the projected embedding table, so keys and values are never
 * projected. It computes a run at a time (within a run, two independent entries or sums per f64x2), so a run's
 * figures do not depend on its group. This file copies parameters and batches into the module's memory and
 * gradients and outputs back out: a few tens of kilobytes per step. test/model/regrouped.test.ts holds it to the
 * tfjs graph.
 */
import type { Encoded, Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';
import { param } from './paramSpecs.js';
import { kernelInstance, kernelBuilt, align, MemoryBlocks, AttentionOut, type KernelPass } from './kernel.js';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  setDims(d: number, H: number, N: number, F: number, V: number, C: number, S: number, qStart: number, causal: number, s: number, at: number): number;
  setParams(table: number, pos: number, wq: number, wk: number, wv: number, gamma: number, beta: number, unembed: number): void;
  setGrads(table: number, pos: number, wq: number, wk: number, wv: number, gamma: number, beta: number, unembed: number): void;
  pass(
    R: number,
    B: number,
    feats: number,
    featsStride: number,
    targets: number,
    targetsStride: number,
    withGrads: number,
    weights: number,
    logits: number,
    inputs: number,
    loss: number,
    correct: number,
  ): void;
}

/** Whether the regrouped pass computes this model: one layer without QK-norm (the score is then linear in x). */
export function regroupedComputes(cfg: ModelConfig): boolean {
  return !cfg.qkNorm && cfg.layers === 1 && kernelBuilt();
}

/** Parameter paths in the order they are laid out in the module's memory. */
const PATHS = ['embed/table', 'embed/pos', 'layer0/attn/w_q', 'layer0/attn/w_k', 'layer0/attn/w_v', 'layer0/ln/gamma', 'layer0/ln/beta', 'unembed/w'];

export class RegroupedPass {
  private readonly ex: Exports;
  private readonly scratchAt: number;
  private readonly scratchBytes: number;
  private readonly attentionOut = new AttentionOut();

  constructor(
    private readonly cfg: ModelConfig,
    private readonly layout: Layout,
    private readonly R: number,
  ) {
    this.ex = kernelInstance() as unknown as Exports;
    const L = layout;
    this.scratchAt = align(this.ex.heapBase());
    this.scratchBytes = this.ex.setDims(
      cfg.dModel,
      cfg.heads,
      L.positions,
      L.featuresPerPosition,
      L.inputVocab,
      L.outputVocab,
      L.queryCount,
      L.queryStart,
      L.causal ? 1 : 0,
      cfg.inputScale,
      this.scratchAt,
    );
  }

  pass(
    params: Map<string, Float32Array>,
    batches: readonly Encoded[],
    grads?: Map<string, Float32Array>,
    attention = false,
    inputs = false,
    reuse = false,
  ): KernelPass {
    const { R, cfg, layout } = this;
    const d = cfg.dModel;
    const { positions: N, featuresPerPosition: F, queryCount: S } = layout;
    const H = cfg.heads;
    const B = batches[0].count;
    const shared = batches.length === 1;
    const variant = cfg.attention;
    // Sizes in bytes of everything laid out after the scratch area, each block 16-byte aligned.
    const sizes = PATHS.map((path) =>
      path === 'layer0/attn/w_k' && variant !== 'qkv' ? (variant === 'qx' ? R * d * d : 0) : param(params, path).length,
    );
    const memory = this.ex.memory;
    const blocks = new MemoryBlocks(memory, this.scratchAt + this.scratchBytes);
    const paramPtr = sizes.map((n) => blocks.take(4 * n));
    const gradPtr = grads ? sizes.map((n) => blocks.take(4 * n)) : null;
    const featsBytes = 4 * B * N * F;
    const targetsBytes = 4 * B * S;
    const featsPtr = blocks.take(featsBytes * batches.length);
    const targetsPtr = blocks.take(targetsBytes * batches.length);
    const outs = R * B * H * S * N;
    const weightsPtr = attention ? blocks.take(4 * outs) : 0;
    const logitsPtr = attention ? blocks.take(4 * outs) : 0;
    const inputsPtr = inputs ? blocks.take(4 * R * B * N * d) : 0;
    const lossPtr = blocks.take(8 * R);
    const correctPtr = blocks.take(8 * R);
    blocks.reach();
    const buf = memory.buffer;

    // Parameters in; the variant's key projection is W_K (qkv), W_V (qv), W_Q (qq) or the identity (qx).
    PATHS.forEach((path, k) => {
      if (path === 'layer0/attn/w_k' && variant !== 'qkv') {
        if (variant === 'qx') {
          const eye = new Float32Array(buf, paramPtr[k], R * d * d);
          eye.fill(0);
          for (let r = 0; r < R; r++) for (let i = 0; i < d; i++) eye[r * d * d + i * d + i] = 1;
        }
        return;
      }
      new Float32Array(buf, paramPtr[k], sizes[k]).set(param(params, path));
    });
    const keyAlias = (ptrs: number[]) => (variant === 'qv' ? ptrs[4] : variant === 'qq' ? ptrs[2] : ptrs[3]);
    this.ex.setParams(paramPtr[0], paramPtr[1], paramPtr[2], keyAlias(paramPtr), paramPtr[4], paramPtr[5], paramPtr[6], paramPtr[7]);
    if (gradPtr) this.ex.setGrads(gradPtr[0], gradPtr[1], gradPtr[2], keyAlias(gradPtr), gradPtr[4], gradPtr[5], gradPtr[6], gradPtr[7]);
    batches.forEach((batch, r) => {
      new Int32Array(buf, featsPtr + r * featsBytes, B * N * F).set(batch.features.subarray(0, B * N * F));
      new Int32Array(buf, targetsPtr + r * targetsBytes, B * S).set(batch.targets.subarray(0, B * S));
    });

    this.ex.pass(
      R,
      B,
      featsPtr,
      shared ? 0 : featsBytes,
      targetsPtr,
      shared ? 0 : targetsBytes,
      grads ? 1 : 0,
      weightsPtr,
      logitsPtr,
      inputsPtr,
      lossPtr,
      correctPtr,
    );

    if (grads && gradPtr)
      PATHS.forEach((path, k) => {
        if (path === 'layer0/attn/w_k' && variant !== 'qkv') return; // qv's and qq's key gradient is already in W_V's or W_Q's; qx has none
        param(grads, path).set(new Float32Array(buf, gradPtr[k], sizes[k]));
      });
    const out: KernelPass = {
      loss: new Float64Array(buf.slice(lossPtr, lossPtr + 8 * R)),
      correct: new Float64Array(buf.slice(correctPtr, correctPtr + 8 * R)),
    };
    if (attention) {
      const [layer] = this.attentionOut.arrays([outs], reuse); // its one layer
      layer.weights.set(new Float32Array(buf, weightsPtr, outs));
      layer.logits.set(new Float32Array(buf, logitsPtr, outs));
      out.layers = [layer];
    }
    if (inputs) out.inputs = new Float32Array(buf.slice(inputsPtr, inputsPtr + 4 * R * B * N * d));
    return out;
  }
}
