/** Runs a planned sweep into a directory: skips completed runs, batches the rest, spreads groups over workers. */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { hostname } from 'node:os';
import { variantLabel } from '../model/schema.js';
import { isDeepStrictEqual } from 'node:util';
import { UserError, EnvironmentError } from '../errors.js';
import type { BackendChoice } from '../backend-names.js';
import { checkBackend } from '../train/trainer.js';
import { makeTask } from '../tasks/index.js';
import { loadEvalSet } from '../tasks/evalset.js';
import { readStatus, createRunDir, clearRunDir } from '../runs/rundir.js';
import { claimRuns, holdersText, inspectLock, isLockEntry, releaseAll, staleText, type LockInfo } from '../runs/lock.js';
import { checkpointStep } from '../runs/checkpoint.js';
import { FINISHED_STATUSES, readRunConfig, savedConfigEquals } from '../runs/read.js';
import type { Config } from '../config.js';
import { installStopHandler, isStopRequested } from '../runs/signals.js';
import { writeJsonAtomic, ensureDir } from '../files/atomic.js';
import { groupRuns, spreadOver, runDir, type PlannedRun, type SweepPlan } from './plan.js';
import { runPool } from './pool.js';
import { SweepProgress, type GroupInfo } from './progress.js';
import { seedCountWarnings } from './power.js';
import type { GroupJob, WorkerReply } from './job.js';

export interface SweepOptions {
  dir: string;
  workers: number;
  backend: BackendChoice;
  dataDir: string;
  log?: (line: string) => void;
  /** Lines said once training starts (a user variant on the tfjs graph), not when the sweep is refused before it. */
  notes?: string[];
}

export interface SweepResult {
  trained: number;
  skipped: number;
  failed: string[];
  interrupted: boolean;
  /** Runs another live process held when this sweep started, and still holds as it ends. */
  inProgress: string[];
  /** Runs left unfinished that no live process holds: the sweep exits non-zero, so a retry does not read success. */
  abandoned: string[];
}

/** How long a sweep with nothing else to do waits for the holders of runs it could not lock to die (a kill's aftermath). */
const HOLDER_GRACE_MS = 5000;
const HOLDER_POLL_MS = 200;

/** The planned config must be the saved one: a changed sweep must never reuse another sweep's runs. */
function sameConfig(dir: string, run: PlannedRun): boolean {
  return savedConfigEquals(dir, run.config, isDeepStrictEqual);
}

/** A run is done when it completed or diverged (a divergence is a result) with exactly the planned config. */
function isDone(dir: string, run: PlannedRun): boolean {
  if (!finishedStatus(dir)) return false;
  if (!sameConfig(dir, run))
    throw new UserError(changedModuleText(dir, run) ?? `${dir} holds a finished run with a different config; use another --out for this sweep`);
  return true;
}

/** When a finished run differs from the plan only in a module's content: which module changed, in one line. */
function changedModuleText(dir: string, run: PlannedRun): string | null {
  let saved: Config;
  try {
    saved = readRunConfig(dir);
  } catch {
    return null;
  }
  const changed = Object.entries(run.config.modules).find(([path, m]) => saved.modules[path] && saved.modules[path].sha256 !== m.sha256);
  if (!changed || !isDeepStrictEqual({ ...saved, modules: {} }, { ...run.config, modules: {} })) return null;
  return `${dir} was trained with an earlier ${changed[0]} (its content has changed since); restore the module, or use another --out for this sweep`;
}

/** Finished by whoever wrote it, without judging its config: for runs another process held. */
function finishedStatus(dir: string): boolean {
  const status = readStatus(dir);
  return status !== null && FINISHED_STATUSES.includes(status);
}

/** The checkpoint step an unfinished run can continue from, or null when it must start again. */
function resumeStep(dir: string, run: PlannedRun): number | null {
  if (!existsSync(dir) || !sameConfig(dir, run)) return null;
  return checkpointStep(dir);
}

/** A name per group: its variant, the settings that tell it from other groups (dModel=16), and its size. */
function groupInfos(jobs: GroupJob[], units: PlannedRun[][], startAt: Map<string, number | null>): GroupInfo[] {
  const flat = (c: PlannedRun['config']) =>
    Object.entries({ ...c.task, ...c.model, ...c.train, ...c.eval }).filter(([k]) => !['attention', 'lr', 'seed'].includes(k));
  const differing = new Set(
    jobs.flatMap((j) =>
      flat(j.configs[0])
        .filter(([k, v]) => jobs.some((o) => JSON.stringify(flat(o.configs[0]).find(([ok]) => ok === k)?.[1]) !== JSON.stringify(v)))
        .map(([k]) => k),
    ),
  );
  return jobs.map((job, i) => {
    const c = job.configs[0];
    const extra = flat(c)
      .filter(([k]) => differing.has(k))
      .map(([k, v]) => `${k}=${v}`);
    return {
      id: job.id,
      label: [variantLabel(c.model, c.modules), ...extra, `×${job.dirs.length}`].join(' '),
      runs: job.dirs.length,
      steps: c.train.steps,
      startStep: startAt.get(units[i][0].name) ?? 0,
    };
  });
}

export async function runSweep(plan: SweepPlan, runs: PlannedRun[], opts: SweepOptions): Promise<SweepResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  let progress: SweepProgress | null = null;
  // Before the first lock: from here on a Ctrl-C stops the sweep in order, and every lock is released.
  installStopHandler(() =>
    (progress ? progress.log.bind(progress) : log)('sweep: stopping: workers finish their step and checkpoint (Ctrl-C again to quit at once)'),
  );
  ensureDir(opts.dir);
  writeJsonAtomic(join(opts.dir, 'sweep.json'), { name: plan.name, grid: plan.grid, runs: plan.runs.map((r) => r.name) });
  const dirOf = (run: PlannedRun) => runDir(opts.dir, run);
  const open = runs.filter((run) => !isDone(dirOf(run), run));
  // One writer per run: lock every run this sweep may write before reading or changing its directory.
  // A run another live process holds is left exactly as it is: not restarted, not cleared, not created.
  const claim = await claimRuns(open.map(dirOf), 'sweep');
  const { locks } = claim;
  try {
    const heldRuns = open.filter((run) => !locks.has(dirOf(run)));
    // Another process may have finished a run between the first look and the lock: it is not ours to write.
    const finishedMeanwhile = open.filter((run) => locks.has(dirOf(run)) && isDone(dirOf(run), run));
    for (const run of finishedMeanwhile) locks.get(dirOf(run))!.releaseSync();
    const todo = open.filter((run) => locks.has(dirOf(run)) && !finishedMeanwhile.includes(run));
    const skipped = runs.length - todo.length - heldRuns.length;
    if (skipped) log(`sweep: ${skipped} run(s) already finished, skipped`);
    if (heldRuns.length)
      log(
        `sweep: ${heldRuns.length} run(s) are being written by another process (${holdersText(claim.held)}), skipped while it holds them: ` +
          `${namesText(heldRuns.map((r) => r.name))}`,
      );
    if (claim.tookOver.length)
      log(
        `sweep: took over the stale lock(s) of ${claim.tookOver.length} run(s) left by ${holdersText(claim.tookOver)} ` +
          `(${staleText(claim.tookOver)}): ${namesText(claim.tookOver.map((i) => basename(i.dir)))}`,
      );
    const failed: string[] = [];
    // A full disk or a refused write would fail every later group too: hand out no more, let running ones end.
    let environmentFault: string | null = null;
    const inputFaults: string[] = [];
    const stopping = () => isStopRequested() || environmentFault !== null;
    /** Trains runs this sweep holds the locks of: resumes, restarts or starts each, in groups over the workers. */
    let trained = 0;
    const trainRound = async (todo: PlannedRun[]): Promise<void> => {
      const startAt = new Map(todo.map((run) => [run.name, resumeStep(dirOf(run), run)]));
      const resumed = [...startAt.values()].filter((s) => s !== null).length;
      if (resumed) log(`sweep: ${resumed} unfinished run(s) continue from their checkpoints`);
      // Over the whole plan, not this shard: the shards' runs are compared together afterwards.
      if (todo.length && trained === 0) for (const warning of seedCountWarnings(plan.runs)) log(`sweep: warning: ${warning}`);
      if (todo.length && trained === 0) for (const note of opts.notes ?? []) log(`sweep: ${note}`);
      trained += todo.length;
      // An unfinished directory without a usable checkpoint holds nothing to continue: start that run again, and say so.
      const restarted = todo.filter((run) => startAt.get(run.name) === null && hasRunFiles(dirOf(run)));
      if (restarted.length)
        log(
          `sweep: ${restarted.length} unfinished run(s) had no usable checkpoint and start again from step 0: ${namesText(restarted.map((r) => r.name))}`,
        );
      for (const run of restarted) clearRunDir(dirOf(run)); // keeps the lock this sweep holds on it
      for (const task of new Map(todo.map((r) => [makeTask(r.config.task).id + JSON.stringify(r.config.eval), r.config])).values()) {
        loadEvalSet(opts.dataDir, makeTask(task.task), task.eval); // written once here, so workers never race to create it
      }
      await checkBackend(opts.backend); // a missing backend is the user's error, said once here
      const units = spreadOver(
        groupRuns(todo, (run) => startAt.get(run.name) ?? 0),
        opts.workers,
      );
      const jobs: GroupJob[] = units.map((unit, id) => {
        const resume = startAt.get(unit[0].name) !== null;
        return {
          id,
          configs: unit.map((r) => r.config),
          dirs: unit.map((r) => (resume ? dirOf(r) : createRunDir(dirOf(r)))),
          dataDir: opts.dataDir,
          backend: opts.backend, // each worker resolves it; every summary.json records the one used
          resume,
        };
      });
      progress = jobs.length ? new SweepProgress(groupInfos(jobs, units, startAt)) : null;
      const onReply = (job: GroupJob, reply: WorkerReply) => {
        releaseAll(job.dirs.flatMap((dir) => locks.get(dir) ?? [])); // the group wrote its last: its runs are free again
        if (!reply.ok) failed.push(...job.dirs);
        if (!reply.ok && reply.environment) environmentFault ??= reply.message;
        if (!reply.ok && reply.input) inputFaults.push(...job.dirs);
        const error = reply.ok
          ? null
          : reply.environment
            ? 'stopped by a file-system error (below); its runs keep their last checkpoints'
            : reply.message;
        progress?.groupDone(job.id, error === null && reply.ok ? { statuses: reply.statuses } : { error: error ?? '' });
      };
      const onProgress = (id: number, step: number, loss: number | null) => progress?.update(id, step, loss);
      try {
        if (opts.workers <= 1 || jobs.length <= 1) {
          // In-process: only now load TensorFlow.js, so a parent that only hands out work stays small.
          const { runJob } = await import('./job.js');
          for (const job of jobs) {
            if (stopping()) break;
            onReply(job, await runJob(job, onProgress));
          }
        } else {
          await runPool(jobs, opts.workers, onReply, stopping, onProgress);
        }
      } finally {
        progress?.stop();
      }
    };
    await trainRound(todo);
    // Runs another process held at the start: once their holder has died (a sweep killed and started again at
    // once finds its old workers still alive for a moment), they are taken over and trained here, not left undone.
    let pending = heldRuns;
    const graceEnds = Date.now() + HOLDER_GRACE_MS;
    while (pending.length && !stopping()) {
      pending = pending.filter((run) => !finishedStatus(dirOf(run)));
      const free = pending.filter((run) => inspectLock(dirOf(run))?.stale ?? true);
      if (!free.length) {
        // Only a holder on this machine can be seen to die; one elsewhere frees its runs by going stale (a minute).
        const mayDie = pending.some((run) => inspectLock(dirOf(run))?.owner?.host === hostname());
        if (!mayDie || Date.now() > graceEnds) break; // a live holder: it is still writing them, and says so below
        await new Promise((done) => setTimeout(done, HOLDER_POLL_MS));
        continue;
      }
      const takeover = await claimRuns(free.map(dirOf), 'sweep');
      for (const [dir, lock] of takeover.locks) locks.set(dir, lock);
      const taken = free.filter((run) => takeover.locks.has(dirOf(run)) && !isDone(dirOf(run), run));
      for (const run of free) if (takeover.locks.has(dirOf(run)) && !taken.includes(run)) locks.get(dirOf(run))!.releaseSync();
      if (taken.length)
        log(
          `sweep: ${taken.length} run(s) another process held were left unfinished by it; taking them over: ${namesText(taken.map((r) => r.name))}`,
        );
      await trainRound(taken);
      pending = pending.filter((run) => !free.includes(run) || !takeover.locks.has(dirOf(run)));
    }
    const { inProgress, abandoned } = reportHeld(heldRuns, opts.dir, log);
    if (environmentFault !== null) {
      throw new EnvironmentError(
        `${environmentFault}; the sweep stopped: finished runs are kept, and the same command, run again once there is room, continues the rest`,
      );
    }
    // Runs that cannot continue as they are on disk (each group's reason is logged above): bad input, not a crash.
    if (!isStopRequested() && failed.length && inputFaults.length === failed.length)
      throw new UserError(`${failed.length} run(s) could not continue from their run directories (the reasons are above): ${failed.join(', ')}`);
    return { trained, skipped, failed, interrupted: isStopRequested(), inProgress, abandoned };
  } finally {
    releaseAll(locks.values());
  }
}

/** Whether a run directory holds anything a run wrote (its lock aside). */
function hasRunFiles(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((entry) => !isLockEntry(entry));
}

/**
 * At the end, the runs another process held at the start: those it still holds are in progress (named, not
 * an error); those left unfinished and no longer held (taken over and failed again, or freed too late) are abandoned.
 */
function reportHeld(heldRuns: PlannedRun[], dir: string, log: (line: string) => void): { inProgress: string[]; abandoned: string[] } {
  const stillHeld: PlannedRun[] = [];
  const holders: LockInfo[] = [];
  const dropped: PlannedRun[] = [];
  for (const run of heldRuns) {
    const path = runDir(dir, run);
    if (finishedStatus(path)) continue;
    const now = inspectLock(path);
    if (now && !now.stale) {
      stillHeld.push(run);
      holders.push(now);
    } else dropped.push(run);
  }
  if (stillHeld.length)
    log(
      `sweep: ${stillHeld.length} run(s) still in progress in another process (${holdersText(holders)}): ${namesText(stillHeld.map((r) => r.name))}`,
    );
  if (dropped.length)
    log(
      `sweep: ${dropped.length} run(s) another process held are unfinished and no longer held; run the same command ` +
        `again to continue them: ${namesText(dropped.map((r) => r.name))}`,
    );
  return { inProgress: stillHeld.map((run) => runDir(dir, run)), abandoned: dropped.map((run) => runDir(dir, run)) };
}

/** Up to three names, then how many more: one line however many runs. */
function namesText(names: string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}
