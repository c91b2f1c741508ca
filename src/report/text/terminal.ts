/** compare's printed summary: per series, a table whose columns fit their widest cell, then the verdict. */
import type { Analysis } from '../../analysis/analyse.js';
import { verdictSentence } from './markdown.js';
import { formatNumber } from '../../format.js';

const n = (x: number | null) => formatNumber(x);

/** Left-aligned columns, each as wide as its widest cell plus two spaces; the last column is not padded. */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell + ' '.repeat(widths[c] - [...cell].length + 2)))
      .join('')
      .trimEnd(),
  );
}

export function summaryLines(a: Analysis): string[] {
  const out: string[] = [];
  if (Object.keys(a.differing).length)
    out.push(
      `runs differ in: ${Object.entries(a.differing)
        .map(([k, v]) => `${k} ∈ {${v.join(', ')}}`)
        .join('; ')}`,
    );
  for (const s of a.series) {
    out.push('');
    if (s.label) out.push(`== ${s.label} ==`);
    const rows = [['variant', 'lr', 'final loss', 'final acc', 'spikes', 'rough', 'steps→95% (runs reaching)', 'diverged']];
    for (const v of s.variants) {
      for (const r of v.perLr) {
        // The count matters: a mean over 2 of 5 runs that got there is not comparable to one over 5 of 5.
        const steps = r.stepsToAcc === null ? `never (0/${r.runs})` : `${n(r.stepsToAcc)} (${r.reached}/${r.runs})`;
        rows.push([
          v.variant,
          String(r.lr),
          `${n(r.finalLoss.mean)} ± ${n(r.finalLoss.std)}`,
          `${n(r.finalAcc.mean)} ± ${n(r.finalAcc.std)}`,
          n(r.spikes),
          n(r.roughness),
          steps,
          String(r.diverged),
        ]);
      }
    }
    out.push(...alignColumns(rows));
    for (const v of s.variants)
      out.push(
        `${v.variant}: LR sensitivity ${n(v.sensMean)} ± ${n(v.sensStd)} over ${v.sensitivity.length} seeds` +
          `${v.neverLearned.length ? ` (${v.neverLearned.length} never learned, set aside: ${v.neverLearned.join(', ')})` : ''}; ${v.diverged} diverged`,
      );
    out.push(verdictSentence(s).replace(/\*\*/g, ''));
    if (s.againstBaseline.some((c) => c.variant !== 'qv'))
      for (const c of s.againstBaseline)
        out.push(
          `  ${c.variant} vs qkv: LR sensitivity ratio ${n(c.ratio)}; less stable p_holm ${n(c.p_holm)}, more stable p_holm ${n(c.p_holm_opposite)}` +
            (c.reading === 'less stable' || c.reading === 'more stable' || c.reading === 'did not learn' ? ` (${c.reading})` : ''),
        );
  }
  return out;
}
