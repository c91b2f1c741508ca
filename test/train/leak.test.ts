/**
 * Leak guard (as tfjs-layers' training tests do): after a burn-in, trainGroup must leave tf.memory().numTensors
 * exactly where it found it, and the count must stay flat from one logged step to the next during training.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { initialValues, makeParams, disposeParams } from '../../src/model/params.js';
import { buildGroup } from '../../src/runs/groupSpec.js';
import { BatchedAdam } from '../../src/train/tfjsAdam.js';
import { trainGroup } from '../../src/train/trainer.js';
import type { Task } from '../../src/tasks/types.js';

type AnyTask = Task<unknown>;
const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 3, vocab: 6 })) as AnyTask;

/** Trains R = 2 runs; returns numTensors seen in onRows/onSnapshot at every logged step. */
async function run(task: AnyTask, model: ModelConfig, steps: number): Promise<{ atRows: number[]; atSnapshots: number[] }> {
  const B = 8;
  const evalSet = task.encode(task.sample(Stream.derive(1234, `eval/${task.id}`), 16));
  const atRows: number[] = [];
  const atSnapshots: number[] = [];
  const runs = [
    { seed: 0, lr: 1e-2 },
    { seed: 1, lr: 3e-2 },
  ];
  const { spec } = buildGroup(model, { steps, batchSize: B, warmup: 2, logEvery: 3, kernel: 'auto' }, task, evalSet, runs, {
    snapshotExamples: 2,
    async onRows() {
      atRows.push(tf.memory().numTensors);
    },
    async onSnapshot() {
      atSnapshots.push(tf.memory().numTensors);
    },
  });
  await trainGroup(spec);
  return { atRows, atSnapshots };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('trainGroup leaks no tensors', () => {
  it.each([
    ['qkv lookup', lookup, modelSchema.parse({ attention: 'qkv', dModel: 8, heads: 2, layers: 1 })],
    ['qv copy, 2 layers', copy, modelSchema.parse({ attention: 'qv', dModel: 4, heads: 1, layers: 2 })],
  ] as const)('%s: numTensors after trainGroup equals numTensors before', async (_name, task, model) => {
    await run(task, model, 6); // burn-in: lets the backend create whatever it keeps for good
    const before = tf.memory().numTensors;
    await run(task, model, 12);
    expect(tf.memory().numTensors - before, 'tensors left behind by one trainGroup call').toBe(0);
  });

  it.each([
    ['qkv lookup', lookup, modelSchema.parse({ attention: 'qkv', dModel: 8, heads: 2, layers: 1 })],
    ['qv copy, 2 layers', copy, modelSchema.parse({ attention: 'qv', dModel: 4, heads: 1, layers: 2 })],
  ] as const)('%s: numTensors is flat across logged steps during training', async (_name, task, model) => {
    const { atRows, atSnapshots } = await run(task, model, 15); // logs at 0, 3, 6, 9, 12, 15
    expect(atRows.length).toBe(6);
    const afterFirst = atRows.slice(1);
    expect(afterFirst, `numTensors per logged step: ${atRows.join(', ')}`).toEqual(afterFirst.map(() => afterFirst[0]));
    expect(atSnapshots.length).toBe(3); // first, middle, last
    expect(new Set(atSnapshots.slice(1)).size).toBe(1);
  });
});

describe('components the trainer owns', () => {
  it('BatchedAdam: constructing and disposing it leaves numTensors unchanged', () => {
    const model = modelSchema.parse({ attention: 'qkv', dModel: 4, heads: 1, layers: 1 });
    const params = makeParams(model, lookup.layout, [initialValues(model, lookup.layout, 0)]);
    const before = tf.memory().numTensors;
    const adam = new BatchedAdam(params);
    adam.dispose();
    expect(tf.memory().numTensors - before, 'tensors left by new BatchedAdam(params).dispose()').toBe(0);
    disposeParams(params);
  });
});
