/** Prepares a run directory to continue from its checkpoint: rows and snapshots after it are cut, so none repeats. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../files/atomic.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import { logSteps } from '../train/schedule.js';
import type { MetricsRow, AttentionSnapshot } from '../records/formats.js';
import { RunFileError, isMetricsCell, metricsRow, missingColumns, readRunText } from './read.js';
import type { Config } from '../config.js';
import type { TracePoint } from '../metrics/claims.js';
import { makeTask } from '../tasks/index.js';
import { paramSpecs } from '../model/paramSpecs.js';

export interface ResumePoint extends Checkpoint {
  rows: MetricsRow[];
  snapshots: AttentionSnapshot[];
  /** The claims' attention trace before the checkpoint's step. */
  trace: TracePoint[];
  /** Lines to show before resuming: the newest checkpoint was damaged, or attention.json could not be kept. */
  notes: string[];
}

/** Checks everything first and changes files only then, so a failed resume leaves the run as it was. */
export function prepareResume(dir: string, config: Config): ResumePoint {
  const ckpt = loadCheckpoint(dir, (c) => checkAgainstConfig(c, config));
  const csvPath = join(dir, 'metrics.csv');
  const { logged, snapshots: snapshotSteps } = logSteps(config.train.steps, config.train.logEvery);
  const expected = logged.filter((s) => s < ckpt.step && (ckpt.divergedAt === null || s <= ckpt.divergedAt));
  const { text: keptText, rows } = keptMetrics(dir, readMetricsText(dir), ckpt.step, expected);
  const notes = ckpt.fallback ? [ckpt.fallback] : [];
  const attentionPath = join(dir, 'attention.json');
  const wanted = [...snapshotSteps].filter((s) => s < ckpt.step);
  const attention = keptAttention(
    attentionPath,
    ckpt.step,
    wanted,
    logged.filter((s) => s < ckpt.step),
  );
  if (typeof attention === 'string' && wanted.length)
    notes.push(`${dir}: ${attention}; resuming without the attention snapshots before step ${ckpt.step}`);
  if (typeof attention !== 'string' && attention.note) notes.push(`${dir}: ${attention.note}`);
  writeFileAtomic(csvPath, keptText);
  const snapshots = typeof attention === 'string' ? [] : attention.snapshots;
  const trace = typeof attention === 'string' ? [] : attention.trace;
  if (typeof attention !== 'string') writeJsonAtomic(attentionPath, attention.json);
  return { step: ckpt.step, state: ckpt.state, dataStream: ckpt.dataStream, divergedAt: ckpt.divergedAt, rows, snapshots, trace, notes };
}

/** metrics.csv's text; a file that cannot be read (missing, a directory in its place) is the run's damage, a refusal of the machine is not. */
function readMetricsText(dir: string): string {
  try {
    return readRunText(dir, 'metrics.csv');
  } catch (err) {
    if (err instanceof RunFileError) throw new UserError(`${dir}: ${err.message}; cannot resume`);
    throw err;
  }
}

/**
 * The header and the rows logged before the checkpoint's step, which must be exactly `expected`: a damaged
 * or missing row among them would make the finished file differ from an uninterrupted run's, so it refuses.
 * Rows at or after the step, and a half-written last line (a kill or a full disk mid-append), are dropped.
 */
function keptMetrics(dir: string, text: string, step: number, expected: number[]): { text: string; rows: MetricsRow[] } {
  const lines = text.split('\n').slice(0, -1); // the last piece is '' after a final newline, or a half-written line
  const [header, ...body] = lines;
  if (!header?.startsWith('step,')) throw new UserError(`${dir}: metrics.csv has no header; cannot resume`);
  const columns = header.split(',');
  const missing = missingColumns(columns);
  if (missing.length)
    throw new UserError(
      `${dir}: metrics.csv has no ${missing.join(', ')} column (an older qkv-lab wrote it), so appending would misalign rows; train it again`,
    );
  const kept: string[] = [];
  for (const [i, line] of body.entries()) {
    const cells = line.split(',');
    const wellFormed = cells.length === columns.length && cells.every(isMetricsCell) && /^\d+$/.test(cells[0]);
    const at = Number(cells[0]);
    if (wellFormed && at >= step) break; // the rows after the checkpoint, measured again on resume
    if (!wellFormed || at !== expected[kept.length]) {
      if (kept.length === expected.length && !wellFormed) break; // damage only after the last row kept: dropped with the rest
      throw new UserError(
        `${dir}: metrics.csv line ${i + 2} is ${wellFormed ? `step ${at}, expected step ${expected[kept.length] ?? 'none'}` : 'malformed'}; ` +
          `it lies before the checkpoint at step ${step}, so the run cannot resume bit-identically`,
      );
    }
    kept.push(line);
  }
  if (kept.length !== expected.length)
    throw new UserError(`${dir}: metrics.csv lacks the row for step ${expected[kept.length]} (before the checkpoint at step ${step}); cannot resume`);
  const rows = kept.map((line) => metricsRow(columns, line.split(',')) as unknown as MetricsRow); // an empty grad_norm_wk is null, as logged
  return { text: [header, ...kept].join('\n') + '\n', rows };
}

/**
 * attention.json cut to the snapshots and the claims' trace before the step (the final value-norm figures are
 * measured again), or why it cannot be kept (then resume goes on without it).
 */
function keptAttention(
  path: string,
  step: number,
  wanted: number[],
  traced: number[],
): { json: object; snapshots: AttentionSnapshot[]; trace: TracePoint[]; note?: string } | string {
  if (!existsSync(path)) return 'attention.json is missing';
  let attention: { snapshots?: unknown; trace?: unknown };
  try {
    attention = JSON.parse(readFileSync(path, 'utf8')); // a read error (a directory in its place) is damage here too
  } catch (err) {
    return `attention.json is damaged (${err instanceof Error ? err.message : String(err)})`;
  }
  if (!attention || typeof attention !== 'object' || !Array.isArray(attention.snapshots)) return 'attention.json is damaged (no snapshots list)';
  const snapshots = (attention.snapshots as AttentionSnapshot[]).filter((s) => s && typeof s === 'object' && s.step < step);
  const steps = snapshots.map((s) => s.step);
  if (steps.length !== wanted.length || steps.some((s, i) => s !== wanted[i] || !Array.isArray(snapshots[i].layers)))
    return `attention.json is damaged (its snapshots before step ${step} are at steps [${steps.join(', ')}], expected [${wanted.join(', ')}])`;
  const recorded = Array.isArray(attention.trace) ? (attention.trace as TracePoint[]) : [];
  const byStep = new Map(recorded.filter((t) => t && typeof t === 'object' && Array.isArray(t.weights)).map((t) => [t.step, t]));
  // Attention volatility pairs consecutive logged steps, so the trace kept is the unbroken run of logged steps that
  // ends just before the checkpoint: a gap (a kill between checkpoint and attention.json, before this version wrote
  // attention.json first) would pair steps that are not neighbours. A run whose trace already starts late (an earlier
  // resume found such a gap) keeps it whole.
  let from = traced.length;
  while (from > 0 && byStep.has(traced[from - 1])) from--;
  const trace = traced.slice(from).map((s) => byStep.get(s)!);
  if (from > 0) {
    const note =
      `its claims trace before step ${step} lacks logged step ${traced[from - 1]}, ` +
      `so attention volatility is measured from step ${trace.length ? trace[0].step : step} on`;
    return { json: { ...attention, snapshots, trace, value_norm: null }, snapshots, trace, note };
  }
  return { json: { ...attention, snapshots, trace, value_norm: null }, snapshots, trace };
}

/** Every parameter of the config's model, with its Adam moments, at its exact size; throws saying what differs. */
function checkAgainstConfig(ckpt: Checkpoint, config: Config): void {
  const specs = paramSpecs(config.model, makeTask(config.task).layout);
  if (!Number.isInteger(ckpt.step) || ckpt.step < 1 || ckpt.step > config.train.steps)
    throw new Error(`its step ${ckpt.step} is outside 1..${config.train.steps}`);
  for (const [path, spec] of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    for (const [what, values] of [
      ['parameter', ckpt.state.params],
      ['Adam m', ckpt.state.m],
      ['Adam v', ckpt.state.v],
    ] as const) {
      const v = values?.get(path);
      if (!v || v.length !== size) throw new Error(`${what} ${path} ${v ? `has ${v.length} values, expected ${size}` : 'is missing'}`);
    }
  }
  const extra = [...ckpt.state.params.keys()].filter((p) => !specs.has(p));
  if (extra.length) throw new Error(`unexpected parameter ${extra[0]}`);
}
