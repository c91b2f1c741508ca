/** A sweep worker process: trains the groups its parent sends, one at a time, and reports each outcome. */
import { initBackend, type BackendChoice } from '../backend.js';
import { runGroup } from '../runs/group.js';
import type { Config } from '../config.js';

export interface GroupJob {
  id: number;
  configs: Config[];
  dirs: string[];
  dataDir: string;
  backend: BackendChoice;
}

export type WorkerReply = { id: number; ok: true; statuses: string[] } | { id: number; ok: false; message: string };

process.on('message', async (job: GroupJob) => {
  let reply: WorkerReply;
  try {
    await initBackend(job.backend);
    const outcomes = await runGroup(job.configs, job.dirs, { dataDir: job.dataDir, quiet: true });
    reply = { id: job.id, ok: true, statuses: outcomes.map((o) => o.status) };
  } catch (err) {
    reply = { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  process.send!(reply);
});
