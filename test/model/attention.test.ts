/**
 * attention() against numbers computed by hand: the seed document's two-token example (section 3), then a
 * plain-JS multi-head reference with a run axis, a query subset and a causal mask.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { attention, textbookAttention, causalMask, MASKED } from '../../src/model/attention.js';
import { Stream } from '../../src/rng.js';

type M = number[][];

// ---- plain-JS reference (no tfjs) ----
const matmul = (a: M, b: M): M => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const transpose = (a: M): M => a[0].map((_, j) => a.map((row) => row[j]));
const cols = (a: M, from: number, to: number): M => a.map((row) => row.slice(from, to));
function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

interface Ref {
  logits: M[]; // per head [Sq][N]; masked entries are -Infinity
  weights: M[]; // per head [Sq][N]
  out: M; // [Sq][d]
}

/** Multi-head attention for one sequence, row-vector convention (Q = x·W), keyless when wk is null. */
function refAttention(xq: M, xkv: M, wq: M, wk: M | null, wv: M, heads: number, scale: number, visible?: (i: number, j: number) => boolean): Ref {
  const d = wq[0].length;
  const dh = d / heads;
  const Q = matmul(xq, wq);
  const V = matmul(xkv, wv);
  const K = wk ? matmul(xkv, wk) : V;
  const logits: M[] = [];
  const weights: M[] = [];
  const outHeads: M[] = [];
  for (let h = 0; h < heads; h++) {
    const qh = cols(Q, h * dh, (h + 1) * dh);
    const kh = cols(K, h * dh, (h + 1) * dh);
    const vh = cols(V, h * dh, (h + 1) * dh);
    const s = matmul(qh, transpose(kh)).map((row, i) => row.map((x, j) => (visible && !visible(i, j) ? -Infinity : x * scale)));
    const w = s.map(softmax);
    logits.push(s);
    weights.push(w);
    outHeads.push(matmul(w, vh));
  }
  const out = xq.map((_, i) => outHeads.flatMap((oh) => oh[i]));
  return { logits, weights, out };
}

function expectClose(actual: number[] | number[][], expected: number[] | number[][], tol: number, what: string): void {
  const a = (actual as unknown[]).flat(3) as number[];
  const e = (expected as unknown[]).flat(3) as number[];
  expect(a.length, `${what}: length`).toBe(e.length);
  a.forEach((x, i) => {
    expect(Number.isFinite(x), `${what}[${i}] finite`).toBe(true);
    expect(Math.abs(x - e[i]), `${what}[${i}]: got ${x}, expected ${e[i]}`).toBeLessThanOrEqual(tol);
  });
}

// ---- the seed example ----
const X: M = [
  [1, 0],
  [0, 1],
]; // cat, sat
const W_Q: M = [
  [1, 0],
  [0, 1],
];
const W_K: M = [
  [0, 1],
  [1, 0],
];
const W_V: M = [
  [1, 2],
  [0, 3],
];

/** Runs the seed example through attention() with R = 1, B = 1, one head. */
function runSeed(keyless: boolean, scale: number): { logits: M; weights: M; out: M; kIsV: boolean } {
  return tf.tidy(() => {
    const x = tf.tensor4d(X.flat(), [1, 1, 2, 2]);
    const w = (m: M) => tf.tensor3d(m.flat(), [1, 2, 2]);
    const r = attention(x, x, { wQ: w(W_Q), wK: keyless ? null : w(W_K), wV: w(W_V) }, 1, scale, null);
    expect(r.weights.shape).toEqual([1, 1, 1, 2, 2]);
    expect(r.logits.shape).toEqual([1, 1, 1, 2, 2]);
    expect(r.out.shape).toEqual([1, 1, 2, 2]);
    const rows = (t: tf.Tensor) => tf.reshape(t, [2, 2]).arraySync() as M;
    // "Keys are the values": the same scores as a layer whose W_K is a copy of W_V.
    const kv = attention(x, x, { wQ: w(W_Q), wK: w(W_V), wV: w(W_V) }, 1, scale, null);
    const kIsV = tf.max(tf.abs(tf.sub(r.logits, kv.logits))).dataSync()[0] < 1e-7;
    return { logits: rows(r.logits), weights: rows(r.weights), out: rows(r.out), kIsV };
  });
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('attention(): the seed example (cat = [1,0], sat = [0,1])', () => {
  // Hand computation, step by step, with plain arithmetic:
  //   Q = X·W_Q = X                         cat [1,0]  sat [0,1]
  //   K = X·W_K                              cat [0,1]  sat [1,0]
  //   V = X·W_V                              cat [1,2]  sat [0,3]
  //   QKV scores Q·Kᵀ: cat [0,1], sat [1,0]
  //   QV  scores Q·Vᵀ: cat [1,0], sat [2,3]
  const e = Math.E;
  const lo = 1 / (1 + e); // softmax([0, 1])[0] = 0.268941…
  const hi = e / (1 + e); // 0.731059…

  it('QKV unscaled: literal values from the seed', () => {
    const r = runSeed(false, 1);
    expectClose(
      r.logits,
      [
        [0, 1],
        [1, 0],
      ],
      1e-6,
      'logits',
    );
    // The literal expectations of the brief (6 decimals).
    expectClose(r.weights[0], [0.268941, 0.731059], 1e-6, 'weights cat');
    expectClose(r.out[0], [0.268941, 2.731059], 1e-6, 'out cat');
    // And exactly: cat mixes lo·[1,2] + hi·[0,3]; sat mixes hi·[1,2] + lo·[0,3].
    expectClose(
      r.weights,
      [
        [lo, hi],
        [hi, lo],
      ],
      1e-6,
      'weights',
    );
    expectClose(
      r.out,
      [
        [lo, 2 * lo + 3 * hi],
        [hi, 2 * hi + 3 * lo],
      ],
      1e-6,
      'out',
    );
    expect(r.weights[0][1]).toBeGreaterThan(r.weights[0][0]); // "cat" attends mostly to "sat"
    expect(r.kIsV).toBe(false);
  });

  it('QV (keyless) unscaled: scores are Q·Vᵀ, cat attends mostly to itself', () => {
    const r = runSeed(true, 1);
    expectClose(
      r.logits,
      [
        [1, 0],
        [2, 3],
      ],
      1e-6,
      'logits',
    );
    expectClose(r.weights[0], [0.731059, 0.268941], 1e-6, 'weights cat');
    expectClose(
      r.weights,
      [
        [hi, lo],
        [lo, hi],
      ],
      1e-6,
      'weights',
    );
    expectClose(
      r.out,
      [
        [hi, 2 * hi + 3 * lo],
        [lo, 2 * lo + 3 * hi],
      ],
      1e-6,
      'out',
    );
    expect(r.kIsV).toBe(true); // keyless: the "keys" are the values themselves
  });

  it.each([
    ['qkv', false],
    ['qv', true],
  ] as const)('%s scaled by 1/√2 matches the hand computation', (_name, keyless) => {
    const s = 1 / Math.sqrt(2);
    const scores = keyless
      ? [
          [1, 0],
          [2, 3],
        ]
      : [
          [0, 1],
          [1, 0],
        ];
    const logits = scores.map((row) => row.map((x) => x * s));
    const weights = logits.map((row) => {
      const ex = row.map(Math.exp);
      return ex.map((x) => x / (ex[0] + ex[1]));
    });
    const V = [
      [1, 2],
      [0, 3],
    ];
    const out = weights.map((w) => [w[0] * V[0][0] + w[1] * V[1][0], w[0] * V[0][1] + w[1] * V[1][1]]);
    const r = runSeed(keyless, s);
    expectClose(r.logits, logits, 1e-6, 'logits');
    expectClose(r.weights, weights, 1e-6, 'weights');
    expectClose(r.out, out, 1e-6, 'out');
    // Scaling softens: the winning weight drops from 0.7311 to 1/(1+e^{-1/√2}) = 0.6698.
    expect(Math.max(...r.weights[0])).toBeCloseTo(1 / (1 + Math.exp(-s)), 6);
  });

  it('the plain-JS reference itself reproduces the seed numbers (guards the reference)', () => {
    const ref = refAttention(X, X, W_Q, W_K, W_V, 1, 1);
    expectClose(ref.weights[0][0], [0.268941, 0.731059], 1e-6, 'ref weights cat');
    expectClose(ref.out[0], [0.268941, 2.731059], 1e-6, 'ref out cat');
  });
});

describe('attention(): multi-head, run axis, query subset, causal mask', () => {
  const R = 2;
  const B = 2;
  const N = 4;
  const d = 4;
  const heads = 2;
  const scale = 1 / Math.sqrt(d / heads);
  const rng = Stream.derive(7, 'test/attention');
  const rand = (n: number, m: number): M => Array.from({ length: n }, () => Array.from({ length: m }, () => rng.uniform() * 2 - 1));
  const xs = Array.from({ length: R }, () => Array.from({ length: B }, () => rand(N, d))); // [R][B][N][d]
  const ws = Array.from({ length: R }, () => ({ q: rand(d, d), k: rand(d, d), v: rand(d, d) }));

  /** Runs attention() on queries [qStart, qStart+Sq) and compares every run and example with the reference. */
  function check(keyless: boolean, qStart: number, Sq: number, causal: boolean, fn = attention): void {
    const visible = causal ? (i: number, j: number) => j <= qStart + i : undefined;
    const got = tf.tidy(() => {
      const xkv = tf.tensor4d(xs.flat(3), [R, B, N, d]);
      const xq = tf.slice(xkv, [0, 0, qStart, 0], [R, B, Sq, d]);
      const w3 = (key: 'q' | 'k' | 'v') => tf.tensor3d(ws.map((w) => w[key]).flat(2), [R, d, d]);
      const mask = causal ? causalMask(qStart, Sq, N) : null;
      const r = fn(xq, xkv, { wQ: w3('q'), wK: keyless ? null : w3('k'), wV: w3('v') }, heads, scale, mask);
      expect(r.out.shape).toEqual([R, B, Sq, d]);
      expect(r.weights.shape).toEqual([R, B, heads, Sq, N]);
      expect(r.logits.shape).toEqual([R, B, heads, Sq, N]);
      return {
        out: r.out.arraySync() as number[][][][],
        weights: r.weights.arraySync() as number[][][][][],
        logits: r.logits.arraySync() as number[][][][][],
      };
    });
    for (let run = 0; run < R; run++) {
      for (let b = 0; b < B; b++) {
        const x = xs[run][b];
        const ref = refAttention(x.slice(qStart, qStart + Sq), x, ws[run].q, keyless ? null : ws[run].k, ws[run].v, heads, scale, visible);
        const tag = `run ${run} example ${b}`;
        expectClose(got.out[run][b], ref.out, 2e-6, `${tag} out`);
        for (let h = 0; h < heads; h++) {
          expectClose(got.weights[run][b][h], ref.weights[h], 2e-6, `${tag} head ${h} weights`);
          for (let i = 0; i < Sq; i++) {
            for (let j = 0; j < N; j++) {
              const g = got.logits[run][b][h][i][j];
              if (ref.logits[h][i][j] === -Infinity) {
                expect(got.weights[run][b][h][i][j], `${tag} masked weight`).toBe(0);
                expect(g, `${tag} masked logit`).toBeLessThanOrEqual(MASKED / 2);
              } else {
                expect(Math.abs(g - ref.logits[h][i][j]), `${tag} head ${h} logit [${i},${j}]`).toBeLessThanOrEqual(2e-6);
              }
            }
          }
        }
      }
    }
  }

  describe.each([
    ['regrouped attention()', attention],
    ['textbookAttention()', textbookAttention],
  ] as const)('%s', (_name, fn) => {
    it('qkv, all positions as queries', () => check(false, 0, N, false, fn));
    it('qv, all positions as queries', () => check(true, 0, N, false, fn));
    it('qkv, a subset of query rows (the last layer reads only the supervised positions)', () => check(false, 2, 2, false, fn));
    it('qkv, causal over all positions', () => check(false, 0, N, true, fn));
    it('qv, causal with a query subset', () => check(true, 1, 3, true, fn));
  });

  it('the two heads really differ from one-head attention on the same weights', () => {
    // Guards against a split/merge that silently reduces to one head: the 2-head reference must not equal 1-head.
    const x = xs[0][0];
    const two = refAttention(x, x, ws[0].q, ws[0].k, ws[0].v, 2, scale);
    const one = refAttention(x, x, ws[0].q, ws[0].k, ws[0].v, 1, scale);
    const diff = Math.max(...two.out.flat().map((v, i) => Math.abs(v - one.out.flat()[i])));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('causalMask: key j is visible from query position start+i iff j ≤ start+i', () => {
    const m = tf.tidy(() => causalMask(1, 3, 5).arraySync() as M);
    const M_ = MASKED;
    expect(m).toEqual([
      [0, 0, M_, M_, M_],
      [0, 0, 0, M_, M_],
      [0, 0, 0, 0, M_],
    ]);
    const full = causalMask(0, 3, 3);
    expect(full.arraySync()).toEqual([
      [0, M_, M_],
      [0, 0, M_],
      [0, 0, 0],
    ]);
    full.dispose();
  });

  it('leaves no tensors behind inside tf.tidy', () => {
    check(false, 0, N, true); // burn-in
    const before = tf.memory().numTensors;
    check(true, 1, 3, true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
