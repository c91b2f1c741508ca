import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackendChoice } from '../backend-names.js';
import { UserError, EnvironmentError } from '../errors.js';
import { configWarnings } from '../config.js';
import { parseSeedSet } from '../sweep/seeds.js';
import { loadSweep, resolveShard, shardRuns, type SweepPlan } from '../sweep/plan.js';
import { runSweep } from '../sweep/run.js';
import { loadRunModules, moduleNotes } from '../extend/load.js';
import { INTERRUPTED_EXIT } from '../runs/signals.js';

export interface SweepArgs {
  config: string;
  set: string[];
  /** --seeds: replaces the grid's train.seed, e.g. 0-19. */
  seeds?: string;
  out?: string;
  workers?: number;
  shard?: string;
  shards?: number;
  backend: BackendChoice;
  dataDir: string;
}

/** The seed set of --seeds, parsed before anything is written; undefined keeps the config's own seeds. */
export const seedsOf = (args: Pick<SweepArgs, 'seeds'>): number[] | undefined => (args.seeds === undefined ? undefined : parseSeedSet(args.seeds));

/** The default place for a sweep's runs: runs/<name>, plus the overrides and seeds, so a changed sweep never reuses old runs. */
export function defaultSweepDir(name: string, sets: string[], seeds?: string): string {
  const parts = [...sets, ...(seeds === undefined ? [] : [`seeds=${seeds}`])];
  const slug = parts.map((s) => s.replace(/[^A-Za-z0-9.=-]/g, '')).join('_');
  return join('runs', slug ? `${name}_${slug}` : name);
}

export function checkWorkers(workers: number | undefined): number {
  const n = workers ?? availableParallelism();
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--workers expects a positive integer, got ${workers}`);
  return n;
}

/** Runs the planned sweep (or one shard of it) into `runsDir`; returns that directory, or null when interrupted. */
export async function sweepInto(planned: SweepPlan, args: SweepArgs, runsDir: string): Promise<string | null> {
  const workers = checkWorkers(args.workers);
  const plan = { ...planned, runs: await loadRunModules(planned.runs, args.backend) }; // users' modules, checked before anything is written
  const shard = resolveShard(args.shard, args.shards, process.env);
  const runs = shard ? shardRuns(plan.runs, shard) : plan.runs;
  for (const warning of new Set(runs.flatMap((r) => configWarnings(r.config)))) process.stderr.write(`sweep: warning: ${warning}\n`);
  if (shard) process.stderr.write(`sweep: shard ${shard.index}/${shard.count}: ${runs.length} of ${plan.runs.length} runs\n`);
  const notes = moduleNotes(runs.map((r) => r.config));
  const result = await runSweep(plan, runs, { dir: runsDir, workers, backend: args.backend, dataDir: args.dataDir, notes });
  if (result.interrupted) {
    process.stderr.write(
      `sweep: interrupted; run the same command again to continue (finished runs are kept, unfinished ones resume from their checkpoints)\n`,
    );
    process.exitCode = INTERRUPTED_EXIT;
    return null;
  }
  if (result.failed.length) throw new Error(`${result.failed.length} run(s) failed: ${result.failed.join(', ')}`);
  // A retry (Slurm requeue, CI) must not read success with runs left undone that nobody is writing.
  if (result.abandoned.length)
    throw new EnvironmentError(
      `${result.abandoned.length} run(s) are unfinished and no process holds them; run the same command again to continue them`,
    );
  return resolve(runsDir);
}

export async function sweepCommand(args: SweepArgs): Promise<void> {
  const plan = loadSweep(args.config, args.set, seedsOf(args));
  const dir = await sweepInto(plan, args, args.out ?? join(defaultSweepDir(plan.name, args.set, args.seeds), 'runs'));
  if (dir) process.stdout.write(`${dir}\n`);
}
