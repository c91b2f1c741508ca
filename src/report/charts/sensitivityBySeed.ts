/** The evidence behind the verdict: the per-seed LR sensitivity the test compares, one panel per series. */
import type { TopLevelSpec } from 'vega-lite';
import { seriesOrder } from './data.js';
import { SERIES_TOGGLE, nominal, number, toggled, tooltip } from './interaction.js';
import { CHART_CONFIG, CHART_WIDTH, colorEncoding, type ChartSpec } from './theme.js';
import { ALPHA } from '../../analysis/protocol.js';
import { formatNumber, formatP, formatPBound } from '../../format.js';
import type { ReportData } from '../data/types.js';

/** One panel per series: each seed's LR sensitivity, QKV beside QV, with the test's ratio, U and p above it. */
export function sensitivityBySeed(data: ReportData, variants: string[]): ChartSpec | null {
  const points = data.sensitivity ?? [];
  if (points.length === 0) return null;
  const verdicts = new Map((data.verdicts ?? []).map((v) => [v.series, v]));
  const heading = (series: string) => {
    const v = verdicts.get(series);
    const name = series || 'all runs';
    if (!v) return `${name}: no test`;
    const floor = v.pFloor === null ? '' : ` (with ${v.qv} vs ${v.qkv} seeds p cannot go below ${formatPBound(v.pFloor)})`;
    return `${name}: QV/QKV ${formatNumber(v.ratio)}, U = ${v.u} of ${v.qv * v.qkv}, p = ${formatP(v.p)}${floor}`;
  };
  const rows = points.map((p) => ({ ...p, panel: heading(p.series) }));
  const panels = seriesOrder(points).map(heading);
  const columns = Math.min(panels.length, 4);
  const x = { field: 'variant', type: 'nominal' as const, sort: variants, title: null, axis: { labelExpr: 'upper(datum.value)', labelAngle: 0 } };
  const y = { field: 'value', type: 'quantitative' as const, title: 'LR sensitivity (higher = less stable)', scale: { zero: true } };
  const color = colorEncoding(variants, data.isolates);
  const title = "The verdict's statistic: LR sensitivity per seed";
  const panel = {
    width: panels.length > 1 ? Math.max(140, Math.floor(CHART_WIDTH / columns) - 50) : 560,
    height: 240,
    layer: [
      {
        params: [SERIES_TOGGLE],
        mark: { type: 'point', filled: true, size: 90 },
        encoding: {
          x,
          xOffset: { field: 'seed', type: 'nominal' as const },
          y,
          color,
          opacity: toggled(0.85),
          tooltip: tooltip([nominal('variant', 'attention'), number('seed', 'seed', 'd'), number('value', 'LR sensitivity')]),
        },
      },
      {
        mark: { type: 'tick', thickness: 2.5, size: 50 },
        encoding: {
          x,
          y: { ...y, aggregate: 'mean' },
          color,
          opacity: toggled(1),
          tooltip: [
            { field: 'value', aggregate: 'mean', type: 'quantitative', title: 'mean over seeds', format: '.4~g' },
            { field: 'variant', type: 'nominal', title: 'attention' },
          ],
        },
      },
    ],
  };
  const spec = {
    config: CHART_CONFIG,
    title: {
      text: title,
      subtitle: `one point per seed, tick = mean; the verdict holds when QV lies above QKV at p < ${ALPHA} (one-sided exact Mann–Whitney U)`,
    },
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: panels, header: { title: null, labelFontSize: 13, labelLimit: CHART_WIDTH } },
    columns: panels.length > 1 ? columns : 1,
    spec: panel,
  };
  return { id: 'sensitivity', title, spec: spec as TopLevelSpec };
}
