/** How the small-multiple charts lay out their panels: panel sizes, facets by learning rate, the curves' x axis. */
import { CHART_WIDTH, LR_TEXT } from './theme.js';
import { distinctSorted, seriesOrder } from './data.js';
import { formatLr } from '../../format.js';
import { nominal, number } from './interaction.js';

// Small multiples: a panel wide enough for ~5 axis ticks, and short enough that 2–3 rows fit a screen.
const PANEL = { width: 220, height: 150 };

/** A panel sized so that `columns` of them fill the page, within 110–400 px. */
export function panelFor(columns: number) {
  return { ...PANEL, width: Math.max(110, Math.min(400, Math.floor(CHART_WIDTH / columns) - 12)) };
}

export const lrHeader = { title: null, labelExpr: `'lr ' + ${LR_TEXT}` };

// In a wrapped facet whose last row is short, shared x axes would hang under empty cells.
export const OWN_X_AXES = { resolve: { axis: { x: 'independent' as const } } };

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
export function curveLayout<R extends { series: string; lr: number; step: number }>(rows: R[], rowField: 'series' | 'metric', rowSort: string[]) {
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

export const CURVE_TIP = [
  nominal('variant', 'attention'),
  number('lr', 'learning rate'),
  number('step', 'step'),
  number('mean', 'mean over seeds'),
  number('lo', 'min over seeds'),
  number('hi', 'max over seeds'),
];
