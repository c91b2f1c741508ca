/** A sweep worker process: trains the groups its parent sends, one at a time, and reports each outcome. */
import { installStopHandler } from '../runs/signals.js';
import { runJob, type GroupJob, type ProgressNote } from './job.js';

installStopHandler(); // the parent forwards Ctrl-C: finish the step, checkpoint, report interrupted
process.on('disconnect', () => process.exit(0)); // the parent is gone: nobody will read our result

const note = (id: number, step: number, loss: number | null) => process.send!({ id, progress: { step, loss } } satisfies ProgressNote);
process.on('message', async (job: GroupJob) => process.send!(await runJob(job, note)));
