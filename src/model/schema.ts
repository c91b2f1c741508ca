import { z } from 'zod';
import { closest } from 'fastest-levenshtein';
import { isModulePath, moduleStem } from '../modulePath.js';

/**
 * The attention variants: what the query is matched against (the keys), and what that isolates. Values are
 * always softmax·(x·W_V). Parameters a variant does not use do not exist (W_K only in qkv).
 */
export const VARIANTS = {
  qkv: { keys: 'x·W_K', isolates: 'the baseline: a separate key projection' },
  qv: { keys: 'x·W_V', isolates: 'keyless, keys tied to values (the seed’s Q–V)' },
  qx: { keys: 'x', isolates: 'no key projection, matching not tied to values' },
  qq: { keys: 'x·W_Q', isolates: 'shared query–key projection (Reformer): no separate key, values untied' },
} as const;
export type Variant = keyof typeof VARIANTS;
const variantNames = Object.keys(VARIANTS) as [Variant, ...Variant[]];

/** A built-in variant's name, or the path of a user's variant module (src/model/variants.ts), resolved from the config file's directory. */
const attentionSchema = z.string().superRefine((value, ctx) => {
  if ((variantNames as string[]).includes(value) || isModulePath(value)) return;
  ctx.addIssue({
    code: 'custom',
    message:
      `must be one of ${variantNames.map((n) => `'${n}'`).join(', ')} or a variant module's path such as ./variants/mine.ts, ` +
      `got ${JSON.stringify(value)}; did you mean '${closest(value, variantNames)}'?`,
  });
});

/** Model settings; the defaults match the independent single-layer reference described in src/metrics/METRICS.md. */
export const modelSchema = z
  .object({
    attention: attentionSchema.default('qkv'), // qkv = standard; qv = keyless (scores = Q·Vᵀ); qx, qq isolate why (VARIANTS); or a module's path
    qkNorm: z.boolean().default(false), // RMSNorm with a learned gain on both sides of the score (OLMo 2, Gemma 3); off = the seed's attention
    dModel: z.number().int().min(1).max(1024).default(8), // width where the reference saw the clearest keyless instability
    heads: z.number().int().min(1).max(64).default(1), // one head isolates the matching mechanism
    layers: z.number().int().min(1).max(8).default(1), // one layer is enough for lookup and copy
    embStd: z.number().positive().max(100).default(1), // N(0, 1) is PyTorch's nn.Embedding default, as in the reference
    initScale: z.number().positive().max(100).default(1), // W ~ U(±s/√d); s = 1 is PyTorch's nn.Linear default
    inputScale: z.number().positive().max(100).default(1), // x = s·(embeddings): the claims' scale sweep; 1 leaves the model as it was
  })
  .strict();

export type ModelConfig = z.infer<typeof modelSchema>;

/** What config.json records of a user's module (src/extend/load.ts), by its absolute path: enough to label runs without loading it. */
export interface ModuleRecord {
  name: string;
  isolates: string;
  sha256: string;
}

/**
 * The variant's name in reports: its attention (a user variant's own name, from the modules config.json records),
 * with "+qknorm" when QK-norm is on.
 */
export function variantLabel(cfg: Pick<ModelConfig, 'attention' | 'qkNorm'>, modules: Record<string, ModuleRecord> = {}): string {
  let name = cfg.attention;
  const record = modules[cfg.attention];
  if (record) name = record.name;
  else if (isModulePath(name)) name = moduleStem(name); // not recorded: the file's name
  return cfg.qkNorm ? `${name}+qknorm` : name;
}

/**
 * Reports group runs by variantLabel, and key legends, colours and the isolates column by it across every series, so
 * within one comparison a label must stand for one model. Where two different variants give runs one label, a line
 * naming both; else null. Modules are told apart by their recorded hash (by their path when none is
 * recorded), so two module files with one `name`, or two versions of one file, are caught before they are pooled.
 */
export function variantLabelClash(
  configs: readonly { model: Pick<ModelConfig, 'attention' | 'qkNorm'>; modules: Record<string, ModuleRecord> }[],
): string | null {
  const first = new Map<string, { id: string; attention: string; hash: string }>();
  for (const { model, modules } of configs) {
    const label = variantLabel(model, modules);
    const sha = modules[model.attention]?.sha256;
    const id = sha ?? model.attention;
    const hash = sha ? `${sha.slice(0, 12)}…` : 'not recorded';
    const seen = first.get(label);
    if (!seen) first.set(label, { id, attention: model.attention, hash });
    else if (seen.id !== id)
      return seen.attention === model.attention
        ? `runs labelled '${label}' come from two versions of ${model.attention} (sha256 ${seen.hash} and ${hash}); ` +
            'compare them apart, or train them again from one version'
        : `'${label}' names two different variants, ${seen.attention} and ${model.attention}; ` +
            "give each module its own name (defineVariant's name) so reports tell them apart";
  }
  return null;
}

/**
 * What the variant of `cfg` isolates, for tables and chart legends: a built-in's from VARIANTS, a user variant's from
 * the record config.json keeps of its module (its name when there is none).
 */
export function variantIsolates(cfg: Pick<ModelConfig, 'attention' | 'qkNorm'>, modules: Record<string, ModuleRecord> = {}): string {
  const what =
    modules[cfg.attention]?.isolates ??
    (VARIANTS as Record<string, { isolates: string }>)[cfg.attention]?.isolates ??
    variantLabel({ attention: cfg.attention, qkNorm: false }, modules);
  return cfg.qkNorm ? `${what}, with QK-norm` : what;
}
