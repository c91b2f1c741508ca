/**
 * Per-run figures for the seed's claims (METRICS.md, "The seed's claims"): the attention trace of the fixed
 * snapshot examples at every logged step (for attention volatility), and at the final evaluation the value-norm
 * figures (Spearman ρ between a wrong position's attention weight and its value norm, and the top-norm hit rate).
 * Plain loops over the arrays the engines hand over, so tests can hand-compute every figure.
 */
import { sampleRankCorrelation } from 'simple-statistics';
import type { Layout } from '../tasks/types.js';
import type { TracePoint, ValueNormFigures } from '../records/formats.js';

export type { TracePoint, ValueNormFigures };

/** What one evaluation hands out per run: the trace row (always) and the value-norm figures (final evaluation). */
export interface ClaimReadout {
  trace: number[]; // the last layer's attention of the k fixed examples, flattened [k][H][S][N]
  valueNorm: ValueNormFigures | null;
}

/**
 * What the value norms are read from: the last layer's input x [R, B, N, d] and W_V [R, d, d], as every built-in
 * variant's values are x·W_V; or, for a user's variant that computes its own values, their norms [R, B, H, N].
 */
export type ValueInputs = { x: Float32Array; wV: Float32Array } | { norms: Float32Array };

/**
 * One readout per run from the last layer's weights [R, B, H, S, N] over the eval set: the first k examples'
 * rows as the trace, and, given `inputs` (final evaluation), the value-norm figures.
 */
export function claimReadouts(
  weights: Float32Array,
  shape: { R: number; B: number; H: number; d: number },
  k: number,
  inputs: ValueInputs | null,
  sources: ArrayLike<number>,
  layout: Layout,
): ClaimReadout[] {
  const { R, B, H, d } = shape;
  const { positions: N, queryCount: S } = layout;
  const perRun = B * H * S * N;
  const traceLength = k * H * S * N;
  return Array.from({ length: R }, (_, r) => ({
    trace: Array.from(weights.subarray(r * perRun, r * perRun + traceLength)),
    valueNorm: inputs
      ? valueNormFigures(weights.subarray(r * perRun, (r + 1) * perRun), valueNorms(inputs, r, { B, H, N, d }), sources, {
          B,
          H,
          S,
          N,
          queryStart: layout.queryStart,
          causal: layout.causal,
          content: layout.contentPositions,
        })
      : null,
  }));
}

/** ‖V_j,h‖ = ‖x_j·W_V,h‖ of run r, per example, head and position: [B, H, N]. Head h reads columns [h·d/H, (h+1)·d/H). */
export function valueNorms(inputs: ValueInputs, r: number, shape: { B: number; H: number; N: number; d: number }): Float64Array {
  const { B, H, N, d } = shape;
  if ('norms' in inputs) return Float64Array.from(inputs.norms.subarray(r * B * H * N, (r + 1) * B * H * N));
  const width = d / H;
  const wV = inputs.wV.subarray(r * d * d, (r + 1) * d * d); // [d, d]
  const out = new Float64Array(B * H * N);
  const value = new Float64Array(d);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const x = inputs.x.subarray(((r * B + b) * N + n) * d, ((r * B + b) * N + n + 1) * d); // [d]
      value.fill(0);
      for (let i = 0; i < d; i++) for (let c = 0; c < d; c++) value[c] += x[i] * wV[i * d + c];
      for (let h = 0; h < H; h++) {
        let sq = 0;
        for (let c = h * width; c < (h + 1) * width; c++) sq += value[c] * value[c];
        out[(b * H + h) * N + n] = Math.sqrt(sq);
      }
    }
  }
  return out;
}

export interface RowShape {
  B: number;
  H: number;
  S: number;
  N: number;
  queryStart: number;
  causal: boolean;
  /** Positions [0, content) hold task content; only those are candidates (the query slot and output slots are not). */
  content: number;
}

/**
 * Value-norm figures of one run. `weights` [B][H][S][N], `norms` [B][H][N], `sources` [B][S] the correct source
 * position per supervised row. A row's candidates are the content positions it may see, minus its correct source:
 * the query slot attending to itself (lookup) or to output slots (copy) is not a match that can be noisy.
 */
export function valueNormFigures(
  weights: ArrayLike<number>,
  norms: ArrayLike<number>,
  sources: ArrayLike<number>,
  shape: RowShape,
): ValueNormFigures {
  const { B, H, S, N, queryStart, causal, content } = shape;
  let rhoSum = 0;
  let hits = 0;
  let chance = 0;
  let rows = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < S; i++) {
        const visible = Math.min(causal ? queryStart + i + 1 : N, content);
        const source = sources[b * S + i];
        const p: number[] = [];
        const v: number[] = [];
        for (let j = 0; j < visible; j++) {
          if (j === source) continue;
          p.push(weights[((b * H + h) * S + i) * N + j]);
          v.push(norms[(b * H + h) * N + j]);
        }
        const rho = rankCorrelation(p, v);
        if (rho === null) continue;
        rhoSum += rho;
        if (argMax(p) === argMax(v)) hits++;
        chance += 1 / p.length;
        rows++;
      }
    }
  }
  return rows ? { rho: rhoSum / rows, top_hit: hits / rows, chance: chance / rows, rows } : { rho: null, top_hit: null, chance: null, rows: 0 };
}

/** Spearman ρ with average ranks for ties; null for fewer than 3 points or a constant side (ρ undefined). */
export function rankCorrelation(x: number[], y: number[]): number | null {
  if (x.length < 3 || isConstant(x) || isConstant(y)) return null;
  const rho = sampleRankCorrelation(x, y);
  return Number.isFinite(rho) ? rho : null;
}

const isConstant = (xs: number[]) => xs.every((v) => v === xs[0]);

function argMax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** ½ Σ |p − q| averaged over the rows of two flattened row stacks of width `width`. */
export function meanTotalVariation(p: ArrayLike<number>, q: ArrayLike<number>, width: number): number {
  if (p.length !== q.length || p.length % width !== 0 || p.length === 0)
    throw new Error(`meanTotalVariation: shapes differ (${p.length} vs ${q.length}, rows of ${width})`);
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += Math.abs(p[i] - q[i]);
  return sum / 2 / (p.length / width);
}

/**
 * Attention volatility: the mean TV between consecutive logged steps, over the pairs whose earlier step is in the
 * second half of training (≥ steps/2). Null when there is no such pair.
 */
export function attentionVolatility(trace: readonly TracePoint[], steps: number, positions: number): number | null {
  const sorted = [...trace].sort((a, b) => a.step - b.step);
  const tvs: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1].step < steps / 2) continue;
    tvs.push(meanTotalVariation(sorted[i - 1].weights, sorted[i].weights, positions));
  }
  return tvs.length ? tvs.reduce((a, b) => a + b, 0) / tvs.length : null;
}
