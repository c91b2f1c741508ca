/**
 * An engine holds a group's parameters and optimiser state and does the arithmetic of one training step and
 * one evaluation. Two implement it: the fused typed-array kernels (fast) and the tfjs graph (the
 * reference). The trainer drives either without knowing which.
 */
import type { Precision } from '../model/kernel.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from '../model/schema.js';
import { attentionStats, type EvalShape, type LayerArrays } from '../metrics/attention.js';
import { claimReadouts, type ClaimReadout, type ValueInputs } from '../metrics/claims.js';
import type { RunState, SnapshotLayers } from '../records/formats.js';

export type { RunState };

/** `auto` and `fused` take the fused kernels, which compute every built-in model; `tfjs` the reference graph. */
export type KernelChoice = 'auto' | 'fused' | 'tfjs';

export interface EngineSpec {
  model: ModelConfig;
  layout: Layout;
  /** Starting state per run; R = initial.length. */
  initial: RunState[];
  evalSet: Encoded;
  /** How many eval examples an attention snapshot keeps. */
  snapshotExamples: number;
  /** The kernel's arithmetic (train.precision); the graph computes in float32 whatever this says. */
  precision?: Precision;
}

export interface StepResult {
  loss: ArrayLike<number>; // [R] train loss on the step's batches, before the update
  /** Squared gradient norms grouped [other, w_q, w_k, w_v], each [R]; only when asked for. */
  norms: number[][] | null;
}

export interface EvalResult {
  loss: number[];
  acc: number[];
  entropy: number[];
  entropyNorm: number[];
  maxLogit: number[];
  retrieval: number[][]; // [layer][run]
  scaffold: number[]; // [run] the last layer's attention share on scaffold positions
  snapshots: SnapshotLayers[] | null; // per run
  claims: ClaimReadout[]; // per run: the attention trace, and at the final evaluation the value-norm figures
}

export interface Engine {
  readonly kernel: 'fused' | 'tfjs';
  /** Which code computes the steps, for summary.json: 'wasm, regrouped one-layer pass', 'wasm, f64x2 run lanes', 'wasm, f32x4 run lanes', 'tfjs graph'. */
  readonly implementation: string;
  /** The arithmetic the steps ran in, for summary.json. */
  readonly precision: Precision;
  /** Loss (and gradients) on one batch per run; then, unless `lrs` is null, Adam update number `t` at those rates. */
  step(batches: Encoded[], lrs: number[] | null, t: number, wantNorms: boolean): StepResult;
  /** One pass over the fixed eval set for every run; `snapshot` also returns attention snapshots, `final` the value-norm figures. */
  evaluate(snapshot: boolean, final: boolean): EvalResult;
  state(): RunState[];
  dispose(): void;
}

/** Which squared-norm group a parameter's gradient adds to: [other, w_q, w_k, w_v]. */
export function normGroup(path: string): number {
  return path.endsWith('/w_q') ? 1 : path.endsWith('/w_k') ? 2 : path.endsWith('/w_v') ? 3 : 0;
}

/** What an engine's eval pass hands to `measureEval`, as typed arrays (no tensors: neither engine round-trips). */
export interface EvalArrays {
  loss: ArrayLike<number>; // [R]
  acc: ArrayLike<number>; // [R]
  layers: LayerArrays[]; // per layer, [R, B, H, rows, N]
  /** Only at the final evaluation: the last layer's input and W_V, for the value norms. */
  values: ValueInputs | null;
}

/**
 * The eval figures from one pass's arrays, shared by both engines so both measure alike: loss and accuracy per
 * run (as float32, the precision the model computes in), the attention statistics of metrics/attention.ts on
 * the supervised rows, the claims' readouts and, when asked, the attention snapshots.
 */
export function measureEval(spec: EngineSpec, R: number, snapshot: boolean, pass: EvalArrays): EvalResult {
  const { model, layout, evalSet } = spec;
  const shape = { R, B: evalSet.count, H: model.heads };
  const k = Math.min(spec.snapshotExamples, evalSet.count);
  const s = attentionStats(pass.layers, layout, evalSet.sources, shape);
  const last = pass.layers[pass.layers.length - 1];
  return {
    loss: Array.from(pass.loss, Math.fround),
    acc: Array.from(pass.acc, Math.fround),
    ...s,
    snapshots: snapshot ? snapshotsOf(pass.layers, shape, k, layout.positions) : null,
    claims: claimReadouts(last.weights, { ...shape, d: model.dModel }, k, pass.values, evalSet.sources, layout),
  };
}

/** Per run and layer, the first k examples' attention and the mean over the eval set (float32, as logged). */
function snapshotsOf(layers: LayerArrays[], shape: EvalShape, k: number, N: number): SnapshotLayers[] {
  const { R, B, H } = shape;
  return Array.from({ length: R }, (_, r) =>
    layers.map(({ weights }) => {
      const rows = weights.length / (R * B * H * N);
      const at = (b: number, h: number, i: number) => (((r * B + b) * H + h) * rows + i) * N;
      const examples = Array.from({ length: k }, (_, b) =>
        Array.from({ length: H }, (_, h) => Array.from({ length: rows }, (_, i) => Array.from(weights.subarray(at(b, h, i), at(b, h, i) + N)))),
      );
      const mean = Array.from({ length: H }, (_, h) =>
        Array.from({ length: rows }, (_, i) =>
          Array.from({ length: N }, (_, j) => {
            let sum = 0;
            for (let b = 0; b < B; b++) sum += weights[at(b, h, i) + j];
            return Math.fround(sum / B);
          }),
        ),
      );
      return { examples, mean };
    }),
  );
}
