import type { TaskConfig } from './schema.js';
import type { Task } from './types.js';
import { lookupTask } from './lookup.js';
import { copyTask } from './copy.js';
import { mqarTask } from './mqar.js';

export type AnyTask = Task<unknown>;

/** The task registry: add a task here and to `task.kind` in the schema. */
export function makeTask(cfg: TaskConfig): AnyTask {
  switch (cfg.kind) {
    case 'lookup':
      return lookupTask(cfg) as AnyTask;
    case 'copy':
      return copyTask(cfg) as AnyTask;
    case 'mqar':
      return mqarTask(cfg) as AnyTask;
  }
}
