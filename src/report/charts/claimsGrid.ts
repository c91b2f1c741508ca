/** The claims × series chart (e.g. × head width): one cell per claim and series, coloured by its verdict. */
import type { TopLevelSpec } from 'vega-lite';
import { nominal, tooltip } from './interaction.js';
import { CHART_CONFIG, type ChartSpec } from './theme.js';
import { formatNumber, formatP } from '../../format.js';
import type { SeriesClaims } from '../../analysis/claims.js';

export const CLAIMS_CHART = { id: 'claims-grid', title: "The seed's claims by series: one verdict per cell" } as const;

const VERDICT_COLOURS: Record<string, string> = {
  supported: '#2c7a3f',
  contradicted: '#b2302b',
  mixed: '#d08a1d',
  inconsistent: '#7b4fa0',
  'not shown': '#c9ccd1',
  'not measured': '#f1f1f1',
  'did not learn': '#8d8f94',
};

/** The spec, or null for a single series (the table says it all then). */
export function claimsGridSpec(series: SeriesClaims[]): ChartSpec | null {
  if (series.length < 2) return null;
  const cells = series.flatMap((s, si) =>
    s.claims.map((c) => ({
      series: s.label,
      order: si,
      claim: c.id,
      verdict: c.verdict,
      label: `${c.effect_kind === 'ratio' ? '×' : 'Δ'}${formatNumber(c.effect, 2)}  p_H ${formatP(c.p_holm, 'compact')}`,
    })),
  );
  const verdicts = Object.keys(VERDICT_COLOURS);
  const tip = tooltip([nominal('claim', 'claim'), nominal('series', 'series'), nominal('verdict', 'verdict'), nominal('label', 'effect, Holm p')]);
  return {
    id: CLAIMS_CHART.id,
    title: CLAIMS_CHART.title,
    spec: {
      config: { ...CHART_CONFIG, view: { stroke: null } },
      title: { text: CLAIMS_CHART.title, subtitle: 'effect QV vs QKV (× ratio, Δ difference) and the Holm-adjusted p in each cell' },
      data: { values: cells },
      // Wide enough for "×1.81  p_H 6.2e-6" at the theme's 12 px.
      width: { step: 170 },
      height: { step: 34 },
      encoding: {
        x: { field: 'series', type: 'ordinal', sort: series.map((s) => s.label), title: null, axis: { orient: 'top', labelAngle: 0 } },
        y: { field: 'claim', type: 'nominal', sort: series[0].claims.map((c) => c.id), title: null },
      },
      layer: [
        {
          mark: { type: 'rect', stroke: '#fff', strokeWidth: 2 },
          encoding: {
            fill: {
              field: 'verdict',
              type: 'nominal',
              scale: { domain: verdicts, range: verdicts.map((v) => VERDICT_COLOURS[v]) },
              legend: { title: 'verdict', orient: 'bottom' },
            },
            tooltip: tip,
          },
        },
        {
          mark: { type: 'text' },
          encoding: {
            text: { field: 'label' },
            color: { condition: { test: "datum.verdict === 'not shown' || datum.verdict === 'not measured'", value: '#222' }, value: '#fff' },
            tooltip: tip,
          },
        },
      ],
    } as TopLevelSpec,
  };
}
