/** Effects of one group over another across strata, and their seeded percentile-bootstrap interval. */
import { quantileSorted } from 'simple-statistics';
import { Stream } from '../rng.js';
import { meanOf } from './describe.js';
import type { Stratum } from './ranks.js';

export type EffectKind = 'ratio' | 'difference';

/** The effect over strata: x against y of the stratum-averaged means, as a ratio or a difference. */
export function effectOf(strata: readonly Stratum[], kind: EffectKind): { qv: number; qkv: number; effect: number } {
  const used = strata.filter((s) => s.x.length && s.y.length);
  const qv = meanOf(used.map((s) => meanOf(s.x)));
  const qkv = meanOf(used.map((s) => meanOf(s.y)));
  return { qv, qkv, effect: kind === 'ratio' ? qv / qkv : qv - qkv };
}

export const BOOTSTRAP_RESAMPLES = 2000;

/** 95% percentile bootstrap of the effect, resampling seeds with replacement within each (group, stratum) cell. */
export function bootstrapCi(strata: readonly Stratum[], kind: EffectKind, label: string, resamples = BOOTSTRAP_RESAMPLES): [number, number] | null {
  const used = strata.filter((s) => s.x.length && s.y.length);
  if (!used.length) return null;
  const rng = Stream.derive(0, `bootstrap/${label}`);
  const draw = (xs: readonly number[]) => Array.from({ length: xs.length }, () => xs[rng.int(0, xs.length - 1)]);
  const effects: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const e = effectOf(
      used.map((s) => ({ x: draw(s.x), y: draw(s.y) })),
      kind,
    ).effect;
    if (Number.isFinite(e)) effects.push(e);
  }
  if (!effects.length) return null;
  effects.sort((a, b) => a - b);
  return [quantileSorted(effects, 0.025), quantileSorted(effects, 0.975)];
}
