/**
 * Users' tasks: what a task module defines (made with defineTask, src/extend/define.ts), the registry of those
 * loaded in this process (by absolute path, as config.json records task.kind), and the Task the trainer sees.
 * Every example a user's task draws is checked against its own layout before it reaches the model, so a task
 * that breaks its layout fails in one line instead of training on out-of-range rows.
 */
import type { Stream } from '../rng.js';
import type { Encoded, Layout, Task } from './types.js';

/** An option of a user's task: its default (whose type the option keeps), its bounds, and one line on why that default. */
export interface TaskOption {
  default: number | boolean | string;
  min?: number;
  max?: number;
  integer?: boolean;
  /** For a string option: the values it may take. */
  choices?: string[];
  why: string;
}

export type TaskOptions = Record<string, number | boolean | string>;

/** A task's seeded random source: the kit's stream, so that the same seed draws the same examples everywhere. */
export type Rng = Pick<Stream, 'uniform' | 'int' | 'normal' | 'distinct'>;

/** One encoded example, as plain lists. */
export interface EncodedExample {
  /** [positions][featuresPerPosition]: the embedding rows summed at each position. */
  features: number[][];
  /** [queryCount]: the class to predict at each supervised position. */
  targets: number[];
  /** [queryCount]: the position that holds each answer, where retrieval is measured. */
  sources: number[];
}

export interface TaskDefinition<Example = unknown, Options extends TaskOptions = TaskOptions> {
  /** Set by defineTask, so that a module exporting something else is told apart. */
  readonly qkvLab: 'task';
  /** Its name in run names, data files and reports: letters, digits, '-' and '_'. */
  name: string;
  /** One line on what the task asks of attention. */
  about: string;
  /** Its settings under task.options, each with a default; validated like every other config key. */
  options: { [K in keyof Options]: TaskOption };
  /** The sequence layout for these options (src/tasks/types.ts, Layout). */
  layout(options: Options): Layout;
  /** Draws one example; the same stream state always draws the same example. Examples must be plain JSON. */
  sample(rng: Rng, options: Options): Example;
  /** The example as embedding rows, targets and answer positions. */
  encode(example: Example, options: Options): EncodedExample;
}

/** A user's task definition with its validated options, as the registry keeps it. */
interface LoadedTask {
  definition: TaskDefinition;
  options: TaskOptions;
  id: string;
}

const loaded = new Map<string, LoadedTask>();

/** `id` names the eval file: the task's name and a hash of its options and module, so a changed task never reads another's. */
export function registerTask(path: string, definition: TaskDefinition, options: TaskOptions, id: string): void {
  loaded.set(path, { definition, options, id });
}

/** The Task of the module loaded from `path` (src/extend/load.ts loads it before anything trains). */
export function userTask(path: string): Task<unknown> {
  const entry = loaded.get(path);
  if (!entry) throw new Error(`task module ${path} was not loaded (src/extend/load.ts loads a config's modules first)`);
  return taskFrom(entry, path);
}

/** The layout's own consistency: the first fault, or null. */
export function layoutFault(layout: Layout): string | null {
  const ints: (keyof Layout)[] = ['positions', 'inputVocab', 'featuresPerPosition', 'outputVocab', 'contentPositions', 'queryStart', 'queryCount'];
  for (const key of ints) {
    const v = layout?.[key];
    if (!Number.isInteger(v) || (v as number) < 0) return `layout.${key} must be a whole number ≥ 0, got ${JSON.stringify(v)}`;
  }
  if (typeof layout.causal !== 'boolean') return `layout.causal must be true or false, got ${JSON.stringify(layout.causal)}`;
  for (const key of ['positions', 'inputVocab', 'featuresPerPosition', 'queryCount'] as const)
    if (layout[key] < 1) return `layout.${key} must be at least 1`;
  if (layout.outputVocab < 2) return 'layout.outputVocab must be at least 2 (one class is nothing to predict)';
  if (layout.contentPositions > layout.positions)
    return `layout.contentPositions (${layout.contentPositions}) exceeds layout.positions (${layout.positions})`;
  if (layout.queryStart + layout.queryCount > layout.positions)
    return `the supervised rows [${layout.queryStart}, ${layout.queryStart + layout.queryCount}) run past layout.positions (${layout.positions})`;
  return null;
}

/** Where an encoded example breaks the layout, or null. */
export function exampleFault(e: EncodedExample, layout: Layout): string | null {
  const index = (x: unknown, hi: number) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < hi;
  if (!e || !Array.isArray(e.features) || e.features.length !== layout.positions)
    return `features must list ${layout.positions} positions (layout.positions), got ${Array.isArray(e?.features) ? e.features.length : typeof e?.features}`;
  for (let i = 0; i < e.features.length; i++) {
    const row = e.features[i];
    if (!Array.isArray(row) || row.length !== layout.featuresPerPosition)
      return `features[${i}] must list ${layout.featuresPerPosition} rows (layout.featuresPerPosition), got ${JSON.stringify(row)}`;
    const bad = row.findIndex((f) => !index(f, layout.inputVocab));
    if (bad >= 0) return `features[${i}][${bad}] = ${JSON.stringify(row[bad])} is outside the input vocabulary 0..${layout.inputVocab - 1}`;
  }
  for (const [name, list, hi, what] of [
    ['targets', e.targets, layout.outputVocab, 'the output vocabulary'],
    ['sources', e.sources, layout.positions, 'the positions'],
  ] as const) {
    if (!Array.isArray(list) || list.length !== layout.queryCount)
      return `${name} must list ${layout.queryCount} entries (layout.queryCount), got ${Array.isArray(list) ? list.length : typeof list}`;
    const bad = list.findIndex((x) => !index(x, hi));
    if (bad >= 0) return `${name}[${bad}] = ${JSON.stringify(list[bad])} is outside ${what} 0..${hi - 1}`;
  }
  return null;
}

/** Thrown when a user's task draws an example that breaks its layout; src/extend/load.ts turns it into one line. */
export class TaskFault extends Error {}

function taskFrom({ definition, options, id }: LoadedTask, path: string): Task<unknown> {
  const layout = definition.layout(options);
  const N = layout.positions;
  const F = layout.featuresPerPosition;
  const Q = layout.queryCount;
  const encodeOne = (example: unknown, n: number): EncodedExample => {
    const e = definition.encode(example, options);
    const fault = exampleFault(e, layout);
    if (fault) throw new TaskFault(`task module ${path}: example ${n} breaks its layout: ${fault}`);
    return e;
  };
  const encode = (examples: readonly unknown[]): Encoded => {
    const count = examples.length;
    const features = new Int32Array(count * N * F);
    const targets = new Int32Array(count * Q);
    const sources = new Int32Array(count * Q);
    examples.forEach((example, b) => {
      const e = encodeOne(example, b);
      e.features.forEach((row, i) => features.set(row, (b * N + i) * F));
      targets.set(e.targets, b * Q);
      sources.set(e.sources, b * Q);
    });
    return { count, features, targets, sources };
  };
  const sample = (rng: Stream, count: number) => Array.from({ length: count }, () => definition.sample(rng, options));
  return {
    kind: definition.name,
    layout,
    id,
    sample,
    encode,
    draw: (rng, count) => encode(sample(rng, count)),
    isExample(value: unknown): value is unknown {
      try {
        encodeOne(value, 0);
        return true;
      } catch {
        return false;
      }
    },
  };
}
