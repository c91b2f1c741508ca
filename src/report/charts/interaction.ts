/**
 * The pieces that make a chart interactive in report.html: a legend that toggles series, zoom and pan
 * on the axes, and a tooltip on every mark. In the PNG they change nothing: a param starts empty, so
 * every series is drawn at full strength.
 */

/** Click a legend entry to keep that variant (shift-click adds more, double-click resets). */
export const SERIES_TOGGLE = { name: 'shown', select: { type: 'point', fields: ['variant'] }, bind: 'legend' } as const;

/** Drag to pan, scroll to zoom; bound to the scales, so the axes follow. */
export const ZOOM = { name: 'zoom', select: { type: 'interval', encodings: ['x', 'y'] }, bind: 'scales' } as const;

/** Full strength for the variants picked in the legend (all of them until one is clicked), faint for the rest. */
export function toggled(on: number, off = on / 8) {
  return { condition: { param: SERIES_TOGGLE.name, value: on, empty: true }, value: off };
}

type TooltipField = { field: string; title: string; type?: 'quantitative' | 'nominal' | 'ordinal'; format?: string };

/** Tooltip rows in a fixed order; numbers to 4 significant digits unless given a format. */
export function tooltip(fields: TooltipField[]) {
  return fields.map((f) => ({
    type: f.type ?? 'quantitative',
    ...(f.type === 'nominal' || f.type === 'ordinal' ? {} : { format: f.format ?? '.4~g' }),
    field: f.field,
    title: f.title,
  }));
}

export const nominal = (field: string, title: string): TooltipField => ({ field, title, type: 'nominal' });
export const number = (field: string, title: string, format?: string): TooltipField => ({ field, title, format });

/**
 * Invisible points on a line's data that carry its tooltip: a line's own hover area is its 1.6 px
 * stroke, too thin to find; these are easy to hover and draw nothing.
 */
export function hoverPoints(encoding: Record<string, unknown>, fields: TooltipField[]) {
  return { name: HOVER_LAYER, mark: { type: 'point', filled: true, size: 60, opacity: 0 }, encoding: { ...encoding, tooltip: tooltip(fields) } };
}

const HOVER_LAYER = 'hover_points';

/**
 * The spec without its hover layers, for the static SVG and PNG: invisible points draw nothing there
 * but would be thousands of SVG elements (most of report.html's size).
 */
export function withoutHoverLayers<T>(spec: T): T {
  const strip = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.filter((l) => !(l && typeof l === 'object' && (l as { name?: string }).name === HOVER_LAYER)).map(strip);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, k === 'data' ? v : strip(v)]));
    return x;
  };
  return strip(spec) as T;
}
