/** The two sensitivity figures of src/metrics/METRICS.md: one formula, over learning rates or over input scales. */
import { meanOf } from './describe.js';

/**
 * Mean over a sweep of min(ℓ_i, cap_i) − min over the sweep of the same, where a non-finite ℓ_i (a diverged run)
 * counts as its cap. Higher means more sensitive to the swept setting.
 */
export function sweepSensitivity(finalLosses: readonly number[], caps: readonly number[]): number {
  const capped = finalLosses.map((l, i) => Math.min(Number.isFinite(l) ? l : caps[i], caps[i]));
  const best = Math.min(...capped);
  return meanOf(capped.map((l) => l - best));
}

/** LR sensitivity of one seed (Wortsman et al. 2023): every learning rate capped at the same ℓ₀. */
export function lrSensitivity(finalLosses: readonly number[], initLoss: number): number {
  return sweepSensitivity(
    finalLosses,
    finalLosses.map(() => initLoss),
  );
}

/** Scale sensitivity of one seed: each input scale capped at its own run's ℓ₀(s), since ℓ₀ depends on the scale. */
export function scaleSensitivity(finalLosses: readonly number[], initLosses: readonly number[]): number {
  return sweepSensitivity(finalLosses, initLosses);
}
