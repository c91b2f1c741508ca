/** Prepares a run directory to continue from its checkpoint: rows and snapshots after it are cut, so none repeats. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import type { MetricsRow, AttentionSnapshot } from '../train/trainer.js';
import type { Config } from '../config.js';
import type { TracePoint } from '../metrics/claims.js';
import { makeTask } from '../tasks/index.js';
import { paramSpecs } from '../model/params.js';

export interface ResumePoint extends Checkpoint {
  rows: MetricsRow[];
  snapshots: AttentionSnapshot[];
  trace: TracePoint[];
}

/** Checks everything first and changes files only then, so a failed resume leaves the run as it was. */
export function prepareResume(dir: string, config: Config): ResumePoint {
  const ckpt = loadCheckpoint(dir);
  checkAgainstConfig(dir, ckpt, config);
  const csvPath = join(dir, 'metrics.csv');
  if (!existsSync(csvPath)) throw new UserError(`${dir}: metrics.csv is missing; cannot resume`);
  // Keep the header and every complete row measured before the checkpoint's step; a half-written
  // last line (a kill mid-append) has no newline and is dropped with the rest.
  const text = readFileSync(csvPath, 'utf8');
  const lines = text.split('\n');
  const complete = text.endsWith('\n') ? lines.slice(0, -1) : lines.slice(0, -1);
  const [header, ...body] = complete;
  if (!header?.startsWith('step,')) throw new UserError(`${dir}: metrics.csv has no header; cannot resume`);
  const kept = body.filter((line) => Number(line.split(',')[0]) < ckpt.step);
  const keptText = [header, ...kept].join('\n') + '\n';
  writeFileAtomic(csvPath, keptText);
  const rows = (parse(keptText, { columns: true, cast: (v, ctx) => (ctx.header ? v : v === '' ? null : Number(v)) }) as MetricsRow[]);
  const attentionPath = join(dir, 'attention.json');
  let snapshots: AttentionSnapshot[] = [];
  let trace: TracePoint[] = [];
  if (existsSync(attentionPath)) {
    const attention = JSON.parse(readFileSync(attentionPath, 'utf8'));
    snapshots = (attention.snapshots as AttentionSnapshot[]).filter((s) => s.step < ckpt.step);
    trace = ((attention.trace ?? []) as TracePoint[]).filter((t) => t.step < ckpt.step); // the claims' trace, cut like the rows
    writeJsonAtomic(attentionPath, { ...attention, snapshots, trace, value_norm: null });
  }
  return { ...ckpt, rows, snapshots, trace };
}

/** Every parameter of the config's model, with its Adam moments, at its exact size. */
function checkAgainstConfig(dir: string, ckpt: Checkpoint, config: Config): void {
  const specs = paramSpecs(config.model, makeTask(config.task).layout);
  if (!Number.isInteger(ckpt.step) || ckpt.step < 1 || ckpt.step > config.train.steps) throw new UserError(`${dir}: the checkpoint's step ${ckpt.step} is outside 1..${config.train.steps}`);
  for (const [path, spec] of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    for (const [what, values] of [['parameter', ckpt.state.params], ['Adam m', ckpt.state.m], ['Adam v', ckpt.state.v]] as const) {
      const v = values?.get(path);
      if (!v || v.length !== size) throw new UserError(`${dir}: the checkpoint does not match config.json (${what} ${path} ${v ? `has ${v.length} values, expected ${size}` : 'is missing'})`);
    }
  }
  const extra = [...ckpt.state.params.keys()].filter((p) => !specs.has(p));
  if (extra.length) throw new UserError(`${dir}: the checkpoint does not match config.json (unexpected parameter ${extra[0]})`);
}
