/**
 * The training loop for a group of R runs with one shape. It knows nothing about tasks: batches and the
 * eval set arrive as encoded typed arrays, and everything it measures goes out through hooks.
 */
import type { Engine, EngineSpec, KernelChoice } from './engine.js';
import type { GroupSpec, GroupResult } from './spec.js';
import type { MetricsRow } from '../records/formats.js';
import type { BackendChoice } from '../backend-names.js';
import { FusedEngine } from './fusedEngine.js';
import { lrAt, logSteps } from './schedule.js';
import { isModulePath } from '../modulePath.js';

export type { KernelChoice, GroupSpec, GroupResult };
export { lrAt, logSteps }; // the schedule lives in schedule.ts, where nothing loads TensorFlow.js

/**
 * Whether a group trains on the tfjs graph: when asked for, or when the variant is a user's module, whose keys only
 * the graph computes (config validation refuses `fused` there). Everything else takes the WebAssembly kernel.
 */
export function trainsOnGraph(model: { attention: string }, choice: KernelChoice = 'auto'): boolean {
  return choice === 'tfjs' || isModulePath(model.attention);
}

/**
 * A named backend is loaded at once, so that one that is not installed is a one-line error before anything is
 * written; `auto` is left to makeEngine, which loads TensorFlow.js only for the graph (the kernel needs none).
 */
export async function checkBackend(choice: BackendChoice): Promise<void> {
  if (choice !== 'auto') await (await import('../backend.js')).initBackend(choice);
}

/**
 * The engine for a group, and the tfjs backend it runs on: 'none' for the kernel, which never loads TensorFlow.js
 * (142 MB, about 0.4 s of a process's start); the graph loads it here, with the backend `backend` asks for.
 */
export async function makeEngine(
  spec: EngineSpec,
  choice: KernelChoice = 'auto',
  backend: BackendChoice = 'auto',
): Promise<{ engine: Engine; backend: string }> {
  if (!trainsOnGraph(spec.model, choice)) return { engine: new FusedEngine(spec), backend: 'none' };
  const [{ initBackend }, { TfjsEngine }] = await Promise.all([import('../backend.js'), import('./tfjsEngine.js')]);
  const name = await initBackend(backend);
  return { engine: new TfjsEngine(spec), backend: name };
}

export async function trainGroup(spec: GroupSpec): Promise<GroupResult> {
  const { model } = spec;
  const R = spec.lrs.length;
  const { engine, backend } = await makeEngine(
    { model, layout: spec.layout, initial: spec.initial, evalSet: spec.evalSet, snapshotExamples: spec.snapshotExamples, precision: spec.precision },
    spec.kernel,
    spec.backend,
  );
  const used = { kernel: engine.kernel, implementation: engine.implementation, precision: engine.precision, backend };
  const divergedAt: (number | null)[] = spec.divergedAt ? [...spec.divergedAt] : new Array(R).fill(null);
  const start = spec.startStep ?? 0;
  const every = spec.checkpointEvery ?? 0;
  const { logged, snapshots } = logSteps(spec.steps, spec.logEvery);
  const toLog = new Set(logged);
  const started = performance.now();
  try {
    spec.onEngine?.(used); // inside the try: a hook that throws still frees the engine
    for (let step = start; step <= spec.steps; step++) {
      // Checkpoints sit at step boundaries, before the step's batch is drawn, so a resume replays exactly.
      const stopping = spec.stopRequested?.() ?? false;
      const due = step > start && (step === spec.steps || (every > 0 && step % every === 0));
      if (spec.onCheckpoint && (due || (stopping && step > start))) await spec.onCheckpoint(step, engine.state(), [...divergedAt]);
      if (stopping) return { ...used, divergedAt, stoppedAt: step };
      const isLog = toLog.has(step);
      const lrs = spec.lrs.map((base, r) => (divergedAt[r] === null ? lrAt(base, step, spec.warmup) : 0));
      const batches = spec.nextBatches();
      // A row is measured before this step's update: evaluate first, so row 0 is the initialisation.
      const ev = isLog ? engine.evaluate(snapshots.has(step), step === spec.steps) : null;
      const { loss, norms } = engine.step(batches, step < spec.steps ? lrs : null, step + 1, isLog);
      for (let r = 0; r < R; r++) {
        if (divergedAt[r] === null && !Number.isFinite(loss[r])) divergedAt[r] = step;
      }
      if (!ev || !norms) continue;
      const elapsed = (performance.now() - started) / 1000;
      const stepsDone = step - start;
      const rows = spec.lrs.map((_, r): MetricsRow | null => {
        if (divergedAt[r] !== null && divergedAt[r]! < step) return null; // a diverged run stops logging
        const row: MetricsRow = {
          step,
          lr: lrs[r],
          train_loss: loss[r],
          eval_loss: ev.loss[r],
          eval_acc: ev.acc[r],
          attn_entropy: ev.entropy[r],
          attn_entropy_norm: ev.entropyNorm[r],
          attn_max_logit: ev.maxLogit[r],
          retrieval_mass: ev.retrieval.reduce((a, layer) => a + layer[r], 0) / ev.retrieval.length,
          scaffold_share: ev.scaffold[r],
          grad_norm: Math.sqrt(norms.reduce((a, n) => a + n[r], 0)),
          grad_norm_wq: Math.sqrt(norms[1][r]),
          grad_norm_wk: model.attention === 'qkv' ? Math.sqrt(norms[2][r]) : null, // only qkv has W_K
          grad_norm_wv: Math.sqrt(norms[3][r]),
          elapsed_s: elapsed,
          steps_per_s: stepsDone / Math.max(elapsed, 1e-9),
        };
        if (ev.retrieval.length > 1) ev.retrieval.forEach((layer, l) => (row[`retrieval_mass_l${l}`] = layer[r]));
        return row;
      });
      await spec.onClaims?.(step, ev.claims);
      await spec.onRows(rows);
      if (ev.snapshots) await spec.onSnapshot(ev.snapshots.map((layers) => ({ step, layers })));
    }
  } finally {
    engine.dispose();
  }
  return { ...used, divergedAt, stoppedAt: null };
}
