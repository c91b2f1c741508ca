import { loadConfigFile, resolveConfig } from '../config.js';
import { makeTask } from '../tasks/index.js';
import { writeEvalSet, loadEvalSet } from '../tasks/evalset.js';
import { loadConfigModules } from '../extend/load.js';

/** (Re)writes the fixed eval set of a config's task into the data directory. */
export async function dataCommand(args: { config: string; set: string[]; dataDir: string }): Promise<void> {
  const cfg = await loadConfigModules(resolveConfig(loadConfigFile(args.config), args.set));
  const task = makeTask(cfg.task);
  writeEvalSet(args.dataDir, task, cfg.eval);
  const evalSet = loadEvalSet(args.dataDir, task, cfg.eval);
  process.stdout.write(`${evalSet.path}\n  ${evalSet.examples.length} ${task.kind} examples, sha256 ${evalSet.sha256}\n`);
}
