import { join } from 'node:path';
import { UserError } from '../errors.js';
import { loadSweep, comparesQkvWithQv } from '../sweep/plan.js';
import { sweepInto, defaultSweepDir, seedsOf, type SweepArgs } from './sweep.js';

/** sweep + compare: runs under <out>/runs, report.md, report.html and verdict.json at <out>. */
export async function ablationCommand(args: SweepArgs & { check: boolean; charts?: boolean }): Promise<void> {
  const plan = loadSweep(args.config, args.set, seedsOf(args));
  const lrs = plan.grid['train.lr'];
  if (!lrs || lrs.length < 2)
    throw new UserError(`${args.config}: an ablation measures LR sensitivity, so grid.train.lr must list at least 2 learning rates`);
  if (!comparesQkvWithQv(plan))
    throw new UserError(`${args.config}: an ablation compares variants, so grid.model.attention (or model.variant) must list qkv and qv`);
  const out = args.out ?? defaultSweepDir(plan.name, args.set, args.seeds);
  // The comparison's modules load while the workers train, not after them (the charts' renderer loads when it draws).
  const report = import('./compare.js');
  report.catch(() => {}); // an interrupted sweep never awaits it; a load failure surfaces at the await below
  const runsDir = await sweepInto(plan, args, join(out, 'runs'));
  if (!runsDir) return; // interrupted: the sweep said how to continue
  const { compareInto } = await report;
  const result = await compareInto([runsDir], out, `qkv-lab ablation: ${plan.name}`, { charts: args.charts });
  process.stdout.write(`\nreport: ${join(result.outDir, 'report.html')}\n`);
  if (args.check && !result.holds) {
    process.stdout.write('check: the verdict "keyless is less stable" was NOT reproduced (exit 1)\n');
    process.exitCode = 1;
  } else if (args.check) process.stdout.write('check: verdict reproduced\n');
}
