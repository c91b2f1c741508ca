import { existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Stream } from '../rng.js';
import { UserError } from '../errors.js';
import { writeFileAtomic, ensureDir } from '../files/atomic.js';
import type { EvalConfig } from './schema.js';
import type { AnyTask } from './index.js';
import type { Encoded } from './types.js';

export interface EvalSet {
  path: string;
  sha256: string;
  examples: unknown[];
  encoded: Encoded;
}

export function evalSetPath(dataDir: string, task: AnyTask, cfg: EvalConfig): string {
  return join(dataDir, `${task.id}-n${cfg.size}-seed${cfg.seed}.jsonl`);
}

/** Writes the eval set (one readable JSON example per line); the same settings always give the same bytes. */
export function writeEvalSet(dataDir: string, task: AnyTask, cfg: EvalConfig): string {
  const examples = task.sample(Stream.derive(cfg.seed, `eval/${task.id}`), cfg.size);
  const path = evalSetPath(dataDir, task, cfg);
  ensureDir(dataDir);
  writeFileAtomic(path, examples.map((ex) => JSON.stringify(ex)).join('\n') + '\n');
  return path;
}

/** Loads the task's fixed eval set from `dataDir`, writing it on first use. */
export function loadEvalSet(dataDir: string, task: AnyTask, cfg: EvalConfig): EvalSet {
  const path = evalSetPath(dataDir, task, cfg);
  if (!existsSync(path)) writeEvalSet(dataDir, task, cfg);
  if (!statSync(path).isFile()) throw new UserError(`${path} is not a file; remove it so the eval set can be written`);
  const bytes = readFileSync(path);
  const lines = bytes
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const examples = lines.map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UserError(`${path}: line ${i + 1} is not JSON; delete the file to regenerate it`);
    }
    if (!task.isExample(value)) throw new UserError(`${path}: line ${i + 1} is not a valid ${task.kind} example; delete the file to regenerate it`);
    return value;
  });
  if (examples.length !== cfg.size)
    throw new UserError(`${path}: has ${examples.length} examples, eval.size is ${cfg.size}; delete the file to regenerate it`);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), examples, encoded: task.encode(examples) };
}
