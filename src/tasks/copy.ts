import type { Stream } from '../rng.js';
import type { Encoded, Layout, Task } from './types.js';
import type { TaskConfig } from './schema.js';

export interface CopyExample {
  tokens: number[];
}

/**
 * Copy. T random tokens (tokenEmb, + posEmb[i] added by the model), then T output slots (outputEmb
 * + posEmb[T+i]); output slot i must reproduce token i under causal attention, so matching is purely
 * positional. Embedding rows: tokens, then the output marker.
 */
export function copyTask(cfg: TaskConfig): Task<CopyExample> {
  const { length: T, vocab } = cfg;
  const outputRow = vocab;
  const layout: Layout = {
    positions: 2 * T,
    inputVocab: vocab + 1,
    featuresPerPosition: 1,
    outputVocab: vocab,
    contentPositions: T, // the input tokens; output slots are scaffold
    queryStart: T,
    queryCount: T,
    causal: true,
  };
  return {
    kind: 'copy',
    layout,
    id: `copy-t${T}-v${vocab}`,
    sample(rng: Stream, count: number): CopyExample[] {
      return Array.from({ length: count }, () => ({ tokens: Array.from({ length: T }, () => rng.int(0, vocab - 1)) }));
    },
    encode(examples: readonly CopyExample[]): Encoded {
      const n = examples.length;
      const N = layout.positions;
      const features = new Int32Array(n * N);
      const targets = new Int32Array(n * T);
      const sources = new Int32Array(n * T);
      examples.forEach((ex, b) => {
        for (let i = 0; i < T; i++) {
          features[b * N + i] = ex.tokens[i];
          features[b * N + T + i] = outputRow;
          targets[b * T + i] = ex.tokens[i];
          sources[b * T + i] = i;
        }
      });
      return { count: n, features, targets, sources };
    },
    draw(rng: Stream, count: number): Encoded {
      const N = layout.positions;
      const features = new Int32Array(count * N);
      const targets = new Int32Array(count * T);
      const sources = new Int32Array(count * T);
      for (let b = 0; b < count; b++) {
        for (let i = 0; i < T; i++) {
          const token = rng.int(0, vocab - 1);
          features[b * N + i] = token;
          features[b * N + T + i] = outputRow;
          targets[b * T + i] = token;
          sources[b * T + i] = i;
        }
      }
      return { count, features, targets, sources };
    },
    isExample(value: unknown): value is CopyExample {
      const ex = value as CopyExample;
      return !!ex && Array.isArray(ex.tokens) && ex.tokens.length === T && ex.tokens.every((x) => Number.isInteger(x) && x >= 0 && x < vocab);
    },
  };
}
