import type { TaskConfig } from './schema.js';
import type { Task } from './types.js';
import { lookupTask } from './lookup.js';
import { copyTask } from './copy.js';
import { mqarTask } from './mqar.js';
import { userTask } from './user.js';
import { isModulePath } from '../modulePath.js';

export type AnyTask = Task<unknown>;

/** The task registry: add a built-in task here and to BUILTIN_TASKS in the schema; a user's task is loaded by path. */
export function makeTask(cfg: TaskConfig): AnyTask {
  if (isModulePath(cfg.kind)) return userTask(cfg.kind);
  switch (cfg.kind) {
    case 'lookup':
      return lookupTask(cfg) as AnyTask;
    case 'copy':
      return copyTask(cfg) as AnyTask;
    case 'mqar':
      return mqarTask(cfg) as AnyTask;
    default:
      throw new Error(`unknown task kind ${cfg.kind}`); // the schema admits only the cases above and module paths
  }
}
