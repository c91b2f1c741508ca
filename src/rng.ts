import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

/**
 * A seeded random stream. tfjs has no global seed, so every draw in qkv-lab comes from one of these,
 * derived from (seed, label): each parameter and each data source gets its own independent stream, so
 * adding or removing a parameter (W_K in the keyless variant) never shifts the draws of any other.
 */
export class Stream {
  private constructor(private readonly gen: ReturnType<typeof xoroshiro128plus>) {}

  static derive(seed: number, label: string): Stream {
    return new Stream(xoroshiro128plus(fnv1a(`${seed}/${label}`)));
  }

  static fromState(state: readonly number[]): Stream {
    return new Stream(xoroshiro128plusFromState(state));
  }

  /** Serialisable state, so a resumed run draws exactly what an uninterrupted one would. */
  state(): number[] {
    return [...this.gen.getState()];
  }

  uniform(): number {
    return uniformFloat64(this.gen);
  }

  int(lo: number, hiInclusive: number): number {
    return uniformInt(this.gen, lo, hiInclusive);
  }

  /** Box–Muller; one fresh pair per call keeps the stream position independent of call history. */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log never sees 0
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** k distinct integers from [0, n), in random order (partial Fisher–Yates). */
  distinct(n: number, k: number): number[] {
    const pool = new Array<number>(n);
    for (let i = 0; i < n; i++) pool[i] = i;
    for (let i = 0; i < k; i++) {
      const j = this.int(i, n - 1);
      const t = pool[i];
      pool[i] = pool[j];
      pool[j] = t;
    }
    pool.length = k;
    return pool;
  }
}

/** 32-bit FNV-1a: a stable, dependency-free way to turn a label into a generator seed. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
