/**
 * The two engines train alike: a short run through the fused kernel logs what the tfjs graph logs, to float
 * rounding, every column and every logged step, for one layer (model/fused.ts) and more (model/fusedDeep.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { mqarTask } from '../../src/tasks/mqar.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { buildGroup } from '../../src/runs/groupSpec.js';
import { trainGroup, type KernelChoice } from '../../src/train/trainer.js';
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
): Promise<{ kernel: string; implementation: string; rows: MetricsRow[][] }> {
  const rows: MetricsRow[][] = [];
  const runs = [
    { seed: 0, lr: 3e-3 },
    { seed: 1, lr: 1e-2 },
  ];
  const evalSet = task.encode(task.sample(Stream.derive(1234, 'engines'), 32));
  const { spec } = buildGroup(model, { steps: 30, batchSize: 16, warmup: 5, logEvery: 10, kernel }, task, evalSet, runs, {
    snapshotExamples: 2,
    async onRows(r) {
      rows.push(r.map((row) => ({ ...row! })));
    },
    async onSnapshot() {},
  });
  const result = await trainGroup(spec);
  return { kernel: result.kernel, implementation: result.implementation, rows };
}

describe('fused and tfjs engines', () => {
  it.each([
    ['lookup, qkv', lookup, modelSchema.parse({ attention: 'qkv' })],
    ['lookup, qv, 2 heads', lookup, modelSchema.parse({ attention: 'qv', heads: 2 })],
    ['copy (causal), qv', copy, modelSchema.parse({ attention: 'qv' })],
    ['lookup, qx', lookup, modelSchema.parse({ attention: 'qx' })],
    ['lookup, qq, 2 heads', lookup, modelSchema.parse({ attention: 'qq', heads: 2 })],
    ['copy (causal), qq', copy, modelSchema.parse({ attention: 'qq' })],
    ['lookup, qkv + QK-norm', lookup, modelSchema.parse({ attention: 'qkv', qkNorm: true })],
    ['lookup, qv + QK-norm, 2 heads', lookup, modelSchema.parse({ attention: 'qv', qkNorm: true, heads: 2 })],
    ['mqar, 2 layers, qkv (the deep kernel)', mqar, modelSchema.parse({ attention: 'qkv', layers: 2, dModel: 16 })],
    ['mqar, 2 layers, qv, 2 heads', mqar, modelSchema.parse({ attention: 'qv', layers: 2, heads: 2, dModel: 16 })],
    ['mqar, 2 layers, qx + QK-norm', mqar, modelSchema.parse({ attention: 'qx', qkNorm: true, layers: 2 })],
    ['copy, 3 layers, qq', copy, modelSchema.parse({ attention: 'qq', layers: 3 })],
  ] as const)('%s: 30 steps log the same figures', async (_name, task, model) => {
    const fused = await train(task, model, 'fused');
    const graph = await train(task, model, 'tfjs');
    expect(fused.kernel).toBe('fused');
    expect(graph.kernel).toBe('tfjs');
    expect(fused.rows.length).toBe(graph.rows.length);
    fused.rows.forEach((step, s) =>
      step.forEach((row, r) => {
        for (const col of COLUMNS) {
          const want = graph.rows[s][r][col] as number;
          // 30 Adam steps amplify float32 rounding a little; 1e-3 relative still catches any wrong term.
          expect(Math.abs((row[col] as number) - want), `step ${row.step} run ${r} ${col}: ${row[col]} vs ${want}`).toBeLessThanOrEqual(
            1e-3 * Math.abs(want) + 1e-5,
          );
        }
      }),
    );
  });

  it('auto picks the fused kernels for one layer and for two; tfjs only when asked for', async () => {
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'auto')).kernel).toBe('fused');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'auto')).kernel).toBe('fused');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'tfjs')).kernel).toBe('tfjs');
  });

  it('names the code that computed the steps (summary.json kernel_impl): the wasm kernel, the typed arrays, or the graph', async () => {
    // The build (npm test's pretest) compiles the wasm module, so one plain layer runs in wasm; QK-norm and depth
    // run on the typed arrays with the module's exponential.
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'auto')).implementation).toBe('wasm');
    expect((await train(lookup, modelSchema.parse({ layers: 1, qkNorm: true }), 'auto')).implementation).toBe('typed arrays (wasm exponential)');
    expect((await train(lookup, modelSchema.parse({ layers: 2 }), 'auto')).implementation).toBe('typed arrays (wasm exponential)');
    expect((await train(lookup, modelSchema.parse({ layers: 1 }), 'tfjs')).implementation).toBe('tfjs graph');
  });
});
