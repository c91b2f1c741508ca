/** A sweep worker process: trains the groups its parent sends, one at a time, and reports each outcome. */
import { initBackend } from '../backend.js';
import type { BackendChoice } from '../backend-names.js';
import { runGroup } from '../runs/group.js';
import { prepareResume } from '../runs/resume.js';
import { installStopHandler } from '../runs/signals.js';
import type { Config } from '../config.js';

export interface GroupJob {
  id: number;
  configs: Config[];
  dirs: string[];
  dataDir: string;
  backend: BackendChoice;
  /** Continue every run from its checkpoint (all at one step) instead of starting fresh. */
  resume: boolean;
}

export type WorkerReply = { id: number; ok: true; statuses: string[] } | { id: number; ok: false; message: string };

installStopHandler(); // the parent forwards Ctrl-C: finish the step, checkpoint, report interrupted
process.on('disconnect', () => process.exit(0)); // the parent is gone: nobody will read our result

process.on('message', async (job: GroupJob) => {
  let reply: WorkerReply;
  try {
    await initBackend(job.backend);
    const resume = job.resume ? job.dirs.map((dir, r) => prepareResume(dir, job.configs[r])) : undefined;
    const outcomes = await runGroup(job.configs, job.dirs, { dataDir: job.dataDir, quiet: true, resume });
    reply = { id: job.id, ok: true, statuses: outcomes.map((o) => o.status) };
  } catch (err) {
    reply = { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  process.send!(reply);
});
