/** Parameter storage: which parameters a variant has, and a missing one named instead of read as undefined. */
import { describe, expect, it } from 'vitest';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { modelSchema } from '../../src/model/schema.js';
import { initialValues, param, paramSpecs, stackRuns } from '../../src/model/params.js';

const layout = lookupTask(taskSchema.parse({ kind: 'lookup' })).layout;

describe('model parameters', () => {
  it('the keyless variant has no W_K, and every other parameter is shared with QKV at one seed', () => {
    const qkv = initialValues(modelSchema.parse({ attention: 'qkv' }), layout, 3);
    const qv = initialValues(modelSchema.parse({ attention: 'qv' }), layout, 3);
    expect(qkv.has('layer0/attn/w_k')).toBe(true);
    expect(qv.has('layer0/attn/w_k')).toBe(false);
    for (const [path, values] of qv) expect(Array.from(values), path).toEqual(Array.from(qkv.get(path)!));
  });

  it('param() names a missing path instead of returning undefined', () => {
    const params = initialValues(modelSchema.parse({ attention: 'qv' }), layout, 0);
    expect(param(params, 'layer0/attn/w_q').length).toBe(64);
    expect(() => param(params, 'layer0/attn/w_k')).toThrow(/no parameter 'layer0\/attn\/w_k'/);
  });

  it('stackRuns lays runs one after another on a leading run axis', () => {
    const model = modelSchema.parse({});
    const runs = [0, 1].map((seed) => initialValues(model, layout, seed));
    const stacked = stackRuns(model, layout, runs).get('unembed/w')!;
    expect(stacked.shape).toEqual([2, ...paramSpecs(model, layout).get('unembed/w')!.shape]);
    const size = runs[0].get('unembed/w')!.length;
    expect(Array.from(stacked.values.subarray(size))).toEqual(Array.from(runs[1].get('unembed/w')!));
  });
});
