/** How every report and table prints a number: `digits` significant digits, and "n/a" for a missing or non-finite one. */
export function formatNumber(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : Number(x.toPrecision(digits)).toString();
}
