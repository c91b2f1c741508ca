#!/usr/bin/env node
/** The command line: parsing only; each command lives in src/commands/. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, reportError } from './errors.js';
import { BACKEND_CHOICES, type BackendChoice } from './backend-names.js';
import { unknownFlagLine } from './cliHints.js';
import type { SweepArgs } from './commands/sweep.js';

const withBackend = <T>(y: Argv<T>) =>
  y
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'tfjs backend: auto tries node, then wasm, then cpu' })
    .option('data-dir', { type: 'string', default: 'data', describe: 'where fixed eval sets are kept' });

const withSets = <T>(y: Argv<T>) =>
  y.option('set', {
    type: 'string',
    array: true,
    requiresArg: true,
    default: [] as string[],
    describe: 'override a config key: --set train.lr=3e-3 (repeatable)',
  });

/** compare, ablation and claims: --no-charts skips drawing (Vega and resvg, about 1.7 s of CPU a report), for a job that reads only the verdict. */
const CHARTS_OPTION = {
  type: 'boolean',
  default: true,
  describe: "draw the report's charts; --no-charts writes its tables, verdict and data without them",
} as const;

const withSweep = <T>(y: Argv<T>) =>
  withSets(withBackend(y.positional('config', { type: 'string', demandOption: true })))
    .option('out', { type: 'string', describe: 'output directory (default runs/<sweep name>)' })
    .option('seeds', { type: 'string', requiresArg: true, describe: "replace the grid's train.seed: --seeds 0-19, --seeds 100-119, --seeds 0,1,2" })
    .option('workers', { type: 'number', describe: 'worker processes (default: number of cores)' })
    .option('shard', { type: 'string', describe: 'run only slice i of n: --shard 2/8 (else from Slurm or Kubernetes variables)' })
    .option('shards', { type: 'number', describe: 'slice count when the index comes from JOB_COMPLETION_INDEX' });

/** yargs' view of the sweep flags: SweepArgs as parsed, before the kebab-case key and the optional positional are mapped. */
type SweepArgv = Omit<SweepArgs, 'config' | 'dataDir'> & { config?: string; 'data-dir': string };
const sweepArgs = (a: SweepArgv): SweepArgs => ({
  config: a.config!,
  set: a.set,
  seeds: a.seeds,
  out: a.out,
  workers: a.workers,
  shard: a.shard,
  shards: a.shards,
  backend: a.backend,
  dataDir: a['data-dir'],
});

export function buildCli(argv: string[]) {
  const cli = yargs(argv);
  return cli
    .scriptName('qkv-lab')
    .usage('$0 <command>\n\nDoes attention need a separate Key? Train Q–K–V and keyless Q–V attention and compare.')
    .command(
      'train [config]',
      'train one run (or one per --seeds) from a config file, or continue one with --resume',
      (y) =>
        withSets(withBackend(y.positional('config', { type: 'string' })))
          .option('resume', { type: 'string', describe: 'continue the run in this directory from its last checkpoint' })
          .option('out', { type: 'string', describe: 'run directory (default runs/<name>-<attention>-<time>)' })
          .option('seeds', { type: 'string', requiresArg: true, describe: 'seeds trained at once as one batch: --seeds 0-3 or --seeds 0,1,2,3' }),
      async (a) =>
        (await import('./commands/train.js')).trainCommand({
          config: a.config,
          resume: a.resume,
          set: a.set,
          out: a.out,
          seeds: a.seeds,
          backend: a.backend,
          dataDir: a['data-dir'],
        }),
    )
    .command(
      'explain',
      "the seed document's two-token example (src/seed-document.md), Q–K–V vs Q–V, step by step",
      (y) => withBackend(y),
      async (a) => (await import('./commands/explain.js')).explainCommand({ backend: a.backend }),
    )
    .command(
      'data <config>',
      "(re)write the fixed eval set of a config's task into data/",
      (y) => withSets(withBackend(y.positional('config', { type: 'string', demandOption: true }))),
      async (a) => (await import('./commands/data.js')).dataCommand({ config: a.config!, set: a.set, dataDir: a['data-dir'] }),
    )
    .command(
      'sweep <config>',
      'train every run of a sweep config (grid of keys × values), batched and spread over worker processes',
      (y) => withSweep(y),
      async (a) => (await import('./commands/sweep.js')).sweepCommand(sweepArgs(a)),
    )
    .command(
      'compare <paths..>',
      'compare run or sweep directories: tables, LR sensitivity, verdict, report.md/.html, verdict.json',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, demandOption: true })
          .option('out', { type: 'string', describe: 'report directory (default report/)' })
          .option('strict', { type: 'boolean', default: false, describe: 'exit 2 when a run is damaged, instead of skipping it with a warning' })
          .option('charts', CHARTS_OPTION),
      async (a) =>
        (await import('./commands/compare.js')).compareCommand({ paths: a.paths as string[], out: a.out, strict: a.strict, charts: a.charts }),
    )
    .command(
      'ablation <config>',
      'sweep + compare in one go; --check exits 1 when the verdict is not reproduced',
      (y) =>
        withSweep(y)
          .option('check', { type: 'boolean', default: false, describe: 'exit 1 unless "keyless is less stable" holds' })
          .option('charts', CHARTS_OPTION),
      async (a) => (await import('./commands/ablation.js')).ablationCommand({ ...sweepArgs(a), check: a.check, charts: a.charts }),
    )
    .command(
      'claims <config>',
      "the seed's four claims, each on its own statistic: LR sweep + input-scale sweep + report; --check as ablation",
      (y) =>
        withSweep(y)
          .option('check', { type: 'boolean', default: false, describe: 'exit 1 unless "keyless is less stable" holds' })
          .option('charts', CHARTS_OPTION),
      async (a) => (await import('./commands/claims.js')).claimsCommand({ ...sweepArgs(a), check: a.check, charts: a.charts }),
    )
    .command(
      'check <module>',
      "check a user's variant or task module: shapes, gradients against finite differences, determinism, parameter count",
      (y) => withBackend(y.positional('module', { type: 'string', demandOption: true })),
      async (a) => (await import('./commands/check.js')).checkCommand({ module: a.module!, backend: a.backend }),
    )
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .fail((msg, err) => {
      if (err && err.name !== 'YError') throw err; // a YError is yargs' own complaint about the arguments
      const line = (msg ?? err?.message ?? '').replace(/\s+/g, ' ').trim();
      // getOptions exists at run time but not in yargs' typings.
      const known = Object.keys((cli as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
      const flag = unknownFlagLine(line, known);
      throw new UserError(flag ?? (line.startsWith('Did you mean') ? `unknown command; ${line}` : line));
    })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110));
}

/** Where main prints what reaches the user as an error: one line, through the one error printer. */
export interface CliIo {
  stderr: (text: string) => void;
}

/**
 * Runs the CLI on `argv` (the arguments after node and the script) and resolves to the exit code: 0, or the
 * error's (2 for bad input, 1 for the environment), printed once through `io.stderr`. It never exits the process,
 * so tests call it in-process. Commands that end in a non-zero state of their own (an interrupted run, a failed
 * --check) set process.exitCode, as before.
 */
export async function main(argv: string[], io: CliIo = { stderr: (text) => void process.stderr.write(text) }): Promise<number> {
  try {
    // Inside the try, so errors thrown synchronously by yargs' .fail() reach the one error printer too.
    await buildCli(argv).parseAsync();
    return 0;
  } catch (err) {
    return reportError(err, io.stderr);
  }
}

/**
 * True when node runs this file as the program (`node dist/cli.js`, or `npx qkv-lab` through the bin link,
 * hence realpath), false when a test imports it. The bin stays dist/cli.js, so existing links and npx caches keep working.
 */
function isProgram(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  const code = await main(hideBin(process.argv));
  if (code !== 0) process.exitCode = code;
}
