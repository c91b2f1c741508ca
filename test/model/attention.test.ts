/**
 * attention() against numbers computed by hand: the seed document's two-token example (section 3), then a
 * plain-JS multi-head reference with a run axis, a query subset and a causal mask.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, initBackend } from '../../src/backend.js';
import { attention, textbookAttention, causalMask, MASKED, type Variant } from '../../src/model/attention.js';
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
/** Plain-JS RMSNorm of each head's columns of the rows of A, times the gain g (length d). */
function rmsNormRef(A: M, g: number[], heads: number): M {
  const dh = A[0].length / heads;
  return A.map((row) =>
    row.map((x, c) => {
      const h = Math.floor(c / dh);
      const slice = row.slice(h * dh, (h + 1) * dh);
      const rms = Math.sqrt(slice.reduce((s, v) => s + v * v, 0) / dh + 1e-6);
      return (x / rms) * g[c];
    }),
  );
}

/**
 * The textbook layer in plain JS. `wk` is the key projection: W_K for qkv; for the other variants pass the
 * variant ('qv': K = V, 'qx': K = x, 'qq': K = Q). `norm` applies QK-norm with the given gains.
 */
function refAttention(
  xq: M,
  xkv: M,
  wq: M,
  wk: M | null | 'qv' | 'qx' | 'qq',
  wv: M,
  heads: number,
  scale: number,
  visible?: (i: number, j: number) => boolean,
  norm?: { q: number[]; k: number[] },
): Ref {
  const d = wq[0].length;
  const dh = d / heads;
  let Q = matmul(xq, wq);
  const V = matmul(xkv, wv);
  let K = wk === 'qx' ? xkv : wk === 'qq' ? matmul(xkv, wq) : wk === null || wk === 'qv' ? V : matmul(xkv, wk);
  if (norm) {
    Q = rmsNormRef(Q, norm.q, heads);
    K = rmsNormRef(K, norm.k, heads);
  }
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
function runSeed(keyless: boolean | Variant, scale: number, norm?: { q: number[]; k: number[] }): { logits: M; weights: M; out: M; kIsV: boolean } {
  const variant: Variant = keyless === true ? 'qv' : keyless === false ? 'qkv' : keyless;
  return tf.tidy(() => {
    const x = tf.tensor4d(X.flat(), [1, 1, 2, 2]);
    const w = (m: M) => tf.tensor3d(m.flat(), [1, 2, 2]);
    const gain = (g: number[] | undefined) => (g ? tf.tensor3d(g, [1, 1, 2]) : null);
    const r = attention(
      x,
      x,
      { variant, wQ: w(W_Q), wK: variant === 'qkv' ? w(W_K) : null, wV: w(W_V), qNorm: gain(norm?.q), kNorm: gain(norm?.k) },
      1,
      scale,
      null,
    );
    expect(r.weights.shape).toEqual([1, 1, 1, 2, 2]);
    expect(r.logits.shape).toEqual([1, 1, 1, 2, 2]);
    expect(r.out.shape).toEqual([1, 1, 2, 2]);
    const rows = (t: tf.Tensor) => tf.reshape(t, [2, 2]).arraySync() as M;
    // "Keys are the values": the same scores as a layer whose W_K is a copy of W_V.
    const kv = attention(x, x, { variant: 'qkv', wQ: w(W_Q), wK: w(W_V), wV: w(W_V), qNorm: null, kNorm: null }, 1, scale, null);
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

  // The variants that isolate why keys matter, on the same two tokens. W_Q = I, so Q = X:
  //   qx: K = X          scores Q·Xᵀ = I: cat [1,0], sat [0,1]
  //   qq: K = X·W_Q = X  the same scores here (W_Q = I), and the gradient path is W_Q's
  // Both: cat attends to itself with hi, out_cat = hi·[1,2] + lo·[0,3].
  it.each(['qx', 'qq'] as const)('%s unscaled: scores are Q·Xᵀ = I here, by hand', (variant) => {
    const r = runSeed(variant, 1);
    expectClose(
      r.logits,
      [
        [1, 0],
        [0, 1],
      ],
      1e-6,
      'logits',
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
  });

  it('QK-norm on qv, unscaled, gains (2, 1) on Q and (1, 0.5) on K: by hand', () => {
    // Q = X: each row has rms √½, so Q̂ = √2·row·g_q: cat [2√2, 0], sat [0, √2].
    // K (qv: a normed copy of V): cat V [1,2], rms √(5/2) → [1,2]/√2.5 · (1, 0.5) = [0.632456, 0.632456];
    //                             sat V [0,3], rms √(9/2) → [0,3]/√4.5 · (1, 0.5) = [0, 0.707107].
    // scores cat: [2√2·0.632456, 0] = [1.788854, 0]; sat: [√2·0.632456, √2·0.707107] = [0.894427, 1].
    // The returned values stay raw: out = weights · V with V = [[1,2],[0,3]].
    const r = runSeed('qv', 1, { q: [2, 1], k: [1, 0.5] });
    const c = 2 * Math.SQRT2 * (1 / Math.sqrt(2.5));
    const s0 = Math.SQRT2 * (1 / Math.sqrt(2.5));
    const s1 = Math.SQRT2 * (1.5 / Math.sqrt(4.5));
    expectClose(
      r.logits,
      [
        [c, 0],
        [s0, s1],
      ],
      1e-5,
      'logits',
    );
    const w0 = 1 / (1 + Math.exp(-c));
    const w1 = 1 / (1 + Math.exp(s1 - s0));
    expectClose(
      r.out,
      [
        [w0, 2 * w0 + 3 * (1 - w0)],
        [w1, 2 * w1 + 3 * (1 - w1)],
      ],
      1e-5,
      'out',
    );
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
  const gains = { q: rand(1, d)[0].map((g) => 1 + g / 2), k: rand(1, d)[0].map((g) => 1 + g / 2) };

  /** Runs attention() on queries [qStart, qStart+Sq) and compares every run and example with the reference. */
  function check(keyless: boolean | Variant, qStart: number, Sq: number, causal: boolean, fn = attention, qkNorm = false): void {
    const variant: Variant = keyless === true ? 'qv' : keyless === false ? 'qkv' : keyless;
    const visible = causal ? (i: number, j: number) => j <= qStart + i : undefined;
    const got = tf.tidy(() => {
      const xkv = tf.tensor4d(xs.flat(3), [R, B, N, d]);
      const xq = tf.slice(xkv, [0, 0, qStart, 0], [R, B, Sq, d]);
      const w3 = (key: 'q' | 'k' | 'v') => tf.tensor3d(ws.map((w) => w[key]).flat(2), [R, d, d]);
      const mask = causal ? causalMask(qStart, Sq, N) : null;
      const gain = (g: number[]) => (qkNorm ? tf.tensor3d(Array.from({ length: R }, () => g).flat(), [R, 1, d]) : null);
      const params = { variant, wQ: w3('q'), wK: variant === 'qkv' ? w3('k') : null, wV: w3('v'), qNorm: gain(gains.q), kNorm: gain(gains.k) };
      const r = fn(xq, xkv, params, heads, scale, mask);
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
        const wk = variant === 'qkv' ? ws[run].k : variant;
        const ref = refAttention(x.slice(qStart, qStart + Sq), x, ws[run].q, wk, ws[run].v, heads, scale, visible, qkNorm ? gains : undefined);
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
    it('qx, a subset of query rows', () => check('qx', 2, 2, false, fn));
    it('qx, causal', () => check('qx', 0, N, true, fn));
    it('qq, all positions as queries', () => check('qq', 0, N, false, fn));
    it('qq, causal with a query subset', () => check('qq', 1, 3, true, fn));
    it('qkv + QK-norm, a subset of query rows', () => check('qkv', 2, 2, false, fn, true));
    it('qv + QK-norm, causal (the values stay raw)', () => check('qv', 0, N, true, fn, true));
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
