/** Gathers the chart data (curves, end points, heatmaps, width) from loaded runs and their analysis. */
import type { LoadedRun } from './collect.js';
import type { Analysis } from './analyse.js';
import { flatten, finalLoss, seriesLabel } from './analyse.js';
import type { CurvePoint, FinalPoint, Heatmap, ReportData, WidthPoint } from './types.js';

export function buildReportData(title: string, runs: LoadedRun[], a: Analysis, markdown: string): ReportData {
  const differing = Object.keys(a.differing);
  const labels = new Map(runs.map((run) => [run, seriesLabel(flatten(run.config), differing)]));
  const seriesOf = (run: LoadedRun) => labels.get(run)!;
  const curves: CurvePoint[] = runs.flatMap((run) =>
    run.rows.map((row) => ({
      series: seriesOf(run),
      variant: run.config.model.attention,
      lr: run.config.train.lr,
      seed: run.config.train.seed,
      step: row.step,
      eval_loss: row.eval_loss,
      attn_entropy_norm: row.attn_entropy_norm,
      retrieval_mass: row.retrieval_mass,
    })),
  );
  const finals: FinalPoint[] = runs.map((run) => ({
    series: seriesOf(run),
    variant: run.config.model.attention,
    lr: run.config.train.lr,
    seed: run.config.train.seed,
    final_eval_loss: finalLoss(run), // ℓ₀ for a diverged run, as the sensitivity statistic counts it
    diverged: run.summary.status === 'diverged',
  }));
  const width: WidthPoint[] | null =
    differing.length === 1 && differing[0] === 'model.dModel'
      ? a.series.filter((s) => s.verdict).map((s) => ({ dModel: s.dModel, ratio: s.verdict!.ratio, p: s.verdict!.p, holds: s.verdict!.holds }))
      : null;
  return { title, curves, finals, heatmaps: heatmaps(runs, seriesOf), width, markdown };
}

/** For each series, QKV beside QV at the middle swept LR and the smallest seed, from the final snapshot. */
function heatmaps(runs: LoadedRun[], seriesOf: (r: LoadedRun) => string): Heatmap[] {
  const out: Heatmap[] = [];
  for (const series of [...new Set(runs.map(seriesOf))]) {
    const mine = runs.filter((r) => seriesOf(r) === series && r.attention?.snapshots.length);
    if (!mine.length) continue;
    const lrs = [...new Set(mine.map((r) => r.config.train.lr))].sort((a, b) => a - b);
    const lr = lrs[Math.floor((lrs.length - 1) / 2)];
    const seed = Math.min(...mine.map((r) => r.config.train.seed));
    for (const variant of ['qkv', 'qv']) {
      const run = mine.find((r) => r.config.model.attention === variant && r.config.train.lr === lr && r.config.train.seed === seed);
      if (run) out.push(heatmapOf(run, series));
    }
  }
  return out;
}

function heatmapOf(run: LoadedRun, series: string): Heatmap {
  const att = run.attention!;
  const snap = att.snapshots.at(-1)!;
  const layer = snap.layers.at(-1)!; // the last layer: the one whose output is read
  const { queryStart, queryCount: S, positions: N } = att.layout;
  const sources: number[] = (att as unknown as { sources?: number[] }).sources ?? [];
  const rowLabels: string[] = [];
  const weights: number[][] = [];
  const correct: number[] = [];
  layer.examples.forEach((example, e) => {
    const head = example[0]; // [Sq][N]; first head
    head.forEach((row, i) => {
      rowLabels.push(S > 1 ? `ex ${e} · pos ${queryStart + i}` : `example ${e}`);
      weights.push(row);
      correct.push(sources[e * S + i] ?? -1);
    });
  });
  const colLabels = Array.from({ length: N }, (_, j) => (j === queryStart && S === 1 ? 'query' : `pos ${j}`));
  return { series, variant: run.config.model.attention, lr: run.config.train.lr, seed: run.config.train.seed, step: snap.step, rowLabels, colLabels, weights, correct };
}
