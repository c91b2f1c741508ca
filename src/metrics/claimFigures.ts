/** The claims' run-level figures for summary.json, from what a run writer recorded (METRICS.md, "The seed's claims"). */
import { attentionVolatility, type TracePoint, type ValueNormFigures } from './claims.js';

export function claimRunFigures(rec: { trace: readonly TracePoint[]; valueNorm: ValueNormFigures | null }, steps: number, positions: number) {
  const volatility = attentionVolatility(rec.trace, steps, positions);
  return {
    attn_volatility: volatility !== null && Number.isFinite(volatility) ? volatility : null,
    value_norm_rho: rec.valueNorm?.rho ?? null,
    value_norm_top_hit: rec.valueNorm?.top_hit ?? null,
    value_norm_chance: rec.valueNorm?.chance ?? null,
  };
}
