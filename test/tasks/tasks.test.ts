/** The lookup and copy tasks: deterministic sampling, the encoded layout, and the eval-set file. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { Stream } from '../../src/rng.js';
import { taskSchema, evalSchema } from '../../src/tasks/schema.js';
import { lookupTask, type LookupExample } from '../../src/tasks/lookup.js';
import { copyTask, type CopyExample } from '../../src/tasks/copy.js';
import { mqarTask, type MqarExample } from '../../src/tasks/mqar.js';
import { makeTask, type AnyTask } from '../../src/tasks/index.js';
import { loadEvalSet, writeEvalSet, evalSetPath } from '../../src/tasks/evalset.js';
import { UserError } from '../../src/errors.js';

const lookup = lookupTask(taskSchema.parse({ kind: 'lookup', slots: 5, keyVocab: 7, valueVocab: 6 }));
const copy = copyTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 9 }));
const mqar = mqarTask(taskSchema.parse({ kind: 'mqar', pairs: 4, queries: 3, keyVocab: 6, valueVocab: 5 }));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'qkv-tasks-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('lookup', () => {
  it('the same seed gives identical samples; another seed does not', () => {
    const a = lookup.sample(Stream.derive(3, 'x'), 50);
    const b = lookup.sample(Stream.derive(3, 'x'), 50);
    const c = lookup.sample(Stream.derive(4, 'x'), 50);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('samples are valid: distinct keys in range, values in range, slot in range, and varied', () => {
    const xs = lookup.sample(Stream.derive(1, 'y'), 400);
    for (const ex of xs) {
      expect(ex.keys).toHaveLength(5);
      expect(new Set(ex.keys).size).toBe(5);
      expect(ex.keys.every((k) => Number.isInteger(k) && k >= 0 && k < 7)).toBe(true);
      expect(ex.values.every((v) => Number.isInteger(v) && v >= 0 && v < 6)).toBe(true);
      expect(ex.slot >= 0 && ex.slot < 5).toBe(true);
      expect(lookup.isExample(ex)).toBe(true);
    }
    // Every queried slot, key and value occurs (400 draws: missing one would be a sampling bug).
    expect(new Set(xs.map((e) => e.slot)).size).toBe(5);
    expect(new Set(xs.flatMap((e) => e.keys)).size).toBe(7);
    expect(new Set(xs.flatMap((e) => e.values)).size).toBe(6);
  });

  it("layout: 5 slots + query; content rows keys | values | query marker (positions are the model's)", () => {
    expect(lookup.id).toBe('lookup-s5-k7-v6');
    expect(lookup.layout).toEqual({
      positions: 6,
      inputVocab: 7 + 6 + 1, // 14
      featuresPerPosition: 2,
      outputVocab: 6,
      contentPositions: 5, // the memory slots; the query slot is scaffold
      queryStart: 5,
      queryCount: 1,
      causal: false,
    });
  });

  it('encode: features, targets and sources by hand', () => {
    const ex: LookupExample = { keys: [4, 0, 6, 2, 1], values: [5, 3, 0, 3, 2], slot: 3 };
    const enc = lookup.encode([ex]);
    // value row = 7 + v, query marker row = 13
    expect(Array.from(enc.features)).toEqual([
      4,
      12, // slot 0: key 4, value 5
      0,
      10,
      6,
      7,
      2,
      10,
      1,
      9,
      2,
      13, // query: key of slot 3 (= 2), query marker
    ]);
    expect(Array.from(enc.targets)).toEqual([3]); // value of slot 3
    expect(Array.from(enc.sources)).toEqual([3]);
    expect(enc.count).toBe(1);
  });

  it('encode of a batch: every feature in range, feature groups in their own row ranges, target at source', () => {
    const xs = lookup.sample(Stream.derive(2, 'z'), 64);
    const enc = lookup.encode(xs);
    const { positions: N, inputVocab, featuresPerPosition: F } = lookup.layout;
    expect(enc.features.length).toBe(64 * N * F);
    expect(enc.targets.length).toBe(64);
    expect(Array.from(enc.features).every((f) => f >= 0 && f < inputVocab)).toBe(true);
    xs.forEach((ex, b) => {
      const at = (i: number) => Array.from(enc.features.slice((b * N + i) * F, (b * N + i + 1) * F));
      for (let i = 0; i < 5; i++) {
        const [k, v] = at(i);
        expect(k).toBe(ex.keys[i]);
        expect(k).toBeLessThan(7);
        expect(v - 7).toBe(ex.values[i]);
      }
      const [qk, marker] = at(5);
      expect(marker).toBe(13);
      // The query key names exactly one slot, and that slot is the source holding the target.
      const matches = [0, 1, 2, 3, 4].filter((i) => at(i)[0] === qk);
      expect(matches).toEqual([enc.sources[b]]);
      expect(at(enc.sources[b])[1] - 7).toBe(enc.targets[b]);
    });
  });

  it('isExample rejects bad examples', () => {
    const good: LookupExample = { keys: [0, 1, 2, 3, 4], values: [0, 1, 2, 3, 4], slot: 0 };
    expect(lookup.isExample(good)).toBe(true);
    expect(lookup.isExample({ ...good, keys: [0, 0, 2, 3, 4] })).toBe(false); // repeated key
    expect(lookup.isExample({ ...good, keys: [0, 1, 2, 3, 7] })).toBe(false); // key out of range
    expect(lookup.isExample({ ...good, values: [0, 1, 2, 3, 6] })).toBe(false);
    expect(lookup.isExample({ ...good, slot: 5 })).toBe(false);
    expect(lookup.isExample({ ...good, slot: 1.5 })).toBe(false);
    expect(lookup.isExample({ ...good, keys: [0, 1, 2, 3] })).toBe(false);
    expect(lookup.isExample(null)).toBe(false);
  });
});

describe('copy', () => {
  it('the same seed gives identical samples', () => {
    expect(copy.sample(Stream.derive(9, 'c'), 30)).toEqual(copy.sample(Stream.derive(9, 'c'), 30));
    expect(copy.sample(Stream.derive(9, 'c'), 30)).not.toEqual(copy.sample(Stream.derive(10, 'c'), 30));
  });

  it('layout: T tokens then T causal output slots', () => {
    expect(copy.id).toBe('copy-t4-v9');
    expect(copy.layout).toEqual({
      positions: 8,
      inputVocab: 9 + 1, // tokens, then the output marker; positions are the model's
      featuresPerPosition: 1,
      outputVocab: 9,
      contentPositions: 4, // the input tokens; output slots are scaffold
      queryStart: 4,
      queryCount: 4,
      causal: true,
    });
  });

  it('encode: features, targets and sources by hand', () => {
    const ex: CopyExample = { tokens: [8, 0, 3, 3] };
    const enc = copy.encode([ex]);
    // tokens, then the output marker (row 9) in each of the 4 output slots
    expect(Array.from(enc.features)).toEqual([8, 0, 3, 3, 9, 9, 9, 9]);
    expect(Array.from(enc.targets)).toEqual([8, 0, 3, 3]);
    expect(Array.from(enc.sources)).toEqual([0, 1, 2, 3]);
  });

  it('samples are in range and isExample agrees', () => {
    const xs = copy.sample(Stream.derive(1, 'd'), 200);
    expect(xs.every((ex) => copy.isExample(ex))).toBe(true);
    expect(new Set(xs.flatMap((e) => e.tokens)).size).toBe(9);
    expect(copy.isExample({ tokens: [0, 1, 2, 9] })).toBe(false);
    expect(copy.isExample({ tokens: [0, 1, 2] })).toBe(false);
  });

  it('makeTask dispatches on kind', () => {
    expect(makeTask(taskSchema.parse({ kind: 'copy', length: 4, vocab: 9 })).id).toBe('copy-t4-v9');
    expect(makeTask(taskSchema.parse({ kind: 'lookup', slots: 5, keyVocab: 7, valueVocab: 6 })).id).toBe('lookup-s5-k7-v6');
  });
});

describe('mqar', () => {
  it('the same seed gives identical samples; another seed does not', () => {
    expect(mqar.sample(Stream.derive(9, 'm'), 30)).toEqual(mqar.sample(Stream.derive(9, 'm'), 30));
    expect(mqar.sample(Stream.derive(9, 'm'), 30)).not.toEqual(mqar.sample(Stream.derive(10, 'm'), 30));
  });

  it('layout: 2P pair tokens (content) then Q causal query tokens (scaffold), keys and values in disjoint rows', () => {
    expect(mqar.id).toBe('mqar-p4-q3-k6-v5');
    expect(mqar.layout).toEqual({
      positions: 2 * 4 + 3,
      inputVocab: 6 + 5, // keys, then values
      featuresPerPosition: 1,
      outputVocab: 5,
      contentPositions: 8,
      queryStart: 8,
      queryCount: 3,
      causal: true,
    });
  });

  it('encode: features, targets and sources (the queried pair’s value token) by hand', () => {
    const ex: MqarExample = { keys: [5, 0, 3, 2], values: [4, 1, 1, 0], queried: [2, 0, 3] };
    const enc = mqar.encode([ex]);
    // k v k v k v k v | queried keys; value rows are 6 + v
    expect(Array.from(enc.features)).toEqual([5, 10, 0, 7, 3, 7, 2, 6, 3, 5, 2]);
    expect(Array.from(enc.targets)).toEqual([1, 4, 0]);
    expect(Array.from(enc.sources)).toEqual([5, 1, 7]);
  });

  it('samples are valid (distinct keys, distinct queried pairs) and varied; isExample refuses broken ones', () => {
    const xs = mqar.sample(Stream.derive(1, 'mq'), 400);
    for (const ex of xs) {
      expect(mqar.isExample(ex)).toBe(true);
      expect(new Set(ex.keys).size).toBe(4);
      expect(new Set(ex.queried).size).toBe(3);
    }
    expect(new Set(xs.flatMap((e) => e.keys)).size).toBe(6);
    expect(new Set(xs.flatMap((e) => e.values)).size).toBe(5);
    expect(new Set(xs.map((e) => e.queried.join())).size).toBeGreaterThan(20); // query order varies too
    const good: MqarExample = { keys: [5, 0, 3, 2], values: [4, 1, 1, 0], queried: [2, 0, 3] };
    expect(mqar.isExample(good)).toBe(true);
    expect(mqar.isExample({ ...good, keys: [5, 5, 3, 2] })).toBe(false); // repeated key
    expect(mqar.isExample({ ...good, queried: [2, 2, 3] })).toBe(false); // a pair queried twice
    expect(mqar.isExample({ ...good, values: [4, 1, 1, 5] })).toBe(false); // value out of range
    expect(mqar.isExample({ ...good, queried: [2, 0] })).toBe(false);
  });

  it('makeTask dispatches on kind', () => {
    expect(makeTask(taskSchema.parse({ kind: 'mqar', pairs: 4, queries: 3, keyVocab: 6, valueVocab: 5 })).id).toBe('mqar-p4-q3-k6-v5');
  });
});

describe('eval set file', () => {
  const cfg = evalSchema.parse({ size: 40, seed: 77 });
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  it.each([
    ['lookup', lookup as AnyTask],
    ['copy', copy as AnyTask],
  ])('%s: written on first use, stable bytes and sha256, examples round-trip', (_name, task) => {
    const dir = join(tmp, `data-${task.id}`);
    const path = evalSetPath(dir, task, cfg);
    expect(basename(path)).toBe(`${task.id}-n40-seed77.jsonl`);
    expect(existsSync(path)).toBe(false);
    const first = loadEvalSet(dir, task, cfg); // writes it
    expect(first.path).toBe(path);
    expect(existsSync(path)).toBe(true);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.at(-1)).toBe(''); // ends with a newline
    expect(lines.slice(0, -1)).toHaveLength(40);
    expect(first.sha256).toBe(sha(path));
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The examples are the ones drawn from Stream.derive(seed, `eval/${id}`), read back intact.
    expect(first.examples).toEqual(task.sample(Stream.derive(77, `eval/${task.id}`), 40));
    expect(Array.from(first.encoded.targets)).toEqual(Array.from(task.encode(first.examples as never[]).targets));
    // A second write gives the same bytes; loading again gives the same sha256 and does not rewrite.
    const bytes = readFileSync(path);
    writeEvalSet(dir, task, cfg);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(loadEvalSet(dir, task, cfg).sha256).toBe(first.sha256);
    expect(readdirSync(dir)).toEqual([basename(path)]); // no temp files left behind
  });

  it('a different eval seed gives a different file and different examples', () => {
    const dir = join(tmp, 'data-seeds');
    const a = loadEvalSet(dir, lookup as AnyTask, cfg);
    const b = loadEvalSet(dir, lookup as AnyTask, { ...cfg, seed: 78 });
    expect(b.path).not.toBe(a.path);
    expect(b.sha256).not.toBe(a.sha256);
  });

  it('a corrupted line gives a UserError naming the file and the line', () => {
    const dir = join(tmp, 'data-corrupt');
    const { path } = loadEvalSet(dir, lookup as AnyTask, cfg);
    const lines = readFileSync(path, 'utf8').split('\n');
    const bad = (mutate: (ls: string[]) => void) => {
      const copyOfLines = [...lines];
      mutate(copyOfLines);
      writeFileSync(path, copyOfLines.join('\n'));
      try {
        loadEvalSet(dir, lookup as AnyTask, cfg);
      } catch (err) {
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toContain(path);
        expect((err as Error).message).not.toMatch(/\n/);
        return (err as Error).message;
      }
      throw new Error('expected a UserError');
    };
    expect(bad((ls) => (ls[2] = '{"keys": [0, 1'))).toMatch(/line 3/); // not JSON
    expect(bad((ls) => (ls[4] = JSON.stringify({ keys: [0, 0, 1, 2, 3], values: [0, 0, 0, 0, 0], slot: 0 })))).toMatch(/line 5/); // repeated key
    expect(bad((ls) => ls.splice(0, 1))).toMatch(/39/); // too few examples
  });
});

describe('draw: sampling straight into typed arrays', () => {
  it.each([
    ['lookup', lookup as unknown as AnyTask],
    ['copy', copy as unknown as AnyTask],
    ['mqar', mqar as unknown as AnyTask],
  ] as const)('%s: draw(rng, n) equals encode(sample(rng, n)) and leaves the stream where sample leaves it', (_name, task) => {
    const a = Stream.derive(5, 'draw');
    const b = Stream.derive(5, 'draw');
    for (let round = 0; round < 3; round++) {
      const drawn = task.draw(a, 50);
      const reference = task.encode(task.sample(b, 50));
      expect(drawn.count).toBe(50);
      expect(Array.from(drawn.features)).toEqual(Array.from(reference.features));
      expect(Array.from(drawn.targets)).toEqual(Array.from(reference.targets));
      expect(Array.from(drawn.sources)).toEqual(Array.from(reference.sources));
      expect(a.state()).toEqual(b.state());
    }
  });
});
