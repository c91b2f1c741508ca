/** The claims analysis on synthetic runs whose statistics are set by hand, so every verdict is known in advance. */
import { describe, expect, it } from 'vitest';
import type { LoadedRun } from '../../src/report/collect.js';
import { analyse } from '../../src/report/analyse.js';
import { analyseClaims, verdictOf, scaleSensitivity } from '../../src/report/claims.js';
import { claimsMarkdown, claimsJson, claimsSummaryLines } from '../../src/report/claimsMarkdown.js';
import { resolveConfig } from '../../src/config.js';

interface Spec {
  attention: 'qkv' | 'qv';
  lr: number;
  seed: number;
  scale?: number;
  dModel?: number;
  retrieval?: number;
  entropy?: number;
  rho?: number;
  volatility?: number;
  final?: number;
  init?: number;
}

function run(s: Spec): LoadedRun {
  const config = resolveConfig({
    model: { attention: s.attention, inputScale: s.scale ?? 1, dModel: s.dModel ?? 8 },
    train: { lr: s.lr, seed: s.seed },
  });
  const final = s.final ?? 0.1;
  return {
    dir: `/x/${s.attention}-${s.lr}-${s.seed}-${s.scale ?? 1}`,
    config,
    summary: {
      status: 'completed',
      final_eval_loss: final,
      init_eval_loss: s.init ?? 2.8,
      value_norm_rho: s.rho ?? 0,
      value_norm_top_hit: 0.2,
      attn_volatility: s.volatility ?? 0.01,
      spikes: 0,
      roughness: 0,
      steps_to_acc: null,
      final_eval_acc: 1,
    },
    rows: [{ step: 2000, retrieval_mass: s.retrieval ?? 0.9, attn_entropy_norm: s.entropy ?? 0.2, eval_loss: final } as Record<string, number>],
    attention: null,
  };
}

const LRS = [1e-3, 1e-2, 1e-1];
const SEEDS = [0, 1, 2, 3, 4];

/** Every (variant, lr, seed); `value` sets the hand-made statistics of each run. */
function lrRuns(value: (variant: 'qkv' | 'qv', lr: number, seed: number) => Partial<Spec>): LoadedRun[] {
  return (['qkv', 'qv'] as const).flatMap((attention) =>
    LRS.flatMap((lr) => SEEDS.map((seed) => run({ attention, lr, seed, ...value(attention, lr, seed) }))),
  );
}

describe('claims analysis', () => {
  it('supports a claim when QV is above QKV at every LR, and contradicts one that is below', () => {
    const runs = lrRuns((v, _lr, seed) => ({
      retrieval: v === 'qv' ? 0.5 - 0.01 * seed : 0.9 - 0.01 * seed, // QV puts more mass on wrong sources: claimed way
      rho: v === 'qv' ? -0.2 - 0.01 * seed : 0.3 + 0.01 * seed, // QV's ρ is lower: the opposite way
      volatility: 0.01 + 0.001 * seed, // the same for both: no effect
    }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const byId = Object.fromEntries(series.claims.map((c) => [c.id, c]));
    expect(byId['noisy-matching'].p).toBeCloseTo(1 / 252 ** 3, 15);
    expect(byId['noisy-matching'].verdict).toBe('supported');
    expect(byId['noisy-matching'].effect).toBeCloseTo((0.5 + 0.02 * 1) / (0.1 + 0.02), 12); // mean wrong mass 0.52 vs 0.12
    expect(byId['value-norm-dominance'].verdict).toBe('contradicted');
    expect(byId['value-norm-dominance'].effect_kind).toBe('difference');
    expect(byId['value-norm-dominance'].effect).toBeCloseTo(-0.22 - 0.32, 12);
    expect(byId['unstable-attention'].verdict).toBe('not shown');
    expect(byId['scale-sensitive'].verdict).toBe('not measured'); // no scale runs given
    // Holm over the three tested claims: the smallest of three p values is multiplied by 3.
    expect(byId['noisy-matching'].p_holm).toBeCloseTo(3 / 252 ** 3, 15);
    expect(byId['scale-sensitive'].p_holm).toBeNull();
    expect(byId['noisy-matching'].by_lr.map((c) => c.lr)).toEqual(LRS);
    const json = claimsJson([series]);
    expect(json.map((c) => c.id)).toEqual(['noisy-matching', 'scale-sensitive', 'value-norm-dominance', 'unstable-attention']);
    for (const c of json)
      expect(Object.keys(c)).toEqual(
        expect.arrayContaining(['id', 'claim', 'statistic', 'qkv', 'qv', 'effect', 'ci95', 'p', 'p_holm', 'verdict', 'by_lr']),
      );
  });

  it('calls a direction that flips across LRs mixed, and names the LRs', () => {
    const runs = lrRuns((v, lr, seed) => ({ volatility: (lr === 1e-3) === (v === 'qv') ? 0.5 + 0.01 * seed : 0.1 + 0.01 * seed }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'unstable-attention')!;
    expect(c.claimed_lrs).toEqual([1e-3]);
    expect(c.opposite_lrs).toEqual([1e-2, 1e-1]);
    expect(c.verdict).toBe('mixed');
    const md = claimsMarkdown([series]).join('\n');
    expect(md).toContain('**mixed**: QV above QKV at lr 0.001, below at lr 0.01, lr 0.1');
    expect(md).toContain('at least'); // the detectable-effect sentence
  });

  it('tests scale sensitivity per seed over the scale runs, each run with its own ℓ₀', () => {
    const runs = lrRuns(() => ({}));
    const scaleRuns = (['qkv', 'qv'] as const).flatMap((attention) =>
      SEEDS.flatMap((seed) =>
        [0.5, 2].map((scale) =>
          run({
            attention,
            lr: 1e-2,
            seed,
            scale,
            init: scale === 2 ? 3 : 2.8,
            final: attention === 'qv' && scale === 2 ? 2.9 + 0.01 * seed : 0.1 + 0.01 * seed,
          }),
        ),
      ),
    );
    const [series] = analyseClaims(analyse(runs), runs, scaleRuns);
    const c = series.claims.find((x) => x.id === 'scale-sensitive')!;
    // QV seed s: losses (0.1 + .01s, min(2.9 + .01s, 3)) → sensitivity (2.8) / 2 = 1.4; QKV: 0.
    expect(c.qv).toBeCloseTo(1.4, 12);
    expect(c.qkv).toBeCloseTo(0, 12);
    expect(c.p).toBeCloseTo(1 / 252, 12);
    expect(c.by_scale?.map((b) => b.scale)).toEqual([0.5, 2]);
  });

  it('scale sensitivity caps each loss at its own ℓ₀', () => {
    expect(scaleSensitivity([0.5, 4, 1], [2, 3, 2])).toBeCloseTo((0 + 2.5 + 0.5) / 3, 12);
  });

  it('applies the verdict rule in its order', () => {
    const base = { p: 0.01, p_holm: 0.03, p_holm_opposite: 0.9, claimed_lrs: [] as number[], opposite_lrs: [] as number[] };
    expect(verdictOf(base)).toBe('supported');
    expect(verdictOf({ ...base, p_holm: 0.06 })).toBe('not shown');
    expect(verdictOf({ ...base, p_holm: 0.5, p_holm_opposite: 0.01 })).toBe('contradicted');
    expect(verdictOf({ ...base, claimed_lrs: [1e-3], opposite_lrs: [1e-1] })).toBe('mixed');
    expect(verdictOf({ ...base, p: null })).toBe('not measured');
  });

  it('writes an unmeasured claim as n/a, not as an effect of n/a', () => {
    const runs = lrRuns(() => ({}));
    const claims = analyseClaims(analyse(runs), runs, []); // no scale runs: scale-sensitive is not measured
    const row = claimsMarkdown(claims).find((l) => l.includes('`scale-sensitive`'))!;
    expect(row).toContain('**not measured**');
    const line = claimsSummaryLines(claims).find((l) => l.includes('scale-sensitive'))!;
    expect(line).toMatch(/not measured\s+effect n\/a {2}p n\/a {2}p_holm n\/a$/);
    for (const text of [row, line]) expect(text).not.toContain('×n/a');
  });

  it('gives one verdict per claim and width in a width study', () => {
    const runs = [8, 16].flatMap((dModel) => lrRuns(() => ({ dModel })));
    const claims = analyseClaims(analyse(runs), runs, []);
    expect(claims.map((s) => s.label)).toEqual(['dModel=8', 'dModel=16']);
    const md = claimsMarkdown(claims).join('\n');
    expect(md).toContain('| claim | dModel=8 | dModel=16 |');
  });
});

describe('claims grid chart', () => {
  it('draws one cell per claim and series, and nothing for a single series', async () => {
    const { claimsGridSpec } = await import('../../src/report/claimsChart.js');
    const { specToSvg } = await import('../../src/report/charts.js');
    const runs = [8, 16].flatMap((dModel) => lrRuns(() => ({ dModel })));
    const claims = analyseClaims(analyse(runs), runs, []);
    expect(claimsGridSpec(claims.slice(0, 1))).toBeNull();
    const chart = claimsGridSpec(claims)!;
    expect((chart.spec as { data: { values: unknown[] } }).data.values).toHaveLength(8);
    const svg = await specToSvg(chart.spec, chart.id);
    expect(svg).toContain('value-norm-dominance');
    expect(svg).toContain('dModel=16');
  });
});
