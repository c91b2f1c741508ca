import { describe, expect, it } from 'vitest';
import { stepFlops, deepStepFlops, regroupsValues, usesTables } from '../../src/model/flops.js';
import { modelSchema } from '../../src/model/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { mqarTask } from '../../src/tasks/mqar.js';
import { taskSchema } from '../../src/tasks/schema.js';

const tiny = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 1, keyVocab: 1, valueVocab: 2 })).layout; // N 2, V 4, C 2, F 2

describe('stepFlops', () => {
  it('counts a tiny lookup step by hand: d 2, one head, one slot', () => {
    const f = stepFlops(modelSchema.parse({ dModel: 2 }), tiny, 1, 1, 0);
    // forward: embed 2·2·3 = 12; u 2·4 = 8, scores 2·2·2 = 8, softmax 6, x̄ 8, x̄·W_V 8; LayerNorm 16, unembed 8, CE 6
    expect(f.forward).toBe(12 + 8 + 8 + 6 + 8 + 8 + 16 + 8 + 6);
    // backward: embed 12; ∂x̄ 8, ∂p 8, ∂a 4; ∂u and ∂x_j 24, projected rows 12; ∂logits 4, ∂z 8, LayerNorm 20
    expect(f.backward).toBe(12 + 8 + 8 + 4 + 24 + 12 + 4 + 8 + 20);
  });

  it('training grows by forward + backward per example, evaluation by forward per example', () => {
    const cfg = modelSchema.parse({});
    const layout = lookupTask(taskSchema.parse({})).layout;
    const [a, b] = [stepFlops(cfg, layout, 128, 512, 1000), stepFlops(cfg, layout, 129, 513, 1000)];
    expect(b.training - a.training).toBe(a.forward + a.backward + 2 * cfg.dModel * (cfg.dModel + layout.outputVocab)); // + the row terms of ∂W_V, ∂W_unembed
    expect(b.evaluation - a.evaluation).toBe(a.forward);
    // The default step is a few hundred thousand operations, as the issue estimates.
    expect(a.training).toBeGreaterThan(1e5);
    expect(a.training).toBeLessThan(1e7);
  });

  it('QK-norm costs more forward work than the regrouped path (keys are projected per example)', () => {
    const layout = lookupTask(taskSchema.parse({})).layout;
    const plain = stepFlops(modelSchema.parse({ attention: 'qv' }), layout, 128, 512, 0);
    const normed = stepFlops(modelSchema.parse({ attention: 'qv', qkNorm: true }), layout, 128, 512, 0);
    expect(normed.forward).toBeGreaterThan(plain.forward);
  });
});

describe('deepStepFlops', () => {
  const mqar = mqarTask(taskSchema.parse({ kind: 'mqar', pairs: 1, queries: 1, keyVocab: 1, valueVocab: 2 })).layout; // N 3, V 3, F 1, C 2, causal

  it('counts a tiny two-layer MQAR step by hand: d 2, qkv', () => {
    const model = modelSchema.parse({ dModel: 2, layers: 2 });
    expect(regroupsValues(model, mqar)).toBe(true); // one query row: 1·(3 + 2) < 3·2
    const f = deepStepFlops(model, mqar, 4, 1, 0);
    expect(usesTables(model, mqar, 4)).toBe(true); // 3 tables of 3 + 3 rows, fewer than 4 examples' 9 rows
    // embed 3·2·2 = 12. Layer 1 (3 rows, visible 1+2+3 = 6): Q, K, V rows from the tables 9 · 2 · 2 = 36; scores
    // 6·2·2 = 24, softmax 18, LayerNorm 3·16 = 48, mix 24. Layer 2 (1 row at position 2, visible 3): Q and K
    // 4 rows · 4 · 2 = 32; scores 12, softmax 9, LayerNorm 16; values regrouped (3·2 + 4)·2 = 20. Unembed 1·(8 + 6) = 14.
    expect(f.forward).toBe(12 + (36 + 24 + 18 + 48 + 24) + (32 + 12 + 9 + 16 + 20) + 14);
    // Backward: embed 12; layer 1: 36 + 48 + 12 + 60 + 48; layer 2: 64 + 24 + 6 + 20 + 40; readout 1·(4 + 16) = 20.
    expect(f.backward).toBe(12 + (36 + 48 + 12 + 60 + 48) + (64 + 24 + 6 + 20 + 40) + 20);
    // Once a step: Q, K and V of the 3 + 3 embedding rows, 6·4·2 each, forward, ∂W and ∂rows.
    expect(f.perStep).toBe(3 * (3 * 6 * 4 * 2));
    // One example has fewer rows than the tables: layer 1 projects its 9 rows, 9·4·2 forward and twice that back.
    expect(usesTables(model, mqar, 1)).toBe(false);
    const one = deepStepFlops(model, mqar, 1, 1, 0);
    expect(one.forward - f.forward).toBe(9 * 4 * 2 - 36);
    expect(one.backward - f.backward).toBe(9 * 4 * 2 * 2 - 36);
    expect(one.perStep).toBe(0);
  });

  it('a key projection of its own costs qkv its keys: per example and in the tables', () => {
    const [qkv, qx] = (['qkv', 'qx'] as const).map((attention) => deepStepFlops(modelSchema.parse({ attention, layers: 2 }), mqar, 8, 8, 0));
    expect(qkv.forward - qx.forward).toBe(3 * 8 * 2 + 3 * 8 * 8 * 2); // layer 1's keys from the tables, layer 2's N·d²·2
    expect(qkv.perStep - qx.perStep).toBe(3 * (6 * 8 * 8 * 2)); // K's tables: V + N rows
  });
});
