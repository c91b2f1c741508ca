/**
 * What every chart shares: the spec's shape, the font, the page width and the variant colours. Both chart
 * modules (chartSpecs.ts, evidenceCharts.ts) import it, so neither imports the other for it.
 */
import type { TopLevelSpec } from 'vega-lite';
import { variantIsolates } from '../model/schema.js';

export interface ChartSpec {
  id: string;
  title: string;
  spec: TopLevelSpec;
}

/** resvg is given this family from a shipped file; the fallback only matters for the inline SVG in a browser. */
export const CHART_FONT = 'DejaVu Sans';

/** The width charts fill: the report page's ~1130 px, less the y axis and the legend. */
export const CHART_WIDTH = 900;

// qkv blue and qv orange in every chart; further variants take the next Tableau colours.
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

export function colorEncoding(variants: string[]) {
  // Beyond qkv and qv the legend names what each variant isolates (model/schema.ts, VARIANTS).
  const named = variants.some((v) => v !== 'qkv' && v !== 'qv');
  const labels = Object.fromEntries(variants.map((v) => [v, `${v}: ${variantIsolates(v)}`]));
  return {
    field: 'variant',
    type: 'nominal' as const,
    title: 'attention',
    scale: { domain: variants, range: variants.map((_, i) => PALETTE[i % PALETTE.length]) },
    ...(named ? { legend: { labelExpr: `${JSON.stringify(labels)}[datum.label] || datum.label`, labelLimit: 520 } } : {}),
  };
}
