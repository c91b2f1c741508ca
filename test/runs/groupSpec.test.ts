/**
 * buildGroup's data streams: runs on one seed share one stream (drawn once a step), and every run still gets exactly
 * the batches a stream of its own would have drawn, step after step, resumed or fresh.
 */
import { describe, expect, it } from 'vitest';
import { buildGroup, type PlannedRun } from '../../src/runs/groupSpec.js';
import { Stream } from '../../src/rng.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { modelSchema } from '../../src/model/schema.js';
import type { Encoded } from '../../src/tasks/types.js';

const task = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 }));
const model = modelSchema.parse({ dModel: 4 });
const train = { steps: 3, batchSize: 5, warmup: 0, logEvery: 1, kernel: 'auto' as const };
const hooks = { snapshotExamples: 2, onRows: async () => {}, onSnapshot: async () => {} };
const evalSet = task.draw(Stream.derive(9, 'eval'), 4);

function group(runs: PlannedRun[]) {
  return buildGroup(model, train, task, evalSet, runs, hooks);
}

/** What a run alone would draw: its own stream, `steps` batches. */
function alone(run: PlannedRun, steps: number): Encoded[] {
  const { spec } = group([run]);
  return Array.from({ length: steps }, () => spec.nextBatches()[0]);
}

describe('buildGroup: data streams', () => {
  const runs: PlannedRun[] = [
    { seed: 3, lr: 1e-3 },
    { seed: 4, lr: 1e-3 },
    { seed: 3, lr: 1e-2 },
    { seed: 3, lr: 1e-1 },
  ];

  it('gives every run, step after step, the batches its own stream would draw', () => {
    const { spec } = group(runs);
    const drawn = Array.from({ length: 3 }, () => spec.nextBatches());
    runs.forEach((run, r) => expect(drawn.map((step) => step[r])).toEqual(alone(run, 3)));
    expect(drawn[0][0]).not.toEqual(drawn[0][1]); // seeds 3 and 4 differ, so the check above can fail
  });

  it('draws once per distinct stream: runs on one seed share the stream and its batch', () => {
    const { spec, streams } = group(runs);
    expect(new Set(streams).size).toBe(2);
    expect(streams[0]).toBe(streams[2]);
    const batches = spec.nextBatches();
    expect(batches[0]).toBe(batches[3]);
    expect(batches[0]).not.toBe(batches[1]);
  });

  it('shares resumed streams only when their saved states are equal', () => {
    const fresh = group(runs);
    fresh.spec.nextBatches();
    const state = (r: number) => fresh.streams[r].state();
    const resumedRun = (r: number, dataStream: number[]): PlannedRun => ({
      ...runs[r],
      resumed: { state: { params: new Map() }, dataStream },
    });
    const resumed = [resumedRun(0, state(0)), resumedRun(1, state(1)), resumedRun(2, state(2)), resumedRun(3, Stream.derive(7, 'other').state())];
    const { streams, spec } = buildGroup(model, train, task, evalSet, resumed, hooks);
    expect(streams[0]).toBe(streams[2]);
    expect(new Set(streams).size).toBe(3);
    const next = spec.nextBatches();
    expect(next[0]).toEqual(fresh.spec.nextBatches()[0]); // the resumed stream goes on where the fresh one was
  });
});
