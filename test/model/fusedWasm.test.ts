/**
 * The wasm kernel (assembly/fused.ts) against the typed-array kernel (model/fused.ts, the reference, itself checked
 * against the tfjs graph in fused.test.ts): bit for bit, since it does the same operations in the same order.
 * Values, gradients, attention and the layer input on every shape fused.test.ts uses, and 30 training steps with
 * Adam (each step's loss and the parameters after them).
 */
import { describe, expect, it } from 'vitest';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, stackedValues } from '../../src/model/paramSpecs.js';
import { zerosLike } from '../helpers/kernels.js';
import { FusedModel, type StackedParams } from '../../src/model/fused.js';
import { kernelExp } from '../../src/model/fusedWasm.js';
import { TypedAdam } from '../../src/train/adam.js';
import type { AnyTask } from '../../src/tasks/index.js';

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 6 })) as AnyTask;
const lookup8 = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 8, keyVocab: 16, valueVocab: 16 })) as AnyTask; // the ablation's
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 5 })) as AnyTask;

const CASES: [string, AnyTask, Partial<ModelConfig>][] = [
  ['lookup (the ablation), qkv', lookup8, { attention: 'qkv' }],
  ['lookup (the ablation), qv', lookup8, { attention: 'qv' }],
  ['lookup, qkv, 2 heads', lookup, { attention: 'qkv', heads: 2 }],
  ['lookup, qv, 4 heads, d 16', lookup, { attention: 'qv', heads: 4, dModel: 16 }],
  ['lookup, qkv, d 5 (odd widths take the scalar tails)', lookup, { attention: 'qkv', dModel: 5 }],
  ['copy (causal), qkv, 1 head', copy, { attention: 'qkv' }],
  ['copy (causal), qv, 2 heads, input scale 0.25', copy, { attention: 'qv', heads: 2, inputScale: 0.25 }],
  ['lookup, qkv, input scale 4', lookup, { attention: 'qkv', inputScale: 4 }],
  ['lookup, qx, 4 heads, d 16', lookup, { attention: 'qx', heads: 4, dModel: 16 }],
  ['copy (causal), qx, 2 heads', copy, { attention: 'qx', heads: 2 }],
  ['lookup, qq, 2 heads, input scale 2', lookup, { attention: 'qq', heads: 2, inputScale: 2 }],
  ['copy (causal), qq, 2 heads', copy, { attention: 'qq', heads: 2 }],
];

const stacked = (model: ModelConfig, task: AnyTask, seeds: number[]): StackedParams =>
  stackedValues(
    model,
    task.layout,
    seeds.map((seed) => initialValues(model, task.layout, seed)),
  );

describe('wasm kernel against the typed-array kernel, bit for bit', () => {
  it.each(CASES)('%s: loss, gradients, attention and the layer input', (_name, task, overrides) => {
    const model = modelSchema.parse(overrides);
    const params = stacked(model, task, [7, 8]);
    const batches = [11, 12].map((seed) => task.encode(task.sample(Stream.derive(seed, 'wasm-test'), 6)));
    const wasm = new FusedModel(model, task.layout, 2);
    const js = new FusedModel(model, task.layout, 2, 'js');
    expect(wasm.code).toBe('wasm');
    expect(js.code).toBe('js');
    const [gWasm, gJs] = [zerosLike(params), zerosLike(params)];
    const got = wasm.pass(params, batches, gWasm, true, true);
    const want = js.pass(params, batches, gJs, true, true);
    for (const key of ['loss', 'correct', 'weights', 'logits', 'inputs'] as const) expect(Array.from(got[key]!), key).toEqual(Array.from(want[key]!));
    for (const [path, g] of gJs) expect(Array.from(gWasm.get(path)!), `gradient of ${path}`).toEqual(Array.from(g));
    // The eval path: one shared batch, forward only.
    const evalSet = task.encode(task.sample(Stream.derive(3, 'wasm-eval'), 9));
    const evWasm = wasm.pass(params, [evalSet], undefined, true);
    const evJs = js.pass(params, [evalSet], undefined, true);
    for (const key of ['loss', 'correct', 'weights', 'logits'] as const)
      expect(Array.from(evWasm[key]!), `eval ${key}`).toEqual(Array.from(evJs[key]!));
  });

  it.each([['qkv'], ['qv']] as const)(
    '30 training steps of the ablation model (%s), 3 runs at different learning rates: every loss and the parameters after',
    (attention) => {
      const model = modelSchema.parse({ attention });
      const task = lookup8;
      const R = 3;
      const lrs = [1e-3, 1e-2, 1e-1];
      const run = (code: 'auto' | 'js') => {
        const params = stacked(model, task, [0, 1, 2]);
        const grads = zerosLike(params);
        const adam = new TypedAdam(params, R);
        const kernel = new FusedModel(model, task.layout, R, code);
        const streams = Array.from({ length: R }, (_, r) => Stream.derive(r, 'wasm-train'));
        const losses: number[] = [];
        for (let t = 1; t <= 30; t++) {
          const { loss } = kernel.pass(
            params,
            streams.map((rng) => task.draw(rng, 32)),
            grads,
          );
          losses.push(...loss);
          adam.update(grads, lrs, t);
        }
        return { losses, params };
      };
      const [wasm, js] = [run('auto'), run('js')];
      expect(wasm.losses).toEqual(js.losses);
      for (const [path, v] of js.params) expect(Array.from(wasm.params.get(path)!), path).toEqual(Array.from(v));
    },
  );

  it('QK-norm stays on the typed-array kernel', () => {
    expect(new FusedModel(modelSchema.parse({ qkNorm: true }), lookup.layout, 1).code).toBe('js');
  });
});

describe('the kernels’ exponential', () => {
  /** How many representable doubles lie between a and b (both finite and of one sign). */
  const ulps = (a: number, b: number) => {
    const bits = new BigInt64Array(new Float64Array([a, b]).buffer);
    const gap = bits[0] - bits[1];
    return Number(gap < 0n ? -gap : gap);
  };

  it('is the wasm module’s, within 2 ulp of Math.exp: special values, the reduction boundaries, the range ends, random inputs', () => {
    expect(kernelExp, 'dist/model/fused.wasm is built by npm run build (pretest)').not.toBe(Math.exp);
    for (const x of [NaN, Infinity, -Infinity, 709.8, -745.2]) expect(Object.is(kernelExp(x), Math.exp(x)), `exp(${x})`).toBe(true);
    expect(kernelExp(0)).toBe(1);
    const boundaries = [1, -1, 0.5, 0.3465, 0.3466, 1.0397, 1.0398, -0.3466, -1.0398, -708.4, -720, -744.9, 700, 709.78, 1e-9, 2 ** -28, -1e-300];
    const rng = Stream.derive(7, 'test/exp');
    const scores = Array.from({ length: 200_000 }, () => -rng.uniform() * 60); // what softmax sees: a score minus the row's max
    const wide = Array.from({ length: 200_000 }, () => (rng.uniform() - 0.5) * 1400);
    const far = [...boundaries, ...scores, ...wide].filter((x) => Math.exp(x) > 0 && ulps(kernelExp(x), Math.exp(x)) > 2);
    expect(far.slice(0, 5)).toEqual([]);
  });
});
