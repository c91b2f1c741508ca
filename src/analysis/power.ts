/**
 * What a seed count can show at all. The one-sided exact Mann–Whitney test can give no p below
 * 1 / C(n + m, n), reached only when every QV seed is above every QKV seed: with 2 vs 2 seeds that is
 * 1/6, so no sweep of that size can reach p < 0.05 whatever the data.
 */
import { ALPHA } from './protocol.js';
import { smallestP } from '../stats/ranks.js';
import { formatPBound } from '../format.js';

export { smallestP };

/** The smallest p that n vs m seeds allow when it is not below ALPHA (no data could make the verdict hold), else null. */
export function unreachableFloor(nQv: number, nQkv: number): number | null {
  const p = smallestP(nQv, nQkv);
  return p < ALPHA ? null : p;
}

/** A warning when n vs m seeds cannot reach p < ALPHA, else null. */
export function seedCountWarning(nQv: number, nQkv: number, where = ''): string | null {
  const p = unreachableFloor(nQv, nQkv);
  if (p === null) return null;
  return (
    `${where ? `${where}: ` : ''}with ${nQv} QV vs ${nQkv} QKV seeds the smallest possible p is ${formatPBound(p)} (≥ ` +
    `${ALPHA}), so the verdict cannot hold whatever the data; use at least 4 seeds per variant (4 vs 4 allows p = 1/70)`
  );
}
