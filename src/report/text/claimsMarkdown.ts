/** The claims section of the report (blocks of the report's structure), its verdict.json form and its console lines. */
import { chart, markdown, type Block } from './document.js';
import type { SeriesClaims, ClaimResult, StatisticResult, CellResult, OwnTest } from '../../analysis/claims.js';
import { ALPHA, SCALE_LR, FAILED_ACCURACY } from '../../analysis/protocol.js';
import { formatNumber as num, formatP as pval } from '../../format.js';

/** The files the section links; data/references.ts copies them beside the report. */
const SEED_FILE = 'seed-document.md';
const METRICS_FILE = 'METRICS.md';

function effectText(s: { effect: number; ci95: [number, number] | null; effect_kind: string }): string {
  if (!Number.isFinite(s.effect)) return 'n/a';
  const fmt = (x: number) => (s.effect_kind === 'ratio' ? `×${num(x)}` : `${x >= 0 ? '+' : ''}${num(x)}`);
  return `${fmt(s.effect)} [${s.ci95 ? `${fmt(s.ci95[0])}, ${fmt(s.ci95[1])}` : 'n/a'}]`;
}

const lrList = (lrs: number[]) => lrs.map((lr) => `lr ${lr}`).join(', ');

/** The compared variant as the tables name it: QV for the seed's keyless attention, else the variant's own name. */
const shown = (variant: string) => (variant === 'qv' ? 'QV' : variant);

/** The verdict cell in words, naming where each direction holds for a mixed verdict. */
export function verdictText(c: ClaimResult, V = 'QV'): string {
  if (c.verdict === 'mixed') return `**mixed**: ${V} above QKV at ${lrList(c.claimed_lrs)}, below at ${lrList(c.opposite_lrs)}`;
  if (c.verdict === 'inconsistent') return '**inconsistent**: the rank test is significant, but the mean effect points the other way';
  if (c.verdict === 'did not learn') return `**did not learn**: training failed at every learning rate, so there is no attention to judge`;
  return `**${c.verdict}**`;
}

function mainTable(claims: ClaimResult[], V: string): string[] {
  const out = [
    `| claim (the seed's words) | statistic | QKV | ${V} | effect ${V} vs QKV [95% CI] | p | p (Holm) | verdict | where |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of claims) {
    out.push(
      `| \`${c.id}\`: “${c.claim}” | ${c.statistic} | ${num(c.qkv)} | ${num(c.qv)} | ${effectText(c)} | ${pval(c.p)} ` +
        `| ${pval(c.p_holm)} | ${verdictText(c, V)} | ${c.where || ''} |`,
    );
    if (c.own)
      out.push(
        `| ↳ part of the claim | ${V}'s own ρ above 0 (stratified exact signed-rank) | | ${num(c.own.qv.mean)} | | ${pval(c.own.qv.p)} | | | |`,
        `| ↳ part of the claim | ${V}'s ρ above QKV's (stratified exact Mann–Whitney) | | | | ${pval(c.p_difference)} | | | |`,
        `| ↳ beside it | QKV's own ρ above 0 (the same test) | ${num(c.own.qkv.mean)} | | | ${pval(c.own.qkv.p)} | | | |`,
      );
    if (c.secondary)
      out.push(
        `| ↳ beside it (not in the verdict) | ${c.secondary.statistic} | ${num(c.secondary.qkv)} | ` +
          `${num(c.secondary.qv)} | ${effectText(c.secondary)} | ${pval(c.secondary.p)} | | | |`,
      );
  }
  return out;
}

const ownText = (t: OwnTest | undefined) => (t ? `${num(t.mean)} (p ${pval(t.p)})` : '');

function perLrRows(id: string, s: StatisticResult, V: string): string[] {
  return s.by_lr.map(
    (c: CellResult) =>
      `| \`${id}\` | ${s.statistic} | ${c.lr}${c.failed ? ' (training failed: left out)' : ''} | ${num(c.qkv)} ` +
      `(${c.n_qkv}) | ${num(c.qv)} (${c.n_qv}) | ${effectText({ ...c, effect_kind: s.effect_kind })} | ${pval(c.p)} | ` +
      `${pval(c.p_opposite)} | ${c.own ? `QKV ${ownText(c.own.qkv)}; ${V} ${ownText(c.own.qv)}` : ''} |`,
  );
}

/** Which learning rates the failed-stratum rule left out, and the median accuracies it read. */
function failedText(s: SeriesClaims): string[] {
  if (!s.accuracy.length) return [];
  const acc = s.accuracy.map((a) => `lr ${a.lr}: QKV ${num(a.qkv, 2)}, ${shown(s.variant)} ${num(a.qv, 2)}`).join('; ');
  const head = s.failed_lrs.length
    ? `Training failed at ${lrList(s.failed_lrs)} (a variant's median final eval accuracy below ${FAILED_ACCURACY}): ` +
      `those rows stay in the per-LR table, marked, and are left out of the attention claims' tests and effects.`
    : `No learning rate failed (every variant's median final eval accuracy is at least ${FAILED_ACCURACY}), so every learning rate counts.`;
  return [`${head} Median final eval accuracy: ${acc}.`, ''];
}

/** The query's attention to scaffold positions, beside the claims (never in a verdict). */
function scaffoldTable(s: SeriesClaims): string[] {
  if (!s.scaffold.some((r) => r.qkv !== null || r.qv !== null)) return [];
  const out = [
    "Self/scaffold attention share: the query's final attention on positions that hold no task content (the query " +
      "slot itself, output slots), mean over seeds. Not a claim: it is what the claims' candidates leave out.",
    '',
    `| lr | QKV (runs) | ${shown(s.variant)} (runs) |`,
    '|---|---|---|',
  ];
  for (const r of s.scaffold)
    out.push(
      `| ${r.lr}${r.failed ? ' (training failed)' : ''} | ${r.qkv === null ? 'n/a' : num(r.qkv)} (${r.n_qkv}) | ` +
        `${r.qv === null ? 'n/a' : num(r.qv)} (${r.n_qv}) |`,
    );
  return [...out, ''];
}

function seriesBlock(s: SeriesClaims, heading: string): string[] {
  const V = shown(s.variant);
  const out: string[] = [heading, ''];
  out.push(...mainTable(s.claims, V), '');
  out.push(...failedText(s));
  for (const c of s.claims) if (c.note) out.push(`- \`${c.id}\`: ${c.note}.`);
  if (s.claims.some((c) => c.note)) out.push('');
  if (s.detectable) out.push(s.detectable, '');
  out.push(...scaffoldTable(s));
  out.push('<details><summary>Every statistic at every learning rate</summary>', '');
  out.push(
    `| claim | statistic | lr | QKV mean (seeds) | ${V} mean (seeds) | effect [95% CI] | p (${V} above) | p (${V} below) | own value against 0 |`,
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const c of s.claims) {
    out.push(...perLrRows(c.id, c, V));
    if (c.secondary) out.push(...perLrRows(c.id, c.secondary, V));
  }
  const scale = s.claims.find((c) => c.by_scale?.length);
  if (scale?.by_scale) {
    out.push(
      '',
      `Final eval loss per input scale (the scale sweep; the definitions fix lr ${SCALE_LR}):`,
      '',
      `| input scale | QKV (mean ± std, runs) | ${V} (mean ± std, runs) |`,
      '|---|---|---|',
    );
    for (const b of scale.by_scale)
      out.push(`| ${b.scale} | ${num(b.qkv.mean)} ± ${num(b.qkv.std, 2)} (${b.qkv.n}) | ${num(b.qv.mean)} ± ${num(b.qv.std, 2)} (${b.qv.n}) |`);
  }
  out.push('', '</details>', '');
  return out;
}

/** A claims × series grid (e.g. × width): one verdict per cell. */
function grid(series: SeriesClaims[]): string[] {
  const out = [`| claim | ${series.map((s) => s.label).join(' | ')} |`, `|---|${series.map(() => '---|').join('')}`];
  for (const [i, c] of series[0].claims.entries()) out.push(`| \`${c.id}\` | ${series.map((s) => gridCell(s.claims[i])).join(' | ')} |`);
  return out;
}

/** One cell: the verdict, its effect, and the Holm p of the direction it rests on (the opposite one for contradicted). */
function gridCell(c: ClaimResult): string {
  if (c.verdict === 'not measured' || c.verdict === 'did not learn') return c.verdict;
  const p = c.verdict === 'contradicted' ? `p_Holm (opposite) ${pval(c.p_holm_opposite)}` : `p_Holm ${pval(c.p_holm)}`;
  return `${c.verdict} (${c.effect_kind === 'ratio' ? '×' : 'Δ '}${num(c.effect)}, ${p})`;
}

/** The section that opens the report; the claims grid chart, when there is one, sits under the grid table. */
export function claimsSection(series: SeriesClaims[], charts: { id: string; title: string; pngFile: string }[] = []): Block[] {
  if (!series.length) return [];
  const out: string[] = ["## The seed's claims, each on its own statistic", ''];
  out.push(
    `The seed document ([${SEED_FILE}](${SEED_FILE}), sections 5 and 6) makes four claims against keyless Q–V ` +
      `attention. Each is tested on a statistic fixed in [${METRICS_FILE}](${METRICS_FILE}); every claim says QV is ` +
      `above QKV. The attention statistics count only positions that hold task content (memory slots, input tokens): ` +
      `the query's attention to itself is reported on its own, below the table (definition changed on 2026-12-02; ` +
      `METRICS.md keeps the old one).`,
    'Per learning rate, per seed, never pooled over learning rates: p is the stratified exact Mann–Whitney test ' +
      'over the learning rates that count (one-sided), p (Holm) corrects it across the claims, and the effect is the ' +
      'QV/QKV ratio (×) or the QV − QKV difference of the learning-rate-averaged means, with a seeded 95% bootstrap ' +
      'interval over seeds. Learning rates where training failed are shown and left out of the attention claims. ' +
      "Value-norm dominance also needs QV's own ρ above 0. Any further variant (qx, qq, QK-norm) is put to the same " +
      'four tests against QKV, each variant its own Holm family.',
    `A verdict is **supported** or **contradicted** only at Holm-adjusted p < ${ALPHA} *and* with the point effect ` +
      'pointing the same way; a significant test whose effect points the other way is **inconsistent**. **mixed** ' +
      'means the direction is significant both ways at different learning rates, and **not shown** that the data do ' +
      'not decide it; **did not learn**, that training failed at every learning rate. "Holds at" and "reversed at" ' +
      "name a learning rate only where its per-rate test survives Holm across the claim's per-rate tests in both " +
      'directions (since 2026-12-04). The headline stability verdict stays LR sensitivity.',
    '',
  );
  if (series.length === 1) return [markdown(...out, ...seriesBlock(series[0], '### Claims'))];
  out.push('### Verdicts by series', '', ...grid(series), '');
  return [markdown(...out), ...charts.map(chart), markdown(...series.flatMap((s) => seriesBlock(s, `### Series ${s.label}`)))];
}

/** verdict.json's `claims`: one entry per claim (and per series, which each entry names). */
export function claimsJson(series: SeriesClaims[]) {
  return series.flatMap((s) =>
    s.claims.map((c) => ({
      series: s.label,
      id: c.id,
      claim: c.claim,
      statistic: c.statistic,
      variant: s.variant,
      direction: `${s.variant} > qkv`,
      effect_kind: c.effect_kind,
      qkv: c.qkv,
      qv: c.qv,
      effect: c.effect,
      ci95: c.ci95,
      p: c.p,
      p_holm: c.p_holm,
      p_opposite: c.p_opposite,
      p_holm_opposite: c.p_holm_opposite,
      verdict: c.verdict,
      where: c.where,
      claimed_lrs: c.claimed_lrs,
      opposite_lrs: c.opposite_lrs,
      failed_lrs: c.failed_lrs,
      ...(c.own ? { own: c.own, p_difference: c.p_difference, p_difference_opposite: c.p_difference_opposite } : {}),
      by_lr: c.by_lr,
      secondary: c.secondary,
      ...(c.by_scale ? { by_scale: c.by_scale } : {}),
      ...(c.note ? { note: c.note } : {}),
    })),
  );
}

/** verdict.json's `claims_strata`: per series, the failed-stratum rule's input and output, and the scaffold share. */
export function claimsStrataJson(series: SeriesClaims[]) {
  return series.map((s) => ({ series: s.label, median_final_acc: s.accuracy, failed_lrs: s.failed_lrs, scaffold_share: s.scaffold }));
}

/** One console line per claim. */
export function claimsSummaryLines(series: SeriesClaims[]): string[] {
  return series.flatMap((s) => [
    `claims${s.label ? ` (${s.label})` : ''}:`,
    ...s.claims.map(
      (c) =>
        `  ${c.id.padEnd(22)}${c.verdict.padEnd(14)}effect ${effectText(c)}  p ${pval(c.p)}  p_holm ${pval(c.p_holm)}${c.where ? `  (${c.where})` : ''}`,
    ),
    ...(s.failed_lrs.length ? [`  left out of the attention claims (training failed): ${lrList(s.failed_lrs)}`] : []),
  ]);
}
