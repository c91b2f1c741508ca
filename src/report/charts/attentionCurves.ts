/** Attention during training: normalised entropy and retrieval mass, mean over seeds, per learning rate. */
import type { TopLevelSpec } from 'vega-lite';
import { aggregateCurves, distinctSorted, seriesOrder } from './data.js';
import { SERIES_TOGGLE, ZOOM, hoverPoints, nominal, toggled } from './interaction.js';
import { CURVE_TIP, curveLayout, lrHeader, panelFor } from './layout.js';
import { CHART_CONFIG, colorEncoding, type ChartSpec } from './theme.js';
import type { ReportData } from '../data/types.js';

export function attentionCurves(data: ReportData, variants: string[]): ChartSpec | null {
  const metrics: [string, (p: ReportData['curves'][number]) => number][] = [
    ['normalised entropy', (p) => p.attn_entropy_norm],
    ['retrieval mass', (p) => p.retrieval_mass],
  ];
  const series = seriesOrder(data.curves);
  const multi = series.length > 1;
  const rowKey = (s: string, m: string) => (multi ? `${s} · ${m}` : m);
  const agg = metrics.flatMap(([metric, pick]) => aggregateCurves(data.curves, pick).map((r) => ({ ...r, metric: rowKey(r.series, metric) })));
  if (agg.length === 0) return null;
  const rowSort = series.flatMap((s) => metrics.map(([m]) => rowKey(s, m)));
  const { rows, x, byFraction } = curveLayout(agg, 'metric', rowSort);
  const y = { field: 'mean', type: 'quantitative' as const, scale: { domain: [0, 1] }, title: null };
  const color = colorEncoding(variants, data.isolates);
  const title = 'Attention during training';
  return {
    id: 'attention-curves',
    title,
    spec: {
      config: CHART_CONFIG,
      title: {
        text: title,
        subtitle:
          `mean over seeds; entropy 1 = uniform, 0 = one-hot; retrieval mass = weight on the correct ` +
          `source${byFraction ? '; x = fraction of training' : ''}`,
      },
      data: { values: rows },
      facet: {
        // With several series the row names get long: set them level, one part per line, instead of rotated.
        row: {
          field: 'metric',
          type: 'nominal',
          sort: rowSort,
          header: multi ? { title: null, labelAngle: 0, labelAlign: 'left', labelExpr: "split(datum.value, ' · ')" } : { title: null },
        },
        column: { field: 'lr', type: 'ordinal', header: lrHeader },
      },
      spec: {
        ...panelFor(distinctSorted(rows.map((r) => r.lr)).length),
        height: 120,
        layer: [
          {
            params: [SERIES_TOGGLE, { ...ZOOM, select: { type: 'interval', encodings: ['x'] } }],
            mark: { type: 'line', strokeWidth: 1.6 },
            encoding: { x, y, color, opacity: toggled(1) },
          },
          hoverPoints({ x, y, color }, [nominal('metric', 'measure'), ...CURVE_TIP]),
        ],
      },
    } as TopLevelSpec,
  };
}
