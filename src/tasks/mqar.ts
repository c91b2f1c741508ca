import type { Stream } from '../rng.js';
import type { Encoded, Layout, Task } from './types.js';
import type { TaskConfig } from './schema.js';

/** One multi-query associative-recall example: P (key, value) pairs as tokens, then Q queried keys. */
export interface MqarExample {
  keys: number[]; // [P] distinct keys
  values: number[]; // [P] values, drawn with replacement
  /** [Q] distinct pair indices, in query order; query j asks for values[queried[j]]. */
  queried: number[];
}

/**
 * Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"). Keys and values are separate tokens:
 *
 *   k_1 v_1 k_2 v_2 … k_P v_P  k_{a_1} … k_{a_Q}        (causal attention)
 *
 * and at query position j the model must output the value that followed key k_{a_j}. One token per position
 * (+ posEmb, added by the model); embedding rows: keys, then values (disjoint vocabularies). Unlike lookup,
 * the value is not in the key's position: a single causal layer can find the key but not read its value, so
 * the task needs a second layer (one that brings each key to its value's position first).
 *
 * Queries sit together after the pairs (Zoology scatters them among gaps); every query is a distinct pair.
 * The answer's source is the value token of the queried pair, position 2·a_j + 1: that is where the retrieving
 * layer must look. The 2P pair tokens are content; the query tokens are scaffold (src/metrics/METRICS.md).
 */
export function mqarTask(cfg: TaskConfig): Task<MqarExample> {
  const { pairs: P, queries: Q, keyVocab, valueVocab } = cfg;
  const valueRow = keyVocab;
  const layout: Layout = {
    positions: 2 * P + Q,
    inputVocab: keyVocab + valueVocab,
    featuresPerPosition: 1,
    outputVocab: valueVocab,
    contentPositions: 2 * P, // the pair tokens; the query tokens are scaffold
    queryStart: 2 * P,
    queryCount: Q,
    causal: true,
  };
  const N = layout.positions;

  /** Writes example b into the encoded arrays. */
  function write(out: Encoded, b: number, keys: ArrayLike<number>, values: ArrayLike<number>, queried: ArrayLike<number>): void {
    const at = b * N;
    for (let i = 0; i < P; i++) {
      out.features[at + 2 * i] = keys[i];
      out.features[at + 2 * i + 1] = valueRow + values[i];
    }
    for (let j = 0; j < Q; j++) {
      const pair = queried[j];
      out.features[at + 2 * P + j] = keys[pair];
      out.targets[b * Q + j] = values[pair];
      out.sources[b * Q + j] = 2 * pair + 1;
    }
  }
  const empty = (count: number): Encoded => ({
    count,
    features: new Int32Array(count * N),
    targets: new Int32Array(count * Q),
    sources: new Int32Array(count * Q),
  });

  function sample(rng: Stream, count: number): MqarExample[] {
    const out: MqarExample[] = new Array(count);
    for (let b = 0; b < count; b++) {
      const keys = rng.distinct(keyVocab, P);
      const values = Array.from({ length: P }, () => rng.int(0, valueVocab - 1));
      out[b] = { keys, values, queried: rng.distinct(P, Q) };
    }
    return out;
  }
  function encode(examples: readonly MqarExample[]): Encoded {
    const out = empty(examples.length);
    examples.forEach((ex, b) => write(out, b, ex.keys, ex.values, ex.queried));
    return out;
  }

  return {
    kind: 'mqar',
    layout,
    id: `mqar-p${P}-q${Q}-k${keyVocab}-v${valueVocab}`,
    sample,
    encode,
    draw(rng: Stream, count: number): Encoded {
      // sample()'s draws in its order (keys, values, queried pairs), with no example objects: 3% of a step of
      // configs/mqar.yaml went to building and encoding them.
      const out = empty(count);
      const keys = new Int32Array(keyVocab);
      const values = new Int32Array(P);
      const queried = new Int32Array(P);
      for (let b = 0; b < count; b++) {
        rng.distinctInto(keys, P);
        for (let i = 0; i < P; i++) values[i] = rng.int(0, valueVocab - 1);
        rng.distinctInto(queried, Q);
        write(out, b, keys, values, queried);
      }
      return out;
    },
    isExample(value: unknown): value is MqarExample {
      const ex = value as MqarExample;
      const ints = (xs: unknown, length: number, hi: number) =>
        Array.isArray(xs) && xs.length === length && xs.every((x) => Number.isInteger(x) && x >= 0 && x < hi);
      return (
        !!ex &&
        ints(ex.keys, P, keyVocab) &&
        new Set(ex.keys).size === P &&
        ints(ex.values, P, valueVocab) &&
        ints(ex.queried, Q, P) &&
        new Set(ex.queried).size === Q
      );
    },
  };
}
