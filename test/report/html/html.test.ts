import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderCharts } from '../../../src/report/charts/render.js';
import { chartSpecs } from '../../../src/report/charts/specs.js';
import { renderHtml } from '../../../src/report/html/html.js';
import type { RenderedChart } from '../../../src/report/charts/render.js';
import { syntheticDocument, syntheticReport } from '../fixture.js';
import { chart, markdown } from '../../../src/report/text/document.js';

let dir: string;
let charts: RenderedChart[];
let html: string;
/** The page without the inline chart runtime, whose minified code holds URLs and markup of its own. */
let page: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qkv-html-'));
  charts = await renderCharts(chartSpecs(syntheticReport()), dir);
  html = renderHtml('Synthetic report', syntheticDocument(charts), charts);
  page = html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('renderHtml', () => {
  it('loads nothing from the network: the chart runtime is inline, every script without src', () => {
    const refs = [...page.matchAll(/\b(?:src|href)\s*=\s*["']?\s*([^"'\s>]*)/gi)].map((m) => m[1]);
    expect(refs.filter((r) => /^(https?:)?\/\//i.test(r))).toEqual([]);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/gi)].map((m) => m[1]);
    expect(scripts.filter((attrs) => /\bsrc\s*=/i.test(attrs))).toEqual([]);
    expect(scripts.map((a) => /data-lib="([^"]+)"/.exec(a)?.[1] ?? /type="([^"]+)"/.exec(a)?.[1] ?? 'boot')).toEqual([
      'vega',
      'vega-lite',
      'vega-embed',
      'application/json',
      'boot',
    ]);
    expect(html).not.toMatch(/sourceMappingURL/); // would name a .map file the report does not carry
    expect(page).not.toMatch(/<link\b/i);
    expect(page).not.toMatch(/@import|url\(\s*["']?https?:/i);
  });

  it("embeds every chart's Vega-Lite spec for the live chart", () => {
    const json = /<script type="application\/json" id="chart-specs">([\s\S]*?)<\/script>/.exec(html)![1];
    const specs = JSON.parse(json);
    expect(Object.keys(specs)).toEqual(charts.map((c) => c.id));
    for (const c of charts) expect(specs[c.id]).toEqual(JSON.parse(JSON.stringify(c.spec)));
  });

  it('contains every chart exactly once, inline', () => {
    for (const c of charts) {
      const figures = html.match(new RegExp(`<figure class="chart" data-chart="${c.id}"`, 'g')) ?? [];
      expect(figures).toHaveLength(1);
    }
    expect(html.match(/<figure class="chart"/g)).toHaveLength(charts.length);
    expect(page.match(/<svg\b/g)?.length).toBe(charts.length);
    // The Markdown's ![...](loss-curves.png) became the inline chart, not an image that needs the PNG beside it.
    expect(html).not.toMatch(/<img\b[^>]*loss-curves\.png/);
  });

  it("shows a chart whose SVG is too large as its PNG, inline, until the live chart draws (issue 29's lean reports)", () => {
    const [first] = charts;
    const png = Buffer.from('not really a png, but bytes');
    const big = renderHtml('Big chart', syntheticDocument(charts), [{ ...first, staticPng: png }, ...charts.slice(1)]);
    const figure = new RegExp(`<figure class="chart" data-chart="${first.id}"[\\s\\S]*?</figure>`).exec(big)![0];
    expect(figure).toContain(`<img src="data:image/png;base64,${png.toString('base64')}" alt="${first.title}">`);
    expect(figure).not.toContain('<svg');
    expect(big.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '').match(/<svg\b/g)?.length).toBe(charts.length - 1);
  });

  it('keeps element ids unique across the inlined SVGs', () => {
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("renders the Markdown's table and marks the verdict", () => {
    expect(html).toMatch(/<table>\s*<thead>\s*<tr>\s*<th>variant<\/th>\s*<th>lr<\/th>\s*<th>final loss<\/th>/);
    expect(html).toMatch(/<td>qv<\/td>\s*<td>1e-2<\/td>\s*<td>0\.19<\/td>/);
    expect(html).toMatch(/<li class="verdict"><strong>Verdict: not shown at this setting<\/strong>/);
    expect(html).toContain('<title>Synthetic report</title>');
    expect(html.match(/<h1>/g)).toHaveLength(1);
  });

  it('turns a remote image into its alt text, and places each chart where the structure puts it', () => {
    const blocks = [
      markdown('# Synthetic report', '', 'Intro.', '', '![a remote logo](https://example.com/logo.png)', ''),
      chart(charts[1]),
      markdown('## Between', ''),
      chart(charts[0]),
    ];
    const out = renderHtml('Synthetic report', blocks, charts.slice(0, 2));
    expect(out).not.toContain('example.com');
    expect(out).toContain('a remote logo');
    expect(out.match(/<figure class="chart"/g)).toHaveLength(2);
    const at = (id: string) => out.indexOf(`data-chart="${id}"`);
    expect(at(charts[1].id)).toBeLessThan(out.indexOf('<h2>Between</h2>'));
    expect(out.indexOf('<h2>Between</h2>')).toBeLessThan(at(charts[0].id));
  });

  it('refuses a chart the structure places but nobody rendered', () => {
    expect(() => renderHtml('t', [chart({ id: 'nowhere', title: 'x', pngFile: 'nowhere.png' })], charts)).toThrow(/nowhere/);
  });
});
