/**
 * The library: `import { train, sweep, compare, writeReport, defineVariant, defineTask } from 'qkv-lab'`. In-process
 * through src/api.ts, and once through the package's own name (package.json `exports`), as a project that installed
 * the kit imports it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { train, sweep, compare, writeReport, defineVariant, UserError } from '../src/api.js';
import { useTempRoot, REPO, LOOKUP } from './helpers/cli.js';
import { TINY_SWEEP } from './helpers/shared.js';
import { lockReportDir } from '../src/runs/lock.js';

const fresh = useTempRoot('qkv-api-');
const tiny = TINY_SWEEP.sets.filter((s) => s !== '--set');

describe('the library API', () => {
  it('train takes a config object, resolves module paths from the working directory, and returns the outcomes', async () => {
    const cwd = fresh('train');
    const out = join(cwd, 'run');
    const outcomes = await train({
      config: { model: { attention: 'qv' }, train: { steps: 20, logEvery: 10 }, eval: { size: 32 } },
      out,
      dataDir: join(cwd, 'data'),
    });
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ dir: out, status: 'completed' });
    expect(outcomes[0].summary.final_eval_loss).toEqual(expect.any(Number));
    await expect(train({ config: { model: { attention: 'qz' } } })).rejects.toThrow(UserError);
  });

  it('sweep trains; compare returns verdicts and per-seed figures as data; writeReport is a separate call', async () => {
    const cwd = fresh('sweep');
    const file = join(cwd, 'tiny.yaml');
    writeFileSync(file, `name: tiny\nbase: ${JSON.stringify(LOOKUP)}\n${TINY_SWEEP.grid}`);
    const runs = await sweep({ config: file, set: tiny, out: join(cwd, 'runs'), workers: 1, dataDir: join(cwd, 'data') });
    expect(runs).toBe(join(cwd, 'runs'));
    const comparison = await compare(runs!);
    expect(comparison.verdict.runs).toBe(8);
    expect(comparison.analysis.series[0].variants.map((v) => v.variant).sort()).toEqual(['qkv', 'qv']);
    expect(comparison.verdict.series[0].per_seed.qkv.length).toBeGreaterThan(0);
    expect(existsSync(join(cwd, 'report'))).toBe(false); // compare writes nothing
    // One writer per report directory: while another holds it, writeReport waits, then writes.
    const held = await lockReportDir(join(cwd, 'report'));
    const written = writeReport(comparison, join(cwd, 'report'), undefined, { charts: false });
    await new Promise((wait) => setTimeout(wait, 400));
    expect(existsSync(join(cwd, 'report', 'verdict.json'))).toBe(false);
    held.releaseSync();
    await written;
    expect(existsSync(join(cwd, 'report', 'verdict.json'))).toBe(true);
    await writeReport(comparison, join(cwd, 'report'));
    expect(existsSync(join(cwd, 'report', 'report.html'))).toBe(true);
    expect(existsSync(join(cwd, 'report', 'loss-curves.png'))).toBe(true);
  });

  it('defineVariant tags a definition for the loader', () => {
    const v = defineVariant({ name: 'x', isolates: 'y', keys: ({ x }) => x });
    expect(v.qkvLab).toBe('variant');
  });

  it("the package's own name resolves to the built library, through package.json exports", () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('qkv-lab'); console.log(Object.keys(m).sort().join(' '))"],
      {
        cwd: REPO,
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('EnvironmentError UserError compare defineTask defineVariant sweep train writeReport');
  });
});
