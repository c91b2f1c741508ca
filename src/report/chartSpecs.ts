/**
 * Vega-Lite specs for the report's charts. Each builder takes already-computed numbers and returns a
 * spec, or null when it has nothing to draw; rendering lives in charts.ts.
 */
import type { Config, TopLevelSpec } from 'vega-lite';
import {
  aggregateCurves,
  aggregateFinals,
  distinctSorted,
  heatmapCells,
  orderedFinals,
  seriesOrder,
  variantOrder,
} from './chartData.js';
import type { ReportData } from './types.js';

export interface ChartSpec {
  id: string;
  title: string;
  spec: TopLevelSpec;
}

/** resvg is given this family from a shipped file; the fallback only matters for the inline SVG in a browser. */
export const CHART_FONT = 'DejaVu Sans';

// Small multiples: a panel wide enough for ~5 axis ticks, and short enough that 2–3 rows fit a screen.
const PANEL = { width: 170, height: 110 };

/** A panel narrowed so that `columns` of them fit ~1000 px, the report page's width, down to 110 px. */
function panelFor(columns: number) {
  return { ...PANEL, width: Math.max(110, Math.min(PANEL.width, Math.floor(900 / columns))) };
}

const CONFIG: Config = {
  font: `${CHART_FONT}, sans-serif`,
  background: 'white',
  padding: 8,
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 'normal', gridColor: '#eee' },
  header: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal', symbolOpacity: 1 },
  title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555', offset: 10 },
};

// qkv blue and qv orange in every chart; further variants take the next Tableau colours.
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

function colorEncoding(variants: string[]) {
  return {
    field: 'variant',
    type: 'nominal' as const,
    title: 'attention',
    scale: { domain: variants, range: variants.map((_, i) => PALETTE[i % PALETTE.length]) },
  };
}

// 0.003 → "3e-3", 1 → "1"; done in the spec so facets and axes still order by the number.
const LR_TEXT = String.raw`replace(format(datum.value, '.3~e'), /e\+0$/, '')`;
const lrHeader = { title: null, labelExpr: `'lr ' + ${LR_TEXT}` };

// In a wrapped facet whose last row is short, shared x axes would hang under empty cells.
const OWN_X_AXES = { resolve: { axis: { x: 'independent' as const } } };

/** Wrap n panels into rows of at most 5, balanced: 7 panels → 4 + 3, not 5 + 2. */
function wrapColumns(n: number): number {
  return Math.ceil(n / Math.ceil(n / 5));
}

/** Facet by LR (wrapped) when there is one series, else rows = `rowField` and columns = LR. */
function lrFacet(lrCount: number, rowField: string | null, rowSort: string[]) {
  if (rowField === null) {
    return { facet: { field: 'lr', type: 'ordinal' as const, header: lrHeader }, columns: wrapColumns(lrCount), ...OWN_X_AXES };
  }
  return {
    facet: {
      row: { field: rowField, type: 'nominal' as const, sort: rowSort, header: { title: null, labelAngle: 0, labelAlign: 'left' as const } },
      column: { field: 'lr', type: 'ordinal' as const, header: lrHeader },
    },
  };
}

function lossCurves(data: ReportData, variants: string[]): ChartSpec | null {
  // A log axis has no place for 0, so a step whose band touches 0 is left out.
  const rows = aggregateCurves(data.curves, (p) => p.eval_loss).filter((r) => r.lo > 0);
  if (rows.length === 0) return null;
  const series = seriesOrder(rows);
  const lrCount = distinctSorted(rows.map((r) => r.lr)).length;
  const title = 'Eval loss during training';
  const x = { field: 'step', type: 'quantitative' as const, title: 'step' };
  const y = { type: 'quantitative' as const, scale: { type: 'log' as const }, axis: { tickCount: 4 }, title: 'eval loss (log)' };
  return {
    id: 'loss-curves',
    title,
    spec: {
      config: CONFIG,
      title: { text: title, subtitle: 'line = mean over seeds, band = min–max over seeds' },
      data: { values: rows },
      ...lrFacet(lrCount, series.length > 1 ? 'series' : null, series),
      spec: {
        ...panelFor(series.length > 1 ? lrCount : wrapColumns(lrCount)),
        layer: [
          {
            mark: { type: 'area', opacity: 0.18 },
            encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color: colorEncoding(variants) },
          },
          {
            mark: { type: 'line', strokeWidth: 1.6 },
            encoding: { x, y: { ...y, field: 'mean' }, color: colorEncoding(variants) },
          },
        ],
      },
    },
  };
}

function attentionCurves(data: ReportData, variants: string[]): ChartSpec | null {
  const metrics: [string, (p: ReportData['curves'][number]) => number][] = [
    ['normalised entropy', (p) => p.attn_entropy_norm],
    ['retrieval mass', (p) => p.retrieval_mass],
  ];
  const series = seriesOrder(data.curves);
  const multi = series.length > 1;
  const rowKey = (s: string, m: string) => (multi ? `${s} · ${m}` : m);
  const rows = metrics.flatMap(([metric, pick]) =>
    aggregateCurves(data.curves, pick).map((r) => ({ ...r, metric: rowKey(r.series, metric) })),
  );
  if (rows.length === 0) return null;
  const rowSort = series.flatMap((s) => metrics.map(([m]) => rowKey(s, m)));
  const title = 'Attention during training';
  return {
    id: 'attention-curves',
    title,
    spec: {
      config: CONFIG,
      title: {
        text: title,
        subtitle: 'mean over seeds; entropy 1 = uniform, 0 = one-hot; retrieval mass = weight on the correct source',
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
        mark: { type: 'line', strokeWidth: 1.6 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step' },
          y: { field: 'mean', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
          color: colorEncoding(variants),
        },
      },
    },
  };
}

function lrSensitivity(data: ReportData, variants: string[]): ChartSpec | null {
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
  const y = { type: 'quantitative' as const, scale: { zero: false }, title: 'final eval loss' };
  const color = colorEncoding(variants);
  const only = (kind: string) => [{ filter: `datum.kind === '${kind}'` }];
  const shape = anyDiverged
    ? { shape: { field: 'run', type: 'nominal' as const, title: 'run', scale: { domain: ['finished', 'diverged (at ℓ₀)'], range: ['circle', 'cross'] } } }
    : {};
  const panel = {
    width: 300,
    height: 200,
    layer: [
      {
        transform: only('seed'),
        mark: { type: 'point', filled: true },
        encoding: {
          x,
          y: { ...y, field: 'final_eval_loss' },
          color,
          ...shape,
          // A diverged run is the rare event worth spotting, so it is drawn larger and solid.
          size: { condition: { test: 'datum.diverged', value: 70 }, value: 22 },
          opacity: { condition: { test: 'datum.diverged', value: 0.95 }, value: 0.5 },
        },
      },
      { transform: only('mean'), mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
      { transform: only('mean'), mark: { type: 'line', point: true, strokeWidth: 1.8 }, encoding: { x, y: { ...y, field: 'mean' }, color } },
    ],
  };
  // One data set with a `kind` column, because a facet cannot give its layers different data.
  const base = {
    config: CONFIG,
    title: { text: 'LR sensitivity: final eval loss against learning rate', subtitle: 'line = mean over seeds, bars = ±1 std, faint points = single seeds; variants drawn slightly apart in LR' },
    data: { values: [...seeds, ...means] },
  };
  const spec =
    series.length > 1
      ? { ...base, facet: { field: 'series', type: 'nominal', sort: series, header: { title: null } }, columns: Math.min(series.length, 3), spec: panel, ...OWN_X_AXES }
      : { ...base, ...panel };
  return { id: 'lr-sensitivity', title: base.title.text, spec: spec as TopLevelSpec };
}

function heatmaps(data: ReportData, variants: string[]): ChartSpec | null {
  const cells = heatmapCells(data.heatmaps, variants);
  if (cells.length === 0) return null;
  // Short key labels ("k3") stay level; longer ones ("slot12") are tilted so neighbours do not overlap.
  const longest = Math.max(...data.heatmaps.flatMap((h) => h.colLabels.map((l) => l.length)));
  const x = { field: 'col', type: 'ordinal' as const, sort: null, title: 'key position', axis: { labelAngle: longest <= 3 ? 0 : -45 } };
  const y = { field: 'row', type: 'ordinal' as const, sort: null, title: null, axis: { labelLimit: 140 } };
  const color = { field: 'w', type: 'quantitative' as const, title: 'weight', scale: { scheme: 'blues', domain: [0, 1] } };
  // Concatenated rather than faceted: a facet header wider than a small heatmap pushes the
  // heatmap away from its shared y axis, while a concatenated panel keeps its own axes.
  const panel = (panelCells: typeof cells) => ({
    title: { text: `${panelCells[0].variant.toUpperCase()} · ${panelCells[0].panel}`, fontSize: 11, fontWeight: 'normal' as const },
    data: { values: panelCells },
    width: { step: 18 },
    height: { step: 16 },
    layer: [
      { mark: { type: 'rect' as const }, encoding: { x, y, color } },
      {
        transform: [{ filter: 'datum.correct' }],
        mark: { type: 'rect' as const, filled: false, stroke: '#d62728', strokeWidth: 1.6 },
        encoding: { x, y },
      },
    ],
  });
  const panels = [...new Set(cells.map((c) => c.panel))];
  const rows = panels.map((p) => ({
    // Cells arrive ordered by panel, then variant, so QKV is left of QV.
    hconcat: [...new Set(cells.filter((c) => c.panel === p).map((c) => c.variant))].map((v) =>
      panel(cells.filter((c) => c.panel === p && c.variant === v)),
    ),
  }));
  const title = 'Attention weights at the end of training';
  return {
    id: 'heatmaps',
    title,
    spec: {
      config: { ...CONFIG, scale: { bandPaddingInner: 0 } },
      title: { text: title, subtitle: 'rows = query rows of fixed eval examples; outlined cell = correct source position' },
      vconcat: rows,
      spacing: 20,
    } as TopLevelSpec,
  };
}

function width(data: ReportData): ChartSpec | null {
  const rows = (data.width ?? [])
    .filter((w) => Number.isFinite(w.ratio)) // QKV sensitivity 0 gives ∞, which no axis can place
    .map((w) => ({ ...w, label: `p=${w.p < 0.001 ? w.p.toExponential(1) : Number(w.p.toPrecision(2))}` }))
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
      config: CONFIG,
      title: { text: title, subtitle: 'ratio > 1: keyless QV is more LR-sensitive; filled = the verdict holds at that width (one-sided Mann–Whitney)' },
      width: 360,
      height: 200,
      data: { values: rows },
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { datum: 1, type: 'quantitative' } } },
        { mark: { type: 'line', color: '#999', strokeWidth: 1.2 }, encoding: { x, y } },
        {
          mark: { type: 'point', size: 70, strokeWidth: 2, color: '#333', opacity: 1 },
          encoding: {
            x,
            y,
            fill: { condition: { test: 'datum.holds', value: '#333' }, value: 'white' },
            fillOpacity: { value: 1 },
          },
        },
        // p above a point over the rule and below one under it, so no label sits on the dashed line.
        { transform: [{ filter: 'datum.ratio >= 1' }], mark: { type: 'text', dy: -13, fontSize: 10, color: '#555' }, encoding: { x, y, text: { field: 'label' } } },
        { transform: [{ filter: 'datum.ratio < 1' }], mark: { type: 'text', dy: 14, fontSize: 10, color: '#555' }, encoding: { x, y, text: { field: 'label' } } },
      ],
    } as TopLevelSpec,
  };
}

/** Every chart the data supports, in report order; charts without data are left out. */
export function chartSpecs(data: ReportData): ChartSpec[] {
  const variants = variantOrder(data);
  return [
    lossCurves(data, variants),
    attentionCurves(data, variants),
    lrSensitivity(data, variants),
    heatmaps(data, variants),
    width(data),
  ].filter((c): c is ChartSpec => c !== null);
}
