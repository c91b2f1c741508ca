/**
 * Checkpoints: every parameter and Adam moment in safetensors, the step, divergence and the data
 * stream's state in JSON. The new tensor file is written completely before checkpoint.json points at
 * it, and the old file is removed only after that, so a kill at any moment leaves a valid checkpoint.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic, ensureDir } from './atomic.js';
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from './safetensors.js';
import type { RunState } from '../train/trainer.js';

const FORMAT = 1;
const SECTIONS = { params: 'param', m: 'adam_m', v: 'adam_v' } as const;

export interface Checkpoint {
  step: number;
  state: RunState;
  dataStream: number[];
  divergedAt: number | null;
}

interface CheckpointJson {
  format: number;
  step: number;
  file: string;
  diverged_at: number | null;
  data_stream: number[];
}

/** Shapes per parameter path (without the run axis), for writing tensors with their real shapes. */
export type ShapeOf = (path: string) => number[];

export function saveCheckpoint(runDir: string, ckpt: Checkpoint, shapeOf: ShapeOf): void {
  const dir = join(runDir, 'checkpoint');
  ensureDir(dir);
  const tensors = new Map<string, NamedTensor>();
  for (const [key, prefix] of Object.entries(SECTIONS) as [keyof typeof SECTIONS, string][]) {
    for (const [path, data] of ckpt.state[key] ?? []) tensors.set(`${prefix}/${path}`, { shape: shapeOf(path), data });
  }
  const file = `step-${String(ckpt.step).padStart(8, '0')}.safetensors`;
  writeFileAtomic(join(dir, file), encodeSafetensors(tensors, { format: 'qkv-lab checkpoint', step: String(ckpt.step) }));
  const meta: CheckpointJson = { format: FORMAT, step: ckpt.step, file, diverged_at: ckpt.divergedAt, data_stream: ckpt.dataStream };
  writeJsonAtomic(join(dir, 'checkpoint.json'), meta);
  for (const old of readdirSync(dir)) if (old.endsWith('.safetensors') && old !== file) rmSync(join(dir, old), { force: true });
}

export function hasCheckpoint(runDir: string): boolean {
  return existsSync(join(runDir, 'checkpoint', 'checkpoint.json'));
}

/** The step of a run's checkpoint, read from checkpoint.json alone; null when there is none or it is unreadable. */
export function checkpointStep(runDir: string): number | null {
  if (!hasCheckpoint(runDir)) return null;
  try {
    const step = (JSON.parse(readFileSync(join(runDir, 'checkpoint', 'checkpoint.json'), 'utf8')) as CheckpointJson).step;
    return Number.isInteger(step) ? step : null;
  } catch {
    return null;
  }
}

export function loadCheckpoint(runDir: string): Checkpoint {
  const dir = join(runDir, 'checkpoint');
  if (!hasCheckpoint(runDir)) throw new UserError(`${runDir} has no checkpoint to resume from (checkpoint/checkpoint.json is missing)`);
  try {
    const meta = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as CheckpointJson;
    if (meta.format !== FORMAT || !Number.isInteger(meta.step) || typeof meta.file !== 'string' || !Array.isArray(meta.data_stream)) throw new Error('unexpected fields');
    const { tensors } = decodeSafetensors(readFileSync(join(dir, meta.file)));
    const state: RunState = { params: new Map(), m: new Map(), v: new Map() };
    for (const [name, t] of tensors) {
      const [prefix, ...rest] = name.split('/');
      const key = (Object.keys(SECTIONS) as (keyof typeof SECTIONS)[]).find((k) => SECTIONS[k] === prefix);
      if (!key) throw new Error(`unknown tensor ${name}`);
      state[key]!.set(rest.join('/'), t.data);
    }
    return { step: meta.step, state, dataStream: meta.data_stream, divergedAt: meta.diverged_at };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${runDir}: the checkpoint is corrupt (${err instanceof Error ? err.message : String(err)})`);
  }
}
