/**
 * An engine holds a group's parameters and optimiser state and does the arithmetic of one training step and
 * one evaluation. Two implement it: the fused typed-array kernel (fast, one layer) and the tfjs graph (any
 * shape, the reference). The trainer drives either without knowing which.
 */
import { tf } from '../backend.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from '../model/schema.js';
import { attentionStats, statsInputs, type AttentionLayer } from '../metrics/attention.js';
import { claimTensors, readClaims, type ClaimReadout } from '../metrics/claims.js';
import type { RunState, SnapshotLayers } from '../records/formats.js';

export type { RunState };

/** `auto` takes the fused kernel wherever it computes the model, else the tfjs graph. */
export type KernelChoice = 'auto' | 'fused' | 'tfjs';

export interface EngineSpec {
  model: ModelConfig;
  layout: Layout;
  /** Starting state per run; R = initial.length. */
  initial: RunState[];
  evalSet: Encoded;
  /** How many eval examples an attention snapshot keeps. */
  snapshotExamples: number;
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

/**
 * The eval figures from one pass's outputs, shared by both engines so both measure alike: loss and accuracy
 * per run, and the attention statistics of metrics/attention.ts on the supervised rows. Owns and frees the
 * tensors it is given.
 */
export class EvalMeasure {
  private readonly inputs;

  constructor(private readonly spec: EngineSpec) {
    this.inputs = statsInputs(spec.evalSet, spec.layout);
  }

  /**
   * `make` runs inside a tidy and returns [R] loss and accuracy tensors, each layer's attention, and (read only
   * when `final`) the last layer's input [R, B, N, d] and its W_V [R, d, d] for the value norms.
   */
  measure(
    R: number,
    snapshot: boolean,
    final: boolean,
    make: () => { loss: tf.Tensor; acc: tf.Tensor; layers: AttentionLayer[]; lastInput: () => tf.Tensor; wV: () => tf.Tensor },
  ): EvalResult {
    const k = Math.min(this.spec.snapshotExamples, this.spec.evalSet.count);
    const out: { packed?: tf.Tensor; snaps?: tf.Tensor[]; means?: tf.Tensor[]; claims?: ReturnType<typeof claimTensors> } = {};
    tf.tidy(() => {
      const { loss, acc, layers, lastInput, wV } = make();
      out.claims = claimTensors(layers, this.spec.model, k, final ? { x: lastInput(), wV: wV() } : null);
      const s = attentionStats(layers, this.spec.layout, this.inputs);
      out.packed = tf.keep(tf.stack([loss, acc, s.entropy, s.entropyNorm, s.maxLogit, s.scaffold, ...s.retrieval])); // [6 + L, R]
      if (snapshot) {
        out.snaps = layers.map((layer) => tf.keep(tf.slice(layer.weights, [0, 0, 0, 0, 0], [-1, k, -1, -1, -1]))); // [R, k, H, Sq, N]
        out.means = layers.map((layer) => tf.keep(tf.mean(layer.weights, 1))); // [R, H, Sq, N]
      }
    });
    const [loss, acc, entropy, entropyNorm, maxLogit, scaffold, ...retrieval] = out.packed!.arraySync() as number[][];
    out.packed!.dispose();
    let snapshots: SnapshotLayers[] | null = null;
    if (out.snaps && out.means) {
      const ex = out.snaps.map((s) => s.arraySync() as number[][][][][]);
      const mean = out.means.map((m) => m.arraySync() as number[][][][]);
      tf.dispose([...out.snaps, ...out.means]);
      snapshots = Array.from({ length: R }, (_, r) => ex.map((layerEx, l) => ({ examples: layerEx[r], mean: mean[l][r] })));
    }
    const claims = readClaims(out.claims!, this.spec.evalSet, this.spec.layout);
    return { loss, acc, entropy, entropyNorm, maxLogit, retrieval, scaffold, snapshots, claims };
  }

  dispose(): void {
    tf.dispose(Object.values(this.inputs));
  }
}
