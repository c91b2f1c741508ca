/** Run-level figures of src/metrics/METRICS.md on hand-made rows, with every expectation worked out by hand. */
import { describe, expect, it } from 'vitest';
import { countSpikes, roughness, runFigures, ACC_TARGET } from '../../src/metrics/summary.js';

/** Rows at steps 0, every, 2·every, … with the given train losses. */
const trainRows = (losses: number[], every = 10) => losses.map((train_loss, i) => ({ step: i * every, train_loss }));

describe('countSpikes', () => {
  it('counts one spike: loss more than doubles its recent minimum by more than 0.05 nats', () => {
    // total 100 steps: rows at 0..100; the first 10% (steps ≤ 10) are ignored.
    // At step 60 the loss jumps to 1.2 > 2 × min(previous) = 2 × 0.5, a rise of 0.7 nats.
    // At step 70 it is 0.9 < 1.0: elevated, but not a new spike. Step 80 falls back.
    const rows = trainRows([2.0, 1.5, 1.0, 0.8, 0.6, 0.5, 1.2, 0.9, 0.5, 0.45, 0.4]);
    expect(countSpikes(rows, 100)).toBe(1);
  });

  it('counts nothing when the rise is < 0.05 nats, even if the loss quadruples', () => {
    // 0.01 → 0.04 is 4× the minimum but only 0.03 nats: noise on an already tiny loss.
    const rows = trainRows([2.0, 1.0, 0.1, 0.02, 0.01, 0.01, 0.04, 0.01, 0.01, 0.01, 0.01]);
    expect(countSpikes(rows, 100)).toBe(0);
    // The same shape shifted to a rise just above 0.05 nats (0.02 → 0.08: 4×, +0.06) does count.
    const above = trainRows([2.0, 1.0, 0.1, 0.02, 0.02, 0.02, 0.08, 0.02, 0.02, 0.02, 0.02]);
    expect(countSpikes(above, 100)).toBe(1);
  });

  it('ignores spikes within the first 10% of training (step ≤ 0.1 · total)', () => {
    // total 1000: steps 0..100 lie in the first 10%. A spike at step 50 and another exactly at step 100 are ignored.
    const early = [
      { step: 0, train_loss: 2.0 },
      { step: 25, train_loss: 0.3 },
      { step: 50, train_loss: 1.5 },
      { step: 75, train_loss: 0.3 },
      { step: 100, train_loss: 1.5 },
      { step: 125, train_loss: 0.3 },
    ];
    expect(countSpikes(early, 1000)).toBe(0);
    // Move the second spike just past 10% (step 110): now it counts.
    const late = early.map((r) => (r.step === 100 ? { step: 110, train_loss: 1.5 } : r));
    expect(countSpikes(late, 1000)).toBe(1);
  });

  it('compares with the minimum over the previous 20 logged rows only', () => {
    // Row 3 holds a low 0.1; rows 4.. hold 0.19 (never > 2 × 0.1 = 0.2, so no spike).
    // A 0.3 at row 23 still sees row 3 in its 20-row window (rows 3..22): 0.3 > 0.2 → spike.
    // A 0.3 at row 24 sees rows 4..23 only, min 0.19: 0.3 < 0.38 → no spike.
    const losses = (spikeAt: number) => Array.from({ length: 30 }, (_, i) => (i < 3 ? 2 : i === 3 ? 0.1 : i === spikeAt ? 0.3 : 0.19));
    expect(countSpikes(trainRows(losses(23)), 290)).toBe(1);
    expect(countSpikes(trainRows(losses(24)), 290)).toBe(0);
  });

  it('counts each spiking row: a two-row plateau is two spikes', () => {
    const rows = trainRows([2.0, 1.0, 0.5, 0.4, 0.4, 1.0, 1.0, 0.4, 0.4, 0.4, 0.4]);
    expect(countSpikes(rows, 100)).toBe(2);
  });

  it('a NaN train loss (the row where a run diverges) is not counted as a spike', () => {
    const rows = trainRows([2.0, 1.0, 0.5, 0.4, NaN, 0.4]);
    expect(countSpikes(rows, 50)).toBe(0);
  });
});

describe('roughness', () => {
  it('is the sample std of first differences of ln(eval_loss) over the second half', () => {
    // total 100: rows with step ≥ 50 count. ln(eval_loss) there = 0, −0.1, −0.3, −0.2 →
    // differences −0.1, −0.2, +0.1; mean −1/15; sample std = √(((−1/30)² + (−2/15)² + (1/6)²)/2) = √(0.07/3) = 0.152753.
    const rows = [
      { step: 0, eval_loss: 5 }, // first half: ignored, however wild
      { step: 25, eval_loss: 0.01 },
      { step: 50, eval_loss: Math.exp(0) },
      { step: 60, eval_loss: Math.exp(-0.1) },
      { step: 80, eval_loss: Math.exp(-0.3) },
      { step: 100, eval_loss: Math.exp(-0.2) },
    ];
    expect(roughness(rows, 100)).toBeCloseTo(0.152753, 6);
  });

  it('a steady exponential decay has roughness 0', () => {
    const rows = Array.from({ length: 11 }, (_, i) => ({ step: i * 10, eval_loss: 2 * Math.exp(-0.05 * i) }));
    expect(roughness(rows, 100)).toBeCloseTo(0, 12);
  });

  it('is null with fewer than two differences or a non-finite loss', () => {
    expect(
      roughness(
        [
          { step: 50, eval_loss: 1 },
          { step: 100, eval_loss: 0.5 },
        ],
        100,
      ),
    ).toBeNull();
    expect(
      roughness(
        [
          { step: 50, eval_loss: 1 },
          { step: 75, eval_loss: NaN },
          { step: 100, eval_loss: 0.5 },
        ],
        100,
      ),
    ).toBeNull();
  });
});

describe('runFigures', () => {
  const row = (
    step: number,
    eval_acc: number,
    extra: Partial<{ eval_loss: number; train_loss: number; attn_entropy_norm: number; attn_max_logit: number; grad_norm: number }> = {},
  ) => ({
    step,
    eval_acc,
    eval_loss: 1,
    train_loss: 1,
    attn_entropy_norm: 0.5,
    attn_max_logit: 1,
    grad_norm: 1,
    ...extra,
  });

  it('steps_to_acc is the first logged step with eval_acc ≥ 0.95 (inclusive)', () => {
    expect(ACC_TARGET).toBe(0.95);
    const rows = [row(0, 0.1), row(20, 0.6), row(40, 0.949), row(60, 0.95), row(80, 0.99), row(100, 0.9)];
    const f = runFigures(rows, 100);
    expect(f.steps_to_acc).toBe(60);
    expect(f.best_eval_acc).toBe(0.99);
    expect(f.final_eval_acc).toBe(0.9);
  });

  it('steps_to_acc is null when the target is never reached', () => {
    expect(runFigures([row(0, 0.1), row(50, 0.94), row(100, 0.9499)], 100).steps_to_acc).toBeNull();
  });

  it('init, final, min and max figures; NaN rows are skipped by min/max', () => {
    const rows = [
      row(0, 0.1, { eval_loss: 2.8, attn_entropy_norm: 0.99, attn_max_logit: 0.5, grad_norm: 3 }),
      row(50, 0.5, { eval_loss: 1.0, attn_entropy_norm: 0.2, attn_max_logit: 7, grad_norm: NaN }),
      row(100, 0.7, { eval_loss: 0.6, attn_entropy_norm: NaN, attn_max_logit: 4, grad_norm: 1 }),
    ];
    const f = runFigures(rows, 100);
    expect(f.init_eval_loss).toBe(2.8);
    expect(f.final_eval_loss).toBe(0.6);
    expect(f.min_attn_entropy_norm).toBe(0.2);
    expect(f.max_attn_logit).toBe(7);
    expect(f.max_grad_norm).toBe(3);
    expect(f.spikes).toBe(0);
  });

  it('no rows: every figure is null and spikes is 0', () => {
    const f = runFigures([], 100);
    expect(f).toEqual({
      init_eval_loss: null,
      final_eval_loss: null,
      final_eval_acc: null,
      best_eval_acc: null,
      steps_to_acc: null,
      spikes: 0,
      roughness: null,
      min_attn_entropy_norm: null,
      max_attn_logit: null,
      max_grad_norm: null,
    });
  });
});
