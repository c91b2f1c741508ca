/**
 * Reads one run directory back for a report, checking every file it relies on. A damaged run (a file
 * missing, cut short, not parseable, or of the wrong shape) comes back as a reason, so one bad run out
 * of many is named and left out instead of stopping the whole comparison.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { UserError, isEnvironmentCode } from '../errors.js';
import { validate, configSchema, type Config } from '../config.js';
import { METRIC_COLUMNS, ADDED_COLUMNS, type AttentionFile, type AttentionSnapshot } from '../records/formats.js';
import type { Layout } from '../tasks/types.js';

export interface LoadedRun {
  dir: string;
  config: Config;
  summary: z.infer<typeof summarySchema> & Record<string, unknown>;
  rows: Record<string, number>[];
  attention: ReadAttention | null;
}

/** attention.json as checked on reading: what the schema below guarantees, the rest as older runs may lack it. */
export type ReadAttention = {
  examples: unknown[];
  layout: Pick<Layout, 'queryStart' | 'queryCount' | 'positions'>;
  snapshots: AttentionSnapshot[];
} & Partial<Omit<AttentionFile, 'examples' | 'layout' | 'snapshots'>>;

export type ReadRun = { kind: 'run'; run: LoadedRun } | { kind: 'unfinished'; status: string } | { kind: 'damaged'; reason: string };

const FINISHED = ['completed', 'diverged'];
const UNFINISHED = ['running', 'interrupted', 'failed'];

/** Why a file is unusable, thrown inside readRun and returned as the run's reason. */
class Damaged extends Error {}

const numberOrNull = z.number().nullable();
/** The summary figures the report reads; other keys are kept as they are. */
const summarySchema = z
  .object({
    status: z.string(),
    init_eval_loss: numberOrNull,
    final_eval_loss: numberOrNull,
    final_eval_acc: numberOrNull,
    steps_to_acc: numberOrNull,
    spikes: z.number(),
    roughness: numberOrNull,
  })
  .passthrough();
const attentionSchema = z
  .object({
    examples: z.array(z.unknown()),
    layout: z.object({ queryStart: z.number().int(), queryCount: z.number().int(), positions: z.number().int() }).passthrough(),
    snapshots: z.array(z.object({ step: z.number().int(), layers: z.array(z.unknown()) }).passthrough()).min(1),
  })
  .passthrough();

export function readRun(dir: string): ReadRun {
  try {
    const status = readText(dir, 'status').trim();
    if (UNFINISHED.includes(status)) return { kind: 'unfinished', status };
    if (!FINISHED.includes(status)) throw new Damaged(status === '' ? 'status is empty' : `status holds '${status.slice(0, 30)}', not a run status`);
    const config = readConfig(dir);
    const summary = checked(summarySchema, readJson(dir, 'summary.json'), 'summary.json');
    if (summary.status !== status) throw new Damaged(`summary.json says ${summary.status} but status says ${status}`);
    const rows = readMetrics(dir, config, status);
    const attention = checked(attentionSchema, readJson(dir, 'attention.json'), 'attention.json') as unknown as ReadAttention; // the schema checked the shape
    return { kind: 'run', run: { dir, config, summary, rows, attention } };
  } catch (err) {
    if (err instanceof Damaged) return { kind: 'damaged', reason: err.message };
    throw err;
  }
}

function readText(dir: string, name: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) throw new Damaged(`${name} is missing`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (isEnvironmentCode(code)) throw err; // the machine refused, not the run's fault: one line, exit 1
    throw new Damaged(`${name} cannot be read (${code ?? (err as Error).message})`); // e.g. a directory where a file belongs
  }
}

function readJson(dir: string, name: string): unknown {
  const text = readText(dir, name);
  if (text.trim() === '') throw new Damaged(`${name} is empty`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Damaged(`${name} is not valid JSON (${(err as Error).message})`);
  }
}

function readConfig(dir: string): Config {
  const value = readJson(dir, 'config.json');
  try {
    return validate(configSchema, value, '');
  } catch (err) {
    if (err instanceof UserError) throw new Damaged(`config.json is not a valid config (${err.message})`);
    throw err;
  }
}

function checked<S extends z.ZodTypeAny>(schema: S, value: unknown, name: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new Damaged(`${name} is malformed (${issue.path.join('.') || 'top level'}: ${issue.message})`);
}

const NUMBER_CELL = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^(NaN|-?Infinity)$|^$/;

/** Whole rows of numbers under the expected header, in step order; a completed run's last row is its last step. */
function readMetrics(dir: string, config: Config, status: string): Record<string, number>[] {
  const text = readText(dir, 'metrics.csv');
  if (text === '') throw new Damaged('metrics.csv is empty');
  if (!text.endsWith('\n')) throw new Damaged('metrics.csv is truncated (its last line is cut short)');
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true });
  } catch (err) {
    throw new Damaged(`metrics.csv is malformed (${(err as Error).message.split('\n')[0]})`);
  }
  const header = text.slice(0, text.indexOf('\n')).split(',');
  const missing = METRIC_COLUMNS.find((c) => !header.includes(c) && !ADDED_COLUMNS.includes(c)); // an older run lacks the added ones
  if (missing) throw new Damaged(`metrics.csv lacks the column ${missing}`);
  if (records.length === 0) throw new Damaged('metrics.csv has no rows');
  const rows = records.map((record, i) => {
    for (const [column, cell] of Object.entries(record))
      if (!NUMBER_CELL.test(cell)) throw new Damaged(`metrics.csv line ${i + 2}: ${column} is '${cell.slice(0, 20)}', not a number`);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v === '' ? NaN : Number(v)]));
  });
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
