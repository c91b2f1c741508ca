import { isAbsolute, relative, sep } from 'node:path';

/**
 * Whether a config value names a user's module rather than a built-in (model.attention, task.kind): a relative or
 * absolute path, or a .ts/.js file. A leaf, because the model, the tasks and the config all ask it.
 */
export function isModulePath(value: string): boolean {
  return /^(\.{1,2}\/|\/)/.test(value) || /\.(m|c)?(t|j)s$/.test(value);
}

/** A module path's file name without its extension (tempered for /…/variants/tempered.ts): its run names, and its label until loaded. */
export function moduleStem(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.[^.]*$/, '');
}

/** A `model.variant` grid value split into the variant (a built-in name or a module path) and whether it ends in `+qknorm`. */
export function splitQkNorm(label: string): { variant: string; qkNorm: boolean } {
  return label.endsWith('+qknorm') ? { variant: label.slice(0, -'+qknorm'.length), qkNorm: true } : { variant: label, qkNorm: false };
}

/**
 * A module path as reports and exports show it: relative to the working directory (`./examples/tasks/induction.ts`)
 * when the module lies under it, so a study's report reads the same on every machine it is run from; anything
 * else as it is. The config keeps the absolute path, which resuming a run needs wherever it is started from.
 */
export function shownModulePath(value: string, cwd: string = process.cwd()): string {
  if (!isAbsolute(value) || !isModulePath(value)) return value;
  const rel = relative(cwd, value);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? value : `./${rel.split(sep).join('/')}`;
}
