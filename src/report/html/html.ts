/**
 * The report as one self-contained HTML file, rendered block by block from the report's structure
 * (text/document.ts): Markdown blocks through marked, verdicts styled, charts inlined as SVG, the styles inline.
 * It loads nothing from anywhere, so it opens offline and can be mailed.
 */
import { Marked, type Tokens } from 'marked';
import type { RenderedChart } from '../charts/render.js';
import type { Block } from '../text/document.js';
import { interactiveScripts, INTERACTIVE_CSS, interactionHint } from './interactive.js';

const REMOTE = /^(https?:)?\/\//i;

const CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #5f6368; --line: #dadce0; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.8rem; margin: 0 0 1rem; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6; padding: .1em .3em; border-radius: 3px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; font-variant-numeric: tabular-nums; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: .35rem .65rem; text-align: left; }
th { background: #f6f8fa; font-weight: 600; }
tbody tr:nth-child(even) { background: #fafbfc; }
.verdict { font-size: 1.1rem; background: #eef5fb; border-left: 5px solid var(--accent); padding: .8rem 1rem; margin: 1rem 0; border-radius: 0 4px 4px 0; }
ul > li.verdict { list-style: none; margin-left: -1.2rem; }
details { margin: 1rem 0; }
summary { cursor: pointer; color: var(--muted); }
figure.chart { margin: 1rem 0 2rem; overflow-x: auto; }
figure.chart svg, figure.chart img { max-width: 100%; height: auto; display: block; }
`;

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Each chart draws its own title, and aria-label carries it for screen readers. Every chart gets a live
// twin (interactive.ts) that replaces the static SVG once it has drawn.
function figure(chart: RenderedChart): string {
  // The SVG's own XML prolog, if any, is not allowed inside HTML. A very large SVG is shown as its PNG (render.ts).
  const svg = chart.staticPng
    ? `<img src="data:image/png;base64,${chart.staticPng.toString('base64')}" alt="${escapeHtml(chart.title)}">`
    : chart.svg.replace(/^<\?xml[^>]*>\s*/, '');
  const live = `<div class="chart-live"></div>\n`;
  const hint = `<figcaption>${escapeHtml(interactionHint(chart.id))}</figcaption>\n`;
  return (
    `<figure class="chart" data-chart="${escapeHtml(chart.id)}" ` +
    `aria-label="${escapeHtml(chart.title)}">\n${live}<div class="chart-static">${svg}</div>\n${hint}</figure>\n`
  );
}

/** Remote images become their alt text, because the file must not load anything. */
const marked = new Marked({
  gfm: true,
  renderer: {
    image(token: Tokens.Image) {
      return REMOTE.test(token.href) ? escapeHtml(token.text) : false;
    },
  },
});

/** One block as HTML. A verdict gets the prominent style; a chart its figure, which carries its own title. */
function blockHtml(block: Block, charts: Map<string, RenderedChart>): string {
  // The newline that joins this block to the next in report.md, so marked sees each block as it sits in the whole text.
  if (block.kind === 'markdown') return block.lines.length ? marked.parse(block.lines.join('\n') + '\n', { async: false }) : '';
  if (block.kind === 'verdicts') {
    const inline = block.sentences.map((s) => marked.parseInline(s, { async: false }));
    return block.list
      ? `<ul>\n${inline.map((s) => `<li class="verdict">${s}</li>\n`).join('')}</ul>\n`
      : inline.map((s) => `<p class="verdict">${s}</p>\n`).join('');
  }
  const chart = charts.get(block.id);
  if (!chart) throw new Error(`report: chart '${block.id}' is placed in the report but was not rendered`);
  return figure(chart);
}

/** One self-contained HTML page: the report's blocks in order, charts inline where the structure places them. */
export function renderHtml(title: string, blocks: Block[], charts: RenderedChart[]): string {
  const byId = new Map(charts.map((c) => [c.id, c]));
  const body = blocks.map((b) => blockHtml(b, byId)).join('');
  const specs = Object.fromEntries(charts.map((c) => [c.id, c.spec]));
  const scripts = Object.keys(specs).length ? interactiveScripts(specs) : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}${INTERACTIVE_CSS}</style>
</head>
<body>
<main>
${body}</main>
${scripts}</body>
</html>
`;
}
