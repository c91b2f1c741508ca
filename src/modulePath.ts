/**
 * Whether a config value names a user's module rather than a built-in (model.attention, task.kind): a relative or
 * absolute path, or a .ts/.js file. A leaf, because the model, the tasks and the config all ask it.
 */
export function isModulePath(value: string): boolean {
  return /^(\.{1,2}\/|\/)/.test(value) || /\.(m|c)?(t|j)s$/.test(value);
}
