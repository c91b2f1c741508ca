/**
 * The kernel's lane path (assembly/lanes.ts through model/kernel.ts) against the tfjs graph (transformer.ts, autodiff
 * by tfjs), for every variant × QK-norm × 1–3 layers × full (lookup) and causal (copy) attention: loss, every layer's
 * attention weights and scores, the last layer's input and every parameter's gradient; against central finite
 * differences of its own float64 loss; and a run alone against the same run in a pair, in either lane, bit for bit.
 * The lookup shapes take the regrouped values (inputs mixed, then projected) and the copy shapes the projected ones;
 * at their batch of 3, the copy shapes project layer 0 through the embedding tables and most lookup shapes row by row;
 * a few shapes at a batch of 8 take the paths the studies take, tables and regrouped values together.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { mqarTask } from '../../src/tasks/mqar.js';
import { modelSchema, VARIANTS, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, stackedValues } from '../../src/model/params.js';
import { LaneKernel, useKernelBuild, type Precision } from '../../src/model/kernel.js';
import { RegroupedPass } from '../../src/model/regrouped.js';
import { regroupsValues, usesTables } from '../../src/model/flops.js';
import type { AnyTask } from '../../src/tasks/index.js';
import { everyShape, expectClose, tfjsReference, zerosLike } from '../helpers/kernels.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PRECISIONS: Precision[] = ['float64', 'float32'];

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 3, keyVocab: 6, valueVocab: 5 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 3, vocab: 5 })) as AnyTask;
const mqar = mqarTask(taskSchema.parse({ kind: 'mqar', pairs: 3, queries: 1, keyVocab: 6, valueVocab: 4 })) as AnyTask;

beforeAll(async () => {
  await initBackend('cpu');
});

// Every shape at input scale 1 and the tests' batch of 3; three at other scales: s multiplies the embedding sum, and
// layer 0's projected rows and their gradients carry it too. And the paths the studies take, at a batch of 8: one
// layer that projects through the tables and regroups its values (the lookup and QK-norm studies), and a causal,
// few-query two-layer model that does both (MQAR); at a batch of 3 no shape combines them.
type Case = [name: string, task: AnyTask, overrides: Partial<ModelConfig>, batch?: number];
const STUDY_PATHS: Case[] = [
  ['qkv, 1 layer(s), full, batch 8', lookup, { attention: 'qkv' }, 8],
  ['qv+qknorm, 1 layer(s), full, batch 8', lookup, { attention: 'qv', qkNorm: true }, 8],
  ['qkv+qknorm, 1 layer(s), full, batch 8', lookup, { attention: 'qkv', qkNorm: true }, 8],
  ['qx, 2 layer(s), causal, MQAR, batch 8', mqar, { attention: 'qx', layers: 2 }, 8],
  ['qkv, 2 layer(s), 2 heads, causal, MQAR, batch 8', mqar, { attention: 'qkv', layers: 2, heads: 2 }, 8],
];
const CASES: Case[] = [
  ...everyShape(lookup, copy),
  ['qkv, 2 layer(s), causal, input scale 2', copy, { attention: 'qkv', layers: 2, inputScale: 2 }],
  ['qq+qknorm, 1 layer(s), full, input scale 0.5', lookup, { attention: 'qq', qkNorm: true, inputScale: 0.5 }],
  ['qv, 1 layer(s), 2 heads, full, input scale 4', lookup, { attention: 'qv', heads: 2, inputScale: 4 }],
  ...STUDY_PATHS,
];

describe('the lane kernel against the tfjs graph', () => {
  // In float64 lanes (two runs a vector) and float32 lanes (four): the graph is float32, so each is held to it within
  // float32 rounding; the float32 lanes' 3 runs fill one vector with a copy of the first.
  it.each(CASES)('%s: loss, gradients and every layer’s attention agree', (_name, task, overrides, B = 3) => {
    const model = modelSchema.parse({ dModel: 4, ...overrides });
    const perRun = [7, 8, 9].map((seed) => initialValues(model, task.layout, seed));
    const batches = [11, 12, 13].map((seed) => task.encode(task.sample(Stream.derive(seed, 'kernel-test'), B)));
    const want = tfjsReference(model, task, perRun, batches, B);
    for (const precision of PRECISIONS) {
      const params = stackedValues(model, task.layout, perRun);
      const grads = zerosLike(params);
      const got = new LaneKernel(model, task.layout, 3, precision).pass(params, batches, grads, true, true);

      expectClose(got.loss, want.loss, `${precision}: loss`);
      expect(got.layers!.length).toBe(model.layers);
      got.layers!.forEach((layer, l) => {
        expectClose(layer.weights, want.weights[l], `${precision}: layer ${l + 1} attention weights`);
        expectClose(layer.logits, want.logits[l], `${precision}: layer ${l + 1} attention scores`);
      });
      expectClose(got.inputs!, want.inputs, `${precision}: last layer input`);
      expect([...grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
      for (const [path, g] of grads) expectClose(g, want.grads.get(path)!, `${precision}: gradient of ${path}`);
    }
  });
});

describe('both ways the last layer mixes values are among the shapes above', () => {
  // lanesShape regroups values (mixes the inputs, then projects the mixtures) where that is less work: few query
  // rows, as in lookup and MQAR; copy queries half its positions, so it projects every value. qv's keys are its values, so it
  // always projects them. Were a change of that rule to send every shape one way, the other way would go untested.
  it.each(CASES)('%s', (name, task, overrides) => {
    const model = modelSchema.parse({ dModel: 4, ...overrides });
    const regroups = new LaneKernel(model, task.layout, 1).regroupsValues();
    expect(regroups).toBe(task !== copy && model.attention !== 'qv');
    expect(regroupsValues(model, task.layout)).toBe(regroups); // the bench's FLOP count follows the same rule
  });
});

describe('both ways layer 0 projects are among the shapes above', () => {
  // At the tests' batch of 3, the copy shapes project through the embedding tables and most lookup shapes row by row
  // (lanesUsesTables: a pass takes the tables when their rows are fewer than the batch's). Each variant must have
  // shapes on both ways, or one way would go untested for it.
  it.each(Object.keys(VARIANTS))('%s', (attention) => {
    const ways = CASES.filter(([, , o]) => o.attention === attention).map(([, task, overrides, B = 3]) => {
      const model = modelSchema.parse({ dModel: 4, ...overrides });
      const kernel = new LaneKernel(model, task.layout, 1);
      for (const B of [1, 2, 3, 4, 8, 128]) expect(usesTables(model, task.layout, B)).toBe(kernel.usesTables(B)); // the FLOP count's rule is the kernel's
      return kernel.usesTables(B);
    });
    expect(new Set(ways)).toEqual(new Set([true, false]));
  });
});

describe('the study paths above take the tables and the regrouped values together', () => {
  // Were the rules to change, these cases would silently test something else.
  it.each(STUDY_PATHS.filter(([, , o]) => o.attention !== 'qv'))('%s', (_name, task, overrides, B = 3) => {
    const kernel = new LaneKernel(modelSchema.parse({ dModel: 4, ...overrides }), task.layout, 1);
    expect([kernel.usesTables(B), kernel.regroupsValues()]).toEqual([true, true]);
  });
  it('and qv, whose values are its keys, takes the tables with projected values', () => {
    const [, task, overrides, B] = STUDY_PATHS.find(([, , o]) => o.attention === 'qv')!;
    const kernel = new LaneKernel(modelSchema.parse({ dModel: 4, ...overrides }), task.layout, 1);
    expect([kernel.usesTables(B!), kernel.regroupsValues()]).toEqual([true, false]);
  });
});

describe('the lane kernel against finite differences of its own loss', () => {
  // The kernel's loss is float64, so central differences are clean: Richardson's extrapolation of steps 1e-2 and
  // 5e-3 (exactly representable in float32) leaves an error near 1e-6; 1e-4 + 1e-3·|g| catches a gradient 1% off,
  // and the sensitivity check below shows the sample can.
  it.each(CASES)('%s', (_name, task, overrides, B = 3) => {
    const model = modelSchema.parse({ dModel: 4, ...overrides });
    const params = stackedValues(model, task.layout, [initialValues(model, task.layout, 3)]);
    const batch = task.encode(task.sample(Stream.derive(5, 'kernel-fd'), B));
    const kernel = new LaneKernel(model, task.layout, 1);
    const grads = zerosLike(params);
    kernel.pass(params, [batch], grads);
    const loss = () => kernel.pass(params, [batch]).loss[0];
    const rng = Stream.derive(1, 'kernel-fd/sample');
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

describe('the lane kernel: a run computes the same alone, in any lane, and in any group', () => {
  it.each(
    CASES.flatMap(([name, ...rest]): [string, Precision, ...(Case extends [string, ...infer R] ? R : never)][] =>
      PRECISIONS.map((p) => [name, p, ...rest]),
    ),
  )('%s, %s: bit for bit', (_name, precision, task, overrides, B = 3) => {
    const model = modelSchema.parse({ dModel: 4, ...overrides });
    const seeds = [20, 21, 22];
    const perRun = seeds.map((seed) => initialValues(model, task.layout, seed));
    const batches = seeds.map((seed) => task.encode(task.sample(Stream.derive(seed, 'kernel-lanes'), B)));
    /** Run `of` (an index into seeds) in a group of those runs, in that order: its loss, gradients and attention. */
    const runIn = (group: number[], of: number) => {
      const params = stackedValues(
        model,
        task.layout,
        group.map((i) => perRun[i]),
      );
      const grads = zerosLike(params);
      const out = new LaneKernel(model, task.layout, group.length, precision).pass(
        params,
        group.map((i) => batches[i]),
        grads,
        true,
        true,
      );
      const r = group.indexOf(of);
      const slice = (a: ArrayLike<number>) => Array.from(a).slice((r * a.length) / group.length, ((r + 1) * a.length) / group.length);
      return {
        loss: out.loss[r],
        correct: out.correct[r],
        grads: Object.fromEntries([...grads].map(([path, g]) => [path, slice(g)])),
        weights: out.layers!.map((l) => slice(l.weights)),
        logits: out.layers!.map((l) => slice(l.logits)),
        inputs: slice(out.inputs!),
      };
    };
    const alone = runIn([1], 1); // lane 0, beside copies of itself
    expect(runIn([1, 0], 1)).toEqual(alone); // lane 0, beside another run
    expect(runIn([0, 1], 1)).toEqual(alone); // lane 1
    if (precision === 'float64')
      expect(runIn([2, 0, 1], 1)).toEqual(alone); // the second pair, beside a copy of itself
    else {
      expect(runIn([0, 2, 1], 1)).toEqual(alone); // lane 2
      expect(runIn([2, 0, 0, 1], 1)).toEqual(alone); // lane 3
      expect(runIn([2, 0, 0, 2, 1], 1)).toEqual(alone); // the second vector, beside copies of itself
    }
    expect(alone.loss).not.toBe(runIn([0], 0).loss); // the runs do differ
  });
});

describe('an evaluation that reuses its attention arrays (AttentionOut)', () => {
  it.each([
    ['lanes, 2 layers', () => LaneKernel, { layers: 2, attention: 'qkv' }],
    ['regrouped', () => RegroupedPass, { attention: 'qv' }],
  ] as const)('%s: writes every entry again, into the same arrays, and equals fresh arrays bit for bit', (_name, kernelClass, overrides) => {
    const model = modelSchema.parse({ dModel: 4, ...overrides });
    const R = 3; // an odd run out shares its lane pair with a copy of itself
    // Parameters away from the initialisation, whose attention barely depends on the seed.
    const draw = (seed: number) => {
      const rng = Stream.derive(seed, 'kernel-reuse');
      const params = stackedValues(
        model,
        mqar.layout,
        [0, 1, 2].map((r) => initialValues(model, mqar.layout, seed + r)),
      );
      for (const values of params.values()) for (let i = 0; i < values.length; i++) values[i] = 0.5 * rng.normal();
      return params;
    };
    const batch = [mqar.encode(mqar.sample(Stream.derive(9, 'kernel-reuse'), 5))];
    const Kernel = kernelClass();
    const reusing = new Kernel(model, mqar.layout, R);
    const first = reusing.pass(draw(30), batch, undefined, true, false, true).layers!;
    const second = reusing.pass(draw(40), batch, undefined, true, false, true).layers!;
    second.forEach((l, i) => expect(l.weights, `layer ${i}: the same array, now holding the second pass`).toBe(first[i].weights));
    const fresh = new Kernel(model, mqar.layout, R).pass(draw(40), batch, undefined, true).layers!;
    const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    fresh.forEach((l, i) => {
      expect(bits(second[i].weights).equals(bits(l.weights)), `layer ${i} weights`).toBe(true);
      expect(bits(second[i].logits).equals(bits(l.logits)), `layer ${i} scores`).toBe(true);
    });
    const other = new Kernel(model, mqar.layout, R).pass(draw(30), batch, undefined, true).layers!;
    other.forEach((l, i) => expect(l.logits, `layer ${i}: the two passes differ`).not.toEqual(fresh[i].logits));
  });
});

describe('a kernel module from another build', () => {
  // A module with this build's imports (fused.jsLog, lanes.jsLog: (f64) → f64) and no lanesLayout, as a build from
  // before the lanes took their width and a stride per lane: `bench --ab` must refuse it, not read its arguments wrongly.
  const name = (text: string) => [text.length, ...Buffer.from(text)];
  const jsLog = (module: string) => [...name(module), ...name('jsLog'), 0x00, 0x00];
  const imports = [0x02, ...jsLog('fused'), ...jsLog('lanes')];
  const bytes = Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version
    ...[0x01, 0x06, 0x01, 0x60, 0x01, 0x7c, 0x01, 0x7c], // types: (f64) → f64
    ...[0x02, imports.length, ...imports],
  ]);
  it('is refused in one line naming it, and this build is used again after', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'qkv-kernel-')), 'old.wasm');
    writeFileSync(path, bytes);
    expect(() => useKernelBuild(path)).toThrow(`${path} is from another build (it has no lanesLayout; this build's layout is 2); run npm run build`);
    useKernelBuild();
    expect(new LaneKernel(modelSchema.parse({ dModel: 4 }), lookup.layout, 1).regroupsValues()).toBe(true);
  });
});
