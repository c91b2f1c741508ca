// The smallest p a seed count allows, against counts done by hand: 1 / C(n + m, n).
import { describe, expect, it } from 'vitest';
import { seedCountWarning, smallestP } from '../../src/analysis/power.js';
import { formatPBound } from '../../src/format.js';
import { seedCountWarnings } from '../../src/sweep/power.js';
import { resolveConfig } from '../../src/config.js';

describe('smallestP', () => {
  it('is 1 / C(n + m, n)', () => {
    expect(smallestP(2, 2)).toBeCloseTo(1 / 6, 15); // C(4, 2) = 6
    expect(smallestP(3, 3)).toBeCloseTo(1 / 20, 15); // C(6, 3) = 20
    expect(smallestP(3, 4)).toBeCloseTo(1 / 35, 15);
    expect(smallestP(4, 4)).toBeCloseTo(1 / 70, 15);
    expect(smallestP(5, 5)).toBeCloseTo(1 / 252, 15);
    expect(smallestP(0, 5)).toBe(1);
  });

  it('warns exactly when p < 0.05 is out of reach', () => {
    expect(seedCountWarning(2, 2)).toMatch(/smallest possible p is 1\/6/);
    expect(seedCountWarning(3, 3)).toMatch(/1\/20/); // 0.05 itself is not < 0.05
    expect(seedCountWarning(3, 4)).toBeNull();
    expect(seedCountWarning(5, 5)).toBeNull();
    expect(formatPBound(1 / 6)).toBe('1/6');
    expect(formatPBound(0.0123)).toBe('0.0123');
  });
});

describe('seedCountWarnings (before a sweep)', () => {
  const run = (attention: string, seed: number, dModel = 8, lr = 0.01) => ({
    name: `${attention}-${seed}-${dModel}-${lr}`,
    config: resolveConfig({ model: { attention, dModel }, train: { seed, lr } }),
  });

  it('names each series that cannot reach p < 0.05, and only those', () => {
    const runs = [
      ...[0, 1].flatMap((s) => [run('qkv', s, 8), run('qv', s, 8), run('qkv', s, 8, 0.1), run('qv', s, 8, 0.1)]),
      ...[0, 1, 2, 3].flatMap((s) => [run('qkv', s, 16), run('qv', s, 16)]),
    ];
    const warnings = seedCountWarnings(runs);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^dModel=8: with 2 QV vs 2 QKV seeds the smallest possible p is 1\/6/);
  });

  it('says nothing when no QV–QKV comparison is planned', () => {
    expect(seedCountWarnings([run('qkv', 0), run('qkv', 1)])).toEqual([]);
  });
});
