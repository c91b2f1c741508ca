/** One unit of sweep work: a batched group of runs, trained fresh or resumed; the same in a worker or in-process. */
import type { BackendChoice } from '../backend-names.js';
import { runGroup } from '../runs/group.js';
import { prepareResume } from '../runs/resume.js';
import type { Config } from '../config.js';
import { loadConfigModules } from '../extend/load.js';
import { EnvironmentError, UserError, asEnvironmentError } from '../errors.js';

export interface GroupJob {
  id: number;
  configs: Config[];
  dirs: string[];
  dataDir: string;
  backend: BackendChoice;
  /** Continue every run from its checkpoint (all at one step) instead of starting fresh. */
  resume: boolean;
}

/** `environment`: the group stopped on a full disk or a refused write, which stops the whole sweep (every later write would fail too). */
/** `input`: the group's runs cannot continue as they are on disk (a damaged run), said in one line like any bad input. */
export type WorkerReply =
  { id: number; ok: true; statuses: string[] } | { id: number; ok: false; message: string; environment?: boolean; input?: boolean };

/** Sent by a worker while a group trains: the logged step and the group's median train loss there. */
export interface ProgressNote {
  id: number;
  progress: { step: number; loss: number | null };
}

export type OnProgress = (id: number, step: number, loss: number | null) => void;

/** Trains the job's group; failures come back as a reply, so one bad group never stops the sweep. */
export async function runJob(job: GroupJob, onProgress?: OnProgress): Promise<WorkerReply> {
  try {
    await loadConfigModules(job.configs[0]); // the group's modules (they share one shape), refused if changed since the sweep planned them
    const resume = job.resume ? job.dirs.map((dir, r) => prepareResume(dir, job.configs[r])) : undefined;
    for (const note of resume?.flatMap((p) => p.notes) ?? []) process.stderr.write(`sweep: ${note}\n`);
    const outcomes = await runGroup(job.configs, job.dirs, {
      dataDir: job.dataDir,
      quiet: true,
      resume,
      backend: job.backend, // the graph loads it; the kernel needs none
      onProgress: onProgress && ((step, loss) => onProgress(job.id, step, loss)),
    });
    return { id: job.id, ok: true, statuses: outcomes.map((o) => o.status) };
  } catch (err) {
    const env = asEnvironmentError(err);
    return {
      id: job.id,
      ok: false,
      message: env instanceof Error ? env.message : String(env),
      environment: env instanceof EnvironmentError,
      input: err instanceof UserError,
    };
  }
}
