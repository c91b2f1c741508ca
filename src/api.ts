/**
 * The library: what `import { … } from 'qkv-lab'` gives, typed. The same code as the commands, without their
 * printing: train and sweep return what they trained, compare returns the analysis as data, and writing the
 * report is a separate call. Bad input throws a UserError (the CLI's exit 2), a fault of the machine an
 * EnvironmentError (exit 1); nothing calls process.exit.
 */
import { resolve } from 'node:path';
import { anchorModulePaths, loadConfigFile, resolveConfig } from './config.js';
import type { BackendChoice } from './backend-names.js';
import { trainConfig } from './commands/train.js';
import { sweepInto } from './commands/sweep.js';
import { loadSweep } from './sweep/plan.js';
import { analyseRuns, writeComparison, type Comparison } from './commands/compare.js';
import { withReportLock } from './runs/lock.js';
import type { ReportOptions } from './report/write.js';
import type { RunOutcome } from './runs/group.js';

export { defineVariant, defineTask } from './extend/define.js';
export type * from './extend/define.js';
export type { Config } from './config.js';
export type { Comparison } from './commands/compare.js';
export type { ReportOptions } from './report/write.js';
export type { RunOutcome } from './runs/group.js';
export type { Analysis } from './analysis/analyse.js';
export type { SeriesClaims } from './analysis/claims.js';
export { UserError, EnvironmentError } from './errors.js';

interface Common {
  /** `--set a.b=c` overrides, applied after the file. */
  set?: string[];
  backend?: BackendChoice;
  /** Where fixed eval sets are kept (default data/, relative to the working directory). */
  dataDir?: string;
}

export interface TrainOptions extends Common {
  /** A config file's path, or the config itself (module paths in it are relative to the working directory). */
  config: string | Record<string, unknown>;
  /** One run per seed, trained as one batch; default the config's train.seed. */
  seeds?: number[];
  /** The run directory (with several seeds, one directory per seed inside it). */
  out?: string;
}

/** Trains one run per seed; resolves to each run's directory, status and summary. */
export async function train(options: TrainOptions): Promise<RunOutcome[]> {
  const values = typeof options.config === 'string' ? loadConfigFile(options.config) : anchorModulePaths(options.config, process.cwd());
  const config = resolveConfig(values, options.set ?? []);
  return trainConfig(config, options.seeds ?? [config.train.seed], {
    out: options.out,
    backend: options.backend ?? 'auto',
    dataDir: options.dataDir ?? 'data',
  });
}

export interface SweepOptions extends Common {
  /** The sweep config's path. */
  config: string;
  /** Replaces the grid's train.seed. */
  seeds?: number[];
  /** Where the runs go (default runs/<sweep name>/runs). */
  out?: string;
  /** Worker processes (default: the number of cores). */
  workers?: number;
}

/** Trains every run of a sweep (finished runs are kept); resolves to the runs' directory, or null when interrupted. */
export async function sweep(options: SweepOptions): Promise<string | null> {
  const seeds = options.seeds?.join(',');
  const set = options.set ?? [];
  const plan = loadSweep(options.config, set, options.seeds);
  const out = options.out ?? resolve('runs', plan.name, 'runs');
  return sweepInto(
    plan,
    { config: options.config, set, seeds, workers: options.workers, backend: options.backend ?? 'auto', dataDir: options.dataDir ?? 'data' },
    out,
  );
}

export interface CompareOptions {
  /** Refuse damaged runs instead of leaving them out. */
  strict?: boolean;
}

/** Reads and analyses finished runs: verdicts, claims and per-seed figures, as data. Nothing is written. */
export async function compare(paths: string | string[], options: CompareOptions = {}): Promise<Comparison> {
  return analyseRuns(Array.isArray(paths) ? paths : [paths], { strict: options.strict });
}

/**
 * Writes a comparison's report (report.md, report.html, charts, CSV exports) and verdict.json into `outDir`;
 * `{ charts: false }` leaves the charts out, as `--no-charts` does. Waits while another process writes a report there.
 */
export async function writeReport(comparison: Comparison, outDir: string, title?: string, options: ReportOptions = {}): Promise<void> {
  return withReportLock(outDir, () => writeComparison(comparison, outDir, title, options));
}
