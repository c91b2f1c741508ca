/**
 * Induction: a random sequence holds the bigram "A B" once; the sequence ends with A again, and the model must
 * say B. The classic two-step circuit (Olsson et al., 2022): a first layer writes "the token before me was A" into
 * B's position, and a second layer's query A matches that. The match is on what the previous token was, while the
 * value to return is the token itself: a separate key can hold the one and the value the other, while keyless
 * attention (keys = values) must fit both into one projection. Causal, two layers.
 *
 * Named in a config as `task.kind: ./tasks/induction.ts`; its settings go under `task.options`.
 */
import { defineTask } from 'qkv-lab';

interface Example {
  tokens: number[]; // the whole sequence, ending with A
  at: number; // where A first stands; B is at at + 1
}

type Options = { length: number; vocab: number };

export default defineTask<Example, Options>({
  name: 'induction',
  about: 'find the token that followed the last token earlier in the sequence (an induction head)',
  options: {
    length: { default: 12, min: 4, max: 128, integer: true, why: 'long enough that A B sits among distractors, short enough to learn in minutes' },
    vocab: { default: 16, min: 3, max: 1024, integer: true, why: 'as lookup and MQAR; chance accuracy is about 1/16' },
  },
  layout: ({ length, vocab }) => ({
    positions: length,
    inputVocab: vocab,
    featuresPerPosition: 1,
    outputVocab: vocab,
    contentPositions: length - 1, // every earlier token is a candidate; the final A is the query
    queryStart: length - 1,
    queryCount: 1,
    causal: true,
  }),
  sample: (rng, { length, vocab }) => {
    const a = rng.int(0, vocab - 1);
    const others = () => {
      const t = rng.int(0, vocab - 2); // any token but A, so A appears only at `at` and at the end
      return t >= a ? t + 1 : t;
    };
    const at = rng.int(0, length - 3);
    const tokens = Array.from({ length }, others);
    tokens[at] = a;
    tokens[length - 1] = a;
    return { tokens, at };
  },
  encode: ({ tokens, at }) => ({
    features: tokens.map((t) => [t]),
    targets: [tokens[at + 1]],
    sources: [at + 1],
  }),
});
