/** Runs group jobs on up to N worker processes (wasm is single-threaded in Node, so processes use the cores). */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GroupJob, WorkerReply } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

export async function runPool(jobs: GroupJob[], workers: number, onDone: (job: GroupJob, reply: WorkerReply) => void): Promise<void> {
  const queue = [...jobs];
  const children: ChildProcess[] = [];
  const lane = async () => {
    if (queue.length === 0) return;
    const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    try {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const reply = await new Promise<WorkerReply>((resolve, reject) => {
          const onExit = (code: number | null, signal: string | null) => reject(new Error(`worker exited (${signal ?? code}) during group ${job.id}`));
          child.once('exit', onExit);
          child.once('message', (msg: WorkerReply) => {
            child.off('exit', onExit);
            resolve(msg);
          });
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
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}
