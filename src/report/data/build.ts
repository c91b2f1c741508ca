/** Gathers the chart data (curves, end points, heatmaps, width) from loaded runs and their analysis. */
import type { LoadedRun } from './collect.js';
import type { Analysis } from '../../analysis/analyse.js';
import { flatten, finalLoss, seriesLabel, variantOf } from '../../analysis/analyse.js';
import { unreachableFloor } from '../../analysis/power.js';
import type { CurvePoint, FinalPoint, Heatmap, ReportData, WidthPoint } from './types.js';

export function buildReportData(title: string, runs: LoadedRun[], a: Analysis): ReportData {
  const differing = Object.keys(a.differing);
  const labels = new Map(runs.map((run) => [run, seriesLabel(flatten(run.config), differing)]));
  const seriesOf = (run: LoadedRun) => labels.get(run)!;
  const curves: CurvePoint[] = runs.flatMap((run) =>
    run.rows.map((row) => ({
      series: seriesOf(run),
      variant: variantOf(run),
      lr: run.config.train.lr,
      seed: run.config.train.seed,
      // readRun checked every step; an empty cell (null) is drawn as no value
      step: row.step!,
      eval_loss: row.eval_loss ?? NaN,
      attn_entropy_norm: row.attn_entropy_norm ?? NaN,
      retrieval_mass: row.retrieval_mass ?? NaN,
    })),
  );
  const finals: FinalPoint[] = runs.map((run) => ({
    series: seriesOf(run),
    variant: variantOf(run),
    lr: run.config.train.lr,
    seed: run.config.train.seed,
    final_eval_loss: finalLoss(run), // ℓ₀ for a diverged run, as the sensitivity statistic counts it
    diverged: run.summary.status === 'diverged',
  }));
  const width: WidthPoint[] | null =
    differing.length === 1 && differing[0] === 'model.dModel'
      ? a.series.filter((s) => s.verdict).map((s) => ({ dModel: s.dModel, ratio: s.verdict!.ratio, p: s.verdict!.p, holds: s.verdict!.holds }))
      : null;
  const sensitivity = a.series.flatMap((s) =>
    s.variants.flatMap((v) => v.sensitivity.map((x) => ({ series: s.label, variant: v.variant, seed: x.seed, value: x.value }))),
  );
  const verdicts = a.series.flatMap((s) =>
    s.verdict
      ? [
          {
            series: s.label,
            ratio: s.verdict.ratio,
            u: s.verdict.u,
            p: s.verdict.p,
            holds: s.verdict.holds,
            qv: s.verdict.qv.length,
            qkv: s.verdict.qkv.length,
            pFloor: unreachableFloor(s.verdict.qv.length, s.verdict.qkv.length),
          },
        ]
      : [],
  );
  const isolates = Object.fromEntries(a.series.flatMap((s) => s.variants.map((v) => [v.variant, v.isolates]))); // as the analysis read them
  return { title, curves, finals, heatmaps: heatmaps(runs, seriesOf), width, isolates, sensitivity, verdicts };
}

/** Every run's final attention, one heatmap per layer: the HTML picks the seed, and shows every learning rate of it. */
function heatmaps(runs: LoadedRun[], seriesOf: (r: LoadedRun) => string): Heatmap[] {
  return runs.filter((r) => r.attention?.snapshots.length).flatMap((run) => heatmapsOf(run, seriesOf(run)));
}

/**
 * The last snapshot's layers. The last layer (the one whose output is read) holds the supervised query rows, from
 * queryStart, and its correct sources; a layer below it holds every position's row (it feeds every later position),
 * for which the task names no correct source, and only its first example is drawn.
 */
function heatmapsOf(run: LoadedRun, series: string): Heatmap[] {
  const att = run.attention!;
  const snap = att.snapshots.at(-1)!;
  const { queryStart, queryCount: S, positions: N } = att.layout;
  const sources = att.sources ?? []; // older runs' attention.json may lack it
  const layers = snap.layers.length;
  return snap.layers.map((layer, l) => {
    const last = l === layers - 1;
    const rowLabels: string[] = [];
    const weights: number[][] = [];
    const correct: number[] = [];
    // A layer below the last has every position's row: one example shows its pattern (e.g. MQAR's previous-token
    // layer), where four would make the page four times larger for the same picture.
    (last ? layer.examples : layer.examples.slice(0, 1)).forEach((example, e) => {
      const head = example[0]; // [rows][N]; first head
      const firstRow = head.length === N ? 0 : queryStart;
      head.forEach((row, i) => {
        rowLabels.push(head.length > 1 ? `ex ${e} · pos ${firstRow + i}` : `example ${e}`);
        weights.push(row);
        correct.push(last ? (sources[e * S + i] ?? -1) : -1);
      });
    });
    const colLabels = Array.from({ length: N }, (_, j) => (j === queryStart && S === 1 ? 'query' : `pos ${j}`));
    return {
      series,
      variant: variantOf(run),
      lr: run.config.train.lr,
      seed: run.config.train.seed,
      step: snap.step,
      layer: l + 1,
      layers,
      rowLabels,
      weights,
      correct,
      colLabels,
    };
  });
}
