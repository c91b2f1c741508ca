import type { Stream } from '../rng.js';

/** What the model and trainer need to know about a task's sequences, and nothing more. */
export interface Layout {
  /** Sequence length N. */
  positions: number;
  /** Rows of the content embedding table; a position's input is the sum of `featuresPerPosition` rows plus its position embedding. */
  inputVocab: number;
  featuresPerPosition: number;
  /** Classes the unembedding predicts. */
  outputVocab: number;
  /**
   * Positions [0, contentPositions) hold task content, the things a query may retrieve: the memory slots of
   * lookup, the input tokens of copy. The rest (the query slot, output slots) is scaffold. The claims' attention
   * statistics count only content positions as candidates (src/metrics/METRICS.md).
   */
  contentPositions: number;
  /** Supervised positions are the contiguous range [queryStart, queryStart + queryCount). */
  queryStart: number;
  queryCount: number;
  /** Causal attention (copy) or full attention (lookup). */
  causal: boolean;
}

/** A batch as plain typed arrays: the only thing that crosses from a task into the trainer. */
export interface Encoded {
  count: number;
  /** [count, positions, featuresPerPosition] rows of the embedding table. */
  features: Int32Array;
  /** [count, queryCount] target class per supervised position. */
  targets: Int32Array;
  /** [count, queryCount] the position holding the answer: where retrieval mass is measured. */
  sources: Int32Array;
}

export interface Task<Example> {
  readonly kind: string;
  readonly layout: Layout;
  /** A short id of every setting that changes the examples, for naming the eval file. */
  readonly id: string;
  sample(rng: Stream, count: number): Example[];
  encode(examples: readonly Example[]): Encoded;
  /** Samples and encodes in one pass, with no example objects: exactly encode(sample(rng, count)), draw for draw. */
  draw(rng: Stream, count: number): Encoded;
  /** Checks one example read back from a data file, so a hand-edited file fails clearly. */
  isExample(value: unknown): value is Example;
}
