// Synthetic ReportData for the chart and HTML tests: 2 variants × 2 LRs × 2 seeds × 5 steps, 2 heatmaps.
import type { CurvePoint, FinalPoint, Heatmap, ReportData } from '../../src/report/data/types.js';
import { chart, markdown, verdicts, type Block } from '../../src/report/text/document.js';
import type { SeriesClaims } from '../../src/analysis/claims.js';
import { VARIANTS as BUILT_IN } from '../../src/model/schema.js';

const VARIANTS = ['qkv', 'qv'];
const LRS = [1e-3, 1e-2];
const SEEDS = [0, 1];
const STEPS = [0, 100, 200, 300, 400];

function heatmap(variant: string, sharp: number, seed = 0): Heatmap {
  const cols = ['k0', 'k1', 'k2', 'k3', 'q'];
  const correct = [2, 0, 3, 1];
  const weights = correct.map((c) => {
    const row = cols.map((_, j) => (j === c ? sharp : 1));
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((w) => w / sum);
  });
  return {
    series: '',
    variant,
    lr: 1e-2,
    seed,
    step: 400,
    layer: 1,
    layers: 1,
    rowLabels: ['ex0 q', 'ex1 q', 'ex2 q', 'ex3 q'],
    colLabels: cols,
    weights,
    correct,
  };
}

/** A small, fully deterministic report; `width: false` gives `width: null`. */
export function syntheticReport(opts: { width?: boolean } = {}): ReportData {
  const curves: CurvePoint[] = [];
  const finals: FinalPoint[] = [];
  for (const variant of VARIANTS) {
    for (const lr of LRS) {
      for (const seed of SEEDS) {
        const speed = (variant === 'qkv' ? 1.2 : 0.8) * (lr === 1e-2 ? 2 : 1) * (1 + 0.1 * seed);
        for (const step of STEPS) {
          const t = step / 400;
          curves.push({
            series: '',
            variant,
            lr,
            seed,
            step,
            eval_loss: 2.3 * Math.exp(-speed * 2 * t) + 0.05,
            attn_entropy_norm: 1 - 0.8 * t * (variant === 'qkv' ? 1 : 0.6),
            retrieval_mass: 0.2 + 0.7 * t * (variant === 'qkv' ? 1 : 0.7),
          });
        }
        finals.push({
          series: '',
          variant,
          lr,
          seed,
          final_eval_loss: 2.3 * Math.exp(-speed * 2) + 0.05,
          diverged: false,
        });
      }
    }
  }
  return {
    title: 'Synthetic report',
    curves,
    isolates: Object.fromEntries(VARIANTS.map((v) => [v, BUILT_IN[v as keyof typeof BUILT_IN].isolates])),
    finals,
    heatmaps: [heatmap('qkv', 12), heatmap('qv', 4), heatmap('qkv', 20, 1), heatmap('qv', 2, 1)],
    width:
      opts.width === false
        ? null
        : [
            { dModel: 8, ratio: 1.3, p: 0.004, holds: true },
            { dModel: 16, ratio: 1.15, p: 0.03, holds: true },
            { dModel: 32, ratio: 0.97, p: 0.6, holds: false },
          ],
    // Made-up per-seed sensitivities and the test they would give (2 vs 2 seeds: p cannot go below 1/6).
    sensitivity: [
      { series: '', variant: 'qkv', seed: 0, value: 0.31 },
      { series: '', variant: 'qkv', seed: 1, value: 0.35 },
      { series: '', variant: 'qv', seed: 0, value: 0.42 },
      { series: '', variant: 'qv', seed: 1, value: 0.38 },
    ],
    verdicts: [{ series: '', ratio: 1.21, u: 4, p: 1 / 6, holds: false, qv: 2, qkv: 2, pFloor: 1 / 6 }],
  };
}

/** The report's structure around the synthetic data: a title, a verdict, a table, then every chart under "Charts". */
export function syntheticDocument(charts: { id: string; title: string; pngFile: string }[]): Block[] {
  return [
    markdown('# Synthetic report', ''),
    verdicts(['**Verdict: not shown at this setting** — ratio 1.10, p = 0.21.'], true),
    markdown('| variant | lr | final loss |', '|---|---|---|', '| qkv | 1e-2 | 0.12 |', '| qv | 1e-2 | 0.19 |', '', '## Charts', ''),
    ...charts.map(chart),
  ];
}

/** Two series of claims with only what the claims grid reads: label, and per claim its id, verdict, effect and Holm p. */
export function syntheticClaims(): SeriesClaims[] {
  const claim = (id: string, verdict: string, effect: number, p_holm: number | null) => ({ id, verdict, effect, effect_kind: 'ratio', p_holm });
  return [
    { label: 'dModel=8', claims: [claim('noisy-matching', 'supported', 1.81, 6.19e-6), claim('scale-sensitive', 'not measured', NaN, null)] },
    { label: 'dModel=16', claims: [claim('noisy-matching', 'mixed', 1.2, 0.03), claim('scale-sensitive', 'not shown', 0.9, 0.6)] },
  ] as unknown as SeriesClaims[]; // the grid reads no other field
}
