/**
 * The attention weights at the end of training, for every learning rate of one seed: rows are (series,) variant
 * (and layer, when the runs have more than one), columns learning rates. The seed is a parameter: report.html
 * binds it to a picker, the PNG shows the smallest seed.
 */
import type { TopLevelSpec } from 'vega-lite';
import { distinctSorted, seriesOrder, uniqueLabels } from './data.js';
import { formatLr } from '../../format.js';
import { nominal, number, tooltip } from './interaction.js';
import { CHART_CONFIG, CHART_WIDTH, type ChartSpec } from './theme.js';
import type { ReportData } from '../data/types.js';

/** What a reader of a multi-layer heatmap needs: the lower layers show every position's row, and only the last is judged. */
const LAYER_NOTE = '; one row of panels per layer: a layer below the last shows every position (causal), the last its query rows';

/**
 * A weight to 4 decimals: the tooltip shows 3 and the colour scale spans [0, 1], so nothing a reader sees changes;
 * a diverged run's snapshot holds NaN weights (null once in JSON): left empty, not drawn as a colour.
 */
const compactWeight = (w: number | null) => (typeof w === 'number' && Number.isFinite(w) ? Math.round(w * 1e4) / 1e4 : null);

/**
 * The seed picked, then one cell per weight: i (1-based, in the record's row-major order) gives the row and column,
 * whose labels the record carries, and the correct source is the column its row names.
 */
const panelTransforms = [
  { filter: 'datum.seed == heatSeed' },
  { flatten: ['w'] },
  { window: [{ op: 'row_number', as: 'i' }] },
  { calculate: 'floor((datum.i - 1) / length(datum.cols))', as: 'r' },
  { calculate: '(datum.i - 1) % length(datum.cols)', as: 'c' },
  { calculate: 'datum.rows[datum.r]', as: 'row' },
  { calculate: 'datum.cols[datum.c]', as: 'col' },
  { calculate: 'datum.correct[datum.r] == datum.c', as: 'correct' },
];

export function heatmapsBySeed(data: ReportData, variants: string[]): ChartSpec | null {
  if (data.heatmaps.length === 0) return null;
  const seeds = distinctSorted(data.heatmaps.map((h) => h.seed));
  const lrs = distinctSorted(data.heatmaps.map((h) => h.lr));
  const series = seriesOrder(data.heatmaps);
  // One record per (panel, seed): the weights row-major in one array, expanded into cells by the spec's own
  // transforms (panelTransforms), so report.html carries ~6 bytes a cell instead of a ~150-byte object (issue 29).
  const records = data.heatmaps.map((h) => ({
    series: h.series,
    variant: h.variant,
    lr: h.lr,
    seed: h.seed,
    step: h.step,
    layer: h.layer,
    rows: uniqueLabels(h.rowLabels),
    cols: uniqueLabels(h.colLabels),
    correct: h.correct,
    w: h.weights.flat().map(compactWeight),
  }));
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
  // One-layer runs keep their panels unlabelled; with several layers every panel names its layer.
  const layered = data.heatmaps.some((h) => h.layers > 1);
  const layers = distinctSorted(data.heatmaps.map((h) => h.layer));
  const panel = (s: string, variant: string, layer: number, lr: number, first: boolean) => {
    const mine = records.filter((c) => c.series === s && c.variant === variant && c.layer === layer && c.lr === lr);
    const y = {
      field: 'row',
      type: 'ordinal' as const,
      sort: null,
      title: null,
      axis: first ? { labelLimit: 140 } : { labels: false, ticks: false },
    };
    return {
      title: {
        text: `${s ? `${s} · ` : ''}${variant.toUpperCase()}${layered ? ` · layer ${layer}` : ''} · lr ${formatLr(lr)}`,
        fontSize: 13,
        fontWeight: 'normal' as const,
      },
      // The layer is in the panel's title; a one-layer report's data stays as it was before layers were drawn.
      data: { values: mine.map(({ layer: cellLayer, ...record }) => (layered ? { ...record, layer: cellLayer } : record)) },
      transform: panelTransforms,
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
    variants.flatMap((v) =>
      layers
        .filter((layer) => records.some((c) => c.series === s && c.variant === v && c.layer === layer))
        .map((layer) => ({
          hconcat: lrs
            .filter((lr) => records.some((c) => c.series === s && c.variant === v && c.layer === layer && c.lr === lr))
            .map((lr, i) => panel(s, v, layer, lr, i === 0)),
          spacing: 6,
        })),
    ),
  );
  const title = 'Attention weights at the end of training';
  const otherSeeds = seeds.length > 1 ? ` (one of ${seeds.length}; report.html can show the others)` : '';
  return {
    id: 'heatmaps',
    title,
    spec: {
      config: { ...CHART_CONFIG, scale: { bandPaddingInner: 0 } },
      params: [{ name: 'heatSeed', value: seeds[0], bind: { input: 'select', options: seeds, name: 'seed shown: ' } }],
      // An expression, so the subtitle follows the picker in report.html; the PNG shows the first seed.
      title: {
        text: title,
        subtitle: {
          expr:
            `['seed ' + heatSeed + '${otherSeeds}; every learning rate; final snapshot', ` +
            `'rows = query rows of fixed eval examples; outlined cell = correct source position${layered ? LAYER_NOTE : ''}']`,
        },
      },
      vconcat: rows,
      spacing: 14,
    } as unknown as TopLevelSpec, // vega-lite's typings do not yet allow an expression as subtitle; the compiler does
  };
}
