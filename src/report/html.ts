/**
 * The report as one self-contained HTML file: the Markdown rendered with marked, the charts inlined
 * as SVG, the styles inline. It loads nothing from anywhere, so it opens offline and can be mailed.
 */
import { Marked, type Tokens } from 'marked';
import type { ReportData, RenderedChart } from './types.js';
import { interactiveScripts, INTERACTIVE_CSS, interactionHint } from './interactive.js';

const VERDICT = /^\s*(\*\*|__)?\s*(no\s+)?verdict\b/i;
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
figure.chart svg { max-width: 100%; height: auto; display: block; }
`;

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Each chart draws its own title, and aria-label carries it for screen readers. A chart with a spec
// gets a live twin (interactive.ts) that replaces the static SVG once it has drawn.
function figure(chart: RenderedChart): string {
  // The SVG's own XML prolog, if any, is not allowed inside HTML.
  const svg = chart.svg.replace(/^<\?xml[^>]*>\s*/, '');
  const live = chart.spec ? `<div class="chart-live"></div>\n` : '';
  const hint = chart.spec ? `<figcaption>${escapeHtml(interactionHint(chart.id))}</figcaption>\n` : '';
  return (
    `<figure class="chart" data-chart="${escapeHtml(chart.id)}" ` +
    `aria-label="${escapeHtml(chart.title)}">\n${live}<div class="chart-static">${svg}</div>\n${hint}</figure>\n`
  );
}

/**
 * Markdown → HTML. A paragraph that is only a chart's PNG becomes that chart's inline SVG, so charts
 * sit where the Markdown puts them; verdict lines get the prominent style; remote images become
 * their alt text, because the file must not load anything.
 */
function renderMarkdown(markdown: string, charts: RenderedChart[], placed: Set<string>): string {
  const byPng = new Map(charts.map((c) => [c.pngFile, c]));
  const md = new Marked({
    gfm: true,
    renderer: {
      paragraph(token: Tokens.Paragraph) {
        const only = token.tokens.length === 1 ? token.tokens[0] : undefined;
        const chart = only?.type === 'image' ? byPng.get((only as Tokens.Image).href) : undefined;
        if (chart && !placed.has(chart.id)) {
          placed.add(chart.id);
          return figure(chart);
        }
        if (VERDICT.test(token.text)) return `<p class="verdict">${this.parser.parseInline(token.tokens)}</p>\n`;
        return false;
      },
      listitem(item: Tokens.ListItem) {
        if (item.task || !VERDICT.test(item.text)) return false;
        return `<li class="verdict">${this.parser.parse(item.tokens, !!item.loose)}</li>\n`;
      },
      image(token: Tokens.Image) {
        return REMOTE.test(token.href) ? escapeHtml(token.text) : false;
      },
    },
  });
  return md.parse(markdown, { async: false });
}

/** One self-contained HTML page: the report text, then any chart the text did not already place. */
export function renderHtml(data: ReportData, charts: RenderedChart[]): string {
  const placed = new Set<string>();
  const body = renderMarkdown(data.markdown, charts, placed);
  const heading = /^\s*#\s/.test(data.markdown) ? '' : `<h1>${escapeHtml(data.title)}</h1>\n`;
  const rest = charts
    .filter((c) => !placed.has(c.id))
    .map(figure)
    .join('');
  // Charts the text placed sit in its last section, so the rest can follow them under the same heading.
  const restHtml = rest && placed.size === 0 ? `<h2>Charts</h2>\n${rest}` : rest;
  const specs = Object.fromEntries(charts.filter((c) => c.spec).map((c) => [c.id, c.spec]));
  const scripts = Object.keys(specs).length ? interactiveScripts(specs) : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${CSS}${INTERACTIVE_CSS}</style>
</head>
<body>
<main>
${heading}${body}${restHtml}</main>
${scripts}</body>
</html>
`;
}
