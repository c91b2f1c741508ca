/**
 * Tidy exports beside a report, for pandas, R or a spreadsheet: runs.csv (one row per run: its config
 * flattened and every summary figure) and metrics_long.csv (every logged row of every run, with the
 * run's identity on each row), so nobody joins metrics.csv files with their config.json by hand.
 */
import { relative, join, sep } from 'node:path';
import { createObjectCsvStringifier } from 'csv-writer';
import { writeFileAtomic } from '../../files/atomic.js';
import { flatten, variantOf } from '../../analysis/analyse.js';
import type { LoadedRun } from './collect.js';
import { learned } from '../../analysis/protocol.js';
import { shownModulePath } from '../../modulePath.js';

/** On every row of both files: which run it is. `train.lr` is the run's configured rate; metrics' `lr` is the rate in force at that step. */
export const IDENTITY_COLUMNS = ['dir', 'variant', 'attention', 'qk_norm', 'train.lr', 'train.seed'] as const;
/** Summary fields already in the identity columns under their config names. */
const DUPLICATES = new Set(['attention', 'lr', 'seed']);

export const EXPORT_FILES = { runs: 'runs.csv', metrics: 'metrics_long.csv' } as const;

/** A cell: numbers as JS prints them (shortest round-trip, as metrics.csv), NaN and null as empty. */
function cell(value: unknown): string | number | boolean {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isNaN(value) ? '' : value;
  if (typeof value === 'object') return JSON.stringify(value);
  return value as string | boolean;
}

/** Column names in first-seen order, so files with the same runs always have the same header. */
function unionKeys(rows: Record<string, unknown>[], skip: Set<string> = new Set()): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const k of Object.keys(row)) if (!skip.has(k)) seen.add(k);
  return [...seen];
}

function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const csv = createObjectCsvStringifier({ header: columns.map((id) => ({ id, title: id })) });
  return csv.getHeaderString() + csv.stringifyRecords(rows.map((row) => Object.fromEntries(columns.map((c) => [c, cell(row[c])]))));
}

/** The run's directory relative to the report, with / separators, so the files can move together. */
function runId(run: LoadedRun, outDir: string): Record<string, unknown> {
  return {
    dir: relative(outDir, run.dir).split(sep).join('/'),
    variant: variantOf(run),
    attention: shownModulePath(run.config.model.attention),
    qk_norm: run.config.model.qkNorm,
    'train.lr': run.config.train.lr,
    'train.seed': run.config.train.seed,
  };
}

/** Per run: whether it learned (reached LEARNED_ACCURACY), and its seed's LR window: the rates its seed learned at, same settings otherwise. */
export const LEARNING_COLUMNS = ['learned', 'lr_window'] as const;

function learningColumns(runs: LoadedRun[], configs: Record<string, unknown>[]): Record<string, unknown>[] {
  const seedKey = (c: Record<string, unknown>) => JSON.stringify(Object.entries(c).filter(([k]) => k !== 'train.lr' && k !== 'name'));
  const window = new Map<string, number>();
  runs.forEach((run, i) => window.set(seedKey(configs[i]), (window.get(seedKey(configs[i])) ?? 0) + (learned(run.summary) ? 1 : 0)));
  return runs.map((run, i) => ({ learned: learned(run.summary), lr_window: window.get(seedKey(configs[i])) }));
}

export function runsTable(runs: LoadedRun[], outDir: string): string {
  const configs = runs.map((r) => flatten(r.config));
  const configCols = unionKeys(configs, new Set(IDENTITY_COLUMNS));
  const summaryCols = unionKeys(
    runs.map((r) => r.summary),
    DUPLICATES,
  );
  const learning = learningColumns(runs, configs);
  const rows = runs.map((run, i) => ({ ...configs[i], ...run.summary, ...learning[i], ...runId(run, outDir) }));
  return toCsv([...IDENTITY_COLUMNS, ...configCols, ...summaryCols.filter((c) => !configCols.includes(c)), ...LEARNING_COLUMNS], rows);
}

export function metricsLongTable(runs: LoadedRun[], outDir: string): string {
  const metricCols = unionKeys(runs.flatMap((r) => r.rows.slice(0, 1)));
  const rows = runs.flatMap((run) => {
    const id = runId(run, outDir);
    return run.rows.map((row) => ({ ...row, ...id }));
  });
  return toCsv([...IDENTITY_COLUMNS, ...metricCols], rows);
}

export function writeExports(runs: LoadedRun[], outDir: string): void {
  writeFileAtomic(join(outDir, EXPORT_FILES.runs), runsTable(runs, outDir));
  writeFileAtomic(join(outDir, EXPORT_FILES.metrics), metricsLongTable(runs, outDir));
}
