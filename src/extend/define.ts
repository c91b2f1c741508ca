/**
 * The typed helpers a user's module exports its definition with, as zoology names a mixer by import path:
 *
 *   // variants/tempered.ts, named in a config as model.attention: ./variants/tempered.ts
 *   export default defineVariant({ name: 'tempered', isolates: '…', params: {…}, keys: ({ tf, x, wV, params }) => … });
 *
 * Each returns its argument, tagged, so that the loader (src/extend/load.ts) tells a definition from anything
 * else a module exports, and so that TypeScript checks the definition as it is written.
 */
import type { VariantDefinition } from '../model/variants.js';
import type { TaskDefinition, TaskOptions } from '../tasks/user.js';

export type { VariantDefinition, VariantContext, VariantParam, ParamInit, ModelDims } from '../model/variants.js';
export type { TaskDefinition, TaskOption, TaskOptions, EncodedExample, Rng } from '../tasks/user.js';
export type { Layout } from '../tasks/types.js';

export function defineVariant(definition: Omit<VariantDefinition, 'qkvLab'>): VariantDefinition {
  return { ...definition, qkvLab: 'variant' };
}

export function defineTask<Example, Options extends TaskOptions>(definition: Omit<TaskDefinition<Example, Options>, 'qkvLab'>): TaskDefinition {
  return { ...definition, qkvLab: 'task' } as unknown as TaskDefinition;
}
