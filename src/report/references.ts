/**
 * The documents a report cites, copied next to it: a report is written to any directory and read
 * without the repository, so every link in it must point at a file in that directory.
 */
import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** In-repo source → name in the report directory. Resolved from this file, so it works from src/ and dist/. */
export const REFERENCE_DOCS = [
  { source: fileURLToPath(new URL('../../src/metrics/METRICS.md', import.meta.url)), name: 'METRICS.md' },
  { source: fileURLToPath(new URL('../../src/seed-document.md', import.meta.url)), name: 'seed-document.md' },
] as const;

/** The anchor of the independent reference's section in METRICS.md (GitHub and marked slug it alike). */
export const REFERENCE_ANCHOR = 'what-an-independent-reference-found';

/** The report's one-sentence pointers to what it cites, in Markdown with links relative to the report. */
export const CITATIONS =
  'Definitions of every figure: [METRICS.md](METRICS.md). ' +
  'The seed document, [seed-document.md](seed-document.md), is the short explainer of Q, K and V whose claim ' +
  'that attention needs a separate Key this kit tests. ' +
  `The independent reference is an earlier PyTorch implementation of the lookup task, whose findings are in [METRICS.md](METRICS.md#${REFERENCE_ANCHOR}). ` +
  'The data behind the tables and charts: [runs.csv](runs.csv) (one row per run) and [metrics_long.csv](metrics_long.csv) (every logged row of every run).';

export function copyReferenceDocs(outDir: string): void {
  for (const doc of REFERENCE_DOCS) copyFileSync(doc.source, join(outDir, doc.name));
}
