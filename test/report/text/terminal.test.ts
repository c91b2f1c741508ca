// compare's printed table: columns stay aligned after wide cells, and steps to 95% says how many runs got there.
import { describe, expect, it } from 'vitest';
import { alignColumns, summaryLines } from '../../../src/report/text/terminal.js';
import type { Analysis } from '../../../src/analysis/analyse.js';

describe('alignColumns', () => {
  it('starts every column at the same character on every row, however wide a cell', () => {
    const lines = alignColumns([
      ['variant', 'lr', 'final loss', 'end'],
      ['qkv', '0.001', '0.0397 ± 0.000123', 'x'],
      ['qv', '0.1', '2.75 ± 0.1', 'y'],
    ]);
    const starts = (line: string) => [...line.matchAll(/(?:^| {2})(\S)/g)].map((m) => m.index! + (m[0].length - 1));
    expect(lines.map(starts)).toEqual([
      [0, 9, 16, 35],
      [0, 9, 16, 35],
      [0, 9, 16, 35],
    ]);
  });
});

describe('summaryLines', () => {
  it('prints steps to 95% with the runs reaching it, so 2 of 5 does not read like 5 of 5', () => {
    const perLr = (stepsToAcc: number | null, reached: number) => ({
      lr: 0.003,
      runs: 5,
      finalLoss: { mean: 0.1, std: 0.01 },
      finalAcc: { mean: 0.99, std: 0 },
      medianAcc: 0.99,
      spikes: 0,
      roughness: 0.01,
      stepsToAcc,
      reached,
      diverged: 0,
    });
    const variant = (name: string, stepsToAcc: number | null, reached: number) => ({
      isolates: name,
      variant: name,
      lrs: [0.003],
      perLr: [perLr(stepsToAcc, reached)],
      sensitivity: [],
      sensMean: NaN,
      sensStd: NaN,
      diverged: 0,
      incompleteSeeds: [],
      window: [],
      neverLearned: [],
    });
    const a: Analysis = {
      common: {},
      differing: {},
      warnings: [],
      series: [
        {
          label: '',
          settings: {},
          dModel: 8,
          verdict: null,
          didNotLearn: [],
          window: null,
          entropy: null,
          variants: [variant('qkv', 1720, 5), variant('qv', 1810, 2)],
          againstBaseline: [],
        },
      ],
    };
    const text = summaryLines(a).join('\n');
    expect(text).toContain('1720 (5/5)');
    expect(text).toContain('1810 (2/5)');
  });
});
