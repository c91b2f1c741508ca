import { resolve } from 'node:path';
import { loadConfigFile, resolveConfig, type Config } from '../config.js';
import { initBackend, type BackendChoice } from '../backend.js';
import { UserError } from '../errors.js';
import { createRunDir } from '../runs/rundir.js';
import { runGroup, runDirName } from '../runs/group.js';
import { makeTask } from '../tasks/index.js';
import { loadEvalSet } from '../tasks/evalset.js';

export interface TrainArgs {
  config: string;
  set: string[];
  out?: string;
  seeds?: string;
  backend: BackendChoice;
  dataDir: string;
}

export function parseSeeds(text: string): number[] {
  const seeds = text.split(',').map((s) => s.trim());
  if (seeds.some((s) => !/^\d+$/.test(s) || Number(s) > 2 ** 31 - 1)) throw new UserError(`--seeds expects comma-separated non-negative integers, got '${text}'`);
  const values = seeds.map(Number);
  if (new Set(values).size !== values.length) throw new UserError(`--seeds lists a seed twice: '${text}'`);
  return values;
}

/** A filesystem-safe local timestamp with milliseconds, e.g. 20261128-143005-123. */
export function timestamp(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}-${p(date.getMilliseconds(), 3)}`;
}

export async function trainCommand(args: TrainArgs): Promise<void> {
  const base = resolveConfig(loadConfigFile(args.config), args.set);
  const seeds = args.seeds ? parseSeeds(args.seeds) : [base.train.seed];
  const configs: Config[] = seeds.map((seed) => ({ ...base, train: { ...base.train, seed } }));
  await initBackend(args.backend);
  loadEvalSet(args.dataDir, makeTask(base.task), base.eval); // fails on a bad data file before any run directory exists
  const many = seeds.length > 1;
  const dirs = configs.map((cfg) =>
    args.out
      ? createRunDir(many ? runDirName(cfg, args.out, '', true) : args.out)
      : createRunDir(runDirName(cfg, 'runs', timestamp(), many), true),
  );
  const outcomes = await runGroup(configs, dirs, { dataDir: args.dataDir });
  for (const o of outcomes) {
    const s = o.summary as Record<string, number | string | null>;
    const fmt = (x: unknown, d = 4) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');
    process.stdout.write(`${resolve(o.dir)}\n`);
    process.stdout.write(
      `  ${o.status}: ${s.attention} seed ${s.seed} lr ${s.lr} | eval loss ${fmt(s.final_eval_loss)} | eval acc ${fmt(s.final_eval_acc, 3)}` +
        ` | steps to ${'95%'} ${s.steps_to_acc ?? 'never'}${s.diverged_at !== null ? ` | diverged at step ${s.diverged_at}` : ''} | backend ${s.backend}\n`,
    );
  }
}
