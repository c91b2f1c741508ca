/**
 * What every chart shares: the spec's shape, the font and text sizes, the page width and the variant colours.
 * Every chart file takes its config from here, so the "no text below 12 px" rule holds for all of them.
 */
import type { Config, TopLevelSpec } from 'vega-lite';

/** Every chart a report can draw, each written as `<id>.png`: a report removes those it did not draw this time. */
export const CHART_IDS = ['loss-curves', 'attention-curves', 'lr-sensitivity', 'sensitivity', 'heatmaps', 'width', 'claims-grid'] as const;
export type ChartId = (typeof CHART_IDS)[number];

export interface ChartSpec {
  id: ChartId;
  title: string;
  spec: TopLevelSpec;
}

/** resvg is given this family from a shipped file; the fallback only matters for the inline SVG in a browser. */
export const CHART_FONT = 'DejaVu Sans';

/** Text sizes, font and frame of every chart. */
export const CHART_CONFIG: Config = {
  font: `${CHART_FONT}, sans-serif`,
  background: 'white',
  padding: 8,
  view: { stroke: '#ccc' },
  // 12 px is the smallest text in any chart: axis labels, legends and tooltips stay readable on a laptop.
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', gridColor: '#eee' },
  header: { labelFontSize: 13, titleFontSize: 13, titleFontWeight: 'normal' },
  legend: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', symbolOpacity: 1 },
  title: { fontSize: 16, anchor: 'start', subtitleFontSize: 13, subtitleColor: '#555', offset: 10 },
  text: { fontSize: 12 },
};

// 0.003 → "3e-3", 1 → "1"; done in the spec so facets and axes still order by the number.
export const LR_TEXT = String.raw`replace(format(datum.value, '.3~e'), /e\+0$/, '')`;

/** The width charts fill: the report page's ~1130 px, less the y axis and the legend. */
export const CHART_WIDTH = 900;

// qkv blue and qv orange in every chart; further variants take the next Tableau colours.
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

/** `isolates`: what each variant isolates, by its label (ReportData.isolates). */
export function colorEncoding(variants: string[], isolates: Record<string, string>) {
  // Beyond qkv and qv the legend names what each variant isolates (model/schema.ts, variantIsolates).
  const named = variants.some((v) => v !== 'qkv' && v !== 'qv');
  const labels = Object.fromEntries(variants.map((v) => [v, `${v}: ${isolates[v] ?? v}`]));
  return {
    field: 'variant',
    type: 'nominal' as const,
    title: 'attention',
    scale: { domain: variants, range: variants.map((_, i) => PALETTE[i % PALETTE.length]) },
    ...(named ? { legend: { labelExpr: `${JSON.stringify(labels)}[datum.label] || datum.label`, labelLimit: 520 } } : {}),
  };
}
