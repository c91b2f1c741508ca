/**
 * The arithmetic the kernel's regrouped one-layer pass (assembly/fused.ts) does, counted from the shapes: floating-point operations of
 * one training step (forward, backward, Adam) and of one evaluation, per run. A multiply-add counts as 2, an add
 * or a multiply as 1, an exp, a log or a square root as 1. The count follows the kernel's loops term by term, so
 * the bench can set the achieved GFLOP/s against what the hardware does (`npm run bench`).
 */
import type { Layout } from '../tasks/types.js';
import type { ModelConfig } from './schema.js';

const MA = 2; // one multiply-add
/** Adam's arithmetic per parameter and step (moments, bias corrections, the update). */
export const ADAM_FLOPS_PER_PARAMETER = 12;

export interface StepFlops {
  forward: number; // per example
  backward: number; // per example
  perStep: number; // once per step and run: the projected tables, the outer-product gradients, Adam
  training: number; // one training step of one run: B·(forward + backward) + perStep
  evaluation: number; // one evaluation of one run on `evalSize` examples (forward only)
}

/** Floating-point operations of the fused kernel for one run (see the file comment for the conventions). */
export function stepFlops(cfg: ModelConfig, layout: Layout, batch: number, evalSize: number, parameters: number): StepFlops {
  const { dModel: d, heads: H } = cfg;
  const dh = d / H;
  const { positions: N, inputVocab: V, featuresPerPosition: F, outputVocab: C, queryStart, queryCount: S, causal } = layout;
  const visible = Array.from({ length: S }, (_, i) => (causal ? queryStart + i + 1 : N));

  let forward = N * d * (F + 1); // x_j = s·(Σ table rows + pos)
  let backward = N * d * (F + 1); // back into the table and position rows
  for (const v of visible) {
    for (let h = 0; h < H; h++) {
      if (cfg.qkNorm)
        forward += d * dh * MA + 4 * dh + v * dh * MA; // q, its RMSNorm, q̂·k̂_j
      else forward += d * (F + 2) + v * d * MA; // u from projected rows, u·x_j
      forward += 3 * v + v * d * MA + d * dh * MA; // softmax, x̄, x̄·W_V
      backward += d * dh * MA + v * d * MA + 2 * v; // ∂x̄, ∂p, ∂a
      backward += cfg.qkNorm
        ? v * d * MA + v * dh * MA * 2 + 6 * dh + d * dh * MA * 2 // values' branch, ∂q̂ and ∂k̂, RMSNorm, ∂W_Q and ∂x_t
        : v * d * MA * 3 + (F + 1) * d * MA; // ∂u, ∂x_j (two terms), into the projected rows
    }
    forward += 8 * d + d * C * MA + 3 * C; // LayerNorm, unembedding, cross-entropy
    backward += 2 * C + d * C * MA + 10 * d; // ∂logits, ∂z, LayerNorm
  }
  if (cfg.qkNorm) {
    forward += H * N * (d * dh * MA + 4 * dh); // keys and their RMSNorm, once per example
    backward += H * N * (6 * dh + d * dh * MA * 2); // ∂k_j through RMSNorm, ∂W_K and ∂x_j
  }
  const rows = batch * S;
  const tables = cfg.qkNorm ? 0 : H * (d * d * dh + (V + N) * d * d) * MA; // M_h and the projected tables (regrouped path)
  const perStep =
    tables +
    H * d * dh * rows * MA + // ∂W_V
    d * C * rows * MA + // ∂W_unembed
    H * d * d * (V + N) * MA * 3 + // ∂M_h, and back into the table and position rows
    H * d * dh * d * MA * 2 + // ∂W_Q, ∂W_K from ∂M_h
    ADAM_FLOPS_PER_PARAMETER * parameters; // Adam
  return { forward, backward, perStep, training: batch * (forward + backward) + perStep, evaluation: tables + evalSize * forward };
}

/**
 * The same count for the kernel's lane path (assembly/lanes.ts), which every other built-in model takes. Layer l
 * queries every position, the last only the S supervised. Layer 0 projects through the embedding tables where
 * usesTables says so: the V + N rows once a step (in perStep), then per example a sum of F + 1 projected rows per
 * position. The last layer mixes its inputs and projects the mixtures where regroupsValues says so.
 */
export function deepStepFlops(cfg: ModelConfig, layout: Layout, batch: number, evalSize: number, parameters: number): StepFlops {
  const train = lanePassFlops(cfg, layout, batch);
  const evaluation = lanePassFlops(cfg, layout, evalSize);
  const perStep = train.tables * 3 + ADAM_FLOPS_PER_PARAMETER * parameters; // the tables forward, ∂W and ∂(table, pos) from them; Adam
  return {
    forward: train.forward,
    backward: train.backward,
    perStep,
    training: batch * (train.forward + train.backward) + perStep,
    evaluation: evaluation.tables + evalSize * evaluation.forward,
  };
}

/** Per example forward and backward of one lane-path pass over B examples, and its tables' forward once. */
function lanePassFlops(cfg: ModelConfig, layout: Layout, B: number): { forward: number; backward: number; tables: number } {
  const { dModel: d, layers: L, heads: H } = cfg;
  const { positions: N, inputVocab: V, featuresPerPosition: F, outputVocab: C, queryStart, queryCount: S, causal } = layout;
  const projectsKeys = cfg.attention === 'qkv' || cfg.attention === 'qq'; // qv's keys are its values, qx's the input
  const tablesUsed = usesTables(cfg, layout, B);
  let forward = N * d * (F + 1);
  let backward = N * d * (F + 1);
  let tables = 0;
  for (let l = 0; l < L; l++) {
    const last = l === L - 1;
    const rows = last ? S : N;
    const start = last ? queryStart : 0;
    const seen = Array.from({ length: rows }, (_, i) => (causal ? start + i + 1 : N)).reduce((a, b) => a + b, 0); // Σ visible keys
    const mixesInputs = last && regroupsValues(cfg, layout);
    const projected = rows + (mixesInputs ? 0 : N) + (projectsKeys ? N : 0); // rows through Q, V and K
    if (l === 0 && tablesUsed) {
      tables += tableProjections(cfg, layout) * (V + N) * d * d * MA;
      forward += projected * d * (F + 1); // the projected rows' sums
      backward += projected * d * (F + 1); // into the projected rows' gradients
    } else {
      forward += projected * d * d * MA;
      backward += projected * d * d * MA * 2; // each projection's ∂W and ∂x
    }
    if (cfg.qkNorm) {
      forward += (rows + N) * 4 * d;
      backward += (rows + N) * 6 * d;
    }
    forward += seen * d * MA + 3 * seen + rows * 8 * d; // scores, softmax; LayerNorm
    backward += seen * d * MA * 2 + 2 * seen + rows * 10 * d; // ∂q and ∂k, ∂a; LayerNorm
    if (mixesInputs) {
      forward += (seen * d * H + rows * d * d) * MA; // x̄ per head, x̄·W_V
      backward += (seen * d * H * 2 + rows * d * d * 2) * MA; // ∂p and ∂X_j; ∂x̄ and ∂W_V
    } else {
      forward += seen * d * MA; // p·V
      backward += seen * d * MA * 2; // ∂p and ∂V
    }
  }
  forward += S * (d * C * MA + 3 * C); // unembedding, cross-entropy
  backward += S * (2 * C + d * C * MA * 2); // ∂logits, ∂W_unembed and ∂z
  return { forward, backward, tables };
}

/** Layer 0's projections with tables of their own: Q, V unless regrouped, K for qkv (qq's keys use Q's). */
function tableProjections(cfg: ModelConfig, layout: Layout): number {
  const projectsValues = !(cfg.layers === 1 && regroupsValues(cfg, layout));
  return 1 + (projectsValues ? 1 : 0) + (cfg.attention === 'qkv' ? 1 : 0);
}

/**
 * Whether the lane path's layer 0 projects through the embedding tables for a batch of B: when the table rows are
 * fewer than the example rows it would project. lanesUsesTables in assembly/lanes.ts decides by the same rule.
 */
export function usesTables(cfg: ModelConfig, layout: Layout, B: number): boolean {
  const { positions: N, inputVocab: V, queryCount: S } = layout;
  const projectsValues = !(cfg.layers === 1 && regroupsValues(cfg, layout));
  const projectsKeys = cfg.attention === 'qkv' || cfg.attention === 'qq';
  const rows = (cfg.layers === 1 ? S : N) + (projectsValues ? N : 0) + (projectsKeys ? N : 0);
  return tableProjections(cfg, layout) * (V + N) < B * rows;
}

/**
 * Whether the lane path's last layer mixes its inputs and projects the S·H mixtures (values regrouped) rather than
 * projecting all N values: where that is less work, and never for qv, whose values are its keys. lanesShape in
 * assembly/lanes.ts decides by the same rule.
 */
export function regroupsValues(cfg: ModelConfig, layout: Layout): boolean {
  const { positions: N, queryCount: S } = layout;
  const dh = cfg.dModel / cfg.heads;
  return cfg.attention !== 'qv' && S * cfg.heads * (N + dh) < N * cfg.dModel;
}
