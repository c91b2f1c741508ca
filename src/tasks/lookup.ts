import type { Stream } from '../rng.js';
import type { Encoded, Layout, Task } from './types.js';
import type { TaskConfig } from './schema.js';

/** One associative-recall example: N (key, value) slots, then a query naming one slot's key. */
export interface LookupExample {
  keys: number[];
  values: number[];
  /** Index of the slot whose key is queried; its value is the target. */
  slot: number;
}

/**
 * Lookup. Slot i's input is keyEmb[k_i] + valueEmb[v_i] (+ posEmb[i], added by the model); the query
 * slot (last) is keyEmb[k_q] + queryEmb (+ posEmb[N]). The answer is read there under full attention.
 * Embedding rows: keys, then values, then the query marker.
 */
export function lookupTask(cfg: TaskConfig): Task<LookupExample> {
  const { slots, keyVocab, valueVocab } = cfg;
  const valueRow = keyVocab;
  const queryRow = keyVocab + valueVocab;
  const layout: Layout = {
    positions: slots + 1,
    inputVocab: queryRow + 1,
    featuresPerPosition: 2,
    outputVocab: valueVocab,
    contentPositions: slots, // the memory slots; the query slot is scaffold
    queryStart: slots,
    queryCount: 1,
    causal: false,
  };
  return {
    kind: 'lookup',
    layout,
    id: `lookup-s${slots}-k${keyVocab}-v${valueVocab}`,
    sample(rng: Stream, count: number): LookupExample[] {
      const out: LookupExample[] = new Array(count);
      for (let b = 0; b < count; b++) {
        const keys = rng.distinct(keyVocab, slots);
        const values = new Array<number>(slots);
        for (let i = 0; i < slots; i++) values[i] = rng.int(0, valueVocab - 1);
        out[b] = { keys, values, slot: rng.int(0, slots - 1) };
      }
      return out;
    },
    encode(examples: readonly LookupExample[]): Encoded {
      const n = examples.length;
      const N = layout.positions;
      const features = new Int32Array(n * N * 2);
      const targets = new Int32Array(n);
      const sources = new Int32Array(n);
      examples.forEach((ex, b) => {
        let at = b * N * 2;
        for (let i = 0; i < slots; i++) {
          features[at++] = ex.keys[i];
          features[at++] = valueRow + ex.values[i];
        }
        features[at++] = ex.keys[ex.slot];
        features[at] = queryRow;
        targets[b] = ex.values[ex.slot];
        sources[b] = ex.slot;
      });
      return { count: n, features, targets, sources };
    },
    draw(rng: Stream, count: number): Encoded {
      const N = layout.positions;
      const features = new Int32Array(count * N * 2);
      const targets = new Int32Array(count);
      const sources = new Int32Array(count);
      const pool = new Int32Array(keyVocab);
      const values = new Int32Array(slots);
      for (let b = 0; b < count; b++) {
        // The same draws in the same order as sample(): distinct keys, values, slot.
        rng.distinctInto(pool, slots);
        for (let i = 0; i < slots; i++) values[i] = rng.int(0, valueVocab - 1);
        const slot = rng.int(0, slots - 1);
        const at = b * N * 2;
        for (let i = 0; i < slots; i++) {
          features[at + 2 * i] = pool[i];
          features[at + 2 * i + 1] = valueRow + values[i];
        }
        features[at + 2 * slots] = pool[slot];
        features[at + 2 * slots + 1] = queryRow;
        targets[b] = values[slot];
        sources[b] = slot;
      }
      return { count, features, targets, sources };
    },
    isExample(value: unknown): value is LookupExample {
      const ex = value as LookupExample;
      const inRange = (xs: unknown, hi: number) =>
        Array.isArray(xs) && xs.length === slots && xs.every((x) => Number.isInteger(x) && x >= 0 && x < hi);
      return (
        !!ex &&
        inRange(ex.keys, keyVocab) &&
        new Set(ex.keys).size === slots &&
        inRange(ex.values, valueVocab) &&
        Number.isInteger(ex.slot) &&
        ex.slot >= 0 &&
        ex.slot < slots
      );
    },
  };
}
