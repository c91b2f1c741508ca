/**
 * Reads one run directory back for a report, checking every file it relies on. A damaged run (a file
 * missing, cut short, not parseable, or of the wrong shape) comes back as a reason, so one bad run out
 * of many is named and left out instead of stopping the whole comparison.
 */
import { z } from 'zod';
import type { Config } from '../config.js';
import { ADDED_COLUMNS, type AttentionFile, type AttentionSnapshot } from '../records/formats.js';
import type { Layout } from '../tasks/types.js';
import {
  FINISHED_STATUSES,
  UNFINISHED_STATUSES,
  RunFileError,
  checked,
  readMetricsRows,
  readRunConfig,
  readRunJson,
  readRunText,
  readSummary,
  type MetricsRecord,
  type ReadSummary,
} from './read.js';

export interface LoadedRun {
  dir: string;
  config: Config;
  summary: ReadSummary;
  /** metrics.csv's rows; an empty cell (grad_norm_wk of a keyless run) is null. */
  rows: MetricsRecord[];
  attention: ReadAttention | null;
}

/** attention.json as checked on reading: what the schema below guarantees, the rest as older runs may lack it. */
export type ReadAttention = {
  examples: unknown[];
  layout: Pick<Layout, 'queryStart' | 'queryCount' | 'positions'>;
  snapshots: AttentionSnapshot[];
} & Partial<Omit<AttentionFile, 'examples' | 'layout' | 'snapshots'>>;

export type ReadRun = { kind: 'run'; run: LoadedRun } | { kind: 'unfinished'; status: string } | { kind: 'damaged'; reason: string };

/** Why a file is unusable, thrown inside readRun and returned as the run's reason. */
class Damaged extends Error {}

const attentionSchema = z
  .object({
    examples: z.array(z.unknown()),
    layout: z.object({ queryStart: z.number().int(), queryCount: z.number().int(), positions: z.number().int() }).passthrough(),
    snapshots: z.array(z.object({ step: z.number().int(), layers: z.array(z.unknown()) }).passthrough()).min(1),
  })
  .passthrough();

export function readRun(dir: string): ReadRun {
  try {
    const status = readRunText(dir, 'status').trim();
    if (UNFINISHED_STATUSES.includes(status)) return { kind: 'unfinished', status };
    if (!FINISHED_STATUSES.includes(status))
      throw new Damaged(status === '' ? 'status is empty' : `status holds '${status.slice(0, 30)}', not a run status`);
    const config = readRunConfig(dir);
    const summary = readSummary(dir);
    if (summary.status !== status) throw new Damaged(`summary.json says ${summary.status} but status says ${status}`);
    const rows = readMetrics(dir, config, status);
    // The schema checked the shape.
    const attention = checked(attentionSchema, readRunJson(dir, 'attention.json'), 'attention.json') as unknown as ReadAttention;
    return { kind: 'run', run: { dir, config, summary, rows, attention } };
  } catch (err) {
    if (err instanceof Damaged || err instanceof RunFileError) return { kind: 'damaged', reason: err.message };
    throw err;
  }
}

/** Whole rows of numbers under the expected header, in step order; a completed run's last row is its last step. */
function readMetrics(dir: string, config: Config, status: string): MetricsRecord[] {
  const rows = readMetricsRows(dir, ADDED_COLUMNS); // an older run lacks the added columns
  // A row every logEvery steps from 0, and the last step (the trainer's schedule): a lost or repeated row shows here.
  const { steps, logEvery } = config.train;
  rows.forEach((row, i) => {
    const expected = Math.min(i * logEvery, steps);
    if (row.step !== expected)
      throw new Damaged(`metrics.csv line ${i + 2} is step ${row.step}, expected step ${expected} (a row is missing or repeated)`);
  });
  const last = rows.at(-1)!.step;
  if (status === 'completed' && last !== config.train.steps)
    throw new Damaged(`metrics.csv ends at step ${last}, but the run completed ${config.train.steps} steps (rows are missing)`);
  return rows;
}
