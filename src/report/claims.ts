/**
 * The seed's four claims, each tested on its own statistic (METRICS.md, "The seed's claims"): per learning rate,
 * per seed, QV against QKV; one stratified exact p per claim and direction; Holm across the claims of a series;
 * the effect with a seeded bootstrap interval; and the verdict rule, which names the LRs when the direction flips.
 */
import type { LoadedRun } from './collect.js';
import type { Analysis } from './analyse.js';
import { ALPHA, finalLoss, initLoss, flatten } from './analyse.js';
import { meanOf, stdOf, mannWhitneyGreater } from './stats.js';
import { stratifiedMannWhitney, holm, effectOf, bootstrapCi, pairsNeeded, type Stratum, type EffectKind } from './claimStats.js';

export type ClaimId = 'noisy-matching' | 'scale-sensitive' | 'value-norm-dominance' | 'unstable-attention';
export type ClaimVerdict = 'supported' | 'not shown' | 'contradicted' | 'mixed' | 'not measured';

/** The scale sweep's learning rate, fixed in METRICS.md before any result was seen. */
export const SCALE_LR = 1e-2;

interface StatisticDef {
  name: string;
  kind: EffectKind;
  value: (run: LoadedRun) => number | null; // per completed run; null when the run has no value
}

interface ClaimDef {
  id: ClaimId;
  quote: string; // the seed's words
  section: string;
  primary: StatisticDef | null; // null: scale sensitivity, computed per seed over scale runs
  secondary: StatisticDef | null;
}

const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const lastRow = (run: LoadedRun) => run.rows.at(-1);

export const CLAIM_DEFS: ClaimDef[] = [
  {
    id: 'noisy-matching',
    quote: 'matching becomes noisy',
    section: '5. Why Not Just Q and V?',
    primary: {
      name: 'wrong-source mass (1 − retrieval mass), final',
      kind: 'ratio',
      value: (r) => {
        const m = finite(lastRow(r)?.retrieval_mass);
        return m === null ? null : 1 - m;
      },
    },
    secondary: { name: 'normalised attention entropy, final', kind: 'ratio', value: (r) => finite(lastRow(r)?.attn_entropy_norm) },
  },
  {
    id: 'scale-sensitive',
    quote: '… and scale-sensitive',
    section: '5. Why Not Just Q and V?',
    primary: null,
    secondary: null,
  },
  {
    id: 'value-norm-dominance',
    quote: 'Large values in V dominate attention regardless of meaning',
    section: '6. Numeric Example: Q–K–V vs Q–V',
    primary: {
      name: 'Spearman ρ(attention weight, ‖x_j·W_V‖) over wrong positions, final',
      kind: 'difference',
      value: (r) => finite(r.summary.value_norm_rho),
    },
    secondary: {
      name: 'top-norm hit rate (most-attended wrong position = largest value norm), final',
      kind: 'ratio',
      value: (r) => finite(r.summary.value_norm_top_hit),
    },
  },
  {
    id: 'unstable-attention',
    quote: 'Attention weights become unstable',
    section: '6. Numeric Example: Q–K–V vs Q–V',
    primary: {
      name: 'attention volatility (mean TV between consecutive logged steps, second half)',
      kind: 'ratio',
      value: (r) => finite(r.summary.attn_volatility),
    },
    secondary: null,
  },
];

export const SCALE_STATISTIC = 'scale sensitivity (LR sensitivity over input scales, each run its own ℓ₀)';

export interface CellResult {
  lr: number;
  qkv: number; // mean over seeds
  qv: number;
  n_qkv: number;
  n_qv: number;
  effect: number;
  ci95: [number, number] | null;
  p: number; // one-sided exact Mann–Whitney, QV above QKV
  p_opposite: number; // QKV above QV
}

export interface StatisticResult {
  statistic: string;
  effect_kind: EffectKind;
  qkv: number;
  qv: number;
  effect: number;
  ci95: [number, number] | null;
  p: number | null; // stratified exact test, claimed direction
  p_opposite: number | null;
  u: number | null;
  pairs: number;
  by_lr: CellResult[];
}

export interface ClaimResult extends StatisticResult {
  id: ClaimId;
  claim: string;
  section: string;
  p_holm: number | null;
  p_holm_opposite: number | null;
  verdict: ClaimVerdict;
  claimed_lrs: number[]; // LRs where the per-LR p < ALPHA in the claimed direction
  opposite_lrs: number[];
  secondary: StatisticResult | null;
  by_scale?: { scale: number; qkv: { mean: number; std: number; n: number }; qv: { mean: number; std: number; n: number } }[];
  note?: string;
}

export interface SeriesClaims {
  label: string;
  settings: Record<string, unknown>;
  dModel: number;
  claims: ClaimResult[];
  detectable: string;
}

/** Claims for every series of the LR analysis; `scaleRuns` (the scale sweep) may be empty. */
export function analyseClaims(a: Analysis, lrRuns: LoadedRun[], scaleRuns: LoadedRun[]): SeriesClaims[] {
  const keys = Object.keys(a.differing);
  const inSeries = (settings: Record<string, unknown>) => (run: LoadedRun) => {
    const flat = flatten(run.config);
    return keys.every((k) => JSON.stringify(flat[k]) === JSON.stringify(settings[k]));
  };
  return a.series.map((s) =>
    claimsForSeries(s.label, s.settings, s.dModel, lrRuns.filter(inSeries(s.settings)), scaleRuns.filter(inSeries(s.settings))),
  );
}

function claimsForSeries(label: string, settings: Record<string, unknown>, dModel: number, runs: LoadedRun[], scaleRuns: LoadedRun[]): SeriesClaims {
  const bootLabel = (id: string) => `${label}/${id}`;
  const results: ClaimResult[] = CLAIM_DEFS.map((def) => {
    const base = { id: def.id, claim: def.quote, section: def.section };
    if (def.id === 'scale-sensitive') return { ...base, ...scaleClaim(scaleRuns, bootLabel(def.id)) };
    const primary = statisticResult(runs, def.primary!, bootLabel(def.id));
    const secondary = def.secondary ? statisticResult(runs, def.secondary, bootLabel(`${def.id}/secondary`)) : null;
    return { ...base, ...primary, ...pending(primary), secondary };
  });
  const adjusted = holm(results.map((r) => r.p));
  const adjustedOpposite = holm(results.map((r) => r.p_opposite));
  results.forEach((r, i) => {
    r.p_holm = adjusted[i];
    r.p_holm_opposite = adjustedOpposite[i];
    r.claimed_lrs = r.by_lr.filter((c) => c.p < ALPHA).map((c) => c.lr);
    r.opposite_lrs = r.by_lr.filter((c) => c.p_opposite < ALPHA).map((c) => c.lr);
    r.verdict = verdictOf(r);
  });
  return { label, settings, dModel, claims: results, detectable: detectableSentence(results) };
}

const pending = (s: StatisticResult) => ({
  p_holm: null,
  p_holm_opposite: null,
  verdict: (s.p === null ? 'not measured' : 'not shown') as ClaimVerdict,
  claimed_lrs: [],
  opposite_lrs: [],
});

/** The rule of METRICS.md, in its order: mixed, supported, contradicted, not shown. */
export function verdictOf(r: Pick<ClaimResult, 'p' | 'p_holm' | 'p_holm_opposite' | 'claimed_lrs' | 'opposite_lrs'>): ClaimVerdict {
  if (r.p === null) return 'not measured';
  if (r.claimed_lrs.length && r.opposite_lrs.length) return 'mixed';
  if (r.p_holm !== null && r.p_holm < ALPHA) return 'supported';
  if (r.p_holm_opposite !== null && r.p_holm_opposite < ALPHA) return 'contradicted';
  return 'not shown';
}

/** Per-LR strata of one statistic over completed runs: x = QV, y = QKV. */
function strataOf(runs: LoadedRun[], value: (r: LoadedRun) => number | null): { lr: number; stratum: Stratum }[] {
  const lrs = [...new Set(runs.map((r) => r.config.train.lr))].sort((p, q) => p - q);
  const values = (variant: string, lr: number) =>
    runs
      .filter((r) => r.config.model.attention === variant && r.config.train.lr === lr && r.summary.status === 'completed')
      .sort((p, q) => p.config.train.seed - q.config.train.seed)
      .map(value)
      .filter((v): v is number => v !== null);
  return lrs.map((lr) => ({ lr, stratum: { x: values('qv', lr), y: values('qkv', lr) } })).filter((c) => c.stratum.x.length && c.stratum.y.length);
}

function statisticResult(runs: LoadedRun[], def: StatisticDef, label: string): StatisticResult {
  return fromStrata(strataOf(runs, def.value), def.name, def.kind, label);
}

function fromStrata(cells: { lr: number; stratum: Stratum }[], statistic: string, kind: EffectKind, label: string): StatisticResult {
  const strata = cells.map((c) => c.stratum);
  const { qv, qkv, effect } = effectOf(strata, kind);
  const test = stratifiedMannWhitney(strata);
  const by_lr = cells.map(({ lr, stratum }): CellResult => {
    const e = effectOf([stratum], kind);
    return {
      lr,
      qkv: e.qkv,
      qv: e.qv,
      n_qkv: stratum.y.length,
      n_qv: stratum.x.length,
      effect: e.effect,
      ci95: bootstrapCi([stratum], kind, `${label}/lr=${lr}`),
      p: mannWhitneyGreater(stratum.x, stratum.y).p,
      p_opposite: mannWhitneyGreater(stratum.y, stratum.x).p,
    };
  });
  const has = strata.length > 0;
  return {
    statistic,
    effect_kind: kind,
    qkv,
    qv,
    effect,
    ci95: has ? bootstrapCi(strata, kind, label) : null,
    p: has ? test.p : null,
    p_opposite: has ? test.pOpposite : null,
    u: has ? test.u : null,
    pairs: test.pairs,
    by_lr,
  };
}

/** Scale sensitivity of one seed: mean over scales of min(ℓ(s), ℓ₀(s)) − min over s of the same, each run its own ℓ₀. */
export function scaleSensitivity(finalLosses: readonly number[], initLosses: readonly number[]): number {
  const capped = finalLosses.map((l, i) => Math.min(Number.isFinite(l) ? l : initLosses[i], initLosses[i]));
  const best = Math.min(...capped);
  return meanOf(capped.map((l) => l - best));
}

function scaleClaim(runs: LoadedRun[], label: string): Omit<ClaimResult, 'id' | 'claim' | 'section'> {
  const scales = [...new Set(runs.map((r) => r.config.model.inputScale ?? 1))].sort((p, q) => p - q);
  const lrs = [...new Set(runs.map((r) => r.config.train.lr))].sort((p, q) => p - q);
  const notes: string[] = [];
  const cells: { lr: number; stratum: Stratum }[] = [];
  if (scales.length >= 2) {
    for (const lr of lrs) {
      const perSeed = (variant: string) => {
        const mine = runs.filter((r) => r.config.model.attention === variant && r.config.train.lr === lr);
        const seeds = [...new Set(mine.map((r) => r.config.train.seed))].sort((p, q) => p - q);
        const out: number[] = [];
        for (const seed of seeds) {
          const byScale = scales.map((s) => mine.find((r) => r.config.train.seed === seed && (r.config.model.inputScale ?? 1) === s));
          if (byScale.some((r) => !r)) {
            notes.push(`${variant} seed ${seed} at lr ${lr} lacks a run at some scale and is left out`);
            continue;
          }
          out.push(
            scaleSensitivity(
              byScale.map((r) => finalLoss(r!)),
              byScale.map((r) => initLoss(r!)),
            ),
          );
        }
        return out;
      };
      const stratum = { x: perSeed('qv'), y: perSeed('qkv') };
      if (stratum.x.length && stratum.y.length) cells.push({ lr, stratum });
    }
  }
  const result = fromStrata(cells, SCALE_STATISTIC, 'ratio', label);
  const loss = (variant: string, s: number) => {
    const xs = runs.filter((r) => r.config.model.attention === variant && (r.config.model.inputScale ?? 1) === s).map(finalLoss);
    return { mean: meanOf(xs), std: stdOf(xs), n: xs.length };
  };
  const by_scale = scales.map((scale) => ({ scale, qkv: loss('qkv', scale), qv: loss('qv', scale) }));
  if (!cells.length) notes.push('not measured: these runs hold no input-scale sweep with both variants at ≥ 2 scales (`qkv-lab claims` runs one)');
  if (lrs.some((lr) => lr !== SCALE_LR)) notes.push(`the scale sweep ran at lr ${lrs.join(', ')}; the definitions fix lr ${SCALE_LR}`);
  return { ...result, ...pending(result), secondary: null, by_scale, ...(notes.length ? { note: notes.join('; ') } : {}) };
}

function detectableSentence(results: ClaimResult[]): string {
  const parts: string[] = [];
  const lrClaim = results.find((r) => r.id !== 'scale-sensitive' && r.by_lr.length);
  if (lrClaim) parts.push(describeSizes(lrClaim.by_lr, 'learning rate'));
  const scale = results.find((r) => r.id === 'scale-sensitive' && r.by_lr.length);
  if (scale) parts.push(`for scale sensitivity (one learning rate), ${describeSizes(scale.by_lr, 'learning rate', true)}`);
  const family = results.filter((r) => r.p !== null).length;
  if (family > 1) parts.push(`after Holm over ${family} claims, even the claim with the smallest p needs p < ${(ALPHA / family).toPrecision(2)}`);
  return parts.length ? `Detectable effect: ${parts.join('; ')}.` : '';
}

function describeSizes(cells: CellResult[], what: string, short = false): string {
  const sizes = cells.map((c) => [c.n_qv, c.n_qkv] as [number, number]);
  const { needed, pairs } = pairsNeeded(sizes, ALPHA);
  const minOne = Math.min(...sizes.map(([n, m]) => pairsNeeded([[n, m]], ALPHA).minP));
  const seedText = new Set(sizes.map(([n, m]) => `${n} vs ${m}`)).size === 1 ? `${sizes[0][0]} vs ${sizes[0][1]} seeds` : 'the seeds available';
  const head = short
    ? ''
    : `with ${seedText} at each of ${cells.length} ${what}${cells.length === 1 ? '' : 's'}, the smallest attainable p at one ${what} is ${minOne.toPrecision(2)}, and `;
  const tail =
    needed === null
      ? `no ordering of the ${pairs} (QV seed, QKV seed) pairs can reach p < ${ALPHA}`
      : `the test reaches p < ${ALPHA} only when at least ${needed} of the ${pairs} (QV seed, QKV seed) pairs (${Math.round((100 * needed) / pairs)}%) are ordered the claimed way`;
  return head + tail;
}
