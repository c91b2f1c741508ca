// Opens the generated report.html in a real headless Chromium: every chart must draw, with no
// console errors and no request leaving the file. Set QKV_KEEP_TMP=1 to keep the screenshot.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { renderCharts } from '../../src/report/charts.js';
import { renderHtml } from '../../src/report/html.js';
import { syntheticReport } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// Chromium keeps calling home (updates, sync, QUIC probes) unless told not to; this network refuses those hosts.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Made inside the test, so a skipped run leaves no empty temp dir behind.
let dir: string | undefined;
afterAll(() => {
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

  it.skipIf(!HAVE_CHROMIUM)('draws every chart, logs no errors and loads nothing remote', { timeout: 60_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'qkv-browser-'));
    const charts = await renderCharts(syntheticReport(), dir);
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(syntheticReport(), charts));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
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
      const overflow = await page.$$eval('figure.chart svg', (svgs) => svgs.filter((s) => s.getBoundingClientRect().right > document.documentElement.clientWidth).length);
      expect(overflow).toBe(0);

      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(existsSync(shot)).toBe(true);
      expect(statSync(shot).size).toBeGreaterThan(10_000);

      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
