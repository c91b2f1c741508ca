/**
 * The one reader of a run directory's files: config.json, metrics.csv and summary.json. Resume, compare
 * (report/readRun.ts), the sweep and `train --resume` all read through here, so a file means one thing
 * everywhere: an empty metrics.csv cell is null, and summary.json has one type, the one runGroup writes.
 * A file that is missing or unusable throws RunFileError with a reason naming the file; each caller says
 * it in its own words (a skipped run for compare, a refusal for resume). A refusal of the machine itself
 * (EACCES, EIO, ...) is rethrown as it is: it is the environment's fault, not the run's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError, isEnvironmentCode } from '../errors.js';
import { validate, configSchema, type Config } from '../config.js';
import { METRIC_COLUMNS, type RunStatus } from '../records/formats.js';
import type { RunFigures } from '../metrics/summary.js';
import type { claimRunFigures } from '../metrics/claimFigures.js';

/** Why a run file is unusable, e.g. "metrics.csv is missing" or "summary.json is not valid JSON (...)". */
export class RunFileError extends Error {}

/** summary.json, as runGroup writes it at the end of a run (or when it stops). */
export type Summary = RunFigures &
  ReturnType<typeof claimRunFigures> & {
    status: RunStatus;
    diverged_at: number | null;
    /** The step a stopped run checkpointed at (status interrupted by Ctrl-C). */
    interrupted_at?: number | null;
    /** Why the run ended early (status interrupted by the environment, or failed). */
    error?: string;
    /** fused or tfjs. These three are absent when a run failed before its engine was made, and in runs written before they were added. */
    kernel?: string;
    /** What computed the steps, in words (Engine.implementation): the kernel's path and lane width, or the tfjs graph. */
    kernel_impl?: string;
    /** The arithmetic the steps ran in: float64 or float32 (the graph's, and the kernel's with train.precision float32). */
    precision?: string;
    attention: string;
    lr: number;
    seed: number;
    steps: number;
    backend: string;
    group_size: number;
    eval_file: string;
    eval_sha256: string;
    wall_s: number;
  };

export const FINISHED_STATUSES: readonly string[] = ['completed', 'diverged'];
export const UNFINISHED_STATUSES: readonly string[] = ['running', 'interrupted', 'failed'];

/** A run file's text. */
export function readRunText(dir: string, name: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) throw new RunFileError(`${name} is missing`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (isEnvironmentCode(code)) throw err; // the machine refused, not the run's fault: one line, exit 1
    throw new RunFileError(`${name} cannot be read (${code ?? (err as Error).message})`); // e.g. a directory where a file belongs
  }
}

/** A run file's JSON, not yet checked. */
export function readRunJson(dir: string, name: string): unknown {
  const text = readRunText(dir, name);
  if (text.trim() === '') throw new RunFileError(`${name} is empty`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunFileError(`${name} is not valid JSON (${(err as Error).message})`);
  }
}

/** config.json as a valid config. */
export function readRunConfig(dir: string): Config {
  const value = readRunJson(dir, 'config.json');
  try {
    return validate(configSchema, value, '');
  } catch (err) {
    if (err instanceof UserError) throw new RunFileError(`config.json is not a valid config (${err.message})`);
    throw err;
  }
}

/**
 * Whether config.json holds exactly `config` (a changed sweep must never reuse another sweep's runs); false when it
 * cannot be read. The saved config is resolved through the schema first, so a run written before a key existed
 * (model.qkNorm, added 2026-12-02 with its default off) still matches.
 */
export function savedConfigEquals(dir: string, config: Config, equal: (a: unknown, b: unknown) => boolean): boolean {
  try {
    return equal(readRunConfig(dir), config);
  } catch (err) {
    if (err instanceof RunFileError) return false;
    throw err;
  }
}

const numberOrNull = z.number().nullable();
/** The summary figures readers rely on, checked; the other keys are kept as they are. */
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

type CheckedSummary = z.infer<typeof summarySchema>;
/** summary.json as read back: the figures readers rely on are checked; the rest is as written (older runs may lack some). */
export type ReadSummary = CheckedSummary & Partial<Omit<Summary, keyof CheckedSummary>> & Record<string, unknown>;

/** summary.json, its figures checked. */
export function readSummary(dir: string): ReadSummary {
  return checked(summarySchema, readRunJson(dir, 'summary.json'), 'summary.json') as ReadSummary;
}

/** `value` against `schema`, or a RunFileError naming the first bad field. */
export function checked<S extends z.ZodTypeAny>(schema: S, value: unknown, name: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new RunFileError(`${name} is malformed (${issue.path.join('.') || 'top level'}: ${issue.message})`);
}

/** A metrics.csv cell: a number as JS prints it, NaN, ±Infinity, or empty (no value: grad_norm_wk of a keyless run). */
const NUMBER_CELL = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^(NaN|-?Infinity)$|^$/;

/** Whether a metrics.csv cell is well formed. */
export const isMetricsCell = (cell: string): boolean => NUMBER_CELL.test(cell);

/** A metrics.csv row as read back: a number or null (an empty cell) per column of the file's header. */
export type MetricsRecord = Record<string, number | null>;

/** One metrics.csv line under `columns` as a row: an empty cell is null. Check the cells with isMetricsCell first. */
export function metricsRow(columns: readonly string[], cells: readonly string[]): MetricsRecord {
  return Object.fromEntries(cells.map((c, j) => [columns[j], c === '' ? null : Number(c)])) as MetricsRecord;
}

/** The columns of metrics.csv's header line that this version writes but the file lacks. */
export function missingColumns(header: readonly string[]): string[] {
  return METRIC_COLUMNS.filter((c) => !header.includes(c));
}

/**
 * metrics.csv whole: the header and every row, each line exactly as many well-formed cells as the header.
 * Older runs may lack columns added since (ADDED_COLUMNS); any other missing column is an error.
 */
export function readMetricsRows(dir: string, added: readonly string[] = []): MetricsRecord[] {
  const text = readRunText(dir, 'metrics.csv');
  if (text === '') throw new RunFileError('metrics.csv is empty');
  if (!text.endsWith('\n')) throw new RunFileError('metrics.csv is truncated (its last line is cut short)');
  const [headerLine, ...lines] = text.slice(0, -1).split('\n');
  const header = headerLine.split(',');
  const missing = missingColumns(header).find((c) => !added.includes(c));
  if (missing) throw new RunFileError(`metrics.csv lacks the column ${missing}`);
  if (lines.length === 0) throw new RunFileError('metrics.csv has no rows');
  return lines.map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== header.length)
      throw new RunFileError(`metrics.csv is malformed (line ${i + 2} has ${cells.length} cells, the header ${header.length})`);
    cells.forEach((cell, j) => {
      if (!isMetricsCell(cell)) throw new RunFileError(`metrics.csv line ${i + 2}: ${header[j]} is '${cell.slice(0, 20)}', not a number`);
    });
    return metricsRow(header, cells);
  });
}
