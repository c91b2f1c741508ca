/**
 * Pinned metrics of one short lookup run, so that speed work (batching, fused kernels, fewer read-backs) cannot
 * silently change what training computes. The run is built by buildGroup, as src/runs/group.ts builds every group: default
 * model (Q–K–V, dModel 8, 1 head, 1 layer), seed 0, lr 1e-2, warmup 5, batchSize 32, 60 steps, logEvery 20, the
 * eval set task.sample(Stream.derive(1234, `eval/${task.id}`), 64) and the data stream Stream.derive(0, `data/${task.id}`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { modelSchema } from '../../src/model/schema.js';
import { buildGroup } from '../../src/runs/groupSpec.js';
import { trainGroup } from '../../src/train/trainer.js';
import type { MetricsRow } from '../../src/records/formats.js';
import type { Task } from '../../src/tasks/types.js';

const PINNED_COLUMNS = ['eval_loss', 'train_loss', 'eval_acc', 'attn_entropy_norm', 'retrieval_mass'] as const;
type Pinned = Record<(typeof PINNED_COLUMNS)[number], number> & { step: number };

/*
 * Pinned on 2026-11-28 by running this file's run() once (tfjs 4.22.0, wasm backend, Node 20, at commit 654050a) and
 * pasting the numbers; the CLI gave the same digits in metrics.csv for
 *   qkv-lab train configs/lookup.yaml --backend wasm --set eval.size=64 --set train.steps=60 --set train.logEvery=20
 *     --set train.batchSize=32 --set train.warmup=5
 * A speed change must leave these alone. A legitimate change to the model's arithmetic (init, forward pass, loss,
 * optimiser, data or eval sampling) will move them: re-pin them consciously, by printing run(1e-2, 60, 20) and
 * pasting the new values here, and say in the commit why the numbers changed.
 */
const PINNED: Pinned[] = [
  {
    step: 0,
    eval_loss: 3.041065216064453,
    train_loss: 3.1339941024780273,
    eval_acc: 0.0625,
    attn_entropy_norm: 0.9026327729225159,
    retrieval_mass: 0.14540669322013855,
  },
  {
    step: 20,
    eval_loss: 2.800774335861206,
    train_loss: 2.7406070232391357,
    eval_acc: 0.078125,
    attn_entropy_norm: 0.8212289214134216,
    retrieval_mass: 0.16624999046325684,
  },
  {
    step: 40,
    eval_loss: 2.771761417388916,
    train_loss: 2.7808003425598145,
    eval_acc: 0.109375,
    attn_entropy_norm: 0.8669334053993225,
    retrieval_mass: 0.14470303058624268,
  },
  {
    step: 60,
    eval_loss: 2.699951648712158,
    train_loss: 2.79884672164917,
    eval_acc: 0.171875,
    attn_entropy_norm: 0.7322946190834045,
    retrieval_mass: 0.1802057921886444,
  },
];

const REL = 1e-5;
const ABS = 1e-6;

const task = lookupTask(taskSchema.parse({ kind: 'lookup' })) as Task<unknown>;
const model = modelSchema.parse({});

/** One run of `steps` steps at `lr`; returns every logged row. */
async function run(lr: number, steps: number, logEvery: number): Promise<MetricsRow[]> {
  const seed = 0;
  const batchSize = 32;
  const evalSet = task.encode(task.sample(Stream.derive(1234, `eval/${task.id}`), 64));
  const rows: MetricsRow[] = [];
  const { spec } = buildGroup(model, { steps, batchSize, warmup: 5, logEvery, kernel: 'auto' }, task, evalSet, [{ seed, lr }], {
    snapshotExamples: 4,
    async onRows(r) {
      rows.push({ ...r[0]! });
    },
    async onSnapshot() {},
  });
  await trainGroup(spec);
  return rows;
}

/** |got − want| ≤ REL·|want| + ABS. */
function expectPinned(got: number, want: number, what: string): void {
  expect(Number.isFinite(got), `${what} is finite`).toBe(true);
  expect(Math.abs(got - want), `${what}: got ${got}, pinned ${want}`).toBeLessThanOrEqual(REL * Math.abs(want) + ABS);
}

let rows: MetricsRow[];

beforeAll(async () => {
  await initBackend('wasm');
  rows = await run(1e-2, 60, 20);
});

describe('pinned metrics of a 60-step lookup run (seed 0, lr 1e-2)', () => {
  it('logs steps 0, 20, 40 and 60', () => {
    expect(rows.map((r) => r.step)).toEqual(PINNED.map((p) => p.step));
  });

  it.each(PINNED.map((p) => [p.step, p] as const))('step %i matches the pinned numbers', (step, want) => {
    const got = rows.find((r) => r.step === step)!;
    expect(got, `row for step ${step}`).toBeDefined();
    for (const col of PINNED_COLUMNS) expectPinned(got[col], want[col], `step ${step} ${col}`);
  });

  it('row 0 is measured before any update: its eval_loss is the same for lr 1e-3 and lr 1e-1', async () => {
    const [low] = await run(1e-3, 1, 1);
    const [high] = await run(1e-1, 1, 1);
    expect(low.step).toBe(0);
    expect(high.step).toBe(0);
    expect(low.eval_loss).toBe(high.eval_loss);
    expectPinned(low.eval_loss, PINNED[0].eval_loss, 'lr 1e-3 row 0 eval_loss');
    // Nothing else measured at row 0 depends on the learning rate either.
    expect(low.train_loss).toBe(high.train_loss);
    expect(low.eval_acc).toBe(high.eval_acc);
    expect(low.attn_entropy_norm).toBe(high.attn_entropy_norm);
    expect(low.retrieval_mass).toBe(high.retrieval_mass);
  });
});
