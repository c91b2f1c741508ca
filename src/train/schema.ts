import { z } from 'zod';

/** Optimisation settings: Adam (β 0.9/0.999), linear warmup, then a constant learning rate. */
export const trainSchema = z
  .object({
    steps: z.number().int().min(1).max(10_000_000).default(2000), // the reference's budget: enough for QKV to solve lookup at d=8
    batchSize: z.number().int().min(1).max(65_536).default(128), // small enough for many runs at once, large enough for smooth loss
    lr: z.number().positive().max(1e9).default(1e-2), // mid-range of the swept {1e-3 … 1e-1}; huge values are allowed to provoke divergence
    warmup: z.number().int().min(0).max(10_000_000).default(50), // the reference's warmup; avoids a first-step blow-up of Adam
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0), // drives init and training data; one run = one seed
    logEvery: z.number().int().min(1).max(10_000_000).default(20), // 101 rows over 2000 steps: fine enough for spikes, cheap to evaluate
    // auto = fused: the typed-array kernels compute every shape; tfjs = their reference graph (slower)
    kernel: z.enum(['auto', 'fused', 'tfjs']).default('auto'),
    // the kernel's arithmetic: float64 holds every committed result; float32 puts four runs in a vector, not two (the graph is float32 either way)
    precision: z.enum(['float64', 'float32']).default('float64'),
    checkpointEvery: z.number().int().min(0).max(10_000_000).default(500), // 0 = only at the end; a lost run costs at most this many steps
  })
  .strict();

export type TrainConfig = z.infer<typeof trainSchema>;
