/**
 * Analytic gradients of the whole model (embedding → attention → LayerNorm → unembedding → cross-entropy)
 * against central finite differences, for both variants, one and two layers, two heads, two runs at once.
 *
 * Precision: tfjs is float32 on every backend. With eps = 1e-2 the central difference has
 *   - rounding error ≈ a few ulp(loss)/(2·eps) ≈ 1e-5 (the loss summed over 2 runs is ~3 nats, ulp 2.4e-7), and
 *   - truncation error eps²/6 · |f'''| ≈ 2e-5 · |f'''|, with |f'''| = O(1) for this small, smooth model.
 * Measured on cpu: max |num − ana| ≈ 7e-5 over all variants, at most 20% of the tolerance (GRAD_DEBUG=1 prints both;
 * wasm gave 24%). The tolerance |num − ana| ≤ 2e-4 + 5e-3·|ana| so keeps ≥ 5× headroom over the noise, yet a gradient wrong by a
 * factor (a missing 1/√dh, a dropped residual or LayerNorm branch, a transposed head) is off by far more
 * than 0.5% of |ana| and fails; the "sensitivity" asserts below check that the sample really contains
 * entries large enough for that to be detectable.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { forward, crossEntropy } from '../../src/model/transformer.js';
import { paramSpecs, initialValues, makeParams, disposeParams, type Params } from '../../src/model/params.js';
import { oneHotInput, oneHotTargets } from '../../src/model/encode.js';
import type { AnyTask } from '../../src/tasks/index.js';

const EPS = 1e-2;
const ABS_TOL = 2e-4;
const REL_TOL = 5e-3;
const SAMPLES = 20;
const BATCH = 3;

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 3, keyVocab: 4, valueVocab: 4 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 3, vocab: 4 })) as AnyTask;

beforeAll(async () => {
  // cpu and wasm are both float32; on cpu the finite differences came out a little cleaner (max 20% of the
  // tolerance, against 24% on wasm). Each test file runs in its own process (vitest.config.ts), so this choice is this file's.
  expect(await initBackend('cpu')).toBe('cpu');
});

interface Check {
  path: string;
  index: number;
  ana: number;
  num: number;
}

/** Builds R = 2 runs (different seeds, different batches), returns analytic and numeric grads on a sample. */
function gradientCheck(cfg: ModelConfig, task: AnyTask, seed: number): Check[] {
  const layout = task.layout;
  const params: Params = makeParams(cfg, layout, [initialValues(cfg, layout, 1), initialValues(cfg, layout, 2)]);
  const batches = [11, 12].map((s) => task.encode(task.sample(Stream.derive(s, `data/${task.id}`), BATCH)));
  const input = oneHotInput(batches, layout);
  const targets = oneHotTargets(batches, layout);
  const lossFn = () => tf.sum(crossEntropy(forward(params, cfg, layout, input, BATCH).logits, targets)) as tf.Scalar;
  const loss = () => tf.tidy(() => lossFn().dataSync()[0]);
  try {
    const analytic = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(lossFn, [...params.values()]);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      const byPath: Record<string, Float32Array> = {};
      for (const [path, v] of params) byPath[path] = grads[v.name].dataSync() as Float32Array;
      return byPath;
    });
    // Every parameter at least once, then random entries up to SAMPLES.
    const rng = Stream.derive(seed, 'test/gradients/sample');
    const paths = [...params.keys()];
    const picks: [string, number][] = paths.map((p) => [p, rng.int(0, params.get(p)!.size - 1)]);
    while (picks.length < Math.max(SAMPLES, paths.length + 8)) {
      const p = paths[rng.int(0, paths.length - 1)];
      picks.push([p, rng.int(0, params.get(p)!.size - 1)]);
    }
    // Bias the random extras towards entries with a non-zero gradient (unused embedding rows have exactly 0).
    for (const p of paths) {
      const g = analytic[p];
      let best = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
      picks.push([p, best]);
    }
    return picks.map(([path, index]) => {
      const v = params.get(path)!;
      const original = v.dataSync().slice() as Float32Array;
      const at = (delta: number) => {
        const values = original.slice();
        values[index] += delta;
        tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
        return loss();
      };
      // Richardson's extrapolation of two central differences cancels their eps² truncation term, which the
      // curvature of RMSNorm (QK-norm) makes large enough to matter at eps = 1e-2.
      const central = (eps: number) => (at(eps) - at(-eps)) / (2 * eps);
      const num = (4 * central(EPS / 2) - central(EPS)) / 3;
      tf.tidy(() => v.assign(tf.tensor(original, v.shape)));
      return { path, index, ana: analytic[path][index], num };
    });
  } finally {
    disposeParams(params);
    tf.dispose([input, targets]);
  }
}

const ok = (c: Check, scale = 1) => Math.abs(c.num - c.ana * scale) <= ABS_TOL + REL_TOL * Math.abs(c.ana * scale);

const variants: [string, ModelConfig, AnyTask][] = [
  ['qkv, lookup, 1 layer', modelSchema.parse({ attention: 'qkv', dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qv, lookup, 1 layer', modelSchema.parse({ attention: 'qv', dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qkv, lookup, 2 layers', modelSchema.parse({ attention: 'qkv', dModel: 4, heads: 2, layers: 2 }), lookup],
  ['qv, lookup, 2 layers', modelSchema.parse({ attention: 'qv', dModel: 4, heads: 2, layers: 2 }), lookup],
  ['qkv, copy (causal), 2 layers', modelSchema.parse({ attention: 'qkv', dModel: 4, heads: 2, layers: 2 }), copy],
  ['qv, copy (causal), 2 layers', modelSchema.parse({ attention: 'qv', dModel: 4, heads: 2, layers: 2 }), copy],
  ['qx, lookup, 1 layer', modelSchema.parse({ attention: 'qx', dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qq, lookup, 1 layer', modelSchema.parse({ attention: 'qq', dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qx, copy (causal), 2 layers', modelSchema.parse({ attention: 'qx', dModel: 4, heads: 2, layers: 2 }), copy],
  ['qq, copy (causal), 2 layers', modelSchema.parse({ attention: 'qq', dModel: 4, heads: 2, layers: 2 }), copy],
  ['qkv + QK-norm, lookup, 1 layer', modelSchema.parse({ attention: 'qkv', qkNorm: true, dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qv + QK-norm, lookup, 1 layer', modelSchema.parse({ attention: 'qv', qkNorm: true, dModel: 4, heads: 2, layers: 1 }), lookup],
  ['qv + QK-norm, copy (causal), 2 layers', modelSchema.parse({ attention: 'qv', qkNorm: true, dModel: 4, heads: 2, layers: 2 }), copy],
];

describe('gradients match central finite differences', () => {
  it.each(variants)('%s', (_name, cfg, task) => {
    const checks = gradientCheck(cfg, task, cfg.layers * 10 + ['qkv', 'qv', 'qx', 'qq'].indexOf(cfg.attention) + (cfg.qkNorm ? 5 : 0));
    const bad = checks.filter((c) => !ok(c));
    if (process.env.GRAD_DEBUG)
      console.log(
        _name,
        checks.length,
        Math.max(...checks.map((c) => Math.abs(c.num - c.ana))),
        Math.max(...checks.map((c) => Math.abs(c.num - c.ana) / (ABS_TOL + REL_TOL * Math.abs(c.ana)))),
      );
    expect(bad, `mismatches: ${JSON.stringify(bad)}`).toEqual([]);
    // Every parameter is checked, and the sample is not trivially all-zero.
    for (const p of paramSpecs(cfg, task.layout).keys())
      expect(
        checks.some((c) => c.path === p),
        p,
      ).toBe(true);
    expect(Math.max(...checks.map((c) => Math.abs(c.ana)))).toBeGreaterThan(0.05);
    // Sensitivity: a gradient 5% off, or with the wrong sign, would have been caught on this sample.
    expect(checks.some((c) => !ok(c, 1.05))).toBe(true);
    expect(checks.some((c) => !ok(c, -1))).toBe(true);
    // Per-projection sensitivity: the attention weights get gradients large enough to test (catches a detached W_K or W_V).
    const proj = checks.filter((c) => /\/w_[qkv]$/.test(c.path));
    expect(proj.some((c) => Math.abs(c.ana) > 10 * ABS_TOL)).toBe(true);
    if (cfg.qkNorm) expect(checks.filter((c) => /_norm$/.test(c.path)).some((c) => Math.abs(c.ana) > 10 * ABS_TOL)).toBe(true);
  });
});

describe('parameters of every variant', () => {
  it('only qkv has W_K; QK-norm adds a query and a key gain per layer; shared parameters draw alike in every variant', () => {
    const base = modelSchema.parse({ dModel: 4, heads: 2, layers: 2 });
    const paths = (cfg: ModelConfig) => [...paramSpecs(cfg, lookup.layout).keys()];
    for (const attention of ['qv', 'qx', 'qq'] as const)
      expect(
        paths({ ...base, attention }).some((p) => p.includes('w_k')),
        attention,
      ).toBe(false);
    const normed = paths({ ...base, attention: 'qv', qkNorm: true });
    expect(normed.filter((p) => p.endsWith('_norm'))).toEqual([
      'layer0/attn/q_norm',
      'layer0/attn/k_norm',
      'layer1/attn/q_norm',
      'layer1/attn/k_norm',
    ]);
    const reference = initialValues(base, lookup.layout, 9);
    for (const cfg of [
      { ...base, attention: 'qx' as const },
      { ...base, attention: 'qq' as const },
      { ...base, attention: 'qv' as const, qkNorm: true },
    ]) {
      const values = initialValues(cfg, lookup.layout, 9);
      for (const [path, v] of values) {
        if (path.endsWith('_norm'))
          expect(Array.from(v), path).toEqual(new Array(v.length).fill(1)); // gains start at 1
        else expect(Array.from(v), `${cfg.attention} ${path}`).toEqual(Array.from(reference.get(path)!));
      }
    }
  });
});

describe('parameters of the keyless variant', () => {
  it("'qv' has no w_k in paramSpecs or makeParams; 'qkv' has one per layer", () => {
    const qv = modelSchema.parse({ attention: 'qv', dModel: 4, heads: 2, layers: 2 });
    const qkv = { ...qv, attention: 'qkv' as const };
    const specsQv = [...paramSpecs(qv, lookup.layout).keys()];
    const specsQkv = [...paramSpecs(qkv, lookup.layout).keys()];
    expect(specsQv.filter((p) => p.includes('w_k'))).toEqual([]);
    expect(specsQkv.filter((p) => p.includes('w_k'))).toEqual(['layer0/attn/w_k', 'layer1/attn/w_k']);
    expect(specsQkv.filter((p) => !p.includes('w_k'))).toEqual(specsQv);
    const before = tf.memory().numTensors;
    const params = makeParams(qv, lookup.layout, [initialValues(qv, lookup.layout, 0)]);
    expect([...params.keys()].some((p) => p.includes('w_k'))).toBe(false);
    expect([...params.keys()]).toEqual(specsQv);
    expect(params.get('layer0/attn/w_q')!.shape).toEqual([1, 4, 4]);
    disposeParams(params);
    expect(tf.memory().numTensors).toBe(before); // makeParams disposes its initial tensors
  });

  it('removing W_K does not shift the initial draws of any other parameter', () => {
    const qv = modelSchema.parse({ attention: 'qv', dModel: 4, heads: 2, layers: 2 });
    const a = initialValues(qv, lookup.layout, 5);
    const b = initialValues({ ...qv, attention: 'qkv' }, lookup.layout, 5);
    for (const [path, values] of a) expect(Array.from(values), path).toEqual(Array.from(b.get(path)!));
  });
});
