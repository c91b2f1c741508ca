import { join } from 'node:path';
import { loadClaimsPlan } from '../sweep/claimsPlan.js';
import { sweepInto, defaultSweepDir, seedsOf, type SweepArgs } from './sweep.js';

/**
 * The seed's claims: the learning-rate sweep (runs under <out>/runs/lr) and the input-scale sweep (<out>/runs/scale),
 * then one report with the claims table on top: report.md, report.html and verdict.json at <out>.
 */
export async function claimsCommand(args: SweepArgs & { check: boolean; charts?: boolean }): Promise<void> {
  const plan = loadClaimsPlan(args.config, args.set, seedsOf(args));
  const out = args.out ?? defaultSweepDir(plan.lr.name, args.set, args.seeds);
  const lrDir = await sweepInto(plan.lr, args, join(out, 'runs', 'lr'));
  if (!lrDir) return; // interrupted: the sweep said how to continue
  const scaleDir = await sweepInto(plan.scale, args, join(out, 'runs', 'scale'));
  if (!scaleDir) return;
  const { compareInto } = await import('./compare.js'); // the comparison loads once the runs are done
  const result = await compareInto([lrDir], out, `qkv-lab claims: ${plan.lr.name}`, { scalePaths: [scaleDir], charts: args.charts });
  process.stdout.write(`\nreport: ${join(result.outDir, 'report.html')}\n`);
  if (args.check && !result.holds) {
    process.stdout.write('check: the verdict "keyless is less stable" was NOT reproduced (exit 1)\n');
    process.exitCode = 1;
  } else if (args.check) process.stdout.write('check: verdict reproduced\n');
}
