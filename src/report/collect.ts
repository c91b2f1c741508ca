/** Finds run directories under the given paths and reads them back: config, summary, metrics and attention. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../errors.js';
import type { Config } from '../config.js';
import type { AttentionSnapshot } from '../train/trainer.js';
import { readStatus } from '../runs/rundir.js';

export interface LoadedRun {
  dir: string;
  config: Config;
  summary: Record<string, any>;
  rows: Record<string, number>[];
  attention: { examples: unknown[]; layout: { queryStart: number; queryCount: number; positions: number }; snapshots: AttentionSnapshot[] } | null;
}

const MAX_DEPTH = 4;

function isRunDir(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'status'));
}

function findRunDirs(path: string, depth: number, out: string[]): void {
  if (isRunDir(path)) return void out.push(path);
  if (depth >= MAX_DEPTH) return;
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory() && !entry.name.startsWith('.')) findRunDirs(join(path, entry.name), depth + 1, out);
  }
}

/** Loads every finished run under `paths`; unfinished ones are returned separately so the caller can name them. */
export function collectRuns(paths: readonly string[]): { runs: LoadedRun[]; unfinished: string[] } {
  const dirs: string[] = [];
  for (const path of paths) {
    if (!existsSync(path) || !statSync(path).isDirectory()) throw new UserError(`not a directory: ${path}`);
    findRunDirs(path, 0, dirs);
  }
  if (dirs.length === 0) throw new UserError(`no run directories found under ${paths.join(', ')}`);
  const runs: LoadedRun[] = [];
  const unfinished: string[] = [];
  for (const dir of [...new Set(dirs)]) {
    const status = readStatus(dir);
    if ((status !== 'completed' && status !== 'diverged') || !existsSync(join(dir, 'summary.json'))) {
      unfinished.push(`${dir} (${status})`);
      continue;
    }
    const attentionPath = join(dir, 'attention.json');
    runs.push({
      dir,
      config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')),
      summary: JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')),
      rows: parse(readFileSync(join(dir, 'metrics.csv')), { columns: true, cast: (v, ctx) => (ctx.header ? v : v === '' ? NaN : Number(v)) }),
      attention: existsSync(attentionPath) ? JSON.parse(readFileSync(attentionPath, 'utf8')) : null,
    });
  }
  return { runs, unfinished };
}
