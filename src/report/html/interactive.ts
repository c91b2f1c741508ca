/**
 * The report's chart runtime: Vega, Vega-Lite and vega-embed, read from their installed builds and
 * inlined, with every chart's spec as JSON. The page draws live charts (tooltips, legend toggles, zoom)
 * without the network; the static SVG stays in the page until its live chart has drawn, and is what
 * a reader without JavaScript sees.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** package → its minified browser build, found beside the package's main entry. */
const BUILDS: [string, string][] = [
  ['vega', 'vega.min.js'],
  ['vega-lite', 'vega-lite.min.js'],
  ['vega-embed', 'vega-embed.min.js'],
];

/** Text safe inside <script>: a "</script" or "<!--" in a string literal would end or comment the element. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

let cached: string | null = null;

/** The three libraries as inline <script> elements; read once per process. */
export function chartRuntime(): string {
  cached ??= BUILDS.map(([pkg, file]) => {
    const path = join(dirname(fileURLToPath(import.meta.resolve(pkg))), file);
    // The source-map comment names a file the report does not carry.
    const js = readFileSync(path, 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '');
    return `<script data-lib="${pkg}">${scriptSafe(js)}</script>`;
  }).join('\n');
  return cached;
}

/**
 * Draws each figure's live chart from its spec. SVG rather than canvas, so a chart's text stays
 * selectable and sharp when zoomed; no action menu, since its links leave the page.
 */
const BOOT = `
(function () {
  var specs = JSON.parse(document.getElementById('chart-specs').textContent);
  document.querySelectorAll('figure.chart[data-chart]').forEach(function (fig) {
    var spec = specs[fig.getAttribute('data-chart')];
    var live = fig.querySelector('.chart-live');
    if (!spec || !live || typeof vegaEmbed !== 'function') return;
    vegaEmbed(live, spec, { renderer: 'svg', actions: false })
      .then(function () { fig.classList.add('live'); })
      .catch(function (err) { console.error('chart ' + fig.getAttribute('data-chart') + ': ' + err); });
  });
})();
`;

/** The runtime, the specs keyed by chart id, and the boot script: everything the page needs, inline. */
export function interactiveScripts(specs: Record<string, unknown>): string {
  const json = JSON.stringify(specs).replace(/</g, '\\u003c');
  return `${chartRuntime()}\n<script type="application/json" id="chart-specs">${json}</script>\n<script>${BOOT}</script>\n`;
}

/** Styles for the live charts: the static copy hides once the live one has drawn; tooltips in the page's font at ≥ 12 px. */
export const INTERACTIVE_CSS = `
figure.chart.live .chart-static { display: none; }
figure.chart .chart-live:empty { display: none; }
figure.chart .chart-live svg { max-width: none; }
figure.chart .vega-embed { display: block; }
figure.chart figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
#vg-tooltip-element { font: 13px/1.4 system-ui, sans-serif !important; }
#vg-tooltip-element table { font-size: 13px; }
`;

const TOGGLE = 'click a legend entry to show one variant (shift-click for more, double-click an empty spot to reset)';

/** What a reader can do with each live chart; shown under it. */
export function interactionHint(chartId: string): string {
  if (chartId.endsWith('-curves')) return `Hover for values; ${TOGGLE}; drag to pan, scroll to zoom, double-click to reset the zoom.`;
  if (chartId === 'heatmaps') return 'Hover a cell for its weight; pick another seed below the chart.';
  if (chartId === 'lr-sensitivity' || chartId === 'sensitivity') return `Hover a point for its run; ${TOGGLE}.`;
  return 'Hover for values.';
}
