/** The tfjs graph as an engine: any model shape, gradients by tfjs autodiff, Adam as tensor ops. The reference. */
import { tf } from '../backend.js';
import { forward, crossEntropy } from '../model/transformer.js';
import { makeParams, disposeParams, stackedValues, unstackRuns, param, type Params } from '../model/params.js';
import { oneHotInput, oneHotTargets } from '../model/encode.js';
import { BatchedAdam } from './tfjsAdam.js';
import { measureEval, normGroup, type EvalArrays, type Engine, type EngineSpec, type EvalResult, type RunState, type StepResult } from './engine.js';
import type { Encoded } from '../tasks/types.js';

export class TfjsEngine implements Engine {
  readonly kernel = 'tfjs';
  readonly implementation = 'tfjs graph';
  readonly precision = 'float32';
  private readonly params: Params;
  private readonly adam: BatchedAdam;
  private readonly pathOf: Map<string, string>;
  private readonly evalInput: tf.Tensor;
  private readonly evalTargets: tf.Tensor;
  private readonly evalClasses: tf.Tensor;

  constructor(private readonly spec: EngineSpec) {
    const { model, layout, initial, evalSet } = spec;
    this.params = makeParams(
      model,
      layout,
      initial.map((s) => s.params),
    );
    const resumed = initial.every((s) => s.m && s.v);
    const stacked = (pick: (s: RunState) => Map<string, Float32Array>) => stackedValues(model, layout, initial.map(pick));
    this.adam = new BatchedAdam(this.params, resumed ? { m: stacked((s) => s.m!), v: stacked((s) => s.v!) } : undefined);
    this.pathOf = new Map([...this.params].map(([path, v]) => [v.name, path]));
    this.evalInput = oneHotInput([evalSet], layout); // [1, Be·N, V], reused at every evaluation
    this.evalTargets = oneHotTargets([evalSet], layout); // [1, Be·S, C]
    this.evalClasses = tf.tensor2d(evalSet.targets, [1, evalSet.targets.length], 'int32'); // [1, Be·S]
  }

  step(batches: Encoded[], lrs: number[] | null, t: number, wantNorms: boolean): StepResult {
    const { model, layout } = this.spec;
    const measured: { loss?: tf.Tensor; norms?: tf.Tensor } = {};
    tf.tidy(() => {
      const input = oneHotInput(batches, layout); // [R, B·N, V]
      const targets = oneHotTargets(batches, layout); // [R, B·S, C]
      let lossPerRun: tf.Tensor | undefined;
      const { grads } = tf.variableGrads(() => {
        const { logits } = forward(this.params, model, layout, input, batches[0].count);
        lossPerRun = tf.keep(crossEntropy(logits, targets)); // [R]; kept past variableGrads' own scope
        return tf.sum(lossPerRun) as tf.Scalar;
      }, [...this.params.values()]);
      const byPath = Object.fromEntries(Object.entries(grads).map(([name, g]) => [this.pathOf.get(name)!, g]));
      if (wantNorms) measured.norms = tf.keep(gradNorms(byPath)); // [4, R]
      if (lrs) this.adam.update(byPath, tf.tensor1d(lrs), t);
      measured.loss = lossPerRun;
    });
    const loss = measured.loss!.dataSync();
    measured.loss!.dispose();
    let norms: number[][] | null = null;
    if (measured.norms) {
      norms = measured.norms.arraySync() as number[][];
      measured.norms.dispose();
    }
    return { loss, norms };
  }

  evaluate(snapshot: boolean, final: boolean): EvalResult {
    const { model, layout, evalSet } = this.spec;
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array; // the graph's results leave as arrays, measured as the fused engine's are
    let pass!: EvalArrays;
    tf.tidy(() => {
      const { logits, layers, layerInputs } = forward(this.params, model, layout, this.evalInput, evalSet.count);
      const loss = crossEntropy(logits, this.evalTargets); // [R]
      const acc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), this.evalClasses), 'float32'), 1); // [R]
      const last = model.layers - 1;
      const own = layers[last].ownValues; // a user's variant with values of its own: their norms, not x·W_V's
      pass = {
        loss: read(loss),
        acc: read(acc),
        layers: layers.map((layer) => ({ weights: read(layer.weights), logits: read(layer.logits) })), // [R, B, H, rows, N]
        values: !final
          ? null
          : own
            ? { norms: read(tf.sqrt(tf.sum(tf.square(own), -1))) } // [R·B·H, N], laid out as [R, B, H, N]
            : { x: read(layerInputs[last]), wV: read(param(this.params, `layer${last}/attn/w_v`)) },
      };
    });
    return measureEval(this.spec, this.spec.initial.length, snapshot, pass);
  }

  state(): RunState[] {
    const p = unstackRuns(this.params);
    const m = unstackRuns(this.adam.m);
    const v = unstackRuns(this.adam.v);
    return p.map((params, r) => ({ params, m: m[r], v: v[r] }));
  }

  dispose(): void {
    this.adam.dispose();
    disposeParams(this.params);
    tf.dispose([this.evalInput, this.evalTargets, this.evalClasses]);
  }
}

/** Squared gradient norms per run, grouped [other, w_q, w_k, w_v] → [4, R]. Call inside tf.tidy. */
function gradNorms(grads: Record<string, tf.Tensor>): tf.Tensor {
  const groups: tf.Tensor[][] = [[], [], [], []];
  for (const [path, g] of Object.entries(grads)) groups[normGroup(path)].push(tf.sum(tf.square(tf.reshape(g, [g.shape[0], -1])), 1));
  const R = Object.values(grads)[0].shape[0];
  return tf.stack(groups.map((g) => (g.length ? tf.addN(g) : tf.zeros([R]))));
}
