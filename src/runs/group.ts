/** Trains a group of runs that share a shape (they differ only in seed and learning rate) into their run directories. */
import { join } from 'node:path';
import { shapeKey, type Config } from '../config.js';
import { variantLabel } from '../model/schema.js';
import { makeTask } from '../tasks/index.js';
import { loadEvalSet } from '../tasks/evalset.js';
import { paramSpecs } from '../model/paramSpecs.js';
import { trainGroup, trainsOnGraph } from '../train/trainer.js';
import type { MetricsRow } from '../records/formats.js';
import { runFigures, type RunStatus } from '../metrics/summary.js';
import { claimRunFigures } from '../metrics/claimFigures.js';
import type { BackendChoice } from '../backend-names.js';
import { makeProgress } from '../progress.js';
import { RunWriter } from './rundir.js';
import { saveCheckpoint } from './checkpoint.js';
import { isStopRequested } from './signals.js';
import { EnvironmentError, asEnvironmentError } from '../errors.js';
import type { ResumePoint } from './resume.js';
import { buildGroup } from './groupSpec.js';
import type { Summary } from './read.js';

export const SNAPSHOT_EXAMPLES = 4;

export interface RunOutcome {
  dir: string;
  status: RunStatus;
  summary: Summary;
}

export interface GroupOptions {
  dataDir: string;
  quiet?: boolean;
  /** Per run, the checkpoint to continue from (all at one step); absent for a fresh start. */
  resume?: ResumePoint[];
  /** Called with each logged step and the median train loss of the group's runs there (a sweep's progress). */
  onProgress?: (step: number, trainLoss: number | null) => void;
  /** The tfjs backend to load if the group trains on the graph (default auto). */
  backend?: BackendChoice;
}

export async function runGroup(configs: Config[], dirs: string[], opts: GroupOptions): Promise<RunOutcome[]> {
  const base = configs[0];
  if (configs.some((c) => shapeKey(c) !== shapeKey(base))) throw new Error('runGroup: configs differ in more than seed and lr');
  const resume = opts.resume;
  if (resume && new Set(resume.map((r) => r.step)).size > 1) throw new Error('runGroup: resumed runs must share one checkpoint step');
  const task = makeTask(base.task);
  const evalSet = loadEvalSet(opts.dataDir, task, base.eval);
  // The kernel loads no tfjs backend ('none'); the graph's is known once it has loaded (the choice, if it never did).
  let backend: string = trainsOnGraph(base.model, base.train.kernel) ? (opts.backend ?? 'auto') : 'none';
  const writers = dirs.map((dir, r) => {
    const writer = new RunWriter(dir, base.model.layers, resume?.[r]);
    if (!resume) writer.writeJson('config.json', configs[r]);
    writer.setStatus('running');
    return writer;
  });
  const rows: MetricsRow[][] = configs.map((_, r) => [...(resume?.[r].rows ?? [])]);
  const progress = opts.quiet ? null : makeProgress(base.name, base.train.steps, process.stderr, resume?.[0].step ?? 0);
  const started = Date.now();
  // What computes the steps, as soon as the engine is made: a run that fails or is interrupted partway records it too.
  let used: Pick<Summary, 'kernel' | 'kernel_impl' | 'precision'> = {};
  const shapes = new Map([...paramSpecs(base.model, task.layout)].map(([path, spec]) => [path, spec.shape]));
  const meta = {
    task: task.id,
    eval_file: evalSet.path,
    layout: task.layout,
    examples: evalSet.examples.slice(0, SNAPSHOT_EXAMPLES),
    sources: Array.from(evalSet.encoded.sources.slice(0, SNAPSHOT_EXAMPLES * task.layout.queryCount)), // [example][query row] correct key position
  };
  const finish = (r: number, status: RunStatus, divergedAt: number | null, extra: Pick<Summary, 'interrupted_at' | 'error'> = {}): RunOutcome => {
    const summary: Summary = {
      status,
      diverged_at: divergedAt,
      ...extra,
      ...used,
      ...runFigures(rows[r], base.train.steps),
      ...claimRunFigures(writers[r], base.train.steps, task.layout.positions),
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
    const planned = configs.map((c, r) => ({
      seed: c.train.seed,
      lr: c.train.lr,
      resumed: resume && { state: resume[r].state, dataStream: resume[r].dataStream },
    }));
    const { spec, streams } = buildGroup(base.model, base.train, task, evalSet.encoded, planned, {
      startStep: resume?.[0].step ?? 0,
      divergedAt: resume?.map((r) => r.divergedAt),
      checkpointEvery: base.train.checkpointEvery,
      async onCheckpoint(step, states, divergedAt) {
        // The claims' trace up to here first, then the checkpoint: a kill between the two leaves a trace that
        // reaches past the older checkpoint (resume cuts it there), never a checkpoint whose trace is short.
        writers.forEach((w) => w.writeAttention(meta));
        states.forEach((state, r) =>
          saveCheckpoint(dirs[r], { step, state, dataStream: streams[r].state(), divergedAt: divergedAt[r] }, (p) => shapes.get(p)!),
        );
      },
      stopRequested: isStopRequested,
      snapshotExamples: SNAPSHOT_EXAMPLES,
      async onRows(stepRows) {
        await Promise.all(stepRows.map((row, r) => (row ? writers[r].appendRows([row]).then(() => rows[r].push(row)) : undefined)));
        const shown = stepRows.find((row) => row !== null);
        if (shown) progress?.update(shown.step, { loss: shown.eval_loss, acc: shown.eval_acc, stepsPerS: shown.steps_per_s });
        if (shown) opts.onProgress?.(shown.step, medianLoss(stepRows));
      },
      async onClaims(step, readouts) {
        readouts.forEach((c, r) => writers[r].addTrace({ step, weights: c.trace }, c.valueNorm));
      },
      async onSnapshot(snapshots) {
        snapshots.forEach((s, r) => writers[r].addSnapshot(s, meta));
      },
      onEngine(engine) {
        backend = engine.backend;
        used = { kernel: engine.kernel, kernel_impl: engine.implementation, precision: engine.precision };
      },
    });
    const result = await trainGroup({ ...spec, backend: opts.backend });
    if (result.stoppedAt !== null) return result.divergedAt.map((at, r) => finish(r, 'interrupted', at, { interrupted_at: result.stoppedAt }));
    return result.divergedAt.map((at, r) => finish(r, at === null ? 'completed' : 'diverged', at));
  } catch (err) {
    // A full disk or a refused write is no fault of the run: it keeps its last good checkpoint and
    // resumes once there is room, so it reads 'interrupted'. Anything else is a real failure.
    const env = asEnvironmentError(err);
    const status: RunStatus = env instanceof EnvironmentError ? 'interrupted' : 'failed';
    const error = env instanceof Error ? env.message : String(env);
    configs.forEach((_, r) =>
      markEnded(
        () => finish(r, status, null, { error }),
        () => writers[r].setStatus(status),
      ),
    );
    throw env;
  } finally {
    progress?.stop();
  }
}

/** Records how a run ended as fully as the disk allows: summary and status, else the status alone; the caller's error says why. */
function markEnded(full: () => unknown, statusOnly: () => void): void {
  try {
    full();
  } catch {
    try {
      statusOnly();
    } catch {
      // nothing more can be written here; the error being thrown names the cause
    }
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
  return join(parent, `${cfg.name}-${variantLabel(cfg.model, cfg.modules)}${withSeed ? `-s${cfg.train.seed}` : ''}${stamp ? `-${stamp}` : ''}`);
}
