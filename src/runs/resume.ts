/** Prepares a run directory to continue from its checkpoint: rows and snapshots after it are cut, so none repeats. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import type { MetricsRow, AttentionSnapshot } from '../train/trainer.js';

export interface ResumePoint extends Checkpoint {
  rows: MetricsRow[];
  snapshots: AttentionSnapshot[];
}

export function prepareResume(dir: string): ResumePoint {
  const ckpt = loadCheckpoint(dir);
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
  if (existsSync(attentionPath)) {
    const attention = JSON.parse(readFileSync(attentionPath, 'utf8'));
    snapshots = (attention.snapshots as AttentionSnapshot[]).filter((s) => s.step < ckpt.step);
    writeJsonAtomic(attentionPath, { ...attention, snapshots });
  }
  return { ...ckpt, rows, snapshots };
}
