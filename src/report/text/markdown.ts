/** The report's words and tables, as blocks of the report's structure (document.ts): what a reader needs to judge the verdict. */
import type { Analysis, SeriesAnalysis, Comparison, VariantAnalysis } from '../../analysis/analyse.js';
import { ALPHA } from '../../analysis/analyse.js';
import { FAILED_ACCURACY, LEARNED_ACCURACY } from '../../analysis/protocol.js';
import { formatNumber as num, formatP as pval } from '../../format.js';
import { besideVerdict, leftOutSection, type LeftOut } from './leftOut.js';
import { REFERENCE_ANCHOR } from '../data/references.js';
import { chart, markdown, verdicts, type Block } from './document.js';
import { seedCountWarning } from '../../analysis/power.js';
import { meanOf } from '../../stats/describe.js';

const pm = (m: number, s: number) => `${num(m)} ± ${num(s, 2)}`;

export const VERDICT_HOLDS = 'keyless is less stable';
export const VERDICT_NOT_SHOWN = 'not shown at this setting';

const upper = (variant: string) => variant.toUpperCase();

/** "QV seeds 1, 2, 5 never learned at any rate": the seeds LR sensitivity set aside, per variant; '' when none. */
export function setAsideText(s: SeriesAnalysis): string {
  return ['qv', 'qkv']
    .map((name) => s.variants.find((v) => v.variant === name))
    .filter((v): v is VariantAnalysis => !!v && v.neverLearned.length > 0)
    .map((v) => `${upper(v.variant)}: ${v.neverLearned.length} of ${v.window.length} seeds (${v.neverLearned.join(', ')}) never learned at any rate`)
    .join('; ');
}

/** The LR window in one sentence: rates learned at per seed, QV against QKV, with the exact test's p and its reading. */
export function windowSentence(s: SeriesAnalysis): string {
  const w = s.window;
  if (!w) return '';
  const reading = { narrower: "QV's window is narrower", wider: "QV's window is wider", 'not shown': 'no difference shown' }[w.reading];
  const holm = w.p_holm === undefined ? '' : `; Holm across the ${w.family} settings ${pval(w.p_holm)} and ${pval(w.p_holm_opposite!)}`;
  return (
    `LR window (rates of ${w.lrs} at which a seed reached ${LEARNED_ACCURACY * 100}% eval accuracy, every seed counted): ` +
    `QV ${num(w.meanQv)} vs QKV ${num(w.meanQkv)} per seed, one-sided exact Mann–Whitney p = ${pval(w.p)} (narrower), ` +
    `${pval(w.p_opposite)} (wider)${holm}: ${reading}.`
  );
}

/**
 * One sentence per series: the stability verdict with its ratio, p, sample sizes and the seeds set aside, then the
 * LR window. A variant none of whose seeds learned anywhere gets no verdict: the sentence says it did not learn.
 */
export function verdictSentence(s: SeriesAnalysis): string {
  const where = s.label ? ` (${s.label})` : '';
  const window = windowSentence(s);
  const after = window ? ` ${window}` : '';
  if (s.didNotLearn.length) {
    const names = s.didNotLearn.map(upper).join(' and ');
    return (
      `**Verdict${where}: no verdict, ${names} did not learn** — no seed of ${names} reached ${LEARNED_ACCURACY * 100}% eval ` +
      `accuracy at any swept learning rate, so LR sensitivity would measure no training.${after}`
    );
  }
  if (!s.verdict) return `**No verdict${where}**: the comparison needs both variants at ≥ 2 learning rates.`;
  const v = s.verdict;
  const aside = setAsideText(s);
  const stats =
    `QV/QKV mean LR sensitivity ratio ${num(v.ratio)}, one-sided exact Mann–Whitney U = ${v.u}, p = ${pval(v.p)}${holmText(v)} ` +
    `(${v.qv.length} vs ${v.qkv.length} seeds${aside ? `; set aside, ${aside}` : ''})`;
  const floor = seedCountWarning(v.qv.length, v.qkv.length);
  const p = v.p_holm ?? v.p;
  const why =
    p < ALPHA
      ? `the test is significant but the ratio of means is ≤ 1, so it cannot say "less stable"`
      : `${v.p_holm === undefined ? 'p' : 'p (Holm)'} ≥ ${ALPHA}`;
  return v.holds
    ? `**Verdict${where}: ${VERDICT_HOLDS}** — ${stats}.${after}`
    : `**Verdict${where}: ${VERDICT_NOT_SHOWN}** — ${stats}; ${why}.${floor ? ` Note: ${floor}.` : ''}${after}`;
}

function comparisonLine(c: Comparison, what: string): string {
  return (
    `${what}: QV/QKV ratio ${num(c.ratio)}, one-sided exact Mann–Whitney U p = ${pval(c.p)}${holmText(c)} (${c.qv.length} vs ` +
    `${c.qkv.length})${c.holds ? '' : ' — not significant'}.`
  );
}

/** ", Holm across the 4 settings 0.011" where a series' call is one of several (METRICS.md, changed 2026-12-06). */
const holmText = (c: Comparison): string => (c.p_holm === undefined ? '' : `, Holm across the ${c.family} settings ${pval(c.p_holm)}`);

/** Steps to 95% with how many runs got there: 1810 from 2 of 5 runs must not read like 1720 from 5 of 5. */
const reaching = (r: { stepsToAcc: number | null; reached: number; runs: number }) =>
  r.stepsToAcc === null ? 'never' : `${num(r.stepsToAcc, 4)} (${r.reached}/${r.runs} runs)`;

function seriesSection(s: SeriesAnalysis, repeatVerdict: boolean): Block[] {
  const heading = markdown(`## ${s.label ? `Series ${s.label}` : 'Results'}`, '');
  const out: string[] = [];
  out.push('### Stability: LR sensitivity (Wortsman et al. 2023)', '');
  out.push(
    'Per seed: mean over the swept learning rates of min(ℓ(η), ℓ₀) − min_η ℓ(η), with ℓ the final eval loss and ℓ₀ ' +
      'the loss at initialisation (a diverged run counts as ℓ₀). Higher is less stable.',
    '',
  );
  out.push(
    `A seed that reached ${LEARNED_ACCURACY * 100}% eval accuracy at no swept rate is named and set aside: with no trained rate ` +
      'it has no best loss to lose from, and its flat loss would read as stable. The LR window counts every seed: the ' +
      'number of swept rates at which it reached that accuracy.',
    '',
  );
  out.push(
    '| variant | LR sensitivity (mean ± std) | per seed | never learned (set aside) | LR window per seed | diverged runs |',
    '|---|---|---|---|---|---|',
  );
  for (const v of s.variants) {
    const perSeed = v.sensitivity.map((x) => `s${x.seed}: ${num(x.value)}`).join(', ') || 'n/a';
    const never = v.neverLearned.length ? `${v.neverLearned.length} of ${v.window.length}: s${v.neverLearned.join(', s')}` : 'none';
    const windows = v.window.map((w) => `s${w.seed}: ${w.rates}`).join(', ');
    const window = v.window.length ? `mean ${num(meanOf(v.window.map((w) => w.rates)))} of ${v.lrs.length}: ${windows}` : 'n/a';
    out.push(`| ${v.variant} | ${pm(v.sensMean, v.sensStd)} | ${perSeed} | ${never} | ${window} | ${v.diverged} |`);
  }
  out.push(...variantTable(s));
  out.push('', '### Per learning rate', '');
  out.push(
    '| variant | lr | runs | final eval loss (mean ± std over seeds) | final eval acc | spikes / run | roughness | steps to 95% (runs reaching) | diverged |',
  );
  out.push('|---|---|---|---|---|---|---|---|---|');
  for (const v of s.variants) {
    for (const r of v.perLr) {
      out.push(
        `| ${v.variant} | ${r.lr} | ${r.runs} | ${pm(r.finalLoss.mean, r.finalLoss.std)} | ` +
          `${pm(r.finalAcc.mean, r.finalAcc.std)} | ${num(r.spikes)} | ${num(r.roughness)} | ` +
          `${r.stepsToAcc === null ? 'never' : `${num(r.stepsToAcc, 4)} (${r.reached}/${r.runs})`} | ${r.diverged} |`,
      );
    }
  }
  if (s.entropy) {
    out.push('', '### Matching is noisier: attention entropy (a separate finding)', '');
    out.push(
      comparisonLine(s.entropy, `Final normalised attention entropy at the smallest learning rate (${s.entropy.lr}), QV above QKV`) +
        ' ' +
        'This measures how sharply attention picks the queried slot, not training stability.',
    );
  }
  const qkv = s.variants.find((v) => v.variant === 'qkv');
  const qv = s.variants.find((v) => v.variant === 'qv');
  if (qkv && qv) {
    out.push('', '### Speed (not stability)', '');
    out.push(
      'Steps to 95% eval accuracy, mean over the runs that reached it, per learning rate: ' +
        qkv.perLr
          .map((r) => {
            const paired = qv.perLr.find((q) => q.lr === r.lr); // paired by learning rate: the two lists need not match
            return `lr ${r.lr}: QKV ${reaching(r)} vs QV ${paired ? reaching(paired) : 'n/a'}`;
          })
          .join('; ') +
        '. Final losses pooled over learning rates mix this speed difference with stability, so the verdict uses per-seed LR sensitivity only.',
    );
  }
  out.push('');
  return [heading, ...(repeatVerdict ? [verdicts([verdictSentence(s)], false)] : []), markdown(...out)];
}

/**
 * Every variant against qkv on per-seed LR sensitivity, Holm across the variants: shown when there is more to
 * compare than the headline qv (the headline verdict above stays qv against qkv).
 */
function variantTable(s: SeriesAnalysis): string[] {
  if (!s.againstBaseline.some((c) => c.variant !== 'qv')) return [];
  const out = [
    '',
    '### Every variant against QKV',
    '',
    "Each variant's per-seed LR sensitivity against QKV's: the ratio of means and the one-sided exact Mann–Whitney " +
      'test in each direction (less stable, more stable), each Holm-adjusted across the variants of this series.',
    '',
    '| variant | what it isolates | LR sensitivity ratio vs QKV | U | p (less stable) | p (Holm) | p (more stable) | p (Holm) | reading |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of s.againstBaseline) {
    const reading = {
      'less stable': '**less stable than QKV**',
      'more stable': '**more stable than QKV**',
      inconsistent: `**inconsistent**: significant, ratio ${c.p_holm < ALPHA ? '≤' : '≥'} 1`,
      'not shown': 'not shown',
      'did not learn':
        `**did not learn**: no seed reached ${LEARNED_ACCURACY * 100}% at any rate, or the median final accuracy is ` +
        `below ${FAILED_ACCURACY} at every rate, so LR sensitivity measures no training`,
    }[c.reading];
    out.push(
      `| ${c.variant} | ${c.isolates} | ${num(c.ratio)} | ${c.u} | ${pval(c.p)} | ${pval(c.p_holm)} | ` +
        `${pval(c.p_opposite)} | ${pval(c.p_holm_opposite)} | ${reading} |`,
    );
  }
  return out;
}

/** The report's one-sentence pointers to what it cites, in Markdown with links relative to the report (copied beside it). */
export const CITATIONS =
  'Definitions of every figure: [METRICS.md](METRICS.md). ' +
  'The seed document, [seed-document.md](seed-document.md), is the short explainer of Q, K and V whose claim ' +
  'that attention needs a separate Key this kit tests. ' +
  `The independent reference is an earlier PyTorch implementation of the lookup task, whose findings are in [METRICS.md](METRICS.md#${REFERENCE_ANCHOR}). ` +
  'The data behind the tables and charts: [runs.csv](runs.csv) (one row per run) and [metrics_long.csv](metrics_long.csv) (every logged row of every run).';

/** Where a report written with --no-charts would have its charts. */
export const NO_CHARTS =
  'Not drawn: this report was written without its charts (`--no-charts`). The same command without it draws them, and reuses the finished runs.';

/** The whole report: title, verdicts, the claims section, warnings, settings, each series, the charts and what was left out. */
export function reportDocument(
  title: string,
  a: Analysis,
  charts: { id: string; title: string; pngFile: string }[],
  leftOut: LeftOut = { skipped: [], notStarted: [] },
  claims: Block[] = [],
  { chartsDrawn = true }: { chartsDrawn?: boolean } = {},
): Block[] {
  const intro = markdown(
    `# ${title}`,
    '',
    'Does attention need a separate Key? Standard Q–K–V attention (scores = Q·Kᵀ/√d) against keyless Q–V attention ' +
      '(scores = Q·Vᵀ/√d), trained across learning rates and seeds. ' +
      CITATIONS,
    '',
  );
  const out: string[] = [];
  out.push(...besideVerdict(leftOut));
  const afterClaims: string[] = [];
  if (a.warnings.length) afterClaims.push('**Warnings**', '', ...a.warnings.map((w) => `- ${w}`), '');
  if (Object.keys(a.differing).length) {
    afterClaims.push(
      '**Runs differ in** (besides seed, learning rate and attention): ' +
        Object.entries(a.differing)
          .map(([k, v]) => `\`${k}\` ∈ {${v.join(', ')}}`)
          .join('; '),
      '',
    );
  }
  afterClaims.push(
    '<details><summary>Settings shared by every run</summary>',
    '',
    '| key | value |',
    '|---|---|',
    ...Object.entries(a.common).map(([k, v]) => `| \`${k}\` | ${v} |`),
    '',
    '</details>',
    '',
  );
  return [
    intro,
    verdicts(
      a.series.map((s) => verdictSentence(s)),
      true,
    ),
    markdown(...out),
    ...claims, // the seed's claims (claimsMarkdown.ts) sit right under the headline verdict
    markdown(...afterClaims),
    ...a.series.flatMap((s) => seriesSection(s, a.series.length > 1)), // one series: the verdict above says it
    ...(charts.length ? [markdown('## Charts', ''), ...charts.map(chart)] : []),
    ...(chartsDrawn ? [] : [markdown('## Charts', '', NO_CHARTS, '')]),
    markdown(...leftOutSection(leftOut)),
  ];
}
