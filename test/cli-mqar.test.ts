/**
 * MQAR end to end (in-process `main`, in a temp dir): configs/mqar.yaml trains on the deep fused kernel with one
 * row per layer in its logs and snapshots; a one-layer MQAR config trains with a one-line warning (a control);
 * impossible MQAR settings are refused in one line with exit 2.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, explain, expectOneLineError, useTempRoot } from './helpers/cli.js';
import { runInProcess } from './helpers/inProcess.js';

const SLOW = 60_000;
const MQAR = join(REPO, 'configs', 'mqar.yaml');
const fresh = useTempRoot('qkv-mqar-');
const short = ['--set', 'train.steps=20', '--set', 'train.logEvery=10', '--set', 'eval.size=32'];

describe('train configs/mqar.yaml', () => {
  it(
    'two layers on the fused kernel: per-layer retrieval columns and per-layer attention snapshots',
    async () => {
      const cwd = fresh('two');
      const out = join(cwd, 'run');
      const r = await runInProcess(['train', MQAR, ...short, '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stderr).not.toMatch(/warning/);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.kernel).toBe('fused');
      expect(summary.kernel_impl).toBe('wasm, f64x2 run lanes');
      expect(summary.precision).toBe('float64');
      expect(summary.status).toBe('completed');
      const header = readFileSync(join(out, 'metrics.csv'), 'utf8').split('\n')[0].split(',');
      expect(header).toEqual(expect.arrayContaining(['retrieval_mass', 'scaffold_share', 'retrieval_mass_l0', 'retrieval_mass_l1']));
      const attention = JSON.parse(readFileSync(join(out, 'attention.json'), 'utf8'));
      const layers = attention.snapshots.at(-1).layers;
      expect(layers).toHaveLength(2);
      // Layer 1 queries every position (20 rows: 8 pairs and 4 queries), layer 2 only the 4 supervised rows.
      expect(layers[0].mean[0]).toHaveLength(20);
      expect(layers[1].mean[0]).toHaveLength(4);
    },
    SLOW,
  );

  it(
    'one layer: trains, with one warning line that it is a control',
    async () => {
      const cwd = fresh('one');
      const out = join(cwd, 'run');
      const r = await runInProcess(['train', MQAR, ...short, '--set', 'model.layers=1', '--out', out], cwd);
      expect(r.status, explain(r)).toBe(0);
      const warnings = r.stderr.split('\n').filter((line) => /warning/.test(line));
      expect(warnings).toEqual([expect.stringMatching(/^train: warning: task\.kind mqar with model\.layers 1: .*control/)]);
      expect(existsSync(join(out, 'summary.json'))).toBe(true);
    },
    SLOW,
  );

  it.each([
    ['more queries than pairs', ['--set', 'task.queries=9'], /task\.queries.*≤ task\.pairs \(8\)/],
    ['more pairs than keys', ['--set', 'task.pairs=20'], /task\.pairs.*≤ task\.keyVocab \(16\)/],
  ])(
    '%s: exit 2, one line, nothing written',
    async (_name, sets, pattern) => {
      const cwd = fresh('bad');
      const out = join(cwd, 'run');
      const r = await runInProcess(['train', MQAR, ...sets, '--out', out], cwd);
      expect(r.status, explain(r)).toBe(2);
      expectOneLineError(r);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
    },
    SLOW,
  );
});
