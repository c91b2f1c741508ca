/**
 * The documents a report cites, copied next to it: a report is written to any directory and read
 * without the repository, so every link in it must point at a file in that directory.
 */
import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** In-repo source → name in the report directory. Resolved from this file, so it works from src/ and dist/. */
export const REFERENCE_DOCS = [
  { source: fileURLToPath(new URL('../../../src/metrics/METRICS.md', import.meta.url)), name: 'METRICS.md' },
  { source: fileURLToPath(new URL('../../../src/seed-document.md', import.meta.url)), name: 'seed-document.md' },
] as const;

/** The anchor of the independent reference's section in METRICS.md (GitHub and marked slug it alike). */
export const REFERENCE_ANCHOR = 'what-an-independent-reference-found';

export function copyReferenceDocs(outDir: string): void {
  for (const doc of REFERENCE_DOCS) copyFileSync(doc.source, join(outDir, doc.name));
}
