/**
 * What `import … from 'qkv-lab'` gives inside a user's variant or task module (src/extend/load.ts aliases it here,
 * so a module needs no node_modules of its own): the define… helpers and the error classes, as the library exports
 * them. The library's runners are named too, so that a module calling one is told why in one line, where it would
 * otherwise read "train is not a function": a module defines; the kit that loads it runs it.
 */
export { defineVariant, defineTask } from './define.js';
export type * from './define.js';
export { UserError, EnvironmentError } from '../errors.js';

const runsNothing = (name: string) => (): never => {
  throw new Error(`qkv-lab's ${name}() cannot be called inside a variant or task module: a module defines, and the kit that loads it runs it`);
};

export const train = runsNothing('train');
export const sweep = runsNothing('sweep');
export const compare = runsNothing('compare');
export const writeReport = runsNothing('writeReport');
