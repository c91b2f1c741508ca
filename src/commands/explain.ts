/** The seed document's two-token example, run through the same attention code that training uses. */
import { tf, initBackend, type BackendChoice } from '../backend.js';
import { attention, project, type Variant } from '../model/attention.js';

const TOKENS = ['cat', 'sat'];
const X = [
  [1, 0],
  [0, 1],
]; // cat, sat
const W_Q = [
  [1, 0],
  [0, 1],
];
const W_K = [
  [0, 1],
  [1, 0],
];
const W_V = [
  [1, 2],
  [0, 3],
];

export interface Explained {
  variant: Variant;
  scale: number;
  q: number[][];
  k: number[][] | null;
  v: number[][];
  scores: number[][];
  weights: number[][];
  outputs: number[][];
  entropy: number[];
}

/** Runs the example through `attention` with R = 1 run, B = 1 sequence, one head. */
export function explainExample(variant: Variant, scale: number): Explained {
  const result = tf.tidy(() => {
    const x = tf.tensor4d(X.flat(), [1, 1, 2, 2]); // [R, B, N, d]
    const w = (m: number[][]) => tf.tensor3d(m.flat(), [1, 2, 2]); // [R, d, d]
    const params = { variant, wQ: w(W_Q), wK: variant === 'qkv' ? w(W_K) : null, wV: w(W_V), qNorm: null, kNorm: null };
    const a = attention(x, x, params, 1, scale, null);
    const rows = (t: tf.Tensor) => tf.reshape(t, [2, -1]).arraySync() as number[][];
    // Q, K and V are shown for the reader; the scores, weights and outputs come from attention() itself.
    const [q, k, v] = [W_Q, W_K, W_V].map((m) => rows(project(x, w(m))));
    return { q, k, v, scores: rows(a.logits), weights: rows(a.weights), outputs: rows(a.out) };
  });
  const entropy = result.weights.map((row) => -row.reduce((s, p) => s + (p > 0 ? p * Math.log(p) : 0), 0));
  return { variant, scale, ...result, k: variant === 'qkv' ? result.k : null, entropy };
}

const vec = (xs: number[]) => `[${xs.map((x) => x.toFixed(4)).join(', ')}]`;

function describe(e: Explained): string[] {
  const lines: string[] = [];
  const block = (label: string, m: number[][] | null) => {
    if (!m) return lines.push(`${label.padEnd(9)}(none: the keyless variant matches Q against V)`, '');
    m.forEach((row, i) => lines.push(`${(i === 0 ? label : '').padEnd(9)}${TOKENS[i].padEnd(5)}${vec(row)}`));
  };
  block('Q = xW_Q', e.q);
  block('K = xW_K', e.k);
  block('V = xW_V', e.v);
  block(e.variant === 'qkv' ? 'Q·Kᵀ·s' : 'Q·Vᵀ·s', e.scores);
  block('softmax', e.weights);
  block('output', e.outputs);
  e.entropy.forEach((h, i) => lines.push(`${(i === 0 ? 'entropy' : '').padEnd(9)}${TOKENS[i].padEnd(5)}${h.toFixed(4)} nats`));
  return lines;
}

export function verdictLine(e: Explained): string {
  const [toCat, toSat] = e.weights[0];
  const target = toSat > toCat ? 'sat' : 'cat';
  const why = e.variant === 'qkv' ? 'Q·K matches across tokens' : "V's larger entries dominate the match";
  return `${e.variant === 'qkv' ? 'Q–K–V' : 'Q–V  '}: "cat" attends mostly to "${target}" (${Math.max(toCat, toSat).toFixed(4)}); ${why}.`;
}

export async function explainCommand(args: { backend: BackendChoice }): Promise<void> {
  await initBackend(args.backend);
  const out: string[] = [
    'The seed document (src/seed-document.md, the Q/K/V explainer whose claims qkv-lab tests), section 3: two tokens, "cat" = [1, 0], "sat" = [0, 1]',
    'W_Q = [[1, 0], [0, 1]]   W_K = [[0, 1], [1, 0]]   W_V = [[1, 2], [0, 3]]   (row vectors: Q = x·W_Q)',
    '',
  ];
  for (const [title, scale] of [
    ['unscaled, as in the seed (s = 1)', 1],
    ['scaled as in training (s = 1/√d = 1/√2)', 1 / Math.sqrt(2)],
  ] as const) {
    const qkv = explainExample('qkv', scale);
    const qv = explainExample('qv', scale);
    const left = describe(qkv);
    const right = describe(qv);
    out.push(`── ${title} ──`, `${'Q–K–V (standard)'.padEnd(44)}Q–V (keyless)`);
    for (let i = 0; i < Math.max(left.length, right.length); i++) out.push(`${(left[i] ?? '').padEnd(44)}${right[i] ?? ''}`);
    out.push('', verdictLine(qkv), verdictLine(qv), '');
  }
  process.stdout.write(out.join('\n'));
}
