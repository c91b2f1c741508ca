/** Runs group jobs on up to N worker processes (wasm is single-threaded in Node, so processes use the cores). */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GroupJob, OnProgress, ProgressNote, WorkerReply } from './job.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * Workers run in their own process group, so a terminal's Ctrl-C reaches only this parent, which passes
 * each SIGINT on exactly once: the first makes workers checkpoint and stop, the second ends them at once.
 */
export async function runPool(
  jobs: GroupJob[],
  workers: number,
  onDone: (job: GroupJob, reply: WorkerReply) => void,
  stopRequested: () => boolean,
  onProgress: OnProgress = () => {},
): Promise<void> {
  const queue = [...jobs];
  const children: ChildProcess[] = [];
  const forward = () => children.forEach((c) => c.exitCode === null && c.kill('SIGINT'));
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  // This process holds the locks of the runs its workers write, and releases them as it exits (a second
  // Ctrl-C, a lost lock): no worker may write on after that, so none outlives it.
  const killAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.prependListener('exit', killAll); // before the locks' own exit handler releases them
  const lane = async () => {
    if (queue.length === 0) return;
    // A small young generation: the per-step batches are short-lived garbage, and V8's default 16 MB
    // semi-spaces cost each worker ~50 MB of resident memory for ~3% speed (measured at R = 25).
    const execArgv = [...process.execArgv, '--max-semi-space-size=2'];
    const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, execArgv });
    children.push(child);
    try {
      for (let job = queue.shift(); job && !stopRequested(); job = queue.shift()) {
        const reply = await new Promise<WorkerReply>((resolve, reject) => {
          const onExit = (code: number | null, signal: string | null) =>
            reject(new Error(`worker exited (${signal ?? code}) during group ${job.id}`));
          // Progress notes arrive while the group trains; the reply, which has no `progress`, ends it.
          const onMessage = (msg: WorkerReply | ProgressNote) => {
            if ('progress' in msg) return onProgress(msg.id, msg.progress.step, msg.progress.loss);
            child.off('exit', onExit);
            child.off('message', onMessage);
            resolve(msg);
          };
          child.once('exit', onExit);
          child.on('message', onMessage);
          child.send(job);
        });
        onDone(job, reply);
      }
    } finally {
      child.disconnect();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, lane));
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    process.off('exit', killAll);
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}
