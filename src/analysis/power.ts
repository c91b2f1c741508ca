/**
 * What a seed count can show at all. The one-sided exact Mann–Whitney test can give no p below
 * 1 / C(n + m, n), reached only when every QV seed is above every QKV seed: with 2 vs 2 seeds that is
 * 1/6, so no sweep of that size can reach p < 0.05 whatever the data.
 */
import { ALPHA } from './protocol.js';
import { smallestP } from '../stats/ranks.js';

export { smallestP };

/** "1/6" for p = 1/C exactly, since that is how the bound arises; else 3 significant digits. */
export function pText(p: number): string {
  const inverse = Math.round(1 / p);
  return Math.abs(1 / inverse - p) < 1e-12 ? `1/${inverse}` : Number(p.toPrecision(3)).toString();
}

/** A warning when n vs m seeds cannot reach p < ALPHA, else null. */
export function seedCountWarning(nQv: number, nQkv: number, where = ''): string | null {
  const p = smallestP(nQv, nQkv);
  if (p < ALPHA) return null;
  return (
    `${where ? `${where}: ` : ''}with ${nQv} QV vs ${nQkv} QKV seeds the smallest possible p is ${pText(p)} (≥ ` +
    `${ALPHA}), so the verdict cannot hold whatever the data; use at least 4 seeds per variant (4 vs 4 allows p = 1/70)`
  );
}
