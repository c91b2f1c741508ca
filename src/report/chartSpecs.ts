/**
 * Vega-Lite specs for the report's charts. Each builder takes already-computed numbers and returns a
 * spec, or null when it has nothing to draw; rendering lives in charts.ts.
 */
import type { Config, TopLevelSpec } from 'vega-lite';
import { formatLr, aggregateCurves, aggregateFinals, distinctSorted, orderedFinals, seriesOrder, variantOrder } from './chartData.js';
import type { ReportData } from './types.js';
import { SERIES_TOGGLE, ZOOM, hoverPoints, nominal, number, toggled, tooltip } from './chartInteraction.js';
import { heatmapsBySeed, sensitivityBySeed } from './evidenceCharts.js';
import { CHART_FONT, CHART_WIDTH, colorEncoding, type ChartSpec } from './chartTheme.js';

export { CHART_FONT, CHART_WIDTH, colorEncoding, type ChartSpec }; // the shared chart theme lives in chartTheme.ts

// Small multiples: a panel wide enough for ~5 axis ticks, and short enough that 2–3 rows fit a screen.
const PANEL = { width: 220, height: 150 };

/** A panel sized so that `columns` of them fill the page, within 110–400 px. */
export function panelFor(columns: number) {
  return { ...PANEL, width: Math.max(110, Math.min(400, Math.floor(CHART_WIDTH / columns) - 12)) };
}

const CONFIG: Config = {
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
const lrHeader = { title: null, labelExpr: `'lr ' + ${LR_TEXT}` };

// In a wrapped facet whose last row is short, shared x axes would hang under empty cells.
const OWN_X_AXES = { resolve: { axis: { x: 'independent' as const } } };

/** Wrap n panels into rows of at most 5, balanced: 7 panels → 4 + 3, not 5 + 2. */
export function wrapColumns(n: number): number {
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

/**
 * How curve panels are laid out. Series of different lengths share an x axis of fraction of training,
 * so a 300-step sweep is not squeezed into the left of a 2000-step one. Series that swept different
 * learning rates get one wrapped panel per (series, lr) that exists, instead of a grid with holes.
 */
function curveLayout<R extends { series: string; lr: number; step: number }>(rows: R[], rowField: 'series' | 'metric', rowSort: string[]) {
  const series = seriesOrder(rows);
  const lastStep = new Map(series.map((s) => [s, Math.max(...rows.filter((r) => r.series === s).map((r) => r.step))]));
  const byFraction = new Set(lastStep.values()).size > 1;
  const lrSets = series.map((s) => distinctSorted(rows.filter((r) => r.series === s).map((r) => r.lr)).join());
  const ragged = new Set(lrSets).size > 1;
  // Only the fields a layout uses: the curves are most of the report's size.
  // 4 significant digits are far finer than a pixel, and halve the size of the spec report.html embeds.
  const round = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(4)) : x);
  const withX = rows.map((r) => ({
    ...r,
    mean: round((r as { mean?: number }).mean),
    lo: round((r as { lo?: number }).lo),
    hi: round((r as { hi?: number }).hi),
    ...(byFraction ? { fraction: r.step / lastStep.get(r.series)! } : {}),
    ...(ragged ? { panel: `${r.series ? `${r.series} · ` : ''}lr ${formatLr(r.lr)}` } : {}),
  }));
  const x = byFraction
    ? { field: 'fraction', type: 'quantitative' as const, title: 'fraction of training', axis: { format: '%' } }
    : { field: 'step', type: 'quantitative' as const, title: 'step' };
  const lrCount = distinctSorted(rows.map((r) => r.lr)).length;
  const multi = series.length > 1 || rowField === 'metric';
  if (ragged && rowField === 'series') {
    const panels = [...new Set(withX.map((r) => (r as { panel?: string }).panel!))];
    return {
      rows: withX,
      x,
      byFraction,
      facet: {
        facet: { field: 'panel', type: 'nominal' as const, sort: panels, header: { title: null } },
        columns: wrapColumns(panels.length),
        ...OWN_X_AXES,
      },
      panel: panelFor(wrapColumns(panels.length)),
    };
  }
  const facet = multi ? lrFacet(lrCount, rowField, rowSort) : lrFacet(lrCount, null, rowSort);
  return { rows: withX, x, byFraction, facet, panel: panelFor(multi ? lrCount : wrapColumns(lrCount)) };
}

const CURVE_TIP = [
  nominal('variant', 'attention'),
  number('lr', 'learning rate'),
  number('step', 'step'),
  number('mean', 'mean over seeds'),
  number('lo', 'min over seeds'),
  number('hi', 'max over seeds'),
];

function lossCurves(data: ReportData, variants: string[]): ChartSpec | null {
  // A log axis has no place for 0, so a step whose band touches 0 is left out.
  const agg = aggregateCurves(data.curves, (p) => p.eval_loss).filter((r) => r.lo > 0);
  if (agg.length === 0) return null;
  const series = seriesOrder(agg);
  const { rows, x, byFraction, facet, panel } = curveLayout(agg, 'series', series);
  const title = 'Eval loss during training';
  const y = { type: 'quantitative' as const, scale: { type: 'log' as const }, axis: { tickCount: 4 }, title: 'eval loss (log)' };
  const color = colorEncoding(variants);
  return {
    id: 'loss-curves',
    title,
    spec: {
      config: CONFIG,
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

function attentionCurves(data: ReportData, variants: string[]): ChartSpec | null {
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
  const color = colorEncoding(variants);
  const title = 'Attention during training';
  return {
    id: 'attention-curves',
    title,
    spec: {
      config: CONFIG,
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
  // Log loss: at lr 1e-1 both variants sit at chance (≈ ln 16 = 2.77), and on a linear axis that squeezes
  // the differences that decide the verdict (0.13 against 0.37 at lr 1e-3) into the bottom 15%.
  const y = { type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'final eval loss (log)' };
  const color = colorEncoding(variants);
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
    config: CONFIG,
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

function width(data: ReportData): ChartSpec | null {
  const rows = (data.width ?? [])
    .filter((w) => Number.isFinite(w.ratio)) // QKV sensitivity 0 gives ∞, which no axis can place
    .map((w) => ({
      ...w,
      label: `p=${w.p < 0.001 ? w.p.toExponential(1) : Number(w.p.toPrecision(2))}`,
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
      config: CONFIG,
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

/** Every chart the data supports, in report order; charts without data are left out. */
export function chartSpecs(data: ReportData): ChartSpec[] {
  const variants = variantOrder(data);
  return [
    lossCurves(data, variants),
    attentionCurves(data, variants),
    lrSensitivity(data, variants),
    sensitivityBySeed(data, variants, CONFIG),
    heatmapsBySeed(data, variants, CONFIG),
    width(data),
  ].filter((c): c is ChartSpec => c !== null);
}
