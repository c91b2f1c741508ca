/**
 * Users' attention variants: what a variant module defines (made with defineVariant, src/extend/define.ts) and the
 * registry of those loaded in this process, keyed by the module's absolute path (what config.json records in
 * model.attention). src/extend/load.ts loads and checks a module and registers it here; the tfjs graph and the
 * parameter specs read it back. No TensorFlow.js is loaded here: the user's functions receive the kit's `tf`.
 */
import type * as TF from '@tensorflow/tfjs';

/** The shapes a variant's extra parameters are given in, per layer and per run. */
export interface ModelDims {
  dModel: number;
  heads: number;
}

/**
 * How an extra parameter starts: `linear` is U(±initScale/√d) as for W_Q, W_K, W_V; `normal` N(0, 1); `ones` and
 * `zeros` as the LayerNorm and QK-norm gains; a number fills it with that constant.
 */
export type ParamInit = 'linear' | 'normal' | 'ones' | 'zeros' | number;

export interface VariantParam {
  /** Per run and per layer: a list of sizes, or a function of the model's width and heads. */
  shape: number[] | ((dims: ModelDims) => number[]);
  init: ParamInit;
}

/** What a variant's keys (and values) are computed from. Every tensor has a leading run axis R. */
export interface VariantContext {
  /** The kit's TensorFlow.js: use it for every op, so that gradients flow and the backend is the run's. */
  tf: typeof TF;
  /** The layer's input [R, B, N, d]. */
  x: TF.Tensor;
  /** The query and value projections [R, d, d] (all heads side by side). */
  wQ: TF.Tensor;
  wV: TF.Tensor;
  /** The variant's own parameters by name, each [R, ...shape]. */
  params: Record<string, TF.Tensor>;
  dModel: number;
  heads: number;
}

export interface VariantDefinition {
  /** Set by defineVariant, so that a module exporting something else is told apart. */
  readonly qkvLab: 'variant';
  /** Its label in reports, tables and legends: letters, digits, '-' and '_', not a built-in variant's name. */
  name: string;
  /** One line on what the variant isolates, shown beside its name in reports and chart legends. */
  isolates: string;
  /** Extra parameters per layer, by name (lower-case letters, digits and '_'). */
  params?: Record<string, VariantParam>;
  /** The keys [R, B, N, d] the queries are matched against: scores = Q·Kᵀ/√d_h. */
  keys(ctx: VariantContext): TF.Tensor;
  /** The values [R, B, N, d] the weights average; x·W_V when absent. */
  values?(ctx: VariantContext): TF.Tensor;
}

const loaded = new Map<string, VariantDefinition>();

export { isModulePath } from '../modulePath.js';

export function registerVariant(path: string, definition: VariantDefinition): void {
  loaded.set(path, definition);
}

/** The loaded variant at `path`; its absence is a bug (every command loads the config's modules before training). */
export function userVariant(path: string): VariantDefinition {
  const definition = loaded.get(path);
  if (!definition) throw new Error(`variant module ${path} was not loaded (src/extend/load.ts loads a config's modules first)`);
  return definition;
}

/** A variant parameter's shape for this model. */
export function paramShape(param: VariantParam, dims: ModelDims): number[] {
  return typeof param.shape === 'function' ? param.shape(dims) : param.shape;
}
