/** LR sensitivity (Wortsman et al. 2023): each seed's final eval loss against the learning rate, with the mean and min–max. */
import type { TopLevelSpec } from 'vega-lite';
import { aggregateFinals, distinctSorted, orderedFinals, seriesOrder } from './data.js';
import { SERIES_TOGGLE, nominal, number, toggled, tooltip } from './interaction.js';
import { OWN_X_AXES } from './layout.js';
import { CHART_CONFIG, CHART_WIDTH, LR_TEXT, colorEncoding, type ChartSpec } from './theme.js';
import type { ReportData } from '../data/types.js';

export function lrSensitivity(data: ReportData, variants: string[]): ChartSpec | null {
  const agg = aggregateFinals(data.finals);
  if (agg.length === 0) return null;
  const lrs = distinctSorted(agg.map((r) => r.lr));
  // Variants are nudged apart by a few percent in LR so their error bars do not sit on top of each other.
  const nudge = (v: string) => Math.pow(1.06, variants.indexOf(v) - (variants.length - 1) / 2);
  const means = agg.map((r) => ({ kind: 'mean', ...r, x: r.lr * nudge(r.variant) }));
  const seeds = orderedFinals(data.finals).map((p) => ({
    kind: 'seed',
    ...p,
    x: p.lr * nudge(p.variant),
    run: p.diverged ? 'diverged (at ℓ₀)' : 'finished',
  }));
  const anyDiverged = seeds.some((p) => p.diverged);
  const series = seriesOrder(agg);
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, nice: false, padding: 12 },
    axis: { values: lrs, labelExpr: LR_TEXT },
    title: 'learning rate (log)',
  };
  // Log loss: at lr 1e-1 both variants sit at chance (≈ ln 16 = 2.77), and on a linear axis that squeezes
  // the differences that decide the verdict (0.13 against 0.37 at lr 1e-3) into the bottom 15%.
  const y = { type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'final eval loss (log)' };
  const color = colorEncoding(variants, data.isolates);
  const only = (kind: string) => [{ filter: `datum.kind === '${kind}' && datum.${kind === 'seed' ? 'final_eval_loss' : 'min'} > 0` }];
  const shape = anyDiverged
    ? {
        shape: {
          field: 'run',
          type: 'nominal' as const,
          title: 'run',
          scale: { domain: ['finished', 'diverged (at ℓ₀)'], range: ['circle', 'cross'] },
        },
      }
    : {};
  const columns = Math.min(series.length, 3);
  const seedTip = tooltip([
    nominal('variant', 'attention'),
    number('lr', 'learning rate'),
    number('seed', 'seed', 'd'),
    number('final_eval_loss', 'final eval loss'),
    nominal('run', 'run'),
  ]);
  const meanTip = tooltip([
    nominal('variant', 'attention'),
    number('lr', 'learning rate'),
    number('mean', 'mean over seeds'),
    number('min', 'min'),
    number('max', 'max'),
    number('seeds', 'seeds', 'd'),
  ]);
  const panel = {
    width: series.length > 1 ? Math.floor(CHART_WIDTH / columns) - 40 : CHART_WIDTH - 100,
    height: series.length > 1 ? 220 : 320,
    // Seeds last, so that they sit on top of the bars and the mouse finds them.
    layer: [
      {
        transform: only('mean'),
        mark: { type: 'errorbar', ticks: true },
        encoding: { x, y: { ...y, field: 'min' }, y2: { field: 'max' }, color, opacity: toggled(1), tooltip: meanTip },
      },
      {
        transform: only('mean'),
        mark: { type: 'line', point: true, strokeWidth: 1.8 },
        encoding: { x, y: { ...y, field: 'mean' }, color, opacity: toggled(1), tooltip: meanTip },
      },
      {
        name: 'seed_points', // report.html's test hovers these by name
        transform: only('seed'),
        params: [SERIES_TOGGLE],
        mark: { type: 'point', filled: true },
        encoding: {
          x,
          y: { ...y, field: 'final_eval_loss' },
          color,
          ...shape,
          // A diverged run is the rare event worth spotting, so it is drawn larger and solid.
          size: { condition: { test: 'datum.diverged', value: 80 }, value: 36 },
          opacity: {
            condition: [
              { test: { not: { param: SERIES_TOGGLE.name, empty: true } }, value: 0.06 },
              { test: 'datum.diverged', value: 0.95 },
            ],
            value: 0.5,
          },
          tooltip: seedTip,
        },
      },
    ],
  };
  // One data set with a `kind` column, because a facet cannot give its layers different data.
  const base = {
    config: CHART_CONFIG,
    title: {
      text: 'LR sensitivity: final eval loss against learning rate',
      subtitle: [
        'line = mean over seeds, bars = min–max over seeds, faint points = single seeds; variants drawn slightly apart in LR',
        'log loss axis, so that small losses stay apart: a linear one would squeeze them under the runs at chance',
      ],
    },
    data: { values: [...seeds, ...means] },
  };
  const spec =
    series.length > 1
      ? { ...base, facet: { field: 'series', type: 'nominal', sort: series, header: { title: null } }, columns, spec: panel, ...OWN_X_AXES }
      : { ...base, ...panel };
  return { id: 'lr-sensitivity', title: base.title.text, spec: spec as TopLevelSpec };
}
