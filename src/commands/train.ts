import { resolve, join } from 'node:path';
import { existsSync } from 'node:fs';
import { loadConfigFile, resolveConfig, validate, configSchema, configWarnings, type Config } from '../config.js';
import type { BackendChoice } from '../backend-names.js';
import { checkBackend } from '../train/trainer.js';
import { UserError, EnvironmentError } from '../errors.js';
import { parseSeedSet } from '../sweep/seeds.js';
import { createRunDir, readStatus } from '../runs/rundir.js';
import type { RunOutcome } from '../runs/group.js';
import { hasCheckpoint } from '../runs/checkpoint.js';
import { RunFileError, readRunJson } from '../runs/read.js';
import { installStopHandler, INTERRUPTED_EXIT } from '../runs/signals.js';
import { claimRuns, holderText, releaseAll, staleText, type Claim, type LockInfo } from '../runs/lock.js';
import { makeTask } from '../tasks/index.js';
import { loadEvalSet } from '../tasks/evalset.js';
import { loadConfigModules, moduleNotes } from '../extend/load.js';

export interface TrainArgs {
  config?: string;
  resume?: string;
  set: string[];
  out?: string;
  seeds?: string;
  backend: BackendChoice;
  dataDir: string;
}

/** A filesystem-safe local timestamp with milliseconds, e.g. 20261128-143005-123. */
export function timestamp(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const day = `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}`;
  return `${day}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}-${p(date.getMilliseconds(), 3)}`;
}

/**
 * TensorFlow.js and the training code load only once the input is known to be good, so that a bad config or
 * flag fails in a fraction of a second instead of after the backend's start-up.
 */
async function loadTraining() {
  const [group, resume] = await Promise.all([import('../runs/group.js'), import('../runs/resume.js')]);
  return { runGroup: group.runGroup, runDirName: group.runDirName, prepareResume: resume.prepareResume };
}

export async function trainCommand(args: TrainArgs): Promise<void> {
  if (args.resume !== undefined) return resumeCommand(args);
  if (args.config === undefined) throw new UserError('train needs a config file, or --resume <run dir>');
  const resolved = resolveConfig(loadConfigFile(args.config), args.set);
  const seeds = args.seeds !== undefined ? parseSeedSet(args.seeds) : [resolved.train.seed];
  report(await trainConfig(resolved, seeds, args));
}

/**
 * Trains one run per seed of a resolved config into new run directories (`out`, or runs/<name>-<attention>-<time>),
 * and returns their outcomes: the train command, and the library's train().
 */
export async function trainConfig(resolved: Config, seeds: number[], args: Pick<TrainArgs, 'out' | 'backend' | 'dataDir'>): Promise<RunOutcome[]> {
  const base = await loadConfigModules(resolved, { probe: true, backend: args.backend }); // users' modules, checked before anything is written
  for (const warning of configWarnings(base)) process.stderr.write(`train: warning: ${warning}\n`);
  for (const note of moduleNotes([base])) process.stderr.write(`train: ${note}\n`);
  const configs: Config[] = seeds.map((seed) => ({ ...base, train: { ...base.train, seed } }));
  const { runGroup, runDirName } = await loadTraining();
  await checkBackend(args.backend);
  loadEvalSet(args.dataDir, makeTask(base.task), base.eval); // fails on a bad data file before any run directory exists
  const many = seeds.length > 1;
  installStopHandler(sayStopping); // before the first lock, so that a Ctrl-C from here on releases it
  const dirs = configs.map((cfg) =>
    args.out ? createRunDir(many ? runDirName(cfg, args.out, '', true) : args.out) : createRunDir(runDirName(cfg, 'runs', timestamp(), many), true),
  );
  const claim = await claimOrRefuse(
    dirs,
    'train',
    (info) => `${info.dir} is being written by another process (${heldText(info)}); choose another --out`,
  );
  try {
    return await runGroup(configs, dirs, { dataDir: args.dataDir, backend: args.backend }).catch((err) => Promise.reject(withNextStep(err, dirs)));
  } finally {
    releaseAll(claim.locks.values());
  }
}

/**
 * Locks every run directory, or refuses in one line (exit 2) naming the live process that holds one, having
 * written nothing. A stale lock (its holder died) is taken over with one line saying so.
 */
async function claimOrRefuse(dirs: string[], by: string, refusal: (info: LockInfo) => string): Promise<Claim> {
  const claim = await claimRuns(dirs, by);
  if (claim.held.length) {
    releaseAll(claim.locks.values());
    throw new UserError(refusal(claim.held[0]) + (claim.held.length > 1 ? ` (and ${claim.held.length - 1} more run directories)` : ''));
  }
  for (const info of claim.tookOver)
    process.stderr.write(`train: took over the stale lock on ${info.dir} left by ${holderText(info.owner)} (${staleText([info])})\n`);
  return claim;
}

/** "pid 4242@node-7, a sweep since 2026-12-02T10:00:00.000Z". */
function heldText(info: LockInfo): string {
  return info.owner ? `${holderText(info.owner)}, ${info.owner.by} since ${info.owner.since}` : holderText(null);
}

/** Continues a run from its last checkpoint; the finished metrics.csv equals an uninterrupted run's. */
async function resumeCommand(args: TrainArgs): Promise<void> {
  const dir = args.resume!;
  if (args.config !== undefined || args.set.length || args.seeds || args.out)
    throw new UserError('--resume takes the run directory only: its config.json is the config');
  let saved: unknown;
  try {
    saved = readRunJson(dir, 'config.json');
  } catch (err) {
    if (!(err instanceof RunFileError)) throw err; // the machine refused the read: exit 1, as for every run file
    if (!existsSync(join(dir, 'config.json'))) throw new UserError(`--resume: ${dir} is not a run directory (no config.json)`);
    throw new UserError(`--resume: ${join(dir, 'config.json')} is not valid JSON`); // empty, cut short, or a directory in its place
  }
  const config = await loadConfigModules(validate(configSchema, saved, ''), { probe: true, backend: args.backend }); // refused if a module changed since
  installStopHandler(sayStopping); // before the lock, so that a Ctrl-C from here on releases it
  // Decided under the lock: another process may be writing this run right now, or have just finished it.
  const claim = await claimOrRefuse(
    [dir],
    'train --resume',
    (info) => `--resume: ${dir} is being written by another process (${heldText(info)}); let it finish, or stop it first`,
  );
  try {
    const status = readStatus(dir);
    if (status === 'completed' || status === 'diverged') throw new UserError(`--resume: ${dir} already finished (${status})`);
    const { runGroup, prepareResume } = await loadTraining();
    await checkBackend(args.backend);
    loadEvalSet(args.dataDir, makeTask(config.task), config.eval); // a bad data file fails before the run is touched
    const point = prepareResume(dir, config);
    for (const note of point.notes) process.stderr.write(`${note}\n`);
    process.stderr.write(`resuming ${dir} from step ${point.step}\n`);
    report(
      await runGroup([config], [dir], { dataDir: args.dataDir, resume: [point], backend: args.backend }).catch((err) =>
        Promise.reject(withNextStep(err, [dir])),
      ),
    );
  } finally {
    releaseAll(claim.locks.values());
  }
}

/** A full disk's one line, plus what to do once there is room: resume from the checkpoint kept, or start again. */
function withNextStep(err: unknown, dirs: string[]): unknown {
  if (!(err instanceof EnvironmentError)) return err;
  const next = dirs.every(hasCheckpoint)
    ? `the last checkpoint is kept; once there is room, continue with: npx qkv-lab train --resume ` +
      `${dirs.length === 1 ? resolve(dirs[0]) : '<run dir>'}${dirs.length === 1 ? '' : ` (for each of ${dirs.length} runs)`}`
    : 'no checkpoint was written yet; once there is room, train again';
  return new EnvironmentError(`${err.message}; ${next}`, err.code);
}

function sayStopping(): void {
  process.stderr.write('\nstopping after this step (Ctrl-C again to quit at once; files stay valid)\n');
}

function report(outcomes: RunOutcome[]): void {
  for (const o of outcomes) {
    const s = o.summary;
    const fmt = (x: unknown, d = 4) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');
    process.stdout.write(`${resolve(o.dir)}\n`);
    process.stdout.write(
      `  ${o.status}: ${s.attention} seed ${s.seed} lr ${s.lr} | eval loss ${fmt(s.final_eval_loss)} | eval acc ${fmt(s.final_eval_acc, 3)}` +
        ` | steps to ${'95%'} ${s.steps_to_acc ?? 'never'}${s.diverged_at !== null ? ` | diverged at step ${s.diverged_at}` : ''} | backend ${s.backend}\n`,
    );
    if (o.status === 'interrupted') {
      process.stdout.write(`  interrupted at step ${s.interrupted_at}; resume with: npx qkv-lab train --resume ${resolve(o.dir)}\n`);
      process.exitCode = INTERRUPTED_EXIT;
    }
  }
}
