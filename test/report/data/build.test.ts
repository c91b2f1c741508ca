/** buildReportData's heatmaps: one per attention layer, the lower layers over every position, the last over the query rows. */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config.js';
import { analyse } from '../../../src/analysis/analyse.js';
import { buildReportData } from '../../../src/report/data/build.js';
import type { LoadedRun } from '../../../src/report/data/collect.js';
import { VARIANTS } from '../../../src/model/schema.js';

const N = 4; // positions
const QUERY_START = 2;
const S = 2; // supervised query rows: positions 2 and 3
const uniform = (rows: number) => Array.from({ length: rows }, () => Array.from({ length: N }, () => 1 / N));

/** A finished run whose last snapshot holds `layers` layers of two examples and one head. */
function run(layers: number): LoadedRun {
  const snapshotLayers = Array.from({ length: layers }, (_, l) => {
    const rows = l === layers - 1 ? S : N; // a layer below the last covers every position
    return { examples: [[uniform(rows)], [uniform(rows)]], mean: [uniform(rows)] };
  });
  return {
    dir: `run-${layers}`,
    config: resolveConfig({ model: { layers }, train: { lr: 0.01, seed: 0 } }),
    summary: { status: 'completed', init_eval_loss: 3, final_eval_loss: 0.1, final_eval_acc: 1, steps_to_acc: 10, spikes: 0, roughness: 0 },
    rows: [{ step: 100, attn_entropy_norm: 0.5 }],
    attention: {
      examples: [{}],
      layout: { queryStart: QUERY_START, queryCount: S, positions: N },
      sources: [0, 1, 1, 0],
      snapshots: [{ step: 100, layers: snapshotLayers }],
    },
  };
}

const heatmapsOf = (r: LoadedRun) => buildReportData('t', [r], analyse([r])).heatmaps;

describe('attention heatmaps per layer', () => {
  it('gives a one-layer run one heatmap of its query rows, with their correct sources', () => {
    const [only, ...rest] = heatmapsOf(run(1));
    expect(rest).toEqual([]);
    expect(only).toMatchObject({
      layer: 1,
      layers: 1,
      rowLabels: ['ex 0 · pos 2', 'ex 0 · pos 3', 'ex 1 · pos 2', 'ex 1 · pos 3'],
      correct: [0, 1, 1, 0],
    });
  });

  it('gives a two-layer run a heatmap per layer: layer 1 over every position of one example (no correct source), layer 2 over the query rows', () => {
    const [first, second, ...rest] = heatmapsOf(run(2));
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ layer: 1, layers: 2, rowLabels: ['ex 0 · pos 0', 'ex 0 · pos 1', 'ex 0 · pos 2', 'ex 0 · pos 3'] });
    expect(first.correct).toEqual([-1, -1, -1, -1]);
    expect(first.weights).toHaveLength(N);
    expect(second).toMatchObject({
      layer: 2,
      layers: 2,
      rowLabels: ['ex 0 · pos 2', 'ex 0 · pos 3', 'ex 1 · pos 2', 'ex 1 · pos 3'],
      correct: [0, 1, 1, 0],
    });
  });
});

describe('what each variant isolates, for the legends', () => {
  it("reads a built-in's text, and a user variant's from the module record its config keeps, with QK-norm or without", () => {
    const path = '/studies/variants/halved.ts';
    const modules = { [path]: { name: 'halved', isolates: 'keys halved', sha256: '0'.repeat(64) } };
    const as = (attention: string, qkNorm: boolean, seed: number): LoadedRun => {
      const base = run(1);
      return {
        ...base,
        dir: `${attention}-${qkNorm}-${seed}`,
        config: { ...resolveConfig({ model: { qkNorm }, train: { seed } }), model: { ...base.config.model, attention, qkNorm }, modules },
      };
    };
    const runs = [as('qkv', false, 0), as('qv', true, 1), as(path, false, 2), as(path, true, 3)];
    expect(buildReportData('t', runs, analyse(runs)).isolates).toEqual({
      qkv: VARIANTS.qkv.isolates,
      'qv+qknorm': `${VARIANTS.qv.isolates}, with QK-norm`,
      halved: 'keys halved',
      'halved+qknorm': 'keys halved, with QK-norm',
    });
  });
});
