/** Multiple-comparison correction. */

/** Holm's step-down adjustment; null entries (untested) stay null and do not count in the family. */
export function holm(ps: readonly (number | null)[]): (number | null)[] {
  const tested = ps.map((p, i) => ({ p, i })).filter((e): e is { p: number; i: number } => e.p !== null && Number.isFinite(e.p));
  tested.sort((a, b) => a.p - b.p);
  const out: (number | null)[] = ps.map(() => null);
  let running = 0;
  tested.forEach((e, rank) => {
    running = Math.max(running, Math.min(1, (tested.length - rank) * e.p));
    out[e.i] = running;
  });
  return out;
}
