/**
 * How every number is printed: the reports, the terminal, chart labels and the sweep's warnings. One module,
 * so a p-value reads the same in the Markdown table, the chart above it and the line printed after the run.
 */

/** `digits` significant digits, and "n/a" for a missing or non-finite number. */
export function formatNumber(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : Number(x.toPrecision(digits)).toString();
}

/**
 * A p-value: four decimals, or three significant digits in exponent form below 0.001, where decimals would
 * round to zero. `compact` is for a chart cell or label: two significant digits (one decimal in exponent form).
 */
export function formatP(p: number | null | undefined, style: 'full' | 'compact' = 'full'): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return 'n/a';
  if (style === 'compact') return p < 0.001 ? p.toExponential(1) : formatNumber(p, 2);
  return p < 0.001 ? p.toExponential(2) : p.toFixed(4);
}

/** The smallest p a seed count allows: "1/6" when it is exactly one over a count of orderings, as it arises, else 3 significant digits. */
export function formatPBound(p: number): string {
  const inverse = Math.round(1 / p);
  return Math.abs(1 / inverse - p) < 1e-12 ? `1/${inverse}` : formatNumber(p);
}

/** A learning rate in a label: 0.003 → "3e-3". */
export function formatLr(lr: number): string {
  const [m, e] = lr.toExponential().split('e');
  return `${Number(Number(m).toPrecision(3))}e${Number(e)}`;
}
