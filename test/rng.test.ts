/** Stream: seeded, label-derived, resumable random streams. */
import { describe, expect, it } from 'vitest';
import { Stream } from '../src/rng.js';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

const draws = (s: Stream, n = 20) => Array.from({ length: n }, () => s.uniform());

describe('Stream', () => {
  it('the same (seed, label) gives the same draws', () => {
    expect(draws(Stream.derive(42, 'data/x'))).toEqual(draws(Stream.derive(42, 'data/x')));
  });

  it('a different seed or label gives different draws', () => {
    const a = draws(Stream.derive(42, 'data/x'));
    expect(draws(Stream.derive(43, 'data/x'))).not.toEqual(a);
    expect(draws(Stream.derive(42, 'data/y'))).not.toEqual(a);
    // Neighbouring seeds must not share their first draw.
    const firsts = new Set(Array.from({ length: 100 }, (_, s) => Stream.derive(s, 'init/w').uniform()));
    expect(firsts.size).toBe(100);
  });

  it('state() / fromState() continues exactly where the stream was', () => {
    const s = Stream.derive(7, 'resume');
    draws(s, 13);
    s.int(0, 9);
    s.normal();
    const saved = s.state();
    expect(saved.every((x) => Number.isInteger(x))).toBe(true);
    // The state survives JSON (it goes into checkpoints).
    const resumed = Stream.fromState(JSON.parse(JSON.stringify(saved)) as number[]);
    const mix = (t: Stream) => [...draws(t, 5), t.int(-3, 3), t.normal(), ...t.distinct(10, 4), t.uniform()];
    expect(mix(resumed)).toEqual(mix(s));
    // Taking the state does not advance the stream.
    const t = Stream.derive(7, 'resume');
    const before = t.state();
    expect(t.state()).toEqual(before);
    expect(Stream.fromState(before).uniform()).toBe(t.uniform());
  });

  it('uniform() is in [0, 1) with mean ≈ 1/2', () => {
    const xs = draws(Stream.derive(1, 'u'), 20000);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // std of the mean is 0.002
  });

  it("int(lo, hi) draws exactly what pure-rand's uniformInt draws from the same generator, rejections included", () => {
    // Stream.derive seeds xoroshiro128plus with the label's FNV-1a hash; a bare generator with a known seed stands in.
    const seed = 0x5eed;
    const ranges: [number, number][] = [
      [0, 0],
      [0, 1],
      [0, 2],
      [-3, 3],
      [0, 15],
      [7, 15],
      [0, 2 ** 31 - 1],
      [0, 3 * 2 ** 30], // rejects about a quarter of its draws
      [0, 2 ** 32 - 1], // the whole 32-bit range: no rejection, no remainder
      [-(2 ** 31), 2 ** 31], // one past it: pure-rand's 64-bit path, which int() hands back
      [5, 4], // empty: whatever pure-rand does
    ];
    const stream = Stream.fromState([...xoroshiro128plus(seed).getState()]);
    const reference = xoroshiro128plus(seed);
    for (let i = 0; i < 40000; i++) {
      const [lo, hi] = ranges[i % ranges.length];
      expect(stream.int(lo, hi)).toBe(uniformInt(reference, lo, hi));
    }
    expect(stream.state()).toEqual([...reference.getState()]);
  });

  it('int(lo, hi) is inclusive on both ends and covers the range', () => {
    const s = Stream.derive(2, 'i');
    const xs = Array.from({ length: 2000 }, () => s.int(3, 7));
    expect(xs.every((x) => Number.isInteger(x) && x >= 3 && x <= 7)).toBe(true);
    expect(new Set(xs)).toEqual(new Set([3, 4, 5, 6, 7]));
  });

  it('normal() has mean ≈ 0 and std ≈ 1, and is always finite', () => {
    const s = Stream.derive(3, 'n');
    const xs = Array.from({ length: 20000 }, () => s.normal());
    expect(xs.every(Number.isFinite)).toBe(true);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.03); // std of the mean is 0.007
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });

  it('distinct(n, k) gives k distinct integers in [0, n)', () => {
    const s = Stream.derive(4, 'd');
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + (trial % 17);
      const k = trial % (n + 1);
      const xs = s.distinct(n, k);
      expect(xs).toHaveLength(k);
      expect(new Set(xs).size).toBe(k);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
    }
    // k = n is a permutation.
    expect([...s.distinct(8, 8)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('distinct() is not biased towards the front: every value is drawn, in every position', () => {
    const s = Stream.derive(5, 'd2');
    const firsts = new Set<number>();
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const xs = s.distinct(16, 3);
      firsts.add(xs[0]);
      xs.forEach((x) => seen.add(x));
    }
    expect(firsts.size).toBe(16);
    expect(seen.size).toBe(16);
  });
});
