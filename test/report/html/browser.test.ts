// Opens the generated report.html in a real headless Chromium: every chart must draw, with no
// console errors and no request leaving the file. Set QKV_KEEP_TMP=1 to keep the screenshot.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { renderCharts } from '../../../src/report/charts/render.js';
import { chartSpecs } from '../../../src/report/charts/specs.js';
import { renderHtml } from '../../../src/report/html/html.js';
import { syntheticDocument, syntheticReport } from '../fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Said in the test's name, so a skipped run tells why it skipped. */
const SKIP_WHY = HAVE_CHROMIUM ? '' : ` (skipped: ${CHROMIUM} not found; install Debian's chromium package)`;
// Chromium keeps calling home (updates, sync, QUIC probes) unless told not to; this network refuses those hosts.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Made inside the first test that needs them, so a skipped run leaves no empty temp dir behind and starts no
// browser. Both tests read one rendered report in one browser: Chromium's start and the charts' render were
// half of this file's time.
let dir: string | undefined;
let shared: Promise<{ file: string; charts: Awaited<ReturnType<typeof renderCharts>>; browser: Browser }> | undefined;
function sharedReport() {
  shared ??= (async () => {
    dir = mkdtempSync(join(tmpdir(), 'qkv-browser-'));
    const charts = await renderCharts(chartSpecs(syntheticReport()), dir);
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml('Synthetic report', syntheticDocument(charts), charts));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    return { file, charts, browser };
  })();
  return shared;
}
afterAll(async () => {
  if (shared) await (await shared).browser.close();
  if (!dir) return;
  if (process.env.QKV_KEEP_TMP) process.stdout.write(`browser test artefacts kept in ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
});

describe('report.html in headless Chromium', () => {
  if (!HAVE_CHROMIUM && process.env.CI) {
    it('needs Chromium', () => {
      throw new Error(`${CHROMIUM} not found: CI must install the Debian package 'chromium' (see .ci/run)`);
    });
  }

  it.skipIf(!HAVE_CHROMIUM)(`draws every chart, logs no errors and loads nothing remote${SKIP_WHY}`, { timeout: 60_000 }, async () => {
    const { file, charts, browser } = await sharedReport();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      const errors: string[] = [];
      const foreign: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('request', (r) => !r.url().startsWith('file:') && !r.url().startsWith('data:') && foreign.push(r.url()));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

      const drawn = await page.$$eval('figure.chart', (figs) =>
        figs.map((f) => {
          const el = f.querySelector('svg, img');
          const box = el?.getBoundingClientRect();
          const imgOk = el instanceof HTMLImageElement ? el.naturalWidth > 0 : true;
          return { id: f.getAttribute('data-chart'), kind: el?.tagName.toLowerCase(), w: box?.width ?? 0, h: box?.height ?? 0, imgOk };
        }),
      );
      expect(drawn.map((d) => d.id)).toEqual(charts.map((c) => c.id));
      for (const d of drawn) {
        expect(d.kind, `chart ${d.id}`).toMatch(/^(svg|img)$/);
        expect(d.w, `chart ${d.id} width`).toBeGreaterThan(50);
        expect(d.h, `chart ${d.id} height`).toBeGreaterThan(50);
        expect(d.imgOk, `chart ${d.id} image decoded`).toBe(true);
      }
      // A chart wider than the page is scaled down, never cut off.
      const overflow = await page.$$eval(
        'figure.chart svg',
        (svgs) => svgs.filter((s) => s.getBoundingClientRect().right > document.documentElement.clientWidth).length,
      );
      expect(overflow).toBe(0);

      const shot = join(dir!, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(existsSync(shot)).toBe(true);
      expect(statSync(shot).size).toBeGreaterThan(10_000);

      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it.skipIf(!HAVE_CHROMIUM)(
    `with the network off, draws live charts whose points show a tooltip on hover; text ≥ 12 px; a seed picker${SKIP_WHY}`,
    { timeout: 60_000 },
    async () => {
      const { file, charts, browser } = await sharedReport();
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      try {
        // The network is off for the page: every request that is not the file itself is refused.
        const refused: string[] = [];
        await context.route('**/*', (route) => {
          const url = route.request().url();
          if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
          refused.push(url);
          return route.abort('internetdisconnected');
        });
        await context.setOffline(true);
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
        page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

        // Every chart turns live: vega-embed drew it from the inline runtime and spec.
        await page.waitForFunction((n) => document.querySelectorAll('figure.chart.live .chart-live svg').length === n, charts.length, {
          timeout: 20_000,
        });

        // Hover one seed's point in the LR chart and read the tooltip vega-tooltip shows.
        // A seed's point (the first layer) that no mean point covers, so the mouse lands on it and not on a mean.
        await page.locator('figure[data-chart="lr-sensitivity"]').scrollIntoViewIfNeeded();
        const at = await page.$$eval('figure[data-chart="lr-sensitivity"] .chart-live svg .seed_points_marks path', (ps) => {
          for (const p of ps) {
            const r = p.getBoundingClientRect();
            const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
            if (document.elementFromPoint(x, y) === p) return { x, y };
          }
          return null;
        });
        expect(at, 'an uncovered seed point').not.toBeNull();
        await page.mouse.move(at!.x, at!.y);
        const tip = page.locator('#vg-tooltip-element');
        await expect.poll(async () => (await tip.isVisible()) && (await tip.innerText()), { timeout: 5_000 }).toMatch(/final eval loss/);
        const text = await tip.innerText();
        expect(text).toMatch(/attention\s+qkv|attention\s+qv/);
        expect(text).toMatch(/learning rate\s+0\.01|learning rate\s+0\.001/);
        expect(text).toMatch(/seed\s+[01]\b/);

        // The smallest text in any live chart.
        const smallest = await page.$$eval('figure.chart .chart-live svg text', (ts) =>
          Math.min(...ts.filter((t) => (t.textContent ?? '').trim()).map((t) => parseFloat(getComputedStyle(t).fontSize))),
        );
        expect(smallest).toBeGreaterThanOrEqual(12);

        // The LR chart spans most of the page, not half of it.
        const widths = await page.$eval('main', (m) => {
          const svg = m.querySelector('figure[data-chart="lr-sensitivity"] .chart-live svg')!;
          return { chart: svg.getBoundingClientRect().width, page: m.clientWidth };
        });
        expect(widths.chart).toBeGreaterThan(0.75 * widths.page);

        // The heatmaps' seed picker lists both seeds, and picking seed 1 redraws other weights.
        const heat = page.locator('figure[data-chart="heatmaps"]');
        const picker = heat.locator('select');
        expect(await picker.locator('option').allInnerTexts()).toEqual(['0', '1']);
        const fills = () => heat.locator('.chart-live svg .mark-rect path').evaluateAll((ps) => ps.map((p) => p.getAttribute('fill')).join());
        const before = await fills();
        await picker.selectOption('1');
        await expect.poll(fills, { timeout: 5_000 }).not.toBe(before);
        await expect
          .poll(() => heat.locator('.chart-live svg').evaluate((svg) => svg.textContent ?? ''), { timeout: 5_000 })
          .toMatch(/seed 1 \(one of 2/); // the subtitle follows

        expect(errors).toEqual([]);
        expect(refused).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );
});
