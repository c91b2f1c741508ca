import { join, resolve } from 'node:path';
import { collectRuns, type LoadedRun, type SkippedRun } from '../report/data/collect.js';
import { analyse, type Analysis } from '../analysis/analyse.js';
import { analyseClaims, type SeriesClaims } from '../analysis/claims.js';
import { VERDICT_HOLDS, VERDICT_NOT_SHOWN } from '../report/text/markdown.js';
import { summaryLines } from '../report/text/terminal.js';
import { claimsJson, claimsStrataJson, claimsSummaryLines } from '../report/text/claimsMarkdown.js';
import { writeJsonAtomic } from '../files/atomic.js';
import { UserError } from '../errors.js';
import { variantLabelClash } from '../model/schema.js';
import { REPORT_STALE_MS, holderText, withReportLock } from '../runs/lock.js';
import type { ReportOptions } from '../report/write.js';

export interface CompareResult {
  analysis: Analysis;
  holds: boolean;
  outDir: string;
}

/** What verdict.json holds: no paths, times or machine facts, so shards and reruns compare byte for byte. */
export function verdictJson(a: Analysis, runCount: number) {
  const series = a.series.map((s) => ({
    label: s.label,
    settings: s.settings,
    holds: (s.verdict?.holds ?? false) && !s.didNotLearn.length,
    did_not_learn: s.didNotLearn,
    ratio: s.verdict?.ratio ?? null,
    p: s.verdict?.p ?? null,
    ...(s.verdict?.p_holm === undefined ? {} : { p_holm: s.verdict.p_holm }), // with two or more series only: verdict.json of one series is as before
    u: s.verdict?.u ?? null,
    per_seed: Object.fromEntries(s.variants.map((v) => [v.variant, v.sensitivity])),
    never_learned: Object.fromEntries(s.variants.map((v) => [v.variant, v.neverLearned])),
    lr_window: s.window
      ? {
          qv: s.window.qv,
          qkv: s.window.qkv,
          lrs: s.window.lrs,
          u: s.window.u,
          p: s.window.p,
          p_opposite: s.window.p_opposite,
          ...(s.window.p_holm === undefined ? {} : { p_holm: s.window.p_holm, p_holm_opposite: s.window.p_holm_opposite }),
          reading: s.window.reading,
        }
      : null,
    entropy: s.entropy
      ? { lr: s.entropy.lr, ratio: s.entropy.ratio, p: s.entropy.p, ...(s.entropy.p_holm === undefined ? {} : { p_holm: s.entropy.p_holm }) }
      : null,
    ...(s.againstBaseline.some((c) => c.variant !== 'qv')
      ? {
          against_qkv: s.againstBaseline.map((c) => ({
            variant: c.variant,
            ratio: c.ratio,
            u: c.u,
            p: c.p,
            p_holm: c.p_holm,
            p_opposite: c.p_opposite,
            p_holm_opposite: c.p_holm_opposite,
          })),
        }
      : {}),
  }));
  const holds = series.length > 0 && series.every((s) => s.holds);
  const single = series.length === 1 ? series[0] : null;
  return {
    holds,
    verdict: holds ? VERDICT_HOLDS : VERDICT_NOT_SHOWN,
    ratio: single?.ratio ?? null,
    p: single?.p ?? null,
    per_seed: single?.per_seed ?? null,
    series,
    settings: a.common,
    differing: a.differing,
    runs: runCount,
  };
}

/**
 * A comparison as data: the runs read back, their analysis, the claims, and the verdict as verdict.json holds it.
 * What the library's compare() returns; writing the report is a separate call (writeComparison), so a script gets
 * the numbers without loading the chart renderer.
 */
export interface Comparison {
  runs: LoadedRun[];
  analysis: Analysis;
  claims: SeriesClaims[];
  verdict: ReturnType<typeof verdictJson> & Record<string, unknown>;
  leftOut: { skipped: SkippedRun[]; notStarted: string[]; inProgress: string[]; unfinished: string[] };
}

/** Reads and analyses the runs under `paths`; `strict` refuses damaged runs instead of leaving them out; `scalePaths`: the claims' input-scale sweep. */
export function analyseRuns(paths: string[], { strict = false, scalePaths = [] as string[] } = {}): Comparison {
  const { runs, unfinished, skipped, notStarted, inProgress } = collectRuns(paths);
  if (strict && skipped.length)
    throw new UserError(
      `--strict: ${skipped.length} run(s) damaged; ${skipped[0].dir}: ${skipped[0].reason}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`,
    );
  if (runs.length === 0)
    throw new UserError(
      `no finished runs to compare under ${paths.join(', ')} (${skipped.length} damaged, ${unfinished.length} unfinished, ${inProgress.length} in progress)`,
    );
  const scaleRuns = scalePaths.length ? collectRuns(scalePaths).runs : [];
  const clash = variantLabelClash([...runs, ...scaleRuns].map((r) => r.config));
  if (clash) throw new UserError(clash);
  const analysis = analyse(runs);
  if (unfinished.length) analysis.warnings.push(`${unfinished.length} unfinished run(s) left out: ${unfinished.join(', ')}`);
  if (inProgress.length)
    analysis.warnings.push(`${inProgress.length} run(s) still in progress in another process, left out until they finish: ${inProgress.join(', ')}`);
  const claims = analyseClaims(analysis, runs, scaleRuns);
  const verdict = {
    ...verdictJson(analysis, runs.length),
    runs_skipped: skipped.length,
    runs_not_started: notStarted.length,
    runs_in_progress: inProgress.length,
    claims: claimsJson(claims),
    claims_strata: claimsStrataJson(claims),
  };
  return { runs, analysis, claims, verdict, leftOut: { skipped, notStarted, inProgress, unfinished } };
}

/** Writes the report (report.md, report.html, charts unless `charts: false`, exports) and verdict.json of a comparison into `outDir`. */
export async function writeComparison(c: Comparison, outDir: string, title = 'qkv-lab report', options: ReportOptions = {}): Promise<void> {
  const { writeReport } = await import('../report/write.js'); // loads only to write a report (and the renderer only to draw)
  const { skipped, notStarted, inProgress } = c.leftOut;
  await writeReport(outDir, title, c.runs, c.analysis, c.claims, { skipped, notStarted, inProgress }, options);
  writeJsonAtomic(join(outDir, 'verdict.json'), c.verdict);
}

/**
 * `strict` refuses damaged runs instead of skipping them; `scalePaths`: the claims' input-scale sweep, when there is one
 * (the `claims` command); `charts: false` writes the report without drawing its charts (--no-charts).
 */
export async function compareInto(
  paths: string[],
  outDir: string,
  title = 'qkv-lab report',
  { strict = false, scalePaths = [] as string[], charts = true } = {},
): Promise<CompareResult> {
  const comparison = await withReportLock(
    outDir,
    async () => {
      const comparison = analyseRuns(paths, { strict, scalePaths });
      const { skipped, unfinished, notStarted } = comparison.leftOut;
      for (const s of skipped) process.stderr.write(`compare: warning: skipped ${s.dir}: ${s.reason}\n`);
      for (const u of unfinished) process.stderr.write(`compare: warning: left out unfinished run ${u}\n`);
      if (notStarted.length) process.stderr.write(`compare: warning: ${notStarted.length} planned run(s) not started: ${notStarted.join(', ')}\n`);
      await writeComparison(comparison, outDir, title, { charts });
      return comparison;
    },
    (info) =>
      process.stderr.write(
        `compare: waiting for ${holderText(info.owner)}, which is writing a report into ${resolve(outDir)} ` +
          `(its lock is taken over once it has not been refreshed for ${REPORT_STALE_MS / 60_000} minutes)\n`,
      ),
  );
  const { analysis, claims, verdict } = comparison;
  const { skipped, notStarted, inProgress } = comparison.leftOut;
  printSummary(analysis);
  if (skipped.length || notStarted.length || inProgress.length)
    process.stdout.write(
      `(the verdict is computed without ${skipped.length} skipped, ${notStarted.length} not-started and ` +
        `${inProgress.length} in-progress run(s); see the warnings)\n`,
    );
  for (const line of claimsSummaryLines(claims)) process.stdout.write(line + '\n');
  return { analysis, holds: verdict.holds, outDir: resolve(outDir) };
}

function printSummary(a: Analysis): void {
  for (const line of summaryLines(a)) process.stdout.write(line + '\n');
  for (const warning of a.warnings) process.stderr.write(`compare: warning: ${warning}\n`);
}

export async function compareCommand(args: { paths: string[]; out?: string; strict?: boolean; charts?: boolean }): Promise<void> {
  const result = await compareInto(args.paths, args.out ?? 'report', undefined, { strict: args.strict, charts: args.charts });
  process.stdout.write(`\nreport: ${join(result.outDir, 'report.html')}\n`);
}
