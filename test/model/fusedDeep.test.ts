/**
 * The deep fused kernel (any number of layers) against the tfjs graph (transformer.ts, autodiff by tfjs):
 * loss, every layer's attention weights and scores, the last layer's input, and every parameter's gradient;
 * against central finite differences of its own float64 loss; and batched against alone.
 *
 * Tolerance against tfjs as in fused.test.ts: the graph is float32, the kernel float64, so they differ by
 * float32 rounding a few operations deep (~1e-6 relative, more through two LayerNorms); 2e-4 relative leaves
 * room for that while a wrong term is off by far more.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { mqarTask } from '../../src/tasks/mqar.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, stackedValues } from '../../src/model/params.js';
import { DeepFusedModel } from '../../src/model/fusedDeep.js';
import type { AnyTask } from '../../src/tasks/index.js';
import { expectClose, tfjsReference, zerosLike } from '../helpers/kernels.js';

const mqar = mqarTask(taskSchema.parse({ kind: 'mqar', pairs: 3, queries: 2, keyVocab: 5, valueVocab: 4 })) as AnyTask;
const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 6 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 3, vocab: 5 })) as AnyTask;

beforeAll(async () => {
  await initBackend('cpu');
});

const CASES: [string, AnyTask, Partial<ModelConfig>][] = [
  ['mqar, 2 layers, qkv', mqar, { layers: 2, attention: 'qkv' }],
  ['mqar, 2 layers, qv', mqar, { layers: 2, attention: 'qv' }],
  ['mqar, 2 layers, qx, 2 heads', mqar, { layers: 2, attention: 'qx', heads: 2 }],
  ['mqar, 2 layers, qq, 2 heads', mqar, { layers: 2, attention: 'qq', heads: 2 }],
  ['mqar, 2 layers, qkv + QK-norm, 2 heads', mqar, { layers: 2, attention: 'qkv', qkNorm: true, heads: 2 }],
  ['mqar, 2 layers, qv + QK-norm (values stay raw)', mqar, { layers: 2, attention: 'qv', qkNorm: true }],
  ['mqar, 3 layers, qkv, input scale 2', mqar, { layers: 3, attention: 'qkv', inputScale: 2 }],
  ['lookup (full attention), 2 layers, qv, 2 heads', lookup, { layers: 2, attention: 'qv', heads: 2 }],
  ['lookup, 1 layer, qkv (the deep kernel computes one layer too)', lookup, { layers: 1, attention: 'qkv' }],
  ['copy (causal, several rows), 2 layers, qq + QK-norm', copy, { layers: 2, attention: 'qq', qkNorm: true }],
];

describe('deep fused kernel against the tfjs graph', () => {
  it.each(CASES)('%s: loss, gradients and every layer’s attention agree', (_name, task, overrides) => {
    const model = modelSchema.parse({ dModel: 8, ...overrides });
    const B = 4;
    const perRun = [7, 8].map((seed) => initialValues(model, task.layout, seed));
    const batches = [11, 12].map((seed) => task.encode(task.sample(Stream.derive(seed, 'deep-test'), B)));
    const want = tfjsReference(model, task, perRun, batches, B);
    const params = stackedValues(model, task.layout, perRun);
    const grads = zerosLike(params);
    const got = new DeepFusedModel(model, task.layout, 2).pass(params, batches, grads, true, true);

    expectClose(got.loss, want.loss, 'loss');
    expect(got.layers!.length).toBe(model.layers);
    got.layers!.forEach((layer, l) => {
      expectClose(layer.weights, want.weights[l], `layer ${l + 1} attention weights`);
      expectClose(layer.logits, want.logits[l], `layer ${l + 1} attention scores`);
    });
    expectClose(got.inputs!, want.inputs, 'last layer input');
    expect([...grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
    for (const [path, g] of grads) expectClose(g, want.grads.get(path)!, `gradient of ${path}`);
  });
});

describe('deep fused kernel against finite differences of its own loss', () => {
  // The kernel's loss is float64, so central differences are clean: Richardson's extrapolation of steps 1e-2
  // and 5e-3 (exactly representable in float32) leaves an error near 1e-6; 1e-4 + 1e-3·|g| catches a gradient
  // 1% off, and the sensitivity check below shows the sample can.
  it.each([
    ['qkv', { attention: 'qkv' }],
    ['qv', { attention: 'qv' }],
    ['qq + QK-norm', { attention: 'qq', qkNorm: true }],
    ['qx, 2 heads', { attention: 'qx', heads: 2 }],
  ] as [string, Partial<ModelConfig>][])('mqar, 2 layers, %s', (_name, overrides) => {
    const model = modelSchema.parse({ dModel: 4, layers: 2, ...overrides });
    const perRun = [initialValues(model, mqar.layout, 3)];
    const batch = mqar.encode(mqar.sample(Stream.derive(5, 'deep-fd'), 3));
    const kernel = new DeepFusedModel(model, mqar.layout, 1);
    const params = stackedValues(model, mqar.layout, perRun);
    const grads = zerosLike(params);
    kernel.pass(params, [batch], grads);
    const loss = () => kernel.pass(params, [batch]).loss[0];
    const rng = Stream.derive(1, 'deep-fd/sample');
    const checks: { path: string; ana: number; num: number }[] = [];
    for (const [path, values] of params) {
      const g = grads.get(path)!;
      let largest = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[largest])) largest = i;
      for (const index of [largest, rng.int(0, values.length - 1)]) {
        const original = values[index];
        const at = (delta: number) => {
          values[index] = original + delta;
          const value = loss();
          values[index] = original;
          return value;
        };
        const central = (eps: number) => (at(eps) - at(-eps)) / (2 * eps);
        checks.push({ path, ana: g[index], num: (4 * central(5e-3) - central(1e-2)) / 3 });
      }
    }
    const ok = (c: { ana: number; num: number }, scale = 1) => Math.abs(c.num - c.ana * scale) <= 1e-4 + 1e-3 * Math.abs(c.ana * scale);
    expect(checks.filter((c) => !ok(c))).toEqual([]);
    expect(checks.some((c) => !ok(c, 1.01))).toBe(true);
  });
});

describe('deep fused kernel: runs are independent', () => {
  const model = modelSchema.parse({ dModel: 8, layers: 2, attention: 'qv' });

  it('a run in a group computes exactly what it computes alone', () => {
    const perRun = [0, 1].map((seed) => initialValues(model, mqar.layout, seed));
    const batches = [0, 1].map((seed) => mqar.encode(mqar.sample(Stream.derive(seed, 'alone'), 4)));
    const both = stackedValues(model, mqar.layout, perRun);
    const second = stackedValues(model, mqar.layout, [perRun[1]]);
    const gBoth = zerosLike(both);
    const gSecond = zerosLike(second);
    const together = new DeepFusedModel(model, mqar.layout, 2).pass(both, batches, gBoth);
    const alone = new DeepFusedModel(model, mqar.layout, 1).pass(second, [batches[1]], gSecond);
    expect(together.loss[1]).toBe(alone.loss[0]);
    for (const [path, g] of gSecond) expect(Array.from(gBoth.get(path)!.subarray(g.length)), path).toEqual(Array.from(g));
  });

  it('one shared batch (the eval set) equals that batch given to every run', () => {
    const perRun = [3, 4, 5].map((seed) => initialValues(model, mqar.layout, seed));
    const params = stackedValues(model, mqar.layout, perRun);
    const batch = mqar.encode(mqar.sample(Stream.derive(1, 'shared'), 6));
    const kernel = new DeepFusedModel(model, mqar.layout, 3);
    const shared = kernel.pass(params, [batch], undefined, true);
    const each = kernel.pass(params, [batch, batch, batch], undefined, true);
    expect(Array.from(shared.loss)).toEqual(Array.from(each.loss));
    expect(Array.from(shared.layers![1].weights)).toEqual(Array.from(each.layers![1].weights));
  });
});
