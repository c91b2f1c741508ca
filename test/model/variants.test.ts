/**
 * A user's variant on the tfjs graph against the built-in it re-implements: qv written as a module
 * (test/fixtures/modules/qv-again.ts) must train as the built-in qv does. The graph computes the built-in through its
 * regrouped form and the module through the textbook form, so the two agree up to float rounding, not in every bit.
 * And the example tempered variant, whose temperature starts at 1, starts exactly as qv.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import { initBackend, tf } from '../../src/backend.js';
import { resolveConfig, type Config } from '../../src/config.js';
import { loadConfigModules } from '../../src/extend/load.js';
import { TfjsEngine } from '../../src/train/tfjsEngine.js';
import { initialValues } from '../../src/model/paramSpecs.js';
import { makeTask } from '../../src/tasks/index.js';
import { Stream } from '../../src/rng.js';
import { REPO } from '../helpers/shared.js';
import { makeParams, disposeParams } from '../../src/model/params.js';
import { forward } from '../../src/model/transformer.js';
import { oneHotInput } from '../../src/model/encode.js';
import { valueNormFigures, valueNorms } from '../../src/metrics/claims.js';

beforeAll(async () => {
  await initBackend('cpu');
});

/** Train losses of `steps` Adam steps on the graph, seed 0, lr 1e-2; initial parameters of qv (the module's are the same paths). */
function losses(config: Config, steps: number): number[] {
  const task = makeTask(config.task);
  const layout = task.layout;
  const qv = { ...config.model, attention: 'qv' };
  const engine = new TfjsEngine({
    model: config.model,
    layout,
    initial: [{ params: initialValues(qv, layout, 0) }],
    evalSet: task.draw(Stream.derive(1, 'eval'), 8),
    snapshotExamples: 1,
  });
  try {
    return Array.from({ length: steps }, (_, t) => engine.step([task.draw(Stream.derive(2, `b${t}`), 16)], [1e-2], t + 1, false).loss[0]);
  } finally {
    engine.dispose();
  }
}

describe('users’ variants on the tfjs graph', () => {
  it('qv written as a module trains as the built-in qv: 30 steps, train losses within float rounding', async () => {
    const task = { kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 };
    const builtIn = resolveConfig({ model: { attention: 'qv' }, task });
    const module = await loadConfigModules(resolveConfig({ model: { attention: join(REPO, 'test', 'fixtures', 'modules', 'qv-again.ts') }, task }));
    const a = losses(builtIn, 30);
    const b = losses(module, 30);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `step ${i + 1}: ${a[i]} vs ${b[i]}`).toBeLessThan(1e-4);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(a.slice(-5))).toBeLessThan(mean(a.slice(0, 5)) - 0.1); // it learns, so the comparison is not of two flat lines
  });

  it('tempered starts as qv: its first loss equals qv-again’s (temperature exp(0) = 1)', async () => {
    const tempered = await loadConfigModules(resolveConfig({ model: { attention: join(REPO, 'examples', 'variants', 'tempered.ts') } }));
    const again = await loadConfigModules(resolveConfig({ model: { attention: join(REPO, 'test', 'fixtures', 'modules', 'qv-again.ts') } }));
    const task = makeTask(tempered.task);
    const layout = task.layout;
    const first = (config: Config) => {
      const full = initialValues(config.model, layout, 0); // each parameter from its own stream: W_Q, W_V, … alike in both; tempered's log_temp is 0
      const engine = new TfjsEngine({
        model: config.model,
        layout,
        initial: [{ params: full }],
        evalSet: task.draw(Stream.derive(1, 'eval'), 8),
        snapshotExamples: 1,
      });
      try {
        return engine.step([task.draw(Stream.derive(2, 'b'), 16)], null, 1, false).loss[0];
      } finally {
        engine.dispose();
      }
    };
    expect(first(tempered)).toBe(first(again));
    expect(tf.memory().numTensors).toBeLessThan(50);
  });

  it('a variant with values of its own is measured on their norms: the value-norm claim reads ‖x_j‖ for values = x, not ‖x_j·W_V‖', async () => {
    const config = await loadConfigModules(
      resolveConfig({ model: { attention: join(REPO, 'test', 'fixtures', 'modules', 'own-values.ts'), heads: 2 } }),
    );
    const task = makeTask(config.task);
    const layout = task.layout;
    const evalSet = task.draw(Stream.derive(1, 'eval'), 16);
    const engine = new TfjsEngine({
      model: config.model,
      layout,
      initial: [{ params: initialValues({ ...config.model, attention: 'qv' }, layout, 0) }],
      evalSet,
      snapshotExamples: 1,
    });
    let got;
    let trained;
    try {
      for (let t = 0; t < 20; t++) engine.step([task.draw(Stream.derive(2, `b${t}`), 16)], [1e-2], t + 1, false); // weights that are not uniform
      got = engine.evaluate(false, true).claims[0].valueNorm!;
      trained = engine.state()[0].params;
    } finally {
      engine.dispose();
    }
    // The same figures from the graph's own forward pass: the last layer's input x and attention weights.
    const { B, H, d } = { B: evalSet.count, H: config.model.heads, d: config.model.dModel };
    const { positions: N, queryStart, queryCount: S, causal, contentPositions: content } = layout;
    const params = makeParams(config.model, layout, [trained]);
    const { x, weights, wV } = tf.tidy(() => {
      const { layers, layerInputs } = forward(params, config.model, layout, oneHotInput([evalSet], layout), B);
      return {
        x: layerInputs.at(-1)!.dataSync() as Float32Array, // [1, B, N, d]
        weights: layers.at(-1)!.weights.dataSync() as Float32Array, // [1, B, H, S, N]
        wV: params.get(`layer${config.model.layers - 1}/attn/w_v`)!.dataSync() as Float32Array, // [1, d, d]
      };
    });
    disposeParams(params);
    const identity = new Float32Array(d * d).map((_, i) => (i % (d + 1) === 0 ? 1 : 0)); // [1, d, d]
    const ownNorms = valueNorms({ x, wV: identity }, 0, { B, H, N, d }); // ‖x_j·I‖ = ‖x_j‖: the values this variant averages
    const shape = { B, H, S, N, queryStart, causal, content };
    const want = valueNormFigures(weights, ownNorms, evalSet.sources, shape);
    const projected = valueNormFigures(weights, valueNorms({ x, wV }, 0, { B, H, N, d }), evalSet.sources, shape);
    expect(want.rows).toBeGreaterThan(0);
    expect(got.rows).toBe(want.rows);
    expect(got.rho!).toBeCloseTo(want.rho!, 5);
    expect(got.top_hit!).toBeCloseTo(want.top_hit!, 5);
    expect(Math.abs(projected.rho! - want.rho!), 'x·W_V’s norms would read differently, so the test can tell').toBeGreaterThan(0.01);
  });
});
