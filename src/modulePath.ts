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
