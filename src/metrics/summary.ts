/** Run-level stability figures of src/metrics/METRICS.md, computed from the logged rows (pure TS). */
import { sampleStandardDeviation } from 'simple-statistics';
import type { MetricsRow, RunStatus } from '../records/formats.js';

export type { RunStatus };

export interface RunFigures {
  init_eval_loss: number | null; // ℓ₀: the eval loss at initialisation (row 0)
  final_eval_loss: number | null;
  final_eval_acc: number | null;
  best_eval_acc: number | null;
  steps_to_acc: number | null; // first logged step with eval_acc ≥ ACC_TARGET
  spikes: number;
  roughness: number | null;
  min_attn_entropy_norm: number | null;
  max_attn_logit: number | null;
  max_grad_norm: number | null;
}

export const ACC_TARGET = 0.95; // steps_to_acc's threshold, and what counts as "learned" (analysis/protocol.ts re-exports it)
const SPIKE_WINDOW = 20; // logged rows looked back over
const SPIKE_FACTOR = 2;
const SPIKE_MIN_RISE = 0.05; // nats: ignores doubling of an already tiny loss

type Row = Pick<MetricsRow, 'step' | 'train_loss' | 'eval_loss' | 'eval_acc' | 'attn_entropy_norm' | 'attn_max_logit' | 'grad_norm'>;

export function runFigures(rows: readonly Row[], totalSteps: number): RunFigures {
  const finite = (xs: number[]) => xs.filter(Number.isFinite);
  const max = (xs: number[]) => (finite(xs).length ? Math.max(...finite(xs)) : null);
  const min = (xs: number[]) => (finite(xs).length ? Math.min(...finite(xs)) : null);
  const last = rows.at(-1);
  return {
    init_eval_loss: rows[0]?.eval_loss ?? null,
    final_eval_loss: last?.eval_loss ?? null,
    final_eval_acc: last?.eval_acc ?? null,
    best_eval_acc: max(rows.map((r) => r.eval_acc)),
    steps_to_acc: rows.find((r) => r.eval_acc >= ACC_TARGET)?.step ?? null,
    spikes: countSpikes(rows, totalSteps),
    roughness: roughness(rows, totalSteps),
    min_attn_entropy_norm: min(rows.map((r) => r.attn_entropy_norm)),
    max_attn_logit: max(rows.map((r) => r.attn_max_logit)),
    max_grad_norm: max(rows.map((r) => r.grad_norm)),
  };
}

/** Logged steps after the first 10% where train loss more than doubles its recent minimum, by > 0.05 nats. */
export function countSpikes(rows: readonly Pick<Row, 'step' | 'train_loss'>[], totalSteps: number): number {
  let spikes = 0;
  rows.forEach((row, i) => {
    if (row.step <= 0.1 * totalSteps || i === 0) return;
    const recent = Math.min(...rows.slice(Math.max(0, i - SPIKE_WINDOW), i).map((r) => r.train_loss));
    if (row.train_loss > SPIKE_FACTOR * recent && row.train_loss - recent > SPIKE_MIN_RISE) spikes++;
  });
  return spikes;
}

/** Sample std of the first differences of ln(eval_loss) over the second half of training. */
export function roughness(rows: readonly Pick<Row, 'step' | 'eval_loss'>[], totalSteps: number): number | null {
  const logs = rows.filter((r) => r.step >= totalSteps / 2).map((r) => Math.log(r.eval_loss));
  const diffs = logs.slice(1).map((x, i) => x - logs[i]);
  return diffs.length >= 2 && diffs.every(Number.isFinite) ? sampleStandardDeviation(diffs) : null;
}
