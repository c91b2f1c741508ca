/**
 * The fused kernel against the plain tfjs formulation (transformer.ts, autodiff by tfjs): loss, accuracy,
 * attention weights and scores, the layer input, and every parameter's gradient, on several shapes: both
 * variants, one to four heads, input scales, lookup (full attention, one query row) and copy (causal, several query rows), R = 2 runs with
 * their own parameters and batches, and a shared batch (the eval path).
 *
 * Tolerance: the tfjs graph is float32 throughout, the kernel accumulates in float64. Differences are float32
 * rounding of a few operations deep, ~1e-6 relative; 2e-4 relative (+ 1e-6 absolute) leaves room for that while a
 * wrong term (a missing scale, a dropped residual branch, a transposed head) is off by far more.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, stackedValues } from '../../src/model/params.js';
import { FusedModel } from '../../src/model/fused.js';
import type { AnyTask } from '../../src/tasks/index.js';
import { expectClose, tfjsReference, zerosLike } from '../helpers/kernels.js';

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 6 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 5 })) as AnyTask;

beforeAll(async () => {
  await initBackend('cpu');
});

const CASES: [string, AnyTask, Partial<ModelConfig>][] = [
  ['lookup, qkv, 1 head', lookup, { attention: 'qkv' }],
  ['lookup, qv, 1 head', lookup, { attention: 'qv' }],
  ['lookup, qkv, 2 heads', lookup, { attention: 'qkv', heads: 2 }],
  ['lookup, qv, 4 heads, d 16', lookup, { attention: 'qv', heads: 4, dModel: 16 }],
  ['copy (causal), qkv, 1 head', copy, { attention: 'qkv' }],
  ['copy (causal), qv, 2 heads', copy, { attention: 'qv', heads: 2 }],
  ['lookup, qkv, input scale 4', lookup, { attention: 'qkv', inputScale: 4 }],
  ['copy (causal), qv, input scale 0.25', copy, { attention: 'qv', inputScale: 0.25 }],
  ['lookup, qx (no key projection), 1 head', lookup, { attention: 'qx' }],
  ['lookup, qx, 4 heads, d 16', lookup, { attention: 'qx', heads: 4, dModel: 16 }],
  ['copy (causal), qx, 2 heads', copy, { attention: 'qx', heads: 2 }],
  ['lookup, qq (shared query–key), 1 head', lookup, { attention: 'qq' }],
  ['lookup, qq, 2 heads, input scale 2', lookup, { attention: 'qq', heads: 2, inputScale: 2 }],
  ['copy (causal), qq, 2 heads', copy, { attention: 'qq', heads: 2 }],
  ['lookup, qkv + QK-norm, 1 head', lookup, { attention: 'qkv', qkNorm: true }],
  ['lookup, qv + QK-norm (values stay raw), 2 heads', lookup, { attention: 'qv', qkNorm: true, heads: 2 }],
  ['copy (causal), qv + QK-norm, 1 head, input scale 2', copy, { attention: 'qv', qkNorm: true, inputScale: 2 }],
  ['lookup, qx + QK-norm, 4 heads, d 16', lookup, { attention: 'qx', qkNorm: true, heads: 4, dModel: 16 }],
  ['copy (causal), qq + QK-norm, 2 heads', copy, { attention: 'qq', qkNorm: true, heads: 2 }],
];

describe('fused kernel against the tfjs graph', () => {
  it.each(CASES)('%s: loss, gradients and attention agree', (_name, task, overrides) => {
    const model = modelSchema.parse(overrides);
    const B = 5;
    const perRun = [7, 8].map((seed) => initialValues(model, task.layout, seed));
    const batches = [11, 12].map((seed) => task.encode(task.sample(Stream.derive(seed, 'fused-test'), B)));
    const want = tfjsReference(model, task, perRun, batches, B);

    const stacked = stackedValues(model, task.layout, perRun);
    const grads = zerosLike(stacked);
    const got = new FusedModel(model, task.layout, 2).pass(stacked, batches, grads, true, true);

    expectClose(got.loss, want.loss, 'loss');
    expectClose(got.weights!, want.weights[0], 'attention weights');
    expectClose(got.logits!, want.logits[0], 'attention scores');
    expectClose(got.inputs!, want.inputs, 'layer input x');
    expect([...grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
    for (const [path, g] of grads) expectClose(g, want.grads.get(path)!, `gradient of ${path}`);
  });

  it('one shared batch (the eval set) equals that batch given to every run', () => {
    const model = modelSchema.parse({ attention: 'qv' });
    const perRun = [3, 4, 5].map((seed) => initialValues(model, lookup.layout, seed));
    const stacked = stackedValues(model, lookup.layout, perRun);
    const batch = lookup.encode(lookup.sample(Stream.derive(1, 'shared'), 6));
    const kernel = new FusedModel(model, lookup.layout, 3);
    const shared = kernel.pass(stacked, [batch], undefined, true);
    const each = kernel.pass(stacked, [batch, batch, batch], undefined, true);
    expect(Array.from(shared.loss)).toEqual(Array.from(each.loss));
    expect(Array.from(shared.weights!)).toEqual(Array.from(each.weights!));
  });

  it('a run in a group computes exactly what it computes alone', () => {
    const model = modelSchema.parse({});
    const perRun = [0, 1].map((seed) => initialValues(model, copy.layout, seed));
    const batches = [0, 1].map((seed) => copy.encode(copy.sample(Stream.derive(seed, 'alone'), 4)));
    const both = stackedValues(model, copy.layout, perRun);
    const second = stackedValues(model, copy.layout, [perRun[1]]);
    const gBoth = zerosLike(both);
    const gSecond = zerosLike(second);
    const together = new FusedModel(model, copy.layout, 2).pass(both, batches, gBoth);
    const alone = new FusedModel(model, copy.layout, 1).pass(second, [batches[1]], gSecond);
    expect(together.loss[1]).toBe(alone.loss[0]);
    for (const [path, g] of gSecond) expect(Array.from(gBoth.get(path)!.subarray(g.length)), path).toEqual(Array.from(g));
  });

  it('refuses more than one layer, which model/fusedDeep.ts computes instead', () => {
    expect(() => new FusedModel(modelSchema.parse({ layers: 2 }), lookup.layout, 1)).toThrow(/one layer, not 2/);
  });
});
