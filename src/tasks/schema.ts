import { z } from 'zod';
import { closest } from 'fastest-levenshtein';
import { isModulePath } from '../modulePath.js';

export const BUILTIN_TASKS = ['lookup', 'copy', 'mqar'] as const;

/** A built-in task's name, or the path of a user's task module (src/tasks/user.ts), resolved from the config file's directory. */
const kindSchema = z.string().superRefine((value, ctx) => {
  if ((BUILTIN_TASKS as readonly string[]).includes(value) || isModulePath(value)) return;
  ctx.addIssue({
    code: 'custom',
    message:
      `must be one of ${BUILTIN_TASKS.map((n) => `'${n}'`).join(', ')} or a task module's path such as ./tasks/mine.ts, ` +
      `got ${JSON.stringify(value)}; did you mean '${closest(value, [...BUILTIN_TASKS])}'?`,
  });
});

/** Task settings. One flat object: each task reads the keys it needs and ignores the rest. */
export const taskSchema = z
  .object({
    kind: kindSchema.default('lookup'), // lookup (associative recall) is where keys should matter most; or a task module's path
    slots: z.number().int().min(1).max(256).default(8), // lookup: memory slots; 8 matches the independent reference
    keyVocab: z.number().int().min(1).max(1024).default(16), // lookup, mqar: distinct keys; 2× slots (pairs) keeps queries ambiguous without the key
    valueVocab: z.number().int().min(2).max(1024).default(16), // lookup, mqar: values; chance accuracy is 1/16
    length: z.number().int().min(1).max(256).default(8), // copy: tokens to reproduce
    pairs: z.number().int().min(1).max(128).default(8), // mqar: key–value pairs; 8 pairs with 16 keys, as lookup's slots, so the two compare
    queries: z.number().int().min(1).max(128).default(4), // mqar: queried pairs (distinct, ≤ pairs); 4 gives 4 supervised rows per example at half the pairs
    vocab: z.number().int().min(2).max(1024).default(16), // copy: token alphabet
    options: z.record(z.unknown()).default({}), // a task module's own settings, checked against the options it declares (src/extend/load.ts)
  })
  .strict();

/** The fixed evaluation set: the same examples for every run of a task, so runs compare on equal terms. */
export const evalSchema = z
  .object({
    size: z.number().int().min(1).max(100_000).default(512), // 512 examples give ±2% accuracy resolution at cheap cost
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1234), // separate from train.seed so every run shares the eval set
  })
  .strict();

export type TaskConfig = z.infer<typeof taskSchema>;
export type EvalConfig = z.infer<typeof evalSchema>;
