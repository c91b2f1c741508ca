/**
 * The one render path of every chart: Vega-Lite spec → Vega view (no canvas, no DOM) → SVG text → PNG.
 * The PNG step uses a font file shipped through npm, so a chart renders the same on every machine.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { renderAsync } from '@resvg/resvg-js';
import * as vega from 'vega';
import { parse, View } from 'vega';
import { compile } from 'vega-lite';
import { CHART_FONT, type ChartId, type ChartSpec } from './theme.js';
import { loadMeasure } from './fontMetrics.js';
import { withoutHoverLayers } from './interaction.js';
import { writeFileAtomic } from '../../files/atomic.js';

/** A chart as the report uses it: drawn, written as `<id>.png`, and with its spec for report.html's live chart. */
export interface RenderedChart {
  id: ChartId;
  title: string;
  svg: string; // standalone SVG text
  pngFile: string; // file name of the PNG written into the output dir
  spec: object; // the Vega-Lite spec, which report.html draws live (tooltips, toggles, zoom)
  /** For an SVG over STATIC_SVG_MAX bytes: its PNG, which report.html shows instead until the live chart draws. */
  staticPng?: Buffer;
}

/**
 * Above this, report.html's static copy of a chart (shown without JavaScript, and until the live one draws) is its
 * PNG rather than its SVG: the MQAR heatmaps' SVG alone was 4.7 MB, its PNG 0.46 MB, and the live chart is the same.
 */
export const STATIC_SVG_MAX = 1_000_000;

// Regular for text, Bold for titles: without the bold face resvg would fall back to a different family.
const FONT_FILES = (() => {
  const dir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return [join(dir, 'DejaVuSans.ttf'), join(dir, 'DejaVuSans-Bold.ttf')];
})();

// Vega exports these at run time, but its typings leave them out.
interface TextItem {
  fontWeight?: string | number;
  limit?: number;
}
const vegaRuntime = vega as unknown as {
  textMetrics: { width: (item: TextItem, text: unknown) => number };
  fontSize: (item: TextItem) => number;
  resetSVGDefIds: () => void;
};

const [measureRegular, measureBold] = FONT_FILES.map(loadMeasure);

/**
 * Vega's hook for a custom text measure (vl-convert uses the same one). Vega calls it both for
 * whole labels and while truncating to `limit`, so a width past the limit is reported as the limit.
 */
function textWidth(item: TextItem, text: unknown): number {
  const s = text == null ? '' : String(text).trim();
  const w = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600 ? measureBold : measureRegular;
  const width = w(s, vegaRuntime.fontSize(item));
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}

// 2× keeps a PNG sharp on high-density screens and in slides. A very large chart (many series × LRs)
// is drawn at 1× so that no PNG passes ~300 KB. Whole zooms only: at 1.5× every 1-px grid line
// lands between pixels, is smeared by anti-aliasing, and the PNG compresses worse than at 2×.
const PNG_ZOOM = 2;
const PNG_MAX_PIXELS = 4e6;

/** The zoom for one SVG: PNG_ZOOM unless the PNG would pass the pixel budget, then 1. */
function pngZoom(svg: string): number {
  const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!size) return PNG_ZOOM;
  return Number(size[1]) * Number(size[2]) * PNG_ZOOM ** 2 <= PNG_MAX_PIXELS ? PNG_ZOOM : 1;
}

// The optimiser's note about its own pass count says nothing about the chart.
const BENIGN = /Maximum optimization runs/;

/** Vega-Lite's logger: an error throws, a warning (usually a spec mistake) goes to stderr with the chart id. */
function chartLogger(id: string) {
  const logger = {
    level: (_?: number) => logger as never,
    error: (...args: readonly unknown[]) => {
      throw new Error(`chart ${id}: vega-lite: ${args.join(' ')}`);
    },
    warn: (...args: readonly unknown[]) => {
      const msg = args.join(' ');
      if (!BENIGN.test(msg)) process.stderr.write(`chart ${id}: vega-lite warning: ${msg}\n`);
      return logger as never;
    },
    info: () => logger as never,
    debug: () => logger as never,
  };
  return logger;
}

/**
 * Vega numbers its clip paths and gradients from a global counter. Prefixing with the chart id
 * keeps several SVGs inlined in one HTML page from pointing at each other's definitions.
 */
function scopeIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

/** Vega-Lite spec → standalone SVG text, identical for identical input. */
export async function specToSvg(spec: Parameters<typeof compile>[0], idPrefix: string): Promise<string> {
  vegaRuntime.textMetrics.width = textWidth; // set per call: it is a global that another vega user could reset
  const vgSpec = compile(spec, { logger: chartLogger(idPrefix) }).spec;
  const view = new View(parse(vgSpec), { renderer: 'none' });
  try {
    vegaRuntime.resetSVGDefIds(); // otherwise the ids depend on how many charts were drawn before this one
    return scopeIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

/** SVG text → PNG bytes with the shipped DejaVu Sans and no system fonts, rendered on libuv's thread pool. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const image = await renderAsync(svg, {
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
    fitTo: { mode: 'zoom', value: pngZoom(svg) },
  });
  return image.asPng();
}

/**
 * Draws each chart's SVG and starts writing `<id>.png` for each into outDir. Vega draws the SVGs one after another on
 * this thread (its ids come from one global counter, so two drawings must not interleave) while resvg turns the
 * earlier ones into PNGs on the thread pool. `written` settles once every PNG is on disk: a caller can build its
 * documents from the SVGs meanwhile.
 */
export async function drawCharts(charts: ChartSpec[], outDir: string): Promise<{ drawn: RenderedChart[]; written: Promise<void> }> {
  await mkdir(outDir, { recursive: true });
  const drawn: RenderedChart[] = [];
  // Each PNG's outcome is caught as it is started, so a failure is never an unhandled rejection; `written` rethrows
  // the first one.
  const failures: unknown[] = [];
  const pngs: Promise<void>[] = [];
  try {
    for (const { id, title, spec } of charts) {
      const svg = await specToSvg(withoutHoverLayers(spec), id); // report.html's live chart keeps the hover layers
      const pngFile = `${id}.png`;
      const png = svgToPng(svg);
      pngs.push(png.then((bytes) => writeFileAtomic(join(outDir, pngFile), bytes)).catch((err: unknown) => void failures.push(err)));
      drawn.push({ id, title, svg, pngFile, spec, ...(svg.length > STATIC_SVG_MAX ? { staticPng: await png } : {}) });
    }
  } catch (err) {
    await Promise.all(pngs); // no PNG is still being written once the caller hears of the failure
    throw err;
  }
  const written = Promise.all(pngs).then(() => {
    if (failures.length) throw failures[0];
  });
  written.catch(() => {}); // the caller awaits it; until then its failure must not count as unhandled
  return { drawn, written };
}

/** Draws each chart and writes `<id>.png` for each into outDir; returns once the PNGs are written. */
export async function renderCharts(charts: ChartSpec[], outDir: string): Promise<RenderedChart[]> {
  const { drawn, written } = await drawCharts(charts, outDir);
  await written;
  return drawn;
}
