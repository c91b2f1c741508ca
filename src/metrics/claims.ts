/**
 * Per-run figures for the seed's claims (METRICS.md, "The seed's claims"): the attention trace of the fixed
 * snapshot examples at every logged step (for attention volatility), and at the final evaluation the value-norm
 * figures (Spearman ρ between a wrong position's attention weight and its value norm, and the top-norm hit rate).
 * The tensor side only slices and reads back; the figures themselves are pure TS, so tests can hand-compute them.
 */
import { sampleRankCorrelation } from 'simple-statistics';
import { tf } from '../backend.js';
import type { AttentionResult } from '../model/attention.js';
import type { ModelConfig } from '../model/schema.js';
import type { Layout, Encoded } from '../tasks/types.js';
import type { TracePoint, ValueNormFigures } from '../records/formats.js';

export type { TracePoint, ValueNormFigures };

/** What one evaluation hands out per run: the trace row (always) and the value-norm figures (final evaluation). */
export interface ClaimReadout {
  trace: number[]; // the last layer's attention of the k fixed examples, flattened [k][H][S][N]
  valueNorm: ValueNormFigures | null;
}

/** Tensors kept past the evaluation's tidy; `readClaims` reads and disposes them. */
export interface ClaimTensors {
  trace: tf.Tensor; // [R, k, H, S, N]
  weights?: tf.Tensor; // [R, B, H, S, N]
  norms?: tf.Tensor; // [R, B, H, N]: ‖x_j·W_V,h‖
}

/**
 * Inside the evaluation's tf.tidy: slices what the claims need from the forward pass and keeps it. `inputs`,
 * given at the final evaluation only, are the last layer's input x [R, B, N, d] and its W_V [R, d, d].
 */
export function claimTensors(
  layers: Pick<AttentionResult, 'weights'>[],
  cfg: ModelConfig,
  k: number,
  inputs: { x: tf.Tensor; wV: tf.Tensor } | null,
): ClaimTensors {
  const last = layers.length - 1;
  const weights = layers[last].weights; // [R, B, H, S, N]: the last layer only holds the supervised rows
  const out: ClaimTensors = { trace: tf.keep(tf.slice(weights, [0, 0, 0, 0, 0], [-1, k, -1, -1, -1])) };
  if (inputs) {
    const x = inputs.x; // [R, B, N, d]: what the last layer reads
    const [R, B, N, d] = x.shape as number[];
    const H = cfg.heads;
    const values = tf.matMul(tf.reshape(x, [R, B * N, d]), inputs.wV); // [R, B·N, d]
    const norms = tf.sqrt(tf.sum(tf.square(tf.reshape(values, [R, B, N, H, d / H])), -1)); // [R, B, N, H]
    out.weights = tf.keep(weights);
    out.norms = tf.keep(tf.transpose(norms, [0, 1, 3, 2])); // [R, B, H, N]
  }
  return out;
}

/** Reads the kept tensors back (and disposes them): one readout per run. */
export function readClaims(t: ClaimTensors, evalSet: Encoded, layout: Layout): ClaimReadout[] {
  const [R, k, H, S, N] = t.trace.shape as number[];
  const trace = t.trace.dataSync() as Float32Array;
  const per = k * H * S * N;
  let weights: Float32Array | null = null;
  let norms: Float32Array | null = null;
  if (t.weights && t.norms) {
    weights = t.weights.dataSync() as Float32Array;
    norms = t.norms.dataSync() as Float32Array;
  }
  tf.dispose([t.trace, t.weights, t.norms].filter((x): x is tf.Tensor => !!x));
  const B = evalSet.count;
  return Array.from({ length: R }, (_, r) => ({
    trace: Array.from(trace.subarray(r * per, (r + 1) * per)),
    valueNorm:
      weights && norms
        ? valueNormFigures(
            weights.subarray(r * B * H * S * N, (r + 1) * B * H * S * N),
            norms.subarray(r * B * H * N, (r + 1) * B * H * N),
            evalSet.sources,
            { B, H, S, N, queryStart: layout.queryStart, causal: layout.causal, content: layout.contentPositions },
          )
        : null,
  }));
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
