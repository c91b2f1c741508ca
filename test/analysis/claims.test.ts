/** The claims analysis on synthetic runs whose statistics are set by hand, so every verdict is known in advance. */
import { describe, expect, it } from 'vitest';
import type { LoadedRun } from '../../src/report/data/collect.js';
import { analyse, variantOf } from '../../src/analysis/analyse.js';
import { analyseClaims, verdictOf } from '../../src/analysis/claims.js';
import { scaleSensitivity } from '../../src/stats/sensitivity.js';
import { claimsSection, claimsJson, claimsSummaryLines } from '../../src/report/text/claimsMarkdown.js';
import { toMarkdown } from '../../src/report/text/document.js';
import { resolveConfig } from '../../src/config.js';

interface Spec {
  attention: 'qkv' | 'qv';
  lr: number;
  seed: number;
  scale?: number;
  dModel?: number;
  retrieval?: number;
  scaffold?: number; // the query's final attention on itself
  acc?: number; // final eval accuracy
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
      final_eval_acc: s.acc ?? 1,
    },
    rows: [
      {
        step: 2000,
        retrieval_mass: s.retrieval ?? 0.9,
        scaffold_share: s.scaffold ?? 0.05,
        attn_entropy_norm: s.entropy ?? 0.2,
        eval_loss: final,
      } as Record<string, number>,
    ],
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
    // wrong content mass = 1 − retrieval − scaffold (0.05): mean 0.47 vs 0.07
    expect(byId['noisy-matching'].effect).toBeCloseTo((0.45 + 0.02) / (0.05 + 0.02), 12);
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
    const md = toMarkdown(claimsSection([series]));
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

  it('applies the verdict rule in its order, and a verdict never points against its own effect', () => {
    const base = {
      p: 0.01,
      p_holm: 0.03,
      p_holm_opposite: 0.9,
      claimed_lrs: [] as number[],
      opposite_lrs: [] as number[],
      effect: 1.3,
      effect_kind: 'ratio' as const,
    };
    expect(verdictOf(base)).toBe('supported');
    expect(verdictOf({ ...base, p_holm: 0.06 })).toBe('not shown');
    expect(verdictOf({ ...base, p_holm: 0.5, p_holm_opposite: 0.01, effect: 0.8 })).toBe('contradicted');
    expect(verdictOf({ ...base, claimed_lrs: [1e-3], opposite_lrs: [1e-1] })).toBe('mixed');
    expect(verdictOf({ ...base, p: null })).toBe('not measured');
    // The width study's d_model 32 case: the rank test says QV is noisier, the mean says ×0.98.
    expect(verdictOf({ ...base, effect: 0.98 })).toBe('inconsistent');
    expect(verdictOf({ ...base, p_holm: 0.5, p_holm_opposite: 0.01, effect: 1.1 })).toBe('inconsistent');
    expect(verdictOf({ ...base, effect: 0.2, effect_kind: 'difference' })).toBe('supported');
    expect(verdictOf({ ...base, effect: -0.2, effect_kind: 'difference' })).toBe('inconsistent');
    // A claim that needs QV's own value above 0: a positive difference with QV's own mean below 0 is not "supported".
    expect(
      verdictOf({
        ...base,
        effect: 0.2,
        effect_kind: 'difference',
        own: { qv: { mean: -0.1, p: 1, p_opposite: 0 }, qkv: { mean: -0.3, p: 1, p_opposite: 0 } },
      }),
    ).toBe('inconsistent');
  });

  it('a rank test and a mean that disagree on real runs give "inconsistent", never "supported"', () => {
    // At every LR, QV (0.2) beats four of five QKV seeds (0.1), but one QKV seed is far above: the mean ratio is < 1.
    const runs = lrRuns((v, _lr, seed) => ({ volatility: v === 'qv' ? 0.2 + 0.001 * seed : seed === 4 ? 5 : 0.1 + 0.001 * seed }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'unstable-attention')!;
    expect(c.p_holm!).toBeLessThan(0.05);
    expect(c.effect).toBeLessThan(1);
    expect(c.verdict).toBe('inconsistent');
    expect(toMarkdown(claimsSection([series]))).toContain('**inconsistent**: the rank test is significant, but the mean effect points the other way');
  });

  it('counts only content positions: wrong mass on the query slot itself is not noisy matching', () => {
    // QKV puts 45% on the query slot and 5% on wrong memory slots; QV 5% on itself and 25% on wrong memory slots.
    // Counted as 1 − retrieval (the old definition) QKV would look noisier (0.5 vs 0.3): the claim would be contradicted.
    const runs = lrRuns((v, _lr, seed) =>
      v === 'qkv' ? { retrieval: 0.5 - 0.001 * seed, scaffold: 0.45 } : { retrieval: 0.7 - 0.001 * seed, scaffold: 0.05 },
    );
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'noisy-matching')!;
    expect(c.qkv).toBeCloseTo(0.05 + 0.002, 12);
    expect(c.qv).toBeCloseTo(0.25 + 0.002, 12);
    expect(c.verdict).toBe('supported');
    expect(series.scaffold.map((r) => [r.qkv, r.qv])).toEqual(LRS.map(() => [0.45, 0.05]));
    expect(toMarkdown(claimsSection([series]))).toContain('Self/scaffold attention share');
  });

  it("value-norm dominance needs QV's own ρ above 0, not only above QKV's", () => {
    // Both negative, QV less so: the old difference-only rule called this "supported".
    const runs = lrRuns((v, _lr, seed) => ({ rho: v === 'qv' ? -0.06 - 0.001 * seed : -0.15 - 0.001 * seed }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'value-norm-dominance')!;
    expect(c.p_difference!).toBeLessThan(0.001);
    expect(c.own!.qv.p).toBe(1); // every QV ρ is negative
    expect(c.own!.qv.p_opposite!).toBeCloseTo(1 / 32 ** 3, 12);
    expect(c.verdict).not.toBe('supported');
    // And positive ρ in QV, above QKV's, is supported.
    const good = lrRuns((v, _lr, seed) => ({ rho: v === 'qv' ? 0.2 + 0.001 * seed : 0.01 * (seed - 2) }));
    const [s2] = analyseClaims(analyse(good), good, []);
    expect(s2.claims.find((x) => x.id === 'value-norm-dominance')!.verdict).toBe('supported');
  });

  it('leaves a learning rate where training failed out of the test, and keeps its row', () => {
    // At lr 0.1 both variants stay at chance (accuracy 0.07) and QV's attention "moves" more; elsewhere all equal.
    const runs = lrRuns((v, lr, seed) =>
      lr === 1e-1 ? { acc: 0.07, volatility: v === 'qv' ? 0.5 + 0.01 * seed : 0.1 + 0.01 * seed } : { volatility: 0.01 },
    );
    const [series] = analyseClaims(analyse(runs), runs, []);
    expect(series.failed_lrs).toEqual([1e-1]);
    const c = series.claims.find((x) => x.id === 'unstable-attention')!;
    expect(c.by_lr.map((r) => [r.lr, r.failed])).toEqual([
      [1e-3, false],
      [1e-2, false],
      [1e-1, true],
    ]);
    expect(c.by_lr[2].p).toBeCloseTo(1 / 252, 12); // the row is still computed and shown
    expect(c.failed_lrs).toEqual([1e-1]);
    expect(c.verdict).toBe('not shown'); // pooled with lr 0.1 it would have been supported
    expect(c.where).toContain('training failed at lr 0.1 (left out)');
    const md = toMarkdown(claimsSection([series]));
    expect(md).toContain('Training failed at lr 0.1');
    expect(md).toContain('0.1 (training failed: left out)');
    // Without the failure, the same numbers support the claim: the rule, not the data, changed the verdict.
    const ok = lrRuns((v, lr, seed) => (lr === 1e-1 ? { volatility: v === 'qv' ? 0.5 + 0.01 * seed : 0.1 + 0.01 * seed } : { volatility: 0.01 }));
    const [s2] = analyseClaims(analyse(ok), ok, []);
    expect(s2.failed_lrs).toEqual([]);
    expect(s2.claims.find((x) => x.id === 'unstable-attention')!.verdict).toBe('supported');
  });

  it('says in words where a claim holds', () => {
    const runs = lrRuns((v, lr, seed) => ({ volatility: lr === 1e-3 && v === 'qv' ? 0.5 + 0.01 * seed : 0.1 + 0.01 * seed }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    expect(series.claims.find((x) => x.id === 'unstable-attention')!.where).toBe('holds at lr 0.001; not at lr 0.01, 0.1');
  });

  it('writes an unmeasured claim as n/a, not as an effect of n/a', () => {
    const runs = lrRuns(() => ({}));
    const claims = analyseClaims(analyse(runs), runs, []); // no scale runs: scale-sensitive is not measured
    const row = toMarkdown(claimsSection(claims))
      .split('\n')
      .find((l) => l.includes('`scale-sensitive`'))!;
    expect(row).toContain('**not measured**');
    const line = claimsSummaryLines(claims).find((l) => l.includes('scale-sensitive'))!;
    expect(line).toMatch(/not measured\s+effect n\/a {2}p n\/a {2}p_holm n\/a$/);
    for (const text of [row, line]) expect(text).not.toContain('×n/a');
  });

  it('gives one verdict per claim and width in a width study', () => {
    const runs = [8, 16].flatMap((dModel) => lrRuns(() => ({ dModel })));
    const claims = analyseClaims(analyse(runs), runs, []);
    expect(claims.map((s) => s.label)).toEqual(['dModel=8', 'dModel=16']);
    const md = toMarkdown(claimsSection(claims));
    expect(md).toContain('| claim | dModel=8 | dModel=16 |');
  });
});

describe('claims grid chart', () => {
  it('draws one cell per claim and series, and nothing for a single series', async () => {
    const { claimsGridSpec } = await import('../../src/report/charts/claimsGrid.js');
    const { specToSvg } = await import('../../src/report/charts/render.js');
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

describe('per-rate calls, corrected (METRICS.md, 2026-12-04)', () => {
  // The default report's case at 5 seeds and 4 counted rates: at lr 0.01 every QV seed but one sits below every
  // QKV seed (per-rate p_opposite 2/252 ≈ 0.008), at lr 0.001 QV sits above in 22 of 25 pairs (p 7/252 ≈ 0.028).
  // Uncorrected, that read "mixed: reversed at lr 0.01"; Holm over the 2 × 4 per-rate tests keeps neither call.
  const LRS4 = [1e-3, 3e-3, 1e-2, 3e-2];
  const QKV = [0.1, 0.11, 0.12, 0.13, 0.14];
  const wrongMass = (v: 'qkv' | 'qv', lr: number, seed: number) => {
    if (v === 'qkv') return QKV[seed];
    if (lr === 1e-2) return [0.05, 0.06, 0.07, 0.08, 0.105][seed]; // one pair out of order: U_opposite 24
    if (lr === 1e-3) return [0.125, 0.135, 0.15, 0.16, 0.17][seed]; // 3 + 4 + 5 + 5 + 5 = 22 pairs above
    return QKV[seed]; // equal: no call
  };
  const runs = (['qkv', 'qv'] as const).flatMap((attention) =>
    LRS4.flatMap((lr) => SEEDS.map((seed) => run({ attention, lr, seed, retrieval: 0.95 - wrongMass(attention, lr, seed), scaffold: 0.05 }))),
  );
  const [series] = analyseClaims(analyse(runs), runs, []);
  const c = series.claims.find((x) => x.id === 'noisy-matching')!;

  it('names a rate only where its per-rate test survives Holm over the claim’s per-rate tests in both directions', () => {
    const at = (lr: number) => c.by_lr.find((x) => x.lr === lr)!;
    expect(at(1e-2).p_opposite).toBeCloseTo(2 / 252, 12);
    expect(at(1e-3).p).toBeCloseTo(7 / 252, 12);
    expect(at(1e-2).p_holm_opposite).toBeCloseTo((8 * 2) / 252, 12); // the smallest of 8: × 8 = 0.063
    expect(c.opposite_lrs).toEqual([]);
    expect(c.claimed_lrs).toEqual([]);
    expect(c.verdict).not.toBe('mixed');
    expect(c.where).not.toContain('reversed');
    expect(c.where).toBe('not shown at lr 0.001, 0.003, 0.01, 0.03');
  });

  it('still names a rate whose call survives the correction', () => {
    const strong = runs.map((r) =>
      variantOf(r) === 'qv' && r.config.train.lr === 1e-2
        ? { ...r, rows: [{ ...r.rows[0], retrieval_mass: 0.95 - 0.01 - 0.001 * r.config.train.seed }] }
        : r,
    );
    const [s] = analyseClaims(analyse(strong), strong, []);
    const claim = s.claims.find((x) => x.id === 'noisy-matching')!;
    expect(claim.by_lr.find((x) => x.lr === 1e-2)!.p_holm_opposite).toBeCloseTo((8 * 1) / 252, 12); // every pair: 1/252 × 8
    expect(claim.opposite_lrs).toEqual([1e-2]);
    expect(claim.where).toContain('reversed at lr 0.01');
  });
});

describe('the three defects noticed on 2026-12-02', () => {
  it('value-norm: QV below QKV with a positive mean ρ is contradicted when either part fails significantly', () => {
    // The width study's d_model 16 case: Δ < 0 and QV's ρ mostly below 0 by rank, though its mean is positive. The
    // opposite test needed both parts (the larger p) and the direction needed both means below: it read "inconsistent".
    const runs = lrRuns((v, _lr, seed) => ({ rho: v === 'qv' ? [-0.01, -0.02, -0.03, -0.04, 0.3][seed] : 0.2 + 0.01 * seed }));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'value-norm-dominance')!;
    expect(c.effect).toBeLessThan(0);
    expect(c.own!.qv.mean).toBeGreaterThan(0);
    expect(c.p_opposite).toBeCloseTo(Math.min(1, 2 * Math.min(c.p_difference_opposite!, c.own!.qv.p_opposite!)), 12);
    expect(c.verdict).toBe('contradicted');
  });

  it('a claim where training failed at every rate reads "did not learn", not "not measured"', () => {
    const runs = lrRuns((v) => (v === 'qv' ? { acc: 0.06 } : {}));
    const [series] = analyseClaims(analyse(runs), runs, []);
    const c = series.claims.find((x) => x.id === 'noisy-matching')!;
    expect(c.verdict).toBe('did not learn');
    expect(c.where).toBe('training failed at every lr (0.001, 0.01, 0.1)');
    expect(series.claims.find((x) => x.id === 'scale-sensitive')!.verdict).toBe('not measured'); // no scale runs: not a failure
    expect(toMarkdown(claimsSection([series]))).toContain('**did not learn**: training failed at every learning rate');
  });
});
