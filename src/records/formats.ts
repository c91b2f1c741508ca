/**
 * Every record a run directory holds, in one place: the metrics.csv columns (and the row type derived from
 * them), the attention.json layout, the checkpoint's state and the run status. Writers and readers both
 * import from here, so a format is defined once and nothing imports the trainer for a type.
 */
import type { Layout } from '../tasks/types.js';

/** metrics.csv, in column order. Definitions: src/metrics/METRICS.md. */
export const METRIC_COLUMNS = [
  'step',
  'lr',
  'train_loss',
  'eval_loss',
  'eval_acc',
  'attn_entropy',
  'attn_entropy_norm',
  'attn_max_logit',
  'retrieval_mass',
  'scaffold_share',
  'grad_norm',
  'grad_norm_wq',
  'grad_norm_wk',
  'grad_norm_wv',
  'elapsed_s',
  'steps_per_s',
] as const;

/** Columns added after runs were already being written (with the date): a reader finds them missing in older runs. */
export const ADDED_COLUMNS: readonly string[] = ['scaffold_share']; // 2026-12-02

/** One metrics.csv row: a number per column, grad_norm_wk empty (null) for the keyless variant, and per-layer retrieval mass with several layers. */
export type MetricsRow = { [column in Exclude<(typeof METRIC_COLUMNS)[number], 'grad_norm_wk'>]: number } & {
  grad_norm_wk: number | null;
  [perLayer: `retrieval_mass_l${number}`]: number;
};

/** Per layer and head, attention weights at one step: a few fixed eval examples and the eval-set mean. */
export type SnapshotLayers = { examples: number[][][][]; mean: number[][][] }[]; // examples[e][h][row][key], mean[h][row][key]

export interface AttentionSnapshot {
  step: number;
  layers: SnapshotLayers;
}

/** The claims' attention trace: the last layer's rows of the fixed snapshot examples at one logged step. */
export interface TracePoint {
  step: number;
  weights: number[]; // [k][H][S][N] flattened
}

/** One run's value-norm figures at one evaluation; null where no row had a defined ρ. */
export interface ValueNormFigures {
  rho: number | null; // mean Spearman ρ over rows
  top_hit: number | null; // share of rows whose most-attended wrong position has the largest value norm
  chance: number | null; // mean of 1/(wrong positions) over the same rows
  rows: number; // rows with a defined ρ
}

/** attention.json. */
export interface AttentionFile {
  task: string;
  eval_file: string;
  layout: Layout;
  examples: unknown[]; // the snapshot examples as the task stores them
  sources: number[]; // [example][query row] the correct source position
  snapshots: AttentionSnapshot[];
  trace: TracePoint[];
  value_norm: (ValueNormFigures & { step: number }) | null;
}

/** Everything a run needs to continue exactly: parameters and, after step 0, Adam's moments. */
export interface RunState {
  params: Map<string, Float32Array>;
  m?: Map<string, Float32Array>;
  v?: Map<string, Float32Array>;
}

export type RunStatus = 'running' | 'completed' | 'diverged' | 'interrupted' | 'failed';
