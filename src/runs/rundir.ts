/** A run directory: created exclusively, written atomically, with a status that always says how it ended. */
import { mkdirSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { createObjectCsvWriter } from 'csv-writer';
import { UserError, EnvironmentError, asEnvironmentError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic, ensureDir } from '../files/atomic.js';
import { checkInjectedFault } from '../files/faults.js';
import { isLockEntry } from './lock.js';
import {
  METRIC_COLUMNS,
  type MetricsRow,
  type AttentionSnapshot,
  type RunStatus,
  type TracePoint,
  type ValueNormFigures,
} from '../records/formats.js';

/**
 * Creates `dir` for a new run. It must not hold anything yet (apart from its lock, which a sweep takes before
 * it creates the run): an existing run is never overwritten.
 * With `unique`, a clash (two runs named in the same millisecond) takes the next free suffix instead.
 */
export function createRunDir(dir: string, unique = false): string {
  ensureDir(dirname(resolve(dir)));
  for (let attempt = 1; ; attempt++) {
    const candidate = attempt === 1 ? dir : `${dir}-${attempt}`;
    try {
      mkdirSync(candidate); // exclusive: fails if it exists, so two processes never share a directory
      return candidate;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        if (!unique && isEmptyDir(candidate)) return candidate;
        if (!unique)
          throw new UserError(
            `${candidate} already exists and is not empty (an existing run is never overwritten); choose another --out, or ` +
              `continue it with: qkv-lab train --resume ${candidate}`,
          );
        continue;
      }
      const env = asEnvironmentError(err, `run directory ${candidate}`, 'create');
      throw env !== err ? env : new UserError(`cannot create run directory ${candidate}: ${code ?? String(err)}`);
    }
  }
}

function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).every(isLockEntry);
  } catch {
    return false;
  }
}

/** Removes everything a run wrote into `dir`, keeping the directory and the lock this process holds on it. */
export function clearRunDir(dir: string): void {
  for (const entry of readdirSync(dir)) if (!isLockEntry(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
}

/** Writes one run's files; every write is atomic or an append of whole lines. */
export class RunWriter {
  private readonly csv;
  readonly snapshots: AttentionSnapshot[] = [];
  /** The claims' attention trace (every logged step) and value-norm figures; written with attention.json. */
  readonly trace: TracePoint[] = [];
  valueNorm: (ValueNormFigures & { step: number }) | null = null;
  private meta: object | null = null;

  /** `resumed` carries the snapshots kept from before a checkpoint; rows are then appended under the existing header. */
  constructor(
    readonly dir: string,
    layers: number,
    resumed?: { snapshots: AttentionSnapshot[]; trace?: TracePoint[] },
  ) {
    const extra = layers > 1 ? Array.from({ length: layers }, (_, l) => `retrieval_mass_l${l}`) : [];
    const columns = [...METRIC_COLUMNS, ...extra];
    this.csv = createObjectCsvWriter({ path: join(dir, 'metrics.csv'), header: columns.map((id) => ({ id, title: id })), append: !!resumed });
    if (resumed) this.snapshots.push(...resumed.snapshots);
    if (resumed?.trace) this.trace.push(...resumed.trace);
  }

  setStatus(status: RunStatus): void {
    const path = join(this.dir, 'status');
    try {
      writeFileAtomic(path, status + '\n');
    } catch (err) {
      if (!(err instanceof EnvironmentError) || !existsSync(path)) throw err;
      // A full disk has no room for the temp file, but rewriting the few bytes in place first frees the
      // block it reuses. Not atomic: a kill in between leaves an empty status, which reads as unfinished.
      writeFileSync(path, status + '\n');
    }
  }

  writeJson(name: string, value: unknown): void {
    writeJsonAtomic(join(this.dir, name), value);
  }

  /** Appends rows; csv-writer writes each call as one append, so the file only ever holds whole lines. */
  async appendRows(rows: MetricsRow[]): Promise<void> {
    const path = join(this.dir, 'metrics.csv');
    try {
      checkInjectedFault(path);
      await this.csv.writeRecords(rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? '' : v]))));
    } catch (err) {
      throw asEnvironmentError(err, path, 'write'); // a full disk may leave half a line; resume drops it
    }
  }

  addSnapshot(snapshot: AttentionSnapshot, meta: object): void {
    this.snapshots.push(snapshot);
    this.meta = meta;
    this.writeAttention();
  }

  /** Kept in memory; attention.json is rewritten at snapshots and checkpoints (see writeAttention), not every step. */
  addTrace(point: TracePoint, valueNorm: ValueNormFigures | null): void {
    this.trace.push(point);
    if (valueNorm) this.valueNorm = { step: point.step, ...valueNorm };
  }

  /** Writes attention.json with everything recorded so far; a checkpoint calls it so a resume finds the trace. */
  writeAttention(meta?: object): void {
    if (meta) this.meta = meta;
    if (!this.meta) return;
    this.writeJson('attention.json', { ...this.meta, snapshots: this.snapshots, trace: this.trace, value_norm: this.valueNorm });
  }
}

export function readStatus(dir: string): RunStatus | null {
  const path = join(dir, 'status');
  return existsSync(path) ? (readFileSync(path, 'utf8').trim() as RunStatus) : null;
}
