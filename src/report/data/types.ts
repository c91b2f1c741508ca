/**
 * What the charts draw. The renderers know nothing about runs or statistics: every number here is
 * already computed (build.ts), so a chart file only lays numbers out.
 */

/** One logged row of one run, reduced to what the curve charts show. */
export interface CurvePoint {
  series: string; // the settings that differ between compared groups, apart from attention and lr (e.g. "dModel=16"); '' when there is one
  variant: string; // 'qkv' | 'qv'
  lr: number;
  seed: number;
  step: number;
  eval_loss: number;
  attn_entropy_norm: number;
  retrieval_mass: number;
}

/** One run's end point, for the Wortsman-style sensitivity curve (final loss against LR). */
export interface FinalPoint {
  series: string;
  variant: string;
  lr: number;
  seed: number;
  final_eval_loss: number; // a diverged run carries ℓ₀ here, as METRICS.md defines
  diverged: boolean;
}

/**
 * One layer's attention weights for a few fixed eval examples at the end of one run: rows = examples × query rows,
 * cols = key positions. A layer below the last covers every query position; the last only the supervised rows.
 */
export interface Heatmap {
  series: string;
  variant: string;
  lr: number;
  seed: number;
  step: number;
  layer: number; // 1-based
  layers: number; // how many attention layers the run has
  rowLabels: string[];
  colLabels: string[];
  weights: number[][]; // [rows][cols], each row sums to 1
  correct: number[]; // per row, the column index of the correct source position; -1 where the task defines none (a layer below the last)
}

/** LR-sensitivity ratio QV/QKV for one head width (only when the compared groups differ in model.dModel). */
export interface WidthPoint {
  dModel: number;
  ratio: number; // mean LRsens(QV) / mean LRsens(QKV)
  p: number; // one-sided exact Mann–Whitney U
  holds: boolean;
}

/** One seed's LR sensitivity: the statistic the verdict tests. */
export interface SensitivityPoint {
  series: string;
  variant: string;
  seed: number;
  value: number;
}

/** One series' verdict test: QV's per-seed sensitivities against QKV's. */
export interface VerdictPoint {
  series: string;
  ratio: number;
  u: number;
  p: number;
  holds: boolean;
  qv: number; // seeds
  qkv: number;
  /** The smallest p these seed counts allow, when it is not below ALPHA (no data could make the verdict hold); else null. */
  pFloor: number | null;
}

export interface ReportData {
  title: string;
  curves: CurvePoint[];
  finals: FinalPoint[];
  heatmaps: Heatmap[];
  width: WidthPoint[] | null;
  /** What each variant (by its label) isolates, for the legends. */
  isolates: Record<string, string>;
  /** The verdict's statistic per seed and its test per series; absent in reports built without an analysis. */
  sensitivity?: SensitivityPoint[];
  verdicts?: VerdictPoint[];
}
