/** The claims × series chart (e.g. × head width): one cell per claim and series, coloured by its verdict. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { CHART_FONT, type ChartSpec } from './chartSpecs.js';
import { specToSvg, svgToPng } from './charts.js';
import type { RenderedChart } from './types.js';
import type { SeriesClaims } from './claims.js';

export const CLAIMS_CHART = { id: 'claims-grid', title: "The seed's claims by series: one verdict per cell", pngFile: 'claims-grid.png' };

const VERDICT_COLOURS: Record<string, string> = {
  supported: '#2c7a3f',
  contradicted: '#b2302b',
  mixed: '#d08a1d',
  inconsistent: '#7b4fa0',
  'not shown': '#c9ccd1',
  'not measured': '#f1f1f1',
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
      label:
        `${c.effect_kind === 'ratio' ? '×' : 'Δ'}${Number.isFinite(c.effect) ? Number(c.effect.toPrecision(2)) : 'n/a'}  ` +
        `p_H ${c.p_holm === null ? 'n/a' : Number(c.p_holm.toPrecision(2))}`,
    })),
  );
  const verdicts = Object.keys(VERDICT_COLOURS);
  return {
    id: CLAIMS_CHART.id,
    title: CLAIMS_CHART.title,
    spec: {
      config: { font: CHART_FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } },
      title: { text: CLAIMS_CHART.title, subtitle: 'effect QV vs QKV (× ratio, Δ difference) and the Holm-adjusted p in each cell' },
      data: { values: cells },
      width: { step: 150 },
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
          },
        },
        {
          mark: { type: 'text', fontSize: 10 },
          encoding: {
            text: { field: 'label' },
            color: { condition: { test: "datum.verdict === 'not shown' || datum.verdict === 'not measured'", value: '#222' }, value: '#fff' },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Renders the chart into outDir; returns it for the HTML, or nothing for a single series. */
export async function renderClaimsChart(series: SeriesClaims[], outDir: string): Promise<RenderedChart[]> {
  const chart = claimsGridSpec(series);
  if (!chart) return [];
  const svg = await specToSvg(chart.spec, chart.id);
  await writeFile(join(outDir, CLAIMS_CHART.pngFile), svgToPng(svg));
  return [{ id: chart.id, title: chart.title, svg, pngFile: CLAIMS_CHART.pngFile }];
}
