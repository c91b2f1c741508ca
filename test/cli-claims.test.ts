/**
 * `claims` end to end through the built CLI, in a temp dir: a tiny claims config (lookup with 4 slots, 200 steps, 2 seeds, 2 LRs,
 * 2 input scales) runs both sweeps and writes the report with the claims table on top, and verdict.json's claims.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALPHA } from '../src/analysis/protocol.js';
import { LOOKUP, explain, expectOneLineError, runCli, useTempRoot, type Result } from './helpers/cli.js';

const SLOW = 90_000;
// Small enough to be quick, large enough to learn (median accuracy ≥ 0.5, else a learning rate is a failed stratum
// and the attention claims are not measured) with 3 wrong memory slots per row (value-norm ρ needs 3).
const SETS = [
  ...['--set', 'train.steps=200', '--set', 'train.logEvery=20', '--set', 'eval.size=32'],
  ...['--set', 'task.slots=4', '--set', 'task.keyVocab=4', '--set', 'task.valueVocab=4'],
];
const IDS = ['noisy-matching', 'scale-sensitive', 'value-norm-dominance', 'unstable-attention'];
const VERDICTS = ['supported', 'not shown', 'contradicted', 'mixed', 'inconsistent', 'not measured'];

for (const v of ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX']) delete process.env[v];

const fresh = useTempRoot('qkv-cli-claims-');
const cli = (args: string[], cwd: string) => runCli(args, cwd, { killAfterMs: SLOW - 5_000 });
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

function writeClaims(dir: string, body: string): string {
  const path = join(dir, 'tiny-claims.yaml');
  writeFileSync(path, `name: tiny-claims\nbase: ${JSON.stringify(LOOKUP)}\n${body}`);
  return path;
}

const TINY = 'grid:\n  model.attention: [qkv, qv]\n  train.lr: [3.0e-3, 3.0e-2]\n  train.seed: [0, 1]\nscale:\n  values: [0.5, 2]\n';

describe('claims', () => {
  let cwd: string;
  let out: string;
  let first: Result;
  beforeAll(async () => {
    cwd = fresh('claims');
    out = join(cwd, 'out');
    first = await cli(['claims', writeClaims(cwd, TINY), ...SETS, '--workers', '2', '--check', '--out', out], cwd);
  }, SLOW);

  it('runs the LR sweep and the scale sweep and writes the report, verdict.json and the claims table', () => {
    const verdict = json(join(out, 'verdict.json'));
    // Whichever way the tiny sweep's verdict goes, it must follow from its own test, and --check must say so.
    expect(verdict.holds).toBe(verdict.p < ALPHA);
    expect(first.status, explain(first)).toBe(verdict.holds ? 0 : 1); // --check, as ablation does
    expect(first.stdout).toMatch(verdict.holds ? /check: verdict reproduced/ : /check: the verdict .* was NOT reproduced \(exit 1\)/);
    const runs = (sub: string) =>
      readdirSync(join(out, 'runs', sub))
        .filter((f) => !f.endsWith('.json'))
        .sort();
    expect(runs('lr')).toHaveLength(8);
    expect(runs('scale')).toEqual(
      ['qkv', 'qv'].flatMap((a) => ['0.5', '2'].flatMap((s) => [0, 1].map((seed) => `attention-${a}_lr-0.01_inputScale-${s}_seed-${seed}`))).sort(),
    );
    expect(json(join(out, 'runs', 'scale', runs('scale')[0], 'config.json')).train.lr).toBe(0.01); // the definitions' lr
    expect(verdict.claims.map((c: { id: string }) => c.id)).toEqual(IDS);
    for (const c of verdict.claims) {
      expect(VERDICTS).toContain(c.verdict);
      expect(c.verdict).not.toBe('not measured'); // the claims command measures every claim
      expect(c.by_lr.length).toBe(c.id === 'scale-sensitive' ? 1 : 2);
      expect(c.p).toBeGreaterThan(0);
      expect(c.p_holm).toBeGreaterThanOrEqual(c.p);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const claimsAt = md.indexOf("## The seed's claims");
    expect(claimsAt).toBeGreaterThan(0);
    expect(claimsAt).toBeLessThan(md.indexOf('### Stability: LR sensitivity')); // at the top
    expect(md).toContain('“matching becomes noisy”');
    for (const f of ['report.html', 'seed-document.md', 'METRICS.md']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('href="seed-document.md"');
    expect(first.stdout).toMatch(/value-norm-dominance\s+(supported|not shown|contradicted|mixed|inconsistent)/);
  });

  it('records the attention trace at every logged step, ending at the final snapshot', () => {
    const dir = join(out, 'runs', 'lr', 'attention-qv_lr-0.003_seed-0');
    const att = json(join(dir, 'attention.json'));
    expect(att.trace.map((t: { step: number }) => t.step)).toEqual(Array.from({ length: 11 }, (_, i) => 20 * i));
    const final = att.snapshots.at(-1);
    expect(final.step).toBe(200);
    expect(att.trace.at(-1).weights).toEqual(final.layers[0].examples.flat(3));
    expect(att.value_norm.rows).toBe(32); // every eval example's one supervised row
    const summary = json(join(dir, 'summary.json'));
    expect(summary.value_norm_rho).toBe(att.value_norm.rho);
    expect(summary.attn_volatility).toBeGreaterThan(0);
  });

  it(
    'reuses finished runs on a second call and writes the same verdict.json',
    async () => {
      const before = readFileSync(join(out, 'verdict.json'), 'utf8');
      const again = await cli(['claims', join(cwd, 'tiny-claims.yaml'), ...SETS, '--workers', '2', '--no-charts', '--out', out], cwd);
      expect(again.status, explain(again)).toBe(0);
      expect(again.stderr).toMatch(/8 run\(s\) already finished, skipped/);
      expect(readFileSync(join(out, 'verdict.json'), 'utf8')).toBe(before);
    },
    SLOW,
  );

  it.each([
    ['one learning rate', 'grid:\n  model.attention: [qkv, qv]\n  train.lr: [0.01]\n', /train\.lr.*at least 2/],
    ['one input scale', 'grid:\n  model.attention: [qkv, qv]\n  train.lr: [0.01, 0.1]\nscale:\n  values: [1]\n', /scale\.values.*at least 2/],
    [
      'an unknown scale key',
      'grid:\n  model.attention: [qkv, qv]\n  train.lr: [0.01, 0.1]\nscale:\n  value: [1, 2]\n',
      /unknown config key 'scale\.value'/,
    ],
  ])(
    'bad input (%s): exit 2 and one line',
    async (name, body, pattern) => {
      const dir = fresh('bad');
      mkdirSync(join(dir, 'x'));
      const r = await cli(['claims', writeClaims(dir, body), ...SETS, '--out', join(dir, 'out')], dir);
      expectOneLineError(r);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    },
    SLOW,
  );
});
