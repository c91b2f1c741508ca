/**
 * The kernel's regrouped one-layer pass (assembly/fused.ts through model/regrouped.ts) against the tfjs graph: loss,
 * gradients, attention and the layer input on every variant, heads, widths with odd tails, input scales, full and
 * causal attention; a run alone against the same run in a group, bit for bit; and the kernel's exponential against
 * Math.exp. (30 logged steps against the graph: test/train/engines.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, stackedValues, type StackedParams } from '../../src/model/paramSpecs.js';
import { expectClose, tfjsReference, zerosLike } from '../helpers/kernels.js';
import { RegroupedPass, regroupedComputes } from '../../src/model/regrouped.js';
import { kernelExp, kernelExpPair } from '../../src/model/kernel.js';
import type { AnyTask } from '../../src/tasks/index.js';

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 6 })) as AnyTask;
const lookup8 = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 8, keyVocab: 16, valueVocab: 16 })) as AnyTask; // the ablation's
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 5 })) as AnyTask;

beforeAll(async () => {
  await initBackend('cpu');
});

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

describe('the regrouped pass against the tfjs graph', () => {
  it.each(CASES)('%s: loss, gradients, attention and the layer input', (_name, task, overrides) => {
    const model = modelSchema.parse(overrides);
    expect(regroupedComputes(model)).toBe(true);
    const seeds = [7, 8];
    const B = 6;
    const batches = [11, 12].map((seed) => task.encode(task.sample(Stream.derive(seed, 'regrouped-test'), B)));
    const want = tfjsReference(
      model,
      task,
      seeds.map((seed) => initialValues(model, task.layout, seed)),
      batches,
      B,
    );
    const params = stacked(model, task, seeds);
    const grads = zerosLike(params);
    const got = new RegroupedPass(model, task.layout, 2).pass(params, batches, grads, true, true);
    expectClose(got.loss, want.loss, 'loss');
    expectClose(got.layers![0].weights, want.weights[0], 'attention weights');
    expectClose(got.layers![0].logits, want.logits[0], 'attention scores');
    expectClose(got.inputs!, want.inputs, 'layer input');
    for (const [path, g] of grads) expectClose(g, want.grads.get(path)!, `gradient of ${path}`);
  });

  it('a run in a group computes exactly what it computes alone; one shared batch equals that batch given to every run', () => {
    const model = modelSchema.parse({ attention: 'qv', heads: 2 });
    const params = stacked(model, lookup, [0, 1, 2]);
    const second = stacked(model, lookup, [1]);
    const batches = [0, 1, 2].map((seed) => lookup.encode(lookup.sample(Stream.derive(seed, 'alone'), 5)));
    const [gAll, gSecond] = [zerosLike(params), zerosLike(second)];
    const together = new RegroupedPass(model, lookup.layout, 3).pass(params, batches, gAll, true);
    const alone = new RegroupedPass(model, lookup.layout, 1).pass(second, [batches[1]], gSecond, true);
    expect(together.loss[1]).toBe(alone.loss[0]);
    const [both, one] = [together.layers![0].weights, alone.layers![0].weights];
    expect(Array.from(both.subarray(one.length, 2 * one.length))).toEqual(Array.from(one));
    for (const [path, g] of gSecond) expect(Array.from(gAll.get(path)!.subarray(g.length, 2 * g.length)), path).toEqual(Array.from(g));
    const shared = new RegroupedPass(model, lookup.layout, 3).pass(params, [batches[0]], undefined, true);
    const each = new RegroupedPass(model, lookup.layout, 3).pass(params, [batches[0], batches[0], batches[0]], undefined, true);
    expect(Array.from(shared.loss)).toEqual(Array.from(each.loss));
    expect(Array.from(shared.layers![0].weights)).toEqual(Array.from(each.layers![0].weights));
  });

  it('QK-norm and depth take the lanes', () => {
    expect(regroupedComputes(modelSchema.parse({ qkNorm: true }))).toBe(false);
    expect(regroupedComputes(modelSchema.parse({ layers: 2 }))).toBe(false);
  });
});

describe('the kernel’s exponential', () => {
  /** How many representable doubles lie between a and b (both finite and of one sign). */
  const ulps = (a: number, b: number) => {
    const bits = new BigInt64Array(new Float64Array([a, b]).buffer);
    const gap = bits[0] - bits[1];
    return Number(gap < 0n ? -gap : gap);
  };

  it('is within 2 ulp of Math.exp: special values, the reduction boundaries, the range ends, random inputs', () => {
    for (const x of [NaN, Infinity, -Infinity, 709.8, -745.2]) expect(Object.is(kernelExp(x), Math.exp(x)), `exp(${x})`).toBe(true);
    expect(kernelExp(0)).toBe(1);
    const boundaries = [1, -1, 0.5, 0.3465, 0.3466, 1.0397, 1.0398, -0.3466, -1.0398, -708.4, -720, -744.9, 700, 709.78, 1e-9, 2 ** -28, -1e-300];
    const rng = Stream.derive(7, 'test/exp');
    const scores = Array.from({ length: 200_000 }, () => -rng.uniform() * 60); // what softmax sees: a score minus the row's max
    const wide = Array.from({ length: 200_000 }, () => (rng.uniform() - 0.5) * 1400);
    const far = [...boundaries, ...scores, ...wide].filter((x) => Math.exp(x) > 0 && ulps(kernelExp(x), Math.exp(x)) > 2);
    expect(far.slice(0, 5)).toEqual([]);
  });

  it("the lane path's two-lane exponential gives kernelExp's bits in each lane, whatever the other lane holds", () => {
    const special = [
      0,
      -0,
      5e-324,
      -1e-300,
      2 ** -54,
      -(2 ** -54),
      2 ** -55,
      511.9,
      512,
      -512,
      1023,
      1024,
      -745.2,
      709.8,
      Infinity,
      -Infinity,
      NaN,
      -1e9,
    ];
    const rng = Stream.derive(8, 'test/exp-pair');
    // Many inputs: one reassociated sum in the common path changed about 4 results in a million (checked by mutation).
    const scores = Array.from({ length: 600_000 }, () => -rng.uniform() * 60);
    const wide = Array.from({ length: 600_000 }, () => (rng.uniform() - 0.5) * 1400);
    const tiny = Array.from({ length: 20_000 }, () => (rng.uniform() - 0.5) * 2 ** -(rng.uniform() * 70));
    const xs = [...special, ...scores, ...wide, ...tiny];
    const differ: number[][] = [];
    xs.forEach((x0, i) => {
      const x1 = xs[(i * 7919 + 1) % xs.length]; // a partner from anywhere: a special value beside an ordinary one too
      if (!Object.is(kernelExpPair(x0, x1, 0), kernelExp(x0)) || !Object.is(kernelExpPair(x0, x1, 1), kernelExp(x1))) differ.push([x0, x1]);
    });
    for (const x of special)
      if (!Object.is(kernelExpPair(x, 0.5, 0), kernelExp(x)) || !Object.is(kernelExpPair(-3, x, 1), kernelExp(x))) differ.push([x]);
    expect(differ.slice(0, 5)).toEqual([]);
  });
});
