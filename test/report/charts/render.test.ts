import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { renderCharts, specToSvg } from '../../../src/report/charts/render.js';
import { chartSpecs } from '../../../src/report/charts/specs.js';
import type { ReportData } from '../../../src/report/data/types.js';
import { syntheticReport } from '../fixture.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const ALL_IDS = ['loss-curves', 'attention-curves', 'lr-sensitivity', 'sensitivity', 'heatmaps', 'width'];

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qkv-charts-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.restoreAllMocks());

/** Vega-Lite's warnings among what `run` wrote to stderr. */
async function vegaWarnings<T>(run: () => Promise<T>): Promise<{ result: T; warnings: unknown[] }> {
  const stderr = vi.spyOn(process.stderr, 'write');
  try {
    const result = await run();
    return { result, warnings: stderr.mock.calls.filter(([s]) => String(s).includes('vega-lite')) };
  } finally {
    stderr.mockRestore();
  }
}

/** One drawing of the synthetic report, read by the tests that only look at it: each drawing costs about 0.8 s of CPU. */
let synthetic: Promise<{ dir: string; charts: Awaited<ReturnType<typeof renderCharts>>; warnings: unknown[] }> | undefined;
function syntheticDrawing() {
  synthetic ??= (async () => {
    const dir = tempDir();
    const { result: charts, warnings } = await vegaWarnings(() => renderCharts(chartSpecs(syntheticReport()), dir));
    return { dir, charts, warnings };
  })();
  return synthetic;
}

describe('renderCharts', () => {
  it('writes one valid, modest PNG and one SVG per chart', async () => {
    const { dir, charts } = await syntheticDrawing();
    expect(charts.map((c) => c.id)).toEqual(ALL_IDS);
    for (const c of charts) {
      expect(c.pngFile).toBe(`${c.id}.png`);
      expect(c.title.length).toBeGreaterThan(0);
      const png = readFileSync(join(dir, c.pngFile));
      expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
      expect(png.length).toBeGreaterThan(5_000);
      expect(png.length).toBeLessThan(300_000);
      expect(c.svg).toContain('<svg');
      expect(c.svg).toContain('DejaVu Sans');
    }
  });

  it('gives byte-identical SVG and PNG for the same data', async () => {
    const { dir: a, charts: first } = await syntheticDrawing();
    const b = tempDir();
    const second = await renderCharts(chartSpecs(syntheticReport()), b);
    expect(second.map((c) => c.svg)).toEqual(first.map((c) => c.svg));
    for (const c of first) expect(readFileSync(join(b, c.pngFile)).equals(readFileSync(join(a, c.pngFile)))).toBe(true);
  });

  it('scopes SVG ids to the chart, so several SVGs can share one HTML page', async () => {
    const { charts } = await syntheticDrawing();
    for (const c of charts) {
      for (const [, id] of c.svg.matchAll(/\bid="([^"]+)"/g)) expect(id.startsWith(`${c.id}-`)).toBe(true);
      for (const [, ref] of c.svg.matchAll(/url\(#([^)]+)\)/g)) expect(ref.startsWith(`${c.id}-`)).toBe(true);
    }
  });

  it('draws no width chart when there is no width data', async () => {
    for (const width of [null, []]) {
      const dir = tempDir();
      const charts = await renderCharts(chartSpecs({ ...syntheticReport(), width }), dir);
      expect(charts.map((c) => c.id)).toEqual(ALL_IDS.filter((id) => id !== 'width'));
      expect(existsSync(join(dir, 'width.png'))).toBe(false);
    }
  });

  it('skips each chart whose data is empty', async () => {
    const empty: ReportData = { ...syntheticReport(), curves: [], finals: [], heatmaps: [], width: null, sensitivity: [], verdicts: [] };
    expect(await renderCharts(chartSpecs(empty), tempDir())).toEqual([]);
    const onlyFinals: ReportData = { ...empty, finals: syntheticReport().finals };
    expect((await renderCharts(chartSpecs(onlyFinals), tempDir())).map((c) => c.id)).toEqual(['lr-sensitivity']);
  });

  it('copes with degenerate data: one point, constant values, a diverged run, several series', async () => {
    const base = syntheticReport();
    const one = base.curves[0];
    const data: ReportData = {
      ...base,
      curves: [
        { ...one, step: 0, eval_loss: 1, attn_entropy_norm: 1, retrieval_mass: 0 },
        { ...one, series: 'dModel=16', step: 0, eval_loss: Number.NaN, attn_entropy_norm: Number.NaN, retrieval_mass: 0 },
      ],
      finals: [
        { ...base.finals[0], diverged: true, final_eval_loss: 2.3 },
        { ...base.finals[0], series: 'dModel=16', seed: 1 },
      ],
      // A diverged run's snapshot: its weights are NaN, or null once read back from attention.json.
      heatmaps: [
        base.heatmaps[0],
        {
          ...base.heatmaps[1],
          weights: base.heatmaps[1].weights.map((row) => row.map((_, j) => (j % 2 ? Number.NaN : (null as unknown as number)))),
        },
      ],
      width: [{ dModel: 8, ratio: Number.POSITIVE_INFINITY, p: 1, holds: false }],
    };
    const { result: charts, warnings } = await vegaWarnings(() => renderCharts(chartSpecs(data), tempDir()));
    expect(charts.map((c) => c.id)).toEqual(['loss-curves', 'attention-curves', 'lr-sensitivity', 'sensitivity', 'heatmaps']);
    expect(warnings).toEqual([]);
  });

  it('compiles the synthetic charts without Vega-Lite warnings', async () => {
    const { charts, warnings } = await syntheticDrawing();
    expect(charts.map((c) => c.id)).toEqual(ALL_IDS);
    expect(warnings).toEqual([]);
  });

  it("expands the heatmaps' compact records into one cell per weight, with its row, column, weight and correct source", async () => {
    // report.html carries each panel's weights as one array (issue 29); the drawn cells must be the ones it encodes.
    const data = syntheticReport();
    const spec = chartSpecs(data).find((c) => c.id === 'heatmaps')!;
    const svg = await specToSvg(spec.spec as Parameters<typeof specToSvg>[0], 'heatmaps');
    const cells = [...svg.matchAll(/aria-label="key position: ([^;]*); row: ([^;]*); weight: ([^;]*);[^"]*correct source: (true|false)"/g)];
    const shown = data.heatmaps.filter((h) => h.seed === 0); // the picker's first seed is drawn
    const want = shown.flatMap((h) =>
      h.weights.flatMap((ws, r) => ws.map((w, c) => [h.colLabels[c], h.rowLabels[r], String(Math.round(w * 1e4) / 1e4), String(h.correct[r] === c)])),
    );
    // The fills (the outline of a correct cell encodes no weight, so the pattern skips it): one per weight, exactly.
    const got = cells.map((m) => [m[1], m[2], m[3], m[4]].join('|'));
    expect(got.sort()).toEqual(want.map((g) => g.join('|')).sort());
    expect(got.filter((g) => g.endsWith('|true'))).toHaveLength(shown.reduce((n, h) => n + h.correct.length, 0));
  });
});
