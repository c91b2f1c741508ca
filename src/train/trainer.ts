/**
 * The training loop for a group of R runs with one shape. It knows nothing about tasks: batches and the
 * eval set arrive as encoded typed arrays, and everything it measures goes out through hooks.
 */
import { tf } from '../backend.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { ModelConfig } from '../model/schema.js';
import { forward, crossEntropy, makeParams, disposeParams, oneHotInput, oneHotTargets, stackRuns, unstackRuns, type Params } from '../model/transformer.js';
import { attentionStats, statsInputs, type StatsInputs } from '../metrics/attention.js';
import { claimTensors, readClaims, type ClaimReadout, type ClaimTensors } from '../metrics/claims.js';
import { BatchedAdam } from './adam.js';

export interface MetricsRow {
  step: number;
  lr: number;
  train_loss: number;
  eval_loss: number;
  eval_acc: number;
  attn_entropy: number;
  attn_entropy_norm: number;
  attn_max_logit: number;
  retrieval_mass: number;
  grad_norm: number;
  grad_norm_wq: number;
  grad_norm_wk: number | null; // null (an empty cell) for the keyless variant
  grad_norm_wv: number;
  elapsed_s: number;
  steps_per_s: number;
  [perLayer: `retrieval_mass_l${number}`]: number;
}

/** Per layer and head, attention weights at one step: a few fixed eval examples and the eval-set mean. */
export interface AttentionSnapshot {
  step: number;
  layers: { examples: number[][][][]; mean: number[][][] }[]; // examples[e][h][row][key], mean[h][row][key]
}

export interface GroupSpec {
  model: ModelConfig;
  layout: Layout;
  steps: number;
  batchSize: number;
  warmup: number;
  logEvery: number;
  /** Base learning rate per run; R = lrs.length. */
  lrs: number[];
  /** Starting state per run: fresh parameters (see initialValues), or a checkpoint's parameters and moments. */
  initial: RunState[];
  /** The step the state belongs to: 0 for a fresh start, the checkpoint's step on resume. */
  startStep?: number;
  /** Runs already diverged at startStep (from a checkpoint). */
  divergedAt?: (number | null)[];
  /** Checkpoint every N steps (0 = only at the end); the hook receives every run's full state. */
  checkpointEvery?: number;
  onCheckpoint?(step: number, states: RunState[], divergedAt: (number | null)[]): Promise<void>;
  /** Polled at every step boundary; when true, the trainer checkpoints and returns early. */
  stopRequested?(): boolean;
  /** One training batch per run for the next step. */
  nextBatches(): Encoded[];
  evalSet: Encoded;
  /** How many eval examples an attention snapshot keeps. */
  snapshotExamples: number;
  onRows(rows: (MetricsRow | null)[]): Promise<void>;
  onSnapshot(snapshots: AttentionSnapshot[]): Promise<void>;
  /** At every logged step, per run: the claims' attention trace, and at the last step the value-norm figures. */
  onClaims?(step: number, readouts: ClaimReadout[]): Promise<void>;
}

export interface GroupResult {
  divergedAt: (number | null)[];
  /** The step the group stopped at when stopRequested() said so; null when it ran to the end. */
  stoppedAt: number | null;
}

/** Everything a run needs to continue exactly: parameters and, after step 0, Adam's moments. */
export interface RunState {
  params: Map<string, Float32Array>;
  m?: Map<string, Float32Array>;
  v?: Map<string, Float32Array>;
}

/** The learning rate at `step`: linear warmup to the base rate over `warmup` steps, constant after. */
export function lrAt(base: number, step: number, warmup: number): number {
  return warmup > 0 ? base * Math.min(1, (step + 1) / warmup) : base;
}

/** The logged steps: every logEvery, and always the last. Snapshots at the first, middle and last of them. */
export function logSteps(steps: number, logEvery: number): { logged: number[]; snapshots: Set<number> } {
  const logged: number[] = [];
  for (let s = 0; s < steps; s += logEvery) logged.push(s);
  logged.push(steps);
  const middle = logged.find((s) => s >= steps / 2) ?? steps;
  return { logged, snapshots: new Set([0, middle, steps]) };
}

export async function trainGroup(spec: GroupSpec): Promise<GroupResult> {
  const { model, layout } = spec;
  const R = spec.lrs.length;
  const params = makeParams(model, layout, spec.initial.map((s) => s.params));
  const resumed = spec.initial.every((s) => s.m && s.v);
  const stacked = (pick: (s: RunState) => Map<string, Float32Array>) =>
    new Map([...stackRuns(model, layout, spec.initial.map(pick))].map(([path, { values }]) => [path, values]));
  const adam = new BatchedAdam(params, resumed ? { m: stacked((s) => s.m!), v: stacked((s) => s.v!) } : undefined);
  const pathOf = new Map([...params].map(([path, v]) => [v.name, path]));
  const evalTensors = {
    input: oneHotInput([spec.evalSet], layout), // [1, Be·N, V], reused at every evaluation
    targets: oneHotTargets([spec.evalSet], layout), // [1, Be·S, C]
    classes: tf.tensor2d(spec.evalSet.targets, [1, spec.evalSet.targets.length], 'int32'), // [1, Be·S]
    stats: statsInputs(spec.evalSet, layout),
  };
  const divergedAt: (number | null)[] = spec.divergedAt ? [...spec.divergedAt] : new Array(R).fill(null);
  const start = spec.startStep ?? 0;
  const every = spec.checkpointEvery ?? 0;
  const snapshotState = (): RunState[] => {
    const p = unstackRuns(params);
    const m = unstackRuns(adam.m);
    const v = unstackRuns(adam.v);
    return p.map((params, r) => ({ params, m: m[r], v: v[r] }));
  };
  const { logged, snapshots } = logSteps(spec.steps, spec.logEvery);
  const toLog = new Set(logged);
  const started = performance.now();
  try {
    for (let step = start; step <= spec.steps; step++) {
      // Checkpoints sit at step boundaries, before the step's batch is drawn, so a resume replays exactly.
      const stopping = spec.stopRequested?.() ?? false;
      const due = step > start && (step === spec.steps || (every > 0 && step % every === 0));
      if (spec.onCheckpoint && (due || (stopping && step > start))) await spec.onCheckpoint(step, snapshotState(), [...divergedAt]);
      if (stopping) return { divergedAt, stoppedAt: step };
      const isLog = toLog.has(step);
      const lrs = spec.lrs.map((base, r) => (divergedAt[r] === null ? lrAt(base, step, spec.warmup) : 0));
      const batches = spec.nextBatches();
      // A row is measured before this step's update: evaluate first, so row 0 is the initialisation.
      const ev = isLog ? evaluate(params, spec, evalTensors, snapshots.has(step), step === spec.steps) : null;
      const measured: { loss?: tf.Tensor; norms?: tf.Tensor } = {};
      tf.tidy(() => {
        const input = oneHotInput(batches, layout); // [R, B·N, V]
        const targets = oneHotTargets(batches, layout); // [R, B·S, C]
        let lossPerRun: tf.Tensor | undefined;
        const { grads } = tf.variableGrads(() => {
          const { logits } = forward(params, model, layout, input, spec.batchSize);
          lossPerRun = tf.keep(crossEntropy(logits, targets)); // [R]; kept past variableGrads' own scope
          return tf.sum(lossPerRun) as tf.Scalar;
        }, [...params.values()]);
        const byPath = Object.fromEntries(Object.entries(grads).map(([name, g]) => [pathOf.get(name)!, g]));
        const norms = isLog ? gradNorms(byPath) : null; // [4, R], only when a row is written
        if (step < spec.steps) adam.update(byPath, tf.tensor1d(lrs), step + 1);
        measured.loss = lossPerRun;
        if (norms) measured.norms = tf.keep(norms);
      });
      const loss = measured.loss!.dataSync();
      measured.loss!.dispose();
      for (let r = 0; r < R; r++) {
        if (divergedAt[r] === null && !Number.isFinite(loss[r])) divergedAt[r] = step;
      }
      if (!ev) continue;
      const norms = measured.norms!.arraySync() as number[][];
      measured.norms!.dispose();
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
          grad_norm: Math.sqrt(norms.reduce((a, n) => a + n[r], 0)),
          grad_norm_wq: Math.sqrt(norms[1][r]),
          grad_norm_wk: model.attention === 'qkv' ? Math.sqrt(norms[2][r]) : null,
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
    adam.dispose();
    disposeParams(params);
    tf.dispose([evalTensors.input, evalTensors.targets, evalTensors.classes, ...Object.values(evalTensors.stats)]);
  }
  return { divergedAt, stoppedAt: null };
}

/** Squared gradient norms per run, grouped [other, w_q, w_k, w_v] → [4, R]. Call inside tf.tidy. */
function gradNorms(grads: Record<string, tf.Tensor>): tf.Tensor {
  const groups: tf.Tensor[][] = [[], [], [], []];
  for (const [path, g] of Object.entries(grads)) {
    const group = path.endsWith('/w_q') ? 1 : path.endsWith('/w_k') ? 2 : path.endsWith('/w_v') ? 3 : 0;
    groups[group].push(tf.sum(tf.square(tf.reshape(g, [g.shape[0], -1])), 1));
  }
  const R = Object.values(grads)[0].shape[0];
  return tf.stack(groups.map((g) => (g.length ? tf.addN(g) : tf.zeros([R]))));
}

interface EvalTensors {
  input: tf.Tensor;
  targets: tf.Tensor;
  classes: tf.Tensor;
  stats: StatsInputs;
}

/** One forward pass over the fixed eval set for all runs; no gradients, one read back. */
function evaluate(params: Params, spec: GroupSpec, t: EvalTensors, snapshot: boolean, final: boolean) {
  const { model, layout } = spec;
  const B = spec.evalSet.count;
  const k = Math.min(spec.snapshotExamples, B);
  const out: { packed?: tf.Tensor; snaps?: tf.Tensor[]; means?: tf.Tensor[]; claims?: ClaimTensors } = {};
  tf.tidy(() => {
    const { logits, layers, layerInputs } = forward(params, model, layout, t.input, B);
    out.claims = claimTensors(layers, layerInputs, params, model, k, final);
    const loss = crossEntropy(logits, t.targets); // [R]
    const acc = tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), t.classes), 'float32'), 1); // [R]
    const s = attentionStats(layers, layout, t.stats);
    out.packed = tf.keep(tf.stack([loss, acc, s.entropy, s.entropyNorm, s.maxLogit, ...s.retrieval])); // [5 + L, R]
    if (snapshot) {
      out.snaps = layers.map((layer) => tf.keep(tf.slice(layer.weights, [0, 0, 0, 0, 0], [-1, k, -1, -1, -1]))); // [R, k, H, Sq, N]
      out.means = layers.map((layer) => tf.keep(tf.mean(layer.weights, 1))); // [R, H, Sq, N]
    }
  });
  const [loss, acc, entropy, entropyNorm, maxLogit, ...retrieval] = out.packed!.arraySync() as number[][];
  out.packed!.dispose();
  let snapshots: AttentionSnapshot['layers'][] | null = null;
  if (out.snaps && out.means) {
    const ex = out.snaps.map((s) => s.arraySync() as number[][][][][]);
    const mean = out.means.map((m) => m.arraySync() as number[][][][]);
    tf.dispose([...out.snaps, ...out.means]);
    snapshots = spec.lrs.map((_, r) => ex.map((layerEx, l) => ({ examples: layerEx[r], mean: mean[l][r] })));
  }
  const claims = readClaims(out.claims!, spec.evalSet, layout);
  return { loss, acc, entropy, entropyNorm, maxLogit, retrieval, snapshots, claims };
}
