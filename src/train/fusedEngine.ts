/**
 * The WebAssembly kernel as an engine: parameters live in typed arrays stacked [R, ...], the step is the kernel's
 * forward and backward, and Adam is the kernel's too (assembly/adam.ts, its moments in its instance's memory; train/adam.ts).
 * The kernel takes one of its two ways: the
 * regrouped one-layer pass (assembly/fused.ts) for one layer without QK-norm, where it is faster, else the lane path
 * (assembly/lanes.ts, two runs per f64x2) for every other built-in model. Nothing here loads TensorFlow.js:
 * evaluation hands its arrays to the measure both engines share.
 */
import { stackedValues, type StackedParams } from '../model/paramSpecs.js';
import { LaneKernel, type KernelPass, type Precision } from '../model/kernel.js';
import { TypedAdam } from './adam.js';
import { RegroupedPass, regroupedComputes } from '../model/regrouped.js';
import { measureEval, normGroup, type Engine, type EngineSpec, type EvalResult, type RunState, type StepResult } from './engine.js';
import type { Encoded, Layout } from '../tasks/types.js';
import type { ModelConfig } from '../model/schema.js';

/** The kernel's way for a model and precision: the regrouped pass where it computes the model (float64 only), else the lanes. */
export function kernelPass(model: ModelConfig, layout: Layout, R: number, precision: Precision): { pass: Kernel; implementation: string } {
  if (precision === 'float64' && regroupedComputes(model))
    return { pass: new RegroupedPass(model, layout, R), implementation: 'wasm, regrouped one-layer pass' };
  return {
    pass: new LaneKernel(model, layout, R, precision),
    implementation: precision === 'float32' ? 'wasm, f32x4 run lanes' : 'wasm, f64x2 run lanes',
  };
}

export class FusedEngine implements Engine {
  readonly kernel = 'fused';
  readonly implementation: string;
  readonly precision: Precision;
  private readonly R: number;
  private readonly params: StackedParams;
  private readonly grads: StackedParams;
  private readonly adam: TypedAdam;
  private readonly model: Kernel;

  constructor(private readonly spec: EngineSpec) {
    const { model, layout, initial } = spec;
    this.R = initial.length;
    const stack = (pick: (s: RunState) => Map<string, Float32Array>) => stackedValues(model, layout, initial.map(pick));
    this.params = stack((s) => s.params);
    this.grads = new Map([...this.params].map(([path, values]) => [path, new Float32Array(values.length)]));
    const resumed = initial.every((s) => s.m && s.v);
    this.adam = new TypedAdam(this.params, this.R, resumed ? { m: stack((s) => s.m!), v: stack((s) => s.v!) } : undefined);
    // The regrouped pass is float64 only; float32 takes the lanes, four runs to a vector.
    this.precision = spec.precision ?? 'float64';
    ({ pass: this.model, implementation: this.implementation } = kernelPass(model, layout, this.R, this.precision));
  }

  step(batches: Encoded[], lrs: number[] | null, t: number, wantNorms: boolean): StepResult {
    const { loss } = this.model.pass(this.params, batches, this.grads);
    const norms = wantNorms ? this.gradNorms() : null;
    if (lrs) this.adam.update(this.grads, lrs, t);
    return { loss: Float32Array.from(loss), norms };
  }

  evaluate(snapshot: boolean, final: boolean): EvalResult {
    const { model, evalSet } = this.spec;
    const pass = this.model.pass(this.params, [evalSet], undefined, true, final, true); // measureEval keeps no array: reuse them
    return measureEval(this.spec, this.R, snapshot, {
      loss: pass.loss,
      acc: pass.correct,
      layers: pass.layers!,
      values: final ? { x: pass.inputs!, wV: this.params.get(`layer${model.layers - 1}/attn/w_v`)! } : null,
    });
  }

  /** Squared norms [other, w_q, w_k, w_v] × [R], as the tfjs engine groups them. */
  private gradNorms(): number[][] {
    const norms = Array.from({ length: 4 }, () => new Array<number>(this.R).fill(0));
    for (const [path, g] of this.grads) {
      const size = g.length / this.R;
      const group = norms[normGroup(path)];
      for (let r = 0; r < this.R; r++) {
        let acc = 0;
        for (let i = r * size; i < (r + 1) * size; i++) acc += g[i] * g[i];
        group[r] += acc;
      }
    }
    return norms;
  }

  state(): RunState[] {
    const split = (stacked: StackedParams) =>
      Array.from(
        { length: this.R },
        (_, r) => new Map([...stacked].map(([path, all]) => [path, all.slice((r * all.length) / this.R, ((r + 1) * all.length) / this.R)])),
      );
    const p = split(this.params);
    const m = split(this.adam.m);
    const v = split(this.adam.v);
    return p.map((params, r) => ({ params, m: m[r], v: v[r] }));
  }

  dispose(): void {}
}

/** What the engine asks of a kernel: one pass, with every layer's attention when evaluating. */
interface Kernel {
  pass(params: StackedParams, batches: readonly Encoded[], grads?: StackedParams, attention?: boolean, inputs?: boolean, reuse?: boolean): KernelPass;
}
