/**
 * Checkpoints: every parameter and Adam moment in safetensors, the step, divergence and the data
 * stream's state in JSON. Two are kept: the newest and the one before it, so a damaged newest file
 * (a bad disk block, a copy cut short) costs only the steps between them. A new file is written,
 * read back and checked against its length, header and SHA-256 before checkpoint.json names it, and
 * a file is removed only once checkpoint.json no longer does; a kill at any moment leaves both valid.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, EnvironmentError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic, ensureDir } from '../files/atomic.js';
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from './safetensors.js';
import type { RunState } from '../records/formats.js';

/** 2 adds the length, checksum and previous checkpoint; format 1 files (one checkpoint, no checksum) still load. */
const FORMAT = 2;
const SECTIONS = { params: 'param', m: 'adam_m', v: 'adam_v' } as const;

export interface Checkpoint {
  step: number;
  state: RunState;
  dataStream: number[];
  divergedAt: number | null;
}

/** One checkpoint as checkpoint.json records it. */
interface Entry {
  step: number;
  file: string;
  bytes?: number; // absent in format 1
  sha256?: string; // absent in format 1
  diverged_at: number | null;
  data_stream: number[];
}

/** The newest checkpoint at the top level (as in format 1, so readers of `step` and `file` keep working), the one before it in `previous`. */
interface CheckpointJson extends Entry {
  format: number;
  previous?: Entry | null;
}

/** Shapes per parameter path (without the run axis), for writing tensors with their real shapes. */
export type ShapeOf = (path: string) => number[];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const fileName = (step: number) => `step-${String(step).padStart(8, '0')}.safetensors`;

export function saveCheckpoint(runDir: string, ckpt: Checkpoint, shapeOf: ShapeOf): void {
  const dir = join(runDir, 'checkpoint');
  ensureDir(dir);
  const tensors = new Map<string, NamedTensor>();
  for (const [key, prefix] of Object.entries(SECTIONS) as [keyof typeof SECTIONS, string][]) {
    for (const [path, data] of ckpt.state[key] ?? []) tensors.set(`${prefix}/${path}`, { shape: shapeOf(path), data });
  }
  const file = fileName(ckpt.step);
  const bytes = encodeSafetensors(tensors, { format: 'qkv-lab checkpoint', step: String(ckpt.step) });
  const entry: Entry = {
    step: ckpt.step,
    file,
    bytes: bytes.length,
    sha256: sha256(bytes),
    diverged_at: ckpt.divergedAt,
    data_stream: ckpt.dataStream,
  };
  const previous = newestIntactBefore(dir, entry); // chosen before the new file may replace one of that name
  const target = join(dir, file);
  // A directory in its place: no checkpoint, and a rename cannot replace it.
  if (existsSync(target) && !statSync(target).isFile()) rmSync(target, { recursive: true, force: true });
  writeFileAtomic(target, bytes);
  const problem = entryProblem(dir, entry);
  if (problem)
    throw new EnvironmentError(`checkpoint ${join(dir, file)} did not read back as written (${problem}); the previous checkpoint is kept`, 'EIO');
  const meta: CheckpointJson = { format: FORMAT, ...entry, previous };
  writeJsonAtomic(join(dir, 'checkpoint.json'), meta);
  const keep = new Set([file, previous?.file]);
  for (const old of readdirSync(dir)) {
    const stale = (old.endsWith('.safetensors') && !keep.has(old)) || (old.startsWith('.') && old.endsWith('.tmp')); // .tmp: a temp file of a killed write
    if (stale) rmSync(join(dir, old), { force: true });
  }
}

/** The newest recorded checkpoint older than `entry` whose file is still intact: what stays as the fallback. */
function newestIntactBefore(dir: string, entry: Entry): Entry | null {
  let recorded: Entry[];
  try {
    recorded = entriesOf(readIndex(dir));
  } catch {
    return null; // an unreadable checkpoint.json names nothing worth keeping
  }
  const older = recorded.filter((e) => e.step < entry.step && e.file !== entry.file).sort((a, b) => b.step - a.step);
  const kept = older.find((e) => entryProblem(dir, e) === null);
  if (!kept) return null;
  const bytes = readFileSync(join(dir, kept.file)); // a format-1 entry gains the length and checksum it lacked
  return {
    step: kept.step,
    file: kept.file,
    bytes: bytes.length,
    sha256: sha256(bytes),
    diverged_at: kept.diverged_at,
    data_stream: kept.data_stream,
  };
}

export function hasCheckpoint(runDir: string): boolean {
  return existsSync(join(runDir, 'checkpoint', 'checkpoint.json'));
}

/** The step a resume would continue from (the newest intact checkpoint), read without the config; null when none is usable. */
export function checkpointStep(runDir: string): number | null {
  if (!hasCheckpoint(runDir)) return null;
  try {
    return loadCheckpoint(runDir).step;
  } catch {
    return null;
  }
}

export interface LoadedCheckpoint extends Checkpoint {
  /** One line saying the newest checkpoint was damaged and the previous one is used; null when the newest was fine. */
  fallback: string | null;
}

/**
 * The newest checkpoint that is intact and passes `check` (which throws an Error saying what does not
 * match), else the previous one, with a line saying so. Neither: a UserError naming both problems.
 */
export function loadCheckpoint(runDir: string, check: (c: Checkpoint) => void = () => {}): LoadedCheckpoint {
  const dir = join(runDir, 'checkpoint');
  if (!hasCheckpoint(runDir)) throw new UserError(`${runDir} has no checkpoint to resume from (checkpoint/checkpoint.json is missing)`);
  let entries: Entry[];
  try {
    entries = entriesOf(readIndex(dir));
  } catch (err) {
    throw new UserError(`${runDir}: the checkpoint is corrupt (checkpoint/checkpoint.json: ${message(err)})`);
  }
  const problems: string[] = [];
  for (const entry of entries) {
    try {
      const ckpt = readEntry(dir, entry);
      try {
        check(ckpt);
      } catch (err) {
        throw new Error(`does not match config.json (${message(err)})`, { cause: err });
      }
      const fallback = problems.length
        ? `${runDir}: the checkpoint at step ${entries[0].step} ${problems[0]}; falling back to the previous one, at step ${entry.step}`
        : null;
      return { ...ckpt, fallback };
    } catch (err) {
      problems.push(message(err));
    }
  }
  if (entries.length === 1) throw new UserError(`${runDir}: the checkpoint ${problems[0]}`);
  throw new UserError(
    `${runDir}: cannot resume: the checkpoint at step ${entries[0].step} ${problems[0]}, and the previous one, at step ${entries[1].step}, ${problems[1]}`,
  );
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function readIndex(dir: string): CheckpointJson {
  const meta = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as CheckpointJson;
  if (!meta || typeof meta !== 'object' || (meta.format !== 1 && meta.format !== FORMAT))
    throw new Error(`unknown format ${JSON.stringify(meta?.format)}`);
  return meta;
}

function entriesOf(meta: CheckpointJson): Entry[] {
  const entries = [meta, ...(meta.format === FORMAT && meta.previous ? [meta.previous] : [])];
  for (const e of entries) {
    const typed =
      Number.isInteger(e.step) &&
      typeof e.file === 'string' &&
      /^step-\d+\.safetensors$/.test(e.file) &&
      Array.isArray(e.data_stream) &&
      e.data_stream.every(Number.isFinite) &&
      (e.diverged_at === null || Number.isInteger(e.diverged_at));
    const checked = meta.format === 1 || (Number.isInteger(e.bytes) && typeof e.sha256 === 'string');
    if (!typed || !checked) throw new Error(`unexpected fields in the entry for step ${JSON.stringify(e.step)}`);
  }
  return entries;
}

/** Why the entry's file is not what checkpoint.json recorded (missing, wrong length, checksum or header); null when intact. */
function entryProblem(dir: string, entry: Entry): string | null {
  const path = join(dir, entry.file);
  if (!existsSync(path)) return `${entry.file} is missing`;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    return `${entry.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? message(err)})`;
  }
  if (entry.bytes !== undefined && bytes.length !== entry.bytes)
    return `${entry.file} has ${bytes.length} bytes, checkpoint.json records ${entry.bytes}`;
  if (entry.sha256 !== undefined && sha256(bytes) !== entry.sha256) return `${entry.file} does not match the SHA-256 in checkpoint.json`;
  try {
    decodeSafetensors(bytes);
  } catch (err) {
    return `${entry.file}: ${message(err)}`;
  }
  return null;
}

function readEntry(dir: string, entry: Entry): Checkpoint {
  const problem = entryProblem(dir, entry);
  if (problem) throw new Error(`is corrupt (${problem})`);
  try {
    const { tensors } = decodeSafetensors(readFileSync(join(dir, entry.file)));
    const state: RunState = { params: new Map(), m: new Map(), v: new Map() };
    for (const [name, t] of tensors) {
      const [prefix, ...rest] = name.split('/');
      const key = (Object.keys(SECTIONS) as (keyof typeof SECTIONS)[]).find((k) => SECTIONS[k] === prefix);
      if (!key) throw new Error(`unknown tensor ${name}`);
      state[key]!.set(rest.join('/'), t.data);
    }
    return { step: entry.step, state, dataStream: entry.data_stream, divergedAt: entry.diverged_at };
  } catch (err) {
    throw new Error(`is corrupt (${message(err)})`, { cause: err });
  }
}
