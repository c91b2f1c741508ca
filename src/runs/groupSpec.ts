/**
 * The one place a task, a model and a list of runs become a trainGroup spec: each run's data stream is
 * Stream.derive(seed, `data/<task id>`), its initial parameters come from its seed, and batches are drawn
 * with task.draw. The group runner, the bench and the tests all build their groups here, so what the
 * tests train is wired exactly as what users train.
 */
import { Stream } from '../rng.js';
import { initialValues } from '../model/paramSpecs.js';
import type { ModelConfig } from '../model/schema.js';
import type { TrainConfig } from '../train/schema.js';
import type { GroupSpec } from '../train/spec.js';
import type { RunState } from '../records/formats.js';
import type { AnyTask } from '../tasks/index.js';
import type { Encoded } from '../tasks/types.js';

export interface PlannedRun {
  seed: number;
  lr: number;
  /** On resume: the checkpoint's state and data-stream state; absent for a fresh start. */
  resumed?: { state: RunState; dataStream: number[] };
}

/** Everything of trainGroup's spec that is not derived here: the hooks, resume bookkeeping, checkpointing. */
export type GroupHooks = Omit<
  GroupSpec,
  'model' | 'layout' | 'steps' | 'batchSize' | 'warmup' | 'logEvery' | 'kernel' | 'precision' | 'lrs' | 'initial' | 'nextBatches' | 'evalSet'
>;

export interface BuiltGroup {
  spec: GroupSpec;
  /** Per run, the stream its batches are drawn from (checkpoints save its state); runs on one seed share one. */
  streams: Stream[];
}

export function buildGroup(
  model: ModelConfig,
  train: Pick<TrainConfig, 'steps' | 'batchSize' | 'warmup' | 'logEvery' | 'kernel'> & Partial<Pick<TrainConfig, 'precision'>>,
  task: AnyTask,
  evalSet: Encoded,
  runs: PlannedRun[],
  hooks: GroupHooks,
): BuiltGroup {
  // Runs whose streams start in the same state (one seed at several learning rates) draw the same batches for
  // good, since a task draws only from the stream it is given (qkv-lab check holds a user's task to that): each
  // distinct stream is drawn from once a step and its batch handed to every run on it. In the default ablation
  // this draws a fifth of the batches.
  const distinct = new Map<string, Stream>();
  const streams = runs.map((run) => {
    const key = run.resumed ? `state ${run.resumed.dataStream.join(' ')}` : `seed ${run.seed}`;
    if (!distinct.has(key)) distinct.set(key, run.resumed ? Stream.fromState(run.resumed.dataStream) : Stream.derive(run.seed, `data/${task.id}`));
    return distinct.get(key)!;
  });
  const unique = [...distinct.values()];
  const slot = streams.map((stream) => unique.indexOf(stream));
  const spec: GroupSpec = {
    ...hooks,
    model,
    layout: task.layout,
    steps: train.steps,
    batchSize: train.batchSize,
    warmup: train.warmup,
    logEvery: train.logEvery,
    kernel: train.kernel,
    precision: train.precision,
    lrs: runs.map((run) => run.lr),
    initial: runs.map((run) => run.resumed?.state ?? { params: initialValues(model, task.layout, run.seed) }),
    nextBatches: () => {
      const drawn = unique.map((rng) => task.draw(rng, train.batchSize));
      return slot.map((k) => drawn[k]);
    },
    evalSet,
  };
  return { spec, streams };
}
