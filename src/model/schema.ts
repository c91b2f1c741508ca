import { z } from 'zod';

/** Model settings; the defaults match the independent single-layer reference described in src/metrics/METRICS.md. */
export const modelSchema = z
  .object({
    attention: z.enum(['qkv', 'qv']).default('qkv'), // qkv = standard; qv = keyless, scores = Q·Vᵀ
    dModel: z.number().int().min(1).max(1024).default(8), // width where the reference saw the clearest keyless instability
    heads: z.number().int().min(1).max(64).default(1), // one head isolates the matching mechanism
    layers: z.number().int().min(1).max(8).default(1), // one layer is enough for lookup and copy
    embStd: z.number().positive().max(100).default(1), // N(0, 1) is PyTorch's nn.Embedding default, as in the reference
    initScale: z.number().positive().max(100).default(1), // W ~ U(±s/√d); s = 1 is PyTorch's nn.Linear default
    inputScale: z.number().positive().max(100).default(1), // x = s·(embeddings): the claims' scale sweep; 1 leaves the model as it was
  })
  .strict();

export type ModelConfig = z.infer<typeof modelSchema>;
