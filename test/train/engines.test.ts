/**
 * The two engines train alike: 30 steps through the wasm kernel log what the tfjs graph logs, to float rounding,
 * every column and every logged step, for every variant × QK-norm × 1–3 layers × full (lookup) and causal (copy)
 * attention, and MQAR's two layers: the regrouped one-layer pass and the lane path alike, and the lanes in float32
 * (train.precision) too.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { mqarTask } from '../../src/tasks/mqar.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { everyShape } from '../helpers/kernels.js';
import { buildGroup } from '../../src/runs/groupSpec.js';
import { trainGroup, type KernelChoice } from '../../src/train/trainer.js';
import type { Precision } from '../../src/model/kernel.js';
import type { MetricsRow } from '../../src/records/formats.js';
import type { AnyTask } from '../../src/tasks/index.js';

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 8 })) as AnyTask;
const mqar = mqarTask(taskSchema.parse({ kind: 'mqar', pairs: 4, queries: 2, keyVocab: 8, valueVocab: 8 })) as AnyTask;
const COLUMNS = [
  'train_loss',
  'eval_loss',
  'eval_acc',
  'attn_entropy',
  'attn_entropy_norm',
  'attn_max_logit',
  'retrieval_mass',
  'grad_norm',
  'grad_norm_wq',
  'grad_norm_wv',
] as const;

beforeAll(async () => {
  await initBackend('wasm');
});

async function train(
  task: AnyTask,
  model: ModelConfig,
  kernel: KernelChoice,
  runs = [
    { seed: 0, lr: 3e-3 },
    { seed: 1, lr: 1e-2 },
  ],
  precision: Precision = 'float64',
): Promise<{ kernel: string; implementation: string; precision: string; rows: MetricsRow[][] }> {
  const rows: MetricsRow[][] = [];
  const evalSet = task.encode(task.sample(Stream.derive(1234, 'engines'), 32));
  const { spec } = buildGroup(model, { steps: 30, batchSize: 16, warmup: 5, logEvery: 10, kernel, precision }, task, evalSet, runs, {
    snapshotExamples: 2,
    async onRows(r) {
      rows.push(r.map((row) => ({ ...row! })));
    },
    async onSnapshot() {},
  });
  const result = await trainGroup(spec);
  return { kernel: result.kernel, implementation: result.implementation, precision: result.precision, rows };
}

type Case = [string, AnyTask, ModelConfig];
const CASES: Case[] = [
  ['mqar, 2 layers, qkv', mqar, modelSchema.parse({ attention: 'qkv', layers: 2, dModel: 16 })],
  ['mqar, 2 layers, qv, 2 heads', mqar, modelSchema.parse({ attention: 'qv', layers: 2, heads: 2, dModel: 16 })],
];
for (const [name, task, overrides] of everyShape(lookup, copy)) CASES.push([name, task, modelSchema.parse(overrides)]);

describe('fused and tfjs engines', () => {
  it.each(CASES)('%s: 30 steps log the same figures', async (_name, task, model) => {
    const graph = await train(task, model, 'tfjs');
    expect(graph.kernel).toBe('tfjs');
    for (const precision of ['float64', 'float32'] as const) {
      const fused = await train(task, model, 'fused', undefined, precision);
      expect(fused.kernel).toBe('fused');
      expect(fused.rows.length).toBe(graph.rows.length);
      fused.rows.forEach((step, s) =>
        step.forEach((row, r) => {
          for (const col of COLUMNS) {
            const want = graph.rows[s][r][col] as number;
            // 30 Adam steps amplify float32 rounding a little; 1e-3 relative still catches any wrong term.
            expect(
              Math.abs((row[col] as number) - want),
              `${precision}: step ${row.step} run ${r} ${col}: ${row[col]} vs ${want}`,
            ).toBeLessThanOrEqual(1e-3 * Math.abs(want) + 1e-5);
          }
        }),
      );
    }
  });

  it.each([
    ['qv+qknorm, 2 layers, causal', copy, modelSchema.parse({ attention: 'qv', qkNorm: true, layers: 2, heads: 2 })],
    ['qkv, 3 layers, full', lookup, modelSchema.parse({ attention: 'qkv', layers: 3 })],
    ['qkv, 1 layer (the regrouped pass)', lookup, modelSchema.parse({ attention: 'qkv' })],
  ] as const)('%s: a run trained alone logs, bit for bit, what it logs in a group of three, in either lane', async (_name, task, model) => {
    const run = { seed: 1, lr: 1e-2 };
    const other = (seed: number) => ({ seed, lr: 3e-3 });
    const logged = async (runs: { seed: number; lr: number }[]) =>
      (await train(task, model, 'fused', runs)).rows.map((step) => {
        const { elapsed_s: _e, steps_per_s: _s, ...figures } = step[runs.indexOf(run)]; // the clock's columns aside
        return figures;
      });
    const alone = await logged([run]);
    const inLane1 = await logged([other(0), run, other(2)]);
    const inPairTwo = await logged([other(0), other(2), run]);
    expect(inLane1).toEqual(alone);
    expect(inPairTwo).toEqual(alone);
  });

  it.each([
    ['qv+qknorm, 2 layers, causal', copy, modelSchema.parse({ attention: 'qv', qkNorm: true, layers: 2, heads: 2 })],
    ['qkv, 1 layer', lookup, modelSchema.parse({ attention: 'qkv' })],
  ] as const)(
    '%s, float32 lanes: a run trained alone logs, bit for bit, what it logs in lane 3 and in a second vector',
    async (_name, task, model) => {
      const run = { seed: 1, lr: 1e-2 };
      const other = (seed: number) => ({ seed, lr: 3e-3 });
      const logged = async (runs: { seed: number; lr: number }[]) =>
        (await train(task, model, 'fused', runs, 'float32')).rows.map((step) => {
          const { elapsed_s: _e, steps_per_s: _s, ...figures } = step[runs.indexOf(run)];
          return figures;
        });
      const alone = await logged([run]);
      expect(await logged([other(0), other(2), other(3), run])).toEqual(alone);
      expect(await logged([other(0), other(2), other(3), other(4), run])).toEqual(alone);
    },
  );

  it('auto picks the fused kernels for one layer and for two; tfjs only when asked for', async () => {
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'auto')).kernel).toBe('fused');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'auto')).kernel).toBe('fused');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'tfjs')).kernel).toBe('tfjs');
  });

  it('names the code that computed the steps (summary.json kernel_impl): the regrouped pass, the lanes, or the graph', async () => {
    // One plain layer takes the regrouped pass; QK-norm and depth the lanes.
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'auto')).implementation).toBe('wasm, regrouped one-layer pass');
    expect((await train(lookup, modelSchema.parse({ layers: 1, qkNorm: true }), 'auto')).implementation).toBe('wasm, f64x2 run lanes');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'auto')).implementation).toBe('wasm, f64x2 run lanes');
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'tfjs')).implementation).toBe('tfjs graph');
  });

  it('records the arithmetic: float64 on the kernel by default, float32 lanes when asked (one layer too), float32 on the graph', async () => {
    const one = modelSchema.parse({ layers: 1 });
    expect((await train(lookup, one, 'auto')).precision).toBe('float64');
    const float32 = await train(lookup, one, 'auto', undefined, 'float32');
    expect([float32.precision, float32.implementation]).toEqual(['float32', 'wasm, f32x4 run lanes']);
    expect((await train(lookup, one, 'tfjs')).precision).toBe('float32');
  });
});
