/**
 * analyse() on a handmade set of runs, every expectation worked out by hand (src/metrics/METRICS.md):
 * LR sensitivity per seed = mean over the swept η of [min(ℓ(η), ℓ₀) − min_η ℓ(η)], a diverged run counting as ℓ₀.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { analyse, variantOf } from '../../src/analysis/analyse.js';
import { verdictJson } from '../../src/commands/compare.js';
import { runsTable } from '../../src/report/data/exports.js';
import { parse } from 'csv-parse/sync';
import { reportDocument, verdictSentence, VERDICT_NOT_SHOWN } from '../../src/report/text/markdown.js';
import { toMarkdown } from '../../src/report/text/document.js';
import type { LoadedRun } from '../../src/report/data/collect.js';

const INIT = 3; // ℓ₀ of every run

function run(attention: 'qkv' | 'qv', lr: number, seed: number, loss: number | 'diverged', stepsToAcc: number | null = 1000): LoadedRun {
  const diverged = loss === 'diverged';
  return {
    dir: `${attention}-${lr}-${seed}`,
    config: resolveConfig({ model: { attention }, train: { lr, seed } }),
    summary: {
      status: diverged ? 'diverged' : 'completed',
      init_eval_loss: INIT,
      final_eval_loss: diverged ? NaN : loss,
      final_eval_acc: 0.5,
      steps_to_acc: stepsToAcc,
      spikes: 0,
      roughness: 0.01,
    },
    rows: [{ step: 2000, attn_entropy_norm: attention === 'qv' ? 0.6 + seed / 100 : 0.3 + seed / 100 }],
    attention: null,
  };
}

// Final losses at lr 0.01 and 0.1 per seed.
//   QKV: (0.1, 1.1) → 0.5;  (0.2, 1.0) → 0.4;  (0.1, 0.7) → 0.3
//   QV:  (0.5, 2.5) → 1.0;  (0.3, 4.0 capped at ℓ₀ = 3) → 1.35;  (0.2, diverged = 3) → 1.4
const RUNS: LoadedRun[] = [
  run('qkv', 0.01, 0, 0.1),
  run('qkv', 0.1, 0, 1.1),
  run('qkv', 0.01, 1, 0.2),
  run('qkv', 0.1, 1, 1.0),
  run('qkv', 0.01, 2, 0.1),
  run('qkv', 0.1, 2, 0.7),
  run('qv', 0.01, 0, 0.5),
  run('qv', 0.1, 0, 2.5),
  run('qv', 0.01, 1, 0.3),
  run('qv', 0.1, 1, 4.0),
  run('qv', 0.01, 2, 0.2),
  run('qv', 0.1, 2, 'diverged'),
];

describe('analyse', () => {
  const a = analyse(RUNS);
  const [series] = a.series;
  const byVariant = (v: string) => series.variants.find((x) => x.variant === v)!;

  it('computes each seed’s LR sensitivity, capping at ℓ₀ and counting a diverged run as ℓ₀', () => {
    expect(a.series).toHaveLength(1);
    expect(byVariant('qkv').sensitivity.map((s) => s.value)).toEqual([0.5, 0.4, 0.3].map((v) => expect.closeTo(v, 12)));
    expect(byVariant('qv').sensitivity.map((s) => s.value)).toEqual([1.0, 1.35, 1.4].map((v) => expect.closeTo(v, 12)));
    expect(byVariant('qv').diverged).toBe(1);
    // The per-LR table shows the loss itself (4.0 uncapped); only the diverged run stands in as ℓ₀.
    expect(byVariant('qv').perLr.find((r) => r.lr === 0.1)!.finalLoss.mean).toBeCloseTo((2.5 + 4.0 + 3) / 3, 12);
  });

  it('every QV seed above every QKV seed with 3 vs 3 gives U = 9 and p = 1/20 = 0.05: not below 0.05, so not shown', () => {
    expect(series.verdict!.u).toBe(9);
    expect(series.verdict!.p).toBeCloseTo(0.05, 12);
    expect(series.verdict!.holds).toBe(false);
    expect(series.verdict!.ratio).toBeCloseTo(1.25 / 0.4, 12);
  });

  it('reads the entropy comparison at the smallest shared learning rate, from completed runs only', () => {
    expect(series.entropy!.lr).toBe(0.01);
    expect(series.entropy!.qv).toEqual([0.6, 0.61, 0.62]);
    expect(series.entropy!.u).toBe(9);
  });

  it('leaves a seed without a run at every learning rate out of the sensitivity, with a warning', () => {
    const partial = analyse(RUNS.filter((r) => !(r.config.model.attention === 'qv' && r.config.train.seed === 2 && r.config.train.lr === 0.1)));
    const qv = partial.series[0].variants.find((v) => v.variant === 'qv')!;
    expect(qv.incompleteSeeds).toEqual([2]);
    expect(qv.sensitivity.map((s) => s.seed)).toEqual([0, 1]);
    expect(partial.warnings.join(' ')).toMatch(/seeds 2 lack a run/);
  });

  it('the report pairs QKV and QV rows by learning rate, not by position, when the LR lists differ', () => {
    const extra = [0, 1, 2].map((seed) => run('qkv', 0.001, seed, 0.5, 1500));
    const withSteps = RUNS.map((r) => ({
      ...r,
      summary: { ...r.summary, steps_to_acc: r.config.train.lr === 0.01 ? (r.config.model.attention === 'qkv' ? 300 : 700) : null },
    }));
    const md = toMarkdown(reportDocument('t', analyse([...extra, ...withSteps]), []));
    expect(md).toMatch(/lr 0\.001: QKV 1500 \(3\/3 runs\) vs QV n\/a/);
    expect(md).toMatch(/lr 0\.01: QKV 300 \(3\/3 runs\) vs QV 700 \(3\/3 runs\)/);
  });
});

describe('more than two variants', () => {
  // Two LRs, three seeds; qkv sensitivity 0.3 + 0.01·s, qx the same plus 1 (all above), qkv+qknorm the same minus 0.1.
  const vrun = (attention: 'qkv' | 'qv' | 'qx', qkNorm: boolean, lr: number, seed: number, loss: number): LoadedRun => ({
    dir: `${attention}${qkNorm ? '+n' : ''}-${lr}-${seed}`,
    config: resolveConfig({ model: { attention, qkNorm }, train: { lr, seed } }),
    summary: { status: 'completed', init_eval_loss: 9, final_eval_loss: loss, final_eval_acc: 1, steps_to_acc: 1000, spikes: 0, roughness: 0 },
    rows: [{ step: 2000, attn_entropy_norm: 0.2 }],
    attention: null,
  });
  const runs = [0, 1, 2].flatMap((s) => [
    vrun('qkv', false, 0.01, s, 0.1),
    vrun('qkv', false, 0.1, s, 0.7 + 0.02 * s), // sensitivity (0.6 + .02s)/2 = 0.3 + .01s
    vrun('qv', false, 0.01, s, 0.1),
    vrun('qv', false, 0.1, s, 0.8 + 0.02 * s), // 0.35 + .01s: above every qkv seed but one pair
    vrun('qx', false, 0.01, s, 0.1),
    vrun('qx', false, 0.1, s, 2.7 + 0.02 * s), // 1.3 + .01s
    vrun('qkv', true, 0.01, s, 0.1),
    vrun('qkv', true, 0.1, s, 0.5 + 0.02 * s), // 0.2 + .01s
  ]);

  it('keeps qv against qkv as the headline, and compares every other variant with qkv, Holm across them', () => {
    const a = analyse(runs);
    expect(a.series).toHaveLength(1); // qkNorm varies within the series, like the attention
    const s = a.series[0];
    expect(s.variants.map((v) => v.variant)).toEqual(['qkv', 'qkv+qknorm', 'qv', 'qx']);
    expect(s.verdict!.ratio).toBeCloseTo(0.36 / 0.31, 12);
    const byVariant = Object.fromEntries(s.againstBaseline.map((c) => [c.variant, c]));
    expect(Object.keys(byVariant).sort()).toEqual(['qkv+qknorm', 'qv', 'qx']);
    expect(byVariant.qx.ratio).toBeCloseTo(1.31 / 0.31, 12);
    expect(byVariant.qx.p).toBeCloseTo(1 / 20, 12); // every qx seed above every qkv seed: 1/C(6, 3)
    expect(byVariant.qx.p_holm).toBeCloseTo(3 / 20, 12); // the smallest of three p values, × 3
    expect(byVariant['qkv+qknorm'].p).toBe(1);
    expect(byVariant['qkv+qknorm'].p_opposite).toBeCloseTo(1 / 20, 12); // every seed more stable than every qkv seed
    expect(byVariant.qx.p_opposite).toBe(1);
    const md = toMarkdown(reportDocument('t', a, []));
    expect(md).toContain('### Every variant against QKV');
    expect(md).toContain('| qx | no key projection, matching not tied to values | 4.23 |');
    expect(md).toContain('| qkv+qknorm | the baseline: a separate key projection, with QK-norm | 0.677 |'); // 0.21 / 0.31
  });

  it('a variant that failed at every learning rate reads "did not learn", however stable its flat loss looks', () => {
    // qx at chance everywhere (median final accuracy 0.1 < 0.5): its loss barely moves, so its LR sensitivity is
    // the smallest, and without the rule it would read "more stable than QKV".
    const flat = [0, 1, 2].flatMap((s) =>
      [0.01, 0.1].map((lr) => ({
        ...vrun('qx', false, lr, s, 8.9),
        summary: { ...vrun('qx', false, lr, s, 8.9).summary, final_eval_acc: 0.1, steps_to_acc: null },
      })),
    );
    const rest = runs.filter((r) => r.config.model.attention !== 'qx');
    const c = analyse([...rest, ...flat]).series[0].againstBaseline.find((x) => x.variant === 'qx')!;
    // Its flat loss would be the smallest sensitivity there is (ratio 0, p_opposite 1/20: "more stable"); since
    // 2026-12-04 no qx seed learned anywhere, so none has a sensitivity and the variant is not tested at all.
    expect(c.ratio).toBeNaN();
    expect(c.p_opposite).toBeNaN();
    expect(c.reading).toBe('did not learn');
    expect(toMarkdown(reportDocument('t', analyse([...rest, ...flat]), []))).toMatch(/\| qx \|.*\*\*did not learn\*\*: no seed reached 95%/);
    // Learning at one learning rate is enough to be judged.
    const once = flat.map((r) => (r.config.train.lr === 0.01 ? { ...r, summary: { ...r.summary, final_eval_acc: 0.96, steps_to_acc: 1000 } } : r));
    expect(analyse([...rest, ...once]).series[0].againstBaseline.find((x) => x.variant === 'qx')!.reading).toBe('not shown'); // p_Holm 0.15
  });
});

describe('seeds that never learn (METRICS.md, 2026-12-04)', () => {
  // Three LRs. QKV seeds 0–3 learn at 0.001 and 0.01 (window 2); QV seeds 0, 1 learn at 0.01 only (window 1);
  // QV seeds 2, 3 learn nowhere: their loss stays near ℓ₀ = 3, so their LR sensitivity would be about 0.
  const LRS = [0.001, 0.01, 0.1];
  const qkvLearns = (lr: number) => lr !== 0.1;
  const runs: LoadedRun[] = [0, 1, 2, 3].flatMap((seed) =>
    LRS.flatMap((lr) => {
      const qvLearns = seed < 2 && lr === 0.01;
      return [
        run('qkv', lr, seed, qkvLearns(lr) ? 0.1 : 2.0, qkvLearns(lr) ? 800 : null),
        run('qv', lr, seed, seed >= 2 ? 2.9 : qvLearns ? 0.2 : 2.5, qvLearns ? 900 : null),
      ];
    }),
  );
  const s = analyse(runs).series[0];
  const byVariant = (v: string) => s.variants.find((x) => x.variant === v)!;

  it('names them and sets them aside from LR sensitivity, instead of counting a flat loss as stable', () => {
    expect(byVariant('qv').neverLearned).toEqual([2, 3]);
    expect(byVariant('qv').sensitivity.map((x) => x.seed)).toEqual([0, 1]);
    expect(byVariant('qkv').neverLearned).toEqual([]);
    // QKV (0.1, 0.1, 2.0) → 1.9/3; QV (2.5, 0.2, 2.5) → 4.6/3
    expect(s.verdict!.ratio).toBeCloseTo(4.6 / 1.9, 12);
    expect(s.verdict!.qv).toHaveLength(2);
    expect(s.verdict!.p).toBeCloseTo(1 / 15, 12); // both QV seeds above all four QKV seeds: 1/C(6, 2)
    const sentence = verdictSentence(s);
    expect(sentence).toContain('(2 vs 4 seeds; set aside, QV: 2 of 4 seeds (2, 3) never learned at any rate)');
  });

  it('counts every seed in the LR window, and tests it with the exact test in both directions', () => {
    expect(byVariant('qv').window.map((w) => w.rates)).toEqual([1, 1, 0, 0]);
    expect(s.window!.qkv).toEqual([2, 2, 2, 2]);
    expect(s.window!.p).toBeCloseTo(1 / 70, 12); // every QKV window above every QV one: 1/C(8, 4)
    expect(s.window!.p_opposite).toBe(1);
    expect(s.window!.reading).toBe('narrower');
    expect(verdictSentence(s)).toMatch(/LR window \(rates of 3 .*QV 0\.5 vs QKV 2 per seed.*p = 0\.0143 \(narrower\).*QV's window is narrower/);
    const json = verdictJson(analyse(runs), runs.length);
    expect(json.series[0].never_learned).toEqual({ qkv: [], qv: [2, 3] });
    expect(json.series[0].lr_window!.reading).toBe('narrower');
  });

  it('says so in the headline when no seed of a variant learned anywhere, and never calls that a verdict', () => {
    const flat = runs.map((r) => (variantOf(r) === 'qv' ? { ...r, summary: { ...r.summary, steps_to_acc: null, final_eval_loss: 2.9 } } : r));
    const a = analyse(flat);
    expect(a.series[0].didNotLearn).toEqual(['qv']);
    expect(a.series[0].verdict).toBeNull();
    expect(verdictSentence(a.series[0])).toMatch(/^\*\*Verdict: no verdict, QV did not learn\*\* — no seed of QV reached 95%/);
    expect(verdictJson(a, flat.length).holds).toBe(false);
    expect(verdictJson(a, flat.length).series[0].did_not_learn).toEqual(['qv']);
  });

  it('writes each run’s learned flag and its seed’s LR window into runs.csv', () => {
    const rows = parse(runsTable(runs, '.'), { columns: true }) as Record<string, string>[];
    const at = (variant: string, seed: number, lr: number) =>
      rows.find((r) => r.variant === variant && r['train.seed'] === String(seed) && r['train.lr'] === String(lr))!;
    expect(at('qv', 0, 0.01)).toMatchObject({ learned: 'true', lr_window: '1' });
    expect(at('qv', 0, 0.1)).toMatchObject({ learned: 'false', lr_window: '1' });
    expect(at('qv', 3, 0.01)).toMatchObject({ learned: 'false', lr_window: '0' });
    expect(at('qkv', 2, 0.1)).toMatchObject({ learned: 'false', lr_window: '2' });
  });
});

describe('calls made per series are corrected across the series (METRICS.md, 2026-12-06)', () => {
  // Two lrs, losses 0.1 and 0.1 + 2·sens, so a seed's LR sensitivity is `sens` exactly.
  const seedRuns = (attention: 'qkv' | 'qv', seed: number, sens: number, dModel: number): LoadedRun[] =>
    [0.01, 0.1].map((lr) => {
      const r = run(attention, lr, seed, lr === 0.01 ? 0.1 : 0.1 + 2 * sens);
      return { ...r, dir: `${r.dir}-d${dModel}`, config: resolveConfig({ model: { attention, dModel }, train: { lr, seed } }) };
    });
  // QKV 0.3, 0.4, 0.5, 0.65 against QV 0.6, 0.7, 0.8, 1.0: U = 15 of 16, p = 2/70 = 0.0286 in each series.
  const series = (dModel: number) => [
    ...[0.3, 0.4, 0.5, 0.65].flatMap((sens, seed) => seedRuns('qkv', seed, sens, dModel)),
    ...[0.6, 0.7, 0.8, 1.0].flatMap((sens, seed) => seedRuns('qv', seed, sens, dModel)),
  ];

  it('one series is read from its own p, as before', () => {
    const [s] = analyse(series(8)).series;
    expect(s.verdict!.u).toBe(15);
    expect(s.verdict!.p).toBeCloseTo(2 / 70, 12);
    expect(s.verdict!.p_holm).toBeUndefined();
    expect(s.verdict!.holds).toBe(true);
    expect(verdictJson(analyse(series(8)), 16).series[0]).not.toHaveProperty('p_holm');
  });

  it('two series with p = 0.0286 each: Holm gives 0.057, so neither holds, and the report says why', () => {
    const a = analyse([...series(8), ...series(16)]);
    expect(a.series).toHaveLength(2);
    for (const s of a.series) {
      expect(s.verdict!.p).toBeCloseTo(2 / 70, 12);
      expect(s.verdict!.p_holm).toBeCloseTo(4 / 70, 12);
      expect(s.verdict!.family).toBe(2);
      expect(s.verdict!.holds).toBe(false);
      const sentence = verdictSentence(s);
      expect(sentence).toContain(`${VERDICT_NOT_SHOWN}** — `);
      expect(sentence).toContain('p = 0.0286, Holm across the 2 settings 0.0571');
      expect(sentence).toContain('p (Holm) ≥ 0.05');
      expect(s.entropy!.p_holm).toBeDefined();
      expect(s.window!.p_holm).toBeDefined();
    }
    const json = verdictJson(a, 32);
    expect(json.series[0].p_holm).toBeCloseTo(4 / 70, 12);
    expect(json.series[0].holds).toBe(false);
  });

  it('a significant rank test whose ratio of means points the other way is no verdict', () => {
    // QKV 0.1 … 0.18 and one 1.4 (mean 0.35) against QV 0.2 … 0.3 (mean 0.25): U = 30 of 36, p = 30/924 = 0.032
    // (the arrangements with U ≥ 30 are the partitions of 0 … 6: 1 + 1 + 2 + 3 + 5 + 7 + 11).
    const runs = [
      ...[0.1, 0.12, 0.14, 0.16, 0.18, 1.4].flatMap((sens, seed) => seedRuns('qkv', seed, sens, 8)),
      ...[0.2, 0.22, 0.24, 0.26, 0.28, 0.3].flatMap((sens, seed) => seedRuns('qv', seed, sens, 8)),
    ];
    const [s] = analyse(runs).series;
    expect(s.verdict!.u).toBe(30);
    expect(s.verdict!.p).toBeCloseTo(30 / 924, 12);
    expect(s.verdict!.ratio).toBeCloseTo(0.25 / 0.35, 12);
    expect(s.verdict!.holds).toBe(false);
    expect(verdictSentence(s)).toContain('the test is significant but the ratio of means is ≤ 1');
  });
});
