import { describe, expect, it } from 'vitest';
import { parseSeedSet } from '../../src/sweep/seeds.js';
import { planSweep } from '../../src/sweep/plan.js';
import { UserError } from '../../src/errors.js';

describe('--seeds', () => {
  it('reads ranges, single seeds and mixtures, in the order written', () => {
    expect(parseSeedSet('0-4')).toEqual([0, 1, 2, 3, 4]);
    expect(parseSeedSet('100-119')).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
    expect(parseSeedSet('3,1,2')).toEqual([3, 1, 2]);
    expect(parseSeedSet('0-2, 10')).toEqual([0, 1, 2, 10]);
    expect(parseSeedSet('7')).toEqual([7]);
  });

  it('refuses a malformed range, an empty set and a repeated seed, each as a user error', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['0-', /'0-' is not a seed or a range/],
      ['a-b', /not a seed or a range/],
      ['-3', /not a seed or a range/],
      ['1.5', /not a seed or a range/],
      ['5-3', /the range '5-3' is empty/],
      ['0-4,2', /lists seed 2 twice/],
      ['1,1', /lists seed 1 twice/],
      ['0-99999', /more than 10000 seeds/],
      ['3000000000', /seeds go up to/],
    ];
    for (const [text, pattern] of cases) {
      expect(() => parseSeedSet(text), text).toThrow(UserError);
      expect(() => parseSeedSet(text), text).toThrow(pattern);
    }
  });

  it("replaces the grid's train.seed, or adds it when the grid has none", () => {
    const sweep = { name: 's', base: {}, grid: { 'model.attention': ['qkv', 'qv'], 'train.seed': [0, 1] } };
    const plan = planSweep(structuredClone(sweep), '/x/s.yaml', [], [100, 101, 102]);
    expect(plan.grid['train.seed']).toEqual([100, 101, 102]);
    expect(plan.runs.map((r) => r.config.train.seed)).toEqual([100, 101, 102, 100, 101, 102]);
    expect(plan.runs.map((r) => r.name)).toContain('attention-qv_seed-102');
    const noSeeds = planSweep({ name: 's', base: {}, grid: { 'model.attention': ['qkv'] } }, '/x/s.yaml', [], [5, 6]);
    expect(noSeeds.runs.map((r) => r.config.train.seed)).toEqual([5, 6]);
    // Without the flag the file's seeds stand.
    expect(planSweep(structuredClone(sweep), '/x/s.yaml', []).runs).toHaveLength(4);
  });
});
