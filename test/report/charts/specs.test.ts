// What the chart specs choose from the data alone: axes for sweeps of different lengths, panels for
// ragged learning rates, the log loss axis, and the interactive pieces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { renderCharts } from '../../../src/report/charts/render.js';
import { chartSpecs } from '../../../src/report/charts/specs.js';
import type { CurvePoint, ReportData } from '../../../src/report/data/types.js';
import { claimsGridSpec } from '../../../src/report/charts/claimsGrid.js';
import { syntheticClaims, syntheticReport } from '../fixture.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- vega-lite specs are walked as plain JSON here
const byId = (data: ReportData) => new Map(chartSpecs(data).map((c) => [c.id, c.spec as Record<string, any>]));

/** A second series, `steps=300`, that logged up to step 300 at lr 1e-3 only. */
function withShortSweep(): ReportData {
  const base = syntheticReport();
  const short: CurvePoint[] = base.curves.filter((p) => p.lr === 1e-3).map((p) => ({ ...p, series: 'steps=300', step: (p.step * 300) / 400 }));
  return { ...base, curves: [...base.curves.map((p) => ({ ...p, series: 'steps=400' })), ...short] };
}

describe('chart specs', () => {
  it('curves of sweeps with different lengths share an x axis of fraction of training', () => {
    const loss = byId(withShortSweep()).get('loss-curves')!;
    const line = loss.spec.layer[1];
    expect(line.encoding.x.field).toBe('fraction');
    const rows = loss.data.values as { series: string; step: number; fraction: number }[];
    expect(Math.max(...rows.filter((r) => r.series === 'steps=300').map((r) => r.fraction))).toBe(1);
    expect(Math.max(...rows.filter((r) => r.series === 'steps=400').map((r) => r.fraction))).toBe(1);
  });

  it('gives one panel per (series, lr) that exists when the series swept different learning rates', () => {
    const loss = byId(withShortSweep()).get('loss-curves')!;
    expect(loss.facet.field).toBe('panel');
    expect(loss.facet.sort).toEqual(['steps=300 · lr 1e-3', 'steps=400 · lr 1e-3', 'steps=400 · lr 1e-2']);
  });

  it('draws those panels without Vega-Lite warnings', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qkv-specs-'));
    const stderr = vi.spyOn(process.stderr, 'write');
    try {
      const charts = await renderCharts(chartSpecs(withShortSweep()), dir);
      expect(charts.map((c) => c.id)).toContain('loss-curves');
      expect(stderr.mock.calls.filter(([s]) => String(s).includes('vega-lite'))).toEqual([]);
    } finally {
      stderr.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one sweep keeps steps on x and LR panels', () => {
    const loss = byId(syntheticReport()).get('loss-curves')!;
    expect(loss.spec.layer[1].encoding.x.field).toBe('step');
    expect(loss.facet.field).toBe('lr');
  });

  it('puts final loss on a log axis, with min–max bars a log axis can draw', () => {
    const lr = byId(syntheticReport()).get('lr-sensitivity')!;
    for (const layer of lr.layer) expect(layer.encoding.y.scale.type).toBe('log');
    expect(lr.layer[0].encoding.y.field).toBe('min');
  });

  it('gives every mark a tooltip, the curves a legend toggle and zoom', () => {
    const specs = byId(syntheticReport());
    const loss = specs.get('loss-curves')!.spec.layer;
    expect(loss[1].params.map((p: { name: string }) => p.name)).toEqual(['shown', 'zoom']);
    expect(loss[1].params[0].bind).toBe('legend');
    expect(loss[1].params[1].bind).toBe('scales');
    expect(loss[2].encoding.tooltip.length).toBeGreaterThan(3);
    for (const layer of specs.get('lr-sensitivity')!.layer) expect(layer.encoding.tooltip, JSON.stringify(layer.mark)).toBeDefined();
    for (const layer of specs.get('sensitivity')!.spec.layer) expect(layer.encoding.tooltip).toBeDefined();
  });

  it('offers the heatmaps seed by seed, every learning rate at once', () => {
    const heat = byId(syntheticReport()).get('heatmaps')!;
    expect(heat.params[0]).toMatchObject({ name: 'heatSeed', value: 0, bind: { input: 'select', options: [0, 1] } });
    const cells = heat.vconcat.flatMap((row: { hconcat: { data: { values: unknown[] } }[] }) => row.hconcat.flatMap((p) => p.data.values));
    expect(new Set(cells.map((c: { seed: number }) => c.seed))).toEqual(new Set([0, 1]));
  });

  it('sets no text below 12 px', () => {
    const sizes: number[] = [];
    const walk = (x: unknown, key = ''): void => {
      if (Array.isArray(x)) x.forEach((v) => walk(v));
      else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, k);
      else if (typeof x === 'number' && /fontsize$/i.test(key)) sizes.push(x);
    };
    // The claims grid too: it is drawn through the same theme and render path as every other chart.
    for (const c of [...chartSpecs(syntheticReport()), claimsGridSpec(syntheticClaims())!]) walk(c.spec);
    expect(sizes.length).toBeGreaterThan(5);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(12);
  });

  it('names the layer in each heatmap panel only when the runs have more than one', () => {
    const titles = (data: ReportData) =>
      byId(data)
        .get('heatmaps')!
        .vconcat.flatMap((row: { hconcat: { title: { text: string } }[] }) => row.hconcat.map((p) => p.title.text));
    const one = syntheticReport();
    expect(titles(one).some((t: string) => t.includes('layer'))).toBe(false);
    // The same heatmaps as layer 2 of 2, with a layer 1 below each.
    const two = {
      ...one,
      heatmaps: one.heatmaps.flatMap((h) => [
        { ...h, layer: 1, layers: 2, correct: h.correct.map(() => -1) },
        { ...h, layer: 2, layers: 2 },
      ]),
    };
    const shown = titles(two);
    expect(shown).toContain('QKV · layer 1 · lr 1e-2');
    expect(shown).toContain('QKV · layer 2 · lr 1e-2');
    expect(shown).toContain('QV · layer 2 · lr 1e-2');
    expect(shown.indexOf('QKV · layer 1 · lr 1e-2')).toBeLessThan(shown.indexOf('QKV · layer 2 · lr 1e-2'));
  });
});
