#!/usr/bin/env node
/** The command line: parsing only; each command lives in src/commands/. */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, reportError } from './errors.js';
import { BACKEND_CHOICES, type BackendChoice } from './backend.js';

const withBackend = <T>(y: Argv<T>) =>
  y
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'tfjs backend: auto tries node, then wasm, then cpu' })
    .option('data-dir', { type: 'string', default: 'data', describe: 'where fixed eval sets are kept' });

const withSets = <T>(y: Argv<T>) =>
  y.option('set', { type: 'string', array: true, default: [] as string[], describe: 'override a config key: --set train.lr=3e-3 (repeatable)' });

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('qkv-lab')
    .usage('$0 <command>\n\nDoes attention need a separate Key? Train Q–K–V and keyless Q–V attention and compare.')
    .command(
      'train <config>',
      'train one run (or one per --seeds) from a config file',
      (y) => withSets(withBackend(y.positional('config', { type: 'string', demandOption: true })))
        .option('out', { type: 'string', describe: 'run directory (default runs/<name>-<attention>-<time>)' })
        .option('seeds', { type: 'string', describe: 'comma-separated seeds, trained at once as one batch: --seeds 0,1,2,3' }),
      async (a) => (await import('./commands/train.js')).trainCommand({ config: a.config!, set: a.set, out: a.out, seeds: a.seeds, backend: a.backend, dataDir: a['data-dir'] }),
    )
    .command(
      'explain',
      "the seed's two-token example, Q–K–V vs Q–V, step by step",
      (y) => withBackend(y),
      async (a) => (await import('./commands/explain.js')).explainCommand({ backend: a.backend }),
    )
    .command(
      'data <config>',
      "(re)write the fixed eval set of a config's task into data/",
      (y) => withSets(withBackend(y.positional('config', { type: 'string', demandOption: true }))),
      async (a) => (await import('./commands/data.js')).dataCommand({ config: a.config!, set: a.set, dataDir: a['data-dir'] }),
    )
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .fail((msg, err) => {
      throw err ?? new UserError(msg.replace(/\s+/g, ' '));
    })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110));
}

buildCli(hideBin(process.argv))
  .parseAsync()
  .catch((err: unknown) => {
    process.exitCode = reportError(err);
  });
