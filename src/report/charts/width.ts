/** Where keys matter: the LR-sensitivity ratio QV/QKV against head width, filled where the verdict holds. */
import type { TopLevelSpec } from 'vega-lite';
import { nominal, number, tooltip } from './interaction.js';
import { CHART_CONFIG, CHART_WIDTH, type ChartSpec } from './theme.js';
import { formatP } from '../../format.js';
import type { ReportData } from '../data/types.js';

export function width(data: ReportData): ChartSpec | null {
  const rows = (data.width ?? [])
    .filter((w) => Number.isFinite(w.ratio)) // QKV sensitivity 0 gives ∞, which no axis can place
    .map((w) => ({
      ...w,
      label: `p=${formatP(w.p, 'compact')}`,
      verdict: w.holds ? 'keyless is less stable' : 'not shown',
    }))
    .sort((a, b) => a.dModel - b.dModel);
  if (rows.length === 0) return null;
  const x = {
    field: 'dModel',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, base: 2, nice: false, padding: 36 },
    axis: { values: rows.map((r) => r.dModel), format: 'd' },
    title: 'head width dModel (log₂)',
  };
  const y = { field: 'ratio', type: 'quantitative' as const, scale: { zero: false, padding: 16 }, title: 'LRsens(QV) / LRsens(QKV)' };
  const title = 'Where keys matter: LR-sensitivity ratio against head width';
  return {
    id: 'width',
    title,
    spec: {
      config: CHART_CONFIG,
      title: {
        text: title,
        subtitle: 'ratio > 1: keyless QV is more LR-sensitive; filled = the verdict holds at that width (one-sided Mann–Whitney)',
      },
      width: CHART_WIDTH - 200,
      height: 280,
      data: { values: rows },
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { datum: 1, type: 'quantitative' } } },
        { mark: { type: 'line', color: '#999', strokeWidth: 1.2 }, encoding: { x, y } },
        {
          mark: { type: 'point', size: 90, strokeWidth: 2, color: '#333', opacity: 1 },
          encoding: {
            x,
            y,
            fill: { condition: { test: 'datum.holds', value: '#333' }, value: 'white' },
            fillOpacity: { value: 1 },
            tooltip: tooltip([
              number('dModel', 'dModel', 'd'),
              number('ratio', 'QV/QKV LR sensitivity'),
              number('p', 'one-sided Mann–Whitney p'),
              nominal('verdict', 'verdict'),
            ]),
          },
        },
        // p above a point over the rule and below one under it, so no label sits on the dashed line.
        {
          transform: [{ filter: 'datum.ratio >= 1' }],
          mark: { type: 'text', dy: -14, fontSize: 12, color: '#555' },
          encoding: { x, y, text: { field: 'label' } },
        },
        {
          transform: [{ filter: 'datum.ratio < 1' }],
          mark: { type: 'text', dy: 16, fontSize: 12, color: '#555' },
          encoding: { x, y, text: { field: 'label' } },
        },
      ],
    } as TopLevelSpec,
  };
}
