/**
 * Charts that show the evidence behind the verdict: the per-seed LR sensitivity the test compares, and
 * the final attention of every learning rate for one seed, with a seed picker in report.html.
 */
import type { Config, TopLevelSpec } from 'vega-lite';
import { distinctSorted, formatLr, seriesOrder, uniqueLabels } from './chartData.js';
import { SERIES_TOGGLE, nominal, number, toggled, tooltip } from './chartInteraction.js';
import { pText, smallestP } from '../analysis/power.js';
import type { ReportData } from './types.js';
import { CHART_WIDTH, colorEncoding, type ChartSpec } from './chartTheme.js';

/** A diverged run's snapshot holds NaN weights (null once in JSON): left empty, not drawn as a colour. */
const finiteOrNull = (w: number | null) => (typeof w === 'number' && Number.isFinite(w) ? Number(w.toPrecision(3)) : null);

const pShown = (p: number) => (p < 0.001 ? p.toExponential(2) : p.toFixed(4));

/** One panel per series: each seed's LR sensitivity, QKV beside QV, with the test's ratio, U and p above it. */
export function sensitivityBySeed(data: ReportData, variants: string[], config: Config): ChartSpec | null {
  const points = data.sensitivity ?? [];
  if (points.length === 0) return null;
  const verdicts = new Map((data.verdicts ?? []).map((v) => [v.series, v]));
  const heading = (series: string) => {
    const v = verdicts.get(series);
    const name = series || 'all runs';
    if (!v) return `${name}: no test`;
    const bound = smallestP(v.qv, v.qkv);
    const floor = bound >= 0.05 ? ` (with ${v.qv} vs ${v.qkv} seeds p cannot go below ${pText(bound)})` : '';
    return `${name}: QV/QKV ${Number(v.ratio.toPrecision(3))}, U = ${v.u} of ${v.qv * v.qkv}, p = ${pShown(v.p)}${floor}`;
  };
  const rows = points.map((p) => ({ ...p, panel: heading(p.series) }));
  const panels = seriesOrder(points).map(heading);
  const columns = Math.min(panels.length, 4);
  const x = { field: 'variant', type: 'nominal' as const, sort: variants, title: null, axis: { labelExpr: 'upper(datum.value)', labelAngle: 0 } };
  const y = { field: 'value', type: 'quantitative' as const, title: 'LR sensitivity (higher = less stable)', scale: { zero: true } };
  const color = colorEncoding(variants);
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
    config,
    title: {
      text: title,
      subtitle: 'one point per seed, tick = mean; the verdict holds when QV lies above QKV at p < 0.05 (one-sided exact Mann–Whitney U)',
    },
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: panels, header: { title: null, labelFontSize: 13, labelLimit: CHART_WIDTH } },
    columns: panels.length > 1 ? columns : 1,
    spec: panel,
  };
  return { id: 'sensitivity', title, spec: spec as TopLevelSpec };
}

/**
 * Final attention for every learning rate of one seed: rows are (series,) variant, columns learning
 * rates. The seed is a parameter: report.html binds it to a picker, the PNG shows the smallest seed.
 */
export function heatmapsBySeed(data: ReportData, variants: string[], config: Config): ChartSpec | null {
  if (data.heatmaps.length === 0) return null;
  const seeds = distinctSorted(data.heatmaps.map((h) => h.seed));
  const lrs = distinctSorted(data.heatmaps.map((h) => h.lr));
  const series = seriesOrder(data.heatmaps);
  const cells = data.heatmaps.flatMap((h) => {
    const rows = uniqueLabels(h.rowLabels);
    const cols = uniqueLabels(h.colLabels);
    return h.weights.flatMap((ws, r) =>
      ws.map((w, c) => ({
        series: h.series,
        variant: h.variant,
        lr: h.lr,
        seed: h.seed,
        step: h.step,
        row: rows[r],
        col: cols[c],
        w: finiteOrNull(w),
        correct: h.correct[r] === c,
      })),
    );
  });
  const longest = Math.max(...data.heatmaps.flatMap((h) => h.colLabels.map((l) => l.length)));
  const colCount = Math.max(...data.heatmaps.map((h) => h.colLabels.length));
  // As wide as the page allows for the learning rates side by side, within 10–22 px per key position.
  const step = Math.max(10, Math.min(22, Math.floor((CHART_WIDTH - 120) / lrs.length / colCount) - 2));
  const x = { field: 'col', type: 'ordinal' as const, sort: null, title: 'key position', axis: { labelAngle: longest <= 3 ? 0 : -45 } };
  const color = { field: 'w', type: 'quantitative' as const, title: 'weight', scale: { scheme: 'blues', domain: [0, 1] } };
  const tip = tooltip([
    nominal('variant', 'attention'),
    number('lr', 'learning rate'),
    number('seed', 'seed', 'd'),
    nominal('row', 'query row'),
    nominal('col', 'key position'),
    number('w', 'attention weight', '.3f'),
    nominal('correct', 'correct source'),
  ]);
  const panel = (s: string, variant: string, lr: number, first: boolean) => {
    const mine = cells.filter((c) => c.series === s && c.variant === variant && c.lr === lr);
    const y = {
      field: 'row',
      type: 'ordinal' as const,
      sort: null,
      title: null,
      axis: first ? { labelLimit: 140 } : { labels: false, ticks: false },
    };
    return {
      title: { text: `${s ? `${s} · ` : ''}${variant.toUpperCase()} · lr ${formatLr(lr)}`, fontSize: 13, fontWeight: 'normal' as const },
      data: { values: mine },
      transform: [{ filter: 'datum.seed == heatSeed' }],
      width: { step },
      height: { step: 16 },
      layer: [
        { mark: { type: 'rect' as const }, encoding: { x, y, color, tooltip: tip } },
        {
          transform: [{ filter: 'datum.correct' }],
          mark: { type: 'rect' as const, filled: false, stroke: '#d62728', strokeWidth: 1.6 },
          encoding: { x, y, tooltip: tip },
        },
      ],
    };
  };
  const rows = series.flatMap((s) =>
    variants
      .filter((v) => cells.some((c) => c.series === s && c.variant === v))
      .map((v) => ({
        hconcat: lrs.filter((lr) => cells.some((c) => c.series === s && c.variant === v && c.lr === lr)).map((lr, i) => panel(s, v, lr, i === 0)),
        spacing: 6,
      })),
  );
  const title = 'Attention weights at the end of training';
  const otherSeeds = seeds.length > 1 ? ` (one of ${seeds.length}; report.html can show the others)` : '';
  return {
    id: 'heatmaps',
    title,
    spec: {
      config: { ...config, scale: { bandPaddingInner: 0 } },
      params: [{ name: 'heatSeed', value: seeds[0], bind: { input: 'select', options: seeds, name: 'seed shown: ' } }],
      // An expression, so the subtitle follows the picker in report.html; the PNG shows the first seed.
      title: {
        text: title,
        subtitle: {
          expr:
            `['seed ' + heatSeed + '${otherSeeds}; every learning rate; final snapshot', ` +
            `'rows = query rows of fixed eval examples; outlined cell = correct source position']`,
        },
      },
      vconcat: rows,
      spacing: 14,
    } as unknown as TopLevelSpec, // vega-lite's typings do not yet allow an expression as subtitle; the compiler does
  };
}
