/**
 * The claims config: a sweep config (name, base, grid over attention × lr × seed, and any other axis such as
 * model.dModel) plus a `scale` section. It expands to two sweeps: the learning-rate sweep as written, and the
 * input-scale sweep, the same grid with train.lr fixed to scale.lr and model.inputScale over scale.values.
 */
import { z } from 'zod';
import { loadConfigFile, validate } from '../config.js';
import { UserError } from '../errors.js';
import { SCALE_LR } from '../analysis/protocol.js';
import { planSweep, comparesQkvWithQv, type SweepPlan } from './plan.js';

const scaleSchema = z
  .object({
    // METRICS.md: four octaves around 1
    values: z.array(z.number().positive().max(100)).min(2, 'must list at least 2 input scales').default([0.25, 0.5, 1, 2, 4]),
    lr: z.number().positive().default(SCALE_LR), // METRICS.md fixes the scale sweep's learning rate
  })
  .strict();

export interface ClaimsPlan {
  lr: SweepPlan;
  scale: SweepPlan;
  scaleLr: number;
}

export function loadClaimsPlan(path: string, sets: readonly string[], seeds?: readonly number[]): ClaimsPlan {
  const { scale: rawScale, ...sweep } = loadConfigFile(path);
  const scale = validate(scaleSchema, rawScale ?? {}, 'scale');
  const lr = planSweep(sweep, path, sets, seeds);
  const lrs = lr.grid['train.lr'];
  if (!lrs || lrs.length < 2) throw new UserError(`${path}: the claims measure LR sensitivity, so grid.train.lr must list at least 2 learning rates`);
  if (!comparesQkvWithQv(lr))
    throw new UserError(`${path}: the claims compare variants, so grid.model.attention (or model.variant) must list qkv and qv`);
  if ('model.inputScale' in lr.grid)
    throw new UserError(`${path}: grid.model.inputScale belongs in scale.values, which the scale sweep runs at one learning rate`);
  if (new Set(scale.values).size !== scale.values.length)
    throw new UserError(`${path}: scale.values lists a scale twice; each value must be distinct`);
  // The scale axis takes the learning rate's place, so run names and plan order read the same way.
  const grid = Object.fromEntries(
    Object.entries(lr.grid).flatMap(([k, v]) =>
      k === 'train.lr'
        ? [
            ['train.lr', [scale.lr]],
            ['model.inputScale', scale.values],
          ]
        : [[k, v]],
    ),
  );
  const scalePlan = planSweep({ ...sweep, grid }, path, sets, seeds);
  return { lr, scale: scalePlan, scaleLr: scale.lr };
}
