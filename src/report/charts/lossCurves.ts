/** Eval loss during training: mean and min–max band over seeds, one panel per learning rate (and series). */
import type { TopLevelSpec } from 'vega-lite';
import { aggregateCurves, seriesOrder } from './data.js';
import { SERIES_TOGGLE, ZOOM, hoverPoints, toggled } from './interaction.js';
import { CURVE_TIP, curveLayout } from './layout.js';
import { CHART_CONFIG, colorEncoding, type ChartSpec } from './theme.js';
import type { ReportData } from '../data/types.js';

export function lossCurves(data: ReportData, variants: string[]): ChartSpec | null {
  // A log axis has no place for 0, so a step whose band touches 0 is left out.
  const agg = aggregateCurves(data.curves, (p) => p.eval_loss).filter((r) => r.lo > 0);
  if (agg.length === 0) return null;
  const series = seriesOrder(agg);
  const { rows, x, byFraction, facet, panel } = curveLayout(agg, 'series', series);
  const title = 'Eval loss during training';
  const y = { type: 'quantitative' as const, scale: { type: 'log' as const }, axis: { tickCount: 4 }, title: 'eval loss (log)' };
  const color = colorEncoding(variants, data.isolates);
  return {
    id: 'loss-curves',
    title,
    spec: {
      config: CHART_CONFIG,
      title: {
        text: title,
        subtitle: `line = mean over seeds, band = min–max over seeds${byFraction ? '; x = fraction of training, since the series differ in length' : ''}`,
      },
      data: { values: rows },
      ...facet,
      spec: {
        ...panel,
        layer: [
          {
            mark: { type: 'area' },
            encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color, opacity: toggled(0.18, 0.02) },
          },
          {
            params: [SERIES_TOGGLE, ZOOM],
            mark: { type: 'line', strokeWidth: 1.6 },
            encoding: { x, y: { ...y, field: 'mean' }, color, opacity: toggled(1) },
          },
          hoverPoints({ x, y: { ...y, field: 'mean' }, color }, CURVE_TIP),
        ],
      },
    } as TopLevelSpec,
  };
}
