/** Finds run directories under the given paths and reads them back: config, summary, metrics and attention. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { readRun, type LoadedRun } from '../../runs/readRun.js';
import { holderText, inspectLock } from '../../runs/lock.js';

export type { LoadedRun } from '../../runs/readRun.js';

export interface SkippedRun {
  dir: string;
  reason: string;
}

export interface Collected {
  runs: LoadedRun[];
  /** Runs still running, interrupted or failed, as "dir (status)". */
  unfinished: string[];
  /** Finished runs with a damaged file, left out of the report. */
  skipped: SkippedRun[];
  /** Run directories a sweep planned (its sweep.json) that hold no run. */
  notStarted: string[];
  /** Runs another live process holds the lock of (it is writing them, or about to), as "dir (pid N@host)": neither finished nor damaged. */
  inProgress: string[];
}

const MAX_DEPTH = 4;
/** Any of these makes a directory a run directory, so that a run missing some of its files is still found and named. */
const RUN_FILES = ['config.json', 'status', 'metrics.csv', 'summary.json', 'attention.json', 'checkpoint'];

function isRunDir(dir: string): boolean {
  return RUN_FILES.some((f) => existsSync(join(dir, f)));
}

function findRunDirs(path: string, depth: number, out: string[], sweeps: string[]): void {
  if (isRunDir(path)) return void out.push(path);
  if (existsSync(join(path, 'sweep.json'))) sweeps.push(path);
  if (depth >= MAX_DEPTH) return;
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory() && !entry.name.startsWith('.')) findRunDirs(join(path, entry.name), depth + 1, out, sweeps);
  }
}

/** The planned runs of a sweep directory that never started; an unreadable sweep.json plans nothing we can name. */
function notStartedIn(sweepDir: string): string[] {
  let planned: unknown;
  try {
    planned = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8')).runs;
  } catch {
    return [];
  }
  if (!Array.isArray(planned)) return [];
  return planned
    .filter((name): name is string => typeof name === 'string')
    .map((name) => join(sweepDir, name))
    .filter((dir) => !isRunDir(dir));
}

/** Loads every finished run under `paths`; unfinished, damaged, never-started and in-progress ones come back separately, so the caller can name them. */
export function collectRuns(paths: readonly string[]): Collected {
  const dirs: string[] = [];
  const sweeps: string[] = [];
  for (const path of paths) {
    if (!existsSync(path) || !statSync(path).isDirectory()) throw new UserError(`not a directory: ${path}`);
    findRunDirs(path, 0, dirs, sweeps);
  }
  const inProgress: string[] = [];
  // A run a live process holds is being written: whatever its files say now, they are not its last word.
  const live = (dir: string) => {
    const lock = inspectLock(dir);
    if (!lock || lock.stale) return false;
    inProgress.push(`${dir} (${holderText(lock.owner)})`);
    return true;
  };
  const notStarted = [...new Set(sweeps)].flatMap(notStartedIn).filter((dir) => !live(dir));
  if (dirs.length === 0 && inProgress.length === 0)
    throw new UserError(
      `no run directories found under ${paths.join(', ')}${notStarted.length ? ` (${notStarted.length} planned run(s) not started)` : ''}`,
    );
  const runs: LoadedRun[] = [];
  const unfinished: string[] = [];
  const skipped: SkippedRun[] = [];
  for (const dir of [...new Set(dirs)]) {
    if (live(dir)) continue;
    const read = readRun(dir);
    if (read.kind === 'run') runs.push(read.run);
    else if (read.kind === 'unfinished') unfinished.push(`${dir} (${read.status})`);
    else skipped.push({ dir, reason: read.reason });
  }
  return { runs, unfinished, skipped, notStarted, inProgress };
}
