/**
 * R runs trained as one batched computation must each log what they would log alone: same seed, same lr,
 * same data stream (buildGroup derives it, for the group runner too). And two identical
 * trainings must be bit-identical apart from the timing columns.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { Stream } from '../../src/rng.js';
import { taskSchema } from '../../src/tasks/schema.js';
import { lookupTask } from '../../src/tasks/lookup.js';
import { copyTask } from '../../src/tasks/copy.js';
import { modelSchema, type ModelConfig } from '../../src/model/schema.js';
import { buildGroup } from '../../src/runs/groupSpec.js';
import { trainGroup } from '../../src/train/trainer.js';
import type { MetricsRow, AttentionSnapshot } from '../../src/records/formats.js';
import type { Task } from '../../src/tasks/types.js';

const STEPS = 30;
const LOG_EVERY = 10;
const BATCH = 16;

type AnyTask = Task<unknown>;
const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 4, keyVocab: 8, valueVocab: 8 })) as AnyTask;
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 8 })) as AnyTask;

interface Trained {
  rows: (MetricsRow | null)[][]; // [log step][run]
  snapshots: AttentionSnapshot[][];
  divergedAt: (number | null)[];
}

/** Trains the runs (seed, lr) as one group, built as runGroup builds it. */
async function train(task: AnyTask, model: ModelConfig, runs: { seed: number; lr: number }[]): Promise<Trained> {
  const evalSet = task.encode(task.sample(Stream.derive(1234, `eval/${task.id}`), 48));
  const out: Trained = { rows: [], snapshots: [], divergedAt: [] };
  const { spec } = buildGroup(model, { steps: STEPS, batchSize: BATCH, warmup: 5, logEvery: LOG_EVERY, kernel: 'auto' }, task, evalSet, runs, {
    snapshotExamples: 2,
    async onRows(rows) {
      out.rows.push(rows.map((r) => (r ? { ...r } : null)));
    },
    async onSnapshot(s) {
      out.snapshots.push(s);
    },
  });
  const result = await trainGroup(spec);
  out.divergedAt = result.divergedAt;
  return out;
}

const TIMING = new Set(['elapsed_s', 'steps_per_s']);
const RUNS = [
  { seed: 0, lr: 1e-2 },
  { seed: 1, lr: 3e-3 },
  { seed: 2, lr: 3e-2 },
];

/** |a − b| ≤ rel·max(|a|, |b|) + abs, for every logged metric except the timing columns. */
function expectRowsClose(batched: MetricsRow, alone: MetricsRow, rel: number, abs: number, tag: string): void {
  expect(Object.keys(batched).sort(), `${tag}: columns`).toEqual(Object.keys(alone).sort());
  for (const [key, value] of Object.entries(alone)) {
    if (TIMING.has(key)) continue;
    const other = (batched as unknown as Record<string, number | null>)[key];
    if (value === null) {
      expect(other, `${tag} ${key}`).toBeNull();
      continue;
    }
    expect(typeof other, `${tag} ${key}`).toBe('number');
    expect(Number.isFinite(value), `${tag} ${key} finite`).toBe(true);
    const diff = Math.abs((other as number) - value);
    expect(diff, `${tag} ${key}: batched ${other} vs alone ${value}`).toBeLessThanOrEqual(
      rel * Math.max(Math.abs(value), Math.abs(other as number)) + abs,
    );
  }
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('batched training equals training each run alone', () => {
  it.each([
    ['qkv lookup, 2 heads', lookup, modelSchema.parse({ attention: 'qkv', dModel: 8, heads: 2, layers: 1 })],
    ['qv lookup, 2 heads', lookup, modelSchema.parse({ attention: 'qv', dModel: 8, heads: 2, layers: 1 })],
    ['qv copy (causal), 2 layers', copy, modelSchema.parse({ attention: 'qv', dModel: 8, heads: 1, layers: 2 })],
  ] as const)('%s: R = 3 vs three R = 1 trainings', async (_name, task, model) => {
    const batched = await train(task, model, RUNS);
    expect(batched.divergedAt).toEqual([null, null, null]);
    expect(batched.rows.map((rs) => rs[0]!.step)).toEqual([0, 10, 20, 30]);
    for (let r = 0; r < RUNS.length; r++) {
      const alone = await train(task, model, [RUNS[r]]);
      expect(alone.rows.length).toBe(batched.rows.length);
      alone.rows.forEach((rows, i) => expectRowsClose(batched.rows[i][r]!, rows[0]!, 1e-4, 1e-6, `run ${r} step ${rows[0]!.step}`));
      // The attention snapshots (first, middle, last logged step) agree too.
      expect(alone.snapshots.length).toBe(batched.snapshots.length);
      alone.snapshots.forEach((snaps, i) => {
        const a = snaps[0].layers.flatMap((l) => [l.examples, l.mean]).flat(5) as number[];
        const b = batched.snapshots[i][r].layers.flatMap((l) => [l.examples, l.mean]).flat(5) as number[];
        expect(b.length).toBe(a.length);
        expect(Math.max(...a.map((x, j) => Math.abs(x - b[j])))).toBeLessThanOrEqual(1e-4);
      });
    }
    // The runs really differ from one another, so agreeing with "alone" is not trivially true.
    const last = batched.rows.at(-1)!;
    expect(new Set(last.map((row) => row!.eval_loss)).size).toBe(3);
    expect(last.map((row) => row!.lr)).toEqual(RUNS.map((r) => r.lr));
    // qkv logs a W_K gradient norm; keyless logs null (an empty CSV cell).
    for (const row of last) {
      if (model.attention === 'qkv') expect(row!.grad_norm_wk).toBeGreaterThan(0);
      else expect(row!.grad_norm_wk).toBeNull();
      if (model.layers > 1) {
        const perLayer = [0, 1].map((l) => row![`retrieval_mass_l${l}`]);
        expect(row!.retrieval_mass).toBeCloseTo((perLayer[0] + perLayer[1]) / 2, 6);
      }
    }
  });
});

describe('determinism', () => {
  it('two identical R = 1 trainings give bit-identical rows apart from elapsed_s and steps_per_s', async () => {
    const model = modelSchema.parse({ attention: 'qkv', dModel: 8, heads: 2, layers: 1 });
    const a = await train(lookup, model, [{ seed: 3, lr: 1e-2 }]);
    const b = await train(lookup, model, [{ seed: 3, lr: 1e-2 }]);
    const strip = (t: Trained) => t.rows.map((rs) => Object.fromEntries(Object.entries(rs[0]!).filter(([k]) => !TIMING.has(k))));
    expect(strip(a).length).toBe(4);
    expect(strip(b)).toEqual(strip(a)); // toEqual on numbers is exact (Object.is semantics for NaN aside)
    expect(b.snapshots).toEqual(a.snapshots);
    // And a different seed does change them.
    const c = await train(lookup, model, [{ seed: 4, lr: 1e-2 }]);
    expect(strip(c)[3].eval_loss).not.toBe(strip(a)[3].eval_loss);
  });

  it('row 0 is the initialisation and lr follows the warmup', async () => {
    const model = modelSchema.parse({ attention: 'qv', dModel: 8, heads: 1, layers: 1 });
    const t = await train(lookup, model, [{ seed: 0, lr: 1e-2 }]);
    const rows = t.rows.map((rs) => rs[0]!);
    // warmup 5: lr at step s is base · min(1, (s+1)/5)
    expect(rows[0].lr).toBeCloseTo(1e-2 / 5, 12);
    expect(rows[1].lr).toBeCloseTo(1e-2, 12);
    // At initialisation the model is near chance: eval loss ≈ ln(valueVocab = 8) within a loose band.
    expect(rows[0].eval_loss).toBeGreaterThan(Math.log(8) - 1);
    expect(rows[0].eval_loss).toBeLessThan(Math.log(8) + 1.5);
    for (const row of rows) {
      expect(row.attn_entropy_norm).toBeGreaterThan(0);
      expect(row.attn_entropy_norm).toBeLessThanOrEqual(1 + 1e-6);
      expect(row.retrieval_mass).toBeGreaterThanOrEqual(0);
      expect(row.retrieval_mass).toBeLessThanOrEqual(1 + 1e-6);
      expect(row.grad_norm ** 2).toBeGreaterThanOrEqual(row.grad_norm_wq ** 2 + row.grad_norm_wv ** 2 - 1e-9);
    }
  });
});
