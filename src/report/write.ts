/**
 * Writes a report directory from loaded runs and their analysis: the charts (PNG), report.md and report.html from
 * one structure (text/document.ts), the documents it cites, and the tidy CSV exports. verdict.json is the caller's.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, ensureDir } from '../files/atomic.js';
import type { Analysis } from '../analysis/analyse.js';
import type { LoadedRun } from './data/collect.js';
import type { SeriesClaims } from '../analysis/claims.js';
import { buildReportData } from './data/build.js';
import { copyReferenceDocs } from './data/references.js';
import { writeExports } from './data/exports.js';
import type { LeftOut } from './text/leftOut.js';
import { reportDocument } from './text/markdown.js';
import { claimsSection } from './text/claimsMarkdown.js';
import { toMarkdown } from './text/document.js';
import { chartSpecs } from './charts/specs.js';
import { claimsGridSpec } from './charts/claimsGrid.js';
import { CHART_IDS } from './charts/theme.js';
import type { RenderedChart } from './charts/render.js';
import { renderHtml } from './html/html.js';

export interface ReportOptions {
  /**
   * false: the tables, the verdict and the data, without drawing a chart. Drawing them costs about 1.7 s of CPU per
   * report (Vega and resvg), which a CI job that reads only the verdict need not pay. Default true.
   */
  charts?: boolean;
}

export async function writeReport(
  outDir: string,
  title: string,
  runs: LoadedRun[],
  analysis: Analysis,
  claims: SeriesClaims[],
  leftOut: LeftOut,
  { charts: drawingCharts = true }: ReportOptions = {},
): Promise<void> {
  ensureDir(outDir);
  const specs = drawingCharts ? chartSpecs(buildReportData(title, runs, analysis)) : [];
  const grid = drawingCharts ? claimsGridSpec(claims) : undefined;
  // One drawing pass for all charts; the documents and exports are written while the PNGs render. The renderer (Vega,
  // resvg: about 0.2 s to load) loads only to draw.
  const { drawn, written }: { drawn: RenderedChart[]; written: Promise<void> } = drawingCharts
    ? await (await import('./charts/render.js')).drawCharts([...specs, ...(grid ? [grid] : [])], outDir)
    : { drawn: [], written: Promise.resolve() };
  const charts = drawn.slice(0, specs.length);
  const claimsCharts = drawn.slice(specs.length); // placed by the claims section, not under Charts
  const blocks = reportDocument(title, analysis, charts, leftOut, claimsSection(claims, claimsCharts), { chartsDrawn: drawingCharts });
  writeFileAtomic(join(outDir, 'report.md'), toMarkdown(blocks) + '\n');
  writeFileAtomic(join(outDir, 'report.html'), renderHtml(title, blocks, [...charts, ...claimsCharts]));
  copyReferenceDocs(outDir);
  writeExports(runs, outDir);
  await written;
  // A chart an earlier report in this directory drew, and this one did not (--no-charts, or no data for it now), would
  // sit beside a report that does not show it.
  for (const id of CHART_IDS) if (!drawn.some((c) => c.id === id)) rmSync(join(outDir, `${id}.png`), { force: true });
}
