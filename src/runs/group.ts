/** Trains a group of runs that share a shape (they differ only in seed and learning rate) into their run directories. */
import { join } from 'node:path';
import { shapeKey, type Config } from '../config.js';
import { makeTask } from '../tasks/index.js';
import { loadEvalSet } from '../tasks/evalset.js';
import { Stream } from '../rng.js';
import { initialValues, paramSpecs } from '../model/transformer.js';
import { trainGroup, type MetricsRow } from '../train/trainer.js';
import { runFigures, type RunStatus } from '../metrics/summary.js';
import { activeBackend } from '../backend.js';
import { makeProgress } from '../progress.js';
import { RunWriter } from './rundir.js';
import { saveCheckpoint } from './checkpoint.js';
import { isStopRequested } from './signals.js';
import type { ResumePoint } from './resume.js';

export const SNAPSHOT_EXAMPLES = 4;

export interface RunOutcome {
  dir: string;
  status: RunStatus;
  summary: Record<string, unknown>;
}


export interface GroupOptions {
  dataDir: string;
  quiet?: boolean;
  /** Per run, the checkpoint to continue from (all at one step); absent for a fresh start. */
  resume?: ResumePoint[];
  /** Called with each logged step and the median train loss of the group's runs there (a sweep's progress). */
  onProgress?: (step: number, trainLoss: number | null) => void;
}

export async function runGroup(configs: Config[], dirs: string[], opts: GroupOptions): Promise<RunOutcome[]> {
  const base = configs[0];
  if (configs.some((c) => shapeKey(c) !== shapeKey(base))) throw new Error('runGroup: configs differ in more than seed and lr');
  const resume = opts.resume;
  if (resume && new Set(resume.map((r) => r.step)).size > 1) throw new Error('runGroup: resumed runs must share one checkpoint step');
  const task = makeTask(base.task);
  const evalSet = loadEvalSet(opts.dataDir, task, base.eval);
  const backend = activeBackend();
  const writers = dirs.map((dir, r) => {
    const writer = new RunWriter(dir, base.model.layers, resume?.[r]);
    if (!resume) writer.writeJson('config.json', configs[r]);
    writer.setStatus('running');
    return writer;
  });
  const rows: MetricsRow[][] = configs.map((_, r) => [...(resume?.[r].rows ?? [])]);
  const streams = configs.map((c, r) => (resume ? Stream.fromState(resume[r].dataStream) : Stream.derive(c.train.seed, `data/${task.id}`)));
  const progress = opts.quiet ? null : makeProgress(base.name, base.train.steps, process.stderr, resume?.[0].step ?? 0);
  const started = Date.now();
  const shapes = new Map([...paramSpecs(base.model, task.layout)].map(([path, spec]) => [path, spec.shape]));
  const meta = {
    task: task.id,
    eval_file: evalSet.path,
    layout: task.layout,
    examples: evalSet.examples.slice(0, SNAPSHOT_EXAMPLES),
    sources: Array.from(evalSet.encoded.sources.slice(0, SNAPSHOT_EXAMPLES * task.layout.queryCount)), // [example][query row] correct key position
  };
  const finish = (r: number, status: RunStatus, divergedAt: number | null, extra: Record<string, unknown> = {}): RunOutcome => {
    const summary = {
      status,
      diverged_at: divergedAt,
      ...extra,
      ...runFigures(rows[r], base.train.steps),
      attention: configs[r].model.attention,
      lr: configs[r].train.lr,
      seed: configs[r].train.seed,
      steps: base.train.steps,
      backend,
      group_size: configs.length,
      eval_file: evalSet.path,
      eval_sha256: evalSet.sha256,
      wall_s: (Date.now() - started) / 1000,
    };
    writers[r].writeJson('summary.json', summary);
    writers[r].setStatus(status);
    return { dir: dirs[r], status, summary };
  };
  try {
    const result = await trainGroup({
      model: base.model,
      layout: task.layout,
      steps: base.train.steps,
      batchSize: base.train.batchSize,
      warmup: base.train.warmup,
      logEvery: base.train.logEvery,
      lrs: configs.map((c) => c.train.lr),
      initial: resume ? resume.map((r) => r.state) : configs.map((c) => ({ params: initialValues(c.model, task.layout, c.train.seed) })),
      startStep: resume?.[0].step ?? 0,
      divergedAt: resume?.map((r) => r.divergedAt),
      checkpointEvery: base.train.checkpointEvery,
      async onCheckpoint(step, states, divergedAt) {
        states.forEach((state, r) => saveCheckpoint(dirs[r], { step, state, dataStream: streams[r].state(), divergedAt: divergedAt[r] }, (p) => shapes.get(p)!));
      },
      stopRequested: isStopRequested,
      nextBatches: () => streams.map((rng) => task.encode(task.sample(rng, base.train.batchSize))),
      evalSet: evalSet.encoded,
      snapshotExamples: SNAPSHOT_EXAMPLES,
      async onRows(stepRows) {
        await Promise.all(stepRows.map((row, r) => (row ? writers[r].appendRows([row]).then(() => rows[r].push(row)) : undefined)));
        const shown = stepRows.find((row) => row !== null);
        if (shown) progress?.update(shown.step, { loss: shown.eval_loss, acc: shown.eval_acc, stepsPerS: shown.steps_per_s });
        if (shown) opts.onProgress?.(shown.step, medianLoss(stepRows));
      },
      async onSnapshot(snapshots) {
        snapshots.forEach((s, r) => writers[r].addSnapshot(s, meta));
      },
    });
    if (result.stoppedAt !== null) return result.divergedAt.map((at, r) => finish(r, 'interrupted', at, { interrupted_at: result.stoppedAt }));
    return result.divergedAt.map((at, r) => finish(r, at === null ? 'completed' : 'diverged', at));
  } catch (err) {
    configs.forEach((_, r) => finish(r, 'failed', null, { error: err instanceof Error ? err.message : String(err) }));
    throw err;
  } finally {
    progress?.stop();
  }
}

/** The median train loss of the rows logged at one step (finite ones only): one diverged run must not hide the rest. */
function medianLoss(rows: (MetricsRow | null)[]): number | null {
  const xs = rows.flatMap((row) => (row && Number.isFinite(row.train_loss) ? [row.train_loss] : [])).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export function runDirName(cfg: Config, parent: string, stamp: string, withSeed: boolean): string {
  return join(parent, `${cfg.name}-${cfg.model.attention}${withSeed ? `-s${cfg.train.seed}` : ''}${stamp ? `-${stamp}` : ''}`);
}
