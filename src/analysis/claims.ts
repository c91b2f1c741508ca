/**
 * The seed's four claims, each tested on its own statistic (METRICS.md, "The seed's claims"): per learning rate,
 * per seed, QV against QKV; learning rates where training failed shown but left out of the test; one stratified
 * exact p per claim and direction; Holm across the claims of a series; the effect with a seeded bootstrap
 * interval; and the verdict rule, which never lets a verdict point against its own effect.
 */
import type { LoadedRun } from '../runs/readRun.js';
import type { Analysis } from './analyse.js';
import { finalLoss, initLoss, variantOf } from './analyse.js';
import { ALPHA, BASELINE, SCALE_LR, FAILED_ACCURACY, flatten } from './protocol.js';
import { meanOf, stdOf, medianOf } from '../stats/describe.js';
import { mannWhitneyGreater, stratifiedMannWhitney, stratifiedSignedRank, pairsNeeded, type Stratum } from '../stats/ranks.js';
import { scaleSensitivity } from '../stats/sensitivity.js';
import { holm } from '../stats/multiple.js';
import { effectOf, bootstrapCi, type EffectKind } from '../stats/bootstrap.js';

export type ClaimId = 'noisy-matching' | 'scale-sensitive' | 'value-norm-dominance' | 'unstable-attention';
export type ClaimVerdict = 'supported' | 'not shown' | 'contradicted' | 'mixed' | 'inconsistent' | 'not measured' | 'did not learn';

export { SCALE_LR, FAILED_ACCURACY }; // the protocol lives in src/analysis/protocol.ts

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
  /** The claim also needs QV's own value above 0 (value-norm ρ: large values must get *more* attention). */
  needsPositive?: boolean;
}

const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const lastRow = (run: LoadedRun) => run.rows.at(-1);

/**
 * Wrong-source mass over the content positions of the last layer (the one whose output is read): 1 − retrieval −
 * scaffold share (METRICS.md); null for runs logged before scaffold_share existed. With several layers,
 * retrieval_mass is their mean and the last layer's has its own column.
 */
export function wrongSourceMass(run: LoadedRun): number | null {
  const row = lastRow(run);
  const layers = run.config.model.layers;
  const retrieval = finite(layers > 1 ? row?.[`retrieval_mass_l${layers - 1}`] : row?.retrieval_mass);
  const scaffold = finite(row?.scaffold_share);
  return retrieval === null || scaffold === null ? null : 1 - retrieval - scaffold;
}

export const CLAIM_DEFS: ClaimDef[] = [
  {
    id: 'noisy-matching',
    quote: 'matching becomes noisy',
    section: '5. Why Not Just Q and V?',
    primary: { name: 'wrong-source mass over the content positions, final', kind: 'ratio', value: wrongSourceMass },
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
      name: 'Spearman ρ(attention weight, ‖x_j·W_V‖) over the wrong content positions, final',
      kind: 'difference',
      value: (r) => finite(r.summary.value_norm_rho),
    },
    secondary: {
      name: 'top-norm hit rate (most-attended wrong position = largest value norm), final',
      kind: 'ratio',
      value: (r) => finite(r.summary.value_norm_top_hit),
    },
    needsPositive: true,
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

/** One variant's own statistic against 0: the stratified exact signed-rank test over the strata that count. */
export interface OwnTest {
  mean: number; // mean over strata of the per-stratum mean
  p: number | null; // the values tend to be above 0
  p_opposite: number | null; // below 0
}

export interface CellResult {
  lr: number;
  qkv: number; // mean over seeds
  qv: number;
  n_qkv: number;
  n_qv: number;
  effect: number;
  ci95: [number, number] | null;
  p: number; // one-sided exact test in the claimed direction (for a claim that needs QV above 0, the larger of that p and QV's own p)
  p_opposite: number;
  /** Holm across this claim's per-rate tests, both directions, over the counted rates (2026-12-04); null for a failed stratum. */
  p_holm?: number | null;
  p_holm_opposite?: number | null;
  failed: boolean; // a failed stratum: shown, left out of the claim's test and effect
  own?: { qkv: OwnTest; qv: OwnTest };
}

export interface StatisticResult {
  statistic: string;
  effect_kind: EffectKind;
  qkv: number;
  qv: number;
  effect: number;
  ci95: [number, number] | null;
  p: number | null; // stratified exact test over the strata that count, claimed direction
  p_opposite: number | null;
  u: number | null;
  pairs: number;
  by_lr: CellResult[];
  /** Each variant's own value against 0 (claims that need it): QV's must be above 0 for "supported". */
  own?: { qkv: OwnTest; qv: OwnTest };
  /** The difference test alone, QV above QKV, before it is joined with QV's own test. */
  p_difference?: number | null;
  p_difference_opposite?: number | null;
}

export interface ClaimResult extends StatisticResult {
  id: ClaimId;
  claim: string;
  section: string;
  p_holm: number | null;
  p_holm_opposite: number | null;
  verdict: ClaimVerdict;
  claimed_lrs: number[]; // LRs that count where the per-LR p, Holm-adjusted over the claim's per-LR tests, is < ALPHA in the claimed direction
  opposite_lrs: number[];
  failed_lrs: number[]; // failed strata, left out
  where: string; // where it holds, in words
  secondary: StatisticResult | null;
  by_scale?: { scale: number; qkv: { mean: number; std: number; n: number }; qv: { mean: number; std: number; n: number } }[];
  note?: string;
}

/** The query's attention to scaffold positions (itself, output slots), per learning rate: reported, never in a verdict. */
export interface ScaffoldRow {
  lr: number;
  qkv: number | null;
  qv: number | null;
  n_qkv: number;
  n_qv: number;
  failed: boolean;
}

export interface SeriesClaims {
  label: string;
  /** The variant compared with qkv ("qv" in the seed's claims); the `qv` fields of every result hold its values. */
  variant: string;
  settings: Record<string, unknown>;
  dModel: number;
  claims: ClaimResult[];
  failed_lrs: number[];
  /** Median final eval accuracy per learning rate and variant: the failed-stratum rule's input. */
  accuracy: { lr: number; qkv: number; qv: number }[];
  scaffold: ScaffoldRow[];
  detectable: string;
}

/**
 * Claims for every series of the LR analysis, and in each for every variant against qkv (qv first: the seed's
 * claims are about it); `scaleRuns` (the scale sweep) may be empty. With only qkv and qv the labels are the series'.
 */
export function analyseClaims(a: Analysis, lrRuns: LoadedRun[], scaleRuns: LoadedRun[]): SeriesClaims[] {
  const keys = Object.keys(a.differing);
  const inSeries = (settings: Record<string, unknown>) => (run: LoadedRun) => {
    const flat = flatten(run.config);
    return keys.every((k) => JSON.stringify(flat[k]) === JSON.stringify(settings[k]));
  };
  const others = [...new Set(lrRuns.map(variantOf))].filter((v) => v !== BASELINE);
  const compared = others.sort((p, q) => (p === 'qv' ? -1 : q === 'qv' ? 1 : p.localeCompare(q)));
  return a.series.flatMap((s) =>
    compared.map((variant) => {
      const label = compared.length === 1 && variant === 'qv' ? s.label : [s.label, variant].filter(Boolean).join(' · ');
      const [runs, scale] = [lrRuns.filter(inSeries(s.settings)), scaleRuns.filter(inSeries(s.settings))];
      return claimsForSeries(label, variant, s.settings, s.dModel, runs, scale);
    }),
  );
}

const variantRuns = (runs: LoadedRun[], variant: string, lr: number) => runs.filter((r) => variantOf(r) === variant && r.config.train.lr === lr);
const lrsOf = (runs: LoadedRun[]) => [...new Set(runs.map((r) => r.config.train.lr))].sort((p, q) => p - q);

/** Median final eval accuracy per LR and variant (a run without one, e.g. diverged, counts as 0), and the failed LRs. */
export function failedStrata(runs: LoadedRun[], variant = 'qv'): { accuracy: SeriesClaims['accuracy']; failed: number[] } {
  const accuracy = lrsOf(runs).map((lr) => {
    const median = (v: string) => medianOf(variantRuns(runs, v, lr).map((r) => finite(r.summary.final_eval_acc) ?? 0));
    return { lr, qkv: median(BASELINE), qv: median(variant) };
  });
  // NaN (a variant with no run at this LR) is not "below": that LR has no pair to compare and drops out anyway.
  const failed = accuracy.filter((a) => a.qkv < FAILED_ACCURACY || a.qv < FAILED_ACCURACY).map((a) => a.lr);
  return { accuracy, failed };
}

function claimsForSeries(
  label: string,
  variant: string,
  settings: Record<string, unknown>,
  dModel: number,
  runs: LoadedRun[],
  scaleRuns: LoadedRun[],
): SeriesClaims {
  const bootLabel = (id: string) => `${label}/${id}`;
  const { accuracy, failed } = failedStrata(runs, variant);
  const results: ClaimResult[] = CLAIM_DEFS.map((def) => {
    const base = { id: def.id, claim: def.quote, section: def.section };
    if (def.id === 'scale-sensitive') return { ...base, ...scaleClaim(scaleRuns, bootLabel(def.id), variant) };
    const primary = statisticResult(runs, def.primary!, bootLabel(def.id), failed, !!def.needsPositive, variant);
    const secondary = def.secondary ? statisticResult(runs, def.secondary, bootLabel(`${def.id}/secondary`), failed, false, variant) : null;
    return { ...base, ...primary, ...pending(primary), secondary };
  });
  const adjusted = holm(results.map((r) => r.p));
  const adjustedOpposite = holm(results.map((r) => r.p_opposite));
  results.forEach((r, i) => {
    r.p_holm = adjusted[i];
    r.p_holm_opposite = adjustedOpposite[i];
    const counted = adjustPerRate(r.by_lr);
    r.claimed_lrs = counted.filter((c) => c.p_holm! < ALPHA).map((c) => c.lr);
    r.opposite_lrs = counted.filter((c) => c.p_holm_opposite! < ALPHA).map((c) => c.lr);
    r.failed_lrs = r.by_lr.filter((c) => c.failed).map((c) => c.lr);
    r.verdict = verdictOf(r);
    r.where = whereText(r);
  });
  return {
    label,
    variant,
    settings,
    dModel,
    claims: results,
    failed_lrs: failed,
    accuracy,
    scaffold: scaffoldRows(runs, failed, variant),
    detectable: detectableSentence(results),
  };
}

/**
 * Holm across a claim's per-rate tests, both directions over the counted rates (2 × rates calls), written into
 * each counted cell: "holds at", "reversed at" and "mixed" rest on these (METRICS.md, 2026-12-04). Returns the counted cells.
 */
export function adjustPerRate(cells: CellResult[]): CellResult[] {
  const counted = cells.filter((c) => !c.failed);
  const adjusted = holm([...counted.map((c) => c.p), ...counted.map((c) => c.p_opposite)]);
  counted.forEach((c, i) => {
    c.p_holm = adjusted[i] ?? null;
    c.p_holm_opposite = adjusted[counted.length + i] ?? null;
  });
  return counted;
}

const pending = (s: StatisticResult) => ({
  p_holm: null,
  p_holm_opposite: null,
  verdict: (s.p === null ? 'not measured' : 'not shown') as ClaimVerdict,
  claimed_lrs: [],
  opposite_lrs: [],
  failed_lrs: [],
  where: '',
});

/**
 * +1 when the point effect points the claimed way (QV above QKV, and QV's own value above 0 where the claim needs
 * it), −1 when it points against the claim, 0 neither. A claim that needs both parts is against its effect when
 * either part points the other way (2026-12-04: it needed both, so QV below QKV with a positive ρ read neither).
 */
export function effectDirection(r: Pick<StatisticResult, 'effect' | 'effect_kind' | 'own'>): 1 | -1 | 0 {
  const neutral = r.effect_kind === 'ratio' ? 1 : 0;
  const own = r.own ? r.own.qv.mean : null;
  if (r.effect > neutral && (own === null || own > 0)) return 1;
  if (r.effect < neutral || (own !== null && own < 0)) return -1;
  return 0;
}

/**
 * The rule of METRICS.md, in its order: not measured; mixed; supported (Holm-adjusted p < α and the effect points
 * the claimed way); contradicted (the same the other way); inconsistent (a significant test whose effect points
 * elsewhere); not shown.
 */
export function verdictOf(
  r: Pick<ClaimResult, 'p' | 'p_holm' | 'p_holm_opposite' | 'claimed_lrs' | 'opposite_lrs' | 'effect' | 'effect_kind' | 'own'> &
    Partial<Pick<ClaimResult, 'by_lr'>>,
): ClaimVerdict {
  // Every rate a failed stratum: nothing learned, so there is no matching to judge (2026-12-04; it read "not measured").
  if (r.p === null) return r.by_lr?.length && r.by_lr.every((c) => c.failed) ? 'did not learn' : 'not measured';
  if (r.claimed_lrs.length && r.opposite_lrs.length) return 'mixed';
  const direction = effectDirection(r);
  if (r.p_holm !== null && r.p_holm < ALPHA) return direction === 1 ? 'supported' : 'inconsistent';
  if (r.p_holm_opposite !== null && r.p_holm_opposite < ALPHA) return direction === -1 ? 'contradicted' : 'inconsistent';
  return 'not shown';
}

const lrWords = (lrs: number[]) => lrs.map((lr) => `${lr}`).join(', ');

/**
 * Where a claim holds, in words, from the per-rate calls the verdict rule made (claimed_lrs and opposite_lrs, the
 * Holm-adjusted ones): "holds at lr 0.001, 0.003; not at lr 0.01; training failed at lr 0.1 (left out)".
 */
export function whereText(r: Pick<ClaimResult, 'by_lr' | 'p' | 'claimed_lrs' | 'opposite_lrs'>): string {
  const failed = r.by_lr.filter((c) => c.failed).map((c) => c.lr);
  if (r.p === null) return failed.length && failed.length === r.by_lr.length ? `training failed at every lr (${lrWords(failed)})` : '';
  const [above, below] = [r.claimed_lrs, r.opposite_lrs];
  const neither = r.by_lr.filter((c) => !c.failed && !above.includes(c.lr) && !below.includes(c.lr)).map((c) => c.lr);
  const parts: string[] = [];
  if (above.length) parts.push(`holds at lr ${lrWords(above)}`);
  if (below.length) parts.push(`reversed at lr ${lrWords(below)}`);
  if (neither.length) parts.push(`${above.length ? 'not' : 'not shown'} at lr ${lrWords(neither)}`);
  if (failed.length) parts.push(`training failed at lr ${lrWords(failed)} (left out)`);
  return parts.join('; ');
}

/** Per-LR values of one statistic over completed runs: x = the compared variant (QV), y = QKV, seeds in order. */
function strataOf(runs: LoadedRun[], value: (r: LoadedRun) => number | null, variant: string): { lr: number; stratum: Stratum }[] {
  const values = (variant: string, lr: number) =>
    variantRuns(runs, variant, lr)
      .filter((r) => r.summary.status === 'completed')
      .sort((p, q) => p.config.train.seed - q.config.train.seed)
      .map(value)
      .filter((v): v is number => v !== null);
  return lrsOf(runs)
    .map((lr) => ({ lr, stratum: { x: values(variant, lr), y: values(BASELINE, lr) } }))
    .filter((c) => c.stratum.x.length && c.stratum.y.length);
}

function statisticResult(
  runs: LoadedRun[],
  def: StatisticDef,
  label: string,
  failed: number[],
  needsPositive: boolean,
  variant: string,
): StatisticResult {
  return fromStrata(strataOf(runs, def.value, variant), def.name, def.kind, label, failed, needsPositive);
}

function ownTest(samples: readonly (readonly number[])[]): OwnTest {
  const t = stratifiedSignedRank(samples);
  const has = t.n > 0;
  return { mean: meanOf(samples.filter((xs) => xs.length).map((xs) => meanOf([...xs]))), p: has ? t.p : null, p_opposite: has ? t.pOpposite : null };
}

/** The larger of two one-sided p values: both tests must reject (an intersection–union test needs no correction). */
const both = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(a, b));

/**
 * Either of two one-sided tests rejects: Bonferroni over the two, 2 · min(p). A claim that needs two things is
 * contradicted when either fails significantly (2026-12-04; before, both had to, so the opposite test was the larger p).
 */
const either = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.min(1, 2 * Math.min(a, b)));

function fromStrata(
  cells: { lr: number; stratum: Stratum }[],
  statistic: string,
  kind: EffectKind,
  label: string,
  failed: number[] = [],
  needsPositive = false,
): StatisticResult {
  const counted = cells.filter((c) => !failed.includes(c.lr));
  const strata = counted.map((c) => c.stratum);
  const { qv, qkv, effect } = effectOf(strata, kind);
  const test = stratifiedMannWhitney(strata);
  const by_lr = cells.map(({ lr, stratum }): CellResult => {
    const e = effectOf([stratum], kind);
    const cell: CellResult = {
      lr,
      qkv: e.qkv,
      qv: e.qv,
      n_qkv: stratum.y.length,
      n_qv: stratum.x.length,
      effect: e.effect,
      ci95: bootstrapCi([stratum], kind, `${label}/lr=${lr}`),
      p: mannWhitneyGreater(stratum.x, stratum.y).p,
      p_opposite: mannWhitneyGreater(stratum.y, stratum.x).p,
      failed: failed.includes(lr),
    };
    if (needsPositive) {
      cell.own = { qkv: ownTest([stratum.y]), qv: ownTest([stratum.x]) };
      cell.p = both(cell.p, cell.own.qv.p) ?? NaN;
      cell.p_opposite = either(cell.p_opposite, cell.own.qv.p_opposite) ?? NaN;
    }
    return cell;
  });
  const has = strata.length > 0;
  const result: StatisticResult = {
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
  if (needsPositive) {
    result.own = { qkv: ownTest(strata.map((s) => s.y)), qv: ownTest(strata.map((s) => s.x)) };
    result.p_difference = result.p;
    result.p_difference_opposite = result.p_opposite;
    result.p = both(result.p, result.own.qv.p);
    result.p_opposite = either(result.p_opposite, result.own.qv.p_opposite);
  }
  return result;
}

/** Final scaffold share per LR and variant, over completed runs. */
function scaffoldRows(runs: LoadedRun[], failed: number[], variant: string): ScaffoldRow[] {
  return lrsOf(runs).map((lr) => {
    const values = (variant: string) =>
      variantRuns(runs, variant, lr)
        .filter((r) => r.summary.status === 'completed')
        .map((r) => finite(lastRow(r)?.scaffold_share))
        .filter((v): v is number => v !== null);
    const [qkv, qv] = [values(BASELINE), values(variant)];
    return {
      lr,
      qkv: qkv.length ? meanOf(qkv) : null,
      qv: qv.length ? meanOf(qv) : null,
      n_qkv: qkv.length,
      n_qv: qv.length,
      failed: failed.includes(lr),
    };
  });
}

function scaleClaim(runs: LoadedRun[], label: string, compared: string): Omit<ClaimResult, 'id' | 'claim' | 'section'> {
  const scales = [...new Set(runs.map((r) => r.config.model.inputScale ?? 1))].sort((p, q) => p - q);
  const lrs = [...new Set(runs.map((r) => r.config.train.lr))].sort((p, q) => p - q);
  const notes: string[] = [];
  const cells: { lr: number; stratum: Stratum }[] = [];
  if (scales.length >= 2) {
    for (const lr of lrs) {
      const perSeed = (variant: string) => {
        const mine = runs.filter((r) => variantOf(r) === variant && r.config.train.lr === lr);
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
      const stratum = { x: perSeed(compared), y: perSeed(BASELINE) };
      if (stratum.x.length && stratum.y.length) cells.push({ lr, stratum });
    }
  }
  const result = fromStrata(cells, SCALE_STATISTIC, 'ratio', label);
  const loss = (variant: string, s: number) => {
    const xs = runs.filter((r) => variantOf(r) === variant && (r.config.model.inputScale ?? 1) === s).map(finalLoss);
    return { mean: meanOf(xs), std: stdOf(xs), n: xs.length };
  };
  const by_scale = scales.map((scale) => ({ scale, qkv: loss(BASELINE, scale), qv: loss(compared, scale) }));
  if (!cells.length) notes.push('not measured: these runs hold no input-scale sweep with both variants at ≥ 2 scales (`qkv-lab claims` runs one)');
  if (lrs.some((lr) => lr !== SCALE_LR)) notes.push(`the scale sweep ran at lr ${lrs.join(', ')}; the definitions fix lr ${SCALE_LR}`);
  return { ...result, ...pending(result), secondary: null, by_scale, ...(notes.length ? { note: notes.join('; ') } : {}) };
}

function detectableSentence(results: ClaimResult[]): string {
  const parts: string[] = [];
  const lrClaim = results.find((r) => r.id !== 'scale-sensitive' && r.by_lr.some((c) => !c.failed));
  if (lrClaim)
    parts.push(
      describeSizes(
        lrClaim.by_lr.filter((c) => !c.failed),
        'learning rate',
      ),
    );
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
    : `with ${seedText} at each of ${cells.length} ${what}${cells.length === 1 ? '' : 's'}, the smallest attainable ` +
      `p at one ${what} is ${minOne.toPrecision(2)}, and `;
  const tail =
    needed === null
      ? `no ordering of the ${pairs} (QV seed, QKV seed) pairs can reach p < ${ALPHA}`
      : `the test reaches p < ${ALPHA} only when at least ${needed} of the ${pairs} (QV seed, QKV seed) pairs ` +
        `(${Math.round((100 * needed) / pairs)}%) are ordered the claimed way`;
  return head + tail;
}
