/** Descriptive numbers over plain arrays. simple-statistics does the arithmetic; these wrappers fix the edge cases. */
import { mean, median, sampleStandardDeviation } from 'simple-statistics';

/** The mean; NaN for no values. */
export function meanOf(xs: readonly number[]): number {
  return xs.length ? mean([...xs]) : NaN;
}

/** Sample standard deviation (n − 1); 0 for a single value, NaN for none. */
export function stdOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return xs.length === 1 ? 0 : sampleStandardDeviation([...xs]);
}

/** The median; NaN for no values. */
export function medianOf(xs: readonly number[]): number {
  return xs.length ? median([...xs]) : NaN;
}
